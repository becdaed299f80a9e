/**
 * The hierarchical coordinator: a manager agent delegates to worker agents and combines their results.
 * The manager plans with structured output (a {@link DelegationPlan}, validated — never a free-text plan
 * to guess at); the plan's tasks go to the workers round-robin or by the worker each task names, or
 * every worker gets the request (broadcast); the workers run in parallel and the manager runs again to
 * aggregate their results. In the agent-as-tool strategy the workers are the manager's tools instead,
 * and the manager's final answer is the result.
 */
import { type AgentResult, type AnyTool, defineTool } from "@normandy/agents";
import { type Clock, type CorrelationIds, systemClock, type Telemetry } from "@normandy/runtime";
import { z } from "zod";
import {
  AgentTimeoutError,
  AggregationFailedError,
  CancelledError,
  CoordinationError,
  ManagerFailedError,
  UnknownWorkerError,
} from "../errors.js";
import {
  answerText,
  checkConcurrency,
  checkTimeout,
  NEVER,
  runStep,
  Semaphore,
} from "../internal/agentStep.js";
import {
  type OrchestrationEvents,
  type OrchestrationLogic,
  orchestrationEvents,
  orchestrationLogic,
} from "../orchestration.js";
import type { Runnable } from "../Runnable.js";

/** One task of a delegation plan. */
export const DelegationTaskSchema = z.object({
  worker: z.string().optional().describe("the id of the worker who must do the task"),
  task: z.string().describe("what the worker must do"),
});

/** What a manager's planning run must produce. */
export const DelegationPlanSchema = z
  .object({ tasks: z.array(DelegationTaskSchema).describe("the tasks to delegate") })
  .describe("a delegation plan");

/**
 * An output schema for a manager agent that both plans (`tasks`) and aggregates (`answer`): give it as
 * the manager's `outputSchema`.
 */
export const ManagerOutputSchema = z
  .object({
    tasks: z.array(DelegationTaskSchema).optional().describe("the delegation plan, when asked to plan"),
    answer: z.string().optional().describe("the final answer, when asked to combine the workers' results"),
  })
  .describe("a manager's reply");

/** One task of a delegation plan. */
export type DelegationTask = z.infer<typeof DelegationTaskSchema>;

/** A delegation plan. */
export type DelegationPlan = z.infer<typeof DelegationPlanSchema>;

/**
 * How the manager delegates: `round_robin` (the plan's tasks cycled over the workers), `broadcast` (every
 * worker gets the request; no planning run), `conditional` (each task names its worker), `agent_as_tool`
 * (the workers are the manager's tools).
 */
export type DelegationStrategy = "round_robin" | "broadcast" | "conditional" | "agent_as_tool";

/** A worker of the team. */
export interface Worker {
  /** Its id: named by plans, and its tool name in the agent-as-tool strategy. */
  readonly id: string;
  readonly agent: Runnable<unknown, unknown>;
  /** What it is good at, told to the manager. */
  readonly description?: string;
}

/** A manager that can be offered tools (an `Agent`: its tool registry). */
export interface ToolHost {
  readonly tools: {
    register(tool: AnyTool): unknown;
    unregister(name: string): boolean;
    has(name: string): boolean;
  };
}

/** How to make a {@link HierarchicalCoordinator}. */
export interface HierarchicalOptions {
  /** The manager; for the planning strategies its output must fit {@link DelegationPlanSchema}. */
  readonly manager: Runnable<unknown, unknown>;
  readonly workers?: readonly Worker[];
  /** Default `round_robin`. */
  readonly strategy?: DelegationStrategy;
  /** Workers running at once (default 5). */
  readonly maxConcurrency?: number;
  /** Per worker task (default 300,000 ms): fails only that task. */
  readonly workerTimeoutMs?: number;
  /** Replaces the opening instruction of the manager's first run. */
  readonly managerPrompt?: string;
  /** Receives `["normandy","orchestration","hierarchical",…]` events. */
  readonly telemetry?: Telemetry;
  /** The coordinator's id in telemetry metadata. */
  readonly id?: string;
  /** The clock of the time limits and durations (default the system clock). */
  readonly clock?: Clock;
}

