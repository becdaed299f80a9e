/**
 * Keeps a conversation inside the model's context window, before every model call (not once per run):
 * counts system prompt, tool definitions and messages, and when they exceed the window minus the
 * reserved output tokens, trims by strategy — always at boundaries that keep tool calls with their
 * results.
 */
import type { ConversationMemory } from "../memory/ConversationMemory.js";
import { safeStart } from "../memory/ConversationMemory.js";
import type { Message, ToolDefinition } from "../model/messages.js";
import type { Provider } from "../providers/Provider.js";
import { TokenCounter, type TokenEncoder } from "../tokens/TokenCounter.js";
import { compressConversation } from "./summarizer.js";

/**
 * How to make room:
 * - `oldest_first`: drop the oldest messages.
 * - `sliding_window`: keep the opening message (the task) and drop the oldest after it. (Normandy made
 *   this identical to oldest_first; pinning the task is what users of peer frameworks ask for.)
 * - `summarize`: summarize the older messages, keeping about half the budget (at least 5 messages)
 *   verbatim; falls back to oldest_first if the summary still does not fit.
 */
export type ContextStrategy = "oldest_first" | "sliding_window" | "summarize";

/** Options of a {@link ContextWindowManager}. */
export interface ContextWindowOptions {
  /** Counts tokens. */
  readonly counter: TokenCounter;
  /** The window when the model's is unknown (default 100,000). */
  readonly maxTokens?: number;
  /** Tokens kept free for the answer (default 4,096; a request's larger `maxTokens` wins). */
  readonly reservedTokens?: number;
  readonly strategy?: ContextStrategy;
  /** The model's context window, e.g. from the model catalog. */
  readonly contextWindowOf?: (model: string) => number | undefined;
  /** For `summarize`: the provider and model that write summaries. */
  readonly summarizer?: { readonly provider: Provider; readonly model: string };
}

/** What the prompt of the next call holds besides the conversation. */
export interface PromptFrame {
  readonly model: string;
  readonly system?: string;
  readonly tools?: readonly ToolDefinition[];
  /** The request's output limit. */
  readonly maxTokens?: number;
  readonly signal?: AbortSignal;
}

/**
 * What {@link ContextWindowManager.fit} did. When a cheap upper bound already fits, `before` and `after`
 * are that bound (the exact count was not needed).
 */
export interface FitResult {
  readonly budget: number;
  readonly before: number;
  readonly after: number;
  /** Messages removed (summarized ones included). */
  readonly removed: number;
  readonly summarized: boolean;
}

const byteBound: TokenEncoder = { name: "byte-bound", count: (text) => text.length * 3 };

/** Even the newest message does not fit in the window. */
export class ContextOverflowError extends Error {
  readonly budget: number;
  readonly needed: number;

  /**
   * @param budget - the tokens available.
   * @param needed - the tokens of the smallest prompt that could be sent.
   */
  constructor(budget: number, needed: number) {
    super(`the prompt needs at least ${needed} tokens but the context window leaves ${budget}`);
    this.name = "ContextOverflowError";
    this.budget = budget;
    this.needed = needed;
  }
}

/**
 * The context window manager.
 *
 * @example
 * ```ts
 * const windows = new ContextWindowManager({ counter, strategy: "summarize", summarizer: { provider, model: "claude-haiku-4-5" } });
 * await windows.fit(memory, { model, system, tools }); // before every model call
 * ```
 */
export class ContextWindowManager {
  readonly #counter: TokenCounter;
  /** An upper bound of any byte-level tokenizer's count: a UTF-16 unit is at most 3 UTF-8 bytes, a token at least 1. */
  readonly #bound: TokenCounter;
  readonly #maxTokens: number;
  readonly #reserved: number;
  readonly #strategy: ContextStrategy;
  readonly #contextWindowOf: (model: string) => number | undefined;
  readonly #summarizer: ContextWindowOptions["summarizer"];

  /** @param options - counter, window, reserve, strategy, catalog lookup, summarizer. */
  constructor(options: ContextWindowOptions) {
    this.#counter = options.counter;
    this.#bound = new TokenCounter(byteBound);
    this.#maxTokens = options.maxTokens ?? 100_000;
    this.#reserved = options.reservedTokens ?? 4096;
    this.#strategy = options.strategy ?? "oldest_first";
    this.#contextWindowOf = options.contextWindowOf ?? (() => undefined);
    this.#summarizer = options.summarizer;
  }

  /** The strategy in use. */
  get strategy(): ContextStrategy {
    return this.#strategy;
  }

