/**
 * Translates Anthropic's raw Messages stream (`message_start`, `content_block_*`, `message_delta`,
 * `message_stop`) into the normalized raw events that `ModelStream` assembles. Constant work per event;
 * no text is accumulated here.
 */
import type { RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages";
import type { RawStreamEvent, StreamTranslator } from "../../model/stream.js";
import { ProviderError } from "../ProviderError.js";
import { classifyAnthropicError } from "./anthropicErrors.js";
import { type AnthropicUsageLike, fromAnthropicStopReason, fromAnthropicUsage } from "./anthropicWire.js";

/**
 * Translates the Messages API's raw stream events into raw stream events (O(1) work per event): text,
 * thinking (+ signature), tool_use with input_json deltas, cumulative usage (message_start's input and
 * cache counts merged into each message_delta), and the stop reason at message_stop. A `redacted_thinking`
 * block keeps its position as an empty thinking block (the stream contract has no field for its data;
 * `complete()` keeps it). A stream that ends before `message_stop` is `network` (or `aborted` when its
 * signal was aborted); an in-stream error event is classified by its type.
 */
export class AnthropicStreamTranslator implements StreamTranslator<RawMessageStreamEvent> {
  readonly #provider: string;
  readonly #signal: AbortSignal | undefined;
  readonly #toolIds = new Map<number, string>();
  #startUsage: AnthropicUsageLike | undefined;
  #stopReason: string | undefined;
  #count = 0;
  #ended = false;

  /**
   * @param provider - the provider's name, for errors.
   * @param signal - the request's signal.
   */
  constructor(provider: string, signal?: AbortSignal) {
    this.#provider = provider;
    this.#signal = signal;
  }

  push(event: RawMessageStreamEvent, out: RawStreamEvent[]): void {
    this.#count += 1;
    if (this.#ended) return;
    switch (event.type) {
      case "message_start":
        this.#startUsage = event.message.usage;
        out.push({ type: "message_start", id: event.message.id, model: event.message.model });
        out.push({ type: "usage", usage: fromAnthropicUsage(this.#startUsage) });
        return;
      case "content_block_start": {
        const block = event.content_block;
        if (block.type === "tool_use") {
          this.#toolIds.set(event.index, block.id);
          out.push({ type: "tool_call_start", index: event.index, id: block.id, name: block.name });
        } else if (block.type === "text") {
          if (block.text !== "") out.push({ type: "text_delta", index: event.index, text: block.text });
        } else if (block.type === "thinking") {
          if (block.thinking !== "")
            out.push({ type: "thinking_delta", index: event.index, thinking: block.thinking });
        } else if (block.type === "redacted_thinking") {
          out.push({ type: "thinking_delta", index: event.index, thinking: "" });
        }
        return;
      }
      case "content_block_delta": {
        const delta = event.delta;
        if (delta.type === "text_delta")
          out.push({ type: "text_delta", index: event.index, text: delta.text });
        else if (delta.type === "thinking_delta")
          out.push({ type: "thinking_delta", index: event.index, thinking: delta.thinking });
        else if (delta.type === "signature_delta") {
          out.push({ type: "thinking_delta", index: event.index, thinking: "", signature: delta.signature });
        } else if (delta.type === "input_json_delta" && delta.partial_json !== "") {
          out.push({
            type: "tool_call_delta",
            index: event.index,
            id: this.#toolIds.get(event.index) ?? "",
            delta: delta.partial_json,
          });
        }
        return;
      }
      case "content_block_stop":
        if (this.#toolIds.has(event.index)) out.push({ type: "tool_call_end", index: event.index });
        return;
      case "message_delta": {
        this.#stopReason = event.delta.stop_reason ?? this.#stopReason;
        const d = event.usage;
        const start = this.#startUsage;
        out.push({
          type: "usage",
          usage: fromAnthropicUsage({
            input_tokens: d.input_tokens ?? start?.input_tokens,
            cache_read_input_tokens: d.cache_read_input_tokens ?? start?.cache_read_input_tokens,
            cache_creation_input_tokens: d.cache_creation_input_tokens ?? start?.cache_creation_input_tokens,
            output_tokens: d.output_tokens,
            output_tokens_details: d.output_tokens_details ?? start?.output_tokens_details,
          }),
        });
        return;
      }
      case "message_stop":
        this.#ended = true;
        out.push({
          type: "message_end",
          stopReason: fromAnthropicStopReason(this.#stopReason),
          rawStopReason: this.#stopReason,
        });
        return;
      default:
        // ping and event types this provider does not know carry nothing for the normalized stream
        return;
    }
  }

  end(_out: RawStreamEvent[]): void {
    if (this.#ended) return;
    if (this.#signal?.aborted === true) {
      throw new ProviderError({
        kind: "aborted",
        provider: this.#provider,
        message: "the stream was aborted",
        cause: this.#signal.reason,
      });
    }
    throw new ProviderError({
      kind: "network",
      provider: this.#provider,
      message:
        this.#count === 0
          ? "the response stream was empty (no event)"
          : `the response stream ended before message_stop (after ${this.#count} events)`,
    });
  }

  fail(error: unknown): ProviderError {
    return classifyAnthropicError(error, this.#provider, this.#signal);
  }
}

/**
 * The translator as an async generator over the SDK's event stream (providers use
 * `ModelStream.fromChunks` with the translator directly).
 *
 * @param events - the SDK stream (`messages.create({..., stream: true})`), or the promise of it.
 * @param provider - the provider name, for errors.
 * @param signal - the request's signal.
 * @returns the normalized raw events.
 * @throws ProviderError `aborted`, `network` (a truncated stream), or the classified SDK failure.
 */
export async function* fromAnthropicStream(
  events: AsyncIterable<RawMessageStreamEvent> | Promise<AsyncIterable<RawMessageStreamEvent>>,
  provider: string,
  signal?: AbortSignal,
): AsyncGenerator<RawStreamEvent, void, undefined> {
  const translator = new AnthropicStreamTranslator(provider, signal);
  const out: RawStreamEvent[] = [];
  try {
    for await (const event of await events) {
      translator.push(event, out);
      yield* out;
      out.length = 0;
    }
    translator.end(out);
  } catch (error) {
    throw translator.fail(error);
  }
}
