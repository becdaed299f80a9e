/**
 * The normalized stream: one event type for every provider, and `ModelStream`, which is both an async
 * iterable of events and a promise of the assembled response. Providers yield raw events; assembly
 * happens once, here, in linear time (chunks are joined once at the end), so no provider can get it
 * quadratically wrong.
 */

import { ProviderError } from "../providers/ProviderError.js";
import {
  type ContentBlock,
  type ModelResponse,
  parseToolArguments,
  type StopReason,
  type ToolCallBlock,
  type Usage,
  ZERO_USAGE,
} from "./messages.js";

/**
 * An event of a normalized stream. `index` is the position of the content block in the final
 * response's `content`.
 */
export type StreamEvent =
  | { readonly type: "message_start"; readonly id: string; readonly model: string }
  | { readonly type: "text_delta"; readonly index: number; readonly text: string }
  | {
      readonly type: "thinking_delta";
      readonly index: number;
      readonly thinking: string;
      readonly signature?: string;
    }
  | { readonly type: "tool_call_start"; readonly index: number; readonly id: string; readonly name: string }
  | { readonly type: "tool_call_delta"; readonly index: number; readonly id: string; readonly delta: string }
  | { readonly type: "tool_call_end"; readonly index: number; readonly call: ToolCallBlock }
  | { readonly type: "usage"; readonly usage: Usage }
  | { readonly type: "message_end"; readonly response: ModelResponse };

/**
 * What a provider's stream yields: the same events, except that the provider only ends the message
 * with its stop reason and a `tool_call_end` only names the call (the assembler builds the response and
 * the parsed arguments). `usage` events carry the usage known so far (cumulative).
 */
export type RawStreamEvent =
  | Exclude<StreamEvent, { type: "message_end" } | { type: "tool_call_end" }>
  | { readonly type: "tool_call_end"; readonly index: number }
  | {
      readonly type: "message_end";
      readonly stopReason: StopReason;
      readonly rawStopReason: string | undefined;
    };

/**
 * The raw event a public stream event was assembled from, to feed a stream's events into another
 * assembler (a restarted attempt, a replay). Block indexes are shifted by `offset`.
 *
 * @param event - a public stream event.
 * @param offset - added to block indexes (default 0).
 * @returns the raw event that reproduces it.
 */
export function toRawEvent(event: StreamEvent, offset = 0): RawStreamEvent {
  switch (event.type) {
    case "message_start":
    case "usage":
      return event;
    case "tool_call_end":
      return { type: "tool_call_end", index: event.index + offset };
    case "message_end":
      return {
        type: "message_end",
        stopReason: event.response.stopReason,
        rawStopReason: event.response.rawStopReason,
      };
    default:
      return offset === 0 ? event : { ...event, index: event.index + offset };
  }
}

interface OpenBlock {
  kind: "text" | "thinking" | "tool_call";
  chunks: string[];
  signature: string | undefined;
  id: string;
  name: string;
  done: ToolCallBlock | undefined;
}

/** Builds a {@link ModelResponse} from raw events, in time linear in the stream's length. */
export class ResponseAssembler {
  #id = "";
  #model = "";
  #usage: Usage = ZERO_USAGE;
  readonly #blocks: OpenBlock[] = [];

  /**
   * Takes one raw event and returns the public event to hand on.
   *
   * @param event - a raw event.
   * @returns the public event (for `tool_call_end`, with the parsed call; for `message_end`, the response).
   */
  push(event: RawStreamEvent): StreamEvent {
    switch (event.type) {
      case "message_start":
        this.#id = event.id;
        this.#model = event.model;
        return event;
      case "text_delta":
        this.#block(event.index, "text").chunks.push(event.text);
        return event;
      case "thinking_delta": {
        const block = this.#block(event.index, "thinking");
        block.chunks.push(event.thinking);
        if (event.signature !== undefined) block.signature = event.signature;
        return event;
      }
      case "tool_call_start": {
        const block = this.#block(event.index, "tool_call");
        block.id = event.id;
        block.name = event.name;
        return event;
      }
      case "tool_call_delta":
        this.#block(event.index, "tool_call").chunks.push(event.delta);
        return event;
      case "tool_call_end": {
        const block = this.#block(event.index, "tool_call");
        block.done = toolCall(block);
        return { type: "tool_call_end", index: event.index, call: block.done };
      }
      case "usage":
        this.#usage = event.usage;
        return event;
      case "message_end":
        return { type: "message_end", response: this.build(event.stopReason, event.rawStopReason) };
    }
  }

