/**
 * The loopback LLM server: a real HTTP server on 127.0.0.1 that answers OpenAI Chat Completions and
 * Anthropic Messages requests from a script of turns, records every request, and injects latency and
 * faults, so the official SDKs (and everything built on them) can be tested over HTTP without a network.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { anthropicErrorFrame, anthropicMessage, anthropicStreamFrames } from "./anthropicWire.js";
import {
  type ErrorSpec,
  errorResponse,
  exhaustedSpec,
  faultSpec,
  invalidRequestSpec,
  requestIdHeaders,
  scriptFailureSpec,
} from "./faults.js";
import { IdSource } from "./internal/ids.js";
import { ResponseWriter } from "./internal/ResponseWriter.js";
import { normaliseReply } from "./internal/reply.js";
import { openaiCompletion, openaiErrorBody, openaiStreamFrames } from "./openaiWire.js";
import type { Endpoint, MutableRecordedRequest, RecordedRequest } from "./recording.js";
import type {
  Fault,
  LatencyOptions,
  ReplyTurn,
  ScriptedTurn,
  StaticTurn,
  TurnFunction,
  WireFamily,
} from "./script.js";
import { sseFrame, sseHeaders } from "./sse.js";
import { estimateRequestTokens } from "./tokens.js";
import { validateTurn, validateTurns } from "./validateTurn.js";

/** Options of a {@link LoopbackLLMServer}. */
export interface LoopbackLLMServerOptions {
  /** The turns to answer with, in order (more can be appended later). */
  readonly script?: readonly ScriptedTurn[];
  /**
   * Answers every request that arrives once the script is used up (a scripted model that decides from the
   * request, e.g. by its system prompt), instead of the "script exhausted" error.
   */
  readonly fallback?: TurnFunction;
  /** The port to listen on; default 0 (a free port chosen by the system). */
  readonly port?: number;
  /** Server-wide timing; a turn's own `latency` fields win. */
  readonly latency?: LatencyOptions;
  /** The clock that stamps `receivedAt` / `finishedAt`; default `performance.now()`. */
  readonly clock?: { now(): number };
}

/** The settings every response falls back to. */
const defaultLatency: Required<LatencyOptions> = { firstByteMs: 0, chunkDelayMs: 0, chunkSize: 16 };

/** The reply streamed by `stream_cut` and `stream_error` faults that do not give one. */
const defaultFaultReply: ReplyTurn = { text: "This reply is cut short by the loopback server." };

/** One routed request, as the handler needs it. */
interface Exchange {
  readonly record: MutableRecordedRequest;
  readonly writer: ResponseWriter;
  readonly family: WireFamily;
  readonly requestId: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function route(method: string, path: string): { family: WireFamily | undefined; endpoint: Endpoint } {
  if (method === "POST" && path === "/v1/chat/completions")
    return { family: "openai", endpoint: "chat.completions" };
  if (method === "POST" && path === "/v1/messages") return { family: "anthropic", endpoint: "messages" };
  if (method === "POST" && path === "/v1/messages/count_tokens") {
    return { family: "anthropic", endpoint: "count_tokens" };
  }
  return { family: undefined, endpoint: "unknown" };
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON: the record keeps `body: undefined` and the raw text; the request is answered with a 400.
    return undefined;
  }
}

/** The first problem with a request body, or `undefined` when the endpoint can serve it. */
function bodyProblem(endpoint: Endpoint, body: unknown): { message: string; param: string } | undefined {
  if (!isObject(body)) return { message: "The request body must be a JSON object.", param: "body" };
  if (typeof body.model !== "string") return { message: "model: Field required (a string).", param: "model" };
  if (!Array.isArray(body.messages))
    return { message: "messages: Field required (an array).", param: "messages" };
  if (endpoint === "messages" && typeof body.max_tokens !== "number") {
    return { message: "max_tokens: Field required (a number).", param: "max_tokens" };
  }
  return undefined;
}

