/**
 * The HTTP error catalogue: for each fault kind, the status, headers and body the real OpenAI and Anthropic
 * APIs send, plus the errors the loopback server itself answers with (bad route, bad body, exhausted
 * script).
 *
 * | kind              | OpenAI                                               | Anthropic                                                     |
 * |-------------------|------------------------------------------------------|---------------------------------------------------------------|
 * | `rate_limit`      | 429 `requests` / `rate_limit_exceeded` + retry-after | 429 `rate_limit_error` + retry-after                          |
 * | `quota_exhausted` | 429 `insufficient_quota` / `insufficient_quota`      | 429 `rate_limit_error`, details `enforced_spend_limit_reached` |
 * | `server_error`    | 500 `server_error`                                   | 500 `api_error`                                               |
 * | `unavailable`     | 503 `server_error`                                   | 503 `api_error`                                               |
 * | `overloaded`      | 503 `server_error` (OpenAI has no 529)               | 529 `overloaded_error`                                        |
 * | `authentication`  | 401 `invalid_request_error` / `invalid_api_key`      | 401 `authentication_error`                                    |
 * | `permission`      | 403 `invalid_request_error` / `unsupported_country_region_territory` | 403 `permission_error`                        |
 * | `context_length`  | 400 `invalid_request_error` / `context_length_exceeded`, param `messages` | 400 `invalid_request_error` "prompt is too long: …" |
 * | `http`            | the given status, type and code                      | the given status and type                                     |
 */

import { anthropicErrorBody } from "./anthropicWire.js";
import { openaiErrorBody } from "./openaiWire.js";
import type { CustomHttpFault, RateLimitFault, StatusFault, WireFamily } from "./script.js";

/** An error response, ready to send. */
export interface ErrorResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers (content type and request id included). */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body. */
  readonly body: unknown;
}

