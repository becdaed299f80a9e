/**
 * The normalized model every provider translates to and from: messages with content blocks, tool
 * definitions, requests and responses, usage and stop reasons. Plain JSON-able data, so a
 * conversation can be stored, dumped and replayed as is.
 */

/** Plain text. `cache` marks a prompt-caching breakpoint after this block (Anthropic `cache_control`). */
export interface TextBlock {
  readonly type: "text";
  readonly text: string;
  readonly cache?: boolean;
}

/** An image, inline (base64) or by URL. */
export interface ImageBlock {
  readonly type: "image";
  readonly source:
    | { readonly kind: "base64"; readonly mediaType: string; readonly data: string }
    | { readonly kind: "url"; readonly url: string };
}

/**
 * A tool call made by the model. `arguments` is the parsed JSON object; when the model sent JSON that
 * does not parse, `arguments` is undefined, `rawArguments` holds what it sent and `argumentsError`
 * says why, so the caller can hand the error back to the model instead of crashing.
 */
export interface ToolCallBlock {
  readonly type: "tool_call";
  readonly id: string;
  readonly name: string;
  readonly arguments: unknown;
  readonly rawArguments: string;
  readonly argumentsError?: string;
}

/** The result of a tool call, sent back to the model (never as "Tool result:" text). */
export interface ToolResultBlock {
  readonly type: "tool_result";
  readonly toolCallId: string;
  readonly content: string | readonly (TextBlock | ImageBlock)[];
  readonly isError?: boolean;
}

/** Model reasoning. `signature` (Anthropic) must be sent back unchanged; `redacted` holds opaque data. */
export interface ThinkingBlock {
  readonly type: "thinking";
  readonly thinking: string;
  readonly signature?: string;
  readonly redacted?: string;
}

/** Any content block. */
export type ContentBlock = TextBlock | ImageBlock | ToolCallBlock | ToolResultBlock | ThinkingBlock;

/** Who speaks. `tool` messages carry tool results. */
export type Role = "system" | "user" | "assistant" | "tool";

/**
 * A message. `system` messages hold text; `user` messages text and images (and tool results, which
 * providers may place there); `assistant` messages text, thinking and tool calls; `tool` messages tool
 * results. A plain string is shorthand for one text block.
 */
export interface Message {
  readonly role: Role;
  readonly content: string | readonly ContentBlock[];
}

/** A JSON Schema object (the shape sent to the model for tools and structured output). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** A tool the model may call. */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string;
  /** The JSON Schema of the arguments object. */
  readonly inputSchema: JsonSchema;
}

/** How the model may use tools. */
export type ToolChoice = "auto" | "none" | "required" | { readonly name: string };

/** Structured output. `json_schema` is enforced natively where the provider supports it. */
export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | {
      readonly type: "json_schema";
      readonly name: string;
      readonly schema: JsonSchema;
      readonly strict?: boolean;
    };

/** A request to a model, in provider-neutral terms. */
export interface ModelRequest {
  readonly model: string;
  readonly messages: readonly Message[];
  readonly tools?: readonly ToolDefinition[];
  readonly toolChoice?: ToolChoice;
  /** Whether the model may call several tools in one turn (OpenAI `parallel_tool_calls`; Anthropic `disable_parallel_tool_use` inverted). */
  readonly parallelToolCalls?: boolean;
  readonly temperature?: number;
  readonly maxTokens?: number;
  readonly topP?: number;
  readonly stop?: readonly string[];
  readonly responseFormat?: ResponseFormat;
  /** Extended thinking with a token budget (Anthropic); ignored by providers without it. */
  readonly thinking?: { readonly budgetTokens: number };
  /** Prompt caching (Anthropic: breakpoints on the system prompt and the last tool). */
  readonly cache?: boolean;
  /** Provider-specific body fields, merged last (e.g. `{ reasoning_effort: "low" }`). */
  readonly extras?: Readonly<Record<string, unknown>>;
}

/** Why the model stopped. */
export type StopReason =
  | "end_turn"
  | "tool_use"
  | "max_tokens"
  | "stop_sequence"
  | "content_filter"
  | "refusal"
  | "pause_turn"
  | "other";

/**
 * Token usage. `inputTokens` counts the whole prompt, cached parts included; `cacheReadTokens` and
 * `cacheWriteTokens` are the parts of it read from or written to the cache. `outputTokens` includes
 * `reasoningTokens`.
 */
export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
}

/** A model's answer. */
export interface ModelResponse {
  readonly id: string;
  readonly model: string;
  /** Text, thinking and tool-call blocks, in the order the model produced them. */
  readonly content: readonly ContentBlock[];
  readonly stopReason: StopReason;
  /** The provider's own stop reason, unmapped. */
  readonly rawStopReason: string | undefined;
  readonly usage: Usage;
}

/** Usage with every count zero. */
export const ZERO_USAGE: Usage = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
});

/**
 * Adds two usage records.
 *
 * @param a - a usage record.
 * @param b - another.
 * @returns their sum.
 */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  };
}

/**
 * The text of a response (its text blocks joined).
 *
 * @param response - the response.
 * @returns the text, "" if none.
 */
export function textOf(response: Pick<ModelResponse, "content">): string {
  let out = "";
  for (const block of response.content) if (block.type === "text") out += block.text;
  return out;
}

/**
 * The tool calls of a response.
 *
 * @param response - the response.
 * @returns its tool-call blocks, in order.
 */
export function toolCallsOf(response: Pick<ModelResponse, "content">): ToolCallBlock[] {
  return response.content.filter((b): b is ToolCallBlock => b.type === "tool_call");
}

/**
 * An error result for a tool call: what the model gets when a call failed, was refused, rejected or cut
 * off, so it can correct itself.
 *
 * @param call - the call (its id).
 * @param content - what went wrong, for the model.
 * @returns the result block.
 */
export function errorResult(call: Pick<ToolCallBlock, "id">, content: string): ToolResultBlock {
  return { type: "tool_result", toolCallId: call.id, content, isError: true };
}

/**
 * Parses tool-call arguments as the providers do: `{}` for an empty string, the object otherwise, or
 * an error message when the text is not a JSON object.
 *
 * @param raw - the arguments text the model sent.
 * @returns the parsed arguments or the reason they are unusable.
 */
export function parseToolArguments(raw: string): { readonly arguments: unknown; readonly error?: string } {
  if (raw.trim() === "") return { arguments: {} };
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return { arguments: undefined, error: "tool arguments must be a JSON object" };
    }
    return { arguments: value };
  } catch (error) {
    return { arguments: undefined, error: `tool arguments are not valid JSON: ${(error as Error).message}` };
  }
}
