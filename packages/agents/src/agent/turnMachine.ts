/**
 * An agent's run as an XState machine:
 *
 * `idle → calling_model → (running_tools | awaiting_approval → running_tools) → calling_model …
 *  → done | failed`
 *
 * The model call is an invoked actor that first fits the context and builds the system prompt (so both
 * happen before every call, under the same abort signal), and every tool call a spawned child actor,
 * so stopping the run aborts the HTTP request and the tools, and the inspector shows where the agent is.
 * The machine has no transient states (each eventless microstep costs as much as a state change), so
 * the reply's outcome — tools, approval, a valid answer, a repair — is decided on the call's done event;
 * preparing is not a state of its own either (an extra actor per step costs more than the rest). The context holds only JSON data
 * (the conversation lives in the agent's memory), so a run paused for approval can be persisted.
 */
import { type AnyActorRef, assign, createActor, enqueueActions, fromPromise, setup } from "xstate";
import type { ModelResponse, ToolCallBlock, ToolResultBlock, Usage } from "../model/messages.js";
import { addUsage, textOf, toolCallsOf, ZERO_USAGE } from "../model/messages.js";
import {
  type ParseResult,
  parseStructuredOutput,
  repairPrompt,
  StructuredOutputError,
} from "../output/structuredOutput.js";
import type { StepInfo } from "./events.js";
import { MaxIterationsError } from "./events.js";

/** What the machine needs from its agent (bound to each turn actor; never in the context). */
export interface TurnServices {
  readonly maxToolIterations: number;
  readonly repairAttempts: number;
  readonly outputSchema: import("zod").ZodType<unknown>;
  /** Fits the context, builds the system prompt and calls the model (streaming or not) for `step`; `final` forbids tools. */
  callModel(step: number, final: boolean, signal: AbortSignal): Promise<ModelResponse>;
  /** Runs one tool call (never rejects). */
  runTool(call: ToolCallBlock, step: number, signal: AbortSignal): Promise<ToolResultBlock>;
  /** Whether a call waits for human approval. */
  needsApproval(call: ToolCallBlock): boolean;
  /** Appends messages to memory. */
  remember(message: import("../model/messages.js").Message): void;
}

/** A human's decision on a call awaiting approval. */
export interface Decision {
  readonly approved: boolean;
  readonly reason?: string;
}

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
  readonly results: Readonly<Record<string, ToolResultBlock>>;
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

/** A spawned tool actor finished (XState's done event for `tool:<call id>`). */
type ToolDone = { readonly type: `xstate.done.actor.${string}`; readonly output: ToolResultBlock };

/** What the model-call actor hands back: the reply, and when it has no tool calls, its parse. */
interface ModelOutcome {
  readonly response: ModelResponse;
  readonly calls: readonly ToolCallBlock[];
  /** Ids of the calls that need approval. */
  readonly approvals: readonly string[];
  readonly parsed: ParseResult<unknown> | undefined;
}

/** The model-call actor's done event (named actions see the machine's event union, hence the cast). */
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
  results: {},
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
// memory): each turn actor's services are bound to it here, and reach the call actors through their input.
const bound = new WeakMap<AnyActorRef, TurnServices>();

function servicesOf(self: AnyActorRef): TurnServices {
  return bound.get(self) as TurnServices;
}

/** Whether a call other than `except` still waits for a decision. */
function undecided(context: TurnContext, approvals: readonly string[], except?: string): boolean {
  return approvals.some((id) => id !== except && context.decisions[id] === undefined);
}

