/**
 * The Chat Completions stream translator: `chat.completion.chunk`s in, raw stream events out (assembly is
 * `ModelStream`'s job). It owns the block numbering (the text block, then each tool call by its wire
 * `index`), the end of the tool calls at the finish chunk, and the failures of a stream that stops early.
 */

import type { ChatCompletionChunk } from "openai/resources";
import type { RawStreamEvent } from "../../model/stream.js";
import { ProviderError } from "../ProviderError.js";
import { classifyOpenAIError } from "./openaiErrors.js";
import { fromOpenAIFinishReason, fromOpenAIUsage } from "./openaiWire.js";

/** An open tool call: its block index in the response and its id (the wire sends the id only once). */
interface OpenCall {
  readonly block: number;
  readonly id: string;
}

/**
 * Translates the SDK's chunk iterator into raw stream events, in O(1) work per delta:
 * - `message_start` (id and model) at the first chunk with a choice or usage (Azure's leading
 *   prompt-filter chunk, with neither, is skipped);
 * - `text_delta` for content and refusal deltas (one text block; a refusal makes the stop reason
 *   `refusal`); empty deltas (the role chunk's `content: ""`) open no block;
 * - `tool_call_start` at the first delta of each wire tool-call `index`, then `tool_call_delta` for its
 *   argument pieces, and `tool_call_end` for every open call when the finish reason arrives;
 * - `usage` whenever a chunk carries usage (the `include_usage` chunk after the finish chunk);
 * - `message_end` with the mapped finish reason once the stream has ended.
 *
 * Only choice 0 is read. The SDK ends its iterator quietly when the request is aborted; that, an empty
 * stream, and a stream that ends before its finish reason all become {@link ProviderError}s (`aborted`,
 * `server`, `network`), as does anything the iterator throws (via {@link classifyOpenAIError}).
 *
 * @param chunks - the SDK's stream (or any iterable of chunks), or the promise of it (the SDK's `create`
 *   call, whose rejection is classified like any other failure).
 * @param signal - the stream's signal.
 * @param provider - the provider's name, for errors; default `openai`.
 * @returns the raw events.
 */
export async function* openaiRawEvents(
  chunks: AsyncIterable<ChatCompletionChunk> | Promise<AsyncIterable<ChatCompletionChunk>>,
  signal: AbortSignal,
  provider = "openai",
): AsyncGenerator<RawStreamEvent, void, undefined> {
  let started = false;
  let nextBlock = 0;
  let textBlock = -1;
  let refusal = false;
  let finish: string | undefined;
  const calls = new Map<number, OpenCall>();
  try {
    for await (const chunk of await chunks) {
      if (signal.aborted) break;
      const choice = chunk.choices[0];
      if (!started) {
        if (choice === undefined && !chunk.usage) continue;
        started = true;
        yield { type: "message_start", id: chunk.id, model: chunk.model };
      }
      if (chunk.usage) yield { type: "usage", usage: fromOpenAIUsage(chunk.usage) };
      if (choice === undefined || choice.index !== 0) continue;
      const { delta } = choice;
      if (delta.content) {
        if (textBlock < 0) textBlock = nextBlock++;
        yield { type: "text_delta", index: textBlock, text: delta.content };
      }
      if (delta.refusal) {
        refusal = true;
        if (textBlock < 0) textBlock = nextBlock++;
        yield { type: "text_delta", index: textBlock, text: delta.refusal };
      }
      const pieces = delta.tool_calls;
      if (pieces) {
        for (const piece of pieces) {
          let call = calls.get(piece.index);
          if (call === undefined) {
            call = { block: nextBlock++, id: piece.id ?? "" };
            calls.set(piece.index, call);
            yield {
              type: "tool_call_start",
              index: call.block,
              id: call.id,
              name: piece.function?.name ?? "",
            };
          }
          const args = piece.function?.arguments;
          if (args) yield { type: "tool_call_delta", index: call.block, id: call.id, delta: args };
        }
      }
      if (choice.finish_reason) {
        finish = choice.finish_reason;
        for (const call of calls.values()) yield { type: "tool_call_end", index: call.block };
        calls.clear();
      }
    }
  } catch (error) {
    throw classifyOpenAIError(error, { provider, signal });
  }
  if (signal.aborted) {
    throw new ProviderError({
      kind: "aborted",
      provider,
      message: "the stream was aborted",
      cause: signal.reason,
    });
  }
  if (!started) {
    throw new ProviderError({
      kind: "server",
      provider,
      message: "the stream ended before any chunk (empty)",
    });
  }
  if (finish === undefined) {
    throw new ProviderError({
      kind: "network",
      provider,
      message: "the stream ended before its finish reason",
    });
  }
  yield {
    type: "message_end",
    stopReason: refusal ? "refusal" : fromOpenAIFinishReason(finish),
    rawStopReason: finish,
  };
}
