/**
 * Translates Anthropic's raw Messages stream (`message_start`, `content_block_*`, `message_delta`,
 * `message_stop`) into the normalized raw events that `ModelStream` assembles. Constant work per event;
 * no text is accumulated here.
 */
import type { RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages";
import type { Usage } from "../../model/messages.js";
import type { RawStreamEvent } from "../../model/stream.js";
import { ProviderError } from "../ProviderError.js";
import { classifyAnthropicError } from "./anthropicErrors.js";
import { type AnthropicUsageLike, fromAnthropicStopReason, fromAnthropicUsage } from "./anthropicWire.js";

/**
 * Turns the SDK's raw stream events into normalized raw events.
 *
 * - `message_start` → `message_start` and the usage known so far;
 * - `content_block_start` of a `tool_use` → `tool_call_start` (text and thinking blocks start with their
 *   first delta; a `redacted_thinking` block becomes an empty thinking block, see below);
 * - `text_delta` / `thinking_delta` → the same; `signature_delta` → a `thinking_delta` with empty text and
 *   the signature; `input_json_delta` → `tool_call_delta`; `content_block_stop` of a tool → `tool_call_end`;
 * - `message_delta` → cumulative `usage` (its output count merged with the input and cache counts of
 *   `message_start`) and the stop reason, reported by `message_stop` → `message_end`.
 *
 * The normalized stream has no way to carry a `redacted_thinking` block's data, so such a block keeps its
 * position as an empty thinking block and its data is lost; use `complete()` where redacted thinking
 * must be sent back.
 *
 * @param events - the SDK stream (`messages.create({..., stream: true})`).
 * @param provider - the provider name, for errors.
 * @param signal - the request's signal: when the SDK stream ends because it was aborted, the failure is
 *   reported as `aborted` instead of a truncated stream.
 * @returns the normalized raw events.
 * @throws ProviderError `aborted` when the signal aborted the stream, `network` when the stream ended
 *   before `message_stop` (an empty stream included).
 */
export async function* fromAnthropicStream(
  events: AsyncIterable<RawMessageStreamEvent> | Promise<AsyncIterable<RawMessageStreamEvent>>,
  provider: string,
  signal?: AbortSignal,
): AsyncGenerator<RawStreamEvent, void, undefined> {
  const toolIds = new Map<number, string>();
  let startUsage: AnthropicUsageLike | undefined;
  let usage: Usage | undefined;
  let stopReason: string | undefined;
  let count = 0;
  let ended = false;
  try {
    for await (const event of await events) {
      count += 1;
      // after message_stop the body is read to its end (so the connection ends cleanly), ignoring the rest
      if (ended) continue;
      switch (event.type) {
        case "message_start":
          startUsage = event.message.usage;
          usage = fromAnthropicUsage(startUsage);
          yield { type: "message_start", id: event.message.id, model: event.message.model };
          yield { type: "usage", usage };
          break;
        case "content_block_start": {
          const block = event.content_block;
          if (block.type === "tool_use") {
            toolIds.set(event.index, block.id);
            yield { type: "tool_call_start", index: event.index, id: block.id, name: block.name };
          } else if (block.type === "text") {
            if (block.text !== "") yield { type: "text_delta", index: event.index, text: block.text };
          } else if (block.type === "thinking") {
            if (block.thinking !== "")
              yield { type: "thinking_delta", index: event.index, thinking: block.thinking };
          } else if (block.type === "redacted_thinking") {
            // keeps the block's position; its opaque data has no place in the normalized stream
            yield { type: "thinking_delta", index: event.index, thinking: "" };
          }
          break;
        }
        case "content_block_delta": {
          const delta = event.delta;
          if (delta.type === "text_delta") yield { type: "text_delta", index: event.index, text: delta.text };
          else if (delta.type === "thinking_delta") {
            yield { type: "thinking_delta", index: event.index, thinking: delta.thinking };
          } else if (delta.type === "signature_delta") {
            yield { type: "thinking_delta", index: event.index, thinking: "", signature: delta.signature };
          } else if (delta.type === "input_json_delta" && delta.partial_json !== "") {
            const id = toolIds.get(event.index) ?? "";
            yield { type: "tool_call_delta", index: event.index, id, delta: delta.partial_json };
          }
          break;
        }
        case "content_block_stop":
          if (toolIds.has(event.index)) yield { type: "tool_call_end", index: event.index };
          break;
        case "message_delta": {
          stopReason = event.delta.stop_reason ?? stopReason;
          const d = event.usage;
          usage = fromAnthropicUsage({
            input_tokens: d.input_tokens ?? startUsage?.input_tokens,
            cache_read_input_tokens: d.cache_read_input_tokens ?? startUsage?.cache_read_input_tokens,
            cache_creation_input_tokens:
              d.cache_creation_input_tokens ?? startUsage?.cache_creation_input_tokens,
            output_tokens: d.output_tokens,
            output_tokens_details: d.output_tokens_details ?? startUsage?.output_tokens_details,
          });
          yield { type: "usage", usage };
          break;
        }
        case "message_stop":
          ended = true;
          yield {
            type: "message_end",
            stopReason: fromAnthropicStopReason(stopReason),
            rawStopReason: stopReason,
          };
          break;
        default:
          // ping and event types this provider does not know carry nothing for the normalized stream
          break;
      }
    }
  } catch (error) {
    throw classifyAnthropicError(error, provider, signal);
  }
  if (ended) return;
  if (signal?.aborted === true) {
    throw new ProviderError({
      kind: "aborted",
      provider,
      message: "the stream was aborted",
      cause: signal.reason,
    });
  }
  throw new ProviderError({
    kind: "network",
    provider,
    message:
      count === 0
        ? "the response stream was empty (no event)"
        : `the response stream ended before message_stop (after ${count} events)`,
  });
}
