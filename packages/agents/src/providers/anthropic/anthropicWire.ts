/**
 * Pure translation between the normalized model and the Anthropic Messages wire format: requests
 * (messages, system prompt, tools, tool choice, thinking, prompt caching), responses (content, stop
 * reason, usage) and the message list both ways, for round trips.
 *
 * Canonicalisation (normalized → wire → normalized returns the input when it is already canonical):
 * - System messages, wherever they stand, become the top-level `system`: a single system message with
 *   string content stays a string; otherwise every system message contributes text blocks, in order
 *   (a string becomes one block). On the way back the `system` becomes ONE system message, first.
 * - Consecutive same-role messages are NOT merged: the Messages API itself combines consecutive turns
 *   of one role, so they are sent as they are and come back as they were.
 * - `tool` messages become `user` messages with `tool_result` blocks (never "Tool result:" text); a wire
 *   `user` message whose blocks are all `tool_result` comes back as a `tool` message.
 * - `cache: true` ↔ `cache_control: {type: "ephemeral"}`; `cache: false` is the same as absent.
 * - Tool calls are sent as `tool_use` with `input` = the parsed arguments; on the way back
 *   `rawArguments` is `JSON.stringify(input)`. A call whose arguments did not parse is sent with
 *   `input: {}` (the API only accepts an object), the one lossy case.
 * - Thinking is sent back unchanged with its `signature` (absent ↔ `""`); `redacted` ↔
 *   `redacted_thinking` (its `thinking` text is `""`).
 * - Wire blocks without a normalized counterpart (documents, server tools, citations) are dropped.
 *
 * `responseFormat` is not sent: the Messages API has no `json_schema` response mode here, so the agent
 * layer obtains structured output by prompting and parsing, and no unknown field reaches the API.
 */
import type {
  Message as AnthropicMessage,
  ContentBlock as AnthropicResponseBlock,
  ToolChoice as AnthropicToolChoice,
  Base64ImageSource,
  ContentBlockParam,
  ImageBlockParam,
  MessageParam,
  TextBlockParam,
  Tool,
  ToolResultBlockParam,
} from "@anthropic-ai/sdk/resources/messages";
import {
  type ContentBlock,
  type ImageBlock,
  type Message,
  type ModelRequest,
  type ModelResponse,
  parseToolArguments,
  type StopReason,
  type TextBlock,
  type ToolCallBlock,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultBlock,
  type Usage,
} from "../../model/messages.js";

/** `max_tokens` sent when the request has none (the Messages API requires it). */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

const EPHEMERAL = { type: "ephemeral" } as const;

/** The body of a Messages request as this provider builds it (plus any `extras`). */
export interface AnthropicRequestBody {
  model: string;
  max_tokens: number;
  messages: MessageParam[];
  system?: string | TextBlockParam[];
  tools?: Tool[];
  tool_choice?: AnthropicToolChoice;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  thinking?: { type: "enabled"; budget_tokens: number };
  stream?: true;
}

/** The body of a count_tokens request. */
export interface AnthropicCountTokensBody {
  model: string;
  messages: MessageParam[];
  system?: string | TextBlockParam[];
  tools?: Tool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: "enabled"; budget_tokens: number };
}

/** Options of {@link toAnthropicRequest}. */
export interface AnthropicRequestOptions {
  /** Adds `stream: true` (set after `extras`, which cannot change it). */
  readonly stream?: boolean;
  /** `max_tokens` when the request has none; default {@link ANTHROPIC_DEFAULT_MAX_TOKENS}. */
  readonly defaultMaxTokens?: number;
}

/** A message list on the wire: the top-level system prompt and the turns. */
export interface AnthropicWireMessages {
  readonly system: string | TextBlockParam[] | undefined;
  readonly messages: MessageParam[];
}

/** A usage record as Anthropic sends it (every field may be absent or null in a stream delta). */
export interface AnthropicUsageLike {
  readonly input_tokens?: number | null | undefined;
  readonly output_tokens?: number | null | undefined;
  readonly cache_read_input_tokens?: number | null | undefined;
  readonly cache_creation_input_tokens?: number | null | undefined;
  readonly output_tokens_details?:
    | { readonly thinking_tokens?: number | null | undefined }
    | null
    | undefined;
}

/**
 * Builds the Messages request body.
 *
 * `max_tokens` is `request.maxTokens`, else the default (4096), plus the thinking budget when thinking
 * is on (the API requires `max_tokens` > `budget_tokens`). With `request.cache`, `cache_control` goes on
 * the last system block and on the last tool only. `extras` are merged last (only `stream` is ours).
 *
 * @param request - the normalized request.
 * @param options - streaming and the default `max_tokens`.
 * @returns the body to send.
 * @throws TypeError when a message cannot be expressed on the wire (see {@link toAnthropicMessages}).
 */
