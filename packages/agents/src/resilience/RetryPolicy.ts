/**
 * Retry options, their presets (Normandy's `Retry.preset/1`), and the resolved policy both retry loops
 * share (`withRetry` for calls, the resilient provider for streams): which failures are retried, the
 * backoff schedule with jitter and Retry-After, reporting, and the abortable waits on the injected clock.
 */
import { type Clock, InvalidArgumentError, systemClock, type Telemetry } from "@normandy/runtime";
import { isRetryableKind, ProviderError, type ProviderErrorKind } from "../providers/ProviderError.js";
import { RetryExhaustedError } from "./errors.js";

/** What {@link RetryOptions.onRetry} receives when a failed attempt is about to be retried. */
export interface RetryInfo {
  /** The number of the attempt that failed (1 for the first). */
  readonly attempt: number;
  /** How long the retry waits before the next attempt, in ms. */
  readonly delayMs: number;
  /** The attempt's error. */
  readonly error: unknown;
  /** The error's kind: a {@link ProviderErrorKind}, or `unknown` for any other error. */
  readonly kind: string;
}

/** Options of a retried call. Every field is optional; the defaults are Normandy's. */
export interface RetryOptions {
  /** The most attempts, the first included (integer ≥ 1; default 3). */
  readonly maxAttempts?: number;
  /** The delay before the first retry, in ms (default 1000). */
  readonly baseDelayMs?: number;
  /** The cap of the backoff delay, in ms (default 32000). */
  readonly maxDelayMs?: number;
  /** The backoff factor: retry n waits `min(maxDelayMs, baseDelayMs * factor^(n-1))` (default 2). */
  readonly factor?: number;
  /** Whether to spread each backoff delay by ±25% (default true). */
  readonly jitter?: boolean;
  /** The random source of the jitter, in [0, 1) (default `Math.random`; fix it in tests). */
  readonly random?: () => number;
  /** The {@link ProviderError} kinds retried (default: the retryable ones). `aborted` is never retried. */
  readonly retryOn?: readonly ProviderErrorKind[];
  /**
   * Decides instead of `retryOn`, for any error (a ProviderError of kind `aborted` is still never
   * retried, nor is anything once the caller's signal has aborted).
   */
  readonly retryIf?: (error: unknown, attempt: number) => boolean;
  /** Whether a ProviderError's `retryAfterMs` replaces the backoff delay (default true; not jittered). */
  readonly respectRetryAfter?: boolean;
  /** The cap of a Retry-After delay, in ms (default `maxDelayMs`). */
  readonly maxRetryAfterMs?: number;
  /** Each attempt's time limit, in ms; a timed-out attempt fails as a ProviderError of kind `timeout`. */
  readonly attemptTimeoutMs?: number;
  /** Cancels the retried call: the running attempt and any pending wait end at once (kind `aborted`). */
  readonly signal?: AbortSignal;
  /** The clock of every wait and timeout (default: the real one). */
  readonly clock?: Clock;
  /** Called before each wait for a retry; a throw ends the retried call with that error. */
  readonly onRetry?: (info: RetryInfo) => void;
  /** Where `["normandy", "retry", "attempt_failed"]` is emitted for every failed attempt. */
  readonly telemetry?: Telemetry;
  /** The provider name put on the `timeout` and `aborted` errors the retry makes (default `unknown`). */
  readonly provider?: string;
}

/** The names of the {@link retryPresets}. */
export type RetryPresetName = "quick" | "standard" | "persistent" | "patient";

/**
 * Normandy's presets: `quick` (2 attempts, 100 ms base, 1 s cap), `standard` (3, 1 s, 10 s),
 * `persistent` (5, 1 s, 30 s) and `patient` (10, 2 s, 60 s, factor 1.5).
 *
 * @example
 * ```ts
 * await withRetry(call, { ...retryPresets.persistent, signal });
 * ```
 */
export const retryPresets: Readonly<Record<RetryPresetName, RetryOptions>> = Object.freeze({
  quick: Object.freeze({ maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 1_000 }),
  standard: Object.freeze({ maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000 }),
  persistent: Object.freeze({ maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000 }),
  patient: Object.freeze({ maxAttempts: 10, baseDelayMs: 2_000, maxDelayMs: 60_000, factor: 1.5 }),
});