/**
 * A loopback HTTP server speaking the OpenAI Chat Completions and Anthropic Messages wire formats from a
 * script of turns.
 *
 * Every `POST /v1/chat/completions` and `POST /v1/messages` request takes the next turn of one script,
 * shared by both endpoints, in order; `POST /v1/messages/count_tokens` and requests rejected as malformed
 * take none. When the script is exhausted the server answers HTTP 500 with a message saying so. It binds
 * 127.0.0.1 only.
 *
 * @example
 * ```ts
 * const server = await new LoopbackLLMServer({ script: [{ text: "Hello!" }] }).start();
 * const client = new OpenAI({ apiKey: "test", baseURL: server.openaiBaseURL, maxRetries: 0 });
 * const completion = await client.chat.completions.create({ model: "gpt-4o", messages: [] });
 * completion.choices[0]?.message.content; // "Hello!"
 * server.requests[0]?.body; // { model: "gpt-4o", messages: [] }
 * await server.stop();
 * ```
 */
export class LoopbackLLMServer {
  readonly #server: Server;
  readonly #port: number;
  readonly #latency: Required<LatencyOptions>;
  readonly #now: () => number;
  readonly #ids = new IdSource();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #fallback: TurnFunction | undefined;
  #script: ScriptedTurn[];
  #next = 0;
  #requests: MutableRecordedRequest[] = [];
  #address: AddressInfo | undefined;

