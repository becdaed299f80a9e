/**
 * Checks that a value is a well-formed scripted turn, so mistakes in a script (a typo'd key, text together
 * with json, a tool call without arguments) fail loudly instead of producing an odd response. Used for JSON
 * script files, for `append`/`reset`, and for what turn functions return.
 */

import { ScriptError } from "./errors.js";
import type { ScriptedTurn, StaticTurn } from "./script.js";

type Obj = Record<string, unknown>;

const stopReasons = new Set([
  "end_turn",
  "tool_use",
  "max_tokens",
  "stop_sequence",
  "stop",
  "tool_calls",
  "length",
]);
const replyKeys = [
  "text",
  "thinking",
  "thinkingSignature",
  "toolCalls",
  "json",
  "stopReason",
  "stopSequence",
  "usage",
  "latency",
];
const usageKeys = [
  "inputTokens",
  "outputTokens",
  "cacheReadInputTokens",
  "cacheCreationInputTokens",
  "reasoningTokens",
];
const latencyKeys = ["firstByteMs", "chunkDelayMs", "chunkSize"];
const statusKinds = new Set([
  "server_error",
  "unavailable",
  "overloaded",
  "authentication",
  "permission",
  "context_length",
  "quota_exhausted",
]);

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fail(where: string, problem: string): never {
  throw new ScriptError(`${where}: ${problem}`);
}

function object(value: unknown, where: string, allowed: readonly string[]): Obj {
  if (!isObject(value)) fail(where, "must be an object");
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(where, `unknown key "${key}" (allowed: ${allowed.join(", ")})`);
  }
  return value;
}

/** Whether `JSON.stringify` can carry the value (not `undefined`, a function, a symbol, a BigInt, a cycle). */
function serialisable(value: unknown): boolean {
  try {
    return JSON.stringify(value) !== undefined;
  } catch {
    // JSON.stringify throws for BigInt and cycles: that is the answer, not a failure of this check.
    return false;
  }
}

function optionalString(obj: Obj, key: string, where: string): void {
  if (obj[key] !== undefined && typeof obj[key] !== "string") fail(where, `${key} must be a string`);
}

function optionalCount(obj: Obj, key: string, where: string, min = 0): void {
  const value = obj[key];
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    fail(where, `${key} must be a number ≥ ${min}`);
  }
}

function optionalNullableCount(obj: Obj, key: string, where: string): void {
  if (obj[key] !== null) optionalCount(obj, key, where);
}

function checkLatency(value: unknown, where: string): void {
  if (value === undefined) return;
  const latency = object(value, `${where}.latency`, latencyKeys);
  optionalCount(latency, "firstByteMs", `${where}.latency`);
  optionalCount(latency, "chunkDelayMs", `${where}.latency`);
  optionalCount(latency, "chunkSize", `${where}.latency`, 1);
}

function checkToolCalls(value: unknown, where: string): void {
  if (!Array.isArray(value) || value.length === 0) fail(where, "toolCalls must be a non-empty array");
  value.forEach((call: unknown, i) => {
    const at = `${where}.toolCalls[${i}]`;
    const obj = object(call, at, ["name", "arguments", "rawArguments", "id"]);
    if (typeof obj.name !== "string" || obj.name === "") fail(at, "name must be a non-empty string");
    const hasArgs = "arguments" in obj;
    const hasRaw = "rawArguments" in obj;
    if (hasArgs === hasRaw) fail(at, "give exactly one of arguments and rawArguments");
    if (hasArgs && !serialisable(obj.arguments)) fail(at, "arguments must be JSON-serialisable");
    optionalString(obj, "rawArguments", at);
    optionalString(obj, "id", at);
  });
}

