/**
 * An agent as a supervised, durable server with a mailbox of AgentMessages.
 *
 * Runs are serialized: a request is queued and answered when its turn ends (the server replies later,
 * OTP's `noreply`), so the process stays responsive to stats, cancels and further requests meanwhile.
 * The conversation is persisted after every completed step (each memory write of the run reaches the
 * server as a message, and the runtime saves a durable server's state after each message that changes
 * it), so a crash and restart resumes the conversation: every answered request's messages are kept, and
 * the turn in flight keeps its completed steps (tool calls cut off by the crash are closed with an error
 * result, so the conversation stays valid). The caller of the call in flight gets the runtime's typed
 * `CallExitError`; a redelivery of the same message (same id) continues that turn instead of starting over.
 */
import {
  type Agent,
  type AgentDefinition,
  type AgentResult,
  ConversationMemory,
  defineAgent,
  type RunResult,
  type ToolCallBlock,
} from "@normandy/agents";
import {
  Correlation,
  type CorrelationIds,
  defineServer,
  type From,
  type MailboxOptions,
  noreply,
  reply,
  type Server,
  type ServerContext,
} from "@normandy/runtime";
import { type AgentMessage, type ErrorPayload, errorReply, replyTo } from "./AgentMessage.js";
import { AgentTimeoutError, CancelledError, InvalidMessageError } from "./errors.js";

/** The registered name of an agent process. */
export function agentProcessName(id: string): string {
  return `agent:${id}`;
}

/** The payload of a successful reply: the run's result (JSON), or the calls awaiting approval. */
export type AgentReply<O = unknown> =
  | ({ readonly status: "done" } & AgentResult<O>)
  | { readonly status: "awaiting_approval"; readonly calls: readonly ToolCallBlock[] };

/** What an agent process reports about itself. */
export interface AgentStats {
  readonly id: string;
  readonly runs: number;
  readonly failures: number;
  /** When the last run ended (ms since the epoch). */
  readonly lastRunAt: number | undefined;
  readonly totalRuntimeMs: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  /** How many times the process was restored from its snapshot after a restart. */
  readonly restores: number;
  /** Requests waiting behind the current run. */
  readonly queued: number;
  readonly running: boolean;
  readonly messages: number;
}

/** Calls an agent process answers. */
export type AgentCall =
  | { readonly type: "request"; readonly message: AgentMessage }
  | { readonly type: "approve"; readonly callId: string }
  | { readonly type: "reject"; readonly callId: string; readonly reason?: string }
  | { readonly type: "stats" }
  | { readonly type: "memory" }
  | {
      readonly type: "update";
      readonly definition: Partial<Omit<AgentDefinition<unknown, unknown>, "name">>;
    };

/** Casts an agent process accepts. */
export type AgentCast =
  /** A request whose reply (if any) is sent to `replyTo` as an `agent.reply` event. */
  | { readonly type: "request"; readonly message: AgentMessage; readonly replyTo?: string }
  /** Cancels a request: queued, it is dropped; running, its run is aborted. Both are answered `cancelled`. */
  | { readonly type: "cancel"; readonly requestId: string };

/** The event a cast's `replyTo` receives. */
export interface AgentReplyEvent {
  readonly type: "agent.reply";
  readonly message: AgentMessage<AgentReply | ErrorPayload>;
}

/** Messages the process sends itself. */
type Info =
  | { readonly type: "agent.committed" }
  | {
      readonly type: "agent.done";
      readonly run: number;
      readonly started: number;
      readonly result?: RunResult<unknown>;
      readonly error?: unknown;
    };

/** Who waits for a request's answer. */
type Answer =
  | { readonly kind: "call"; readonly from: From }
  | { readonly kind: "cast"; readonly replyTo?: string };

interface Job {
  readonly message: AgentMessage;
  readonly answer: Answer;
}

interface State {
  readonly agent: Agent<unknown, unknown>;
  readonly definition: AgentDefinition<unknown, unknown>;
  readonly stats: Omit<AgentStats, "queued" | "running" | "messages">;
  readonly queue: readonly Job[];
  /** The request being worked on (also while paused for approval). */
  readonly current:
    | (Job & { readonly run: number; readonly abort: AbortController; readonly detach: () => void })
    | undefined;
  /** The request whose turn was cut off by a crash (restored); its redelivery continues the turn. */
  readonly interrupted: string | undefined;
  readonly runs: number;
}

