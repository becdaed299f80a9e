/**
 * The local inspector server: one call attaches it to an actor system and serves, on 127.0.0.1 only, a
 * WebSocket that streams the system's inspection events in `@statelyai/inspect`'s format, plus runtime
 * facts (restarts, mailbox depth, dead letters, shared-context changes, agent turns) as `@xstate.event`
 * messages whose `event.type` starts with `@normandy.`. A client that connects late first receives the
 * live actor tree. Over HTTP the same port serves a page that shows the stream in the Stately inspector.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { ActorSystem, EventName, Measurements, Metadata, Telemetry } from "@normandy/runtime";
import { WebSocket, WebSocketServer } from "ws";
import { normalizeKey } from "../logging/redaction.js";
import { ActorTable } from "./ActorTable.js";
import { bridgePage, DEFAULT_INSPECTOR_UI, parseUiUrl } from "./bridgePage.js";
import { InspectorError } from "./errors.js";
import { deriveFact, FACT_EVENTS, type MailboxFact } from "./facts.js";
import { MailboxWatch } from "./MailboxWatch.js";
import { actorMessage, factMessage, fromInspectionEvent, type InspectionEvent } from "./statelyEvents.js";
import type { InspectableLimits } from "./toInspectable.js";

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /** The port (default 0: a free one; read it from {@link InspectorServer.port}). */
  readonly port?: number;
  /** The interface to bind: loopback only, so nothing outside this machine can watch. */
  readonly host?: "127.0.0.1";
  /**
   * More telemetry buses to derive facts from, e.g. the bus of agents defined with their own `telemetry`
   * (the system's bus is always used).
   */
  readonly telemetry?: readonly Telemetry[];
  /** Bounds of every serialized value (defaults: depth 10, 200 items, 10,000 characters). */
  readonly limits?: Omit<InspectableLimits, "redactKeys">;
  /** More field names to redact (API keys, tokens, passwords, cookies, … always are). */
  readonly redactKeys?: readonly string[];
  /** Bytes a client may have waiting before it is disconnected as too slow (default 16 MiB). */
  readonly maxBufferedBytes?: number;
  /** Browser origins allowed to connect besides the server's own page (default none). */
  readonly allowedOrigins?: readonly string[];
  /** The Stately inspector UI the page embeds (default `https://stately.ai/inspect`). */
  readonly ui?: string;
  /** Receives what goes wrong after the start (default: a process warning). */
  readonly onError?: (error: InspectorError) => void;
}