/** One error, described for both families. */
export interface ErrorSpec {
  /** The HTTP status. */
  readonly status: number;
  /** `error.message`. */
  readonly message: string;
  /** OpenAI `error.type`. */
  readonly openaiType: string;
  /** OpenAI `error.code` (default `null`). */
  readonly openaiCode?: string | null;
  /** OpenAI `error.param` (default `null`). */
  readonly openaiParam?: string | null;
  /** Anthropic `error.type`. */
  readonly anthropicType: string;
  /** Anthropic `error.details`, when any. */
  readonly anthropicDetails?: Record<string, unknown>;
  /** Extra headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The headers every response of a family carries: its request id header (`x-request-id` for OpenAI,
 * `request-id` for Anthropic).
 *
 * @param family - the wire format.
 * @param requestId - the `req_…` id.
 * @returns the headers.
 */
export function requestIdHeaders(family: WireFamily, requestId: string): Record<string, string> {
  return family === "openai" ? { "x-request-id": requestId } : { "request-id": requestId };
}

/**
 * Renders an error in a family's shape.
 *
 * @param family - the wire format.
 * @param spec - the error, for both families.
 * @param requestId - the `req_…` id.
 * @returns status, headers and body.
 */
export function errorResponse(family: WireFamily, spec: ErrorSpec, requestId: string): ErrorResponse {
  const body =
    family === "openai"
      ? openaiErrorBody(spec.message, spec.openaiType, spec.openaiCode ?? null, spec.openaiParam ?? null)
      : anthropicErrorBody(spec.anthropicType, spec.message, requestId, spec.anthropicDetails);
  return {
    status: spec.status,
    headers: { "content-type": "application/json", ...requestIdHeaders(family, requestId), ...spec.headers },
    body,
  };
}

/** A fault answered with an HTTP error status. */
export type HttpFault = RateLimitFault | StatusFault | CustomHttpFault;

/** The limits quoted in context-length messages. */
const contextLimits = { openai: 128_000, anthropic: 200_000 };

/**
 * Describes an HTTP fault for both families (see the table at the top of this file).
 *
 * @param fault - the fault.
 * @param family - the wire format (the context-length message quotes its limit).
 * @param promptTokens - the request's token estimate, quoted in the context-length message when it exceeds
 *   the limit.
 * @returns the error spec.
 */
export function faultSpec(fault: HttpFault, family: WireFamily, promptTokens: number): ErrorSpec {
  const headers = fault.headers ?? {};
  switch (fault.kind) {
    case "rate_limit": {
      const seconds = fault.retryAfterSeconds === undefined ? 1 : fault.retryAfterSeconds;
      const ms = fault.retryAfterMs === undefined ? (seconds ?? 1) * 1000 : fault.retryAfterMs;
      return {
        status: 429,
        message: fault.message ?? "Rate limit reached for requests (loopback). Please try again later.",
        openaiType: "requests",
        openaiCode: "rate_limit_exceeded",
        anthropicType: "rate_limit_error",
        headers: {
          ...(seconds === null ? {} : { "retry-after": String(seconds) }),
          ...(ms === null ? {} : { "retry-after-ms": String(ms) }),
          ...headers,
        },
      };
    }
    case "quota_exhausted":
      return {
        status: 429,
        message:
          fault.message ??
          "You exceeded your current quota, please check your plan and billing details (loopback).",
        openaiType: "insufficient_quota",
        openaiCode: "insufficient_quota",
        anthropicType: "rate_limit_error",
        anthropicDetails: { error_code: "enforced_spend_limit_reached" },
        headers,
      };
    case "server_error":
      return {
        status: 500,
        message: fault.message ?? "The server had an error while processing your request (loopback).",
        openaiType: "server_error",
        anthropicType: "api_error",
        headers,
      };
    case "unavailable":
      return {
        status: 503,
        message: fault.message ?? "Service unavailable (loopback).",
        openaiType: "server_error",
        anthropicType: "api_error",
        headers,
      };
    case "overloaded":
      return {
        status: family === "anthropic" ? 529 : 503,
        message: fault.message ?? "Overloaded",
        openaiType: "server_error",
        anthropicType: "overloaded_error",
        headers,
      };
    case "authentication":
      return {
        status: 401,
        message: fault.message ?? "Incorrect API key provided (loopback).",
        openaiType: "invalid_request_error",
        openaiCode: "invalid_api_key",
        anthropicType: "authentication_error",
        headers,
      };
    case "permission":
      return {
        status: 403,
        message:
          fault.message ?? "Your API key does not have permission to use the specified resource (loopback).",
        openaiType: "invalid_request_error",
        openaiCode: "unsupported_country_region_territory",
        anthropicType: "permission_error",
        headers,
      };
    case "context_length": {
      const limit = contextLimits[family];
      const tokens = Math.max(limit + 1, promptTokens);
      return {
        status: 400,
        message:
          fault.message ??
          (family === "openai"
            ? `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${tokens} tokens. Please reduce the length of the messages.`
            : `prompt is too long: ${tokens} tokens > ${limit} maximum`),
        openaiType: "invalid_request_error",
        openaiCode: "context_length_exceeded",
        openaiParam: "messages",
        anthropicType: "invalid_request_error",
        headers,
      };
    }
    case "http": {
      const server = fault.status >= 500;
      return {
        status: fault.status,
        message: fault.message ?? `HTTP ${fault.status} from the loopback server.`,
        openaiType: fault.type ?? (server ? "server_error" : "invalid_request_error"),
        openaiCode: fault.code ?? null,
        anthropicType: fault.type ?? (server ? "api_error" : "invalid_request_error"),
        headers,
      };
    }
  }
}

/**
 * The error the server answers when a request needs a turn and none is left.
 *
 * @param detail - which request arrived (e.g. `request #3 (POST /v1/messages)`) and how many turns there were.
 * @returns the error spec (HTTP 500).
 */
export function exhaustedSpec(detail: string): ErrorSpec {
  return {
    status: 500,
    message: `loopback script exhausted: ${detail}`,
    openaiType: "server_error",
    openaiCode: "loopback_script_exhausted",
    anthropicType: "api_error",
  };
}

/**
 * The error for a request the server cannot serve as sent (bad JSON, a missing field, an unknown route).
 *
 * @param status - 400 or 404.
 * @param message - what is wrong.
 * @param param - the offending field (OpenAI `error.param`), if known.
 * @returns the error spec.
 */
export function invalidRequestSpec(status: number, message: string, param: string | null = null): ErrorSpec {
  return {
    status,
    message,
    openaiType: "invalid_request_error",
    openaiParam: param,
    anthropicType: status === 404 ? "not_found_error" : "invalid_request_error",
  };
}

/**
 * The error for a server-side problem with the script (a turn function threw or returned a bad turn).
 *
 * @param message - what went wrong.
 * @returns the error spec (HTTP 500).
 */
export function scriptFailureSpec(message: string): ErrorSpec {
  return { status: 500, message, openaiType: "server_error", anthropicType: "api_error" };
}
