/**
 * What an agent run reports: its streamed events, its result, and its typed failures.
 */
import type { ModelResponse, StopReason, ToolCallBlock, ToolResultBlock, Usage } from "../model/messages.js";

/** An event of a streamed run, in order. */
export type AgentEvent =
  | { readonly type: "step_start"; readonly step: number }
  | { readonly type: "text_delta"; readonly step: number; readonly text: string }
  | { readonly type: "thinking_delta"; readonly step: number; readonly thinking: string }
  | { readonly type: "tool_call_start"; readonly step: number; readonly id: string; readonly name: string }
  | {
      readonly type: "tool_call_arguments";
      readonly step: number;
      readonly id: string;
      readonly delta: string;
    }
  | { readonly type: "tool_call"; readonly step: number; readonly call: ToolCallBlock }
  | { readonly type: "awaiting_approval"; readonly step: number; readonly calls: readonly ToolCallBlock[] }
  | { readonly type: "tool_result"; readonly step: number; readonly result: ToolResultBlock }
  | {
      readonly type: "step_finish";
      readonly step: number;
      readonly stopReason: StopReason;
      readonly usage: Usage;
    }
  | { readonly type: "usage"; readonly usage: Usage; readonly costUsd: number | undefined }
  | { readonly type: "done"; readonly result: AgentResult<unknown> };

/** One model call of a run. */
export interface StepInfo {
  readonly step: number;
  readonly response: ModelResponse;
  readonly toolResults: readonly ToolResultBlock[];
}

/** What a run produced. */
export interface AgentResult<O> {
  /** The output, validated against the output schema. */
  readonly output: O;
  /** The final text of the model. */
  readonly text: string;
  /** Every model call of the run. */
  readonly steps: readonly StepInfo[];
  /** Tokens used by the run (all steps). */
  readonly usage: Usage;
  /** Dollars, from the model catalog (undefined for an unknown model). */
  readonly costUsd: number | undefined;
  /** How many messages the run added to memory. */
  readonly newMessages: number;
}

/** The tool loop hit `maxToolIterations` and the final call still asked for tools. */
export class MaxIterationsError extends Error {
  readonly iterations: number;

  /** @param iterations - the limit reached. */
  constructor(iterations: number) {
    super(`the agent reached its limit of ${iterations} tool iterations without a final answer`);
    this.name = "MaxIterationsError";
    this.iterations = iterations;
  }
}

/** A run was asked to continue or approve while the agent was in another state. */
export class AgentStateError extends Error {
  /** @param message - what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "AgentStateError";
  }
}
