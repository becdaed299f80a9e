/**
 * One HTTP response as the loopback server writes it: timed writes that stop as soon as the client goes
 * away, and the deliberate socket faults (reset, cut). It records how the response ended on the request's
 * record.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { MutableRecordedRequest } from "../recording.js";
import { sseHeaders } from "../sse.js";

/** Writes one response and watches its connection. */
export class ResponseWriter {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #record: MutableRecordedRequest;
  readonly #gone = new AbortController();
  #deliberate = false;

  /**
   * @param req - the request (its socket is what the faults destroy).
   * @param res - the response to write.
   * @param record - the record to update with the status and the outcome.
   * @param now - the clock, for `finishedAt`.
   */
  constructor(req: IncomingMessage, res: ServerResponse, record: MutableRecordedRequest, now: () => number) {
    this.#req = req;
    this.#res = res;
    this.#record = record;
    res.on("close", () => {
      if (!this.#deliberate && !res.writableFinished) {
        record.outcome = "client_disconnected";
        record.disconnected = true;
      } else if (!this.#deliberate) {
        record.outcome = "completed";
      }
      record.finishedAt = now();
      this.#gone.abort();
    });
  }

  /** Whether the connection is closed (by the client, a fault, or the end of the response). */
  get gone(): boolean {
    return this.#gone.signal.aborted;
  }

  /**
   * Waits, unless the connection closes first.
   *
   * @param ms - milliseconds to wait; 0 or less returns at once.
   * @returns `true` when the wait ran out and the connection is still open.
   */
  async delay(ms: number): Promise<boolean> {
    if (ms > 0 && !this.gone) {
      try {
        await sleep(ms, undefined, { signal: this.#gone.signal });
      } catch (error) {
        // The only rejection of an abortable sleep is the abort, i.e. the connection closed: stop writing.
        if (!this.#gone.signal.aborted) throw error;
      }
    }
    return !this.gone;
  }

  /**
   * Writes the status line and headers.
   *
   * @param status - the HTTP status.
   * @param headers - the headers.
   */
  head(status: number, headers: Readonly<Record<string, string>>): void {
    if (this.gone) return;
    this.#record.status = status;
    this.#res.writeHead(status, headers);
  }

  /**
   * Writes the status line and headers of an SSE stream (status 200) and sends them at once, as the real
   * APIs do, so a client sees the stream open before the first event.
   *
   * @param headers - headers besides the SSE ones (the request id).
   */
  startStream(headers: Readonly<Record<string, string>>): void {
    this.head(200, { ...sseHeaders, ...headers });
    if (!this.gone) this.#res.flushHeaders();
  }

  /**
   * Writes some body text and waits until it has been handed to the socket (or the connection closed).
   *
   * @param text - the text.
   * @returns `true` when the connection is still open.
   */
  async write(text: string): Promise<boolean> {
    if (this.gone) return false;
    await new Promise<void>((resolve) => {
      const onGone = () => resolve();
      this.#gone.signal.addEventListener("abort", onGone, { once: true });
      this.#res.write(text, () => {
        this.#gone.signal.removeEventListener("abort", onGone);
        resolve();
      });
    });
    return !this.gone;
  }

  /**
   * Ends the response.
   *
   * @param text - the last body text, if any.
   */
  end(text?: string): void {
    if (this.gone) return;
    if (text === undefined) this.#res.end();
    else this.#res.end(text);
  }

  /**
   * Sends a whole JSON response.
   *
   * @param status - the HTTP status.
   * @param headers - the headers (a JSON content type is added).
   * @param body - the body, serialised with `JSON.stringify`.
   */
  json(status: number, headers: Readonly<Record<string, string>>, body: unknown): void {
    this.head(status, { "content-type": "application/json", ...headers });
    this.end(JSON.stringify(body));
  }

  /** Resets the connection (TCP RST) before any byte of the response. */
  reset(): void {
    this.#settle("connection_reset");
    this.#req.socket.resetAndDestroy();
  }

  /** Closes the connection in the middle of the response, after what was written reached the socket. */
  cut(): void {
    this.#settle("stream_cut");
    this.#req.socket.destroy();
  }

  #settle(outcome: "connection_reset" | "stream_cut"): void {
    if (this.gone) return;
    this.#deliberate = true;
    this.#record.outcome = outcome;
  }
}
