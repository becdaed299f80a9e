/**
 * What the loopback LLM server remembers about each request it received: the request itself, which turn
 * answered it, and how its response ended (completed, cut, reset, or abandoned by the client).
 */

import type { StaticTurn, WireFamily } from "./script.js";

/** The endpoints the server routes. */
export type Endpoint = "chat.completions" | "messages" | "count_tokens" | "unknown";

/**
 * How a response ended: still `in_flight`; `completed` (every byte written); `client_disconnected` (the
 * client went away first); `connection_reset` / `stream_cut` (a fault destroyed the socket on purpose).
 */
export type ResponseOutcome =
  | "in_flight"
  | "completed"
  | "client_disconnected"
  | "connection_reset"
  | "stream_cut";

/** One request, as received, with the fate of its response (updated while the response is written). */
export interface RecordedRequest {
  /** Position among every request the server received since the last reset, from 0. */
  readonly index: number;
  /** The HTTP method. */
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  /** The request headers, names in lower case, repeated values joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body parsed as JSON, or `undefined` when it is empty or not JSON. */
  readonly body: unknown;
  /** The body as text. */
  readonly rawBody: string;
  /** Arrival time, read from the server's clock when the body had been read. */
  readonly receivedAt: number;
  /** The wire format of the endpoint, or `undefined` for an unknown route. */
  readonly family: WireFamily | undefined;
  /** The endpoint routed to. */
  readonly endpoint: Endpoint;
  /** Whether the body asked for a streamed (SSE) response. */
  readonly stream: boolean;
  /** Index of the script turn that answered, or `undefined` (count_tokens, a rejected request, exhaustion, the fallback). */
  readonly turnIndex: number | undefined;
  /** The turn that answered, after a turn function was called. */
  readonly turn: StaticTurn | undefined;
  /** The HTTP status sent, or `undefined` when none was (reset, or the client left first). */
  readonly status: number | undefined;
  /** How the response ended so far. */
  readonly outcome: ResponseOutcome;
  /** Whether the client disconnected before the response was complete (an abort). */
  readonly disconnected: boolean;
  /** Time the response ended (any outcome), read from the server's clock. */
  readonly finishedAt: number | undefined;
  /** A server-side problem answered with an error: script exhausted, a turn function threw, a bad turn. */
  readonly error: string | undefined;
}

/** The mutable form the server fills in; users only see {@link RecordedRequest}. */
export type MutableRecordedRequest = { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] };