/** What is stored: JSON only. */
interface Stored {
  readonly version: 1;
  readonly memory: string;
  readonly turn: unknown;
  readonly stats: State["stats"];
  /** The request in flight when the state was saved. */
  readonly inflight: string | undefined;
}

/** Options of {@link defineAgentProcess}. */
export interface AgentProcessOptions<I, O> {
  /** The agent's id (its process registers as `agent:<id>`). */
  readonly id: string;
  /** The agent's definition (a restart builds the agent again from it and restores its memory). */
  readonly definition: AgentDefinition<I, O>;
  /** Mailbox bounds of the process. */
  readonly mailbox?: MailboxOptions;
}

const INTERRUPTED = "Interrupted: the agent process restarted before this call finished.";

/**
 * Defines an agent process: spawn it durably (`durable: "agent:<id>"`) under a supervisor, or use
 * {@link AgentSupervisor}, and talk to it with an {@link AgentProcessClient}.
 *
 * @param options - the agent's id and definition.
 * @returns the server behaviour.
 * @example
 * ```ts
 * const researcher = defineAgentProcess({ id: "researcher", definition: { name: "researcher", provider, model } });
 * await system.spawn(researcher, { name: agentProcessName("researcher"), durable: "agent:researcher" });
 * const client = new AgentProcessClient(system, "researcher");
 * const reply = await client.request({ chat_message: "find X" });
 * ```
 */
