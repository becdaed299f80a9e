/**
 * The OpenAI Chat Completions wire translation, as pure functions: normalized request and messages to the
 * request body, wire messages back to normalized ones (for round trips and stored conversations), and a
 * `chat.completion` to a {@link ModelResponse}. No I/O here; the provider and the stream translator use it.
 *
 * Canonicalisation (what a normalized → wire → normalized round trip does not give back verbatim):
 * - a message's blocks of several tool results become one `tool` message each (and tool results placed in a
 *   `user` message, Anthropic style, become `tool` messages before the rest of that user message);
 * - an assistant message's text comes before its tool calls (the wire keeps them apart);
 * - thinking blocks are not sent (Chat Completions has no reasoning input), nor are `TextBlock.cache`,
 *   `ToolResultBlock.isError`, `ModelRequest.thinking` and `ModelRequest.cache`;
 * - images in a tool result cannot go in a `tool` message: they are sent in a `user` message after the run
 *   of tool messages, introduced by the text "Images from tool call <id>:" (the tool message keeps the text
 *   parts, or `""` when there were only images);
 * - a URL image whose URL is a base64 `data:` URL comes back as a base64 image;
 * - a refusal comes back as text.
 */

import type {
  ChatCompletion,
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartImage,
  ChatCompletionContentPartText,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionToolChoiceOption,
  CompletionUsage,
} from "openai/resources";
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
  type ToolResultBlock,
  type Usage,
} from "../../model/messages.js";
import { ProviderError } from "../ProviderError.js";

/**
 * Which body field carries `ModelRequest.maxTokens`: `max_completion_tokens` (OpenAI's current field, the
 * only one reasoning models accept) or the older `max_tokens` (what many OpenAI-compatible servers such as
 * older vLLM or Ollama versions read).
 */
export type MaxTokensField = "max_completion_tokens" | "max_tokens";

/** Options of {@link toOpenAIRequest}. */
export interface OpenAIRequestOptions {
  /** Whether the body asks for a streamed response (adds `stream: true` and `stream_options.include_usage`). */
  readonly stream: boolean;
  /** The field for `maxTokens`; default `max_completion_tokens`. */
  readonly maxTokensField?: MaxTokensField;
  /** The provider's name, for the errors of a request that cannot be translated; default `openai`. */
  readonly provider?: string;
}

/** Options of the message translations. */
export interface OpenAIMessageOptions {
  /** The provider's name, for the errors of a message that cannot be translated; default `openai`. */
  readonly provider?: string;
}

const DEFAULT_PROVIDER = "openai";

function invalid(provider: string | undefined, message: string): ProviderError {
  return new ProviderError({ kind: "invalid_request", provider: provider ?? DEFAULT_PROVIDER, message });
}

/**
 * Translates a normalized request into a Chat Completions body. Tools, `tool_choice` and
 * `parallel_tool_calls` are only sent with at least one tool (OpenAI rejects them otherwise); `extras` are
 * merged last and win.
 *
 * @param request - the normalized request.
 * @param options - streaming, the max-tokens field and the provider's name.
 * @returns the request body.
 * @throws ProviderError (kind `invalid_request`) when a message cannot be expressed on the wire.
 */
