/**
 * The OpenAI Chat Completions wire format: the `chat.completion` object, the `chat.completion.chunk` SSE
 * stream (role first, content deltas, tool call deltas with `index`, finish chunk, usage chunk, `[DONE]`),
 * and the `{error: {message, type, param, code}}` error body.
 */

import { splitIntoChunks } from "./internal/chunks.js";
import type { NormalReply, NormalStop, ResolvedUsage } from "./internal/reply.js";
import { sseFrame } from "./sse.js";

/** What every object of one response shares. */
export interface OpenAIResponseContext {
  /** The `chatcmpl-…` id. */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  /** The model name (echoed from the request). */
  readonly model: string;
}

const finishReasons: Record<NormalStop, "stop" | "tool_calls" | "length"> = {
  end_turn: "stop",
  tool_use: "tool_calls",
  max_tokens: "length",
  stop_sequence: "stop",
};

/** The fingerprint every response reports. */
const systemFingerprint = "fp_loopback";

/**
 * Renders usage as OpenAI reports it (`prompt_tokens` includes the cached tokens).
 *
 * @param usage - the resolved usage.
 * @returns the `usage` object.
 */
export function openaiUsage(usage: ResolvedUsage): Record<string, unknown> {
  const prompt = usage.inputTokens + usage.cacheReadInputTokens + usage.cacheCreationInputTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadInputTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/**
 * Renders a non-streamed `chat.completion`.
 *
 * @param reply - the normalised reply.
 * @param ctx - id, created and model.
 * @returns the response body.
 */
export function openaiCompletion(reply: NormalReply, ctx: OpenAIResponseContext): Record<string, unknown> {
  const message: Record<string, unknown> = {
    role: "assistant",
    content: reply.text ?? null,
    refusal: null,
    annotations: [],
  };
  if (reply.toolCalls.length > 0) {
    message.tool_calls = reply.toolCalls.map((call) => ({
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  return {
    id: ctx.id,
    object: "chat.completion",
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasons[reply.stop] }],
    usage: openaiUsage(reply.usage),
    service_tier: "default",
    system_fingerprint: systemFingerprint,
  };
}

/** Options of {@link openaiStreamFrames}. */
export interface OpenAIStreamOptions {
  /** Code points per content or argument delta. */
  readonly chunkSize: number;
  /** `stream_options.include_usage`: every chunk carries `usage: null`, then a usage chunk with no choices. */
  readonly includeUsage: boolean;
}

/**
 * Renders a streamed reply as its SSE frames, `data: [DONE]` last.
 *
 * @param reply - the normalised reply.
 * @param ctx - id, created and model.
 * @param options - chunk size and include_usage.
 * @returns the frames, in order.
 */
export function openaiStreamFrames(
  reply: NormalReply,
  ctx: OpenAIResponseContext,
  options: OpenAIStreamOptions,
): string[] {
  const chunk = (choices: unknown[], usage: unknown = null) =>
    sseFrame({
      id: ctx.id,
      object: "chat.completion.chunk",
      created: ctx.created,
      model: ctx.model,
      service_tier: "default",
      system_fingerprint: systemFingerprint,
      choices,
      ...(options.includeUsage ? { usage } : {}),
    });
  const delta = (d: Record<string, unknown>, finishReason: string | null = null) =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finishReason }]);

  const frames = [delta({ role: "assistant", content: reply.text === undefined ? null : "", refusal: null })];
  for (const piece of splitIntoChunks(reply.text ?? "", options.chunkSize))
    frames.push(delta({ content: piece }));
  reply.toolCalls.forEach((call, index) => {
    frames.push(
      delta({
        tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }],
      }),
    );
    for (const piece of splitIntoChunks(call.arguments, options.chunkSize)) {
      frames.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  frames.push(delta({}, finishReasons[reply.stop]));
  if (options.includeUsage) frames.push(chunk([], openaiUsage(reply.usage)));
  frames.push(sseFrame("[DONE]"));
  return frames;
}

/**
 * Builds an OpenAI error body.
 *
 * @param message - `error.message`.
 * @param type - `error.type` (e.g. `invalid_request_error`, `server_error`, `insufficient_quota`).
 * @param code - `error.code`, or `null`.
 * @param param - `error.param`, or `null`.
 * @returns `{ error: { message, type, param, code } }`.
 */
export function openaiErrorBody(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}