export function toAnthropicRequest(
  request: ModelRequest,
  options: AnthropicRequestOptions = {},
): AnthropicRequestBody {
  const base = toAnthropicCountTokensRequest(request);
  const defaultMax = options.defaultMaxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS;
  const body: AnthropicRequestBody = {
    ...base,
    max_tokens:
      request.maxTokens ?? (request.thinking ? request.thinking.budgetTokens + defaultMax : defaultMax),
  };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = [...request.stop];
  const { stream: _ours, ...extras } = request.extras ?? {};
  const merged: AnthropicRequestBody = { ...body, ...extras };
  if (options.stream === true) merged.stream = true;
  return merged;
}

/**
 * Builds the count_tokens request body: the same translation as {@link toAnthropicRequest} without
 * `max_tokens`, sampling parameters, stop sequences and `extras` (which that endpoint does not take).
 *
 * @param request - the normalized request.
 * @returns the body to send.
 * @throws TypeError when a message cannot be expressed on the wire.
 */
export function toAnthropicCountTokensRequest(request: ModelRequest): AnthropicCountTokensBody {
  const { system, messages } = toAnthropicMessages(request.messages);
  const cache = request.cache === true;
  const body: AnthropicCountTokensBody = { model: request.model, messages };
  const cachedSystem = cache ? cacheLastSystemBlock(system) : system;
  if (cachedSystem !== undefined) body.system = cachedSystem;
  if (request.tools !== undefined && request.tools.length > 0)
    body.tools = toAnthropicTools(request.tools, cache);
  const choice = toAnthropicToolChoice(request.toolChoice, request.parallelToolCalls);
  if (choice !== undefined) body.tool_choice = choice;
  if (request.thinking) body.thinking = { type: "enabled", budget_tokens: request.thinking.budgetTokens };
  return body;
}

function cacheLastSystemBlock(system: string | TextBlockParam[] | undefined): TextBlockParam[] | undefined {
  if (system === undefined) return undefined;
  const blocks: TextBlockParam[] =
    typeof system === "string" ? [{ type: "text", text: system }] : [...system];
  const last = blocks.at(-1);
  if (last !== undefined) blocks[blocks.length - 1] = { ...last, cache_control: EPHEMERAL };
  return blocks;
}

function toAnthropicTools(tools: readonly ToolDefinition[], cache: boolean): Tool[] {
  return tools.map((tool, i) => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.inputSchema as Tool.InputSchema,
    ...(cache && i === tools.length - 1 && { cache_control: EPHEMERAL }),
  }));
}

/**
 * Translates the tool choice; `parallelToolCalls: false` becomes `disable_parallel_tool_use: true`
 * (on `{type: "auto"}` when no choice is given; `none` has no such flag).
 *
 * @param choice - the normalized choice.
 * @param parallel - whether several calls are allowed in one turn.
 * @returns the wire `tool_choice`, or undefined when nothing needs saying.
 */
export function toAnthropicToolChoice(
  choice: ToolChoice | undefined,
  parallel: boolean | undefined,
): AnthropicToolChoice | undefined {
  if (choice === "none") return { type: "none" };
  const serial = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallel === false ? { type: "auto", ...serial } : undefined;
  if (choice === "auto") return { type: "auto", ...serial };
  if (choice === "required") return { type: "any", ...serial };
  return { type: "tool", name: choice.name, ...serial };
}

/**
 * Translates normalized messages to the wire (see the canonicalisation rules atop this file).
 *
 * @param messages - the conversation.
 * @returns the top-level system prompt and the turns.
 * @throws TypeError when a system message holds non-text blocks or a tool message has string content.
 */
export function toAnthropicMessages(messages: readonly Message[]): AnthropicWireMessages {
  const systemMessages: Message[] = [];
  const turns: MessageParam[] = [];
  for (const message of messages) {
    if (message.role === "system") systemMessages.push(message);
    else turns.push(toAnthropicTurn(message));
  }
  return { system: toAnthropicSystem(systemMessages), messages: turns };
}

function toAnthropicSystem(messages: readonly Message[]): string | TextBlockParam[] | undefined {
  const [first] = messages;
  if (first === undefined) return undefined;
  if (messages.length === 1 && typeof first.content === "string") return first.content;
  const blocks: TextBlockParam[] = [];
  for (const message of messages) {
    if (typeof message.content === "string") {
      blocks.push({ type: "text", text: message.content });
      continue;
    }
    for (const block of message.content) {
      if (block.type !== "text")
        throw new TypeError(`a system message may only hold text, not ${block.type}`);
      blocks.push(toAnthropicText(block));
    }
  }
  return blocks;
}