  /**
   * Creates a server; call {@link LoopbackLLMServer.start} to listen.
   *
   * @param options - script, port, latency and clock.
   * @throws {@link ScriptError} when a scripted turn is malformed.
   */
  constructor(options: LoopbackLLMServerOptions = {}) {
    this.#script = validateTurns(options.script ?? []);
    this.#fallback = options.fallback;
    this.#port = options.port ?? 0;
    this.#latency = { ...defaultLatency, ...options.latency };
    const clock = options.clock;
    this.#now = clock ? () => clock.now() : () => performance.now();
    this.#server = createServer((req, res) => {
      const handling = this.#handle(req, res);
      this.#inFlight.add(handling);
      void handling.finally(() => this.#inFlight.delete(handling));
    });
  }

  /**
   * Starts listening on 127.0.0.1.
   *
   * @returns this server, once it listens.
   */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#address = this.#server.address() as AddressInfo;
    return this;
  }

  /**
   * Stops the server: closes every connection, including idle keep-alive ones and streams in progress.
   *
   * @returns once the server is closed and every request handler has finished.
   */
  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
    });
    this.#server.closeAllConnections();
    await closed;
    await this.idle();
  }

  /** The port listened on (after {@link LoopbackLLMServer.start}). */
  get port(): number {
    if (!this.#address) throw new Error("LoopbackLLMServer: not started (call start() first)");
    return this.#address.port;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The `baseURL` for the OpenAI SDK: `http://127.0.0.1:<port>/v1`. */
  get openaiBaseURL(): string {
    return `${this.url}/v1`;
  }

  /** The `baseURL` for the Anthropic SDK: `http://127.0.0.1:<port>`. */
  get anthropicBaseURL(): string {
    return this.url;
  }

  /** Every request received since the last reset, in arrival order. */
  get requests(): readonly RecordedRequest[] {
    return this.#requests;
  }

  /** How many scripted turns have not been used yet. */
  get remainingTurns(): number {
    return this.#script.length - this.#next;
  }

  /**
   * Adds turns at the end of the script.
   *
   * @param turns - the turns to add.
   * @throws {@link ScriptError} when a turn is malformed (nothing is added then).
   */
  append(...turns: readonly ScriptedTurn[]): void {
    // a loop, not `push(...turns)`: spreading a large script into arguments overflows the stack
    for (const turn of validateTurns(turns, this.#script.length)) this.#script.push(turn);
  }

  /**
   * Forgets the recorded requests, replaces the script, and restarts the id counters.
   *
   * @param script - the new script (default: none).
   * @throws {@link ScriptError} when a turn is malformed (nothing changes then).
   */
  reset(script: readonly ScriptedTurn[] = []): void {
    const turns = validateTurns(script);
    this.#script = turns;
    this.#next = 0;
    this.#requests = [];
    this.#ids.reset();
  }

  /**
   * Waits until no request is being handled (every response completed, cut, reset or abandoned), so that
   * the records are final.
   *
   * @returns once the server is idle.
   */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let bodyError: unknown;
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch (error) {
      bodyError = error;
    }
    const rawBody = Buffer.concat(chunks).toString("utf8");
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? url;
    const method = req.method ?? "GET";
    const { family, endpoint } = route(method, path);
    const body = parseJson(rawBody);
    const record: MutableRecordedRequest = {
      index: this.#requests.length,
      method,
      path,
      url,
      headers: headerRecord(req),
      body,
      rawBody,
      receivedAt: this.#now(),
      family,
      endpoint,
      stream: isObject(body) && body.stream === true,
      turnIndex: undefined,
      turn: undefined,
      status: undefined,
      outcome: "in_flight",
      disconnected: false,
      finishedAt: undefined,
      error: undefined,
    };
    this.#requests.push(record);
    if (bodyError !== undefined) {
      // The client went away while sending the body: nothing can be answered. The record says so.
      record.error = `request body not received: ${String(bodyError)}`;
      record.outcome = "client_disconnected";
      record.disconnected = true;
      record.finishedAt = this.#now();
      return;
    }
    const writer = new ResponseWriter(req, res, record, this.#now);
    const errorFamily = family ?? (path.startsWith("/v1/messages") ? "anthropic" : "openai");
    const exchange: Exchange = {
      record,
      writer,
      family: errorFamily,
      requestId: this.#ids.next("req"),
    };
    try {
      await this.#dispatch(exchange, endpoint);
    } catch (error) {
      // A bug in the server itself: answer 500 if still possible, and keep the error on the record.
      const message = `loopback server error: ${error instanceof Error ? error.message : String(error)}`;
      record.error =
        error instanceof Error && error.stack ? `loopback server error: ${error.stack}` : message;
      if (record.status === undefined) this.#sendError(exchange, scriptFailureSpec(message));
      else writer.cut();
    }
  }

  #sendError(exchange: Exchange, spec: ErrorSpec): void {
    const { status, headers, body } = errorResponse(exchange.family, spec, exchange.requestId);
    exchange.writer.json(status, headers, body);
  }

  async #dispatch(exchange: Exchange, endpoint: Endpoint): Promise<void> {
    const { record } = exchange;
    if (endpoint === "unknown") {
      this.#sendError(exchange, invalidRequestSpec(404, `Invalid URL (${record.method} ${record.path})`));
      return;
    }
    if (record.body === undefined && record.rawBody !== "") {
      this.#sendError(exchange, invalidRequestSpec(400, "We could not parse the JSON body of your request."));
      return;
    }
    const problem = bodyProblem(endpoint, record.body);
    if (problem) {
      this.#sendError(exchange, invalidRequestSpec(400, problem.message, problem.param));
      return;
    }
    if (endpoint === "count_tokens") {
      exchange.writer.json(200, requestIdHeaders("anthropic", exchange.requestId), {
        input_tokens: estimateRequestTokens(record.body),
      });
      return;
    }
    const turn = await this.#takeTurn(exchange);
    if (turn === undefined) return;
    const latency = { ...this.#latency, ...turn.latency };
    if (!(await exchange.writer.delay(latency.firstByteMs))) return;
    if ("fault" in turn) await this.#fault(exchange, turn.fault, latency);
    else await this.#reply(exchange, turn, latency);
  }

  /** Takes and resolves the next turn; answers the request itself (and returns undefined) when it cannot. */
  async #takeTurn(exchange: Exchange): Promise<StaticTurn | undefined> {
    const { record } = exchange;
    const index = this.#next;
    const scripted = this.#script[index] ?? this.#fallback;
    if (scripted === undefined) {
      const spec = exhaustedSpec(
        `request #${record.index} (${record.method} ${record.path}) arrived but all ${this.#script.length} scripted turns were used`,
      );
      record.error = spec.message;
      this.#sendError(exchange, spec);
      return undefined;
    }
    const label = index < this.#script.length ? `turn ${index}` : "fallback";
    if (index < this.#script.length) {
      this.#next += 1;
      record.turnIndex = index;
    }
    let turn: StaticTurn;
    try {
      turn = typeof scripted === "function" ? validateTurn(await scripted(record), label) : scripted;
    } catch (error) {
      record.error = `loopback ${label} failed: ${error instanceof Error ? error.message : String(error)}`;
      this.#sendError(exchange, scriptFailureSpec(record.error));
      return undefined;
    }
    record.turn = turn;
    return turn;
  }

  /** The SSE frames of a reply, for the request's family. */
  #frames(exchange: Exchange, turn: ReplyTurn, chunkSize: number): string[] {
    const { record, family } = exchange;
    const reply = normaliseReply(turn, family, record.body, this.#ids);
    const model = String((record.body as { model: string }).model);
    if (family === "openai") {
      const options = isObject(record.body) ? record.body.stream_options : undefined;
      const includeUsage = isObject(options) && options.include_usage === true;
      const ctx = { id: this.#ids.next("chatcmpl"), created: Math.floor(Date.now() / 1000), model };
      return openaiStreamFrames(reply, ctx, { chunkSize, includeUsage });
    }
    return anthropicStreamFrames(reply, { id: this.#ids.next("msg"), model }, chunkSize);
  }

  /** The JSON body of a non-streamed reply, for the request's family. */
  #completion(exchange: Exchange, turn: ReplyTurn): unknown {
    const { record, family } = exchange;
    const reply = normaliseReply(turn, family, record.body, this.#ids);
    const model = String((record.body as { model: string }).model);
    return family === "openai"
      ? openaiCompletion(reply, {
          id: this.#ids.next("chatcmpl"),
          created: Math.floor(Date.now() / 1000),
          model,
        })
      : anthropicMessage(reply, { id: this.#ids.next("msg"), model });
  }

  /** Streams frames with the chunk delay between them; returns false when the client left. */
  async #stream(writer: ResponseWriter, frames: readonly string[], chunkDelayMs: number): Promise<boolean> {
    for (const [i, frame] of frames.entries()) {
      if (i > 0 && !(await writer.delay(chunkDelayMs))) return false;
      if (!(await writer.write(frame))) return false;
    }
    return true;
  }

  async #reply(exchange: Exchange, turn: ReplyTurn, latency: Required<LatencyOptions>): Promise<void> {
    const { writer, family, requestId } = exchange;
    if (!exchange.record.stream) {
      writer.json(200, requestIdHeaders(family, requestId), this.#completion(exchange, turn));
      return;
    }
    const frames = this.#frames(exchange, turn, latency.chunkSize);
    writer.startStream(requestIdHeaders(family, requestId));
    if (await this.#stream(writer, frames, latency.chunkDelayMs)) writer.end();
  }

  async #fault(exchange: Exchange, fault: Fault, latency: Required<LatencyOptions>): Promise<void> {
    const { writer, family, requestId, record } = exchange;
    const stream = record.stream;
    switch (fault.kind) {
      case "connection_reset":
        writer.reset();
        return;
      case "empty_stream":
        writer.head(200, {
          ...(stream ? sseHeaders : { "content-type": "application/json" }),
          ...requestIdHeaders(family, requestId),
        });
        writer.end();
        return;
      case "stream_cut": {
        const reply = fault.reply ?? defaultFaultReply;
        if (!stream) {
          const text = JSON.stringify(this.#completion(exchange, reply));
          writer.head(200, {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(text)),
            ...requestIdHeaders(family, requestId),
          });
          if (await writer.write(text.slice(0, Math.floor(text.length / 2)))) writer.cut();
          return;
        }
        const frames = this.#frames(exchange, reply, latency.chunkSize);
        const count = fault.afterEvents ?? Math.max(1, Math.floor(frames.length / 2));
        writer.startStream(requestIdHeaders(family, requestId));
        if (await this.#stream(writer, frames.slice(0, count), latency.chunkDelayMs)) writer.cut();
        return;
      }
      case "stream_error": {
        if (!stream) {
          this.#sendError(exchange, faultSpec({ kind: "overloaded", ...messageOf(fault) }, family, 0));
          return;
        }
        const frames = this.#frames(exchange, fault.reply ?? defaultFaultReply, latency.chunkSize);
        const count = fault.afterEvents ?? Math.max(1, Math.floor(frames.length / 2));
        const errorFrame =
          family === "anthropic"
            ? anthropicErrorFrame("overloaded_error", fault.message ?? "Overloaded")
            : sseFrame(
                openaiErrorBody(
                  fault.message ?? "The server had an error while processing your request (loopback).",
                  "server_error",
                ),
              );
        writer.startStream(requestIdHeaders(family, requestId));
        if (await this.#stream(writer, [...frames.slice(0, count), errorFrame], latency.chunkDelayMs))
          writer.end();
        return;
      }
      default:
        this.#sendError(exchange, faultSpec(fault, family, estimateRequestTokens(record.body)));
    }
  }
}

function messageOf(fault: { readonly message?: string }): { message?: string } {
  return fault.message === undefined ? {} : { message: fault.message };
}
