/**
 * `withResilience`: a provider wrapped in a circuit breaker (outside) and a retry (inside), as Normandy's
 * agent wraps its LLM call. The breaker sees the whole retried call, not each attempt: a call that
 * needed three attempts and succeeded is one success, one that exhausted its attempts is one failure,
 * and an open breaker is never retried (it refuses before the retry starts).
 *
 * Streams are retried only while nothing but `message_start` and `usage` has reached the consumer:
 * once a text, thinking or tool-call event has been handed on, a failure ends the stream, unless
 * `safeToRetryAfterOutput` says the consumer copes with a restart (see {@link ResilienceOptions}).
 *
 * Every failure stays a {@link ProviderError}, as the provider contract requires: an exhausted retry
 * becomes its last error (same kind, status and Retry-After; `cause` is the {@link RetryExhaustedError}
 * with every attempt's error), and a refusal of the breaker becomes kind `overloaded` with the time to
 * the next trial as `retryAfterMs` (`cause` is the {@link CircuitOpenError}).
 */
import type { ModelRequest, ModelResponse } from "../model/messages.js";
import {
  ModelStream,
  type RawEventSource,
  type RawStreamEvent,
  type StreamEvent,
  toRawEvent,
} from "../model/stream.js";
import type { CallOptions, Provider } from "../providers/Provider.js";
import { ProviderError } from "../providers/ProviderError.js";
import type { CircuitBreakerHandle, CircuitOutcome, CircuitPermit } from "./CircuitBreaker.js";
import { CircuitOpenError, RetryExhaustedError } from "./errors.js";
import {
  linkedController,
  type RetryOptions,
  RetryPolicy,
  type RetryPresetName,
  retryPresets,
} from "./RetryPolicy.js";
import { withRetry } from "./retry.js";

/** Options of {@link withResilience}. */
export interface ResilienceOptions {
  /**
   * How calls are retried (options or a preset's name); absent, nothing is retried. The call's own
   * `signal` joins `retry.signal`; `retry.provider` defaults to the provider's name.
   */
  readonly retry?: RetryOptions | RetryPresetName;
  /** The breaker every call (the whole retried call) goes through. */
  readonly breaker?: CircuitBreakerHandle;
  /**
   * Whether a stream that already handed output to its consumer may be retried (default false). When
   * true the consumer sees the stream restart: a second `message_start`, then the new attempt's events
   * with indexes from 0 again, so it must discard what it showed of the failed attempt. `final()` and
   * the `message_end` event hold only the successful attempt's content; `usage` is that attempt's.
   */
  readonly safeToRetryAfterOutput?: boolean;
}

/** Stream events that mean output has reached the consumer. */
const OUTPUT: ReadonlySet<StreamEvent["type"]> = new Set([
  "text_delta",
  "thinking_delta",
  "tool_call_start",
  "tool_call_delta",
  "tool_call_end",
  "message_end",
]);

/** How a restarted stream's block indexes map onto the outer stream's (see {@link ResilientStream}). */
interface Restarts {
  /** Added to the current attempt's indexes before the outer assembler sees them. */
  offset: number;
  /** The number of content blocks the outer assembler holds from abandoned attempts. */
  dropped: number;
  /** Every outer index used so far. */
  readonly used: Set<number>;
}

/**
 * Wraps a provider in a circuit breaker and a retry.
 *
 * @param provider - the provider to protect.
 * @param options - the retry, the breaker, and whether streams may restart after output.
 * @returns a provider with the same name (and `countTokens`, passed through unprotected).
 * @example
 * ```ts
 * const breaker = await CircuitBreaker.shared(system, "anthropic:claude-sonnet-4-5");
 * const claude = withResilience(anthropic, { retry: "standard", breaker });
 * const response = await claude.complete(request, { signal });
 * ```
 */