/** The telemetry event of a failed attempt. */
export const RETRY_ATTEMPT_FAILED = ["normandy", "retry", "attempt_failed"] as const;

const JITTER = 0.25;

/**
 * Retry options resolved against their defaults, with the decisions both retry loops make.
 *
 * @example
 * ```ts
 * const policy = new RetryPolicy("standard");
 * policy.delayMs(2, error); // 2000, jittered
 * ```
 */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly jitter: boolean;
  readonly respectRetryAfter: boolean;
  readonly maxRetryAfterMs: number;
  readonly attemptTimeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly clock: Clock;
  readonly provider: string;
  readonly #random: () => number;
  readonly #retryOn: ReadonlySet<ProviderErrorKind> | undefined;
  readonly #retryIf: ((error: unknown, attempt: number) => boolean) | undefined;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  readonly #telemetry: Telemetry | undefined;

  /**
   * @param options - the options, or a preset's name.
   * @throws InvalidArgumentError for an option out of its domain.
   */
  constructor(options: RetryOptions | RetryPresetName = {}) {
    const o = typeof options === "string" ? retryPresets[options] : options;
    this.maxAttempts = o.maxAttempts ?? 3;
    this.baseDelayMs = o.baseDelayMs ?? 1_000;
    this.maxDelayMs = o.maxDelayMs ?? 32_000;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? true;
    this.respectRetryAfter = o.respectRetryAfter ?? true;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? this.maxDelayMs;
    this.attemptTimeoutMs = o.attemptTimeoutMs;
    this.signal = o.signal;
    this.clock = o.clock ?? systemClock;
    this.provider = o.provider ?? "unknown";
    this.#random = o.random ?? Math.random;
    this.#retryOn = o.retryOn === undefined ? undefined : new Set(o.retryOn);
    this.#retryIf = o.retryIf;
    this.#onRetry = o.onRetry;
    this.#telemetry = o.telemetry;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1)
      throw new InvalidArgumentError(`retry: maxAttempts must be an integer >= 1, got ${this.maxAttempts}`);
    for (const [name, value] of [
      ["baseDelayMs", this.baseDelayMs],
      ["maxDelayMs", this.maxDelayMs],
      ["maxRetryAfterMs", this.maxRetryAfterMs],
    ] as const) {
      if (!(value >= 0)) throw new InvalidArgumentError(`retry: ${name} must be >= 0, got ${value}`);
    }
    if (!(this.factor >= 1)) throw new InvalidArgumentError(`retry: factor must be >= 1, got ${this.factor}`);
    if (this.attemptTimeoutMs !== undefined && !(this.attemptTimeoutMs > 0))
      throw new InvalidArgumentError(`retry: attemptTimeoutMs must be > 0, got ${this.attemptTimeoutMs}`);
  }

  /**
   * Whether a failed attempt may be retried (ignoring how many attempts are left).
   *
   * @param error - the attempt's error.
   * @param attempt - the attempt's number (1 for the first).
   * @returns true when `retryIf` (or else `retryOn`) allows it; never for kind `aborted`.
   */
  retryable(error: unknown, attempt: number): boolean {
    if (error instanceof ProviderError && error.kind === "aborted") return false;
    if (this.#retryIf !== undefined) return this.#retryIf(error, attempt);
    if (!(error instanceof ProviderError)) return false;
    return this.#retryOn === undefined ? isRetryableKind(error.kind) : this.#retryOn.has(error.kind);
  }

  /**
   * The wait after failed attempt `attempt`: the error's Retry-After (capped by `maxRetryAfterMs`)
   * when there is one and it is respected, else `min(maxDelayMs, baseDelayMs * factor^(attempt-1))`,
   * jittered by ±25%.
   *
   * @param attempt - the failed attempt's number (1 for the first).
   * @param error - its error.
   * @returns the delay in whole ms.
   */
  delayMs(attempt: number, error: unknown): number {
    if (this.respectRetryAfter && error instanceof ProviderError && error.retryAfterMs !== undefined)
      return Math.round(Math.min(error.retryAfterMs, this.maxRetryAfterMs));
    const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * this.factor ** (attempt - 1));
    if (!this.jitter) return Math.round(backoff);
    return Math.round(backoff * (1 - JITTER + 2 * JITTER * this.#random()));
  }

  /**
   * Reports a failed attempt: telemetry for every one, `onRetry` when a retry follows.
   *
   * @param attempt - the failed attempt's number.
   * @param error - its error.
   * @param delayMs - the wait before the next attempt, or undefined when none follows.
   */
  failed(attempt: number, error: unknown, delayMs: number | undefined): void {
    const kind = error instanceof ProviderError ? error.kind : "unknown";
    const telemetry = this.#telemetry;
    if (telemetry?.active)
      telemetry.emit(
        RETRY_ATTEMPT_FAILED,
        { attempt, delayMs: delayMs ?? 0 },
        { kind, retrying: delayMs !== undefined, provider: this.provider, error },
      );
    if (delayMs !== undefined) this.#onRetry?.({ attempt, delayMs, error, kind });
  }

  /**
   * Decides what follows failed attempt `attempt` — the one decision both retry loops share: reports
   * it, then throws (aborted call, non-retryable error, attempts exhausted) or waits out the backoff.
   *
   * @param attempt - the failed attempt's number.
   * @param errors - every attempt's error so far, this one last.
   * @param signal - the caller's signal.
   * @param mayRetry - false when the caller forbids a retry whatever the error (e.g. output was streamed).
   * @returns a promise that resolves when the next attempt may start.
   * @throws an `aborted` ProviderError, the error itself, or {@link RetryExhaustedError}.
   */
  async afterFailure(
    attempt: number,
    errors: readonly unknown[],
    signal: AbortSignal | undefined,
    mayRetry = true,
  ): Promise<void> {
    const error = errors[errors.length - 1];
    if (signal?.aborted) {
      this.failed(attempt, error, undefined);
      throw this.aborted(signal);
    }
    if (!mayRetry || !this.retryable(error, attempt)) {
      this.failed(attempt, error, undefined);
      throw error;
    }
    if (attempt >= this.maxAttempts) {
      this.failed(attempt, error, undefined);
      throw new RetryExhaustedError(errors);
    }
    const delayMs = this.delayMs(attempt, error);
    this.failed(attempt, error, delayMs);
    await this.wait(delayMs, signal);
  }

  /**
   * Waits on the policy's clock.
   *
   * @param ms - how long.
   * @param signal - ends the wait at once.
   * @returns a promise that resolves after `ms`, or rejects with an `aborted` ProviderError.
   */
  wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(this.aborted(signal));
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.clock.clearTimeout(timer);
        reject(this.aborted(signal));
      };
      const timer = this.clock.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * The error of a call its caller aborted.
   *
   * @param signal - the aborted signal (its reason becomes the cause).
   * @returns a ProviderError of kind `aborted`.
   */
  aborted(signal: AbortSignal | undefined): ProviderError {
    return new ProviderError({
      kind: "aborted",
      provider: this.provider,
      message: "the call was aborted",
      cause: signal?.reason,
    });
  }

  /**
   * The error of an attempt that outlived `attemptTimeoutMs`.
   *
   * @param attempt - the attempt's number.
   * @returns a ProviderError of kind `timeout`.
   */
  timedOut(attempt: number): ProviderError {
    return new ProviderError({
      kind: "timeout",
      provider: this.provider,
      message: `attempt ${attempt} timed out after ${this.attemptTimeoutMs} ms`,
    });
  }
}

/** A controller that aborts with its parent signal, and a way to stop listening to the parent. */
export interface LinkedController {
  readonly controller: AbortController;
  /** Stops following the parent (call it when the work is done, so no listener is left behind). */
  readonly dispose: () => void;
}

/**
 * Makes an abort controller that also aborts when `parent` does.
 *
 * @param parent - the signal to follow, if any.
 * @returns the controller and its disposer.
 */
export function linkedController(parent: AbortSignal | undefined): LinkedController {
  const controller = new AbortController();
  if (parent === undefined) return { controller, dispose: () => {} };
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener("abort", onAbort) };
}
