/**
 * The kernel behind `ActorSystem`: the process and name tables, pending calls with their correlation ids
 * and timeouts, monitors, links and exit propagation, timers, dead letters, durable snapshots, telemetry
 * and inspection. Every table is a Map, so spawning, exiting and addressing cost O(1) whatever the
 * number of processes.
 */
import {
  type AnyActor,
  type AnyActorLogic,
  type AnyActorRef,
  createActor,
  type InspectionEvent,
  type Observer,
  type Subscription,
} from "xstate";
import type { Clock, TimerHandle } from "../Clock.js";
import type { DeadLetter, DeadLetterReason } from "../DeadLetter.js";
import { type ExitReason, type ExitSignal, isCleanExit } from "../ExitReason.js";
import {
  CallExitError,
  CallingSelfError,
  CallTimeoutError,
  InvalidArgumentError,
  MailboxFullError,
  NameTakenError,
  NoProcError,
  NotAServerError,
  SystemStoppedError,
} from "../errors.js";
import type { From, MonitorRef, ServerDefinition, TimerRef } from "../Server.js";
import type { SnapshotStore } from "../SnapshotStore.js";
import type { Telemetry } from "../Telemetry.js";
import { DurableWriter } from "./DurableWriter.js";
import { LogicProcess } from "./LogicProcess.js";
import type { AnyEvent, Process, ProcessKind, StartOutcome } from "./Process.js";
import { CALL, CAST, type CallEnvelope, type CastEnvelope, ServerProcess } from "./ServerProcess.js";

interface PendingCall {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly address: string;
  timer: TimerHandle | undefined;
}

interface Monitor {
  readonly target: Process;
  readonly watcher: Process | ((reason: ExitReason) => void);
}

/** XState's relay (typed here; it exists on every system) so sends from processes name their source. */
interface Relaying {
  _relay(source: unknown, target: unknown, event: AnyEvent): void;
}

/** Options of a server start. */
export interface ServerSpawn {
  readonly args: unknown;
  readonly name: string | undefined;
  readonly id: string | undefined;
  readonly trapExit: boolean | undefined;
  readonly capacity: number | undefined;
  readonly overflow: "reject" | "drop-oldest" | undefined;
  readonly durable: string | undefined;
  readonly kind: ProcessKind;
}

/** Options of an XState logic start. */
export interface LogicSpawn {
  readonly input: unknown;
  readonly name: string | undefined;
  readonly id: string | undefined;
  readonly durable: string | undefined;
}

const PID_PATTERN = /^[px]:\d+$/;
const DEFAULT_CALL_TIMEOUT = 5_000;
let pidCounter = 0;

const rootLogic = {
  config: { id: "normandy" },
  transition: (snapshot: unknown) => snapshot,
  getInitialSnapshot: () => ({ status: "active", output: undefined, error: undefined, context: {} }),
  getPersistedSnapshot: (snapshot: unknown) => snapshot,
};

/** The kernel (see the file comment). */
export class Kernel {
  readonly clock: Clock;
  readonly telemetry: Telemetry;
  readonly store: SnapshotStore | undefined;
  /** The XState root actor: the parent of top-level processes. */
  readonly root: AnyActor;
  /** The XState system every process belongs to. */
  readonly xsystem: AnyActor["system"];
  /** True when an inspector is attached. */
  inspecting = false;
  stopped = false;
  readonly #procs = new Map<string, Process>();
  readonly #names = new Map<string, Process>();
  readonly #topLevel = new Set<Process>();
  readonly #calls = new Map<number, PendingCall>();
  readonly #monitors = new Map<number, Monitor>();
  readonly #timers = new Map<number, TimerHandle>();
  readonly #deadLetterListeners = new Set<(letter: DeadLetter) => void>();
  readonly #inspectors = new Set<Observer<InspectionEvent>>();
  readonly #durable: DurableWriter | undefined;
  #forwarder: Subscription | undefined;
  #callSeq = 0;
  #monitorSeq = 0;
  #timerSeq = 0;

