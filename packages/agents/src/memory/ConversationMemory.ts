/**
 * An agent's conversation: messages grouped in turns, bounded by `maxMessages`, dumped and loaded as
 * versioned JSON. Appending is O(1) and the history is handed out without copying, so a step costs
 * O(new messages). Trimming only ever cuts at a boundary that keeps every tool call with its result
 * (the original cut blindly and orphaned `tool_use` blocks, which the Anthropic API rejects).
 */
import { type ContentBlock, errorResult, type Message } from "../model/messages.js";

/** A message in memory, with the turn it belongs to. */
export interface MemoryEntry {
  readonly turnId: string;
  readonly message: Message;
}

/** The dumped form (version 1). */
export interface MemoryDump {
  readonly version: 1;
  readonly maxMessages: number | undefined;
  readonly currentTurnId: string | undefined;
  /** Absent in dumps written before conversation ids existed (a new id is made on load). */
  readonly conversationId?: string;
  readonly entries: readonly MemoryEntry[];
}

/** A turn id that memory does not hold. */
export class NonExistentTurnError extends Error {
  readonly turnId: string;

  /** @param turnId - the unknown turn. */
  constructor(turnId: string) {
    super(`no message of turn ${JSON.stringify(turnId)} in memory`);
    this.name = "NonExistentTurnError";
    this.turnId = turnId;
  }
}

/** A dump that cannot be loaded (wrong version or shape). */
export class MemoryFormatError extends Error {
  /** @param message - what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "MemoryFormatError";
  }
}

/** Options of a {@link ConversationMemory}. */
export interface MemoryOptions {
  /** Keep at most this many messages (the newest), never separating tool calls from results; 0 keeps none. */
  readonly maxMessages?: number;
  /** Makes turn ids (default `crypto.randomUUID`). */
  readonly newId?: () => string;
}

/**
 * A conversation.
 *
 * @example
 * ```ts
 * const memory = new ConversationMemory({ maxMessages: 50 });
 * memory.initializeTurn();
 * memory.add({ role: "user", content: "Hello" });
 * memory.messages(); // [{ role: "user", content: "Hello" }]
 * const copy = ConversationMemory.load(memory.dump());
 * ```
 */
export class ConversationMemory {
  readonly maxMessages: number | undefined;
  readonly #newId: () => string;
  #entries: MemoryEntry[] = [];
  #messages: Message[] = [];
  #currentTurnId: string | undefined;
  #conversationId: string;

  /** @param options - max messages and the id maker. */
  constructor(options: MemoryOptions = {}) {
    const max = options.maxMessages;
    if (max !== undefined && !(Number.isInteger(max) && max >= 0)) {
      throw new RangeError(`maxMessages must be an integer >= 0, got ${max}`);
    }
    this.maxMessages = max;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
    this.#conversationId = this.#newId();
  }

  /** The conversation's id (for logs and traces): kept by `dump`/`load`, new after `clear`. */
  get conversationId(): string {
    return this.#conversationId;
  }

  /** The id of the current turn, if one was started. */
  get currentTurnId(): string | undefined {
    return this.#currentTurnId;
  }

  /** How many messages memory holds. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Starts a new turn; later messages belong to it.
   *
   * @returns the new turn id.
   */
  initializeTurn(): string {
    this.#currentTurnId = this.#newId();
    return this.#currentTurnId;
  }

  /**
   * Appends messages to the current turn (starting one if none), then trims to `maxMessages`.
   *
   * @param messages - the messages, in order.
   * @returns the turn they were added to.
   */
  add(...messages: readonly Message[]): string {
    const turnId = this.#currentTurnId ?? this.initializeTurn();
    for (const message of messages) {
      this.#entries.push({ turnId, message });
      this.#messages.push(message);
    }
    this.#trim();
    return turnId;
  }

  /**
   * Closes the tool calls of the last message when they have no results (a run that failed, was
   * aborted or crashed while its tools ran): each gets an error result saying `why`, so the
   * conversation is again one a provider accepts, and the model learns the call did not finish.
   *
   * @param why - the error result's text.
   * @returns how many calls were closed.
   */
  closeDanglingCalls(why: string): number {
    const last = this.#messages[this.#messages.length - 1];
    if (last?.role !== "assistant" || typeof last.content === "string") return 0;
    const calls = last.content.filter((b) => b.type === "tool_call");
    if (calls.length > 0) this.add({ role: "tool", content: calls.map((c) => errorResult(c, why)) });
    return calls.length;
  }

  /** The messages, oldest first (a live read-only view: copy it to keep it). */
  messages(): readonly Message[] {
    return this.#messages;
  }

  /** The entries with their turn ids, oldest first. */
  entries(): readonly MemoryEntry[] {
    return this.#entries;
  }