export function toOpenAIRequest(
  request: ModelRequest,
  options: OpenAIRequestOptions & { readonly stream: true },
): ChatCompletionCreateParamsStreaming;
export function toOpenAIRequest(
  request: ModelRequest,
  options: OpenAIRequestOptions & { readonly stream: false },
): ChatCompletionCreateParamsNonStreaming;
export function toOpenAIRequest(
  request: ModelRequest,
  options: OpenAIRequestOptions,
): ChatCompletionCreateParamsStreaming | ChatCompletionCreateParamsNonStreaming;
export function toOpenAIRequest(
  request: ModelRequest,
  options: OpenAIRequestOptions,
): ChatCompletionCreateParamsStreaming | ChatCompletionCreateParamsNonStreaming {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: toOpenAIMessages(request.messages, {
      ...(options.provider !== undefined && { provider: options.provider }),
    }),
  };
  const tools = request.tools ?? [];
  if (tools.length > 0) {
    body.tools = tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
    }));
    if (request.toolChoice !== undefined) body.tool_choice = toOpenAIToolChoice(request.toolChoice);
    if (request.parallelToolCalls !== undefined) body.parallel_tool_calls = request.parallelToolCalls;
  }
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.maxTokens !== undefined)
    body[options.maxTokensField ?? "max_completion_tokens"] = request.maxTokens;
  if (request.stop !== undefined) body.stop = [...request.stop];
  const format = request.responseFormat;
  if (format !== undefined) {
    body.response_format =
      format.type === "json_schema"
        ? {
            type: "json_schema",
            json_schema: {
              name: format.name,
              schema: format.schema,
              ...(format.strict !== undefined && { strict: format.strict }),
            },
          }
        : { type: format.type };
  }
  if (options.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return { ...body, ...request.extras } as unknown as
    | ChatCompletionCreateParamsStreaming
    | ChatCompletionCreateParamsNonStreaming;
}

/**
 * Translates a tool choice.
 *
 * @param choice - the normalized choice.
 * @returns `auto`, `none`, `required` or `{ type: "function", function: { name } }`.
 */
export function toOpenAIToolChoice(choice: ToolChoice): ChatCompletionToolChoiceOption {
  return typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
}

function textPart(block: TextBlock): ChatCompletionContentPartText {
  return { type: "text", text: block.text };
}

function imagePart(block: ImageBlock): ChatCompletionContentPartImage {
  const source = block.source;
  const url = source.kind === "url" ? source.url : `data:${source.mediaType};base64,${source.data}`;
  return { type: "image_url", image_url: { url } };
}

function toolCallPart(block: ToolCallBlock): ChatCompletionMessageToolCall {
  const args = block.rawArguments !== "" ? block.rawArguments : JSON.stringify(block.arguments ?? {});
  return { id: block.id, type: "function", function: { name: block.name, arguments: args } };
}

/**
 * Translates normalized messages into Chat Completions messages (see the file comment for the
 * canonicalisation).
 *
 * @param messages - the normalized messages.
 * @param options - the provider's name, for errors.
 * @returns the wire messages.
 * @throws ProviderError (kind `invalid_request`) for a block a role cannot carry (an image in a system or
 *   assistant message, a tool call outside an assistant message, a `tool` message that is not tool results).
 */
export function toOpenAIMessages(
  messages: readonly Message[],
  options: OpenAIMessageOptions = {},
): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  let pendingImages: ChatCompletionContentPart[] = [];
  const flushImages = () => {
    if (pendingImages.length === 0) return;
    out.push({ role: "user", content: pendingImages });
    pendingImages = [];
  };
  const toolResult = (block: ToolResultBlock) => {
    let content: string | ChatCompletionContentPartText[];
    if (typeof block.content === "string") content = block.content;
    else {
      const texts: ChatCompletionContentPartText[] = [];
      const images: ChatCompletionContentPartImage[] = [];
      for (const part of block.content) {
        if (part.type === "text") texts.push(textPart(part));
        else images.push(imagePart(part));
      }
      if (images.length > 0) {
        pendingImages.push({ type: "text", text: `Images from tool call ${block.toolCallId}:` }, ...images);
      }
      content = texts.length === 0 && images.length > 0 ? "" : texts;
    }
    out.push({ role: "tool", tool_call_id: block.toolCallId, content });
  };
  const provider = options.provider;
  for (const message of messages) {
    const content = message.content;
    switch (message.role) {
      case "system":
        flushImages();
        out.push({
          role: "system",
          content:
            typeof content === "string" ? content : content.map((b) => textOnly(b, "system", provider)),
        });
        break;
      case "user": {
        if (typeof content === "string") {
          flushImages();
          out.push({ role: "user", content });
          break;
        }
        const parts: ChatCompletionContentPart[] = [];
        let results = 0;
        for (const block of content) {
          if (block.type === "tool_result") {
            toolResult(block);
            results += 1;
          } else if (block.type === "text") parts.push(textPart(block));
          else if (block.type === "image") parts.push(imagePart(block));
          else throw invalid(provider, `a user message cannot carry a ${block.type} block`);
        }
        flushImages();
        if (results === 0 || parts.length > 0) out.push({ role: "user", content: parts });
        break;
      }
      case "assistant":
        flushImages();
        out.push(assistantMessage(content, provider));
        break;
      case "tool":
        if (typeof content === "string")
          throw invalid(provider, "a tool message must hold tool_result blocks");
        for (const block of content) {
          if (block.type !== "tool_result") {
            throw invalid(provider, `a tool message cannot carry a ${block.type} block`);
          }
          toolResult(block);
        }
        break;
    }
  }
  flushImages();
  return out;
}

