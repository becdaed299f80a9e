/**
 * A process running any XState logic (machine, promise, callback, observable, custom) as a real xstate
 * `Actor` parented to its supervisor's ref. XState actors cannot trap exits: a non-normal exit signal
 * stops them. Their completion and errors reach the kernel through a subscription, which also keeps
 * XState from reporting a child's error as unhandled.
 */
import { type AnyActor, type AnyActorLogic, type AnyActorRef, createActor } from "xstate";
import type { ExitReason, ExitSignal } from "../ExitReason.js";
import type { Kernel } from "./Kernel.js";
import { type AnyEvent, Process, type StartOutcome } from "./Process.js";

/** Only `Actor#_stop` stops a non-root actor from outside its parent's transition; isolated here. */
interface Stoppable {
  _stop(): void;
}

/** A process wrapping an xstate `Actor`. */
export class LogicProcess extends Process {
  readonly actor: AnyActor;
  #stopReason: ExitReason | undefined;
  #starting: boolean;
  #startError: { readonly error: unknown } | undefined;

  /**
   * Creates (does not start) the actor.
   *
   * @param kernel - the owning kernel.
   * @param parent - the linked parent process, if any.
   * @param logic - the XState logic.
   * @param id - the actor id shown by the inspector.
   * @param input - the logic's input.
   * @param snapshot - a persisted snapshot to restore from.
   */
  constructor(
    kernel: Kernel,
    parent: Process | undefined,
    logic: AnyActorLogic,
    id: string | undefined,
    input: unknown,
    snapshot: unknown,
  ) {
    super(kernel, parent);
    const options: Record<string, unknown> = { parent: parent ? parent.ref : kernel.root, input };
    if (id !== undefined) options.id = id;
    if (snapshot !== undefined) options.snapshot = snapshot;
    this.actor = createActor(logic, options);
    this.#stopReason = undefined;
    this.#starting = false;
    this.#startError = undefined;
  }

  get pid(): string {
    return this.actor.sessionId;
  }

  get ref(): AnyActorRef {
    return this.actor;
  }

  get kind(): "logic" {
    return "logic";
  }

  /** Starts the actor; an actor that errors while starting is a failed start. */
  start(): StartOutcome {
    this.actor.subscribe({
      next: () => {
        if (this.durableKey !== undefined && this.alive) this.kernel.persist(this);
      },
      error: (error: unknown) => {
        if (this.#starting) this.#startError = { error };
        else this.kernel.exited(this, this.#stopReason ?? { error }, undefined, undefined);
      },
      complete: () => {
        if (!this.#starting) this.kernel.exited(this, this.#stopReason ?? "normal", undefined, undefined);
      },
    });
    this.#starting = true;
    this.actor.start();
    this.#starting = false;
    if (this.#startError !== undefined) {
      this.kernel.abortStart(this, this.#startError, undefined);
      return { ok: false, reason: this.#startError };
    }
    if (this.actor.getSnapshot().status !== "active") {
      // finished during start (e.g. a machine whose initial state is final)
      this.kernel.exited(this, "normal", undefined, undefined);
    }
    return { ok: true, process: this };
  }

  deliver(event: AnyEvent, sender: Process | undefined): void {
    if (!this.alive) {
      this.kernel.undeliverable(this, event);
      return;
    }
    if (sender !== undefined) this.kernel.relay(sender, this.actor, event);
    else this.actor.send(event);
  }

  deliverSystem(event: AnyEvent): void {
    this.deliver(event, undefined);
  }

  signal(_from: Process | undefined, reason: ExitSignal): void {
    if (!this.alive || reason === "normal") return;
    this.#halt(reason === "kill" ? "killed" : reason);
  }

  requestStop(reason: ExitReason): void {
    if (this.alive) this.#halt(reason);
  }

  snapshot(): unknown {
    return this.actor.getSnapshot();
  }

  #halt(reason: ExitReason): void {
    if (this.#stopReason !== undefined) return;
    this.#stopReason = reason;
    (this.actor as unknown as Stoppable)._stop();
  }
}
