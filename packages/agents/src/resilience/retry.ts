/**
 * `withRetry`: Normandy's `Retry.with_retry` for promises. Transient failures are retried with capped,
 * jittered exponential backoff (or the server's Retry-After); each attempt has its own abort signal and
 * optional time limit; the caller's signal ends everything at once. Every wait is on the injected clock.
 */
import { linkedController, type RetryOptions, RetryPolicy, type RetryPresetName } from "./RetryPolicy.js";

/** What each attempt of a retried call receives. */
export interface RetryAttempt {
  /** The attempt's number (1 for the first). */
  readonly number: number;
  /** Aborts when the attempt times out or the caller's signal aborts; pass it to the HTTP call. */
  readonly signal: AbortSignal;
}

/**
 * Calls `fn` until it succeeds, a failure is not retryable, or the attempts run out.
 *
 * - A non-retryable failure (auth, quota_exhausted, invalid_request, context_length_exceeded,
 *   permission, content_filter, aborted, or any non-ProviderError unless `retryIf` says otherwise)
 *   rejects at once with the original error.
 * - When every attempt failed, it rejects with `RetryExhaustedError` holding every attempt's error.
 * - Aborting `options.signal` aborts the running attempt's signal and ends any wait at once; the call
 *   rejects with a ProviderError of kind `aborted` and no further attempt starts.
 * - With `attemptTimeoutMs`, an attempt that outlives it is abandoned at once (its signal aborts) and
 *   counts as a ProviderError of kind `timeout`, retryable by default.
 *
 * @param fn - one attempt; it should honour `attempt.signal`.
 * @param options - see {@link RetryOptions}, or a preset's name.
 * @returns what the first successful attempt returned.
 * @throws RetryExhaustedError, the first non-retryable error, or a ProviderError of kind `aborted`.
 * @example
 * ```ts
 * const response = await withRetry(
 *   ({ signal }) => provider.complete(request, { signal }),
 *   { ...retryPresets.standard, signal: controller.signal },
 * );
 * ```
 */
export async function withRetry<T>(
  fn: (attempt: RetryAttempt) => Promise<T>,
  options: RetryOptions | RetryPresetName = {},
): Promise<T> {
  const policy = new RetryPolicy(options);
  const signal = policy.signal;
  const errors: unknown[] = [];
  for (let number = 1; ; number++) {
    if (signal?.aborted) throw policy.aborted(signal);
    try {
      return await runAttempt(fn, number, policy);
    } catch (error) {
      errors.push(error);
      await policy.afterFailure(number, errors, signal);
    }
  }
}

/**
 * Runs one attempt: settles with `fn`'s outcome, or at once when the attempt times out or the caller
 * aborts (whichever comes first), aborting the attempt's signal in the last two cases. A late outcome of
 * an abandoned attempt is ignored.
 */
function runAttempt<T>(
  fn: (attempt: RetryAttempt) => Promise<T>,
  number: number,
  policy: RetryPolicy,
): Promise<T> {
  const { controller, dispose } = linkedController(policy.signal);
  return new Promise<T>((resolve, reject) => {
    let timer: unknown;
    const finish = () => {
      dispose();
      controller.signal.removeEventListener("abort", onAbort);
      if (timer !== undefined) policy.clock.clearTimeout(timer);
    };
    // the caller's signal, relayed through the controller
    const onAbort = () => {
      finish();
      reject(policy.aborted(policy.signal));
    };
    controller.signal.addEventListener("abort", onAbort, { once: true });
    if (policy.attemptTimeoutMs !== undefined) {
      timer = policy.clock.setTimeout(() => {
        finish();
        const error = policy.timedOut(number);
        reject(error);
        controller.abort(error);
      }, policy.attemptTimeoutMs);
    }
    let outcome: Promise<T>;
    try {
      outcome = fn({ number, signal: controller.signal });
    } catch (error) {
      outcome = Promise.reject(error);
    }
    Promise.resolve(outcome).then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}
