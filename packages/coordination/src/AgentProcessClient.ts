/**
 * The client of an agent process: builds AgentMessages, calls or casts them by name (location
 * transparent: only the registered name and JSON cross), and turns error replies into typed errors.
 * It is a `Runnable`, so orchestrators run agent processes exactly as they run in-process agents.
 */
import type { AgentDefinition, RunResult } from "@normandy/agents";
import {
  type ActorSystem,
  CallExitError,
  CallTimeoutError,
  Correlation,
  type CorrelationIds,
  NoProcError,
  onAbort,
} from "@normandy/runtime";
import { type AgentMessage, createMessage, type ErrorPayload } from "./AgentMessage.js";
import {
  type AgentCall,
  type AgentCast,
  type AgentReply,
  type AgentStats,
  agentProcessName,
} from "./AgentProcess.js";
import {
  AgentRunError,
  AgentTimeoutError,
  CancelledError,
  type CoordinationError,
  InvalidMessageError,
} from "./errors.js";
import type { Runnable } from "./Runnable.js";

/** Options of a request. */
export interface RequestOptions {
  /** How long to wait for the reply (default the client's, 60 s); also the message's deadline. */
  readonly timeoutMs?: number;
  /** Cancels the request: queued, it is dropped; running, its run (HTTP request, tools) is aborted. */
  readonly signal?: AbortSignal;
  /**
   * The request may be delivered twice: if the process crashes while working on it, it is sent once
   * more (same message id) to the restarted process, which continues the interrupted turn.
   */
  readonly idempotent?: boolean;
  /** Added to the message's metadata (e.g. trace context). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The message that caused this one. */
  readonly causationId?: string;
  /**
   * The ids of the work sending the request (a tool's `ctx.correlation`): the message carries them, so
   * the run it starts continues that trace. Default: the current correlation context, when it is on.
   */
  readonly correlation?: CorrelationIds;
}

/** Options of a client. */
export interface AgentProcessClientOptions {
  /** The sender's address in messages (default `client`). */
  readonly from?: string;
  /** Default reply timeout (default 60,000 ms, the original's). */
  readonly timeoutMs?: number;
  /** Whether requests are idempotent unless a request says otherwise (default false). */
  readonly idempotent?: boolean;
}

/** How long a redelivery waits for the restarted process to register. */
const REDELIVERY_WAIT_MS = 5_000;

