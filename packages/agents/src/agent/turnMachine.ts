/**
 * An agent's run as an XState machine:
 *
 * `idle → calling_model → (running_tools | awaiting_approval → running_tools) → calling_model …
 *  → finishing → done | failed`
 *
 * The model call is an invoked actor that first fits the context and builds the system prompt (so both
 * happen before every call, under the same abort signal), and every tool call a spawned child actor,
 * so stopping the run aborts the HTTP request and the tools, and the inspector shows where the agent is.
 * (Preparing is not a state of its own: an extra actor per step cost more than the rest of the machine.) The context holds only JSON data
 * (the conversation lives in the agent's memory), so a run paused for approval can be persisted.
 */
import { assign, enqueueActions, fromPromise, setup } from "xstate";
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

/** What the machine needs from its agent (closed over; never in the context). */
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
  readonly step: number;
  readonly iterations: number;
  readonly repairs: number;
  readonly final: boolean;
  readonly pending: readonly ToolCallBlock[];
  readonly decisions: Readonly<Record<string, Decision>>;
  readonly results: Readonly<Record<string, ToolResultBlock>>;
  readonly steps: readonly StepInfo[];
  readonly usage: Usage;
  readonly text: string;
  readonly output: unknown;
  /** The last reply parsed against the output schema. */
  readonly parsed: ParseResult<unknown> | undefined;
  readonly error: unknown;
}

/** Events the machine accepts. */
export type TurnEvent =
  | { readonly type: "RUN" }
  | { readonly type: "APPROVE"; readonly callId: string }
  | { readonly type: "REJECT"; readonly callId: string; readonly reason?: string };

/** A spawned tool actor finished (XState's done event for `tool:<call id>`). */
type ToolDone = { readonly type: `xstate.done.actor.${string}`; readonly output: ToolResultBlock };

const initialContext: TurnContext = {
  step: 0,
  iterations: 0,
  repairs: 0,
  final: false,
  pending: [],
  decisions: {},
  results: {},
  steps: [],
  usage: ZERO_USAGE,
  text: "",
  output: undefined,
  parsed: undefined,
  error: undefined,
};

function issuesOf(context: TurnContext): string {
  return (context.parsed as { issues: string }).issues;
}

/**
 * Builds the turn machine of one agent.
 *
 * @param services - the agent's model call, tools, memory and settings.
 * @returns the machine.
 */
export function createTurnMachine(services: TurnServices) {
  return setup({
    types: {} as { context: TurnContext; events: TurnEvent | ToolDone },
    actors: {
      callModel: fromPromise<ModelResponse, { step: number; final: boolean }>(({ input, signal }) =>
        services.callModel(input.step, input.final, signal),
      ),
      runTool: fromPromise<ToolResultBlock, { call: ToolCallBlock; step: number }>(({ input, signal }) =>
        services.runTool(input.call, input.step, signal),
      ),
    },
    actions: {
      refuseFinalToolCalls: assign(({ context }) => {
        // keep memory valid: every tool call needs a result, even a refused one
        services.remember({
          role: "tool",
          content: context.pending.map((c) => ({
            type: "tool_result" as const,
            toolCallId: c.id,
            content: "Tool calls are not allowed any more: give the final answer.",
            isError: true,
          })),
        });
        return { error: new MaxIterationsError(services.maxToolIterations) };
      }),
    },
    guards: {
      hasCalls: ({ context }) => context.pending.length > 0,
      awaitsApproval: ({ context }) =>
        context.pending.some((c) => services.needsApproval(c) && context.decisions[c.id] === undefined),
      allResults: ({ context }) => context.pending.every((c) => context.results[c.id] !== undefined),
    },
  }).createMachine({
    id: "agent-turn",
    context: initialContext,
    initial: "idle",
    states: {
      idle: { on: { RUN: "calling_model" } },
      calling_model: {
        invoke: {
          src: "callModel",
          input: ({ context }) => ({ step: context.step + 1, final: context.final }),
          onDone: {
            target: "deciding",
            actions: [
              ({ event }) => services.remember({ role: "assistant", content: event.output.content }),
              assign(({ context, event }) => {
                const response = event.output;
                return {
                  step: context.step + 1,
                  usage: addUsage(context.usage, response.usage),
                  pending: toolCallsOf(response),
                  decisions: {},
                  results: {},
                  text: textOf(response),
                  steps: [...context.steps, { step: context.step + 1, response, toolResults: [] }],
                };
              }),
            ],
          },
          onError: { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
        },
      },
      deciding: {
        always: [
          {
            guard: ({ context }) => context.pending.length > 0 && context.final,
            target: "failed",
            actions: "refuseFinalToolCalls",
          },
          { guard: "hasCalls", target: "approving" },
          { target: "finishing" },
        ],
      },
      approving: {
        always: [{ guard: "awaitsApproval", target: "awaiting_approval" }, { target: "running_tools" }],
      },
      awaiting_approval: {
        on: {
          APPROVE: {
            target: "approving",
            actions: assign({
              decisions: ({ context, event }) => ({
                ...context.decisions,
                [event.callId]: { approved: true },
              }),
            }),
          },
          REJECT: {
            target: "approving",
            actions: assign({
              decisions: ({ context, event }) => ({
                ...context.decisions,
                [event.callId]: {
                  approved: false,
                  ...(event.reason !== undefined && { reason: event.reason }),
                },
              }),
            }),
          },
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
            } else
              enqueue.spawnChild("runTool", { id: `tool:${call.id}`, input: { call, step: context.step } });
          }
          enqueue.assign({ results: rejected });
        }),
        always: { guard: "allResults", target: "tools_done" },
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
      tools_done: {
        entry: [
          ({ context }) =>
            services.remember({
              role: "tool",
              content: context.pending.map((c) => context.results[c.id] as ToolResultBlock),
            }),
          assign(({ context }) => {
            const results = context.pending.map((c) => context.results[c.id] as ToolResultBlock);
            const steps = [...context.steps];
            const last = steps[steps.length - 1] as StepInfo;
            steps[steps.length - 1] = { ...last, toolResults: results };
            const iterations = context.iterations + 1;
            return {
              steps,
              iterations,
              final: iterations >= services.maxToolIterations,
              pending: [],
              results: {},
              decisions: {},
            };
          }),
        ],
        always: "calling_model",
      },
      finishing: {
        // parse once; the outcome (JSON) decides the transition
        entry: assign({
          parsed: ({ context }) => parseStructuredOutput(context.text, services.outputSchema),
        }),
        always: [
          {
            guard: ({ context }) => context.parsed?.ok === true,
            target: "done",
            actions: assign({ output: ({ context }) => (context.parsed as { value: unknown }).value }),
          },
          {
            guard: ({ context }) => context.repairs < services.repairAttempts,
            target: "calling_model",
            actions: [
              ({ context }) => services.remember({ role: "user", content: repairPrompt(issuesOf(context)) }),
              assign({ repairs: ({ context }) => context.repairs + 1 }),
            ],
          },
          {
            target: "failed",
            actions: assign({
              error: ({ context }) => new StructuredOutputError(context.text, issuesOf(context)),
            }),
          },
        ],
      },
      done: { type: "final" },
      failed: { type: "final" },
    },
  });
}

/** The machine type. */
export type TurnMachine = ReturnType<typeof createTurnMachine>;