function toAnthropicTurn(message: Message): MessageParam {
  if (message.role === "tool") {
    if (typeof message.content === "string") {
      throw new TypeError("a tool message must hold tool_result blocks, not a string");
    }
    return { role: "user", content: message.content.map(toAnthropicBlock) };
  }
  const role = message.role === "assistant" ? "assistant" : "user";
  return {
    role,
    content: typeof message.content === "string" ? message.content : message.content.map(toAnthropicBlock),
  };
}

function toAnthropicText(block: TextBlock): TextBlockParam {
  return { type: "text", text: block.text, ...(block.cache === true && { cache_control: EPHEMERAL }) };
}

function toAnthropicImage(block: ImageBlock): ImageBlockParam {
  const source = block.source;
  return source.kind === "base64"
    ? {
        type: "image",
        // passed through unchecked: the API validates the media type
        source: {
          type: "base64",
          media_type: source.mediaType as Base64ImageSource["media_type"],
          data: source.data,
        },
      }
    : { type: "image", source: { type: "url", url: source.url } };
}

function toolInput(block: ToolCallBlock): unknown {
  if (typeof block.arguments === "object" && block.arguments !== null && !Array.isArray(block.arguments)) {
    return block.arguments;
  }
  const parsed = parseToolArguments(block.rawArguments);
  return parsed.error === undefined ? parsed.arguments : {};
}

function toAnthropicToolResult(block: ToolResultBlock): ToolResultBlockParam {
  return {
    type: "tool_result",
    tool_use_id: block.toolCallId,
    content:
      typeof block.content === "string"
        ? block.content
        : block.content.map((b) => (b.type === "text" ? toAnthropicText(b) : toAnthropicImage(b))),
    ...(block.isError !== undefined && { is_error: block.isError }),
  };
}

function toAnthropicBlock(block: ContentBlock): ContentBlockParam {
  switch (block.type) {
    case "text":
      return toAnthropicText(block);
    case "image":
      return toAnthropicImage(block);
    case "tool_call":
      return { type: "tool_use", id: block.id, name: block.name, input: toolInput(block) };
    case "tool_result":
      return toAnthropicToolResult(block);
    case "thinking":
      return block.redacted !== undefined
        ? { type: "redacted_thinking", data: block.redacted }
        : { type: "thinking", thinking: block.thinking, signature: block.signature ?? "" };
  }
}

/**
 * Translates a wire message list back to normalized messages (the inverse of
 * {@link toAnthropicMessages}, up to the canonicalisation atop this file).
 *
 * @param wire - the top-level system prompt and the turns.
 * @returns the conversation, the system message first.
 */
export function fromAnthropicMessages(wire: {
  readonly system?: string | readonly TextBlockParam[] | undefined;
  readonly messages: readonly MessageParam[];
}): Message[] {
  const out: Message[] = [];
  if (wire.system !== undefined) out.push(fromAnthropicSystem(wire.system));
  for (const message of wire.messages) {
    if (message.role === "system") {
      out.push(fromAnthropicSystem(message.content));
      continue;
    }
    if (typeof message.content === "string") {
      out.push({ role: message.role, content: message.content });
      continue;
    }
    const content = fromAnthropicBlocks(message.content);
    const toolResults =
      message.role === "user" && content.length > 0 && content.every((b) => b.type === "tool_result");
    out.push({ role: toolResults ? "tool" : message.role, content });
  }
  return out;
}

function fromAnthropicSystem(system: string | readonly TextBlockParam[]): Message {
  return {
    role: "system",
    content: typeof system === "string" ? system : system.map(fromAnthropicText),
  };
}

function fromAnthropicText(block: { readonly text: string; readonly cache_control?: unknown }): TextBlock {
  return {
    type: "text",
    text: block.text,
    ...(block.cache_control !== undefined && block.cache_control !== null && { cache: true }),
  };
}

function fromAnthropicImage(block: ImageBlockParam): ImageBlock | undefined {
  const source = block.source;
  if (source.type === "base64") {
    return { type: "image", source: { kind: "base64", mediaType: source.media_type, data: source.data } };
  }
  if (source.type === "url") return { type: "image", source: { kind: "url", url: source.url } };
  return undefined;
}

/**
 * Builds a normalized tool call from a `tool_use` block's `input`. An object is the arguments; a string
 * (malformed JSON the loopback server sends unstreamed) is parsed like streamed arguments, so a bad one
 * yields `arguments: undefined` and `argumentsError` instead of a failure.
 *
 * @param id - the call id.
 * @param name - the tool name.
 * @param input - the `input` field.
 * @returns the tool-call block.
 */