  /**
   * @param clock - the clock of every timer.
   * @param telemetry - the telemetry bus.
   * @param store - the snapshot store for durable processes.
   * @param inspect - an inspection observer to attach from the start.
   * @param logger - XState's logger for `log` actions.
   */
  constructor(
    clock: Clock,
    telemetry: Telemetry,
    store: SnapshotStore | undefined,
    inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined,
    logger: ((...args: unknown[]) => void) | undefined,
  ) {
    this.clock = clock;
    this.telemetry = telemetry;
    this.store = store;
    this.#durable = store
      ? new DurableWriter(store, (key, error) => this.#persistFailed(key, error))
      : undefined;
    const options: Record<string, unknown> = { id: "normandy", clock };
    if (logger !== undefined) options.logger = logger;
    this.root = createActor(rootLogic as unknown as AnyActorLogic, options);
    this.xsystem = this.root.system;
    this.root.start();
    // the root was created before the inspector attached: `inspect` announces it as XState would have
    if (inspect !== undefined) this.inspect(inspect);
  }

  // ---- addressing -------------------------------------------------------------------------------

  /** The live process at a pid or registered name. */
  resolve(address: string): Process | undefined {
    return this.#procs.get(address) ?? this.#names.get(address);
  }

  /** The number of live processes. */
  get processCount(): number {
    return this.#procs.size;
  }

  /** Registers `name` for `proc`. */
  register(name: string, proc: Process): void {
    if (typeof name !== "string" || name.length === 0)
      throw new InvalidArgumentError("a name must be a non-empty string");
    if (PID_PATTERN.test(name))
      throw new InvalidArgumentError(`${JSON.stringify(name)} looks like a pid and cannot be a name`);
    const holder = this.#names.get(name);
    if (holder !== undefined && holder !== proc) throw new NameTakenError(name, holder.pid);
    if (proc.name !== undefined && proc.name !== name) {
      throw new InvalidArgumentError(`${proc.pid} is already registered as ${JSON.stringify(proc.name)}`);
    }
    if (!proc.alive) throw new NoProcError(proc.pid);
    this.#names.set(name, proc);
    proc.name = name;
  }

  /** Frees a name; returns whether it was registered. */
  unregister(name: string): boolean {
    const proc = this.#names.get(name);
    if (proc === undefined) return false;
    this.#names.delete(name);
    proc.name = undefined;
    return true;
  }

  /** The names currently registered. */
  registered(): string[] {
    return [...this.#names.keys()];
  }

  // ---- starting ---------------------------------------------------------------------------------

  /** Starts a server process (OTP `start_link` when `parent` is given). Async only when `init` is. */
  startServer(
    def: ServerDefinition<unknown, unknown, unknown, unknown, unknown, unknown>,
    spawn: ServerSpawn,
    parent: Process | undefined,
  ): StartOutcome | Promise<StartOutcome> {
    if (this.stopped) return { ok: false, reason: { error: new SystemStoppedError() } };
    if (spawn.durable !== undefined && this.#durable === undefined) return noStore();
    const proc = new ServerProcess(this, parent, `p:${++pidCounter}`, def, spawn);
    const failed = this.#admit(proc, spawn.name, parent);
    if (failed !== undefined) return failed;
    if (spawn.durable !== undefined && this.#durable !== undefined) {
      const key = spawn.durable;
      proc.durableKey = key;
      const restore = def.durable?.restore;
      // a failed read or restore is a failed start, never a rejection (a supervisor awaits this)
      const failStart = (error: unknown): StartOutcome => {
        this.abortStart(proc, { error }, undefined);
        return { ok: false, reason: { error } };
      };
      return this.#durable.read(key).then((stored) => {
        let restored: { readonly state: unknown } | undefined;
        try {
          restored = stored && { state: restore ? restore(stored.value) : stored.value };
        } catch (error) {
          return failStart(error);
        }
        return this.#started(proc.boot(spawn.args, restored));
      }, failStart);
    }
    return this.#started(proc.boot(spawn.args, undefined));
  }

  /** Starts any XState logic as a process. Async only when it is durable (the snapshot is read first). */
  startLogic(
    logic: AnyActorLogic,
    spawn: LogicSpawn,
    parent: Process | undefined,
  ): StartOutcome | Promise<StartOutcome> {
    if (this.stopped) return { ok: false, reason: { error: new SystemStoppedError() } };
    if (spawn.durable !== undefined) {
      if (this.#durable === undefined) return noStore();
      const key = spawn.durable;
      return this.#durable.read(key).then(
        (stored) => this.#startLogicNow(logic, spawn, parent, key, stored?.value),
        (error: unknown): StartOutcome => ({ ok: false, reason: { error } }),
      );
    }
    return this.#startLogicNow(logic, spawn, parent, undefined, undefined);
  }

  #startLogicNow(
    logic: AnyActorLogic,
    spawn: LogicSpawn,
    parent: Process | undefined,
    durableKey: string | undefined,
    snapshot: unknown,
  ): StartOutcome | Promise<StartOutcome> {
    let proc: LogicProcess;
    try {
      proc = new LogicProcess(this, parent, logic, spawn.id ?? spawn.name, spawn.input, snapshot);
    } catch (error) {
      return { ok: false, reason: { error } };
    }
    proc.durableKey = durableKey;
    const failed = this.#admit(proc, spawn.name, parent);
    if (failed !== undefined) return failed;
    return this.#started(proc.start());
  }

