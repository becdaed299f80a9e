/**
 * An agent's runs as an XState machine:
 *
 * `idle → calling_model → (running_tools | awaiting_approval → running_tools) → calling_model …
 *  → done | failed`; `RUN` from `done` or `failed` starts the next run.
 *
 * An agent keeps one turn actor for its life (an actor and its system per run cost about as much as
 * the run's transitions); an aborted run stops it and the next run gets a new one. The actor invokes
 * one `calls` actor that makes the model and tool calls: entering `calling_model` sends it `CALL_MODEL`
 * (it fits the context, builds the system prompt and calls the model), entering `running_tools` sends
 * one `RUN_TOOL` per call (they run in parallel), and it answers `MODEL_DONE`, `TOOL_DONE` or
 * `CALL_ERROR`. Stopping the actor aborts the HTTP request and the tools in flight, and the inspector
 * shows the turn's state and every request and answer as events. (An XState actor per call cost ~40%
 * more per run, for no behaviour this lacks.) There are no transient states (an eventless microstep
 * costs as much as a state change): the reply's outcome — tools, approval, an answer, a repair — is
 * decided on `MODEL_DONE`. The context holds only JSON (the conversation lives in the agent's memory),
 * so a run paused for approval can be persisted.
 */
import { type AnyActorRef, assign, createActor, enqueueActions, fromCallback, sendTo, setup } from "xstate";
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

/** What the calls actor reports back. */
type CallEvent =
  | { readonly type: "MODEL_DONE"; readonly output: ModelOutcome }
  /** A model call failed, or a tool call threw where it should not (an event callback). */
  | { readonly type: "CALL_ERROR"; readonly error: unknown }
  | { readonly type: "TOOL_DONE"; readonly output: ToolResultBlock };

/** What the machine asks of the calls actor. */
type CallRequest =
  /** `first`: the run's first call (a new run gets a new abort signal). */
  | { readonly type: "CALL_MODEL"; readonly step: number; readonly final: boolean; readonly first: boolean }
  | { readonly type: "RUN_TOOL"; readonly call: ToolCallBlock; readonly step: number }
  /** Abandons the calls in flight (a run failed while others were running). */
  | { readonly type: "CANCEL" };

/** What the model-call actor hands back: the reply, and when it has no tool calls, its parse. */
interface ModelOutcome {
  readonly response: ModelResponse;
  readonly calls: readonly ToolCallBlock[];
  /** Ids of the calls that need approval. */
  readonly approvals: readonly string[];
  readonly parsed: ParseResult<unknown> | undefined;
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
// memory): each turn's services are bound to its actor system, which the turn and its calls actor share.
const bound = new WeakMap<object, TurnServices>();

function servicesOf(self: AnyActorRef): TurnServices {
  return bound.get(self.system) as TurnServices;
}

/** Whether a call other than `except` still waits for a decision. */
function undecided(context: TurnContext, approvals: readonly string[], except?: string): boolean {
  return approvals.some((id) => id !== except && context.decisions[id] === undefined);
}

/** The turn machine, shared by all agents; start it with {@link createTurnActor}. */
export const turnMachine = setup({
  types: {} as { context: TurnContext; events: TurnEvent | CallEvent; input: TurnInput },
  actors: {
    // Runs each request and sends the outcome back; `CANCEL` abandons what is in flight (a failed
    // run), stopping aborts everything.
    calls: fromCallback<CallRequest>(({ self, sendBack, receive }) => {
      const services = servicesOf(self);
      // a controller per run, not one for the actor's life: the SDK never removes the listener it adds
      // to a call's signal, so a signal shared run after run would collect listeners forever
      let controller = new AbortController();
      receive((request) => {
        if (request.type === "CANCEL") {
          controller.abort(new Error("the agent run failed"));
          controller = new AbortController();
          return;
        }
        if (request.type === "CALL_MODEL" && request.first) controller = new AbortController();
        const signal = controller.signal;
        if (request.type === "CALL_MODEL") {
          services.callModel(request.step, request.final, signal).then(
            (response) => {
              const calls = toolCallsOf(response);
              const approvals = calls.filter((c) => services.needsApproval(c)).map((c) => c.id);
              // parsed here, once: the guards then decide between done, repair and failure
              const parsed =
                calls.length === 0
                  ? parseStructuredOutput(textOf(response), services.outputSchema)
                  : undefined;
              sendBack({ type: "MODEL_DONE", output: { response, calls, approvals, parsed } });
            },
            (error: unknown) => sendBack({ type: "CALL_ERROR", error }),
          );
        } else {
          services.runTool(request.call, request.step, signal).then(
            (output) => sendBack({ type: "TOOL_DONE", output }),
            (error: unknown) => sendBack({ type: "CALL_ERROR", error }),
          );
        }
      });
      return () => controller.abort(new Error("the agent run was stopped"));
    }),
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
    /** A new run on a used actor: everything but the limits starts over. */
    reset: assign(({ context }) => ({
      ...initialContext,
      maxToolIterations: context.maxToolIterations,
      repairAttempts: context.repairAttempts,
    })),
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
  invoke: { id: "calls", src: "calls" },
  on: { CALL_ERROR: { target: ".failed", actions: assign({ error: ({ event }) => event.error }) } },
  initial: "idle",
  states: {
    idle: { on: { RUN: "calling_model" } },
    calling_model: {
      entry: sendTo("calls", ({ context }) => ({
        type: "CALL_MODEL" as const,
        step: context.step + 1,
        final: context.final,
        first: context.step === 0,
      })),
      on: {
        MODEL_DONE: [
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
      entry: enqueueActions(({ context, enqueue }) => {
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
          } else enqueue.sendTo("calls", { type: "RUN_TOOL" as const, call, step: context.step });
        }
        enqueue.assign({ results: rejected });
      }),
      // after the last tool's result (or at once when every call was rejected)
      always: { guard: "allResults", target: "calling_model", actions: "finishTools" },
      on: {
        TOOL_DONE: {
          actions: assign({
            results: ({ context, event }) => ({
              ...context.results,
              [event.output.toolCallId]: event.output,
            }),
          }),
        },
      },
    },
    // not final: the actor lives as long as its agent, and the next RUN starts from here
    done: { on: { RUN: { target: "calling_model", actions: "reset" } } },
    failed: {
      entry: sendTo("calls", { type: "CANCEL" as const }),
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
  bound.set(actor.system, services);
  return actor;
}
