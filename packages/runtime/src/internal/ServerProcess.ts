/**
 * A process running a server behaviour. It is its own XState actor ref (it implements the `ActorRef`
 * interface rather than wrapping xstate's `Actor` class, which costs ~1.5 KB and caps creation near
 * 80k/s), and owns the mailbox loop: one message at a time, in arrival order, also while an async
 * handler is pending; a bounded queue; OTP's trap-exit rules; `terminate` before an orderly exit.
 */
import type { AnyActor, AnyActorRef, Observer, Subscription } from "xstate";
import type { ExitReason, ExitSignal } from "../ExitReason.js";
import { MailboxFullError } from "../errors.js";
import {
  type CallResult,
  type From,
  IGNORE,
  NoReply,
  type ServerContext,
  type ServerDefinition,
  type StateResult,
  Stop,
} from "../Server.js";
import { Context } from "./Context.js";
import { Deque } from "./Deque.js";
import type { Kernel } from "./Kernel.js";
import { type AnyEvent, Process, type ProcessKind, type StartOutcome } from "./Process.js";
import { exitMessage } from "./signals.js";
import { isThenable } from "./thenable.js";

/** Envelope of a call. */
export interface CallEnvelope extends AnyEvent {
  readonly type: "normandy.call";
  readonly msg: unknown;
  readonly from: From;
}

/** Envelope of a cast. */
export interface CastEnvelope extends AnyEvent {
  readonly type: "normandy.cast";
  readonly msg: unknown;
}

/** An orderly stop request (gen_server:stop), or a trapped exit signal from the parent. */
export interface StopEnvelope extends AnyEvent {
  readonly type: "normandy.stop";
  readonly reason: ExitReason;
}

/** Names of the runtime's own envelopes. */
export const CALL = "normandy.call";
export const CAST = "normandy.cast";
export const STOP = "normandy.stop";

type AnyDefinition = ServerDefinition<unknown, unknown, unknown, unknown, unknown, unknown>;