function textOnly(
  block: ContentBlock,
  role: string,
  provider: string | undefined,
): ChatCompletionContentPartText {
  if (block.type !== "text") throw invalid(provider, `a ${role} message cannot carry a ${block.type} block`);
  return textPart(block);
}

function assistantMessage(
  content: string | readonly ContentBlock[],
  provider: string | undefined,
): ChatCompletionAssistantMessageParam {
  if (typeof content === "string") return { role: "assistant", content };
  const texts: ChatCompletionContentPartText[] = [];
  const calls: ChatCompletionMessageToolCall[] = [];
  for (const block of content) {
    if (block.type === "text") texts.push(textPart(block));
    else if (block.type === "tool_call") calls.push(toolCallPart(block));
    else if (block.type !== "thinking") {
      // thinking is dropped on purpose: Chat Completions has no reasoning input
      throw invalid(provider, `an assistant message cannot carry a ${block.type} block`);
    }
  }
  return {
    role: "assistant",
    content: texts.length > 0 ? texts : null,
    ...(calls.length > 0 && { tool_calls: calls }),
  };
}

/**
 * Translates Chat Completions messages back into normalized ones: `system` and `developer` become
 * `system`; each `tool` message becomes a `tool` message with one tool result; an assistant's refusal
 * becomes text.
 *
 * @param messages - the wire messages.
 * @param options - the provider's name, for errors.
 * @returns the normalized messages.
 * @throws ProviderError (kind `invalid_request`) for what the normalized model cannot hold: deprecated
 *   `function` messages, audio and file parts.
 */
export function fromOpenAIMessages(
  messages: readonly ChatCompletionMessageParam[],
  options: OpenAIMessageOptions = {},
): Message[] {
  const provider = options.provider;
  return messages.map((message): Message => {
    switch (message.role) {
      case "system":
      case "developer":
        return { role: "system", content: fromTextContent(message.content) };
      case "user":
        return {
          role: "user",
          content:
            typeof message.content === "string"
              ? message.content
              : message.content.map((part) => fromUserPart(part, provider)),
        };
      case "tool":
        return {
          role: "tool",
          content: [
            {
              type: "tool_result",
              toolCallId: message.tool_call_id,
              content: fromTextContent(message.content),
            },
          ],
        };
      case "assistant":
        return fromAssistantMessage(message);
      default:
        throw invalid(provider, `${message.role} messages are not supported`);
    }
  });
}

function fromTextContent(content: string | readonly ChatCompletionContentPartText[]): string | TextBlock[] {
  return typeof content === "string" ? content : content.map((part) => ({ type: "text", text: part.text }));
}

function fromUserPart(part: ChatCompletionContentPart, provider: string | undefined): TextBlock | ImageBlock {
  if (part.type === "text") return { type: "text", text: part.text };
  if (part.type === "image_url") return { type: "image", source: imageSource(part.image_url.url) };
  throw invalid(provider, `${part.type} content parts are not supported`);
}

function imageSource(url: string): ImageBlock["source"] {
  const marker = ";base64,";
  const at = url.indexOf(marker);
  if (url.startsWith("data:") && at > 5) {
    return { kind: "base64", mediaType: url.slice(5, at), data: url.slice(at + marker.length) };
  }
  return { kind: "url", url };
}

