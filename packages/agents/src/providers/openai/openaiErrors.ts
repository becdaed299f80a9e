/**
 * Classification of every failure the openai SDK (or the fetch under it) can raise into one
 * {@link ProviderError}: HTTP status errors, in-stream error events, connection failures and timeouts,
 * aborts, and undici's unwrapped socket errors. The one place that knows the SDK's error classes.
 */

import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import { ProviderError, type ProviderErrorKind, retryAfterMs } from "../ProviderError.js";

/** What {@link classifyOpenAIError} needs besides the error. */
export interface OpenAIErrorContext {
  /** The provider's name; default `openai`. */
  readonly provider?: string;
  /** The call's signal: once it has aborted, any failure is an abort. */
  readonly signal?: AbortSignal;
}

/** Socket-level error codes (Node and undici) that mean the connection failed or broke. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

/** Codes that mean a transport timeout. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Messages of errors that carry no code: undici's cut body read ("terminated", cause "other side closed"). */
const NETWORK_MESSAGES: readonly string[] = [
  "terminated",
  "other side closed",
  "fetch failed",
  "socket hang up",
];

const CONTEXT_LENGTH = /context[ _]length|maximum context|context window/i;
const CONTENT_FILTER_CODES: ReadonlySet<string> = new Set(["content_filter", "content_policy_violation"]);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Looks through an error and its causes (a few levels) for a transport failure. */
function transportKind(error: unknown): "network" | "timeout" | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && TIMEOUT_CODES.has(code)) return "timeout";
    if (typeof code === "string" && NETWORK_CODES.has(code)) return "network";
    if (typeof message === "string" && NETWORK_MESSAGES.includes(message)) return "network";
    current = cause;
  }
  return undefined;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

/**
 * The kind of an API error from its status, `code`, `type` and message. A status-less error is an error
 * event inside a stream (`data: {"error": …}`), classified by its type and code alone.
 */
function apiErrorKind(
  status: number | undefined,
  code: string,
  type: string,
  message: string,
): ProviderErrorKind {
  if (code === "insufficient_quota" || type === "insufficient_quota") return "quota_exhausted";
  if (status === 429 || code.includes("rate_limit") || type.includes("rate_limit")) return "rate_limit";
  if (status === 401) return "auth";
  if (status === 403) return "permission";
  if (status === 408) return "timeout";
  if (status === 529 || type.includes("overloaded")) return "overloaded";
  if (status !== undefined && status >= 500) return "server";
  if (code === "context_length_exceeded" || CONTEXT_LENGTH.test(message)) return "context_length_exceeded";
  if (CONTENT_FILTER_CODES.has(code)) return "content_filter";
  if (status !== undefined || type === "invalid_request_error") return "invalid_request";
  return "server";
}

function fromAPIError(error: APIError, provider: string): ProviderError {
  const status = error.status;
  const kind = apiErrorKind(status, error.code ?? "", error.type ?? "", error.message);
  const retryAfter = retryAfterMs(error.headers);
  const requestId = error.requestID ?? undefined;
  return new ProviderError({
    kind,
    provider,
    message: error.message,
    cause: error,
    ...(status !== undefined && { status }),
    ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
    ...(requestId !== undefined && { requestId }),
  });
}

/**
 * Classifies any failure of a call to the openai SDK (never throws, never returns a raw SDK error):
 *
 * | failure | kind |
 * |---|---|
 * | a {@link ProviderError} | itself |
 * | `APIUserAbortError`, an `AbortError`, or anything once `signal` has aborted | `aborted` |
 * | `APIConnectionTimeoutError`, a socket timeout code | `timeout` |
 * | `APIConnectionError`, undici's `TypeError: terminated`, ECONNRESET and other socket codes | `network` |
 * | 429 with code or type `insufficient_quota` | `quota_exhausted` |
 * | other 429 (with `retryAfterMs` from `retry-after-ms` / `retry-after`) | `rate_limit` |
 * | 401 / 403 / 408 | `auth` / `permission` / `timeout` |
 * | 529 | `overloaded` |
 * | 500, 502, 503, 504 and any other 5xx (an "overloaded" 503 stays `server`) | `server` |
 * | 4xx with code `context_length_exceeded` or a message about the context length | `context_length_exceeded` |
 * | 4xx with code `content_filter` / `content_policy_violation` | `content_filter` |
 * | other 4xx (400, 404, 409, 413, 422, …) | `invalid_request` |
 * | an in-stream error event (no status) | by its type and code; `server` when unknown |
 * | a body that is not JSON (`SyntaxError`) | `server` |
 * | anything else | `network` |
 *
 * The HTTP status, the request id (`x-request-id`) and the original error (as `cause`) are kept.
 *
 * @param error - what the SDK threw.
 * @param context - the provider's name and the call's signal.
 * @returns the classified error.
 */
export function classifyOpenAIError(error: unknown, context: OpenAIErrorContext = {}): ProviderError {
  if (error instanceof ProviderError) return error;
  const provider = context.provider ?? "openai";
  const make = (kind: ProviderErrorKind, message: string) =>
    new ProviderError({ kind, provider, message, cause: error });
  if (error instanceof APIUserAbortError || isAbortError(error) || context.signal?.aborted === true) {
    return make("aborted", `the request was aborted: ${messageOf(error)}`);
  }
  if (error instanceof APIConnectionTimeoutError) return make("timeout", messageOf(error));
  if (error instanceof APIConnectionError) {
    const cause = error.cause === undefined ? "" : `: ${messageOf(error.cause)}`;
    return make(transportKind(error.cause) ?? "network", `${error.message}${cause}`);
  }
  if (error instanceof APIError) return fromAPIError(error, provider);
  const transport = transportKind(error);
  if (transport !== undefined) return make(transport, `the connection failed: ${messageOf(error)}`);
  if (error instanceof SyntaxError)
    return make("server", `the response could not be parsed: ${error.message}`);
  return make("network", `the request failed: ${messageOf(error)}`);
}