/** The turn machine, shared by all agents; start it with {@link createTurnActor}. */
export const turnMachine = setup({
  types: {} as { context: TurnContext; events: TurnEvent | ToolDone; input: TurnInput },
  actors: {
    callModel: fromPromise<ModelOutcome, { step: number; final: boolean; services: TurnServices }>(
      async ({ input, signal }) => {
        const { services } = input;
        const response = await services.callModel(input.step, input.final, signal);
        const calls = toolCallsOf(response);
        const approvals = calls.filter((c) => services.needsApproval(c)).map((c) => c.id);
        // parsed here, once: the done event's guards then decide between done, repair and failure
        const parsed =
          calls.length === 0 ? parseStructuredOutput(textOf(response), services.outputSchema) : undefined;
        return { response, calls, approvals, parsed };
      },
    ),
    runTool: fromPromise<ToolResultBlock, { call: ToolCallBlock; step: number; services: TurnServices }>(
      ({ input, signal }) => input.services.runTool(input.call, input.step, signal),
    ),
  },
  actions: {
    // memory writes are enqueued, not done while XState resolves the actions (which must stay pure)
    /** Stores the reply in memory and its step in the context. */
    record: enqueueActions(({ context, event, enqueue, self }) => {
      const { response, calls, approvals } = outcomeOf(event);
      enqueue(() => servicesOf(self).remember({ role: "assistant", content: response.content }));
      const step = context.step + 1;
      enqueue.assign({
        step,
        usage: addUsage(context.usage, response.usage),
        pending: calls,
        approvals,
        decisions: {},
        results: {},
        text: textOf(response),
        steps: [...context.steps, { step, response, toolResults: [] }],
      });
    }),
    refuseFinalToolCalls: enqueueActions(({ context, enqueue, self }) => {
      // keep memory valid: every tool call needs a result, even a refused one
      const content = context.pending.map((c) => ({
        type: "tool_result" as const,
        toolCallId: c.id,
        content: "Tool calls are not allowed any more: give the final answer.",
        isError: true,
      }));
      enqueue(() => servicesOf(self).remember({ role: "tool", content }));
      enqueue.assign({ error: new MaxIterationsError(context.maxToolIterations) });
    }),
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
    /** Stores the results of the turn's calls, in call order, and counts the iteration. */
    finishTools: enqueueActions(({ context, enqueue, self }) => {
      const results = context.pending.map((c) => context.results[c.id] as ToolResultBlock);
      enqueue(() => servicesOf(self).remember({ role: "tool", content: results }));
      const steps = [...context.steps];
      const last = steps[steps.length - 1] as StepInfo;
      steps[steps.length - 1] = { ...last, toolResults: results };
      const iterations = context.iterations + 1;
      enqueue.assign({
        steps,
        iterations,
        final: iterations >= context.maxToolIterations,
        pending: [],
        approvals: [],
        results: {},
        decisions: {},
      });
    }),
  },
  guards: {
    othersUndecided: ({ context, event }) =>
      undecided(context, context.approvals, (event as { callId?: string }).callId),
    allResults: ({ context }) => context.pending.every((c) => context.results[c.id] !== undefined),
  },
}).createMachine({
  id: "agent-turn",
  context: ({ input }) => ({ ...initialContext, ...input }),
  initial: "idle",
  states: {
    idle: { on: { RUN: "calling_model" } },
    calling_model: {
      invoke: {
        src: "callModel",
        input: ({ context, self }) => ({
          step: context.step + 1,
          final: context.final,
          services: servicesOf(self),
        }),
        onDone: [
          {
            guard: ({ context, event }) => context.final && event.output.calls.length > 0,
            target: "failed",
            actions: ["record", "refuseFinalToolCalls"],
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
            actions: [
              "record",
              assign({ output: ({ event }) => (event.output.parsed as { value: unknown }).value }),
            ],
          },
          {
            guard: ({ context }) => context.repairs < context.repairAttempts,
            target: "calling_model",
            reenter: true,
            actions: [
              "record",
              ({ event, self }) =>
                servicesOf(self).remember({
                  role: "user",
                  content: repairPrompt(issuesOf(event.output.parsed)),
                }),
              assign({ repairs: ({ context }) => context.repairs + 1 }),
            ],
          },
          {
            target: "failed",
            actions: [
              "record",
              assign({
                error: ({ event }) =>
                  new StructuredOutputError(textOf(event.output.response), issuesOf(event.output.parsed)),
              }),
            ],
          },
        ],
        onError: { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
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
      entry: enqueueActions(({ context, enqueue, self }) => {
        const rejected: Record<string, ToolResultBlock> = {};
        for (const call of context.pending) {
          const decision = context.decisions[call.id];
          if (decision !== undefined && !decision.approved) {
            rejected[call.id] = {
              type: "tool_result",
              toolCallId: call.id,
              content: `The user rejected this call${decision.reason ? `: ${decision.reason}` : "."}`,
              isError: true,
            };
          } else
            enqueue.spawnChild("runTool", {
              id: `tool:${call.id}`,
              input: { call, step: context.step, services: servicesOf(self) },
            });
        }
        enqueue.assign({ results: rejected });
      }),
      // after the last tool's result (or at once when every call was rejected)
      always: { guard: "allResults", target: "calling_model", actions: "finishTools" },
      on: {
        "xstate.done.actor.*": {
          actions: assign({
            results: ({ context, event }) => ({
              ...context.results,
              [event.output.toolCallId]: event.output,
            }),
          }),
        },
      },
    },
    done: { type: "final" },
    failed: { type: "final" },
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
  bound.set(actor, services);
  return actor;
}
