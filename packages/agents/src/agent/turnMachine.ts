/**
 * An agent's runs as an XState machine:
 *
 * `idle → calling_model → (running_tools | awaiting_approval → running_tools) → calling_model …
 *  → done | failed`; `RUN` from `done` or `failed` starts the next run.
 *
 * An agent keeps one turn actor for its life (an actor and its system per run cost about as much as
 * the run's transitions); an aborted run stops it and the next run gets a new one. Entering
 * `calling_model` calls the model (after fitting the context and building the system prompt), entering
 * `running_tools` runs the step's tool calls in parallel ({@link TurnCalls}); they answer with one event
 * each — `MODEL_DONE`, `TOOLS_DONE` or `CALL_ERROR` — so a tool-calling step is two transitions, and the
 * inspector shows the turn's state and every answer. The invoked `calls` actor lives as long as the
 * turn actor: stopping the actor stops it, which aborts the HTTP request and the tools in flight. (An
 * XState actor per call cost ~40% more per run, and a request event per call to one calls actor ~6% of
 * the concurrent benchmark's ratio, for no behaviour this lacks.) There are no transient states (an
 * eventless microstep costs as much as a state change): the reply's outcome — tools, approval, an
 * answer, a repair — is decided on `MODEL_DONE`. The context holds only JSON (the conversation lives
 * in the agent's memory), so a run paused for approval can be persisted.
 */
import { type AnyActorRef, assign, createActor, fromCallback, setup } from "xstate";
import type { ToolCallBlock, ToolResultBlock, Usage } from "../model/messages.js";
import { addUsage, errorResult, textOf, ZERO_USAGE } from "../model/messages.js";
import { type ParseResult, repairPrompt, StructuredOutputError } from "../output/structuredOutput.js";
import type { StepInfo } from "./events.js";
import { MaxIterationsError } from "./events.js";
import {
  type CallEvent,
  type Decision,
  type ModelOutcome,
  TurnCalls,
  type TurnServices,
} from "./turnCalls.js";

export type { Decision, TurnServices } from "./turnCalls.js";

/** The machine's context: JSON only. */
export interface TurnContext {
  readonly maxToolIterations: number;
  readonly repairAttempts: number;
  readonly step: number;
  readonly iterations: number;
  readonly repairs: number;
  readonly final: boolean;
  readonly pending: readonly ToolCallBlock[];
  /** Ids of the pending calls that wait for a human's approval. */
  readonly approvals: readonly string[];
  readonly decisions: Readonly<Record<string, Decision>>;
  readonly steps: readonly StepInfo[];
  readonly usage: Usage;
  readonly text: string;
  readonly output: unknown;
  readonly error: unknown;
}

/** Events the machine accepts. */
export type TurnEvent =
  | { readonly type: "RUN" }
  | { readonly type: "APPROVE"; readonly callId: string }
  | { readonly type: "REJECT"; readonly callId: string; readonly reason?: string };

/** The limits a turn starts with (kept in its context, so a restored turn keeps them). */
interface TurnInput {
  readonly maxToolIterations: number;
  readonly repairAttempts: number;
}

/** The model call's outcome event (named actions see the machine's event union, hence the cast). */
function outcomeOf(event: unknown): ModelOutcome {
  return (event as { output: ModelOutcome }).output;
}

const initialContext = {
  step: 0,
  iterations: 0,
  repairs: 0,
  final: false,
  pending: [],
  approvals: [],
  decisions: {},
  steps: [],
  usage: ZERO_USAGE,
  text: "",
  output: undefined,
  error: undefined,
} as const;

function issuesOf(parsed: ParseResult<unknown> | undefined): string {
  return (parsed as { issues: string }).issues;
}

// One machine for every agent (building a machine costs more than a run, and a thousand copies cost
// memory): each turn's calls are bound to its actor system, which the turn and its calls actor share.
const bound = new WeakMap<object, TurnCalls>();

function callsOf(self: AnyActorRef): TurnCalls {
  return bound.get(self.system) as TurnCalls;
}

/** Whether a call other than `except` still waits for a decision. */
function undecided(context: TurnContext, approvals: readonly string[], except?: string): boolean {
  return approvals.some((id) => id !== except && context.decisions[id] === undefined);
}

/** A context update (XState merges it into the context). */
type ContextUpdate = { -readonly [K in keyof TurnContext]?: TurnContext[K] };

/**
 * The context after a reply (already in memory, see {@link TurnCalls}): its step, usage and pending
 * calls; callers add their outcome's fields to it. Each transition makes one assign (every assign copies
 * the context and the snapshot).
 */
function recorded(context: TurnContext, event: unknown): ContextUpdate {
  const { response, calls, approvals } = outcomeOf(event);
  const step = context.step + 1;
  return {
    step,
    usage: addUsage(context.usage, response.usage),
    pending: calls,
    approvals,
    decisions: {},
    text: textOf(response),
    steps: [...context.steps, { step, response, toolResults: [] }],
  };
}

/** The context after a step's tool results (already in memory): the iteration counted. */
function finished(context: TurnContext, results: readonly ToolResultBlock[]) {
  const steps = [...context.steps];
  const last = steps[steps.length - 1] as StepInfo;
  steps[steps.length - 1] = { ...last, toolResults: results };
  const iterations = context.iterations + 1;
  return {
    steps,
    iterations,
    final: iterations >= context.maxToolIterations,
    pending: [],
    approvals: [],
    decisions: {},
  };
}