/** Options of a run. */
export interface HierarchicalRunOptions {
  /** Cancels the run: the manager's or the workers' runs in flight are aborted (a CancelledError). */
  readonly signal?: AbortSignal;
}

interface TaskBase {
  /** `task_<n>`, in plan (or call) order. */
  readonly id: string;
  /** The worker's id. */
  readonly worker: string;
  /** What the worker was given. */
  readonly task: unknown;
}

/** A worker task that succeeded. */
export interface WorkerTaskSuccess extends TaskBase {
  readonly ok: true;
  readonly output: unknown;
  /** The worker's answer as text (what the manager is shown). */
  readonly text: string;
  readonly result: AgentResult<unknown>;
}

/** A worker task that failed. */
export interface WorkerTaskFailure extends TaskBase {
  readonly ok: false;
  readonly error: unknown;
}

/** One worker task's outcome. */
export type WorkerTaskOutcome = WorkerTaskSuccess | WorkerTaskFailure;

/** A task assigned to a worker, for {@link HierarchicalCoordinator.runWithTasks}. */
export interface Assignment {
  readonly worker: string;
  readonly task: unknown;
}

/** The outcome of a hierarchical run. */
export interface HierarchicalResult {
  /** The final answer: the manager's `answer`, else its `chat_message`, else its text. */
  readonly answer: string;
  /** The manager's final output. */
  readonly output: unknown;
  /** The manager's plan (undefined for broadcast, agent-as-tool and given tasks). */
  readonly plan: DelegationPlan | undefined;
  /** Every worker task, failed ones included, in plan (or call) order. */
  readonly tasks: readonly WorkerTaskOutcome[];
  /** The manager's final run. */
  readonly manager: AgentResult<unknown>;
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * A manager and its workers.
 *
 * @example
 * ```ts
 * const manager = defineAgent({ name: "manager", provider, model, outputSchema: ManagerOutputSchema });
 * const team = new HierarchicalCoordinator({
 *   manager,
 *   workers: [{ id: "researcher", agent: researcher }, { id: "writer", agent: writer }],
 *   strategy: "conditional",
 * });
 * const { answer, tasks } = await team.run("A short report on the tides of the Channel");
 * ```
 */
export class HierarchicalCoordinator {
  /** The manager. */
  readonly manager: Runnable<unknown, unknown>;
  /** How it delegates. */
  readonly strategy: DelegationStrategy;
  readonly #workers = new Map<string, Worker>();
  readonly #options: HierarchicalOptions;
  readonly #maxConcurrency: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** One run at a time: the manager holds one conversation, and its tools are the current run's. */
  readonly #runs = new Semaphore(1);

  /**
   * @param options - manager, workers, strategy and limits.
   * @throws RangeError for bad limits or workers; TypeError for an agent-as-tool manager without tools.
   */
  constructor(options: HierarchicalOptions) {
    this.#options = options;
    this.manager = options.manager;
    this.strategy = options.strategy ?? "round_robin";
    this.#maxConcurrency = checkConcurrency(options.maxConcurrency ?? 5);
    this.#timeoutMs = checkTimeout(options.workerTimeoutMs, "workerTimeoutMs") ?? 300_000;
    this.#clock = options.clock ?? systemClock;
    if (this.strategy === "agent_as_tool" && !isToolHost(options.manager))
      throw new TypeError(
        `the agent_as_tool strategy needs a manager with a tool registry (an Agent); ${options.manager.name} has none`,
      );
    for (const worker of options.workers ?? []) this.addWorker(worker);
  }

