/**
 * Turns a scripted reply into the one normalised form both wire modules render: ids assigned, arguments as
 * text, the stop reason in Anthropic spelling, and usage resolved (overrides over estimates).
 */

import { createHash } from "node:crypto";
import type { ReplyTurn, StopReason, WireFamily } from "../script.js";
import { estimateRequestTokens, estimateTokens } from "../tokens.js";
import type { IdSource } from "./ids.js";

/** The stop reasons, in Anthropic spelling. */
export type NormalStop = "end_turn" | "tool_use" | "max_tokens" | "stop_sequence";

/** A tool call ready to render. */
export interface NormalToolCall {
  /** The call id. */
  readonly id: string;
  /** The tool name. */
  readonly name: string;
  /** The argument text (possibly malformed JSON, when scripted so). */
  readonly arguments: string;
}

/** Token counts, disjoint as on the Anthropic wire. */
export interface ResolvedUsage {
  /** Uncached input tokens. */
  readonly inputTokens: number;
  /** Output tokens. */
  readonly outputTokens: number;
  /** Input tokens read from the cache. */
  readonly cacheReadInputTokens: number;
  /** Input tokens written to the cache. */
  readonly cacheCreationInputTokens: number;
  /** Reasoning tokens (OpenAI detail). */
  readonly reasoningTokens: number;
}

/** A reply ready to render on either wire. */
export interface NormalReply {
  /** The thinking block, if any. */
  readonly thinking: { readonly text: string; readonly signature: string } | undefined;
  /** The text (a `json` turn's serialisation), if any. */
  readonly text: string | undefined;
  /** The tool calls, in order. */
  readonly toolCalls: readonly NormalToolCall[];
  /** Why the model stopped. */
  readonly stop: NormalStop;
  /** The matched stop sequence when `stop` is `stop_sequence`, else `null`. */
  readonly stopSequence: string | null;
  /** The usage to report. */
  readonly usage: ResolvedUsage;
}

const toNormalStop: Record<StopReason, NormalStop> = {
  end_turn: "end_turn",
  stop: "end_turn",
  tool_use: "tool_use",
  tool_calls: "tool_use",
  max_tokens: "max_tokens",
  length: "max_tokens",
  stop_sequence: "stop_sequence",
};

/**
 * A deterministic stand-in for a thinking signature: base64 of a SHA-256 of the thinking text.
 *
 * @param thinking - the thinking text.
 * @returns a base64 string.
 */
export function defaultSignature(thinking: string): string {
  return createHash("sha256").update(`loopback-thinking:${thinking}`).digest("base64");
}

function firstStopSequence(body: unknown): string | null {
  const sequences =
    typeof body === "object" && body !== null ? Reflect.get(body, "stop_sequences") : undefined;
  const first: unknown = Array.isArray(sequences) ? sequences[0] : undefined;
  return typeof first === "string" ? first : null;
}

/**
 * Normalises a scripted reply for one response.
 *
 * @param turn - the scripted reply (already validated).
 * @param family - the wire it will be rendered on (decides the default tool call ids).
 * @param body - the parsed request body (for the input token estimate and stop sequences).
 * @param ids - where default ids come from.
 * @returns the normalised reply.
 */
export function normaliseReply(
  turn: ReplyTurn,
  family: WireFamily,
  body: unknown,
  ids: IdSource,
): NormalReply {
  const text = "json" in turn ? JSON.stringify(turn.json) : turn.text;
  const thinking =
    turn.thinking === undefined
      ? undefined
      : { text: turn.thinking, signature: turn.thinkingSignature ?? defaultSignature(turn.thinking) };
  const toolCalls = (turn.toolCalls ?? []).map(
    (call): NormalToolCall => ({
      id: call.id ?? ids.next(family === "openai" ? "call" : "toolu"),
      name: call.name,
      arguments: call.rawArguments ?? String(JSON.stringify(call.arguments)),
    }),
  );
  const stop = turn.stopReason
    ? toNormalStop[turn.stopReason]
    : toolCalls.length > 0
      ? "tool_use"
      : "end_turn";
  const override = turn.usage ?? {};
  return {
    thinking,
    text,
    toolCalls,
    stop,
    stopSequence: stop === "stop_sequence" ? (turn.stopSequence ?? firstStopSequence(body)) : null,
    usage: {
      inputTokens: override.inputTokens ?? estimateRequestTokens(body),
      outputTokens:
        override.outputTokens ??
        estimateTokens(thinking?.text, text, ...toolCalls.map((call) => call.arguments)),
      cacheReadInputTokens: override.cacheReadInputTokens ?? 0,
      cacheCreationInputTokens: override.cacheCreationInputTokens ?? 0,
      reasoningTokens: override.reasoningTokens ?? estimateTokens(thinking?.text),
    },
  };
}
