/**
 * The {@link ServerContext} a server's handlers receive: the system seen from inside one process, so
 * calls carry the caller's pid, monitors and links attach to it, and its abort signal follows its life.
 */
import type { ExitReason } from "../ExitReason.js";
import type { Address, CallOptions, From, MonitorRef, Protocol, ServerContext, TimerRef } from "../Server.js";
import type { ServerProcess } from "./ServerProcess.js";

/** The context object of one server process. */
export class Context implements ServerContext {
  readonly #proc: ServerProcess;
  #controller: AbortController | undefined;

  /** @param proc - the process this context belongs to. */
  constructor(proc: ServerProcess) {
    this.#proc = proc;
    this.#controller = undefined;
  }

  /** The process (runtime-internal: behaviours such as the supervisor need it). */
  get process(): ServerProcess {
    return this.#proc;
  }

  get self(): string {
    return this.#proc.pid;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      const reason = this.#proc.exitReason;
      if (reason !== undefined) this.#controller.abort(reason);
    }
    return this.#controller.signal;
  }

  get trappingExits(): boolean {
    return this.#proc.trapping;
  }

  /** Aborts the signal (the process exited). */
  abort(reason: ExitReason): void {
    this.#controller?.abort(reason);
  }

  reply(from: From, value: unknown): void {
    this.#proc.replied(from);
    this.#proc.kernel.reply(from, value);
  }

  call<P extends Protocol>(to: Address<P>, msg: P["call"], options?: CallOptions): Promise<P["reply"]> {
    return this.#proc.kernel.call(to, msg, options?.timeout, this.#proc) as Promise<P["reply"]>;
  }

  cast<P extends Protocol>(to: Address<P>, msg: P["cast"]): void {
    this.#proc.kernel.cast(to, msg, this.#proc);
  }

  send(to: string, event: { readonly type: string }): void {
    this.#proc.kernel.send(to, event, this.#proc);
  }

  sendAfter(to: string, event: { readonly type: string }, ms: number): TimerRef {
    return this.#proc.kernel.sendAfter(to, event, ms, this.#proc);
  }

  cancelTimer(timer: TimerRef): boolean {
    return this.#proc.kernel.cancelTimer(timer);
  }

  monitor(target: string): MonitorRef {
    return this.#proc.kernel.monitor(this.#proc, target);
  }

  demonitor(ref: MonitorRef): void {
    this.#proc.kernel.demonitor(ref.id);
  }

  link(target: string): void {
    this.#proc.kernel.link(this.#proc, target);
  }

  unlink(target: string): void {
    this.#proc.kernel.unlink(this.#proc, target);
  }

  trapExit(on: boolean): void {
    this.#proc.trapping = on;
  }

  reject(message: unknown): void {
    this.#proc.kernel.deadLetter(this.self, message, "invalid");
  }

  exit(target: string, reason: ExitReason | "kill"): void {
    this.#proc.kernel.exit(target, reason, this.#proc);
  }
}