  /** Registers a new process's pid, name and parent link (before its init runs, as OTP does). */
  #admit(proc: Process, name: string | undefined, parent: Process | undefined): StartOutcome | undefined {
    if (name !== undefined) {
      try {
        this.register(name, proc);
      } catch (error) {
        return { ok: false, reason: { error } };
      }
    }
    this.#procs.set(proc.pid, proc);
    if (parent === undefined) this.#topLevel.add(proc);
    else this.#addLink(parent, proc);
    if (this.inspecting && proc instanceof ServerProcess)
      this.#emit({ type: "@xstate.actor", actorRef: proc } as unknown as InspectionEvent);
    return undefined;
  }

  #started(outcome: StartOutcome | Promise<StartOutcome>): StartOutcome | Promise<StartOutcome> {
    if (!this.telemetry.active) return outcome;
    const report = (o: StartOutcome) => {
      if (o.ok) {
        const p = o.process;
        this.telemetry.emit(
          ["normandy", "process", "start"],
          {},
          { pid: p.pid, name: p.name, kind: p.kind, parent: p.parent?.pid, parentName: p.parent?.name },
        );
      }
      return o;
    };
    return outcome instanceof Promise ? outcome.then(report) : report(outcome);
  }

  /** A start that failed (init threw or returned ignore): the parent is not signalled, OTP-style. */
  abortStart(proc: Process, reason: ExitReason, queued: AnyEvent[] | undefined): void {
    if (proc.parent !== undefined) this.#removeLink(proc.parent, proc);
    this.exited(proc, reason, queued, undefined);
  }

  // ---- messaging --------------------------------------------------------------------------------

  /** Sends an info message (any XState event); an unknown address makes a dead letter. */
  send(address: string, event: AnyEvent, sender: Process | undefined): void {
    assertEvent(event);
    const proc = this.resolve(address);
    if (proc === undefined) this.deadLetter(address, event, "noproc");
    else proc.deliver(event, sender);
  }

  /** Casts to a server (to plain XState logic the message itself is sent as the event). */
  cast(address: string, msg: unknown, sender: Process | undefined): void {
    const proc = this.resolve(address);
    if (proc === undefined) {
      this.deadLetter(address, msg, "noproc");
      return;
    }
    if (proc instanceof ServerProcess) proc.deliver({ type: CAST, msg } satisfies CastEnvelope, sender);
    else {
      assertEvent(msg);
      proc.deliver(msg, sender);
    }
  }

  /** Calls a server: the reply, or a typed error (noproc, timeout, the callee's exit, a full mailbox). */
  call(
    address: string,
    msg: unknown,
    timeout: number | undefined,
    caller: Process | undefined,
  ): Promise<unknown> {
    const ms = timeout ?? DEFAULT_CALL_TIMEOUT;
    if (!(ms >= 0))
      return Promise.reject(
        new InvalidArgumentError(`call timeout must be >= 0 ms or Infinity, got ${timeout}`),
      );
    const proc = this.resolve(address);
    if (proc === undefined) return Promise.reject(new NoProcError(address));
    if (!(proc instanceof ServerProcess)) return Promise.reject(new NotAServerError(address));
    if (proc === caller) return Promise.reject(new CallingSelfError(address));
    const ref = ++this.#callSeq;
    let pending: PendingCall | undefined;
    const promise = new Promise<unknown>((resolve, reject) => {
      pending = { resolve, reject, address, timer: undefined };
    });
    const call = pending as PendingCall;
    this.#calls.set(ref, call);
    try {
      proc.deliver({ type: CALL, msg, from: { ref, pid: caller?.pid } } satisfies CallEnvelope, caller);
    } catch (error) {
      this.#calls.delete(ref);
      call.reject(error as Error);
      return promise;
    }
    if (ms !== Number.POSITIVE_INFINITY && this.#calls.has(ref)) {
      call.timer = this.clock.setTimeout(() => {
        if (this.#calls.delete(ref)) call.reject(new CallTimeoutError(address, ms, ref));
      }, ms);
    }
    return promise;
  }

  /** Answers a call; a reply nobody waits for any more is a `late_reply` dead letter. */
  reply(from: From, value: unknown): void {
    const call = this.#calls.get(from.ref);
    if (call === undefined) {
      this.deadLetter(from.pid ?? `call#${from.ref}`, value, "late_reply");
      return;
    }
    this.#calls.delete(from.ref);
    if (call.timer !== undefined) this.clock.clearTimeout(call.timer);
    call.resolve(value);
  }

  #failCall(ref: number, error: Error): void {
    const call = this.#calls.get(ref);
    if (call === undefined) return;
    this.#calls.delete(ref);
    if (call.timer !== undefined) this.clock.clearTimeout(call.timer);
    call.reject(error);
  }

  /** Orders an orderly stop and resolves once the process is gone with that reason. */
  stop(address: string, reason: ExitReason, timeout: number): Promise<void> {
    const proc = this.resolve(address);
    if (proc === undefined) return Promise.reject(new NoProcError(address));
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const monitor = this.monitor((exit) => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        if (exit === reason) resolve();
        else reject(new CallExitError(address, exit));
      }, proc.pid);
      const expire = () => {
        this.demonitor(monitor.id);
        reject(new CallTimeoutError(address, timeout, monitor.id));
      };
      proc.requestStop(reason);
      // a zero timeout grants no grace at all: no timer (a manual clock would never fire it)
      if (timeout === 0) {
        if (proc.alive) expire();
      } else if (timeout !== Number.POSITIVE_INFINITY && proc.alive) {
        timer = this.clock.setTimeout(expire, timeout);
      }
    });
  }

  /** Sends an exit signal; returns whether a live process received it. */
  exit(address: string, reason: ExitSignal, sender: Process | undefined): boolean {
    const proc = this.resolve(address);
    if (proc === undefined) return false;
    proc.signal(sender, reason);
    return true;
  }

  /** Sends `event` to `address` after `ms` ms; a timer to a pid that has died is cancelled, as in OTP. */
  sendAfter(address: string, event: AnyEvent, ms: number, sender: Process | undefined): TimerRef {
    assertEvent(event);
    if (!(ms >= 0) || ms === Number.POSITIVE_INFINITY)
      throw new InvalidArgumentError(`sendAfter delay must be a finite number >= 0, got ${ms}`);
    const id = ++this.#timerSeq;
    const target = this.#procs.get(address);
    this.#timers.set(
      id,
      this.clock.setTimeout(() => {
        this.#timers.delete(id);
        if (target !== undefined) {
          if (target.alive) target.deliver(event, sender);
        } else this.send(address, event, sender);
      }, ms),
    );
    return { id };
  }

  /** Cancels a timer; returns whether it was still pending. */
  cancelTimer(timer: TimerRef): boolean {
    const handle = this.#timers.get(timer.id);
    if (handle === undefined) return false;
    this.#timers.delete(timer.id);
    this.clock.clearTimeout(handle);
    return true;
  }

  // ---- monitors and links -----------------------------------------------------------------------

  /** Monitors `target` for a process (DOWN message) or a callback; fires at once with `noproc` if it is gone. */
  monitor(watcher: Process | ((reason: ExitReason) => void), target: string): MonitorRef {
    const id = ++this.#monitorSeq;
    const proc = this.resolve(target);
    if (proc === undefined) {
      this.#down(watcher, id, target, "noproc");
      return { id };
    }
    this.#monitors.set(id, { target: proc, watcher });
    proc.watchers ??= new Set();
    proc.watchers.add(id);
    if (typeof watcher !== "function") {
      watcher.monitoring ??= new Set();
      watcher.monitoring.add(id);
    }
    return { id };
  }

  /** Removes a monitor (no DOWN is delivered for it afterwards). */
  demonitor(id: number): void {
    const monitor = this.#monitors.get(id);
    if (monitor === undefined) return;
    this.#monitors.delete(id);
    monitor.target.watchers?.delete(id);
    if (typeof monitor.watcher !== "function") monitor.watcher.monitoring?.delete(id);
  }

  #down(
    watcher: Process | ((reason: ExitReason) => void),
    id: number,
    pid: string,
    reason: ExitReason,
    source?: Process,
  ): void {
    if (typeof watcher === "function") watcher(reason);
    else if (watcher.alive) watcher.deliverSystem({ type: "DOWN", ref: id, pid, reason }, source);
  }

  /** Links `proc` to `target`; linking to a process that is gone signals `noproc` at once. */
  link(proc: Process, target: string): void {
    const other = this.resolve(target);
    if (other === undefined) {
      proc.signal(undefined, "noproc", target);
      return;
    }
    if (other !== proc) this.#addLink(proc, other);
  }

  /** Removes a link (both directions). */
  unlink(proc: Process, target: string): void {
    const other = this.resolve(target);
    if (other !== undefined) this.#removeLink(proc, other);
  }

  #addLink(a: Process, b: Process): void {
    a.links ??= new Set();
    a.links.add(b);
    b.links ??= new Set();
    b.links.add(a);
  }

  #removeLink(a: Process, b: Process): void {
    a.links?.delete(b);
    b.links?.delete(a);
  }

  // ---- exits ------------------------------------------------------------------------------------

  /**
   * Records that `proc` exited: frees its pid and name, fails the calls it owed or held queued, turns
   * its other queued messages into dead letters, fires monitors, and signals linked processes.
   */
  exited(
    proc: Process,
    reason: ExitReason,
    queued: AnyEvent[] | undefined,
    owed: Set<number> | undefined,
  ): void {
    if (proc.exitReason !== undefined) return;
    proc.exitReason = reason;
    this.#procs.delete(proc.pid);
    if (proc.name !== undefined && this.#names.get(proc.name) === proc) this.#names.delete(proc.name);
    this.#topLevel.delete(proc);
    const address = proc.name ?? proc.pid;
    if (owed !== undefined) for (const ref of owed) this.#failCall(ref, new CallExitError(address, reason));
    if (queued !== undefined) for (const event of queued) this.#discard(address, event, reason);
    if (proc.monitoring !== undefined) {
      for (const id of proc.monitoring) {
        const monitor = this.#monitors.get(id);
        this.#monitors.delete(id);
        monitor?.target.watchers?.delete(id);
      }
      proc.monitoring = undefined;
    }
    if (this.inspecting && proc instanceof ServerProcess) this.#inspectExit(proc, reason);
    if (this.telemetry.active) {
      this.telemetry.emit(
        ["normandy", "process", isCleanExit(reason) ? "stop" : "crash"],
        {},
        {
          pid: proc.pid,
          name: proc.name,
          kind: proc.kind,
          reason,
        },
      );
    }
    if (proc.durableKey !== undefined && reason === "normal") this.#durable?.remove(proc.durableKey);
    if (proc.watchers !== undefined) {
      const watchers = proc.watchers;
      proc.watchers = undefined;
      for (const id of watchers) {
        const monitor = this.#monitors.get(id);
        if (monitor === undefined) continue;
        this.#monitors.delete(id);
        if (typeof monitor.watcher !== "function") monitor.watcher.monitoring?.delete(id);
        this.#down(monitor.watcher, id, proc.pid, reason, proc);
      }
    }
    if (proc.links !== undefined) {
      const links = proc.links;
      proc.links = undefined;
      for (const other of links) {
        other.links?.delete(proc);
        other.signal(proc, reason);
      }
    }
  }

  #discard(address: string, event: AnyEvent, reason: ExitReason): void {
    if (event.type === CALL)
      this.#failCall((event as CallEnvelope).from.ref, new CallExitError(address, reason));
    else if (event.type !== "normandy.stop") this.deadLetter(address, event, "exited");
  }

  /** A message reached a process that has exited. */
  undeliverable(proc: Process, event: AnyEvent): void {
    const address = proc.name ?? proc.pid;
    if (event.type === CALL) this.#failCall((event as CallEnvelope).from.ref, new NoProcError(address));
    else this.deadLetter(address, event, "noproc");
  }

  /** A process received a message it has no handler for. */
  unexpected(proc: Process, event: AnyEvent): void {
    this.deadLetter(proc.name ?? proc.pid, event, "unexpected");
  }

  /** A bounded mailbox overflowed (reported before the policy applies). */
  overflow(proc: Process, capacity: number, policy: "reject" | "drop-oldest"): void {
    if (this.telemetry.active) {
      this.telemetry.emit(
        ["normandy", "mailbox", "overflow"],
        { capacity },
        { pid: proc.pid, name: proc.name, policy },
      );
    }
  }

  /** A `drop-oldest` mailbox dropped this message. */
  dropped(proc: Process, event: AnyEvent, capacity: number): void {
    const address = proc.name ?? proc.pid;
    if (event.type === CALL) {
      this.#failCall(
        (event as CallEnvelope).from.ref,
        new MailboxFullError(address, capacity, "drop-oldest"),
      );
    } else this.deadLetter(address, event, "overflow");
  }

  // ---- dead letters -----------------------------------------------------------------------------

  /** Reports a dead letter to the listeners and on the telemetry bus. */
  deadLetter(to: string, message: unknown, reason: DeadLetterReason): void {
    const letter: DeadLetter = { to, message, reason };
    if (this.telemetry.active) this.telemetry.emit(["normandy", "dead_letter"], {}, { ...letter });
    for (const listener of this.#deadLetterListeners) listener(letter);
  }

  /** Subscribes to dead letters. */
  onDeadLetter(listener: (letter: DeadLetter) => void): () => void {
    this.#deadLetterListeners.add(listener);
    return () => this.#deadLetterListeners.delete(listener);
  }

  // ---- durability -------------------------------------------------------------------------------

  /** Saves a durable process's snapshot (coalesced: the newest state always wins). */
  persist(proc: Process): void {
    const key = proc.durableKey;
    if (key === undefined || this.#durable === undefined) return;
    let value: unknown;
    if (proc instanceof ServerProcess) {
      const persist = proc.def.durable?.persist;
      value = persist ? persist(proc.state) : proc.state;
    } else value = (proc as LogicProcess).actor.getPersistedSnapshot();
    this.#durable.write(key, value);
  }

  /** Resolves once every pending snapshot write has finished. */
  flushSnapshots(): Promise<void> {
    return this.#durable?.flush() ?? Promise.resolve();
  }

  #persistFailed(key: string, error: unknown): void {
    for (const proc of this.#procs.values()) {
      if (proc.durableKey === key) proc.signal(undefined, { error });
    }
    if (this.telemetry.active) this.telemetry.emit(["normandy", "snapshot", "error"], {}, { key, error });
  }

  // ---- inspection -------------------------------------------------------------------------------

  /**
   * Attaches an inspection observer (XState's format; `@statelyai/inspect` works unchanged). It first
   * receives an `@xstate.actor` event for every actor already alive, so attaching to a running system
   * shows its current tree.
   */
  inspect(observer: Observer<InspectionEvent> | ((event: InspectionEvent) => void)): Subscription {
    const obs = typeof observer === "function" ? { next: observer } : observer;
    this.#inspectors.add(obs);
    this.inspecting = true;
    if (this.#forwarder === undefined)
      this.#forwarder = this.xsystem.inspect((event: InspectionEvent) => this.#forward(event));
    this.#announceTree(obs);
    return {
      unsubscribe: () => {
        this.#inspectors.delete(obs);
        if (this.#inspectors.size === 0) {
          this.inspecting = false;
          this.#forwarder?.unsubscribe();
          this.#forwarder = undefined;
        }
      },
    };
  }

  /** Reports an event delivered to a server process. */
  inspectEvent(source: Process | undefined, target: ServerProcess, event: AnyEvent): void {
    if (!this.inspecting) return;
    this.#emit({
      type: "@xstate.event",
      sourceRef: source?.ref,
      actorRef: target,
      event,
    } as unknown as unknown as InspectionEvent);
  }

  /** Reports a server process's new snapshot. */
  inspectSnapshot(proc: ServerProcess, event: AnyEvent): void {
    this.#emit({
      type: "@xstate.snapshot",
      actorRef: proc,
      event,
      snapshot: proc.snapshot(),
    } as unknown as unknown as InspectionEvent);
  }

  /** Reports a runtime fact (a restart, a shared-context write) as an event on `target`. */
  inspectRuntimeEvent(source: Process | undefined, target: Process, event: AnyEvent): void {
    if (!this.inspecting) return;
    this.#emit({
      type: "@xstate.event",
      sourceRef: source?.ref,
      actorRef: target.ref,
      event,
    } as unknown as unknown as InspectionEvent);
  }

  #inspectExit(proc: ServerProcess, reason: ExitReason): void {
    const clean = isCleanExit(reason);
    const event = clean
      ? { type: `xstate.done.actor.${proc.id}`, output: reason, actorId: proc.id }
      : {
          type: `xstate.error.actor.${proc.id}`,
          error: typeof reason === "object" && "error" in reason ? reason.error : reason,
          actorId: proc.id,
        };
    this.#emit({
      type: "@xstate.snapshot",
      actorRef: proc,
      event,
      snapshot: proc.snapshot(),
    } as unknown as unknown as InspectionEvent);
    this.#emit({
      type: "@xstate.event",
      sourceRef: proc,
      actorRef: proc._parent,
      event,
    } as unknown as unknown as InspectionEvent);
  }

  /**
   * Announces the live actors to one observer, parents first: the root, every process in start order
   * (a parent is always admitted before its children), and the XState children of machine processes.
   */
  #announceTree(observer: Observer<InspectionEvent>): void {
    const rootId = this.root.sessionId;
    // a machine's XState children are actors but not processes: each ref is reached once
    const announce = (ref: AnyActorRef): void => {
      observer.next?.({ type: "@xstate.actor", actorRef: ref, rootId } as unknown as InspectionEvent);
      const children = (ref.getSnapshot() as { children?: unknown } | undefined)?.children;
      if (typeof children === "object" && children !== null)
        for (const child of Object.values(children as Record<string, AnyActorRef | undefined>))
          if (child !== undefined) announce(child);
    };
    announce(this.root);
    for (const proc of this.#procs.values()) announce(proc.ref);
  }

  #emit(event: InspectionEvent): void {
    (event as { rootId: string }).rootId = this.root.sessionId;
    this.#forward(event);
  }

  #forward(event: InspectionEvent): void {
    for (const observer of this.#inspectors) observer.next?.(event);
  }

  /** Relays an event from a process to an XState actor so the inspector names its source. */
  relay(source: Process, target: AnyActor, event: AnyEvent): void {
    (this.xsystem as unknown as Relaying)._relay(source.ref, target, event);
  }

  // ---- shutdown ---------------------------------------------------------------------------------

  /** Stops every top-level process in reverse start order (each with `terminate`), then the root. */
  async shutdown(timeout: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const proc of [...this.#topLevel].reverse()) {
      if (!proc.alive) continue;
      await this.stop(proc.pid, "shutdown", timeout).catch((error: unknown) => {
        // timed out, exited with another reason, or already gone: make sure it is dead and go on
        if (proc.alive) proc.signal(undefined, "kill");
        if (
          !(
            error instanceof CallTimeoutError ||
            error instanceof CallExitError ||
            error instanceof NoProcError
          )
        )
          throw error;
      });
    }
    for (const handle of this.#timers.values()) this.clock.clearTimeout(handle);
    this.#timers.clear();
    await this.flushSnapshots();
    this.root.stop();
  }
}

function noStore(): StartOutcome {
  return {
    ok: false,
    reason: {
      error: new InvalidArgumentError("a durable process needs a snapshotStore in ActorSystem.start"),
    },
  };
}

function assertEvent(event: unknown): asserts event is AnyEvent {
  if (typeof event !== "object" || event === null || typeof (event as { type?: unknown }).type !== "string") {
    throw new InvalidArgumentError(
      "a message sent to a process must be an object with a string `type` (an XState event)",
    );
  }
}