/** Talks to the agent process of one agent id. */
export class AgentProcessClient<I = { chat_message: string }, O = { chat_message: string }>
  implements Runnable<I, O>
{
  /** The agent's id. */
  readonly name: string;
  /** The process's registered name. */
  readonly address: string;
  readonly #system: ActorSystem;
  readonly #from: string;
  readonly #timeoutMs: number;
  readonly #idempotent: boolean;

  /**
   * @param system - the actor system the process runs in.
   * @param id - the agent's id.
   * @param options - sender address and default timeout.
   */
  constructor(system: ActorSystem, id: string, options: AgentProcessClientOptions = {}) {
    this.#system = system;
    this.name = id;
    this.address = agentProcessName(id);
    this.#from = options.from ?? "client";
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#idempotent = options.idempotent ?? false;
  }

  /**
   * Sends a request and waits for its correlated reply.
   *
   * @param payload - the agent's input (a string for the default schema).
   * @param options - timeout, signal, idempotency, metadata.
   * @returns the `response` message (its payload is the run's result, or the calls awaiting approval).
   * @throws InvalidMessageError, AgentRunError, AgentTimeoutError, CancelledError; the runtime's
   *   CallExitError (the process crashed mid-request), CallTimeoutError, NoProcError.
   */
  async request(payload: I | string, options: RequestOptions = {}): Promise<AgentMessage<AgentReply<O>>> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const metadata = withCorrelation(options.metadata, options.correlation);
    const message = createMessage({
      from: this.#from,
      to: this.name,
      payload,
      timeoutMs,
      ...(metadata !== undefined && { metadata }),
      ...(options.causationId !== undefined && { causationId: options.causationId }),
    });
    const signal = options.signal;
    if (signal?.aborted) throw new CancelledError(signal.reason);
    const detach = signal === undefined ? undefined : onAbort(signal, () => this.cancel(message.id));
    try {
      let reply: AgentMessage;
      const pid = this.#system.whereis(this.address);
      try {
        try {
          reply = await this.#call({ type: "request", message }, timeoutMs);
        } catch (error) {
          if (
            !((options.idempotent ?? this.#idempotent) && error instanceof CallExitError) ||
            signal?.aborted
          )
            throw error;
          await this.#whenBack(pid);
          reply = await this.#call({ type: "request", message }, timeoutMs);
        }
      } catch (error) {
        if (!(error instanceof CallTimeoutError)) throw error;
        this.cancel(message.id); // nobody waits for it any more: stop its run
        throw new AgentTimeoutError(this.name, timeoutMs);
      }
      if (reply.correlationId !== message.id)
        throw new InvalidMessageError([`reply ${reply.id} does not correlate with request ${message.id}`]);
      if (reply.type === "error") throw this.#errorOf(reply.payload as ErrorPayload);
      return reply as AgentMessage<AgentReply<O>>;
    } finally {
      detach?.();
    }
  }

  /**
   * Runs the agent as `Agent.run` does (for orchestrators).
   *
   * @param input - the input (undefined is not allowed across processes: a request always carries one).
   * @param options - a signal, the correlation ids of the caller.
   * @returns the run's result.
   */
  async run(
    input?: I | string,
    options: { readonly signal?: AbortSignal; readonly correlation?: CorrelationIds } = {},
  ): Promise<RunResult<O>> {
    const reply = await this.request(input ?? "", {
      ...(options.signal !== undefined && { signal: options.signal }),
      ...(options.correlation !== undefined && { correlation: options.correlation }),
    });
    return reply.payload as RunResult<O>;
  }

  /**
   * Casts a request: fire and forget, or with its reply sent to `replyTo` as an `agent.reply` event.
   *
   * @param payload - the agent's input.
   * @param options - where the reply goes, metadata.
   * @returns the message (its id correlates the reply).
   */
  cast(
    payload: I | string,
    options: {
      readonly replyTo?: string;
      readonly metadata?: Readonly<Record<string, unknown>>;
      readonly correlation?: CorrelationIds;
    } = {},
  ): AgentMessage {
    const metadata = withCorrelation(options.metadata, options.correlation);
    const message = createMessage({
      from: options.replyTo ?? this.#from,
      to: this.name,
      payload,
      ...(metadata !== undefined && { metadata }),
    });
    const cast: AgentCast = {
      type: "request",
      message,
      ...(options.replyTo !== undefined && { replyTo: options.replyTo }),
    };
    this.#system.cast(this.address, cast);
    return message;
  }

  /** Cancels a request by its message id. */
  cancel(requestId: string): void {
    const cast: AgentCast = { type: "cancel", requestId };
    this.#system.cast(this.address, cast);
  }

  /** Approves a tool call of a paused run; resolves with the run's outcome. */
  async approve(callId: string): Promise<AgentReply<O>> {
    return this.#decision({ type: "approve", callId });
  }

  /** Rejects a tool call of a paused run; resolves with the run's outcome. */
  async reject(callId: string, reason?: string): Promise<AgentReply<O>> {
    return this.#decision({ type: "reject", callId, ...(reason !== undefined && { reason }) });
  }

  /** The process's statistics. */
  stats(): Promise<AgentStats> {
    return this.#system.call(this.address, { type: "stats" } satisfies AgentCall) as Promise<AgentStats>;
  }

  /** The conversation, as `ConversationMemory.dump()` JSON. */
  async memory(): Promise<string> {
    const dump = await this.#system.call(this.address, { type: "memory" } satisfies AgentCall);
    if (typeof dump !== "string")
      throw new AgentRunError(this.name, {
        code: "unsupported",
        message: "the process keeps no conversation",
      });
    return dump;
  }

  /**
   * Replaces parts of the agent's definition (model, instructions, tools, ...); the conversation is kept.
   *
   * @param definition - the fields to change.
   * @throws AgentRunError when a run is in progress.
   */
  async update(definition: Partial<Omit<AgentDefinition<unknown, unknown>, "name">>): Promise<void> {
    const result = (await this.#system.call(this.address, {
      type: "update",
      definition,
    } satisfies AgentCall)) as {
      ok: boolean;
      error?: string;
    };
    if (!result.ok)
      throw new AgentRunError(this.name, { code: "busy", message: `cannot update: ${result.error}` });
  }

  /** Stops the process (a supervisor restarts it only if its restart type says so). */
  stop(): Promise<void> {
    return this.#system.stop(this.address);
  }

  async #decision(call: AgentCall): Promise<AgentReply<O>> {
    const reply = (await this.#call(call, this.#timeoutMs)) as AgentMessage | { ok: false; error: string };
    if ("ok" in reply) throw new AgentRunError(this.name, { code: "not_paused", message: reply.error });
    if (reply.type === "error") throw this.#errorOf(reply.payload as ErrorPayload);
    return reply.payload as AgentReply<O>;
  }

  #call(call: AgentCall, timeoutMs: number): Promise<AgentMessage> {
    return this.#system.call(this.address, call, { timeout: timeoutMs }) as Promise<AgentMessage>;
  }

  /** Waits (bounded) until the name is registered to a process other than the crashed one. */
  async #whenBack(crashed: string | undefined): Promise<void> {
    const deadline = Date.now() + REDELIVERY_WAIT_MS;
    for (;;) {
      const pid = this.#system.whereis(this.address);
      if (pid !== undefined && pid !== crashed) return;
      if (Date.now() > deadline) throw new NoProcError(this.address);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  #errorOf(payload: ErrorPayload): CoordinationError {
    const details = payload.details as { issues?: unknown } | undefined;
    switch (payload.code) {
      case "invalid_message":
        return new InvalidMessageError(
          Array.isArray(details?.issues) ? (details.issues as string[]) : [payload.message],
        );
      case "cancelled":
        return new CancelledError(new Error(payload.message));
      case "agent_timeout":
        return new AgentTimeoutError(
          this.name,
          Number((payload.details as { ms?: unknown } | undefined)?.ms ?? 0),
        );
      default:
        return new AgentRunError(this.name, payload);
    }
  }
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/**
 * A new message's metadata: the sender's correlation ids (given, else the current ones when correlation is
 * on) and, when the sender works inside a span (a trace id and a span id), the W3C `traceparent` of that
 * span, so a receiver that speaks only W3C trace context continues the trace; then the caller's own
 * fields, which win.
 */
function withCorrelation(
  metadata: Readonly<Record<string, unknown>> | undefined,
  given: CorrelationIds | undefined,
): Readonly<Record<string, unknown>> | undefined {
  const current = given ?? (Correlation.enabled ? Correlation.current() : undefined);
  if (current === undefined) return metadata;
  const ids = Correlation.toMetadata(current);
  const traceId = current.traceId;
  const spanId = current.spanId;
  // ids from a message are untrusted strings: only well-formed (lowercase hex, not all zero) ones make a header
  if (
    traceId !== undefined &&
    spanId !== undefined &&
    TRACE_ID.test(traceId) &&
    SPAN_ID.test(spanId) &&
    /[^0]/.test(traceId) &&
    /[^0]/.test(spanId)
  )
    ids.traceparent = `00-${traceId}-${spanId}-01`;
  return metadata === undefined ? ids : { ...ids, ...metadata };
}
