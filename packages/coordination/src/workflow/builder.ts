/**
 * The workflow builder: Normandy's `DSL.Workflow` (step / parallel / race / when) as a small fluent API that
 * compiles to an XState machine whose states invoke agents through `agentLogic`. A step's input is a
 * literal, another step's result (`{ from }`), a function of the context, or by default the previous
 * step's result; `transform` reshapes it before the agent sees it. The machine's context is JSON (the
 * workflow input and each step's result), so it persists, and its output is `{ [step]: result }`.
 *
 * Fixed from the original: `when` is evaluated (the original stored `when_result` and never ran it), a
 * missing `from` result is an error naming the step, and a failure names the step that failed.
 */
import type { AgentResult } from "@normandy/agents";
import {
  type AnyActorRef,
  assign,
  createMachine,
  type EventObject,
  type MetaObject,
  type ParameterizedObject,
  type ProvidedActor,
  type StateMachine,
  type StateSchema,
  type StateValue,
} from "xstate";
import { AgentTimeoutError, InvalidWorkflowError, WorkflowError } from "../errors.js";
import { type AgentSource, agentLogic, type StepRetry } from "./agentLogic.js";

/** The context of a built workflow machine (JSON, so it persists). */
export interface WorkflowContext<In = unknown> {
  /** The workflow's input. */
  readonly input: In;
  /** Each finished step's result, by step name. */
  readonly results: Readonly<Record<string, unknown>>;
  /** The result of the last finished step (the workflow input before the first). */
  readonly last: unknown;
  /** For each race, the branches that have failed so far. */
  readonly failures: Readonly<Record<string, readonly string[]>>;
}

/** The event an approval step waits for: `APPROVE` or `REJECT`, with who decided and why. */
export interface ApprovalEvent {
  readonly type: "APPROVE" | "REJECT";
  readonly by?: string;
  readonly comment?: string;
}

/** An approval step's result. */
export interface ApprovalDecision {
  readonly approved: boolean;
  readonly by?: string;
  readonly comment?: string;
}

/** The events a built workflow accepts. */
export type WorkflowEvent = ApprovalEvent | EventObject;

/** A built workflow: an XState machine taking `In` and outputting the step results `Out`. */
export type WorkflowMachine<In, Out> = StateMachine<
  WorkflowContext<In>,
  WorkflowEvent,
  Record<string, AnyActorRef | undefined>,
  ProvidedActor,
  ParameterizedObject,
  ParameterizedObject,
  string,
  StateValue,
  string,
  In,
  Out,
  EventObject,
  MetaObject,
  StateSchema
>;

/** What a step's `input` function and `transform` see. */
export interface StepContext<In, R> {
  /** The workflow's input. */
  readonly input: In;
  /** The results of the steps finished so far. */
  readonly results: Readonly<Partial<R>>;
  /** The previous step's result. */
  readonly last: unknown;
}

/** A step's input: a literal string, another step's result, or a function of the context. */
export type StepInput<In, R> =
  | string
  | { readonly from: keyof R & string }
  | ((ctx: StepContext<In, R>) => unknown);

/** An agent step (also a branch of `parallel` and `race`). */
export interface AgentStep<In, R, O, S = O> {
  /** The agent, or a factory of fresh agents (preferred: a run then starts from an empty conversation). */
  readonly agent: AgentSource<unknown, O>;
  /** Default: the previous step's result (the workflow input for the first step). */
  readonly input?: StepInput<In, R>;
  /** Reshapes the input before the agent sees it (the original's `transform`). Keep the result JSON. */
  transform?(value: unknown, ctx: StepContext<In, R>): unknown;
  /** The step's result from the run (default its `output`). Keep it JSON. */
  select?(result: AgentResult<O>): S;
  /** Retries of retryable provider failures (see `agentLogic`). */
  readonly retry?: StepRetry;
  /** The step fails with an `AgentTimeoutError` cause (and its run is aborted) after this many ms. */
  readonly timeoutMs?: number;
}