/** The turn machine, shared by all agents; start it with {@link createTurnActor}. */
export const turnMachine = setup({
  types: {} as { context: TurnContext; events: TurnEvent | CallEvent; input: TurnInput },
  actors: {
    // lives as long as the turn actor, for its cleanup: stopping the actor aborts the calls in flight
    calls: fromCallback(
      ({ self }) =>
        () =>
          callsOf(self).abort("the agent run was stopped"),
    ),
  },
  actions: {
    callModel: ({ context, self }) =>
      callsOf(self).model(self, context.step + 1, context.final, context.step === 0),
    runTools: ({ context, self }) =>
      callsOf(self).tools(self, context.pending, context.decisions, context.step),
    /** Stores the reply's step in the context (see {@link recorded}). */
    record: assign(({ context, event }) => recorded(context, event)),
    /** A new run on a used actor: everything but the limits (not in `initialContext`) starts over. */
    reset: assign(() => initialContext),
    decide: assign({
      decisions: ({ context, event }) => {
        const e = event as Extract<TurnEvent, { type: "APPROVE" | "REJECT" }>;
        const decision: Decision =
          e.type === "APPROVE"
            ? { approved: true }
            : { approved: false, ...(e.reason !== undefined && { reason: e.reason }) };
        return { ...context.decisions, [e.callId]: decision };
      },
    }),
  },
  guards: {
    othersUndecided: ({ context, event }) =>
      undecided(context, context.approvals, (event as { callId?: string }).callId),
  },
}).createMachine({
  id: "agent-turn",
  context: ({ input }) => ({ ...initialContext, ...input }),
  invoke: { id: "calls", src: "calls" },
  on: { CALL_ERROR: { target: ".failed", actions: assign({ error: ({ event }) => event.error }) } },
  initial: "idle",
  states: {
    idle: { on: { RUN: "calling_model" } },
    calling_model: {
      entry: "callModel",
      on: {
        MODEL_DONE: [
          {
            guard: ({ context, event }) => context.final && event.output.calls.length > 0,
            target: "failed",
            actions: [
              // keep memory valid: every tool call needs a result, even a refused one
              ({ event, self }) =>
                callsOf(self).services.remember({
                  role: "tool",
                  content: event.output.calls.map((c) =>
                    errorResult(c, "Tool calls are not allowed any more: give the final answer."),
                  ),
                }),
              assign(({ context, event }) => {
                const update = recorded(context, event);
                update.error = new MaxIterationsError(context.maxToolIterations);
                return update;
              }),
            ],
          },
          {
            guard: ({ context, event }) => undecided(context, event.output.approvals),
            target: "awaiting_approval",
            actions: "record",
          },
          {
            guard: ({ event }) => event.output.calls.length > 0,
            target: "running_tools",
            actions: "record",
          },
          {
            guard: ({ event }) => event.output.parsed?.ok === true,
            target: "done",
            actions: assign(({ context, event }) => {
              const update = recorded(context, event);
              update.output = (event.output.parsed as { value: unknown }).value;
              return update;
            }),
          },
          {
            guard: ({ context }) => context.repairs < context.repairAttempts,
            target: "calling_model",
            reenter: true,
            actions: [
              ({ event, self }) =>
                callsOf(self).services.remember({
                  role: "user",
                  content: repairPrompt(issuesOf(event.output.parsed)),
                }),
              assign(({ context, event }) => {
                const update = recorded(context, event);
                update.repairs = context.repairs + 1;
                return update;
              }),
            ],
          },
          {
            target: "failed",
            actions: assign(({ context, event }) => {
              const update = recorded(context, event);
              update.error = new StructuredOutputError(
                textOf(event.output.response),
                issuesOf(event.output.parsed),
              );
              return update;
            }),
          },
        ],
      },
    },
    awaiting_approval: {
      // a decision keeps the run paused until the last undecided call is decided
      on: {
        APPROVE: [
          { guard: "othersUndecided", actions: "decide" },
          { target: "running_tools", actions: "decide" },
        ],
        REJECT: [
          { guard: "othersUndecided", actions: "decide" },
          { target: "running_tools", actions: "decide" },
        ],
      },
    },
    running_tools: {
      entry: "runTools",
      on: {
        TOOLS_DONE: {
          target: "calling_model",
          actions: assign(({ context, event }) => finished(context, event.results)),
        },
      },
    },
    // not final: the actor lives as long as its agent, and the next RUN starts from here
    done: { on: { RUN: { target: "calling_model", actions: "reset" } } },
    failed: {
      // abandons the calls still in flight (a tool's error failed the run while others ran)
      entry: ({ self }) => callsOf(self).abort("the agent run failed"),
      on: { RUN: { target: "calling_model", actions: "reset" } },
    },
  },
});

/** The machine type. */
export type TurnMachine = typeof turnMachine;

/**
 * Creates (without starting) a turn actor bound to an agent's services.
 *
 * @param services - the agent's model call, tools, memory and settings.
 * @param snapshot - a persisted snapshot to restore (a paused run).
 * @returns the actor.
 */
export function createTurnActor(services: TurnServices, snapshot?: unknown) {
  const input = { maxToolIterations: services.maxToolIterations, repairAttempts: services.repairAttempts };
  const actor = createActor(
    turnMachine,
    snapshot === undefined ? { input } : { input, snapshot: snapshot as never },
  );
  bound.set(actor.system, new TurnCalls(services));
  return actor;
}
