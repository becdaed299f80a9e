/**
 * The Chat Completions stream translator: `chat.completion.chunk`s in, raw stream events out (assembly is
 * `ModelStream`'s job). It owns the block numbering (the text block, then each tool call by its wire
 * `index`), the end of the tool calls at the finish chunk, and the failures of a stream that stops early.
 */

import type { ChatCompletionChunk } from "openai/resources";
import type { RawStreamEvent, StreamTranslator } from "../../model/stream.js";
import { ProviderError } from "../ProviderError.js";
import { classifyOpenAIError } from "./openaiErrors.js";
import { fromOpenAIFinishReason, fromOpenAIUsage } from "./openaiWire.js";

/** An open tool call: its block index in the response and its id (the wire sends the id only once). */
interface OpenCall {
  readonly block: number;
  readonly id: string;
}

/**
 * Translates `chat.completion.chunk`s into raw stream events, in O(1) work per delta:
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
 * stream, and a stream without a finish reason are typed failures.
 */
export class OpenAIStreamTranslator implements StreamTranslator<ChatCompletionChunk> {
  readonly #provider: string;
  readonly #signal: AbortSignal;
  readonly #calls = new Map<number, OpenCall>();
  #started = false;
  #nextBlock = 0;
  #textBlock = -1;
  #refusal = false;
  #finish: string | undefined;

  /**
   * @param signal - the request's signal (an abort ends the stream as `aborted`).
   * @param provider - the provider's name, for errors.
   */
  constructor(signal: AbortSignal, provider = "openai") {
    this.#signal = signal;
    this.#provider = provider;
  }

  push(chunk: ChatCompletionChunk, out: RawStreamEvent[]): void {
    if (this.#signal.aborted) throw this.#aborted();
    const choice = chunk.choices[0];
    if (!this.#started) {
      if (choice === undefined && !chunk.usage) return;
      this.#started = true;
      out.push({ type: "message_start", id: chunk.id, model: chunk.model });
    }
    if (chunk.usage) out.push({ type: "usage", usage: fromOpenAIUsage(chunk.usage) });
    if (choice === undefined || choice.index !== 0) return;
    const { delta } = choice;
    if (delta.content) {
      if (this.#textBlock < 0) this.#textBlock = this.#nextBlock++;
      out.push({ type: "text_delta", index: this.#textBlock, text: delta.content });
    }
    if (delta.refusal) {
      this.#refusal = true;
      if (this.#textBlock < 0) this.#textBlock = this.#nextBlock++;
      out.push({ type: "text_delta", index: this.#textBlock, text: delta.refusal });
    }
    const pieces = delta.tool_calls;
    if (pieces) {
      for (const piece of pieces) {
        let call = this.#calls.get(piece.index);
        if (call === undefined) {
          call = { block: this.#nextBlock++, id: piece.id ?? "" };
          this.#calls.set(piece.index, call);
          out.push({
            type: "tool_call_start",
            index: call.block,
            id: call.id,
            name: piece.function?.name ?? "",
          });
        }
        const args = piece.function?.arguments;
        if (args) out.push({ type: "tool_call_delta", index: call.block, id: call.id, delta: args });
      }
    }
    if (choice.finish_reason) {
      this.#finish = choice.finish_reason;
      for (const call of this.#calls.values()) out.push({ type: "tool_call_end", index: call.block });
      this.#calls.clear();
    }
  }

  end(out: RawStreamEvent[]): void {
    if (this.#signal.aborted) throw this.#aborted();
    if (!this.#started) {
      throw new ProviderError({
        kind: "server",
        provider: this.#provider,
        message: "the stream ended before any chunk (empty)",
      });
    }
    if (this.#finish === undefined) {
      throw new ProviderError({
        kind: "network",
        provider: this.#provider,
        message: "the stream ended before its finish reason",
      });
    }
    out.push({
      type: "message_end",
      stopReason: this.#refusal ? "refusal" : fromOpenAIFinishReason(this.#finish),
      rawStopReason: this.#finish,
    });
  }

  fail(error: unknown): ProviderError {
    return classifyOpenAIError(error, { provider: this.#provider, signal: this.#signal });
  }

  #aborted(): ProviderError {
    return new ProviderError({
      kind: "aborted",
      provider: this.#provider,
      message: "the stream was aborted",
      cause: this.#signal.reason,
    });
  }
}

/**
 * The translator as an async generator over the SDK's chunk iterator (for callers that want plain raw
 * events; providers use `ModelStream.fromChunks` with the translator directly).
 *
 * @param chunks - the SDK stream (or the promise of it).
 * @param signal - the request's signal.
 * @param provider - the provider's name, for errors.
 * @returns the raw events.
 */
export async function* openaiRawEvents(
  chunks: AsyncIterable<ChatCompletionChunk> | Promise<AsyncIterable<ChatCompletionChunk>>,
  signal: AbortSignal,
  provider = "openai",
): AsyncGenerator<RawStreamEvent, void, undefined> {
  const translator = new OpenAIStreamTranslator(signal, provider);
  const out: RawStreamEvent[] = [];
  try {
    for await (const chunk of await chunks) {
      translator.push(chunk, out);
      yield* out;
      out.length = 0;
    }
    translator.end(out);
  } catch (error) {
    throw translator.fail(error);
  }
  yield* out;
}
