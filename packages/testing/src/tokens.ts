/**
 * The loopback server's token estimate: a deterministic stand-in for a tokenizer, used by
 * `/v1/messages/count_tokens` and for the default usage of every reply.
 */

/**
 * Estimates tokens as ceil(characters / 4). A string counts its own length; any other value counts the
 * length of its `JSON.stringify`; `undefined` and `null` count 0.
 *
 * @param parts - the values to count (for a request: system, messages, tools).
 * @returns the estimate, an integer ≥ 0.
 * @example
 * ```ts
 * estimateTokens("hello world!"); // 3
 * ```
 */
export function estimateTokens(...parts: readonly unknown[]): number {
  let chars = 0;
  for (const part of parts) {
    if (part === undefined || part === null) continue;
    chars += typeof part === "string" ? part.length : (JSON.stringify(part)?.length ?? 0);
  }
  return Math.ceil(chars / 4);
}

/**
 * Estimates the input tokens of a request body: {@link estimateTokens} over its `system`, `messages` and
 * `tools` fields (OpenAI carries the system prompt inside `messages`).
 *
 * @param body - the parsed request body.
 * @returns the estimate; 0 when the body is not an object.
 */
export function estimateRequestTokens(body: unknown): number {
  if (typeof body !== "object" || body === null) return 0;
  const { system, messages, tools } = body as Record<string, unknown>;
  return estimateTokens(system, messages, tools);
}
