/**
 * The one error type every provider failure becomes, classified so retry and circuit-breaker logic can
 * decide without knowing which SDK threw it.
 */
import type { ModelResponse } from "../model/messages.js";

/** What went wrong. The first five are transient and retryable. */
export type ProviderErrorKind =
  | "rate_limit"
  | "overloaded"
  | "server"
  | "timeout"
  | "network"
  | "auth"
  | "permission"
  | "invalid_request"
  | "context_length_exceeded"
  | "quota_exhausted"
  | "content_filter"
  | "aborted";

const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set([
  "rate_limit",
  "overloaded",
  "server",
  "timeout",
  "network",
]);

/** Details of a {@link ProviderError}. */
export interface ProviderErrorInit {
  readonly kind: ProviderErrorKind;
  readonly message: string;
  /** The provider's name (`anthropic`, `openai`, ...). */
  readonly provider: string;
  /** The HTTP status, when there was a response. */
  readonly status?: number;
  /** How long the server asked to wait (Retry-After / retry-after-ms), in ms. */
  readonly retryAfterMs?: number;
  /** The provider's request id, for support tickets. */
  readonly requestId?: string;
  /** What a stream produced before it failed. */
  readonly partial?: ModelResponse;
  /** The underlying error (the SDK's). */
  readonly cause?: unknown;
}

/** A classified provider failure. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  /** Whether retrying may succeed (rate limit, overloaded, server, timeout, network). */
  readonly retryable: boolean;
  readonly provider: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;
  /** For a failed stream: the response assembled from what arrived before the failure. */
  readonly partial: ModelResponse | undefined;

  /** @param init - the classification and details. */
  constructor(init: ProviderErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ProviderError";
    this.kind = init.kind;
    this.retryable = RETRYABLE.has(init.kind);
    this.provider = init.provider;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
    this.partial = init.partial;
  }

  /**
   * A copy with the partial response of a failed stream attached.
   *
   * @param partial - what the stream produced.
   * @returns the new error.
   */
  withPartial(partial: ModelResponse): ProviderError {
    return new ProviderError({ ...this.#init(), partial });
  }

  #init(): ProviderErrorInit {
    return {
      kind: this.kind,
      message: this.message,
      provider: this.provider,
      ...(this.status !== undefined && { status: this.status }),
      ...(this.retryAfterMs !== undefined && { retryAfterMs: this.retryAfterMs }),
      ...(this.requestId !== undefined && { requestId: this.requestId }),
      ...(this.cause !== undefined && { cause: this.cause }),
    };
  }
}

/**
 * Whether a kind of failure is transient.
 *
 * @param kind - the kind.
 * @returns true for rate_limit, overloaded, server, timeout and network.
 */
export function isRetryableKind(kind: ProviderErrorKind): boolean {
  return RETRYABLE.has(kind);
}

/**
 * Reads a Retry-After delay from response headers: `retry-after-ms` (ms) wins over `retry-after`
 * (seconds, or an HTTP date).
 *
 * @param headers - the response headers (a `Headers` object or a plain record).
 * @param now - the current time in ms since the epoch (for an HTTP date).
 * @returns the delay in ms, or undefined when absent or unreadable.
 */
export function retryAfterMs(
  headers: Headers | Readonly<Record<string, string | undefined>> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (headers === undefined) return undefined;
  const get = (name: string) =>
    headers instanceof Headers ? (headers.get(name) ?? undefined) : headers[name];
  const ms = Number(get("retry-after-ms"));
  if (get("retry-after-ms") !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const value = get("retry-after");
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