  /** The workers, in the order they were added. */
  get workers(): readonly Worker[] {
    return [...this.#workers.values()];
  }

  /**
   * Adds a worker (a run in progress keeps the team it started with).
   *
   * @param worker - its id, agent and description.
   * @returns this coordinator.
   * @throws RangeError for a duplicate id, the manager as a worker, or (agent-as-tool) an id that is not
   *   a valid tool name.
   */
  addWorker(worker: Worker): this {
    if (this.#workers.has(worker.id))
      throw new RangeError(`duplicate worker id ${JSON.stringify(worker.id)}`);
    if (worker.agent === this.manager) throw new RangeError("the manager cannot be one of its own workers");
    if (this.strategy === "agent_as_tool" && !TOOL_NAME.test(worker.id))
      throw new RangeError(
        `worker id ${JSON.stringify(worker.id)} is not a valid tool name: use [a-zA-Z0-9_-], 1 to 64 characters`,
      );
    this.#workers.set(worker.id, worker);
    return this;
  }

  /**
   * Removes a worker.
   *
   * @param id - its id.
   * @returns whether it was a worker.
   */
  removeWorker(id: string): boolean {
    return this.#workers.delete(id);
  }

  /**
   * Runs the team on a request: plan, delegate, aggregate (or, agent-as-tool, the manager's run).
   *
   * @param input - the request (text, or anything JSON).
   * @param options - the signal.
   * @returns the answer, the plan and every worker task's outcome.
   * @throws ManagerFailedError (planning run failed, or its output is not a plan); UnknownWorkerError
   *   (conditional plan naming unknown workers); AggregationFailedError (holding the worker outcomes);
   *   CancelledError; CoordinationError `not_found` for a team without workers.
   */
  run(input: unknown, options: HierarchicalRunOptions = {}): Promise<HierarchicalResult> {
    return this.#exclusive(options.signal ?? NEVER, async (signal, events) => {
      const workers = this.#team();
      if (this.strategy === "agent_as_tool") return this.#runWithTools(input, workers, signal, events);
      let plan: DelegationPlan | undefined;
      let assignments: { worker: Worker; task: unknown }[];
      if (this.strategy === "broadcast") assignments = workers.map((worker) => ({ worker, task: input }));
      else {
        plan = await this.#plan(input, workers, signal, events);
        assignments = this.#assign(plan, workers);
      }
      const tasks = await this.#runTasks(assignments, signal, events);
      return { ...(await this.#aggregate(input, tasks, signal, events)), plan, tasks };
    });
  }

  /**
   * Skips planning: runs the given tasks on their workers, then the manager aggregates.
   *
   * @param assignments - worker ids and their tasks.
   * @param options - the signal.
   * @returns the answer and every task's outcome (`plan` undefined).
   * @throws UnknownWorkerError before any run; AggregationFailedError; CancelledError.
   */
  runWithTasks(
    assignments: readonly Assignment[],
    options: HierarchicalRunOptions = {},
  ): Promise<HierarchicalResult> {
    return this.#exclusive(options.signal ?? NEVER, async (signal, events) => {
      const unknown = assignments.filter((a) => !this.#workers.has(a.worker)).map((a) => a.worker);
      if (unknown.length > 0) throw new UnknownWorkerError(unknown);
      const resolved = assignments.map((a) => ({
        worker: this.#workers.get(a.worker) as Worker,
        task: a.task,
      }));
      const request = assignments.map((a) => `${a.worker}: ${textOf(a.task)}`).join("\n");
      const tasks = await this.#runTasks(resolved, signal, events);
      return { ...(await this.#aggregate(request, tasks, signal, events)), plan: undefined, tasks };
    });
  }

  /**
   * The team as orchestration logic: its input is the request.
   *
   * @returns promise logic for `startOrchestration` or a supervisor.
   * @example
   * ```ts
   * const run = startOrchestration(team.logic(), "A report on tides");
   * run.stop(); // aborts the manager's or the workers' runs in flight
   * ```
   */
  logic(): OrchestrationLogic<unknown, HierarchicalResult> {
    return orchestrationLogic((input, signal) => this.run(input, { signal }));
  }

  async #exclusive(
    signal: AbortSignal,
    body: (signal: AbortSignal, events: OrchestrationEvents) => Promise<HierarchicalResult>,
  ): Promise<HierarchicalResult> {
    const release = await this.#runs.acquire(signal);
    const events = orchestrationEvents(
      this.#options.telemetry,
      "hierarchical",
      {
        ...(this.#options.id !== undefined && { id: this.#options.id }),
        strategy: this.strategy,
        manager: this.manager.name,
        agents: [...this.#workers.keys()],
      },
      () => this.#clock.now(),
    );
    try {
      const result = await body(signal, events);
      events.stop({ tasks: result.tasks.length, errors: result.tasks.filter((t) => !t.ok).length });
      return result;
    } catch (error) {
      events.exception(error);
      throw error;
    } finally {
      release();
    }
  }

  #team(): Worker[] {
    const workers = this.workers;
    if (workers.length === 0) throw new CoordinationError("not_found", "the team has no workers");
    return [...workers];
  }

  /** The manager's planning run, checked against the plan schema. */
  async #plan(
    input: unknown,
    workers: readonly Worker[],
    signal: AbortSignal,
    events: OrchestrationEvents,
  ): Promise<DelegationPlan> {
    const name = this.manager.name;
    const prompt = [
      this.#options.managerPrompt ?? "You manage a team of workers. Split the request into tasks for them.",
      this.strategy === "conditional"
        ? 'Reply with a delegation plan: {"tasks": [{"worker": "<worker id>", "task": "<what to do>"}]}; every task names one of the workers below.'
        : 'Reply with a delegation plan: {"tasks": [{"task": "<what to do>"}]}; the tasks are handed to the workers in turn.',
      "",
      "Workers:",
      ...workers.map(describeWorker),
      "",
      "Request:",
      textOf(input),
    ].join("\n");
    const result = await this.#runManager(prompt, signal, events, (error) => {
      throw new ManagerFailedError(name, `its planning run failed: ${messageOf(error)}`, error);
    });
    const plan = DelegationPlanSchema.safeParse(result.output);
    if (!plan.success)
      throw new ManagerFailedError(
        name,
        `its output is not a delegation plan: ${plan.error.issues.map((i) => `${i.path.join(".") || "output"}: ${i.message}`).join("; ")}`,
        plan.error,
      );
    events.decision("plan", { tasks: plan.data.tasks });
    return plan.data;
  }