export function fromAnthropicToolInput(id: string, name: string, input: unknown): ToolCallBlock {
  const rawArguments = typeof input === "string" ? input : JSON.stringify(input ?? {});
  const parsed = parseToolArguments(rawArguments);
  return {
    type: "tool_call",
    id,
    name,
    arguments: parsed.arguments,
    rawArguments,
    ...(parsed.error !== undefined && { argumentsError: parsed.error }),
  };
}

function fromAnthropicToolResult(block: ToolResultBlockParam): ToolResultBlock {
  const content = block.content;
  const blocks: (TextBlock | ImageBlock)[] = [];
  if (content !== undefined && typeof content !== "string") {
    for (const b of content) {
      if (b.type === "text") blocks.push(fromAnthropicText(b));
      else if (b.type === "image") {
        const image = fromAnthropicImage(b);
        if (image !== undefined) blocks.push(image);
      }
    }
  }
  return {
    type: "tool_result",
    toolCallId: block.tool_use_id,
    content: content === undefined ? "" : typeof content === "string" ? content : blocks,
    ...(block.is_error !== undefined && block.is_error !== null && { isError: block.is_error }),
  };
}

function fromAnthropicBlock(block: ContentBlockParam | AnthropicResponseBlock): ContentBlock | undefined {
  switch (block.type) {
    case "text":
      return fromAnthropicText(block);
    case "image":
      return fromAnthropicImage(block);
    case "tool_use":
      return fromAnthropicToolInput(block.id, block.name, block.input);
    case "tool_result":
      return fromAnthropicToolResult(block);
    case "thinking":
      return {
        type: "thinking",
        thinking: block.thinking,
        ...(block.signature !== "" && { signature: block.signature }),
      };
    case "redacted_thinking":
      return { type: "thinking", thinking: "", redacted: block.data };
    default:
      return undefined;
  }
}

function fromAnthropicBlocks(
  blocks: readonly (ContentBlockParam | AnthropicResponseBlock)[],
): ContentBlock[] {
  const out: ContentBlock[] = [];
  for (const block of blocks) {
    const normalized = fromAnthropicBlock(block);
    if (normalized !== undefined) out.push(normalized);
  }
  return out;
}

const STOP_REASONS: Readonly<Record<string, StopReason>> = {
  end_turn: "end_turn",
  tool_use: "tool_use",
  max_tokens: "max_tokens",
  stop_sequence: "stop_sequence",
  refusal: "refusal",
  pause_turn: "pause_turn",
};

/**
 * Maps Anthropic's stop reason; anything unknown (e.g. `model_context_window_exceeded`) is `other`.
 *
 * @param reason - the wire `stop_reason`.
 * @returns the normalized stop reason.
 */
export function fromAnthropicStopReason(reason: string | null | undefined): StopReason {
  return (
    (reason !== null && reason !== undefined && Object.hasOwn(STOP_REASONS, reason)
      ? STOP_REASONS[reason]
      : undefined) ?? "other"
  );
}

/**
 * Normalizes usage: `inputTokens` = `input_tokens` + cache reads + cache writes (Anthropic reports them
 * disjoint; the normalized input includes the cached parts). `reasoningTokens` is
 * `output_tokens_details.thinking_tokens` when the API reports it, else 0.
 *
 * @param usage - the wire usage.
 * @returns the normalized usage.
 */
export function fromAnthropicUsage(usage: AnthropicUsageLike | null | undefined): Usage {
  const cacheReadTokens = usage?.cache_read_input_tokens ?? 0;
  const cacheWriteTokens = usage?.cache_creation_input_tokens ?? 0;
  return {
    inputTokens: (usage?.input_tokens ?? 0) + cacheReadTokens + cacheWriteTokens,
    outputTokens: usage?.output_tokens ?? 0,
    cacheReadTokens,
    cacheWriteTokens,
    reasoningTokens: usage?.output_tokens_details?.thinking_tokens ?? 0,
  };
}

/**
 * Translates a Messages API response.
 *
 * @param message - the `message` object.
 * @returns the normalized response.
 */
export function fromAnthropicMessage(message: AnthropicMessage): ModelResponse {
  return {
    id: message.id,
    model: message.model,
    content: fromAnthropicBlocks(message.content),
    stopReason: fromAnthropicStopReason(message.stop_reason),
    rawStopReason: message.stop_reason ?? undefined,
    usage: fromAnthropicUsage(message.usage),
  };
}
