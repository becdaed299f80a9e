/**
 * The script that drives the loopback LLM server: the types of a scripted turn (a reply with text, thinking,
 * tool calls or JSON; a fault; or a function of the recorded request returning one of those), and of the
 * per-turn usage, stop-reason and latency overrides. Types only; validation lives in `validateTurn.ts`.
 */

import type { RecordedRequest } from "./recording.js";

/** The two wire formats the server speaks. */
export type WireFamily = "openai" | "anthropic";

/**
 * Why the model stopped. Either spelling is accepted and mapped to the other family's:
 * `end_turn` ⇄ `stop`, `tool_use` ⇄ `tool_calls`, `max_tokens` ⇄ `length`; `stop_sequence` is `stop` on the
 * OpenAI wire.
 */
export type StopReason =
  | "end_turn"
  | "tool_use"
  | "max_tokens"
  | "stop_sequence"
  | "stop"
  | "tool_calls"
  | "length";

/** Timing of one response; every field is optional and falls back to the server-wide setting. */
export interface LatencyOptions {
  /** Milliseconds before the status line and headers are written (the time to first byte). Default 0. */
  readonly firstByteMs?: number;
  /** Milliseconds between two SSE events of a streamed response. Default 0. */
  readonly chunkDelayMs?: number;
  /** Characters (code points) per text, thinking or tool-argument delta. Default 16. */
  readonly chunkSize?: number;
}

/**
 * Token counts to report instead of the estimates. The counts are disjoint, as on the Anthropic wire:
 * `inputTokens` excludes the cached tokens. On the OpenAI wire `prompt_tokens` is
 * `inputTokens + cacheReadInputTokens + cacheCreationInputTokens` and `cached_tokens` is
 * `cacheReadInputTokens`.
 */
export interface UsageOverride {
  /** Uncached input tokens (default: the count_tokens estimate of the request). */
  readonly inputTokens?: number;
  /** Output tokens, thinking included (default: ceil(characters of text + thinking + arguments / 4)). */
  readonly outputTokens?: number;
  /** Input tokens read from the prompt cache (default 0). */
  readonly cacheReadInputTokens?: number;
  /** Input tokens written to the prompt cache (default 0; always 0 on the OpenAI wire's details). */
  readonly cacheCreationInputTokens?: number;
  /** OpenAI `completion_tokens_details.reasoning_tokens` (default: the estimate of the thinking text). */
  readonly reasoningTokens?: number;
}

/** One tool call of a scripted reply. Give exactly one of `arguments` and `rawArguments`. */
export interface ScriptedToolCall {
  /** The tool's name. */
  readonly name: string;
  /** The arguments, serialised with `JSON.stringify`. */
  readonly arguments?: unknown;
  /**
   * The exact argument text, sent as is: use it for malformed JSON (the argument deltas then concatenate to
   * this string). On the Anthropic JSON (non-streaming) wire, where `input` is an object, a raw string that
   * does not parse is sent as the string itself.
   */
  readonly rawArguments?: string;
  /** The call id; default a deterministic `call_…` (OpenAI) or `toolu_…` (Anthropic) id. */
  readonly id?: string;
}

/**
 * A scripted model reply. `text`, `thinking` and `toolCalls` combine (thinking first, then text, then the
 * tool calls); `json` is structured output and excludes `text` (its `JSON.stringify` becomes the text).
 * Thinking is only on the Anthropic wire; on the OpenAI wire it only counts as reasoning tokens.
 */
export interface ReplyTurn {
  /** The assistant's text. */
  readonly text?: string;
  /** Extended thinking (Anthropic `thinking` block). */
  readonly thinking?: string;
  /** The thinking block's signature; default a deterministic base64 string. */
  readonly thinkingSignature?: string;
  /** Tool calls, in order; at least one when present. */
  readonly toolCalls?: readonly ScriptedToolCall[];
  /** A JSON value sent as the text (for `response_format: json_schema` / structured output). */
  readonly json?: unknown;
  /** Why the model stopped; default `tool_use` when the turn has tool calls, else `end_turn`. */
  readonly stopReason?: StopReason;
  /** The matched stop sequence reported with `stop_sequence` (Anthropic); default the request's first. */
  readonly stopSequence?: string;
  /** Token counts to report instead of the estimates. */
  readonly usage?: UsageOverride;
  /** Timing of this turn's response. */
  readonly latency?: LatencyOptions;
}

