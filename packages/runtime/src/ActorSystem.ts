/**
 * The actor system: the public entry point of the runtime. It starts processes (servers, supervisors,
 * any XState logic), addresses them by pid or name only, and carries calls, casts, info messages, exit
 * signals, monitors, timers, dead letters, telemetry and inspection.
 */
import type { AnyActor, AnyActorLogic, AnyActorRef, InspectionEvent, Observer, Subscription } from "xstate";
import { type Clock, systemClock } from "./Clock.js";
import type { DeadLetter } from "./DeadLetter.js";
import type { ExitReason, ExitSignal } from "./ExitReason.js";
import { InvalidArgumentError, NoProcError, RuntimeError, StartError } from "./errors.js";
import { kindOf } from "./internal/behaviour.js";
import { Kernel } from "./internal/Kernel.js";
import type { StartOutcome } from "./internal/Process.js";
import { ServerProcess } from "./internal/ServerProcess.js";
import type {
  Address,
  CallOptions,
  MailboxOptions,
  MonitorRef,
  Protocol,
  Server,
  TimerRef,
} from "./Server.js";
import type { SnapshotStore } from "./SnapshotStore.js";
import { Telemetry } from "./Telemetry.js";

/** Options of {@link ActorSystem.start}. */
export interface ActorSystemOptions {
  /** The clock of every timer (default: the real one). Pass a `ManualClock` in tests. */
  readonly clock?: Clock;
  /** An XState inspection observer (e.g. `createWebSocketInspector().inspect`). */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Where durable processes keep their snapshots. */
  readonly snapshotStore?: SnapshotStore;
  /** The telemetry bus to emit on (default: a new one, see {@link ActorSystem.telemetry}). */
  readonly telemetry?: Telemetry;
  /** XState's logger for `log` actions of machines. */
  readonly logger?: (...args: unknown[]) => void;
}

/** Options of spawning a server or supervisor. */
export interface SpawnOptions<Args> {
  /** The argument of `init`. */
  readonly args?: Args;
  /** A name to register (before `init` runs); a taken name rejects with {@link NameTakenError}. */
  readonly name?: string;
  /** Trap exits from the start (overrides the definition). */
  readonly trapExit?: boolean;
  /** Mailbox bounds (override the definition's). */
  readonly mailbox?: MailboxOptions;
  /** A snapshot-store key: the process saves its state after each step and resumes from it. */
  readonly durable?: string;
}

/** Options of spawning XState logic. */
export interface SpawnLogicOptions {
  /** The logic's input. */
  readonly input?: unknown;
  /** A name to register. */
  readonly name?: string;
  /** A snapshot-store key (persisted snapshot saved after each step, restored at start). */
  readonly durable?: string;
}

/** Options of {@link ActorSystem.stop}. */
export interface StopOptions {
  /** The exit reason (default `normal`). */
  readonly reason?: ExitReason;
  /** Milliseconds to wait (default `Infinity`, as `gen_server:stop`). */
  readonly timeout?: number;
}

/**
 * An actor system.
 *
 * @example
 * ```ts
 * const system = ActorSystem.start();
 * const pid = await system.spawn(counter, { args: 0, name: "counter" });
 * system.cast("counter", { type: "add", by: 2 });
 * console.log(await system.call(pid, { type: "get" })); // 2
 * await system.shutdown();
 * ```
 */
export class ActorSystem {
  readonly #kernel: Kernel;

  private constructor(kernel: Kernel) {
    this.#kernel = kernel;
  }

  /**
   * Starts an actor system.
   *
   * @param options - clock, inspector, snapshot store, telemetry bus, logger.
   * @returns the running system.
   */
  static start(options: ActorSystemOptions = {}): ActorSystem {
    const clock = options.clock ?? systemClock;
    const telemetry = options.telemetry ?? new Telemetry(clock);
    return new ActorSystem(
      new Kernel(clock, telemetry, options.snapshotStore, options.inspect, options.logger),
    );
  }

  /** The clock of every timer in the system. */
  get clock(): Clock {
    return this.#kernel.clock;
  }

  /** The telemetry bus the runtime emits on. */
  get telemetry(): Telemetry {
    return this.#kernel.telemetry;
  }

  /** The XState root actor; every top-level process is its child (for interop and inspection). */
  get root(): AnyActor {
    return this.#kernel.root;
  }

