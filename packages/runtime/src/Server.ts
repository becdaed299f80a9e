/**
 * The server behaviour, the runtime's GenServer: a definition of `init`, `handleCall`, `handleCast`,
 * `handleInfo` and `terminate`, shared by every process started from it. Handlers may be async; the
 * process still handles one message at a time, in arrival order.
 */
import type { ExitReason } from "./ExitReason.js";

declare const protocolKey: unique symbol;

/** The message types a process accepts: calls and their reply, casts, and info messages. */
export interface Protocol<Call = unknown, Reply = unknown, Cast = unknown, Info = unknown> {
  readonly call: Call;
  readonly reply: Reply;
  readonly cast: Cast;
  readonly info: Info;
}

/**
 * The address of a process: its pid or a registered name. A plain string is accepted everywhere; an
 * address returned by `spawn` also carries the process's {@link Protocol} so `call` and `cast` are typed.
 */
export type Address<P extends Protocol = Protocol> = string & { readonly [protocolKey]?: P };

/** Identifies the caller of a pending call; pass it to {@link ServerContext.reply} to answer later. */
export interface From {
  /** The call's correlation id. */
  readonly ref: number;
  /** The calling process, when the call came from one. */
  readonly pid: string | undefined;
}

/** A handler's request to stop the process with `reason` (after `terminate`). */
export class Stop<S, R = never> {
  /** The exit reason. */
  readonly reason: ExitReason;
  /** The final state, passed to `terminate`. */
  readonly state: S;
  /** For a call: whether to reply before stopping. */
  readonly hasReply: boolean;
  /** For a call: the reply sent before stopping. */
  readonly reply: R | undefined;

  /**
   * @param reason - the exit reason.
   * @param state - the final state.
   * @param hasReply - whether `reply` is to be sent.
   * @param reply - the reply to a call.
   */
  constructor(reason: ExitReason, state: S, hasReply: boolean, reply: R | undefined) {
    this.reason = reason;
    this.state = state;
    this.hasReply = hasReply;
    this.reply = reply;
  }
}

/** A call handler's result that leaves the caller waiting for {@link ServerContext.reply}. */
export class NoReply<S> {
  /** The new state. */
  readonly state: S;

  /** @param state - the new state. */
  constructor(state: S) {
    this.state = state;
  }
}

/** What `handleCall` returns: a reply and the new state, a deferred reply, or a stop. */
export type CallResult<S, R> = { readonly reply: R; readonly state: S } | NoReply<S> | Stop<S, R>;

/** What `handleCast` and `handleInfo` return: the new state or a stop. */
export type StateResult<S> = S | Stop<S>;

/** What `init` returns: the initial state, {@link IGNORE}, or a {@link Stop} that fails the start. */
export type InitResult<S> = S | typeof IGNORE | Stop<unknown>;

/** The value `init` returns to decline starting (OTP's `ignore`): the start succeeds with no process. */
export const IGNORE: unique symbol = Symbol.for("normandy.ignore");

/**
 * Builds a call result that replies `value` and continues with `state`.
 *
 * @param value - the reply.
 * @param state - the new state.
 * @returns the call result.
 */
export function reply<R, S>(value: R, state: S): { readonly reply: R; readonly state: S } {
  return { reply: value, state };
}

/**
 * Builds a call result that sends no reply now; answer later with {@link ServerContext.reply}.
 *
 * @param state - the new state.
 * @returns the call result.
 */
export function noreply<S>(state: S): NoReply<S> {
  return new NoReply(state);
}

/**
 * Builds a result that stops the process with `reason` once `terminate` has run.
 *
 * @param reason - the exit reason.
 * @param state - the final state.
 * @returns the stop result (for `handleCast`, `handleInfo`, or a call that does not reply).
 */
export function stop<S>(reason: ExitReason, state: S): Stop<S> {
  return new Stop<S>(reason, state, false, undefined);
}

/**
 * Builds a call result that replies `value`, then stops the process with `reason`.
 *
 * @param reason - the exit reason.
 * @param value - the reply.
 * @param state - the final state.
 * @returns the call result.
 */
