/**
 * Normandy's summarizer: its prompt, temperature 0.3 and 500-token summaries; `compressConversation`
 * keeps the 10 most recent messages (moved to a safe boundary, so no tool result loses its call) and
 * puts "Previous conversation summary: …" before them; `estimateSavings`. A failed summary call is a
 * typed error, not an empty summary.
 */
import type { ConversationMemory, MemoryEntry } from "../memory/ConversationMemory.js";
import { safeStart } from "../memory/ConversationMemory.js";
import { type ContentBlock, type Message, type Role, textOf } from "../model/messages.js";
import type { CallOptions, Provider } from "../providers/Provider.js";
import { estimateEncoder, TokenCounter } from "../tokens/TokenCounter.js";

/** Normandy's default summarization prompt. */
export const DEFAULT_SUMMARY_PROMPT =
  "Please provide a concise summary of the following conversation history.\n" +
  "Focus on key points, decisions made, and important context that should be preserved.\n" +
  "Keep the summary brief but informative.\n\n" +
  "Conversation to summarize:\n";

/** The prefix of the summary message `compressConversation` writes. */
export const SUMMARY_PREFIX = "Previous conversation summary: ";

/** Options of {@link summarizeMessages}. */
export interface SummarizeOptions extends CallOptions {
  readonly model: string;
  readonly prompt?: string;
  /** Default 500. */
  readonly maxTokens?: number;
}

/** The summary call returned no text. */
export class EmptySummaryError extends Error {
  constructor() {
    super("the summarization call returned no text");
    this.name = "EmptySummaryError";
  }
}

/**
 * Summarizes messages with one model call (temperature 0.3).
 *
 * @param provider - the provider.
 * @param messages - the messages to summarize.
 * @param options - model, prompt, max tokens, signal.
 * @returns the summary text.
 * @throws ProviderError from the call; EmptySummaryError when it returns no text.
 */
export async function summarizeMessages(
  provider: Provider,
  messages: readonly Message[],
  options: SummarizeOptions,
): Promise<string> {
  const content = `${options.prompt ?? DEFAULT_SUMMARY_PROMPT}\n\n${formatForSummary(messages)}`;
  const response = await provider.complete(
    {
      model: options.model,
      temperature: 0.3,
      maxTokens: options.maxTokens ?? 500,
      messages: [{ role: "user", content }],
    },
    options.signal === undefined ? {} : { signal: options.signal },
  );
  const summary = textOf(response).trim();
  if (summary === "") throw new EmptySummaryError();
  return summary;
}

/**
 * `Role: content` lines separated by blank lines; a default-schema JSON body contributes its
 * `chat_message`, tool calls and results are written out so the summary can mention them.
 *
 * @param messages - the messages.
 * @returns the text.
 */
export function formatForSummary(messages: readonly Message[]): string {
  return messages.map((m) => `${capitalize(m.role)}: ${contentText(m.content)}`).join("\n\n");
}

/** Options of {@link compressConversation}. */
export interface CompressOptions extends SummarizeOptions {
  /** Messages to keep verbatim (default 10). */
  readonly keepRecent?: number;
  /** The role of the summary message (default `system`). */
  readonly summaryRole?: Role;
}

/**
 * Replaces all but the recent messages of a conversation with a summary of them. Does nothing when
 * there are at most `keepRecent` messages.
 *
 * @param memory - the conversation (changed in place).
 * @param provider - the provider for the summary call.
 * @param options - keepRecent, summaryRole, model, prompt, maxTokens, signal.
 * @returns how many messages were summarized (0 when nothing was done).
 */
export async function compressConversation(
  memory: ConversationMemory,
  provider: Provider,
  options: CompressOptions,
): Promise<number> {
  const keepRecent = options.keepRecent ?? 10;
  const messages = memory.messages();
  if (messages.length <= keepRecent) return 0;
  const cut = safeStart(messages, messages.length - keepRecent);
  if (cut === 0) return 0;
  const entries = memory.entries();
  const summary = await summarizeMessages(provider, messages.slice(0, cut), options);
  const summaryEntry: MemoryEntry = {
    turnId: entries[cut - 1]?.turnId ?? memory.currentTurnId ?? "summary",
    message: { role: options.summaryRole ?? "system", content: SUMMARY_PREFIX + summary },
  };
  memory.replace([summaryEntry, ...entries.slice(cut)]);
  return cut;
}

/** What summarizing some messages would save. */
export interface Savings {
  readonly original: number;
  readonly summary: number;
  readonly savings: number;
  /** Rounded to one decimal. */
  readonly savingsPercent: number;
}

const estimateCounter = new TokenCounter(estimateEncoder, { perMessage: 10 });

/**
 * Estimates the tokens saved by replacing `messages` with a summary (Normandy's estimate: 4 characters
 * a token plus 10 per message, unless a counter is given).
 *
 * @param messages - the messages.
 * @param options - the summary's expected size (default 500) and a counter.
 * @returns original, summary, savings and savings percent.
 */
export function estimateSavings(
  messages: readonly Message[],
  options: { readonly summaryTokens?: number; readonly counter?: TokenCounter } = {},
): Savings {
  const counter = options.counter ?? estimateCounter;
  const original = messages.reduce((n, m) => n + counter.countMessage(m), 0);
  const summary = options.summaryTokens ?? 500;
  const savings = original - summary;
  const savingsPercent = original > 0 ? Math.round((savings / original) * 1000) / 10 : 0;
  return { original, summary, savings, savingsPercent };
}

function capitalize(role: string): string {
  return role.charAt(0).toUpperCase() + role.slice(1);
}

function contentText(content: string | readonly ContentBlock[]): string {
  if (typeof content === "string") return chatMessageOf(content);
  return content
    .map(blockText)
    .filter((t) => t !== "")
    .join(" ");
}

function blockText(b: ContentBlock): string {
  if (b.type === "text") return chatMessageOf(b.text);
  if (b.type === "image") return "[image]";
  if (b.type === "tool_call") return `[called ${b.name} with ${b.rawArguments}]`;
  if (b.type === "tool_result") {
    return `[${b.isError ? "error from" : "result of"} ${b.toolCallId}: ${typeof b.content === "string" ? b.content : "(content)"}]`;
  }
  return ""; // thinking is not summarized
}

/** The `chat_message` of a default-schema JSON body, or the text itself. */
function chatMessageOf(text: string): string {
  if (!text.startsWith("{")) return text;
  try {
    const value = JSON.parse(text) as { chat_message?: unknown };
    return typeof value.chat_message === "string" ? value.chat_message : text;
  } catch {
    return text; // not JSON after all: summarize the text as it is
  }
}
