/**
 * Normandy's messages in the GenAI conventions' content format (`gen-ai-input-messages.json`,
 * `gen-ai-output-messages.json`, `gen-ai-system-instructions.json`): messages of typed parts, serialized
 * to JSON strings for span attributes. Only used when content capture is on.
 */
import type { ContentBlock, Message } from "@normandy/agents";

/** A message part in the conventions' format. */
export type GenAiPart = Readonly<Record<string, unknown>> & { readonly type: string };

/** A message in the conventions' format. */
export interface GenAiMessage {
  readonly role: string;
  readonly parts: readonly GenAiPart[];
  readonly finish_reason?: string;
}

function partsOf(content: string | readonly ContentBlock[]): GenAiPart[] {
  if (typeof content === "string") return [{ type: "text", content }];
  return content.map(partOf);
}

function partOf(block: ContentBlock): GenAiPart {
  switch (block.type) {
    case "text":
      return { type: "text", content: block.text };
    case "thinking":
      return { type: "reasoning", content: block.thinking };
    case "tool_call":
      return {
        type: "tool_call",
        id: block.id,
        name: block.name,
        arguments: block.arguments ?? block.rawArguments,
      };
    case "tool_result":
      return {
        type: "tool_call_response",
        id: block.toolCallId,
        response: typeof block.content === "string" ? block.content : block.content.map(partOf),
      };
    case "image":
      return block.source.kind === "base64"
        ? { type: "blob", modality: "image", mime_type: block.source.mediaType, content: block.source.data }
        : { type: "uri", modality: "image", uri: block.source.url };
  }
}

/**
 * A request's messages as `gen_ai.system_instructions` (the system messages' parts) and
 * `gen_ai.input.messages` (the rest), JSON.
 *
 * @param messages - the request's messages.
 * @returns the two attribute values (`system` undefined when there is no system message).
 */
export function inputAttributes(messages: readonly Message[]): {
  readonly system: string | undefined;
  readonly input: string;
} {
  const system: GenAiPart[] = [];
  const input: GenAiMessage[] = [];
  for (const message of messages) {
    if (message.role === "system") system.push(...partsOf(message.content));
    else input.push({ role: message.role, parts: partsOf(message.content) });
  }
  return { system: system.length === 0 ? undefined : JSON.stringify(system), input: JSON.stringify(input) };
}

/**
 * A response's content as `gen_ai.output.messages`, JSON.
 *
 * @param content - the response's content blocks.
 * @param finishReason - why the model stopped.
 * @returns the attribute value.
 */
export function outputAttribute(content: readonly ContentBlock[], finishReason: string | undefined): string {
  const message: GenAiMessage = {
    role: "assistant",
    parts: partsOf(content),
    ...(finishReason !== undefined && { finish_reason: finishReason }),
  };
  return JSON.stringify([message]);
}