/** Fields every HTTP-status fault may carry. */
export interface HttpFaultSettings {
  /** Replaces the default error message. */
  readonly message?: string;
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** 429 rate limit, with `retry-after` (seconds) and `retry-after-ms` headers. */
export interface RateLimitFault extends HttpFaultSettings {
  readonly kind: "rate_limit";
  /** `retry-after` in seconds (default 1); `null` leaves the header out. */
  readonly retryAfterSeconds?: number | null;
  /** `retry-after-ms` (default `retryAfterSeconds * 1000`, or 1000); `null` leaves the header out. */
  readonly retryAfterMs?: number | null;
}

/** The kinds of {@link StatusFault}. */
export type StatusFaultKind =
  | "server_error"
  | "unavailable"
  | "overloaded"
  | "authentication"
  | "permission"
  | "context_length"
  | "quota_exhausted";

/**
 * A catalogued HTTP error: `server_error` 500; `unavailable` 503; `overloaded` 529 on Anthropic, 503 on
 * OpenAI (which has no 529); `authentication` 401; `permission` 403; `context_length` 400 (prompt too long);
 * `quota_exhausted` 429 (OpenAI `insufficient_quota`, Anthropic `enforced_spend_limit_reached`).
 */
export interface StatusFault extends HttpFaultSettings {
  readonly kind: StatusFaultKind;
}

/** Any other HTTP error, in the family's error shape. */
export interface CustomHttpFault extends HttpFaultSettings {
  readonly kind: "http";
  /** The HTTP status (400–599). */
  readonly status: number;
  /** `error.type` (default `api_error` / `server_error` for ≥ 500, else `invalid_request_error`). */
  readonly type?: string;
  /** OpenAI `error.code` (default `null`). */
  readonly code?: string;
}

/** Destroys the socket with a TCP reset before any byte of the response. */
export interface ConnectionResetFault {
  readonly kind: "connection_reset";
}

/**
 * Sends the first `afterEvents` SSE events of `reply` and then destroys the socket. A non-streaming request
 * gets the first half of its JSON body instead.
 */
export interface StreamCutFault {
  readonly kind: "stream_cut";
  /** The reply whose stream is cut (default `{ text: "This reply is cut short by the loopback server." }`). */
  readonly reply?: ReplyTurn;
  /** How many SSE events to send before the cut (default: half of them, at least one). */
  readonly afterEvents?: number;
}

/**
 * Sends the first `afterEvents` SSE events of `reply`, then an in-stream error event (Anthropic
 * `event: error` with `overloaded_error`; OpenAI `data: {"error": …}` with `server_error`), then ends the
 * stream. A non-streaming request gets the `overloaded` HTTP fault instead.
 */
export interface StreamErrorFault {
  readonly kind: "stream_error";
  /** The reply streamed before the error (default as for {@link StreamCutFault}). */
  readonly reply?: ReplyTurn;
  /** How many SSE events to send before the error (default: half of them, at least one). */
  readonly afterEvents?: number;
  /** Replaces the default error message. */
  readonly message?: string;
}

/** Status 200 and headers, then the response ends with no event (an empty body when not streaming). */
export interface EmptyStreamFault {
  readonly kind: "empty_stream";
}

/** A fault to inject instead of a reply (see `faults.ts` for the exact status and body table). */
export type Fault =
  | RateLimitFault
  | StatusFault
  | CustomHttpFault
  | ConnectionResetFault
  | StreamCutFault
  | StreamErrorFault
  | EmptyStreamFault;

/** A scripted fault turn. */
export interface FaultTurn {
  /** The fault to inject. */
  readonly fault: Fault;
  /** Timing of this turn's response (the first byte delay applies before the fault). */
  readonly latency?: LatencyOptions;
}

/** A turn given as data: a reply or a fault. */
export type StaticTurn = ReplyTurn | FaultTurn;

/**
 * A turn computed from the request it answers (for example to echo a tool result); it may be async. A throw
 * or an invalid result answers HTTP 500 and is recorded on the request.
 */
export type TurnFunction = (request: RecordedRequest) => StaticTurn | Promise<StaticTurn>;

/** One entry of the script: a reply, a fault, or a function returning one of those. */
export type ScriptedTurn = StaticTurn | TurnFunction;