export function defineAgentProcess<I, O>(options: AgentProcessOptions<I, O>): Server<unknown> {
  const definition = options.definition as AgentDefinition<unknown, unknown>;
  // message times are epoch milliseconds (they cross processes), so deadlines are checked on the wall clock
  const clock = { now: () => Date.now() };
  const fresh = (def: AgentDefinition<unknown, unknown>, stats: State["stats"]): State => ({
    agent: defineAgent(def),
    definition: def,
    stats,
    queue: [],
    current: undefined,
    interrupted: undefined,
    runs: 0,
  });
  return defineServer<unknown, State, AgentCall, unknown, AgentCast, Info>({
    name: `agent-process:${options.id}`,
    ...(options.mailbox !== undefined && { mailbox: options.mailbox }),
    init: () =>
      fresh(definition, {
        id: options.id,
        runs: 0,
        failures: 0,
        lastRunAt: undefined,
        totalRuntimeMs: 0,
        inputTokens: 0,
        outputTokens: 0,
        costUsd: 0,
        restores: 0,
      }),
    durable: {
      persist: (state): Stored => {
        const paused = state.agent.awaitingApproval;
        return {
          version: 1,
          // mid-run the agent cannot be snapshotted, but its memory holds every completed step
          memory: paused ? "" : state.agent.memory.dump(),
          turn: paused ? state.agent.snapshot() : undefined,
          stats: state.stats,
          inflight: state.current?.message.id ?? state.interrupted,
        };
      },
      restore: (value): State => {
        const stored = value as Stored;
        const state = fresh(definition, { ...stored.stats, restores: stored.stats.restores + 1 });
        // paused for approval: the caller is gone; resume the conversation as it was, run abandoned
        const dump =
          stored.turn === undefined ? stored.memory : (stored.turn as ReturnType<Agent["snapshot"]>).memory;
        state.agent.memory.copyFrom(ConversationMemory.load(dump));
        state.agent.memory.closeDanglingCalls(INTERRUPTED);
        return { ...state, interrupted: stored.inflight };
      },
    },

    handleCall: (msg, from, state, ctx) => {
      switch (msg.type) {
        case "request": {
          const rejected = validate(msg.message, state, ctx);
          if (rejected !== undefined) return reply(rejected, state);
          return noreply(
            next(
              { ...state, queue: [...state.queue, { message: msg.message, answer: { kind: "call", from } }] },
              ctx,
            ),
          );
        }
        case "approve":
        case "reject":
          return noreply(decide(msg, from, state, ctx));
        case "stats":
          return reply(
            {
              ...state.stats,
              queued: state.queue.length,
              running: state.current !== undefined,
              messages: state.agent.memory.size,
            } satisfies AgentStats,
            state,
          );
        case "memory":
          return reply(state.agent.memory.dump(), state);
        case "update": {
          if (state.current !== undefined) return reply({ ok: false, error: "busy" }, state);
          const def = { ...state.definition, ...msg.definition };
          const agent = defineAgent(def);
          agent.memory.replace(state.agent.memory.entries());
          return reply({ ok: true }, { ...state, agent, definition: def });
        }
      }
    },

    handleCast: (msg, state, ctx) => {
      if (msg.type === "cancel") return cancel(msg.requestId, state, ctx);
      const rejected = validate(msg.message, state, ctx);
      if (rejected !== undefined) {
        if (msg.replyTo !== undefined) notify(ctx, msg.replyTo, rejected);
        return state;
      }
      const answer: Answer = { kind: "cast", ...(msg.replyTo !== undefined && { replyTo: msg.replyTo }) };
      return next({ ...state, queue: [...state.queue, { message: msg.message, answer }] }, ctx);
    },

    handleInfo: (msg, state, ctx) => {
      if (msg.type === "agent.committed") return { ...state }; // a new state object: the runtime saves it
      if (msg.type !== "agent.done") return state;
      const current = state.current;
      if (current === undefined || current.run !== msg.run) return state;
      return finish(current, msg, state, ctx);
    },

    terminate: (_reason, state) => {
      state.current?.abort.abort(new CancelledError("the agent process stopped"));
    },
  });

  /** Starts the next queued request when idle. */
  function next(state: State, ctx: ServerContext): State {
    if (state.current !== undefined || state.queue.length === 0) return state;
    const [job, ...queue] = state.queue as [Job, ...Job[]];
    const message = job.message;
    if (message.deadline !== undefined && clock.now() > message.deadline) {
      const error = new AgentTimeoutError(options.id, message.deadline - message.timestamp);
      answer(job, errorReply(message, errorPayload(error), clock.now()), ctx);
      return next({ ...state, queue }, ctx);
    }
    const run = state.runs + 1;
    const abort = new AbortController();
    // the process's exit aborts the run (its HTTP request and tools)
    const onExit = () => abort.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onExit, { once: true });
    const detach = () => ctx.signal.removeEventListener("abort", onExit);
    // a redelivered request whose turn a crash cut off continues it instead of asking again
    const input = state.interrupted === message.id ? undefined : message.payload;
    const runOptions = {
      signal: abort.signal,
      onCommit: committed(ctx),
      correlation: correlationOf(message, ctx),
    };
    track(ctx, run, clock.now(), state.agent.run(input, runOptions));
    return { ...state, queue, current: { ...job, run, abort, detach }, interrupted: undefined, runs: run };
  }

  /** A run ended (or paused): answer its request, count it, start the next. */
  function finish(
    current: NonNullable<State["current"]>,
    done: Info & { type: "agent.done" },
    state: State,
    ctx: ServerContext,
  ): State {
    const now = clock.now();
    const started = done.started;
    const result = done.result;
    if (result?.status === "awaiting_approval") {
      answer(
        current,
        replyTo(
          current.message,
          { status: "awaiting_approval", calls: result.calls } satisfies AgentReply,
          now,
        ),
        ctx,
      );
      return { ...state }; // paused: the request stays current until decided
    }
    const stats = state.stats;
    const counted =
      result === undefined
        ? {
            ...stats,
            runs: stats.runs + 1,
            failures: stats.failures + 1,
            lastRunAt: now,
            totalRuntimeMs: stats.totalRuntimeMs + (now - started),
          }
        : {
            ...stats,
            runs: stats.runs + 1,
            lastRunAt: now,
            totalRuntimeMs: stats.totalRuntimeMs + (now - started),
            inputTokens: stats.inputTokens + result.usage.inputTokens,
            outputTokens: stats.outputTokens + result.usage.outputTokens,
            costUsd: stats.costUsd + (result.costUsd ?? 0),
          };
    // a cancel aborts the run with a CancelledError as the reason: answer with that, not the abort
    const reason = current.abort.signal.reason;
    const error = reason instanceof CancelledError ? reason : done.error;
    const message =
      result === undefined
        ? errorReply(current.message, errorPayload(error), now)
        : replyTo(current.message, result, now);
    current.detach();
    answer(current, message, ctx);
    return next({ ...state, stats: counted, current: undefined }, ctx);
  }

  /** Approves or rejects a call of the paused run; the answer comes when the run ends or pauses again. */
  function decide(
    msg: AgentCall & { type: "approve" | "reject" },
    from: From,
    state: State,
    ctx: ServerContext,
  ): State {
    const current = state.current;
    if (current === undefined || !state.agent.awaitingApproval) {
      ctx.reply(from, { ok: false, error: "no run awaits approval" });
      return state;
    }
    const run = state.runs + 1;
    const options = {
      signal: current.abort.signal,
      onCommit: committed(ctx),
      correlation: correlationOf(current.message, ctx),
    };
    track(
      ctx,
      run,
      clock.now(),
      msg.type === "approve"
        ? state.agent.approve(msg.callId, options)
        : state.agent.reject(msg.callId, msg.reason, options),
    );
    // the decider is answered like the original caller: with the run's outcome
    return { ...state, current: { ...current, answer: { kind: "call", from }, run }, runs: run };
  }

  function cancel(requestId: string, state: State, ctx: ServerContext): State {
    const queued = state.queue.find((j) => j.message.id === requestId);
    if (queued !== undefined) {
      answer(queued, errorReply(queued.message, errorPayload(new CancelledError()), clock.now()), ctx);
      return { ...state, queue: state.queue.filter((j) => j !== queued) };
    }
    if (state.current?.message.id === requestId) state.current.abort.abort(new CancelledError());
    return state;
  }

  /** Checks a request against the agent's input schema; an invalid one is answered at once and dead-lettered. */
  function validate(
    message: AgentMessage,
    state: State,
    ctx: ServerContext,
  ): AgentMessage<ErrorPayload> | undefined {
    if (message.id === state.interrupted) return undefined; // a redelivery continues the turn: nothing to add
    const input = message.payload;
    const parsed = state.agent.inputSchema.safeParse(
      typeof input === "string" ? { chat_message: input } : input,
    );
    if (parsed.success) return undefined;
    const error = new InvalidMessageError(
      parsed.error.issues.map((i) => `payload.${i.path.join(".")}: ${i.message}`),
      parsed.error,
    );
    ctx.reject(message);
    return errorReply(message, errorPayload(error), clock.now());
  }
}

