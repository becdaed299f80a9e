/**
 * Token counting for context management, incremental: each message's count is cached, and a
 * conversation that only grew since the last count (the same live array, longer) costs O(new
 * messages). The encoder is pluggable: tiktoken encodings, or Normandy's estimate (4 characters a token).
 */
import type { ContentBlock, Message, ToolDefinition } from "../model/messages.js";

/** Counts the tokens of a text. */
export interface TokenEncoder {
  /** The encoding's name (`o200k_base`, `cl100k_base`, `estimate`). */
  readonly name: string;
  count(text: string): number;
}

/** Normandy's estimate: `max(1, floor(length / 4))` for non-empty text. */
export const estimateEncoder: TokenEncoder = {
  name: "estimate",
  count: (text) => (text.length === 0 ? 0 : Math.max(1, Math.floor(text.length / 4))),
};

/** Options of a {@link TokenCounter}. */
export interface TokenCounterOptions {
  /** Tokens added per message for its framing (default 4; Normandy's estimate used 10). */
  readonly perMessage?: number;
  /** Tokens counted for an image block (default 1,000). */
  readonly perImage?: number;
}

interface ConversationCache {
  counted: number;
  total: number;
  last: Message | undefined;
}

/**
 * Counts tokens of messages, tool definitions and requests, with per-message caching.
 *
 * @example
 * ```ts
 * const counter = new TokenCounter(estimateEncoder);
 * counter.countConversation(memory.messages()); // O(all) once, then O(new messages) per step
 * ```
 */
export class TokenCounter {
  readonly encoder: TokenEncoder;
  readonly #perMessage: number;
  readonly #perImage: number;
  readonly #messages = new WeakMap<Message, number>();
  readonly #conversations = new WeakMap<readonly Message[], ConversationCache>();
  readonly #tools = new WeakMap<readonly ToolDefinition[], number>();
  /** Recent texts (a system prompt is usually the same from one step to the next). */
  readonly #texts = new Map<string, number>();

  /**
   * @param encoder - the text encoder.
   * @param options - per-message and per-image overheads.
   */
  constructor(encoder: TokenEncoder, options: TokenCounterOptions = {}) {
    this.encoder = encoder;
    this.#perMessage = options.perMessage ?? 4;
    this.#perImage = options.perImage ?? 1000;
  }

  /**
   * Counts a text.
   *
   * @param text - the text.
   * @returns its tokens.
   */
  countText(text: string): number {
    const cached = this.#texts.get(text);
    if (cached !== undefined) return cached;
    const n = this.encoder.count(text);
    if (this.#texts.size >= 16) this.#texts.delete(this.#texts.keys().next().value as string);
    this.#texts.set(text, n);
    return n;
  }

  /**
   * Counts one message (cached per message object: messages are treated as immutable).
   *
   * @param message - the message.
   * @returns its tokens, framing included.
   */
  countMessage(message: Message): number {
    const cached = this.#messages.get(message);
    if (cached !== undefined) return cached;
    let n = this.#perMessage;
    if (typeof message.content === "string") n += this.encoder.count(message.content);
    else for (const block of message.content) n += this.#block(block);
    this.#messages.set(message, n);
    return n;
  }

  /**
   * Counts a conversation. When `messages` is the same array as last time and only grew, only the new
   * messages are counted; any other change recounts (each message still comes from the cache).
   *
   * @param messages - the conversation (e.g. `memory.messages()`, a live view).
   * @returns the total tokens.
   */
  countConversation(messages: readonly Message[]): number {
    let cache = this.#conversations.get(messages);
    const grewOnly =
      cache !== undefined &&
      messages.length >= cache.counted &&
      (cache.counted === 0 || messages[cache.counted - 1] === cache.last);
    if (cache === undefined || !grewOnly) {
      cache = { counted: 0, total: 0, last: undefined };
      this.#conversations.set(messages, cache);
    }
    for (let i = cache.counted; i < messages.length; i++)
      cache.total += this.countMessage(messages[i] as Message);
    cache.counted = messages.length;
    cache.last = messages[messages.length - 1];
    return cache.total;
  }

  /**
   * Counts tool definitions as sent to the model (cached per array).
   *
   * @param tools - the definitions.
   * @returns their tokens.
   */
  countTools(tools: readonly ToolDefinition[]): number {
    const cached = this.#tools.get(tools);
    if (cached !== undefined) return cached;
    let n = 0;
    for (const tool of tools)
      n +=
        this.encoder.count(`${tool.name}\n${tool.description}\n${JSON.stringify(tool.inputSchema)}`) +
        this.#perMessage;
    this.#tools.set(tools, n);
    return n;
  }

  #block(block: ContentBlock): number {
    switch (block.type) {
      case "text":
        return this.encoder.count(block.text);
      case "thinking":
        return this.encoder.count(block.thinking);
      case "image":
        return this.#perImage;
      case "tool_call":
        return this.encoder.count(block.name) + this.encoder.count(block.rawArguments);
      case "tool_result":
        if (typeof block.content === "string") return this.encoder.count(block.content);
        return block.content.reduce(
          (n, b) => n + (b.type === "text" ? this.encoder.count(b.text) : this.#perImage),
          0,
        );
    }
  }
}