  /**
   * Removes every message of a turn.
   *
   * @param turnId - the turn.
   * @throws NonExistentTurnError when no message belongs to it.
   */
  deleteTurn(turnId: string): void {
    const kept = this.#entries.filter((e) => e.turnId !== turnId);
    if (kept.length === this.#entries.length) throw new NonExistentTurnError(turnId);
    this.#set(kept);
  }

  /**
   * Replaces the whole history (used by context management: a summary plus the recent messages).
   *
   * @param entries - the new entries, oldest first.
   */
  replace(entries: readonly MemoryEntry[]): void {
    this.#set([...entries]);
    this.#trim();
  }

  /**
   * Becomes a copy of another conversation: its history, current turn and id (restoring a dump).
   *
   * @param other - e.g. `ConversationMemory.load(dump)`.
   */
  copyFrom(other: ConversationMemory): void {
    this.#set([...other.#entries]);
    this.#currentTurnId = other.#currentTurnId;
    this.#conversationId = other.#conversationId;
    this.#trim();
  }

  /** Forgets every message and the current turn. */
  clear(): void {
    this.#set([]);
    this.#currentTurnId = undefined;
    this.#conversationId = this.#newId();
  }

  /**
   * The conversation as versioned JSON.
   *
   * @returns a JSON string.
   */
  dump(): string {
    const dump: MemoryDump = {
      version: 1,
      maxMessages: this.maxMessages,
      currentTurnId: this.#currentTurnId,
      conversationId: this.#conversationId,
      entries: this.#entries,
    };
    return JSON.stringify(dump);
  }

  /**
   * Rebuilds a conversation from {@link ConversationMemory.dump}.
   *
   * @param json - the dump.
   * @param options - overrides (e.g. the id maker).
   * @returns the conversation.
   * @throws MemoryFormatError for an unknown version or shape.
   */
  static load(json: string, options: Omit<MemoryOptions, "maxMessages"> = {}): ConversationMemory {
    let dump: unknown;
    try {
      dump = JSON.parse(json);
    } catch (error) {
      throw new MemoryFormatError(`memory dump is not JSON: ${(error as Error).message}`);
    }
    const d = dump as Partial<MemoryDump> | null;
    if (d === null || typeof d !== "object" || d.version !== 1) {
      throw new MemoryFormatError(
        `unsupported memory dump version ${JSON.stringify((d as { version?: unknown } | null)?.version)}`,
      );
    }
    if (!Array.isArray(d.entries) || !d.entries.every(isEntry))
      throw new MemoryFormatError("memory dump entries are malformed");
    const memory = new ConversationMemory({
      ...options,
      ...(d.maxMessages != null && { maxMessages: d.maxMessages }),
    });
    memory.#set([...d.entries]);
    memory.#currentTurnId = d.currentTurnId ?? undefined;
    if (typeof d.conversationId === "string") memory.#conversationId = d.conversationId;
    return memory;
  }

  #set(entries: MemoryEntry[]): void {
    this.#entries = entries;
    this.#messages = entries.map((e) => e.message);
  }

  /** Drops the oldest messages beyond `maxMessages`, moving the cut forward to the next safe boundary. */
  #trim(): void {
    const max = this.maxMessages;
    if (max === undefined || this.#entries.length <= max) return;
    const start = safeStart(this.#messages, this.#entries.length - max);
    this.#set(this.#entries.slice(start));
  }
}

/**
 * Where the history may start, cutting at `from` or later, so that no kept tool result loses its call:
 * past the results of every call that is cut away. A call whose results have not all arrived yet is
 * never cut (the start moves back to it), so the bound is exceeded only while a tool group is in flight.
 *
 * @param messages - the history.
 * @param from - the earliest start wanted.
 * @returns the start index (`messages.length` when nothing can be kept).
 */
export function safeStart(messages: readonly Message[], from: number): number {
  // calls whose results have not been seen yet, scanning from the start
  const open = new Map<string, number>();
  const end = Math.min(from, messages.length);
  for (let i = 0; i < end; i++) track(open, messages[i] as Message, i);
  let start = end;
  while (start < messages.length && open.size > 0) track(open, messages[start++] as Message, start - 1);
  // a kept message must not be a result of a call that was cut away
  while (start < messages.length && isOnlyToolResults(messages[start] as Message)) start++;
  // calls still awaiting results, anywhere: keep them (and everything after)
  for (let i = start; i < messages.length; i++) track(open, messages[i] as Message, i);
  let earliestOpen = start;
  for (const index of open.values()) earliestOpen = Math.min(earliestOpen, index);
  return earliestOpen;
}

function blocks(message: Message): readonly ContentBlock[] {
  return typeof message.content === "string" ? [] : message.content;
}

function track(open: Map<string, number>, message: Message, index: number): void {
  for (const block of blocks(message)) {
    if (block.type === "tool_call") open.set(block.id, index);
    else if (block.type === "tool_result") open.delete(block.toolCallId);
  }
}

function isOnlyToolResults(message: Message): boolean {
  const content = blocks(message);
  return content.length > 0 && content.every((b) => b.type === "tool_result");
}

function isEntry(value: unknown): value is MemoryEntry {
  const e = value as Partial<MemoryEntry> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.turnId === "string" &&
    typeof e.message === "object" &&
    e.message !== null &&
    typeof e.message.role === "string" &&
    (typeof e.message.content === "string" || Array.isArray(e.message.content))
  );
}