export function stopWithReply<S, R>(reason: ExitReason, value: R, state: S): Stop<S, R> {
  return new Stop<S, R>(reason, state, true, value);
}

/** A timer started by {@link ServerContext.sendAfter} or `ActorSystem.sendAfter`. */
export interface TimerRef {
  /** The timer's id. */
  readonly id: number;
}

/** A monitor started by {@link ServerContext.monitor}. */
export interface MonitorRef {
  /** The monitor's id; it appears in the `DOWN` message. */
  readonly id: number;
}

/** Sent to a monitoring process when the monitored one exits (exactly once). */
export interface DownMessage {
  readonly type: "DOWN";
  /** The monitor. */
  readonly ref: number;
  /** The pid that went down. */
  readonly pid: string;
  /** Why it went down (`noproc` if it was already gone). */
  readonly reason: ExitReason;
}

/** Delivered to a process that traps exits when a linked process exits or an exit signal arrives. */
export interface ExitMessage {
  readonly type: "EXIT";
  /** The pid the signal came from (`undefined` for a signal sent from outside any process). */
  readonly from: string | undefined;
  /** The exit reason. */
  readonly reason: ExitReason;
}

/** Options of a call. */
export interface CallOptions {
  /** Milliseconds to wait for the reply (default 5000; `Infinity` waits forever). */
  readonly timeout?: number;
}

/** What a handler can do besides returning a new state: it is the process's view of the system. */
export interface ServerContext {
  /** This process's pid. */
  readonly self: string;
  /** Aborted when the process is killed or exits, so in-flight work (HTTP, tools) can stop. */
  readonly signal: AbortSignal;
  /** Whether this process traps exits (see {@link ServerContext.trapExit}). */
  readonly trappingExits: boolean;
  /** Replies to a call answered with {@link noreply}. A reply to a caller that already gave up is dropped. */
  reply(from: From, value: unknown): void;
  /** Calls another process (calling itself is a {@link CallingSelfError}). */
  call<P extends Protocol>(to: Address<P>, msg: P["call"], options?: CallOptions): Promise<P["reply"]>;
  /** Casts to another process. */
  cast<P extends Protocol>(to: Address<P>, msg: P["cast"]): void;
  /** Sends an info message (an XState event) to another process. */
  send(to: string, event: { readonly type: string }): void;
  /** Sends `event` to `to` after `ms` milliseconds of the system clock. */
  sendAfter(to: string, event: { readonly type: string }, ms: number): TimerRef;
  /** Cancels a timer; returns whether it was still pending. */
  cancelTimer(timer: TimerRef): boolean;
  /** Monitors a process: a {@link DownMessage} arrives when it exits (at once, `noproc`, if it is gone). */
  monitor(target: string): MonitorRef;
  /** Removes a monitor; no `DOWN` arrives for it afterwards. */
  demonitor(ref: MonitorRef): void;
  /** Links this process to another (bidirectional); linking to a dead process delivers `noproc` at once. */
  link(target: string): void;
  /** Removes a link. */
  unlink(target: string): void;
  /** Turns exit trapping on or off, as `process_flag(trap_exit, on)`. */
  trapExit(on: boolean): void;
  /** Sends an exit signal to another process (`"kill"` cannot be trapped). */
  exit(target: string, reason: ExitReason | "kill"): void;
  /** Records a message this process rejects (e.g. it fails validation) as a dead letter, reason `invalid`. */
  reject(message: unknown): void;
}

/** Bounded-mailbox settings. */
export interface MailboxOptions {
  /** The most messages that may wait while a handler is pending (default 10,000). */
  readonly capacity?: number;
  /**
   * What happens to a message that arrives at a full mailbox: `reject` throws {@link MailboxFullError}
   * to the sender (a call's promise rejects); `drop-oldest` sends the oldest queued message to dead
   * letters (rejecting it if it is a call) and queues the new one. Default `reject`.
   */
  readonly overflow?: "reject" | "drop-oldest";
}

/** Durability settings of a server (see the snapshot store of the actor system). */
export interface DurableOptions<S> {
  /** Turns the state into the JSON-able value stored (default: the state itself). */
  readonly persist?: (state: S) => unknown;
  /** Turns a stored value back into the state (default: the value itself). */
  readonly restore?: (stored: unknown) => S;
}

