/**
 * The typed errors of the resilience layer: retries that ran out, and a circuit breaker that refused a
 * call. Each carries a stable `code` so callers can branch without `instanceof`.
 */

/**
 * Every attempt of a retried call failed with a retryable error.
 *
 * @example
 * ```ts
 * try {
 *   await withRetry(() => provider.complete(request), { maxAttempts: 3 });
 * } catch (error) {
 *   if (error instanceof RetryExhaustedError) console.warn(error.attempts.length, error.last);
 * }
 * ```
 */
export class RetryExhaustedError extends Error {
  /** A stable machine-readable code. */
  readonly code = "retry_exhausted" as const;
  /** Every attempt's error, in order (the first attempt's first). */
  readonly attempts: readonly unknown[];
  /** The last attempt's error (also the `cause`). */
  readonly last: unknown;

  /** @param attempts - every attempt's error, in order; there is at least one. */
  constructor(attempts: readonly unknown[]) {
    const last = attempts[attempts.length - 1];
    super(`gave up after ${attempts.length} attempt${attempts.length === 1 ? "" : "s"}: ${describe(last)}`, {
      cause: last,
    });
    this.name = "RetryExhaustedError";
    this.attempts = Object.freeze([...attempts]);
    this.last = last;
  }
}

/** A circuit breaker state. */
export type CircuitState = "closed" | "open" | "half_open";

/**
 * A circuit breaker refused a call: it is open, or half-open with every trial slot taken.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.call(() => provider.complete(request));
 * } catch (error) {
 *   if (error instanceof CircuitOpenError) console.warn(`${error.breaker} is ${error.state}`);
 * }
 * ```
 */
export class CircuitOpenError extends Error {
  /** A stable machine-readable code. */
  readonly code = "circuit_open" as const;
  /** The breaker's name. */
  readonly breaker: string;
  /** `open`, or `half_open` when every trial slot was taken. */
  readonly state: Exclude<CircuitState, "closed">;
  /**
   * When (on the breaker's clock) an open circuit may let a trial call through; undefined for a
   * half-open one, which admits a call as soon as a trial slot is free.
   */
  readonly retryAt: number | undefined;
  /** How long from the refusal until `retryAt`, in ms (undefined for a half-open circuit). */
  readonly retryAfterMs: number | undefined;

  /**
   * @param breaker - the breaker's name.
   * @param state - the state that refused the call.
   * @param retryAt - when an open circuit may half-open, on the breaker's clock.
   * @param now - the breaker's clock reading at the refusal.
   */
  constructor(
    breaker: string,
    state: Exclude<CircuitState, "closed">,
    retryAt: number | undefined,
    now: number,
  ) {
    super(
      state === "open"
        ? `circuit breaker ${JSON.stringify(breaker)} is open`
        : `circuit breaker ${JSON.stringify(breaker)} is half-open and every trial slot is taken`,
    );
    this.name = "CircuitOpenError";
    this.breaker = breaker;
    this.state = state;
    this.retryAt = retryAt;
    this.retryAfterMs = retryAt === undefined ? undefined : Math.max(0, retryAt - now);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
