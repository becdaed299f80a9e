/**
 * `replayProvider`: a provider that answers from a recording, in order, with no network. Each request
 * is compared with the recorded one (see `compare.ts`: canonical JSON, nothing ignored unless named);
 * the first that differs fails with a {@link ReplayMismatchError} (the exchange, the field path,
 * expected vs actual) and one past the end with a {@link ReplayExhaustedError}. A recorded failure is
 * rethrown as an equivalent error; a recorded stream is re-streamed event by event, so its events and
 * its `final()` response are the recorded ones.
 *
 * The position advances only on a match, so a mismatch can be retried with the right request. An
 * aborted signal fails the call with a ProviderError of kind `aborted` without using an exchange (as the
 * recorder does not record a call aborted before it starts); a stream stops at the next event once its
 * signal aborts. Exchanges are used when a stream is first read, as a real stream sends its request then.
 * `countTokens` is always offered (answered from a recorded `countTokens` exchange, else a mismatch).
 */
import {
  type CallOptions,
  type ContentBlock,
  type ModelRequest,
  type ModelResponse,
  type ModelStream,
  type Provider,
  ProviderError,
  type RawEventSource,
  type RawStreamEvent,
  toRawEvent,
} from "@normandy/agents";
import { compileIgnore, firstDifference } from "./compare.js";
import { ReplayExhaustedError, ReplayMismatchError } from "./errors.js";
import {
  canonicalRequest,
  type RecordedCompletion,
  type RecordedCount,
  type RecordedExchange,
  type RecordedFailure,
  type RecordedStream,
  type ReplayOperation,
  readRecording,
  toJson,
  validateExchange,
} from "./exchange.js";
import { replayedError } from "./recordedError.js";
import { redact } from "./redact.js";
import { TransparentStream } from "./streams.js";

/** Where a replay reads its exchanges: a JSONL file, or exchanges already in memory. */
export type ReplaySource =
  | {
      /** The JSONL recording (read once, when the provider is created). */
      readonly path: string;
    }
  | {
      /** The exchanges, in order (e.g. a `memorySink`'s). */
      readonly exchanges: readonly RecordedExchange[];
    };

/** Options of {@link replayProvider}. */
export type ReplayOptions = ReplaySource & {
  /** The provider's name (default: the first exchange's provider, else `replay`). */
  readonly name?: string;
  /**
   * Request fields left out of the comparison, as paths: `temperature`, `extras.*`,
   * `messages[0].content` (the system prompt), `messages[*].content` (`*` is any key or item).
   * Default none: every field must match.
   */
  readonly ignore?: readonly string[];
  /**
   * Maps both the recorded and the actual request (canonical JSON copies) before they are compared, for
   * volatility inside a field (e.g. a date in a prompt: replace it with a placeholder).
   */
  readonly normalize?: (request: ModelRequest) => ModelRequest;
  /** The strings the recording redacted: redacted in the actual request too before comparing. */
  readonly redact?: readonly string[];
};

/** A provider answering from a recording. */
export interface ReplayProvider extends Provider {
  /** Answers a token count from the recording. */
  countTokens(request: ModelRequest, options?: CallOptions): Promise<number>;
  /** How many exchanges have been replayed. */
  readonly used: number;
  /** How many recorded exchanges are left (0 once a run has replayed the whole recording). */
  readonly remaining: number;
}

/**
 * Creates a provider that replays a recording.
 *
 * @param options - the recording (`path` or `exchanges`), and how requests are compared.
 * @returns the replaying provider.
 * @throws RecordingFormatError when the recording is not valid (at creation).
 * @example
 * ```ts
 * const provider = replayProvider({ path: "fixtures/helper.jsonl" });
 * const agent = defineAgent({ name: "helper", model: "gpt-4o", tools: [calculator], provider });
 * const result = await agent.run("What is 6 × 7?"); // no network; ReplayMismatchError if the prompt changed
 * expect(provider.remaining).toBe(0);
 * ```
 */
export function replayProvider(options: ReplayOptions): ReplayProvider {
  const exchanges =
    "path" in options
      ? readRecording(options.path)
      : options.exchanges.map((e, i) => validateExchange(e, i + 1));
  const name = options.name ?? exchanges[0]?.provider ?? "replay";
  const ignored = compileIgnore(options.ignore ?? []);
  const normalize = options.normalize;
  const secrets = options.redact ?? [];
  const comparable = (request: ModelRequest): ModelRequest =>
    normalize === undefined ? request : normalize(toJson(request));
  let position = 0;

  /** The next exchange, if it was recorded for this operation and this request. */
  const take = (operation: ReplayOperation, request: ModelRequest): RecordedExchange => {
    const index = position;
    const exchange = exchanges[index];
    if (exchange === undefined) throw new ReplayExhaustedError(exchanges.length, operation);
    const mismatch = (path: string, expected: unknown, actual: unknown, detail: string) =>
      new ReplayMismatchError({ index, total: exchanges.length, operation, path, expected, actual, detail });
    if (exchange.operation !== operation)
      throw mismatch(
        "operation",
        exchange.operation,
        operation,
        `expected a ${exchange.operation} call but got ${operation}`,
      );
    const difference = firstDifference(comparable(exchange.request), comparable(request), ignored);
    if (difference !== undefined)
      throw mismatch(difference.path, difference.expected, difference.actual, difference.detail);
    position++;
    return exchange;
  };
  const canonical = (request: ModelRequest): ModelRequest => redact(canonicalRequest(request), secrets);
  const abortedError = (signal: AbortSignal): ProviderError =>
    new ProviderError({
      kind: "aborted",
      provider: name,
      message: "the call was aborted",
      cause: signal.reason,
    });

  return {
    name,
    get used() {
      return position;
    },
    get remaining() {
      return exchanges.length - position;
    },
    async complete(request: ModelRequest, call: CallOptions = {}): Promise<ModelResponse> {
      if (call.signal?.aborted === true) throw abortedError(call.signal);
      const exchange = take("complete", canonical(request)) as RecordedCompletion | RecordedFailure;
      if ("error" in exchange) throw replayedError(exchange.error);
      return revive(exchange.response);
    },
    stream(request: ModelRequest, call: CallOptions = {}): ModelStream {
      const sent = canonical(request);
      const source: RawEventSource = async function* (signal): AsyncGenerator<RawStreamEvent> {
        if (signal.aborted) throw abortedError(signal);
        const exchange = take("stream", sent) as RecordedStream;
        for (const event of exchange.events) {
          if (signal.aborted) throw abortedError(signal);
          yield toRawEvent(toJson(event));
        }
        if (exchange.error !== undefined) throw replayedError(exchange.error);
      };
      return new TransparentStream(name, source, call.signal);
    },
    async countTokens(request: ModelRequest, call: CallOptions = {}): Promise<number> {
      if (call.signal?.aborted === true) throw abortedError(call.signal);
      const exchange = take("countTokens", canonical(request)) as RecordedCount | RecordedFailure;
      if ("error" in exchange) throw replayedError(exchange.error);
      return exchange.count;
    },
  };
}

/**
 * A recorded response with the fields JSON dropped put back as `undefined` (`rawStopReason`, the
 * `arguments` of a tool call whose arguments did not parse), so it equals the original strictly.
 */
function revive(recorded: ModelResponse): ModelResponse {
  const response = toJson(recorded);
  const content: ContentBlock[] = response.content.map((block) =>
    block.type === "tool_call" && !Object.hasOwn(block, "arguments")
      ? { ...block, arguments: undefined }
      : block,
  );
  return { ...response, content, rawStopReason: response.rawStopReason };
}
