/**
 * Classifies every failure of an Anthropic call (SDK errors, in-stream `error` events, socket failures,
 * aborts) into a {@link ProviderError}, keeping the status, the request id, Retry-After and the SDK error
 * as `cause`. No raw SDK error leaves the provider.
 */
import {
  AnthropicError,
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from "@anthropic-ai/sdk";
import { ProviderError, type ProviderErrorKind, retryAfterMs } from "../ProviderError.js";

/** A 400 message meaning the prompt does not fit the context window. */
const CONTEXT_LENGTH = /prompt is too long|context (window|length)|input is too long/i;
/** A message meaning the spend limit, quota or credit is exhausted. */
const QUOTA_MESSAGE = /credit balance is too low|spend limit|quota/i;
/** An `error.details.error_code` meaning the same (`enforced_spend_limit_reached`, ...). */
const QUOTA_CODE = /spend_limit|quota|credit|billing/i;

/** Kinds of in-stream `error` events (which have no HTTP status), by `error.type`. */
const STREAM_ERROR_KINDS: Readonly<Record<string, ProviderErrorKind>> = {
  overloaded_error: "overloaded",
  api_error: "server",
  rate_limit_error: "rate_limit",
  timeout_error: "timeout",
  authentication_error: "auth",
  permission_error: "permission",
  billing_error: "quota_exhausted",
  invalid_request_error: "invalid_request",
  not_found_error: "invalid_request",
  request_too_large: "invalid_request",
};

/**
 * Classifies a failure of an Anthropic call.
 *
 * 429 → `rate_limit` with `retryAfterMs`, unless the spend limit / quota / credit is exhausted (error code
 * or message; also 402 and `billing_error`, and a 400 "credit balance is too low") → `quota_exhausted`;
 * 529 or `overloaded_error` → `overloaded`; 401 → `auth`; 403 → `permission`; 400 "prompt is too long" →
 * `context_length_exceeded`; other 4xx → `invalid_request`; 408 → `timeout`; 5xx → `server`; an in-stream
 * error event by its type; a connection timeout → `timeout`; a connection failure, a cut stream (undici's
 * `TypeError: terminated`), a truncated body or any other unexpected failure → `network`; an abort (the
 * SDK's or the signal's) → `aborted`; an SDK refusal before sending (a client-side check) →
 * `invalid_request`. A {@link ProviderError} is returned as is.
 *
 * @param error - what was thrown.
 * @param provider - the provider name.
 * @param signal - the call's signal: when it is aborted, the failure is an abort whatever was thrown.
 * @returns the classified error, with the original as `cause`.
 */
export function classifyAnthropicError(
  error: unknown,
  provider: string,
  signal?: AbortSignal,
): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof APIUserAbortError || signal?.aborted === true) {
    return new ProviderError({ kind: "aborted", provider, message: "the request was aborted", cause: error });
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new ProviderError({ kind: "timeout", provider, message: "the request timed out", cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new ProviderError({
      kind: "network",
      provider,
      message: `connection failed: ${describe(error.cause ?? error)}`,
      cause: error,
    });
  }
  if (error instanceof APIError) return fromApiError(error, provider);
  if (error instanceof AnthropicError) {
    return new ProviderError({
      kind: "invalid_request",
      provider,
      message: `the request was refused by the SDK: ${error.message}`,
      cause: error,
    });
  }
  return new ProviderError({
    kind: "network",
    provider,
    message: `the response failed: ${describe(error)}`,
    cause: error,
  });
}

function fromApiError(error: APIError, provider: string): ProviderError {
  const status = error.status;
  const type = error.type ?? undefined;
  const text = error.apiMessage ?? error.message;
  const kind = kindOf(status, type, error.errorCode ?? undefined, text);
  const requestId = error.requestID ?? bodyRequestId(error.error);
  const retryAfter =
    kind === "rate_limit" || kind === "overloaded" || kind === "server"
      ? retryAfterMs(error.headers)
      : undefined;
  return new ProviderError({
    kind,
    provider,
    message: `${status ?? "stream error"}${type === undefined ? "" : ` ${type}`}: ${text}`,
    ...(status !== undefined && { status }),
    ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
    ...(requestId !== undefined && { requestId }),
    cause: error,
  });
}

function kindOf(
  status: number | undefined,
  type: string | undefined,
  code: string | undefined,
  text: string,
): ProviderErrorKind {
  const quota =
    type === "billing_error" ||
    status === 402 ||
    (code !== undefined && QUOTA_CODE.test(code)) ||
    ((status === 429 || status === 400) && QUOTA_MESSAGE.test(text));
  if (quota) return "quota_exhausted";
  if (status === 529 || type === "overloaded_error") return "overloaded";
  if (status === undefined) {
    const kind =
      (type !== undefined && Object.hasOwn(STREAM_ERROR_KINDS, type)
        ? STREAM_ERROR_KINDS[type]
        : undefined) ?? "server";
    return kind === "invalid_request" && CONTEXT_LENGTH.test(text) ? "context_length_exceeded" : kind;
  }
  if (status === 429) return "rate_limit";
  if (status === 401) return "auth";
  if (status === 403) return "permission";
  if (status === 408) return "timeout";
  if (status >= 500) return "server";
  if (status === 400 && CONTEXT_LENGTH.test(text)) return "context_length_exceeded";
  return "invalid_request";
}

function bodyRequestId(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("request_id" in body)) return undefined;
  return typeof body.request_id === "string" ? body.request_id : undefined;
}

/** The message of an error and of its causes (undici hides the socket error in `cause`). */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth += 1) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(typeof code === "string" ? `${current.message} (${code})` : current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join(": ");
}