function checkReply(value: unknown, where: string): void {
  const turn = object(value, where, replyKeys);
  if (!["text", "thinking", "toolCalls", "json"].some((key) => key in turn)) {
    fail(where, "a reply needs at least one of text, thinking, toolCalls, json (or give a fault)");
  }
  if ("json" in turn && "text" in turn) fail(where, "give either text or json, not both");
  if ("json" in turn && !serialisable(turn.json)) fail(where, "json must be JSON-serialisable");
  optionalString(turn, "text", where);
  optionalString(turn, "thinking", where);
  optionalString(turn, "thinkingSignature", where);
  optionalString(turn, "stopSequence", where);
  if (turn.toolCalls !== undefined) checkToolCalls(turn.toolCalls, where);
  if (turn.stopReason !== undefined && !stopReasons.has(String(turn.stopReason))) {
    fail(where, `stopReason must be one of ${[...stopReasons].join(", ")}`);
  }
  if (turn.usage !== undefined) {
    const usage = object(turn.usage, `${where}.usage`, usageKeys);
    for (const key of usageKeys) optionalCount(usage, key, `${where}.usage`);
  }
  checkLatency(turn.latency, where);
}

function checkFault(value: unknown, where: string): void {
  const at = `${where}.fault`;
  if (!isObject(value) || typeof value.kind !== "string") fail(at, "must be an object with a kind");
  const kind = value.kind;
  const http = ["kind", "message", "headers"];
  if (kind === "rate_limit") {
    const fault = object(value, at, [...http, "retryAfterSeconds", "retryAfterMs"]);
    optionalNullableCount(fault, "retryAfterSeconds", at);
    optionalNullableCount(fault, "retryAfterMs", at);
  } else if (statusKinds.has(kind)) {
    object(value, at, http);
  } else if (kind === "http") {
    const fault = object(value, at, [...http, "status", "type", "code"]);
    const status = fault.status;
    if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599) {
      fail(at, "status must be an integer from 400 to 599");
    }
    optionalString(fault, "type", at);
    optionalString(fault, "code", at);
  } else if (kind === "stream_cut" || kind === "stream_error") {
    const fault = object(
      value,
      at,
      kind === "stream_cut" ? ["kind", "reply", "afterEvents"] : ["kind", "reply", "afterEvents", "message"],
    );
    if (fault.reply !== undefined) checkReply(fault.reply, `${at}.reply`);
    optionalCount(fault, "afterEvents", at);
  } else if (kind === "connection_reset" || kind === "empty_stream") {
    object(value, at, ["kind"]);
  } else {
    fail(at, `unknown fault kind "${kind}"`);
  }
  if (value.message !== undefined) optionalString(value, "message", at);
  if (value.headers !== undefined) {
    const headers = value.headers;
    if (!isObject(headers) || Object.values(headers).some((v) => typeof v !== "string")) {
      fail(at, "headers must be an object of strings");
    }
  }
}

/**
 * Checks one static turn (a reply or a fault) and returns it unchanged.
 *
 * @param value - the candidate turn.
 * @param where - how to name it in an error message (e.g. `turn 2`).
 * @returns the same value, typed.
 * @throws {@link ScriptError} when the shape is wrong.
 */
export function validateTurn(value: unknown, where: string): StaticTurn {
  if (isObject(value) && "fault" in value) {
    const turn = object(value, where, ["fault", "latency"]);
    checkFault(turn.fault, where);
    checkLatency(turn.latency, where);
  } else {
    checkReply(value, where);
  }
  return value as StaticTurn;
}

/**
 * Checks a list of turns, as given to the server: functions pass as they are, other entries must be valid
 * static turns.
 *
 * @param turns - the candidate turns.
 * @param firstIndex - the script position of the first one, for error messages.
 * @returns the same turns, typed.
 * @throws {@link ScriptError} naming the first bad turn.
 */
export function validateTurns(turns: readonly unknown[], firstIndex = 0): ScriptedTurn[] {
  return turns.map((turn, i) =>
    typeof turn === "function" ? (turn as ScriptedTurn) : validateTurn(turn, `turn ${firstIndex + i}`),
  );
}

/**
 * Parses a script given as JSON data (for example the contents of a `--script` file): an array of reply and
 * fault turns (functions cannot be written in JSON).
 *
 * @param value - the parsed JSON.
 * @returns the turns, validated.
 * @throws {@link ScriptError} when the value is not an array or a turn is malformed.
 * @example
 * ```ts
 * const turns = parseScript(JSON.parse(await readFile("script.json", "utf8")));
 * ```
 */
export function parseScript(value: unknown): StaticTurn[] {
  if (!Array.isArray(value)) throw new ScriptError("a script must be a JSON array of turns");
  return value.map((turn: unknown, i) => validateTurn(turn, `turn ${i}`));
}