  /**
   * The response assembled so far (for a stream that failed: its partial output).
   *
   * @param stopReason - the stop reason to report.
   * @param rawStopReason - the provider's own stop reason.
   * @returns the response.
   */
  build(stopReason: StopReason = "other", rawStopReason: string | undefined = undefined): ModelResponse {
    const content: ContentBlock[] = [];
    for (const block of this.#blocks) {
      if (block === undefined) continue;
      if (block.kind === "text") content.push({ type: "text", text: block.chunks.join("") });
      else if (block.kind === "thinking") {
        content.push({
          type: "thinking",
          thinking: block.chunks.join(""),
          ...(block.signature !== undefined && { signature: block.signature }),
        });
      } else
        content.push(block.done ?? toolCall(block, "the stream ended before the tool call was complete"));
    }
    return { id: this.#id, model: this.#model, content, stopReason, rawStopReason, usage: this.#usage };
  }

  #block(index: number, kind: OpenBlock["kind"]): OpenBlock {
    let block = this.#blocks[index];
    if (block === undefined) {
      block = { kind, chunks: [], signature: undefined, id: "", name: "", done: undefined };
      this.#blocks[index] = block;
    }
    return block;
  }
}

function toolCall(block: OpenBlock, incomplete?: string): ToolCallBlock {
  const rawArguments = block.chunks.join("");
  const parsed =
    incomplete === undefined ? parseToolArguments(rawArguments) : { arguments: undefined, error: incomplete };
  return {
    type: "tool_call",
    id: block.id,
    name: block.name,
    arguments: parsed.arguments,
    rawArguments,
    ...(parsed.error !== undefined && { argumentsError: parsed.error }),
  };
}

/**
 * Translates a provider's SDK stream items into raw events, synchronously. Providers hand one to
 * {@link ModelStream.fromChunks}, so each SDK item crosses a single async layer on its way to the
 * consumer (measured: each extra async generator costs ~0.5 µs per event).
 */
export interface StreamTranslator<C> {
  /** Translates one SDK item, appending its raw events to `out` (may throw a ProviderError). */
  push(item: C, out: RawStreamEvent[]): void;
  /** The SDK stream ended: append the last events, or throw a ProviderError for a truncated stream. */
  end(out: RawStreamEvent[]): void;
  /** Classifies an error thrown while reading the SDK stream (a ProviderError passes through). */
  fail(error: unknown): ProviderError;
}

/** Pulls raw events; a step is synchronous when events are already buffered. */
interface Pull {
  next(): IteratorResult<RawStreamEvent> | Promise<IteratorResult<RawStreamEvent>>;
  close(): Promise<void>;
}

/** A placeholder source, replaced by `fromChunks` before anything pulls. */
async function* noEvents(): AsyncGenerator<RawStreamEvent> {}

function pullEvents(events: AsyncIterable<RawStreamEvent>): Pull {
  const iterator = events[Symbol.asyncIterator]();
  return {
    next: () => iterator.next(),
    close: async () => void (await iterator.return?.()),
  };
}

function pullChunks<C>(
  open: Promise<AsyncIterable<C>> | AsyncIterable<C>,
  translator: StreamTranslator<C>,
): Pull {
  const buffer: RawStreamEvent[] = [];
  let read = 0;
  let finished = false;
  let iterator: AsyncIterator<C> | undefined;
  const refill = async (): Promise<IteratorResult<RawStreamEvent>> => {
    try {
      iterator ??= (await open)[Symbol.asyncIterator]();
      for (;;) {
        buffer.length = 0;
        read = 0;
        const step = await iterator.next();
        if (step.done) {
          finished = true;
          translator.end(buffer);
        } else translator.push(step.value, buffer);
        if (buffer.length > 0) return { done: false, value: buffer[read++] as RawStreamEvent };
        if (finished) return { done: true, value: undefined };
      }
    } catch (error) {
      finished = true;
      throw translator.fail(error);
    }
  };
  return {
    next: () => {
      if (read < buffer.length) return { done: false, value: buffer[read++] as RawStreamEvent };
      return finished ? { done: true, value: undefined } : refill();
    },
    close: async () => void (await iterator?.return?.()),
  };
}

/** Produces a provider's raw events; it must stop (and its HTTP request close) when `signal` aborts. */
export type RawEventSource = (signal: AbortSignal) => AsyncIterable<RawStreamEvent>;

/**
 * A model stream: iterate it for events, or await {@link ModelStream.final} for the response (or both).
 * A failure surfaces as a {@link ProviderError} whose `partial` holds what arrived before it.
 *
 * @example
 * ```ts
 * const stream = provider.stream(request);
 * for await (const event of stream) if (event.type === "text_delta") process.stdout.write(event.text);
 * const response = await stream.final();
 * ```
 */
export class ModelStream implements AsyncIterable<StreamEvent> {
  #open: (signal: AbortSignal) => Pull;
  readonly #provider: string;
  readonly #controller = new AbortController();
  readonly #assembler = new ResponseAssembler();
  #iterating = false;
  #outcome: { readonly response: ModelResponse } | { readonly error: ProviderError } | undefined;
  readonly #waiters: { resolve: (r: ModelResponse) => void; reject: (e: ProviderError) => void }[] = [];