  #assign(plan: DelegationPlan, workers: readonly Worker[]): { worker: Worker; task: unknown }[] {
    if (this.strategy === "round_robin")
      return plan.tasks.map((t, i) => ({ worker: workers[i % workers.length] as Worker, task: t.task }));
    const byId = new Map(workers.map((w) => [w.id, w]));
    const unknown = plan.tasks.filter((t) => !byId.has(t.worker ?? "")).map((t) => t.worker ?? "");
    if (unknown.length > 0) throw new UnknownWorkerError(unknown);
    return plan.tasks.map((t) => ({ worker: byId.get(t.worker ?? "") as Worker, task: t.task }));
  }

  /** Runs the tasks in parallel; a failed task is an outcome, never a lost sibling. */
  async #runTasks(
    assignments: readonly { worker: Worker; task: unknown }[],
    signal: AbortSignal,
    events: OrchestrationEvents,
  ): Promise<WorkerTaskOutcome[]> {
    const slots = new Semaphore(this.#maxConcurrency);
    const settled = await Promise.allSettled(
      assignments.map((a, i) => this.#runTask(`task_${i}`, a.worker, a.task, signal, slots, events)),
    );
    if (signal.aborted) throw new CancelledError(signal.reason);
    // #runTask only rejects on cancellation, handled above
    return settled.map((s) => (s as PromiseFulfilledResult<WorkerTaskOutcome>).value);
  }

  /** One worker task; rejects only when the signal aborts. */
  async #runTask(
    id: string,
    worker: Worker,
    task: unknown,
    signal: AbortSignal,
    slots: Semaphore,
    events: OrchestrationEvents,
    correlation?: CorrelationIds,
  ): Promise<WorkerTaskOutcome> {
    const started = this.#clock.now();
    const base = { id, worker: worker.id, task };
    let outcome: WorkerTaskOutcome;
    try {
      const result = await runStep(worker.id, worker.agent, task, {
        signal,
        clock: this.#clock,
        timeoutMs: this.#timeoutMs,
        slots,
        ...(correlation !== undefined && { correlation }),
      });
      outcome = { ...base, ok: true, output: result.output, text: answerText(result), result };
    } catch (error) {
      outcome = { ...base, ok: false, error };
    }
    const durationMs = this.#clock.now() - started;
    events.agent(
      worker.id,
      outcome.ok ? { ok: true, durationMs } : { ok: false, durationMs, error: outcome.error },
    );
    if (!outcome.ok && signal.aborted) throw outcome.error;
    return outcome;
  }

  /** The manager's second run, on the workers' results. */
  async #aggregate(
    input: unknown,
    tasks: readonly WorkerTaskOutcome[],
    signal: AbortSignal,
    events: OrchestrationEvents,
  ): Promise<Pick<HierarchicalResult, "answer" | "output" | "manager">> {
    const prompt = [
      "Combine your workers' results into the final answer to the request.",
      "",
      "Request:",
      textOf(input),
      "",
      "Results:",
      ...tasks.map(
        (t) =>
          `[${t.id}] worker ${t.worker}, task: ${textOf(t.task)}\n${t.ok ? t.text : `FAILED: ${messageOf(t.error)}`}`,
      ),
    ].join("\n");
    const result = await this.#runManager(prompt, signal, events, (error) => {
      throw new AggregationFailedError(tasks, error);
    });
    return { answer: answerOf(result), output: result.output, manager: result };
  }

  /** The agent-as-tool strategy: the workers become the manager's tools for the length of one run. */
  async #runWithTools(
    input: unknown,
    workers: readonly Worker[],
    signal: AbortSignal,
    events: OrchestrationEvents,
  ): Promise<HierarchicalResult> {
    const host = (this.manager as unknown as ToolHost).tools;
    const clash = workers.filter((w) => host.has(w.id)).map((w) => w.id);
    if (clash.length > 0)
      throw new TypeError(
        `the manager already has tools named ${clash.map((c) => JSON.stringify(c)).join(", ")}`,
      );
    const slots = new Semaphore(this.#maxConcurrency);
    const tasks: WorkerTaskOutcome[] = [];
    let calls = 0;
    const tools = workers.map((worker) =>
      defineTool({
        name: worker.id,
        description:
          worker.description ?? `Delegates a task to the worker ${worker.id} and returns its answer.`,
        input: z.object({ task: z.string().describe("what the worker must do") }),
        timeoutMs: this.#timeoutMs,
        run: async ({ task }, ctx) => {
          const id = `task_${calls++}`;
          let outcome: WorkerTaskOutcome;
          try {
            // the worker's run continues the trace under this tool call
            outcome = await this.#runTask(id, worker, task, ctx.signal, slots, events, ctx.correlation);
          } catch (error) {
            if (signal.aborted) throw error; // the whole run is cancelled: nothing to record
            // only the call's own time limit aborts a tool call while the manager's run goes on
            outcome = {
              id,
              worker: worker.id,
              task,
              ok: false,
              error: new AgentTimeoutError(worker.id, this.#timeoutMs),
            };
          }
          tasks.push(outcome);
          if (!outcome.ok) throw outcome.error; // the manager sees a tool error and may try again
          return outcome.text;
        },
      }),
    );
    for (const tool of tools) host.register(tool);
    try {
      const prompt = [
        this.#options.managerPrompt ??
          "You manage a team of workers, offered to you as tools: call a worker with a task to delegate it, then answer with the combined result.",
        "",
        "Request:",
        textOf(input),
      ].join("\n");
      const name = this.manager.name;
      const result = await this.#runManager(prompt, signal, events, (error) => {
        throw new ManagerFailedError(name, `its run failed: ${messageOf(error)}`, error);
      });
      tasks.sort((a, b) => taskNumber(a) - taskNumber(b));
      return { answer: answerOf(result), output: result.output, manager: result, plan: undefined, tasks };
    } finally {
      for (const tool of tools) host.unregister(tool.name);
    }
  }

  /** A manager run, reported; `fail` turns its error into the phase's typed error (not a cancellation). */
  async #runManager(
    prompt: string,
    signal: AbortSignal,
    events: OrchestrationEvents,
    fail: (error: unknown) => never,
  ): Promise<AgentResult<unknown>> {
    const name = this.manager.name;
    const started = this.#clock.now();
    try {
      const result = await runStep(name, this.manager, prompt, { signal, clock: this.#clock });
      events.agent(name, { ok: true, durationMs: this.#clock.now() - started });
      return result;
    } catch (error) {
      events.agent(name, { ok: false, durationMs: this.#clock.now() - started, error });
      if (signal.aborted) throw error;
      return fail(error);
    }
  }
}

/**
 * Runs a team once.
 *
 * @param options - manager, workers, strategy and limits.
 * @param input - the request.
 * @param runOptions - the signal.
 * @returns as {@link HierarchicalCoordinator.run}.
 * @throws as {@link HierarchicalCoordinator.run}.
 * @example
 * ```ts
 * const { answer } = await runHierarchical({ manager, workers, strategy: "broadcast" }, "Is it safe?");
 * ```
 */
export function runHierarchical(
  options: HierarchicalOptions,
  input: unknown,
  runOptions: HierarchicalRunOptions = {},
): Promise<HierarchicalResult> {
  return new HierarchicalCoordinator(options).run(input, runOptions);
}

/**
 * A team as orchestration logic: its input is the request.
 *
 * @param options - manager, workers, strategy and limits (or a coordinator).
 * @returns promise logic.
 */
export function hierarchicalLogic(
  options: HierarchicalOptions | HierarchicalCoordinator,
): OrchestrationLogic<unknown, HierarchicalResult> {
  return (
    options instanceof HierarchicalCoordinator ? options : new HierarchicalCoordinator(options)
  ).logic();
}

function isToolHost(runnable: Runnable<unknown, unknown>): boolean {
  const tools = (runnable as Partial<ToolHost>).tools;
  return (
    typeof tools === "object" &&
    tools !== null &&
    typeof tools.register === "function" &&
    typeof tools.unregister === "function" &&
    typeof tools.has === "function"
  );
}

function describeWorker(worker: Worker): string {
  return `- ${worker.id}${worker.description === undefined ? "" : `: ${worker.description}`}`;
}

/** A request or task as text: a string as is, a lone `chat_message` as its text, anything else as JSON. */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  const record = value as { chat_message?: unknown } | null;
  if (
    typeof record === "object" &&
    record !== null &&
    typeof record.chat_message === "string" &&
    Object.keys(record).length === 1
  )
    return record.chat_message;
  return JSON.stringify(value) ?? String(value);
}

function answerOf(result: AgentResult<unknown>): string {
  const answer = (result.output as { answer?: unknown } | null | undefined)?.answer;
  return typeof answer === "string" ? answer : answerText(result);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function taskNumber(task: WorkerTaskOutcome): number {
  return Number(task.id.slice("task_".length));
}
