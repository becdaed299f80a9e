/** Server-sent event framing, as both APIs write it: `event:` (Anthropic only) and `data:` lines, a blank line. */

/**
 * Frames one SSE event.
 *
 * @param data - the payload, serialised with `JSON.stringify`, or a string sent as is (e.g. `[DONE]`).
 * @param event - the event name (Anthropic names every event; OpenAI sends data lines only).
 * @returns the frame text, ending with a blank line.
 * @example
 * ```ts
 * sseFrame({ type: "message_stop" }, "message_stop"); // 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
 * ```
 */
export function sseFrame(data: unknown, event?: string): string {
  const payload = typeof data === "string" ? data : JSON.stringify(data);
  return `${event === undefined ? "" : `event: ${event}\n`}data: ${payload}\n\n`;
}

/** The headers of a streamed response. */
export const sseHeaders: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
};