  /**
   * The tokens the prompt may use for a model: its window minus the reserved output.
   *
   * @param model - the model id.
   * @param maxTokens - the request's output limit.
   * @returns the budget.
   */
  budget(model: string, maxTokens?: number): number {
    const window = this.#contextWindowOf(model) ?? this.#maxTokens;
    return window - Math.max(this.#reserved, maxTokens ?? 0);
  }

  /**
   * The prompt's tokens: system prompt, tool definitions and messages.
   *
   * @param messages - the conversation.
   * @param frame - system prompt and tools.
   * @returns the count.
   */
  count(messages: readonly Message[], frame: Omit<PromptFrame, "model">): number {
    return this.#fixed(frame) + this.#counter.countConversation(messages);
  }

  /**
   * Makes the conversation fit the model's window, changing `memory` in place when needed.
   *
   * @param memory - the conversation.
   * @param frame - model, system prompt, tools, output limit, signal.
   * @returns what was done.
   * @throws ContextOverflowError when not even the newest message fits; ProviderError from a summary call.
   */
  async fit(memory: ConversationMemory, frame: PromptFrame): Promise<FitResult> {
    const budget = this.budget(frame.model, frame.maxTokens);
    const bound = this.#upperBound(memory, frame);
    if (bound <= budget) return { budget, before: bound, after: bound, removed: 0, summarized: false };
    const before = this.count(memory.messages(), frame);
    if (before <= budget) return { budget, before, after: before, removed: 0, summarized: false };
    const sizeBefore = memory.size;
    let summarized = false;
    if (this.#strategy === "summarize" && this.#summarizer !== undefined) {
      const keep = Math.max(5, this.#suffixWithin(memory.messages(), (budget - this.#fixed(frame)) / 2));
      const done = await compressConversation(memory, this.#summarizer.provider, {
        model: this.#summarizer.model,
        keepRecent: keep,
        ...(frame.signal !== undefined && { signal: frame.signal }),
      });
      summarized = done > 0;
    }
    if (this.count(memory.messages(), frame) > budget)
      this.#dropOldest(memory, frame, budget, this.#strategy === "sliding_window");
    const after = this.count(memory.messages(), frame);
    return { budget, before, after, removed: sizeBefore - memory.size + (summarized ? 1 : 0), summarized };
  }

  /**
   * Whether the prompt surely fits the window: an upper bound of its tokens, counted without tokenizing,
   * is within the budget (then {@link ContextWindowManager.fit} would change nothing). Most prompts are
   * far below the window, so this settles most calls synchronously.
   *
   * @param memory - the conversation.
   * @param frame - model, system prompt, tools, output limit.
   * @returns true when it surely fits; false when only counting its tokens can tell.
   */
  surelyFits(memory: ConversationMemory, frame: PromptFrame): boolean {
    return this.#upperBound(memory, frame) <= this.budget(frame.model, frame.maxTokens);
  }

  #upperBound(memory: ConversationMemory, frame: PromptFrame): number {
    return this.#bound.countConversation(memory.messages()) + this.#fixed(frame, this.#bound);
  }

  #fixed(frame: Omit<PromptFrame, "model">, counter: TokenCounter = this.#counter): number {
    return (
      (frame.system ? counter.countText(frame.system) : 0) +
      (frame.tools?.length ? counter.countTools(frame.tools) : 0)
    );
  }

  /** How many of the newest messages fit in `tokens`. */
  #suffixWithin(messages: readonly Message[], tokens: number): number {
    let used = 0;
    let n = 0;
    for (let i = messages.length - 1; i >= 0; i--) {
      used += this.#counter.countMessage(messages[i] as Message);
      if (used > tokens) break;
      n++;
    }
    return n;
  }

  #dropOldest(memory: ConversationMemory, frame: PromptFrame, budget: number, pinFirst: boolean): void {
    const messages = memory.messages();
    const entries = memory.entries();
    const pinned =
      pinFirst && messages.length > 1 && (messages[0]?.role === "user" || messages[0]?.role === "system")
        ? 1
        : 0;
    const room =
      budget - this.#fixed(frame) - (pinned ? this.#counter.countMessage(messages[0] as Message) : 0);
    const keep = this.#suffixWithin(messages.slice(pinned), room);
    const start = safeStart(messages, Math.max(pinned, messages.length - keep));
    if (start >= messages.length) {
      const newest = messages[messages.length - 1];
      throw new ContextOverflowError(
        budget,
        this.#fixed(frame) + (newest ? this.#counter.countMessage(newest) : 0),
      );
    }
    memory.replace([...entries.slice(0, pinned), ...entries.slice(start)]);
  }
}