/** Options shared by the branches of a `parallel` or `race` group. */
export interface GroupOptions<In, R> {
  /** The input of every branch without its own (default: the previous step's result). */
  readonly input?: StepInput<In, R>;
  /** Reshapes that shared input. */
  transform?(value: unknown, ctx: StepContext<In, R>): unknown;
  /** The whole group fails (its runs aborted) after this many ms. */
  readonly timeoutMs?: number;
}

/** The branches of a `parallel` or `race` group, by branch name. */
export type Branches<In, R> = Readonly<Record<string, AgentStep<In, R, unknown, unknown>>>;

/** The result type of a step spec. */
export type StepResult<T> = T extends { select(result: never): infer S }
  ? S
  : T extends { readonly agent: AgentSource<unknown, infer O> }
    ? O
    : unknown;

/** Options of an approval step. */
export interface ApprovalOptions {
  /** The workflow fails if no decision arrives within this many ms. */
  readonly timeoutMs?: number;
}

type Spec = AgentStep<unknown, unknown, unknown, unknown>;
type Group = GroupOptions<unknown, unknown>;
type Ctx = WorkflowContext<unknown>;
type Predicate = (result: unknown, ctx: StepContext<unknown, unknown>) => boolean;

type Node =
  | { readonly kind: "step"; readonly name: string; readonly spec: Spec }
  | {
      readonly kind: "parallel" | "race";
      readonly name: string;
      readonly branches: readonly (readonly [string, Spec])[];
      readonly group: Group;
    }
  | {
      readonly kind: "when";
      readonly step: string;
      readonly predicate: Predicate;
      readonly whenTrue: readonly Node[];
      readonly whenFalse: readonly Node[];
    }
  | { readonly kind: "approval"; readonly name: string; readonly timeoutMs: number | undefined };

/** A state config as this compiler assembles it (checked by XState at `createMachine`). */
type StateConfig = Record<string, unknown>;

