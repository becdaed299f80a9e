/**
 * `recordingProvider`: a provider that forwards every call to a real one and records each exchange —
 * the normalized request as sent and its outcome — as one line of a JSONL recording (see `exchange.ts`
 * for the format and `sinks.ts` for how lines are written), for `replayProvider` to play back.
 *
 * An exchange is written when its outcome is known and before the call hands that outcome on: a
 * `complete` or `countTokens` call once it resolves or fails, a stream once its `message_end` arrives,
 * it fails, or its consumer stops early (recorded as kind `aborted`). A call whose signal was already
 * aborted never reaches the provider and is not recorded; a stream that is never consumed is not
 * either (nothing was sent). Exchanges are written in the order they complete, which for concurrent
 * calls need not be the order they started: replay is in order, so record sequential calls (an agent's
 * model calls are). Wrapped inside `withResilience`, every attempt is recorded; wrapped outside, only
 * the resilient call's outcome.
 */
import {
  type CallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStream,
  type Provider,
  type RawEventSource,
  type RawStreamEvent,
  type StreamEvent,
  toRawEvent,
} from "@normandy/agents";
import { RecordingWriteError } from "./errors.js";
import {
  canonicalRequest,
  RECORDING_VERSION,
  type RecordedError,
  type RecordedExchange,
  type RecordedExchangeHead,
  toJson,
} from "./exchange.js";
import { recordError } from "./recordedError.js";
import { redact } from "./redact.js";
import { fileSink, type RecordingSink } from "./sinks.js";
import { TransparentStream } from "./streams.js";

/** Where a recorder writes: a JSONL file, or a sink. */
export type RecordingTarget =
  | {
      /** The JSONL file (appended to; see `fileSink`). */
      readonly path: string;
      /** Flush each line to the disk before the call returns (default false). */
      readonly fsync?: boolean;
      /** Empty the file when the provider is created (default false). */
      readonly truncate?: boolean;
    }
  | {
      /** The sink receiving each exchange. */
      readonly sink: RecordingSink;
    };

/** Options of {@link recordingProvider}. */
export type RecordingOptions = RecordingTarget & {
  /**
   * Strings (API keys, tokens) replaced by `[REDACTED]` wherever they occur in an exchange, e.g. in an
   * error message a server echoed. Requests never hold credentials; this guards what comes back.
   * Replay with the same `redact` if a redacted string can occur in a request.
   */
  readonly redact?: readonly string[];
};

/**
 * Wraps a provider so that every exchange is recorded.
 *
 * @param provider - the real provider.
 * @param options - where to record (`path` or `sink`) and what to redact.
 * @returns a provider with the same name (and `countTokens` when the real one has it).
 * @throws RecordingWriteError from a call whose exchange could not be written (the call then fails).
 * @example
 * ```ts
 * const openai = new OpenAIProvider({ apiKey: process.env.OPENAI_API_KEY });
 * const agent = defineAgent({ name: "helper", model: "gpt-4o", tools: [calculator],
 *   provider: recordingProvider(openai, { path: "fixtures/helper.jsonl", truncate: true }) });
 * await agent.run("What is 6 × 7?");
 * // later, offline: replayProvider({ path: "fixtures/helper.jsonl" })
 * ```
 */
export function recordingProvider(provider: Provider, options: RecordingOptions): Provider {
  const sink =
    "sink" in options
      ? options.sink
      : fileSink(options.path, {
          ...(options.fsync !== undefined && { fsync: options.fsync }),
          ...(options.truncate !== undefined && { truncate: options.truncate }),
        });
  const secrets = options.redact ?? [];
  const name = provider.name;

  const write = async (exchange: RecordedExchange): Promise<void> => {
    try {
      await sink.write(redact(exchange, secrets));
    } catch (error) {
      throw new RecordingWriteError(error);
    }
  };
  const head = (request: ModelRequest): RecordedExchangeHead => ({
    version: RECORDING_VERSION,
    provider: name,
    request: canonicalRequest(request),
  });

  const complete = async (request: ModelRequest, call?: CallOptions): Promise<ModelResponse> => {
    if (call?.signal?.aborted === true) return provider.complete(request, call);
    const recorded = head(request);
    let response: ModelResponse;
    try {
      response = await provider.complete(request, call);
    } catch (error) {
      await write({ ...recorded, operation: "complete", error: recordError(error) });
      throw error;
    }
    await write({ ...recorded, operation: "complete", response: toJson(response) });
    return response;
  };

  const stream = (request: ModelRequest, call?: CallOptions): ModelStream => {
    const recorded = head(request);
    const source: RawEventSource = async function* (signal): AsyncGenerator<RawStreamEvent> {
      const recording = !signal.aborted;
      const events: StreamEvent[] = [];
      let written = false;
      const finish = async (error?: RecordedError): Promise<void> => {
        written = true;
        if (recording)
          await write({
            ...recorded,
            operation: "stream",
            events: toJson(events),
            ...(error !== undefined && { error }),
          });
      };
      try {
        for await (const event of provider.stream(request, { signal })) {
          events.push(event);
          const end = event.type === "message_end";
          if (end) await finish();
          yield toRawEvent(event);
          if (end) return;
        }
      } catch (error) {
        if (!written) await finish(recordError(error));
        throw error;
      } finally {
        // the consumer stopped before the end: the stream was cut short on its side
        if (!written)
          await finish({
            kind: "aborted",
            provider: name,
            message: "the stream was not consumed to its end",
          });
      }
    };
    return new TransparentStream(name, source, call?.signal);
  };

  const countTokens = provider.countTokens?.bind(provider);
  return {
    name,
    complete,
    stream,
    ...(countTokens !== undefined && {
      countTokens: async (request: ModelRequest, call?: CallOptions): Promise<number> => {
        if (call?.signal?.aborted === true) return countTokens(request, call);
        const recorded = head(request);
        let count: number;
        try {
          count = await countTokens(request, call);
        } catch (error) {
          await write({ ...recorded, operation: "countTokens", error: recordError(error) });
          throw error;
        }
        await write({ ...recorded, operation: "countTokens", count });
        return count;
      },
    }),
  };
}