/** Lifecycle phases (plain numbers: enums are not erasable syntax). */
const Phase = { Init: 0, Ready: 1, Busy: 2, Terminating: 3, Dead: 4 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const DEFAULT_CAPACITY = 10_000;

/** The per-process settings given at spawn. */
export interface ServerStartOptions {
  readonly id: string | undefined;
  readonly trapExit: boolean | undefined;
  readonly capacity: number | undefined;
  readonly overflow: "reject" | "drop-oldest" | undefined;
  readonly kind: ProcessKind;
}

/** A server process (see the file comment). */
export class ServerProcess extends Process {
  readonly pid: string;
  /** ActorRef: the pid. */
  readonly sessionId: string;
  /** ActorRef: the label shown by the inspector (child id, name or pid). */
  id: string;
  /** ActorRef: the XState system the process belongs to. */
  readonly system: AnyActor["system"];
  /** ActorRef: the XState parent (the OTP parent's ref, or the system's root actor). */
  readonly _parent: AnyActorRef;
  /** ActorRef: the behaviour's name. */
  readonly src: string;
  /** The behaviour. */
  readonly def: AnyDefinition;
  /** The user state. */
  state: unknown;
  /** Whether exit signals arrive as messages. */
  trapping: boolean;
  readonly #kind: ProcessKind;
  readonly #capacity: number;
  readonly #dropOldest: boolean;
  #phase: Phase;
  #draining: boolean;
  #queue: Deque<AnyEvent> | undefined;
  #pending: Set<number> | undefined;
  #ctx: Context | undefined;
  #observers: Set<Observer<unknown>> | undefined;
  #snapshot: { status: string; context: unknown } | undefined;

  /**
   * @param kernel - the owning kernel.
   * @param parent - the linked parent process, if any.
   * @param pid - the pid to use.
   * @param def - the behaviour.
   * @param options - per-process settings.
   */
  constructor(
    kernel: Kernel,
    parent: Process | undefined,
    pid: string,
    def: AnyDefinition,
    options: ServerStartOptions,
  ) {
    super(kernel, parent);
    this.pid = pid;
    this.sessionId = pid;
    this.id = options.id ?? pid;
    this.system = kernel.xsystem;
    this._parent = parent ? parent.ref : kernel.root;
    this.src = def.name ?? "server";
    this.def = def;
    this.state = undefined;
    this.trapping = options.trapExit ?? def.trapExit ?? false;
    this.#kind = options.kind;
    this.#capacity = options.capacity ?? def.mailbox?.capacity ?? DEFAULT_CAPACITY;
    this.#dropOldest = (options.overflow ?? def.mailbox?.overflow) === "drop-oldest";
    this.#phase = Phase.Init;
    this.#draining = false;
    this.#queue = undefined;
    this.#pending = undefined;
    this.#ctx = undefined;
    this.#observers = undefined;
    this.#snapshot = undefined;
  }

  get ref(): AnyActorRef {
    return this as unknown as AnyActorRef;
  }

  get kind(): ProcessKind {
    return this.#kind;
  }

  /** The handlers' view of the system. */
  get ctx(): ServerContext {
    if (this.#ctx === undefined) this.#ctx = new Context(this);
    return this.#ctx;
  }

  /** The number of messages waiting in the mailbox. */
  get mailboxDepth(): number {
    return this.#queue?.length ?? 0;
  }

  /** Runs `init` (or adopts a restored state) and reports the outcome; async only if `init` is. */
  boot(
    args: unknown,
    restored: { readonly state: unknown } | undefined,
  ): StartOutcome | Promise<StartOutcome> {
    if (restored !== undefined) return this.#initDone(restored.state);
    let result: unknown;
    try {
      result = this.def.init(args, this.ctx);
    } catch (error) {
      return this.#initFailed(error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (state) => this.#initDone(state),
        (error: unknown) => this.#initFailed(error),
      );
    }
    return this.#initDone(result);
  }

  #initDone(state: unknown): StartOutcome {
    if (this.#phase === Phase.Dead) return { ok: false, reason: this.exitReason ?? "killed" };
    if (state instanceof Stop) return this.#initFailed(undefined, state.reason);
    if (state === IGNORE) {
      this.#phase = Phase.Dead;
      this.kernel.abortStart(this, "normal", undefined);
      return { ok: false, reason: "ignore" };
    }
    this.state = state;
    this.#phase = Phase.Ready;
    this.#changed({ type: "xstate.init" }, false);
    this.#drain();
    return { ok: true, process: this };
  }

  #initFailed(error: unknown, exact?: ExitReason): StartOutcome {
    if (this.#phase === Phase.Dead) return { ok: false, reason: this.exitReason ?? "killed" };
    const reason: ExitReason = exact ?? { error };
    this.#phase = Phase.Dead;
    this.kernel.abortStart(this, reason, this.#queue?.drain());
    return { ok: false, reason };
  }

  // ---- message delivery -------------------------------------------------------------------------

  deliver(event: AnyEvent, sender: Process | undefined): void {
    if (this.kernel.inspecting) this.kernel.inspectEvent(sender, this, event);
    this.#accept(event);
  }

  #accept(event: AnyEvent): void {
    if (this.#phase === Phase.Dead) {
      this.kernel.undeliverable(this, event);
      return;
    }
    if (
      this.#phase !== Phase.Ready ||
      this.#draining ||
      (this.#queue !== undefined && this.#queue.length > 0)
    ) {
      this.#enqueue(event, true);
      return;
    }
    this.#draining = true;
    this.#handle(event);
    this.#drainLoop();
    this.#draining = false;
  }

  /** Queues a runtime message (exit, down, stop); these bypass the mailbox bound, as signals do. */
  #deliverSystem(event: AnyEvent, source: Process | undefined): void {
    if (this.kernel.inspecting) this.kernel.inspectEvent(source, this, event);
    this.#enqueue(event, false);
    if (this.#phase === Phase.Ready && !this.#draining) this.#drain();
  }

  #enqueue(event: AnyEvent, bounded: boolean): void {
    if (this.#queue === undefined) this.#queue = new Deque<AnyEvent>();
    if (bounded && this.#queue.length >= this.#capacity) {
      this.kernel.overflow(this, this.#capacity, this.#dropOldest ? "drop-oldest" : "reject");
      if (!this.#dropOldest) throw new MailboxFullError(this.name ?? this.pid, this.#capacity, "reject");
      const dropped = this.#queue.shift();
      if (dropped !== undefined) this.kernel.dropped(this, dropped, this.#capacity);
    }
    this.#queue.push(event);
  }

  #drain(): void {
    this.#draining = true;
    this.#drainLoop();
    this.#draining = false;
  }

  #drainLoop(): void {
    const queue = this.#queue;
    if (queue === undefined) return;
    while (this.#phase === Phase.Ready && queue.length > 0) {
      this.#handle(queue.shift() as AnyEvent);
    }
  }

  // ---- XState ActorRef surface ------------------------------------------------------------------

  /** ActorRef: sends an event from outside any actor (shown as such by the inspector). */
  send(event: AnyEvent): void {
    this.deliver(event, undefined);
  }

  /** ActorRef: what XState's relay calls (e.g. a machine's `sendTo`). Child-lifecycle relays are ignored: the kernel tracks those. */
  _send(event: AnyEvent): void {
    if (event.type.startsWith("xstate.")) return;
    this.#accept(event);
  }

  /** ActorRef: processes are started by the kernel; this is a no-op. */
  start(): void {}

  /** ActorRef: an orderly stop with reason `normal`. */
  stop(): void {
    this.requestStop("normal");
  }

  /** ActorRef: the snapshot `{ status, output, error, context }`, where `context` is the user state. */
  getSnapshot(): unknown {
    return this.snapshot();
  }

  /** ActorRef: the snapshot with the state as the behaviour persists it. */
  getPersistedSnapshot(): unknown {
    const persist = this.def.durable?.persist;
    const snap = this.snapshot() as Record<string, unknown>;
    return { ...snap, context: persist ? persist(this.state) : this.state };
  }

  snapshot(): unknown {
    const status = statusOf(this.exitReason);
    const cached = this.#snapshot;
    if (cached !== undefined && cached.context === this.state && cached.status === status) return cached;
    const reason = this.exitReason;
    const snap = {
      status,
      output: status === "done" ? reason : undefined,
      error: status === "error" && typeof reason === "object" && "error" in reason ? reason.error : undefined,
      context: this.state,
    };
    this.#snapshot = snap;
    return snap;
  }

  /** ActorRef: observes snapshots; `complete` on a clean exit, `error` on an abnormal one. */
  subscribe(observerOrNext: Observer<unknown> | ((snapshot: unknown) => void)): Subscription {
    const observer: Observer<unknown> =
      typeof observerOrNext === "function" ? { next: observerOrNext } : observerOrNext;
    if (this.#phase === Phase.Dead) {
      this.#notifyEnd(observer);
      return { unsubscribe: () => {} };
    }
    if (this.#observers === undefined) this.#observers = new Set();
    this.#observers.add(observer);
    return { unsubscribe: () => this.#observers?.delete(observer) };
  }

  /** ActorRef: servers emit no events; the subscription is inert. */
  on(): Subscription {
    return { unsubscribe: () => {} };
  }

  /** ActorRef: a readable view of part of the snapshot. */
  select<T>(selector: (snapshot: unknown) => T, equal: (a: T, b: T) => boolean = Object.is) {
    return {
      get: () => selector(this.snapshot()),
      subscribe: (next: Observer<T> | ((value: T) => void)): Subscription => {
        const observer = typeof next === "function" ? { next } : next;
        let last = selector(this.snapshot());
        return this.subscribe((snap) => {
          const value = selector(snap);
          if (!equal(last, value)) {
            last = value;
            observer.next?.(value);
          }
        });
      },
    };
  }

  /** ActorRef: serialises as XState refs do. */
  toJSON(): { xstate$$type: number; id: string } {
    return { xstate$$type: 1, id: this.id };
  }

  [Symbol.for("observable")](): this {
    return this;
  }

  // ---- handling ---------------------------------------------------------------------------------

  #handle(event: AnyEvent): void {
    const def = this.def;
    const ctx = this.ctx;
    switch (event.type) {
      case CALL: {
        const { msg, from } = event as CallEnvelope;
        const handler = def.handleCall;
        if (handler === undefined) {
          this.#track(from);
          this.#crash(new Error(`${this.src} has no handleCall for ${describe(msg)}`));
          return;
        }
        let result: CallResult<unknown, unknown> | Promise<CallResult<unknown, unknown>>;
        try {
          result = handler(msg, from, this.state, ctx);
        } catch (error) {
          this.#track(from);
          this.#crash(error);
          return;
        }
        if (isThenable(result)) this.#await(result, event, from);
        else this.#applyCall(result, from, event);
        return;
      }
      case CAST: {
        const handler = def.handleCast;
        const { msg } = event as CastEnvelope;
        if (handler === undefined) {
          this.#crash(new Error(`${this.src} has no handleCast for ${describe(msg)}`));
          return;
        }
        let result: StateResult<unknown> | Promise<StateResult<unknown>>;
        try {
          result = handler(msg, this.state, ctx);
        } catch (error) {
          this.#crash(error);
          return;
        }
        this.#settleState(result, event);
        return;
      }
      case STOP:
        this.#terminate((event as StopEnvelope).reason);
        return;
      default: {
        const handler = def.handleInfo;
        if (handler === undefined) {
          this.kernel.unexpected(this, event);
          return;
        }
        let result: StateResult<unknown> | Promise<StateResult<unknown>>;
        try {
          result = handler(event as never, this.state, ctx);
        } catch (error) {
          this.#crash(error);
          return;
        }
        this.#settleState(result, event);
      }
    }
  }

  #settleState(result: StateResult<unknown> | Promise<StateResult<unknown>>, event: AnyEvent): void {
    if (isThenable(result)) this.#await(result, event, undefined);
    else this.#applyState(result, event);
  }

  #await(result: PromiseLike<unknown>, event: AnyEvent, from: From | undefined): void {
    this.#phase = Phase.Busy;
    if (from !== undefined) this.#track(from);
    result.then(
      (value) => {
        if (this.#phase !== Phase.Busy) return; // killed while pending: the result is moot
        this.#phase = Phase.Ready;
        if (from !== undefined) {
          this.#pending?.delete(from.ref);
          this.#applyCall(value as CallResult<unknown, unknown>, from, event);
        } else this.#applyState(value as StateResult<unknown>, event);
        if (this.#phase === Phase.Ready) this.#drain();
      },
      (error: unknown) => {
        if (this.#phase !== Phase.Busy) return;
        this.#phase = Phase.Ready;
        this.#crash(error);
      },
    );
  }

  #applyCall(result: CallResult<unknown, unknown>, from: From, event: AnyEvent): void {
    if (result instanceof NoReply) {
      this.#track(from);
      this.#setState(result.state, event);
    } else if (result instanceof Stop) {
      if (result.hasReply) this.kernel.reply(from, result.reply);
      else this.#track(from);
      this.state = result.state;
      this.#terminate(result.reason);
    } else if (typeof result === "object" && result !== null && "reply" in result && "state" in result) {
      this.#setState(result.state, event);
      this.kernel.reply(from, result.reply);
    } else {
      this.#track(from);
      this.#crash(
        new TypeError(
          `${this.src}.handleCall must return reply(), noreply() or stop(); got ${describe(result)}`,
        ),
      );
    }
  }

  #applyState(result: StateResult<unknown>, event: AnyEvent): void {
    if (result instanceof Stop) {
      this.state = result.state;
      this.#terminate(result.reason);
    } else this.#setState(result, event);
  }

  #setState(state: unknown, event: AnyEvent): void {
    const changed = state !== this.state;
    this.state = state;
    this.#changed(event, changed);
  }

  #changed(event: AnyEvent, stateChanged: boolean): void {
    if (this.kernel.inspecting) this.kernel.inspectSnapshot(this, event);
    if (this.#observers !== undefined) {
      const snap = this.snapshot();
      for (const observer of this.#observers) {
        try {
          observer.next?.(snap);
        } catch (error) {
          this.kernel.telemetry.report(
            ["normandy", "process", "observer_failed"],
            { pid: this.pid },
            error,
            `an observer of ${this.pid} threw`,
          );
        }
      }
    }
    if (stateChanged && this.durableKey !== undefined) this.kernel.persist(this);
  }

  /** Remembers a call that is owed a reply, so the caller learns the exit reason if none comes. */
  #track(from: From): void {
    if (this.#pending === undefined) this.#pending = new Set();
    this.#pending.add(from.ref);
  }

  /** Records that a deferred reply was sent. */
  replied(from: From): void {
    this.#pending?.delete(from.ref);
  }

  // ---- exits ------------------------------------------------------------------------------------

  signal(from: Process | undefined, reason: ExitSignal, fromPid?: string): void {
    if (this.#phase === Phase.Dead) return;
    if (reason === "kill") {
      this.#die("killed");
      return;
    }
    if (!this.trapping) {
      if (reason !== "normal") this.#die(reason);
      return;
    }
    if (from !== undefined && from === this.parent) {
      this.#deliverSystem({ type: STOP, reason } satisfies StopEnvelope, from);
    } else {
      this.#deliverSystem(exitMessage(from, from?.pid ?? fromPid, reason) as unknown as AnyEvent, from);
    }
  }

  requestStop(reason: ExitReason): void {
    if (this.#phase === Phase.Dead) return;
    this.#deliverSystem({ type: STOP, reason } satisfies StopEnvelope, undefined);
  }

  deliverSystem(event: AnyEvent, source?: Process): void {
    if (this.#phase === Phase.Dead) {
      this.kernel.undeliverable(this, event);
      return;
    }
    this.#deliverSystem(event, source);
  }

  #crash(error: unknown): void {
    this.#terminate({ error });
  }

  #terminate(reason: ExitReason): void {
    this.#phase = Phase.Terminating;
    const terminate = this.def.terminate;
    if (terminate === undefined) {
      this.#die(reason);
      return;
    }
    let result: unknown;
    try {
      result = terminate(reason, this.state, this.ctx);
    } catch (error) {
      this.#die({ error });
      return;
    }
    if (isThenable(result)) {
      result.then(
        () => this.#die(reason),
        (error: unknown) => this.#die({ error }),
      );
    } else this.#die(reason);
  }

  #die(reason: ExitReason): void {
    if (this.#phase === Phase.Dead) return;
    this.#phase = Phase.Dead;
    this.#ctx?.abort(reason);
    const queued = this.#queue?.drain();
    this.#queue = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    this.kernel.exited(this, reason, queued, pending);
    const observers = this.#observers;
    this.#observers = undefined;
    if (observers !== undefined) for (const observer of observers) this.#notifyEnd(observer);
  }

  #notifyEnd(observer: Observer<unknown>): void {
    const reason = this.exitReason;
    if (reason !== undefined && typeof reason === "object" && "error" in reason)
      observer.error?.(reason.error);
    else if (reason === "killed") observer.error?.(new Error(`${this.pid} was killed`));
    else observer.complete?.();
  }
}

function statusOf(reason: ExitReason | undefined): "active" | "done" | "error" {
  if (reason === undefined) return "active";
  if (reason === "killed" || (typeof reason === "object" && "error" in reason)) return "error";
  return "done";
}

function describe(value: unknown): string {
  if (typeof value === "object" && value !== null && "type" in value)
    return `{type: ${JSON.stringify((value as AnyEvent).type)}}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