/** Sends a request's answer to whoever waits for it. */
function answer(job: Job, message: AgentMessage, ctx: ServerContext): void {
  if (job.answer.kind === "call") ctx.reply(job.answer.from, message);
  else if (job.answer.replyTo !== undefined) notify(ctx, job.answer.replyTo, message);
}

function notify(ctx: ServerContext, to: string, message: AgentMessage): void {
  const event: AgentReplyEvent = { type: "agent.reply", message: message as AgentReplyEvent["message"] };
  ctx.send(to, event);
}

/**
 * The ids a request's run continues: the caller's (carried in the message's metadata) plus this process
 * and message — not whatever context the mailbox runs in (e.g. the previous request's run, whose end
 * starts the next one).
 */
function correlationOf(message: AgentMessage, ctx: ServerContext): CorrelationIds {
  return { ...Correlation.fromMetadata(message.metadata), processId: ctx.self, messageId: message.id };
}

/** Reports a run's outcome to the process (unless the process is gone: its caller already knows). */
function track(ctx: ServerContext, run: number, started: number, outcome: Promise<RunResult<unknown>>): void {
  const report = (info: Info) => {
    if (!ctx.signal.aborted) ctx.send(ctx.self, info);
  };
  outcome.then(
    (result) => report({ type: "agent.done", run, started, result }),
    (error: unknown) => report({ type: "agent.done", run, started, error }),
  );
}

function committed(ctx: ServerContext): () => void {
  const info: Info = { type: "agent.committed" };
  return () => ctx.send(ctx.self, info);
}

/** An error as the JSON payload of an `error` message (its class name is kept for the client). */
export function errorPayload(error: unknown): ErrorPayload {
  if (error instanceof InvalidMessageError)
    return { code: error.code, message: error.message, details: { name: error.name, issues: error.issues } };
  if (error instanceof AgentTimeoutError)
    return { code: error.code, message: error.message, details: { name: error.name, ms: error.ms } };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      code: typeof code === "string" ? code : "agent_failed",
      message: error.message,
      details: { name: error.name },
    };
  }
  return { code: "agent_failed", message: String(error), details: { name: "Error" } };
}