export function withResilience(provider: Provider, options: ResilienceOptions = {}): Provider {
  const name = provider.name;
  const base: RetryOptions | undefined =
    options.retry === undefined
      ? undefined
      : {
          provider: name,
          ...(typeof options.retry === "string" ? retryPresets[options.retry] : options.retry),
        };
  // validates the options once, at wrap time
  const policy = base === undefined ? undefined : new RetryPolicy(base);
  const breaker = options.breaker;
  const safeToRetryAfterOutput = options.safeToRetryAfterOutput ?? false;

  const complete = async (request: ModelRequest, call?: CallOptions): Promise<ModelResponse> => {
    const signal = joinSignals(base?.signal, call?.signal);
    const once = (): Promise<ModelResponse> =>
      base === undefined
        ? provider.complete(request, signal === undefined ? {} : { signal })
        : withRetry((attempt) => provider.complete(request, { signal: attempt.signal }), {
            ...base,
            ...(signal !== undefined && { signal }),
          });
    try {
      return breaker === undefined ? await once() : await breaker.call(once);
    } catch (error) {
      throw asProviderError(error, name);
    }
  };

  async function* attempts(
    request: ModelRequest,
    signal: AbortSignal,
    restarts: Restarts,
    settle: (outcome: CircuitOutcome) => void,
  ): AsyncGenerator<RawStreamEvent> {
    const errors: unknown[] = [];
    for (let number = 1; ; number++) {
      restarts.offset = restarts.used.size === 0 ? 0 : Math.max(...restarts.used) + 1;
      restarts.dropped = restarts.used.size;
      const attempt = startAttempt(policy, signal, number);
      let produced = false;
      try {
        for await (const event of provider.stream(request, { signal: attempt.signal })) {
          produced ||= OUTPUT.has(event.type);
          if ("index" in event) restarts.used.add(event.index + restarts.offset);
          if (event.type === "message_end") settle({ type: "success" });
          yield toRawEvent(event, restarts.offset);
          // anything after the end is not ours to hand on
          if (event.type === "message_end") break;
        }
        return;
      } catch (caught) {
        attempt.dispose();
        const error = attempt.timedOut() && policy !== undefined ? policy.timedOut(number) : caught;
        errors.push(error);
        if (policy === undefined) throw error;
        await policy.afterFailure(number, errors, signal, !produced || safeToRetryAfterOutput);
      } finally {
        attempt.dispose();
      }
    }
  }

  const stream = (request: ModelRequest, call?: CallOptions): ModelStream => {
    const restarts: Restarts = { offset: 0, dropped: 0, used: new Set() };
    const source: RawEventSource = async function* (streamSignal) {
      const signal = base?.signal === undefined ? streamSignal : AbortSignal.any([base.signal, streamSignal]);
      if (signal.aborted)
        throw new ProviderError({
          kind: "aborted",
          provider: name,
          message: "the call was aborted",
          cause: signal.reason,
        });
      let permit: CircuitPermit | undefined;
      try {
        permit = await breaker?.acquire();
      } catch (error) {
        throw asProviderError(error, name);
      }
      let outcome: CircuitOutcome = { type: "abandoned" };
      try {
        yield* attempts(request, signal, restarts, (o) => {
          outcome = o;
        });
      } catch (error) {
        outcome = { type: "error", error };
        throw asProviderError(error, name);
      } finally {
        permit?.release(outcome);
      }
    };
    return new ResilientStream(name, source, call?.signal, restarts);
  };

  return {
    name,
    complete,
    stream,
    ...(provider.countTokens !== undefined && { countTokens: provider.countTokens.bind(provider) }),
  };
}

/**
 * A stream whose consumer-facing indexes, `message_end` and `final()` hide the blocks of attempts that
 * were abandoned after output (only with `safeToRetryAfterOutput`; otherwise it is a plain ModelStream).
 * The source shifts a restarted attempt's indexes past the abandoned blocks so the assembler never mixes
 * two attempts' chunks; this class shifts them back and drops the abandoned blocks from the response.
 */
class ResilientStream extends ModelStream {
  readonly #restarts: Restarts;

  constructor(provider: string, source: RawEventSource, signal: AbortSignal | undefined, restarts: Restarts) {
    super(provider, source, signal);
    this.#restarts = restarts;
  }

  override final(): Promise<ModelResponse> {
    return super.final().then(
      (response) => this.#response(response),
      (error: unknown) => Promise.reject(this.#error(error)),
    );
  }

  override async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    const events = { [Symbol.asyncIterator]: () => super[Symbol.asyncIterator]() };
    try {
      for await (const event of events) yield this.#event(event);
    } catch (error) {
      throw this.#error(error);
    }
  }

  #event(event: StreamEvent): StreamEvent {
    const { offset } = this.#restarts;
    if (offset === 0 || event.type === "message_start" || event.type === "usage") return event;
    if (event.type === "message_end")
      return { type: "message_end", response: this.#response(event.response) };
    return { ...event, index: event.index - offset };
  }

  #response(response: ModelResponse): ModelResponse {
    const { dropped } = this.#restarts;
    return dropped === 0 ? response : { ...response, content: response.content.slice(dropped) };
  }

  #error(error: unknown): unknown {
    if (error instanceof ProviderError && error.partial !== undefined && this.#restarts.dropped > 0)
      return error.withPartial(this.#response(error.partial));
    return error;
  }
}

/** One stream attempt's abort controller, with its time limit on the policy's clock. */
interface StreamAttempt {
  readonly signal: AbortSignal;
  readonly timedOut: () => boolean;
  readonly dispose: () => void;
}

function startAttempt(policy: RetryPolicy | undefined, signal: AbortSignal, number: number): StreamAttempt {
  const { controller, dispose } = linkedController(signal);
  let timedOut = false;
  let timer: unknown;
  const limit = policy?.attemptTimeoutMs;
  if (policy !== undefined && limit !== undefined) {
    timer = policy.clock.setTimeout(() => {
      timedOut = true;
      controller.abort(policy.timedOut(number));
    }, limit);
  }
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      dispose();
      if (timer !== undefined) policy?.clock.clearTimeout(timer);
    },
  };
}

function joinSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}

/**
 * Keeps the provider contract (every failure a ProviderError) for the resilience layer's own errors.
 *
 * @param error - what the breaker or the retry threw.
 * @param provider - the provider's name.
 * @returns the error to throw.
 */
function asProviderError(error: unknown, provider: string): unknown {
  if (error instanceof CircuitOpenError)
    return new ProviderError({
      kind: "overloaded",
      provider,
      message: error.message,
      ...(error.retryAfterMs !== undefined && { retryAfterMs: error.retryAfterMs }),
      cause: error,
    });
  if (error instanceof RetryExhaustedError && error.last instanceof ProviderError) {
    const last = error.last;
    return new ProviderError({
      kind: last.kind,
      provider: last.provider,
      message: `${last.message} (gave up after ${error.attempts.length} attempts)`,
      ...(last.status !== undefined && { status: last.status }),
      ...(last.retryAfterMs !== undefined && { retryAfterMs: last.retryAfterMs }),
      ...(last.requestId !== undefined && { requestId: last.requestId }),
      ...(last.partial !== undefined && { partial: last.partial }),
      cause: error,
    });
  }
  return error;
}