/**
 * A server definition. Every callback but `init` is optional; an unhandled call crashes the process
 * with an error naming the message, as an unmatched `handle_call` clause would.
 */
export interface ServerDefinition<Args, S, Call, R, Cast, Info> {
  /** A label for the inspector and logs. */
  readonly name?: string;
  /**
   * Builds the initial state; may be async (messages queue meanwhile). Return {@link IGNORE} to decline,
   * or `stop(reason, undefined)` to fail the start with an exact reason (a throw fails it with `{ error }`).
   */
  readonly init: (args: Args, ctx: ServerContext) => InitResult<S> | Promise<InitResult<S>>;
  /** Answers a call. */
  readonly handleCall?: (
    msg: Call,
    from: From,
    state: S,
    ctx: ServerContext,
  ) => CallResult<S, R> | Promise<CallResult<S, R>>;
  /** Handles a cast. */
  readonly handleCast?: (msg: Cast, state: S, ctx: ServerContext) => StateResult<S> | Promise<StateResult<S>>;
  /** Handles any other message: events sent with `send`, `DOWN`, trapped `EXIT`, timers. */
  readonly handleInfo?: (
    msg: Info | DownMessage | ExitMessage,
    state: S,
    ctx: ServerContext,
  ) => StateResult<S> | Promise<StateResult<S>>;
  /** Cleans up before the process exits (on a stop, a crash, or a trapped exit from its parent); may be async. */
  readonly terminate?: (reason: ExitReason, state: S, ctx: ServerContext) => void | Promise<void>;
  /** Whether the process traps exits from the start (default false). */
  readonly trapExit?: boolean;
  /** Mailbox bounds. */
  readonly mailbox?: MailboxOptions;
  /** How to store and restore the state when the process is durable. */
  readonly durable?: DurableOptions<S>;
}

/** A server behaviour, ready to be spawned or supervised. */
export interface Server<Args = unknown, P extends Protocol = Protocol> {
  /** `supervisor` for behaviours made by `defineSupervisor`. */
  readonly kind: "server" | "supervisor";
  /** The definition (shared by every process of this behaviour). */
  readonly definition: ServerDefinition<Args, unknown, unknown, unknown, unknown, unknown>;
  /** Type-only marker of the protocol. */
  readonly protocol?: P;
}

/** The protocol of a server behaviour (`ProtocolOf<typeof counter>`). */
export type ProtocolOf<S> = S extends Server<infer _Args, infer P> ? P : never;

/**
 * Types a registered name with a behaviour's protocol, so calls and casts to it are checked.
 *
 * @param _server - the behaviour the process runs (only its type is used).
 * @param name - the registered name (or a pid).
 * @returns the same string, typed.
 * @example
 * ```ts
 * const counterName = addressOf(counter, "counter");
 * const n: number = await system.call(counterName, { type: "get" });
 * ```
 */
export function addressOf<P extends Protocol>(
  _server: Server<never, P> | Server<unknown, P>,
  name: string,
): Address<P> {
  return name as Address<P>;
}

/**
 * Defines a server behaviour. Message and state types are inferred from the callbacks' parameters.
 *
 * @param definition - the callbacks.
 * @returns a behaviour to pass to `system.spawn` or a child spec.
 * @example
 * ```ts
 * const counter = defineServer({
 *   init: (start: number) => start,
 *   handleCall: (_msg: { type: "get" }, _from, n) => reply(n, n),
 *   handleCast: (msg: { type: "add"; by: number }, n) => n + msg.by,
 * });
 * const pid = await system.spawn(counter, { args: 1 });
 * system.cast(pid, { type: "add", by: 2 });
 * await system.call(pid, { type: "get" }); // 3
 * ```
 */
export function defineServer<Args, S, Call = never, R = never, Cast = never, Info = never>(
  definition: ServerDefinition<Args, S, Call, R, Cast, Info>,
): Server<Args, Protocol<Call, R, Cast, Info>> {
  return {
    kind: "server",
    definition: definition as unknown as ServerDefinition<Args, unknown, unknown, unknown, unknown, unknown>,
  };
}