function fromAssistantMessage(message: ChatCompletionAssistantMessageParam): Message {
  const calls = message.tool_calls ?? [];
  const refusal = message.refusal ?? "";
  const content = message.content ?? null;
  if (typeof content === "string" && calls.length === 0 && refusal === "")
    return { role: "assistant", content };
  const blocks: ContentBlock[] = [];
  if (typeof content === "string") blocks.push({ type: "text", text: content });
  else if (content !== null) {
    for (const part of content) {
      blocks.push({ type: "text", text: part.type === "text" ? part.text : part.refusal });
    }
  }
  if (refusal !== "") blocks.push({ type: "text", text: refusal });
  for (const call of calls) blocks.push(fromToolCall(call));
  return { role: "assistant", content: blocks };
}

/**
 * Translates a wire tool call (a custom tool call's free-form input is treated as its arguments text).
 *
 * @param call - the wire tool call.
 * @returns the tool-call block, with `argumentsError` when the arguments are not a JSON object.
 */
export function fromToolCall(call: ChatCompletionMessageToolCall): ToolCallBlock {
  const name = call.type === "function" ? call.function.name : call.custom.name;
  const rawArguments = call.type === "function" ? call.function.arguments : call.custom.input;
  const parsed = parseToolArguments(rawArguments);
  return {
    type: "tool_call",
    id: call.id,
    name,
    arguments: parsed.arguments,
    rawArguments,
    ...(parsed.error !== undefined && { argumentsError: parsed.error }),
  };
}

/**
 * Maps a `finish_reason`: stop → end_turn, tool_calls → tool_use, length → max_tokens,
 * content_filter → content_filter, anything else (function_call, a compatible server's own) → other.
 *
 * @param reason - the wire finish reason.
 * @returns the normalized stop reason.
 */
export function fromOpenAIFinishReason(reason: string | null | undefined): StopReason {
  switch (reason) {
    case "stop":
      return "end_turn";
    case "tool_calls":
      return "tool_use";
    case "length":
      return "max_tokens";
    case "content_filter":
      return "content_filter";
    default:
      return "other";
  }
}

/**
 * Maps usage: `inputTokens` is `prompt_tokens` (cached tokens included), `cacheReadTokens` is
 * `prompt_tokens_details.cached_tokens`, `cacheWriteTokens` is 0 (OpenAI caches implicitly, at no extra
 * cost), `outputTokens` is `completion_tokens` (reasoning included) and `reasoningTokens` is
 * `completion_tokens_details.reasoning_tokens`. Missing details (common on compatible servers) count 0.
 *
 * @param usage - the wire usage, if any.
 * @returns the normalized usage.
 */
export function fromOpenAIUsage(usage: CompletionUsage | null | undefined): Usage {
  return {
    inputTokens: usage?.prompt_tokens ?? 0,
    outputTokens: usage?.completion_tokens ?? 0,
    cacheReadTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/**
 * Translates a `chat.completion` (its first choice) into a response: the text (a refusal is text too, with
 * stop reason `refusal`), then the tool calls with parsed arguments; an empty text is no block.
 *
 * @param completion - the completion.
 * @param options - the provider's name, for errors.
 * @returns the normalized response.
 * @throws ProviderError (kind `server`) when the completion has no choice.
 */
export function fromOpenAICompletion(
  completion: ChatCompletion,
  options: OpenAIMessageOptions = {},
): ModelResponse {
  const choice = completion.choices.find((c) => c.index === 0) ?? completion.choices[0];
  if (choice === undefined) {
    throw new ProviderError({
      kind: "server",
      provider: options.provider ?? DEFAULT_PROVIDER,
      message: "the completion has no choices",
    });
  }
  const { message } = choice;
  const refusal = message.refusal ?? "";
  const text = (message.content ?? "") + refusal;
  const content: ContentBlock[] = [];
  if (text !== "") content.push({ type: "text", text });
  for (const call of message.tool_calls ?? []) content.push(fromToolCall(call));
  return {
    id: completion.id,
    model: completion.model,
    content,
    stopReason: refusal !== "" ? "refusal" : fromOpenAIFinishReason(choice.finish_reason),
    rawStopReason: choice.finish_reason ?? undefined,
    usage: fromOpenAIUsage(completion.usage),
  };
}
