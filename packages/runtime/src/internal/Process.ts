/**
 * What every process shares, whatever runs inside it: its pid, OTP parent, registered name, links and
 * monitors, and the hooks the kernel uses to deliver messages and exit signals.
 */
import type { AnyActorRef } from "xstate";
import type { ExitReason, ExitSignal } from "../ExitReason.js";
import type { Kernel } from "./Kernel.js";

/** An XState event (every message in the system is one). */
export interface AnyEvent {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** The kinds of process, as reported by `whichChildren` and telemetry. */
export type ProcessKind = "server" | "supervisor" | "logic";

/** The result of starting a process, as OTP's `{ok, Pid} | ignore | {error, Reason}`. */
export type StartOutcome =
  | { readonly ok: true; readonly process: Process }
  | { readonly ok: false; readonly reason: "ignore" | ExitReason };

/** Base class of the kernel's process records. */
export abstract class Process {
  /** The process id (the XState sessionId of its actor ref). */
  abstract readonly pid: string;
  /** The kernel this process runs in. */
  readonly kernel: Kernel;
  /** The process that started it with a link (its supervisor), or undefined for a top-level process. */
  readonly parent: Process | undefined;
  /** Its registered name, if any. */
  name: string | undefined;
  /** Linked processes (bidirectional), allocated on first link. */
  links: Set<Process> | undefined;
  /** Ids of monitors watching this process, allocated on first monitor. */
  watchers: Set<number> | undefined;
  /** Ids of monitors this process holds on others, allocated on first monitor. */
  monitoring: Set<number> | undefined;
  /** Set once the process has exited. */
  exitReason: ExitReason | undefined;
  /** The key of its persisted snapshot when durable. */
  durableKey: string | undefined;
  /** The supervisor's bookkeeping for this child (opaque to the kernel). */
  supervision: unknown;

  /**
   * @param kernel - the owning kernel.
   * @param parent - the linked parent, if any.
   */
  constructor(kernel: Kernel, parent: Process | undefined) {
    this.kernel = kernel;
    this.parent = parent;
    this.name = undefined;
    this.links = undefined;
    this.watchers = undefined;
    this.monitoring = undefined;
    this.exitReason = undefined;
    this.durableKey = undefined;
    this.supervision = undefined;
  }

  /** The XState actor ref standing for this process (the inspector's view of it). */
  abstract get ref(): AnyActorRef;
  /** What runs inside. */
  abstract get kind(): ProcessKind;
  /** Whether the process has not exited yet. */
  get alive(): boolean {
    return this.exitReason === undefined;
  }

  /** Delivers a message (cast or info) from `sender`; throws a typed error when a bound refuses it. */
  abstract deliver(event: AnyEvent, sender: Process | undefined): void;
  /** Delivers a runtime message (`DOWN`, trapped `EXIT`) that no mailbox bound may refuse. */
  abstract deliverSystem(event: AnyEvent, source?: Process): void;
  /**
   * Delivers an exit signal, with OTP's trap-exit rules.
   *
   * @param from - the process it comes from, if it is (still) known.
   * @param reason - the signal.
   * @param fromPid - the sender's pid when `from` is unknown (a link to a process already gone).
   */
  abstract signal(from: Process | undefined, reason: ExitSignal, fromPid?: string): void;
  /** Orders an orderly stop (gen_server:stop): `terminate` runs, then the process exits with `reason`. */
  abstract requestStop(reason: ExitReason): void;
  /** The current snapshot (what the inspector and `getSnapshot` show). */
  abstract snapshot(): unknown;
}