/** A running inspector server. */
export interface InspectorServer {
  /** The WebSocket address clients connect to, e.g. `ws://127.0.0.1:41234`. */
  readonly url: string;
  /** The page that shows the stream in the Stately inspector, e.g. `http://127.0.0.1:41234/`. */
  readonly pageUrl: string;
  /** The port it listens on. */
  readonly port: number;
  /** The number of connected clients. */
  readonly clients: number;
  /** Detaches from the system, closes every client (code 1001) and frees the port. Idempotent. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024;
/** How long a client gets to answer the closing handshake before its socket is cut. */
const CLOSE_GRACE_MS = 1_000;
const PROCESS_EXITS: readonly EventName[] = [
  ["normandy", "process", "stop"],
  ["normandy", "process", "crash"],
];
let handlerSeq = 0;

/**
 * Starts a local inspector server attached to `system`.
 *
 * @param system - the actor system to watch.
 * @param options - port, extra telemetry buses, bounds, redaction, UI.
 * @returns the running server, once it listens.
 * @throws InspectorError: `invalid_option` for a bad option, `listen` when the port cannot be bound.
 * @example
 * ```ts
 * const system = ActorSystem.start();
 * const inspector = await startInspector(system, { port: 8080 });
 * console.log(`open ${inspector.pageUrl} (or connect a WebSocket client to ${inspector.url})`);
 * // ... run the system ...
 * await inspector.close();
 * ```
 */
export async function startInspector(
  system: ActorSystem,
  options: InspectorOptions = {},
): Promise<InspectorServer> {
  const relay = new Relay(system, options);
  await relay.listen(options.port ?? 0);
  relay.attach(options.telemetry ?? []);
  return relay;
}

/** The server behind {@link startInspector}. */
class Relay implements InspectorServer {
  readonly #system: ActorSystem;
  readonly #limits: InspectableLimits;
  readonly #maxBuffered: number;
  readonly #extraOrigins: ReadonlySet<string>;
  readonly #ui: URL;
  readonly #onError: (error: InspectorError) => void;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #clients = new Set<WebSocket>();
  readonly #table = new ActorTable();
  readonly #mailboxes: MailboxWatch;
  readonly #handlerId = `normandy.inspector#${++handlerSeq}`;
  readonly #buses: Telemetry[] = [];
  #unsubscribe: (() => void) | undefined;
  #port = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(system: ActorSystem, options: InspectorOptions) {
    const host = options.host ?? HOST;
    if (host !== HOST)
      throw new InspectorError(
        "invalid_option",
        `the inspector binds to ${HOST} only, got ${JSON.stringify(host)}`,
      );
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535)
      throw new InspectorError(
        "invalid_option",
        `the inspector port must be an integer in 0..65535, got ${port}`,
      );
    this.#system = system;
    this.#ui = parseUiUrl(options.ui ?? DEFAULT_INSPECTOR_UI);
    this.#limits = {
      ...options.limits,
      redactKeys: new Set((options.redactKeys ?? []).map(normalizeKey)),
    };
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.#extraOrigins = new Set(options.allowedOrigins ?? []);
    this.#onError = options.onError ?? ((error) => process.emitWarning(error));
    this.#mailboxes = new MailboxWatch(
      (id) => system.mailboxDepth(id),
      (id, depth) => this.#guard(() => this.#mailboxChanged(id, depth)),
    );
    // clients only listen: a small payload bound keeps a stray sender from buffering much
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    this.#http = createServer((req, res) => this.#page(req, res));
    this.#http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
  }

  get url(): string {
    return `ws://${HOST}:${this.#port}`;
  }

  get pageUrl(): string {
    return `http://${HOST}:${this.#port}/`;
  }

  get port(): number {
    return this.#port;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Binds the port (before anything attaches, so a failure leaves the system untouched). */
  listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => {
        reject(
          new InspectorError("listen", `the inspector cannot listen on ${HOST}:${port}: ${error.message}`, {
            cause: error,
          }),
        );
      };
      this.#http.once("error", failed);
      this.#http.listen({ host: HOST, port, exclusive: true }, () => {
        this.#http.off("error", failed);
        this.#http.on("error", (error) =>
          this.#onError(
            new InspectorError("socket", `the inspector server failed: ${error.message}`, { cause: error }),
          ),
        );
        this.#port = (this.#http.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Attaches to the system's inspection stream and to the telemetry buses facts come from. */
  attach(extra: readonly Telemetry[]): void {
    const subscription = this.#system.inspect({ next: (event) => this.#guard(() => this.#inspected(event)) });
    const system = this.#system.telemetry;
    system.attach(`${this.#handlerId}.exits`, PROCESS_EXITS, (_e, _m, meta) =>
      this.#guard(() => this.#exited(String(meta.pid))),
    );
    for (const bus of [system, ...extra]) {
      if (this.#buses.includes(bus)) continue;
      this.#buses.push(bus);
      bus.attach(this.#handlerId, FACT_EVENTS, (event, m, meta) =>
        this.#guard(() => this.#fact(event, m, meta)),
      );
    }
    this.#unsubscribe = () => {
      subscription.unsubscribe();
      system.detach(`${this.#handlerId}.exits`);
      for (const bus of this.#buses) bus.detach(this.#handlerId);
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#mailboxes.stop();
    this.#unsubscribe?.();
    await Promise.all([...this.#clients].map((client) => closeClient(client)));
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      this.#http.close((error) =>
        error === undefined
          ? resolve()
          : reject(
              new InspectorError("socket", `the inspector server did not close: ${error.message}`, {
                cause: error,
              }),
            ),
      ),
    );
  }

  // ---- the stream -------------------------------------------------------------------------------

  #inspected(event: InspectionEvent): void {
    if (this.#closed) return;
    const removed = this.#table.observe(event);
    if (removed !== undefined) this.#mailboxes.forget(removed);
    if (this.#clients.size === 0) return;
    if (event.type === "@xstate.event" || event.type === "@xstate.snapshot") {
      const id = (event.actorRef as { sessionId?: unknown }).sessionId;
      if (typeof id === "string" && removed === undefined) this.#mailboxes.touch(id);
    }
    const message = fromInspectionEvent(event, this.#limits);
    if (message !== undefined) this.#broadcast(JSON.stringify(message));
  }

  #exited(pid: string): void {
    if (this.#table.remove(pid)) this.#mailboxes.forget(pid);
  }

  #fact(event: EventName, measurements: Measurements, metadata: Metadata): void {
    if (this.#closed || this.#clients.size === 0) return;
    const derived = deriveFact(event, measurements, metadata);
    if (derived === undefined) return;
    let target = this.#system.root.sessionId;
    for (const address of derived.about) {
      const ref = this.#system.actorRef(address);
      if (ref !== undefined) {
        target = ref.sessionId;
        break;
      }
    }
    this.#broadcast(
      JSON.stringify(factMessage(target, derived.fact, this.#system.root.sessionId, this.#limits)),
    );
  }

  #mailboxChanged(sessionId: string, depth: number): void {
    if (this.#closed) return;
    this.#broadcast(JSON.stringify(this.#mailboxMessage(sessionId, depth)));
  }

  #mailboxMessage(sessionId: string, depth: number) {
    const fact: MailboxFact = { type: "@normandy.mailbox", pid: sessionId, depth };
    return factMessage(sessionId, fact, this.#system.root.sessionId, this.#limits);
  }

  #broadcast(text: string): void {
    for (const client of this.#clients) this.#send(client, text);
  }

  #send(client: WebSocket, text: string): void {
    if (client.readyState !== WebSocket.OPEN) return;
    if (client.bufferedAmount > this.#maxBuffered) {
      this.#clients.delete(client);
      client.terminate();
      this.#onError(
        new InspectorError(
          "slow_client",
          `an inspector client had ${client.bufferedAmount} bytes waiting (limit ${this.#maxBuffered}) and was disconnected`,
        ),
      );
      return;
    }
    client.send(text);
  }

  /** Runs work called from the runtime: an error is reported, never thrown into the runtime. */
  #guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.#onError(
        new InspectorError("relay", `the inspector failed to relay an event: ${messageOf(error)}`, {
          cause: error,
        }),
      );
    }
  }

  // ---- connections ------------------------------------------------------------------------------

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => socket.destroy()); // a reset during the handshake only ends this attempt
    if (this.#closed || !this.#hostAllowed(req) || !this.#originAllowed(req)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (client) => this.#admit(client));
  }

  #admit(client: WebSocket): void {
    client.on("error", (error) =>
      this.#onError(
        new InspectorError("socket", `an inspector client failed: ${error.message}`, { cause: error }),
      ),
    );
    client.on("close", () => this.#clients.delete(client));
    // nobody watched until now: the depths last reported are stale
    if (this.#clients.size === 0) this.#mailboxes.resync(this.#table.actors().map((a) => a.sessionId));
    this.#clients.add(client);
    // the live tree first (parents before children), then what is waiting in mailboxes
    this.#guard(() => {
      const rootId = this.#system.root.sessionId;
      for (const actor of this.#table.actors())
        this.#send(client, JSON.stringify(actorMessage(actor, rootId, this.#limits)));
      for (const [id, depth] of this.#mailboxes.waiting())
        this.#send(client, JSON.stringify(this.#mailboxMessage(id, depth)));
    });
  }

  #hostAllowed(req: IncomingMessage): boolean {
    // a DNS-rebound name resolving to 127.0.0.1 still sends its own Host: refuse it
    const host = req.headers.host;
    return host === `${HOST}:${this.#port}` || host === `localhost:${this.#port}`;
  }

  #originAllowed(req: IncomingMessage): boolean {
    // browsers always send Origin; other clients (ws, curl) do not and are local by the bind
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return (
      origin === `http://${HOST}:${this.#port}` ||
      origin === `http://localhost:${this.#port}` ||
      this.#extraOrigins.has(origin)
    );
  }

  #page(req: IncomingMessage, res: ServerResponse): void {
    if (!this.#hostAllowed(req)) {
      res.writeHead(403).end();
      return;
    }
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path !== "/") {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const html = bridgePage(this.#ui);
    res.writeHead(200, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy":
        `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; ` +
        `frame-src ${this.#ui.origin}; connect-src ws://${req.headers.host}`,
    });
    res.end(req.method === "HEAD" ? undefined : html);
  }
}

function closeClient(client: WebSocket): Promise<void> {
  if (client.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const cut = setTimeout(() => client.terminate(), CLOSE_GRACE_MS);
    cut.unref();
    client.once("close", () => {
      clearTimeout(cut);
      resolve();
    });
    client.close(1001, "inspector closed");
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