const FINAL = "done";
const NAME = /^[^.#:/]+$/;

/**
 * A workflow under construction. Each method returns a new builder (a builder is immutable, so a
 * prefix can be shared); `build` compiles it to an XState machine.
 */
export class WorkflowBuilder<In, R> {
  /** The workflow's name (the machine's id). */
  readonly name: string;
  #nodes: readonly Node[] = [];
  /** Every name defined before this point, outer scopes included. */
  #known: ReadonlySet<string> = new Set();

  /**
   * Use {@link workflow} to start a builder.
   *
   * @param name - the workflow's name.
   */
  constructor(name: string) {
    this.name = name;
  }

  /** A builder with the given steps and known names (how every method derives a new builder). */
  static #of<In, R>(
    name: string,
    nodes: readonly Node[],
    known: ReadonlySet<string>,
  ): WorkflowBuilder<In, R> {
    const builder = new WorkflowBuilder<In, R>(name);
    builder.#nodes = nodes;
    builder.#known = known;
    return builder;
  }

  /**
   * Adds a step running one agent.
   *
   * @param name - the step's name (its key in the output).
   * @param spec - the agent, its input, transform, result selection, retries, time limit.
   * @returns the extended builder.
   * @throws InvalidWorkflowError for a taken or malformed name, an unknown `from`, a bad time limit.
   */
  step<N extends string, O, S = O>(
    name: N,
    spec: AgentStep<In, R, O, S>,
  ): WorkflowBuilder<In, R & { [K in N]: S }> {
    this.#checkName(name);
    checkSpec(name, spec as Spec, this.#known);
    return this.#with({ kind: "step", name, spec: spec as Spec }, [name]);
  }

  /**
   * Adds a group of agents running at once; its result is `{ [branch]: result }`. A failing branch fails
   * the workflow (the others are aborted).
   *
   * @param name - the group's name (its key in the output).
   * @param branches - the branches by name.
   * @param options - the shared input and transform, and a time limit for the group.
   * @returns the extended builder.
   * @throws InvalidWorkflowError as {@link WorkflowBuilder.step}, or for an empty group.
   */
  parallel<N extends string, B extends Branches<In, R>>(
    name: N,
    branches: B,
    options: GroupOptions<In, R> = {},
  ): WorkflowBuilder<In, R & { [K in N]: { [P in keyof B]: StepResult<B[P]> } }> {
    return this.#with(this.#group("parallel", name, branches, options), [name]);
  }

  /**
   * Adds a race: the first branch to succeed wins and the others are aborted; the race fails only
   * when every branch has failed. Its result is the winner's result.
   *
   * @param name - the race's name (its key in the output).
   * @param branches - the branches by name.
   * @param options - the shared input and transform, and a time limit for the race.
   * @returns the extended builder.
   * @throws InvalidWorkflowError as {@link WorkflowBuilder.parallel}.
   */
  race<N extends string, B extends Branches<In, R>>(
    name: N,
    branches: B,
    options: GroupOptions<In, R> = {},
  ): WorkflowBuilder<In, R & { [K in N]: StepResult<B[keyof B]> }> {
    return this.#with(this.#group("race", name, branches, options), [name]);
  }

  /**
   * Runs a branch only when a finished step's result passes a test (the original's `when_result`).
   *
   * @param step - the step whose result is tested.
   * @param predicate - the test (it may also read the context).
   * @param then - builds the steps run when it holds.
   * @param otherwise - builds the steps run when it does not.
   * @returns the extended builder (the branches' results are optional in the output).
   * @throws InvalidWorkflowError for an unknown step, an empty `then`, or names taken in both branches.
   */
  when<K extends keyof R & string, R2, R3 = R>(
    step: K,
    predicate: (result: R[K], ctx: StepContext<In, R>) => boolean,
    then: (branch: WorkflowBuilder<In, R>) => WorkflowBuilder<In, R2>,
    otherwise?: (branch: WorkflowBuilder<In, R>) => WorkflowBuilder<In, R3>,
  ): WorkflowBuilder<In, R & Partial<Omit<R2, keyof R>> & Partial<Omit<R3, keyof R>>> {
    if (!this.#known.has(step)) throw new InvalidWorkflowError(`when: no step named ${step} before it`);
    const fresh = () => WorkflowBuilder.#of<In, R>(this.name, [], this.#known);
    const yes = then(fresh()).#nodes;
    if (yes.length === 0) throw new InvalidWorkflowError(`when(${step}): the branch has no step`);
    const no = otherwise === undefined ? [] : otherwise(fresh()).#nodes;
    const yesNames = namesOf(yes);
    const noNames = namesOf(no);
    for (const n of noNames)
      if (yesNames.includes(n)) throw new InvalidWorkflowError(`when(${step}): both branches define ${n}`);
    return this.#with(
      { kind: "when", step, predicate: predicate as Predicate, whenTrue: yes, whenFalse: no },
      [...yesNames, ...noNames],
    );
  }

  /**
   * Adds a human approval: the workflow waits (persisted, when durable) for an `APPROVE` or `REJECT`
   * event — `system.send(name, { type: "APPROVE", by, comment })` — and records the decision as the
   * step's result. A rejection does not fail the workflow: branch on it with `when`.
   *
   * @param name - the step's name.
   * @param options - a time limit for the decision.
   * @returns the extended builder.
   * @throws InvalidWorkflowError for a taken or malformed name or a bad time limit.
   */
  approval<N extends string>(
    name: N,
    options: ApprovalOptions = {},
  ): WorkflowBuilder<In, R & { [K in N]: ApprovalDecision }> {
    this.#checkName(name);
    checkTimeout(name, options.timeoutMs);
    return this.#with({ kind: "approval", name, timeoutMs: options.timeoutMs }, [name]);
  }

  /**
   * Compiles the workflow to an XState machine: run it with `runWorkflow` / `startWorkflow`, put it under a
   * supervisor with `workflowChild`, or invoke it from another machine.
   *
   * @returns the machine (input: the workflow input; output: `{ [step]: result }`).
   * @throws InvalidWorkflowError for a workflow without steps.
   */
  build(): WorkflowMachine<In, R> {
    if (this.#nodes.length === 0) throw new InvalidWorkflowError(`workflow ${this.name} has no step`);
    const compiler = new Compiler(this.name);
    const { initial, states } = compiler.sequence(this.#nodes);
    const config = {
      id: this.name,
      context: ({ input }: { input: unknown }): Ctx => ({ input, results: {}, last: input, failures: {} }),
      initial,
      states,
      output: ({ context }: { context: Ctx }) => context.results,
    };
    // the config is assembled at run time; the builder's methods are where its types are checked
    return createMachine(config as never) as unknown as WorkflowMachine<In, R>;
  }

  #with<R2>(node: Node, names: readonly string[]): WorkflowBuilder<In, R2> {
    return WorkflowBuilder.#of<In, R2>(
      this.name,
      [...this.#nodes, node],
      new Set([...this.#known, ...names]),
    );
  }

  #checkName(name: string): void {
    if (typeof name !== "string" || !NAME.test(name) || name === FINAL)
      throw new InvalidWorkflowError(
        `step name ${JSON.stringify(name)} must be non-empty, without . # : /, and not "${FINAL}"`,
      );
    if (this.#known.has(name)) throw new InvalidWorkflowError(`a step named ${name} already exists`);
  }

  #group(
    kind: "parallel" | "race",
    name: string,
    branches: Branches<In, R>,
    options: GroupOptions<In, R>,
  ): Node {
    this.#checkName(name);
    const entries = Object.entries(branches) as [string, Spec][];
    if (entries.length === 0) throw new InvalidWorkflowError(`${kind} ${name} has no branch`);
    checkTimeout(name, options.timeoutMs);
    checkInput(name, options.input, this.#known);
    for (const [branch, spec] of entries) {
      if (!NAME.test(branch))
        throw new InvalidWorkflowError(`${kind} ${name}: branch name ${JSON.stringify(branch)} is malformed`);
      checkSpec(`${name}/${branch}`, spec, this.#known);
    }
    return { kind, name, branches: entries, group: options as Group };
  }
}

/**
 * Starts a workflow builder.
 *
 * @param name - the workflow's name (the machine's id; no `.` or `#`).
 * @returns an empty builder; add steps and call `build()`.
 * @throws InvalidWorkflowError for a malformed name.
 * @example
 * ```ts
 * const review = workflow<string>("review")
 *   .step("draft", { agent: () => writer() })                       // input: the workflow input
 *   .parallel("checks", { facts: { agent: () => checker() }, style: { agent: () => editor() } })
 *   .when("checks", (c) => c.facts.chat_message.includes("OK"), (w) =>
 *     w.step("publish", { agent: () => publisher(), input: { from: "draft" } }))
 *   .build();
 * const results = await runWorkflow(system, review, "tides", { name: "review-1" });
 * ```
 */
export function workflow<In = unknown>(name: string): WorkflowBuilder<In, Record<never, never>> {
  if (typeof name !== "string" || !/^[^.#]+$/.test(name))
    throw new InvalidWorkflowError(`workflow name ${JSON.stringify(name)} must be non-empty, without . or #`);
  return new WorkflowBuilder(name);
}

/** The names a list of nodes defines, branches included. */
function namesOf(nodes: readonly Node[]): string[] {
  return nodes.flatMap((n) =>
    n.kind === "when" ? [...namesOf(n.whenTrue), ...namesOf(n.whenFalse)] : [n.name],
  );
}

function checkTimeout(name: string, ms: number | undefined): void {
  if (ms !== undefined && !(ms > 0 && Number.isFinite(ms)))
    throw new InvalidWorkflowError(`${name}: timeoutMs must be a finite number > 0, got ${String(ms)}`);
}

function checkInput(name: string, input: unknown, known: ReadonlySet<string>): void {
  if (typeof input === "object" && input !== null) {
    const from = (input as { from?: unknown }).from;
    if (typeof from !== "string" || !known.has(from))
      throw new InvalidWorkflowError(`${name}: input from ${String(from)}: no such step before it`);
  }
}

function checkSpec(name: string, spec: Spec, known: ReadonlySet<string>): void {
  if (
    typeof spec !== "object" ||
    spec === null ||
    (typeof spec.agent !== "object" && typeof spec.agent !== "function")
  )
    throw new InvalidWorkflowError(`${name}: a step needs an agent or an agent factory`);
  checkInput(name, spec.input, known);
  checkTimeout(name, spec.timeoutMs);
}

/** Turns builder nodes into XState state configs. */
class Compiler {
  readonly #workflow: string;

  constructor(workflow: string) {
    this.#workflow = workflow;
  }

  /** A sequence of nodes as sibling states ending in a final `done` state. */
  sequence(nodes: readonly Node[]): { initial: string; states: Record<string, StateConfig> } {
    const keys = nodes.map((n, i) => (n.kind === "when" ? `when:${i}` : n.name));
    const states: Record<string, StateConfig> = {};
    nodes.forEach((node, i) => {
      states[keys[i] as string] = this.#node(node, keys[i + 1] ?? FINAL);
    });
    states[FINAL] = { type: "final" };
    return { initial: keys[0] as string, states }; // a sequence is never empty (checked when built)
  }

  #node(node: Node, next: string): StateConfig {
    switch (node.kind) {
      case "step":
        return this.#step(node.name, node.spec, next);
      case "parallel":
        return this.#parallel(node.name, node.branches, node.group, next);
      case "race":
        return this.#race(node.name, node.branches, node.group, next);
      case "when":
        return this.#when(node, next);
      case "approval":
        return this.#approval(node.name, node.timeoutMs, next);
    }
  }

  #step(name: string, spec: Spec, next: string): StateConfig {
    return {
      invoke: {
        ...this.#invoke(name, name, spec, {}),
        onDone: {
          target: next,
          actions: update(({ context, event }) => record(context, name, event.output)),
        },
      },
      ...this.#timeout(name, spec.timeoutMs, (ms) => new AgentTimeoutError(name, ms)),
    };
  }

  #parallel(
    name: string,
    branches: readonly (readonly [string, Spec])[],
    group: Group,
    next: string,
  ): StateConfig {
    const regions: Record<string, StateConfig> = {};
    for (const [branch, spec] of branches) {
      regions[branch] = {
        initial: "running",
        states: {
          running: {
            invoke: {
              ...this.#invoke(name, `${name}/${branch}`, spec, group),
              onDone: {
                target: "finished",
                actions: update(({ context, event }) => ({
                  results: {
                    ...context.results,
                    [name]: { ...(context.results[name] as object | undefined), [branch]: event.output },
                  },
                })),
              },
            },
          },
          finished: { type: "final" },
        },
      };
    }
    return {
      type: "parallel",
      states: regions,
      onDone: { target: next, actions: update(({ context }) => ({ last: context.results[name] })) },
      ...this.#timeout(name, group.timeoutMs, (ms) => new AgentTimeoutError(name, ms)),
    };
  }

  #race(
    name: string,
    branches: readonly (readonly [string, Spec])[],
    group: Group,
    next: string,
  ): StateConfig {
    const workflow = this.#workflow;
    return {
      invoke: branches.map(([branch, spec]) => {
        const base = this.#invoke(name, `${name}/${branch}`, spec, group);
        return {
          ...base,
          onDone: {
            target: next,
            actions: update(({ context, event }) => record(context, name, event.output)),
          },
          // a failed branch is recorded; the race fails only with its last branch
          onError: [
            {
              guard: ({ context }: { context: Ctx }) =>
                (context.failures[name]?.length ?? 0) + 1 >= branches.length,
              actions: ({ event }: { event: { error: unknown } }) => {
                throw new WorkflowError(workflow, `every branch of race ${name} failed`, {
                  step: name,
                  cause: event.error,
                });
              },
            },
            {
              actions: update(({ context }) => ({
                failures: { ...context.failures, [name]: [...(context.failures[name] ?? []), branch] },
              })),
            },
          ],
        };
      }),
      ...this.#timeout(name, group.timeoutMs, (ms) => new AgentTimeoutError(name, ms)),
    };
  }

  #when(node: Extract<Node, { kind: "when" }>, next: string): StateConfig {
    const { step, predicate } = node;
    const states: Record<string, StateConfig> = {
      check: {
        always: [
          {
            guard: ({ context }: { context: Ctx }) => predicate(context.results[step], view(context)),
            target: "matched",
          },
          { target: node.whenFalse.length > 0 ? "unmatched" : "finished" },
        ],
      },
      matched: { ...this.sequence(node.whenTrue), onDone: "finished" },
      finished: { type: "final" },
    };
    if (node.whenFalse.length > 0)
      states.unmatched = { ...this.sequence(node.whenFalse), onDone: "finished" };
    return { initial: "check", states, onDone: next };
  }

  #approval(name: string, timeoutMs: number | undefined, next: string): StateConfig {
    const decide = (approved: boolean) => ({
      target: next,
      actions: update(({ context, event }) =>
        record(context, name, decision(approved, event as ApprovalEvent)),
      ),
    });
    return {
      on: { APPROVE: decide(true), REJECT: decide(false) },
      ...this.#timeout(
        name,
        timeoutMs,
        (ms) => new WorkflowError(this.#workflow, `no decision on ${name} within ${ms} ms`, { step: name }),
      ),
    };
  }

  /** The invoke config of one agent run: its logic, input, and failure (a WorkflowError naming the step). */
  #invoke(step: string, id: string, spec: Spec, group: Group): StateConfig {
    const workflow = this.#workflow;
    const input = spec.input ?? group.input;
    const transform = spec.input === undefined ? (spec.transform ?? group.transform) : spec.transform;
    return {
      id,
      src: agentLogic(spec.agent, {
        ...(spec.retry !== undefined && { retry: spec.retry }),
        ...(spec.select !== undefined && { select: (r: AgentResult<unknown>) => spec.select?.(r) }),
      }),
      input: ({ context }: { context: Ctx }) => {
        const ctx = view(context);
        let value: unknown;
        if (input === undefined) value = context.last;
        else if (typeof input === "string") value = input;
        else if (typeof input === "function") value = (input as (c: typeof ctx) => unknown)(ctx);
        else {
          const from = (input as { from: string }).from;
          if (!(from in context.results))
            throw new WorkflowError(workflow, `step ${id} needs the result of ${from}, which has not run`, {
              step,
            });
          value = context.results[from];
        }
        return transform === undefined ? value : transform(value, ctx);
      },
      onError: {
        actions: ({ event }: { event: { error: unknown } }) => {
          throw new WorkflowError(workflow, `step ${id} failed: ${messageOf(event.error)}`, {
            step,
            cause: event.error,
          });
        },
      },
    };
  }

  /** An `after` transition failing the step with the given cause (leaving the state aborts its runs). */
  #timeout(step: string, ms: number | undefined, cause: (ms: number) => Error): StateConfig {
    if (ms === undefined) return {};
    const workflow = this.#workflow;
    return {
      after: {
        [ms]: {
          actions: () => {
            const error = cause(ms);
            throw error instanceof WorkflowError
              ? error
              : new WorkflowError(workflow, `step ${step} timed out after ${ms} ms`, { step, cause: error });
          },
        },
      },
    };
  }
}

/** What an assignment of the compiled machine sees. */
interface Args {
  readonly context: Ctx;
  readonly event: EventObject & { readonly output?: unknown; readonly error?: unknown };
}

/** `assign` over the workflow context (typed here; the config is checked by XState as a whole). */
function update(fn: (args: Args) => Partial<Ctx>) {
  return assign(fn as never);
}

function record(context: Ctx, name: string, output: unknown): Partial<Ctx> {
  return { results: { ...context.results, [name]: output }, last: output };
}

function view(context: Ctx): StepContext<unknown, unknown> {
  return { input: context.input, results: context.results, last: context.last };
}

function decision(approved: boolean, event: ApprovalEvent): ApprovalDecision {
  // only the documented string fields: the decision is persisted with the context
  return {
    approved,
    ...(typeof event.by === "string" && { by: event.by }),
    ...(typeof event.comment === "string" && { comment: event.comment }),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