  /**
   * Starts a process running a server or supervisor behaviour, or any XState logic.
   *
   * @param behaviour - from `defineServer`, `defineSupervisor`, or an XState logic (machine, `fromPromise`, ...).
   * @param options - init args (or logic input), name, mailbox, durability.
   * @returns the pid, once `init` has returned.
   * @throws StartError when `init` throws, rejects or returns `ignore`; NameTakenError for a taken name.
   */
  spawn<Args, P extends Protocol>(
    behaviour: Server<Args, P>,
    options?: SpawnOptions<Args>,
  ): Promise<Address<P>>;
  spawn(logic: AnyActorLogic, options?: SpawnLogicOptions): Promise<Address>;
  async spawn(
    behaviour: Server | AnyActorLogic,
    options: SpawnOptions<unknown> & SpawnLogicOptions = {},
  ): Promise<Address> {
    const kernel = this.#kernel;
    let outcome: StartOutcome | Promise<StartOutcome>;
    const kind = kindOf(behaviour);
    if (kind === "server" || kind === "supervisor") {
      const server = behaviour as Server;
      outcome = kernel.startServer(
        server.definition,
        {
          args: options.args,
          name: options.name,
          id: options.name,
          trapExit: options.trapExit,
          capacity: options.mailbox?.capacity,
          overflow: options.mailbox?.overflow,
          durable: options.durable,
          kind,
        },
        undefined,
      );
    } else if (kind === "logic") {
      outcome = kernel.startLogic(
        behaviour as AnyActorLogic,
        { input: options.input, name: options.name, id: options.name, durable: options.durable },
        undefined,
      );
    } else {
      throw new InvalidArgumentError("spawn takes a server, a supervisor, or XState logic");
    }
    const result = await outcome;
    if (result.ok) return result.process.pid;
    const reason = result.reason;
    if (
      typeof reason === "object" &&
      "error" in reason &&
      reason.error instanceof RuntimeError &&
      !(reason.error instanceof StartError)
    ) {
      throw reason.error;
    }
    throw new StartError(reason);
  }

  /**
   * Sends an info message (an XState event) to a process; to no live process, it becomes a dead letter.
   *
   * @param to - a pid or name.
   * @param event - an object with a string `type`.
   * @throws MailboxFullError when a `reject` mailbox is full.
   */
  send(to: string, event: { readonly type: string }): void {
    this.#kernel.send(to, event as { readonly type: string; readonly [k: string]: unknown }, undefined);
  }

  /**
   * Casts a message to a server (handled by `handleCast`); to no live process, it becomes a dead letter.
   *
   * @param to - a pid or name.
   * @param msg - the message.
   * @throws MailboxFullError when a `reject` mailbox is full.
   */
  cast<P extends Protocol>(to: Address<P>, msg: P["cast"]): void {
    this.#kernel.cast(to, msg, undefined);
  }

  /**
   * Calls a server and waits for its reply.
   *
   * @param to - a pid or name.
   * @param msg - the request.
   * @param options - `timeout` in ms (default 5000).
   * @returns the reply.
   * @throws NoProcError, CallTimeoutError, CallExitError (the callee exited), MailboxFullError, NotAServerError.
   */
  call<P extends Protocol>(to: Address<P>, msg: P["call"], options?: CallOptions): Promise<P["reply"]> {
    return this.#kernel.call(to, msg, options?.timeout, undefined) as Promise<P["reply"]>;
  }

