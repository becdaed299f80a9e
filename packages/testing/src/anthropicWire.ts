/**
 * The Anthropic Messages wire format: the `message` object, the named-event SSE stream (`message_start`,
 * `content_block_start` / `_delta` / `_stop`, `ping`, `message_delta`, `message_stop`), the in-stream `error`
 * event, and the `{type: "error", error: {type, message}}` error body.
 */

import { splitIntoChunks } from "./internal/chunks.js";
import type { NormalReply, ResolvedUsage } from "./internal/reply.js";
import { sseFrame } from "./sse.js";

/** What every object of one response shares. */
export interface AnthropicResponseContext {
  /** The `msg_01…` id. */
  readonly id: string;
  /** The model name (echoed from the request). */
  readonly model: string;
}

/**
 * Renders usage as Anthropic reports it (input, cache reads and cache writes are disjoint).
 *
 * @param usage - the resolved usage.
 * @param outputTokens - the output count to report (`message_start` reports 1 before generation).
 * @returns the `usage` object.
 */
export function anthropicUsage(
  usage: ResolvedUsage,
  outputTokens = usage.outputTokens,
): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheCreationInputTokens,
    cache_read_input_tokens: usage.cacheReadInputTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: usage.cacheCreationInputTokens,
      ephemeral_1h_input_tokens: 0,
    },
    output_tokens: outputTokens,
    service_tier: "standard",
  };
}

/** The tool input as an object when the argument text parses; a malformed text is sent as the string. */
function toolInput(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    // Scripted malformed arguments: the real API cannot send these unstreamed, so the raw text stands in.
    return args;
  }
}

/**
 * Renders a non-streamed `message`.
 *
 * @param reply - the normalised reply.
 * @param ctx - id and model.
 * @returns the response body.
 */
export function anthropicMessage(reply: NormalReply, ctx: AnthropicResponseContext): Record<string, unknown> {
  const content: unknown[] = [];
  if (reply.thinking) {
    content.push({ type: "thinking", thinking: reply.thinking.text, signature: reply.thinking.signature });
  }
  if (reply.text !== undefined) content.push({ type: "text", text: reply.text });
  for (const call of reply.toolCalls) {
    content.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call.arguments) });
  }
  return {
    id: ctx.id,
    type: "message",
    role: "assistant",
    model: ctx.model,
    content,
    stop_reason: reply.stop,
    stop_sequence: reply.stopSequence,
    usage: anthropicUsage(reply.usage),
  };
}

/**
 * Renders a streamed reply as its SSE frames, `message_stop` last.
 *
 * @param reply - the normalised reply.
 * @param ctx - id and model.
 * @param chunkSize - code points per text, thinking or `partial_json` delta.
 * @returns the frames, in order.
 */
export function anthropicStreamFrames(
  reply: NormalReply,
  ctx: AnthropicResponseContext,
  chunkSize: number,
): string[] {
  const frames: string[] = [];
  const emit = (data: { type: string } & Record<string, unknown>) => frames.push(sseFrame(data, data.type));
  emit({
    type: "message_start",
    message: {
      id: ctx.id,
      type: "message",
      role: "assistant",
      model: ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: anthropicUsage(reply.usage, 1),
    },
  });
  let index = 0;
  const block = (start: Record<string, unknown>, deltas: Record<string, unknown>[]) => {
    emit({ type: "content_block_start", index, content_block: start });
    if (index === 0) emit({ type: "ping" });
    for (const delta of deltas) emit({ type: "content_block_delta", index, delta });
    emit({ type: "content_block_stop", index });
    index += 1;
  };
  if (reply.thinking) {
    block({ type: "thinking", thinking: "", signature: "" }, [
      ...splitIntoChunks(reply.thinking.text, chunkSize).map((thinking) => ({
        type: "thinking_delta",
        thinking,
      })),
      { type: "signature_delta", signature: reply.thinking.signature },
    ]);
  }
  if (reply.text !== undefined) {
    block(
      { type: "text", text: "" },
      splitIntoChunks(reply.text, chunkSize).map((text) => ({ type: "text_delta", text })),
    );
  }
  for (const call of reply.toolCalls) {
    block({ type: "tool_use", id: call.id, name: call.name, input: {} }, [
      { type: "input_json_delta", partial_json: "" },
      ...splitIntoChunks(call.arguments, chunkSize).map((partial_json) => ({
        type: "input_json_delta",
        partial_json,
      })),
    ]);
  }
  if (index === 0) emit({ type: "ping" });
  emit({
    type: "message_delta",
    delta: { stop_reason: reply.stop, stop_sequence: reply.stopSequence },
    usage: {
      input_tokens: reply.usage.inputTokens,
      cache_creation_input_tokens: reply.usage.cacheCreationInputTokens,
      cache_read_input_tokens: reply.usage.cacheReadInputTokens,
      output_tokens: reply.usage.outputTokens,
    },
  });
  emit({ type: "message_stop" });
  return frames;
}

/**
 * Builds an Anthropic error body.
 *
 * @param type - `error.type` (e.g. `rate_limit_error`, `overloaded_error`, `invalid_request_error`).
 * @param message - `error.message`.
 * @param requestId - the top-level `request_id`, as the real API includes it.
 * @param details - `error.details` (e.g. `{ error_code: "enforced_spend_limit_reached" }`), when any.
 * @returns `{ type: "error", error: { type, message }, request_id }`.
 */
export function anthropicErrorBody(
  type: string,
  message: string,
  requestId: string,
  details?: Record<string, unknown>,
): { type: "error"; error: Record<string, unknown>; request_id: string } {
  return { type: "error", error: { type, message, ...(details ? { details } : {}) }, request_id: requestId };
}

/**
 * Frames an in-stream error event (what the real API sends when it fails mid-stream).
 *
 * @param type - `error.type`.
 * @param message - `error.message`.
 * @returns the `event: error` frame.
 */
export function anthropicErrorFrame(type: string, message: string): string {
  return sseFrame({ type: "error", error: { type, message } }, "error");
}