  /**
   * @param provider - the provider's name (for errors).
   * @param source - the raw event source.
   * @param signal - aborts the stream (and its HTTP request).
   */
  constructor(provider: string, source: RawEventSource, signal?: AbortSignal) {
    this.#provider = provider;
    this.#open = (s) => pullEvents(source(s));
    if (signal !== undefined) {
      if (signal.aborted) this.#controller.abort(signal.reason);
      else signal.addEventListener("abort", () => this.#controller.abort(signal.reason), { once: true });
    }
  }

  /**
   * A stream over a provider's SDK stream, translated item by item.
   *
   * @param provider - the provider's name (for errors).
   * @param open - sends the request; resolves with the SDK's stream (it must close when `signal` aborts).
   * @param translator - makes the translator for one stream (it gets the stream's signal).
   * @param signal - aborts the stream (and its HTTP request).
   * @returns the stream (nothing is sent until it is consumed).
   */
  static fromChunks<C>(
    provider: string,
    open: (signal: AbortSignal) => Promise<AsyncIterable<C>> | AsyncIterable<C>,
    translator: (signal: AbortSignal) => StreamTranslator<C>,
    signal?: AbortSignal,
  ): ModelStream {
    const stream = new ModelStream(provider, noEvents, signal);
    stream.#open = (s) => pullChunks(open(s), translator(s));
    return stream;
  }

  /** Aborts the stream and its HTTP request. */
  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  /**
   * The assembled response, once the stream has ended (it consumes the stream if nobody iterates it).
   *
   * @returns the response.
   * @throws ProviderError with `partial` on failure.
   */
  final(): Promise<ModelResponse> {
    const outcome = this.#outcome;
    if (outcome !== undefined)
      return "response" in outcome ? Promise.resolve(outcome.response) : Promise.reject(outcome.error);
    const promise = new Promise<ModelResponse>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (!this.#iterating) void this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    try {
      for await (const _ of this) {
        // consumed for final()
      }
    } catch {
      // the failure was recorded in #outcome and handed to every waiter by the iterator
    }
  }

  // A hand-written iterator rather than an async generator: one promise per event instead of the
  // generator's queue and extra hops, which measured as ~15% of a loopback stream's time.
  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.#iterating) {
      const refusal = new Error("a ModelStream can be iterated only once");
      return { next: () => Promise.reject(refusal) };
    }
    this.#iterating = true;
    let source: Pull | undefined;
    let ended = false;
    let closed = false;
    const fail = (error: unknown): never => {
      closed = true;
      const failure = this.#classify(error).withPartial(this.#assembler.build());
      this.#settle({ error: failure });
      throw failure;
    };
    return {
      next: async (): Promise<IteratorResult<StreamEvent>> => {
        if (closed) return { done: true, value: undefined };
        let step: IteratorResult<RawStreamEvent>;
        try {
          source ??= this.#open(this.#controller.signal);
          const pulled = source.next();
          step = pulled instanceof Promise ? await pulled : pulled;
        } catch (error) {
          return fail(error);
        }
        if (step.done) {
          if (!ended)
            fail(
              new ProviderError({
                kind: "network",
                provider: this.#provider,
                message: "the stream ended without a message end",
              }),
            );
          closed = true;
          return { done: true, value: undefined };
        }
        const event = this.#assembler.push(step.value);
        if (event.type === "message_end") {
          ended = true;
          this.#settle({ response: event.response });
        }
        return { done: false, value: event };
      },
      return: async (): Promise<IteratorResult<StreamEvent>> => {
        // the consumer stopped early: abort the request
        if (!closed && this.#outcome === undefined) {
          this.#controller.abort(new Error("stream consumer stopped early"));
          this.#settle({
            error: new ProviderError({
              kind: "aborted",
              provider: this.#provider,
              message: "the stream was not consumed to its end",
              partial: this.#assembler.build(),
            }),
          });
        }
        closed = true;
        await source?.close();
        return { done: true, value: undefined };
      },
    };
  }

  #classify(error: unknown): ProviderError {
    if (error instanceof ProviderError) return error;
    if (this.#controller.signal.aborted)
      return new ProviderError({
        kind: "aborted",
        provider: this.#provider,
        message: "the stream was aborted",
        cause: error,
      });
    return new ProviderError({
      kind: "network",
      provider: this.#provider,
      message: `the stream failed: ${String((error as Error)?.message ?? error)}`,
      cause: error,
    });
  }

  #settle(outcome: { readonly response: ModelResponse } | { readonly error: ProviderError }): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    for (const w of this.#waiters.splice(0)) {
      if ("response" in outcome) w.resolve(outcome.response);
      else w.reject(outcome.error);
    }
  }
}
