/**
 * The recording format: one JSON object per line (JSONL), each a versioned record of one provider
 * exchange — the normalized request as sent and its outcome (the response, the stream's events, the
 * token count, or the failure). Owns the types, the request projection, and reading a recording back.
 *
 * Only normalized data is written: a `ModelRequest` holds no headers or credentials (the API key lives in
 * the provider's SDK client), the request is projected onto the `ModelRequest` fields so a stray property
 * cannot smuggle anything else in, and an error is recorded by kind, status, message and request id only
 * (never its `cause`, which for an SDK error carries the HTTP request and its headers). What a caller
 * puts in `extras` is part of the body and is recorded.
 */
import { readFileSync } from "node:fs";
import type { ModelRequest, ModelResponse, ProviderErrorKind, StreamEvent } from "@normandy/agents";
import { RecordingFormatError } from "./errors.js";

/** The version of the format this package writes and reads. */
export const RECORDING_VERSION = 1;

/** The provider operations a recording holds. */
export type ReplayOperation = "complete" | "stream" | "countTokens";

/** A recorded {@link ProviderError}; replay rethrows an equivalent one. */
export interface RecordedProviderError {
  readonly kind: ProviderErrorKind;
  readonly provider: string;
  readonly message: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly requestId?: string;
}

/** A recorded failure that was not a ProviderError; replay rethrows it as a `ReplayedError`. */
export interface RecordedOtherError {
  readonly name: string;
  readonly message: string;
}

/** A recorded failure. */
export type RecordedError = RecordedProviderError | RecordedOtherError;

/** The fields every recorded exchange has. */
export interface RecordedExchangeHead {
  /** The format version ({@link RECORDING_VERSION}). */
  readonly version: typeof RECORDING_VERSION;
  /** The provider's name (`openai`, `anthropic`, ...). */
  readonly provider: string;
  /** The normalized request as sent (JSON: fields that were `undefined` are absent). */
  readonly request: ModelRequest;
}

/** A `complete` call that answered. */
export interface RecordedCompletion extends RecordedExchangeHead {
  readonly operation: "complete";
  readonly response: ModelResponse;
}

/**
 * A `stream` call: every normalized event the consumer received, in order, and the failure that ended
 * the stream early, if one did (a consumer that stopped early is recorded as kind `aborted`).
 */
export interface RecordedStream extends RecordedExchangeHead {
  readonly operation: "stream";
  readonly events: readonly StreamEvent[];
  readonly error?: RecordedError;
}

/** A `countTokens` call that answered. */
export interface RecordedCount extends RecordedExchangeHead {
  readonly operation: "countTokens";
  readonly count: number;
}

/** A `complete` or `countTokens` call that failed. */
export interface RecordedFailure extends RecordedExchangeHead {
  readonly operation: "complete" | "countTokens";
  readonly error: RecordedError;
}

/** One line of a recording. */
export type RecordedExchange = RecordedCompletion | RecordedStream | RecordedCount | RecordedFailure;

// Every field of a ModelRequest, checked by the compiler both ways (a missing or unknown key fails).
const REQUEST_FIELDS: { readonly [K in keyof Required<ModelRequest>]: true } = {
  model: true,
  messages: true,
  tools: true,
  toolChoice: true,
  parallelToolCalls: true,
  temperature: true,
  maxTokens: true,
  topP: true,
  stop: true,
  responseFormat: true,
  thinking: true,
  cache: true,
  extras: true,
};
const REQUEST_KEYS = Object.keys(REQUEST_FIELDS) as (keyof ModelRequest)[];

/**
 * A request as it is recorded and compared: only the `ModelRequest` fields, as JSON (a deep copy, so
 * later changes to the caller's objects do not reach the recording).
 *
 * @param request - the request.
 * @returns its canonical JSON form.
 */
export function canonicalRequest(request: ModelRequest): ModelRequest {
  const projected: Record<string, unknown> = {};
  for (const key of REQUEST_KEYS) if (request[key] !== undefined) projected[key] = request[key];
  return toJson(projected) as unknown as ModelRequest;
}

/**
 * A deep copy of a value as JSON would carry it (`undefined` fields dropped).
 *
 * @param value - a JSON-able value.
 * @returns the copy.
 */
export function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Parses a recording: one exchange per non-blank line.
 *
 * @param text - the JSONL text.
 * @returns the exchanges, in order.
 * @throws RecordingFormatError naming the first bad line.
 * @example
 * ```ts
 * const exchanges = parseRecording(readFileSync("run.jsonl", "utf8"));
 * console.log(exchanges.map((e) => e.operation));
 * ```
 */
export function parseRecording(text: string): RecordedExchange[] {
  const exchanges: RecordedExchange[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new RecordingFormatError(i + 1, `not JSON (${(error as Error).message})`, { cause: error });
    }
    exchanges.push(validateExchange(value, i + 1));
  }
  return exchanges;
}

/**
 * Reads a recording file.
 *
 * @param path - the JSONL file.
 * @returns the exchanges, in order.
 * @throws RecordingFormatError for a bad line; the file system's error when it cannot be read.
 */
export function readRecording(path: string): RecordedExchange[] {
  return parseRecording(readFileSync(path, "utf8"));
}

/**
 * Checks that a value is an exchange of this format (its shape, not every nested field).
 *
 * @param value - the parsed line (or a caller's object).
 * @param line - its 1-based position, for the error.
 * @returns the exchange.
 * @throws RecordingFormatError when it is not one.
 */
export function validateExchange(value: unknown, line: number): RecordedExchange {
  const fail = (reason: string): never => {
    throw new RecordingFormatError(line, reason);
  };
  if (!isObject(value)) return fail("not a JSON object");
  if (value.version !== RECORDING_VERSION)
    fail(`unsupported version ${JSON.stringify(value.version)} (this reader knows ${RECORDING_VERSION})`);
  if (typeof value.provider !== "string") fail("`provider` is not a string");
  const request = value.request;
  if (!isObject(request) || typeof request.model !== "string" || !Array.isArray(request.messages))
    fail("`request` is not a model request (model and messages)");
  if (value.error !== undefined) checkError(value.error, fail);
  const hasError = value.error !== undefined;
  switch (value.operation) {
    case "complete":
      if (!hasError && !isObject(value.response)) fail("a `complete` exchange needs `response` or `error`");
      break;
    case "stream":
      if (!Array.isArray(value.events)) fail("a `stream` exchange needs `events`");
      break;
    case "countTokens":
      if (!hasError && typeof value.count !== "number")
        fail("a `countTokens` exchange needs `count` or `error`");
      break;
    default:
      fail(`unknown operation ${JSON.stringify(value.operation)}`);
  }
  return value as unknown as RecordedExchange;
}

function checkError(error: unknown, fail: (reason: string) => never): void {
  if (!isObject(error) || typeof error.message !== "string") fail("`error` needs a `message`");
  else if (typeof error.kind !== "string" && typeof error.name !== "string")
    fail("`error` needs a `kind` (a provider error) or a `name`");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