  /**
   * Stops a process in order, as `gen_server:stop`: queued messages ahead of the request are handled,
   * `terminate` runs, and the promise resolves once it has exited with `reason`.
   *
   * @param to - a pid or name.
   * @param options - reason (default `normal`) and timeout (default `Infinity`).
   * @throws NoProcError; CallExitError if it exited with another reason; CallTimeoutError.
   */
  stop(to: string, options: StopOptions = {}): Promise<void> {
    return this.#kernel.stop(to, options.reason ?? "normal", options.timeout ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Sends an exit signal from outside any process (OTP `exit/2`). `kill` cannot be trapped.
   *
   * @param to - a pid or name.
   * @param reason - the signal.
   * @returns whether a live process received it.
   */
  exit(to: string, reason: ExitSignal): boolean {
    return this.#kernel.exit(to, reason, undefined);
  }

  /**
   * Looks up a registered name.
   *
   * @param name - the name.
   * @returns the pid, or undefined when the name is free.
   */
  whereis(name: string): string | undefined {
    const proc = this.#kernel.resolve(name);
    return proc !== undefined && proc.name === name ? proc.pid : undefined;
  }

  /**
   * Registers a name for a live process (a process has at most one name).
   *
   * @param name - the name.
   * @param pid - the process.
   * @throws NameTakenError, NoProcError, InvalidArgumentError.
   */
  register(name: string, pid: string): void {
    const proc = this.#kernel.resolve(pid);
    if (proc === undefined) throw new NoProcError(pid);
    this.#kernel.register(name, proc);
  }

  /**
   * Frees a name.
   *
   * @param name - the name.
   * @returns whether it was registered.
   */
  unregister(name: string): boolean {
    return this.#kernel.unregister(name);
  }

  /** The registered names. */
  registered(): string[] {
    return this.#kernel.registered();
  }

  /**
   * Whether a pid or name refers to a live process.
   *
   * @param address - a pid or name.
   * @returns true when alive.
   */
  isAlive(address: string): boolean {
    return this.#kernel.resolve(address) !== undefined;
  }

  /** The number of live processes. */
  get processCount(): number {
    return this.#kernel.processCount;
  }

  /**
   * The current snapshot of a process (for a server, `context` is its state).
   *
   * @param address - a pid or name.
   * @returns the snapshot, or undefined when no such process is alive.
   */
  getSnapshot(address: string): unknown {
    return this.#kernel.resolve(address)?.snapshot();
  }

  /**
   * The XState actor ref of a process, for interop (a machine can `sendTo` it, `subscribe` observes
   * its snapshots). Hold it only within this system: across the API, address processes by pid or name.
   *
   * @param address - a pid or name.
   * @returns the ref, or undefined when no such process is alive.
   */
  actorRef(address: string): AnyActorRef | undefined {
    return this.#kernel.resolve(address)?.ref;
  }

  /**
   * The number of messages waiting in a server's mailbox.
   *
   * @param address - a pid or name.
   * @returns the depth (0 for non-servers), or undefined when no such process is alive.
   */
  mailboxDepth(address: string): number | undefined {
    const proc = this.#kernel.resolve(address);
    if (proc === undefined) return undefined;
    return proc instanceof ServerProcess ? proc.mailboxDepth : 0;
  }

  /**
   * Monitors a process from outside: `onDown` runs once when it exits (at once with `noproc` if it is gone).
   *
   * @param address - a pid or name.
   * @param onDown - called with the exit reason.
   * @returns a function that removes the monitor.
   */
  monitor(address: string, onDown: (reason: ExitReason) => void): () => void {
    const ref: MonitorRef = this.#kernel.monitor(onDown, address);
    return () => this.#kernel.demonitor(ref.id);
  }

  /**
   * Sends `event` to `to` after `ms` ms of the system clock.
   *
   * @param to - a pid or name (a timer to a pid that has exited is cancelled, as in OTP).
   * @param event - the event.
   * @param ms - the delay.
   * @returns the timer, for {@link ActorSystem.cancelTimer}.
   */
  sendAfter(to: string, event: { readonly type: string }, ms: number): TimerRef {
    return this.#kernel.sendAfter(
      to,
      event as { readonly type: string; readonly [k: string]: unknown },
      ms,
      undefined,
    );
  }

  /**
   * Cancels a timer.
   *
   * @param timer - from `sendAfter`.
   * @returns whether it was still pending.
   */
  cancelTimer(timer: TimerRef): boolean {
    return this.#kernel.cancelTimer(timer);
  }

  /**
   * Observes dead letters (messages that reached no handler).
   *
   * @param listener - called for each dead letter.
   * @returns a function that stops the observation.
   */
  onDeadLetter(listener: (letter: DeadLetter) => void): () => void {
    return this.#kernel.onDeadLetter(listener);
  }

  /**
   * Attaches an XState inspection observer; servers and supervisors report `@xstate.actor`,
   * `@xstate.event` and `@xstate.snapshot` events as XState actors do.
   *
   * @param observer - the observer (e.g. `createWebSocketInspector().inspect`).
   * @returns a subscription to detach it.
   */
  inspect(observer: Observer<InspectionEvent> | ((event: InspectionEvent) => void)): Subscription {
    return this.#kernel.inspect(observer);
  }

  /** Resolves once every pending durable snapshot write has finished. */
  flushSnapshots(): Promise<void> {
    return this.#kernel.flushSnapshots();
  }

  /**
   * Stops every top-level process in reverse start order (each stopped in order, with `terminate`;
   * one that outlives `timeout` is killed), flushes durable snapshots, and stops the system.
   *
   * @param options - `timeout` per process in ms (default `Infinity`).
   */
  shutdown(options: { readonly timeout?: number } = {}): Promise<void> {
    return this.#kernel.shutdown(options.timeout ?? Number.POSITIVE_INFINITY);
  }
}
