/**
 * A pool of interchangeable agents (the port of `Coordination.AgentPool`): a fixed number made up front,
 * more on demand up to an overflow limit, waiters served in arrival order with a timeout. It fixes the
 * original's leaks: a waiter that times out or is aborted leaves the queue (it is never handed an agent
 * nobody returns), a checked-in agent forgets its conversation, a paused or crashed agent is replaced by a
 * fresh one from the factory, and a double or foreign check-in is an error instead of a corrupt count.
 */
import {
  AgentAbortedError,
  CircuitOpenError,
  ContextOverflowError,
  EmptySummaryError,
  MaxIterationsError,
  ProviderError,
  RetryExhaustedError,
  StructuredOutputError,
} from "@normandy/agents";
import { type Clock, onAbort, systemClock, type Telemetry, type TimerHandle } from "@normandy/runtime";
import { ZodError } from "zod";
import {
  CancelledError,
  CoordinationError,
  NotCheckedOutError,
  PoolExhaustedError,
  PoolStoppedError,
} from "./errors.js";
import { orchestrationEvents } from "./orchestration.js";
import type { Runnable } from "./Runnable.js";

/** Which idle agent a checkout gets: the most recently returned (`lifo`) or the longest idle (`fifo`). */
export type PoolStrategy = "lifo" | "fifo";

/** How to build an {@link AgentPool}. */
export interface AgentPoolOptions<A extends Runnable> {
  /** Makes a fresh agent (at start, for overflow, and to replace a crashed one). Must not return a shared instance. */
  readonly create: () => A;
  /** Agents kept in the pool (default 10). */
  readonly size?: number;
  /** Extra agents made when all are in use, discarded on check-in (default 5). */
  readonly maxOverflow?: number;
  /** Default `lifo`. */
  readonly strategy?: PoolStrategy;
  /** Call a returned agent's `resetMemory()`, so no conversation leaks to its next user (default true). */
  readonly resetOnCheckin?: boolean;
  /**
   * Whether an error thrown inside {@link AgentPool.transaction} means the agent is broken and must be
   * replaced (default: anything but an agent's ordinary typed failures, see {@link isOrdinaryFailure}).
   */
  readonly isCrash?: (error: unknown) => boolean;
  /** Default limit of a checkout's wait, in ms (default 5000). */
  readonly checkoutTimeoutMs?: number;
  /** The pool's name in errors and telemetry (default `pool`). */
  readonly name?: string;
  /** The clock of checkout timeouts (default the system clock). */
  readonly clock?: Clock;
  /** Where transactions report `["normandy","orchestration","pool",…]` events. */
  readonly telemetry?: Telemetry;
}

/** Options of a checkout. */
export interface CheckoutOptions {
  /** How long to wait for a free agent, in ms (default the pool's `checkoutTimeoutMs`; 0 does not wait). */
  readonly timeoutMs?: number;
  /** Gives up the wait (rejecting with {@link CancelledError}); in a transaction, also aborts its function. */
  readonly signal?: AbortSignal;
}

/** Options of a check-in. */
export interface CheckinOptions {
  /** The agent is broken: discard it and make a fresh one. */
  readonly crashed?: boolean;
}

/** A snapshot of the pool's occupancy. */
export interface PoolStats {
  /** The configured size. */
  readonly size: number;
  /** Idle agents. */
  readonly available: number;
  /** Checked-out agents. */
  readonly inUse: number;
  /** Agents beyond `size` in existence now. */
  readonly overflow: number;
  /** Checkouts waiting for an agent. */
  readonly waiting: number;
}

interface Waiter<A> {
  readonly resolve: (agent: A) => void;
  readonly reject: (error: unknown) => void;
  /** Clears its timer and abort listener. */
  readonly release: () => void;
}

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/**
 * Whether an error is one an agent's run ordinarily fails with (a provider error, an invalid input or
 * output, the tool-loop cap, an abort, a coordination error): such a failure leaves the agent usable.
 *
 * @param error - what was thrown.
 * @returns true for an ordinary typed failure.
 */
export function isOrdinaryFailure(error: unknown): boolean {
  return (
    error instanceof ProviderError ||
    error instanceof StructuredOutputError ||
    error instanceof MaxIterationsError ||
    error instanceof AgentAbortedError ||
    error instanceof ContextOverflowError ||
    error instanceof EmptySummaryError ||
    error instanceof CircuitOpenError ||
    error instanceof RetryExhaustedError ||
    error instanceof ZodError ||
    error instanceof CoordinationError
  );
}

/**
 * A pool of interchangeable agents.
 *
 * @example
 * ```ts
 * const pool = new AgentPool({ create: () => defineAgent({ name: "support", provider, model }), size: 4 });
 * const answer = await pool.transaction((agent, signal) => runToResult(agent, "Where is my order?", signal));
 * await pool.stop();
 * ```
 */
export class AgentPool<A extends Runnable = Runnable> {
  /** The pool's name. */
  readonly name: string;
  readonly #create: () => A;
  readonly #size: number;
  readonly #maxOverflow: number;
  readonly #strategy: PoolStrategy;
  readonly #reset: boolean;
  readonly #isCrash: (error: unknown) => boolean;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #telemetry: Telemetry | undefined;
  readonly #idle: A[] = [];
  readonly #busy = new Set<A>();
  readonly #waiters: Waiter<A>[] = [];
  readonly #inFlight = new Set<InFlight>();
  #stopped = false;

  /**
   * Makes the pool and its first `size` agents.
   *
   * @param options - the factory, size, overflow, strategy and the rest.
   * @throws RangeError for a bad size or overflow; whatever the factory throws.
   */
  constructor(options: AgentPoolOptions<A>) {
    this.name = options.name ?? "pool";
    this.#create = options.create;
    this.#size = options.size ?? 10;
    this.#maxOverflow = options.maxOverflow ?? 5;
    if (!Number.isInteger(this.#size) || this.#size < 1)
      throw new RangeError(`AgentPool size must be an integer >= 1, got ${String(this.#size)}`);
    if (!Number.isInteger(this.#maxOverflow) || this.#maxOverflow < 0)
      throw new RangeError(`AgentPool maxOverflow must be an integer >= 0, got ${String(this.#maxOverflow)}`);
    this.#strategy = options.strategy ?? "lifo";
    this.#reset = options.resetOnCheckin ?? true;
    this.#isCrash = options.isCrash ?? ((error) => !isOrdinaryFailure(error));
    this.#timeoutMs = options.checkoutTimeoutMs ?? 5000;
    this.#clock = options.clock ?? systemClock;
    this.#telemetry = options.telemetry;
    for (let i = 0; i < this.#size; i++) this.#idle.push(this.#make());
  }

  /** The pool's occupancy. */
  stats(): PoolStats {
    return {
      size: this.#size,
      available: this.#idle.length,
      inUse: this.#busy.size,
      overflow: Math.max(0, this.#total - this.#size),
      waiting: this.#waiters.length,
    };
  }

  /**
   * Takes an agent: an idle one, else a new overflow agent, else waits (behind earlier waiters).
   *
   * @param options - how long to wait, and a signal to give up.
   * @returns the agent, yours until {@link AgentPool.checkin}.
   * @throws PoolExhaustedError when none became free in time; CancelledError on abort; PoolStoppedError;
   *   whatever the factory throws.
   */
  async checkout(options: CheckoutOptions = {}): Promise<A> {
    if (this.#stopped) throw new PoolStoppedError(this.name);
    const signal = options.signal;
    if (signal?.aborted) throw new CancelledError(signal.reason);
    const agent = this.#waiters.length === 0 ? this.#take() : undefined; // no jumping the queue
    if (agent !== undefined) return agent;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    if (timeoutMs <= 0) throw new PoolExhaustedError(this.name, 0);
    return new Promise<A>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const leave = (error: unknown) => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1); // a timed-out waiter is never handed an agent
        waiter.release();
        reject(error);
      };
      let detach = () => {};
      const waiter: Waiter<A> = {
        resolve,
        reject,
        release: () => {
          if (timer !== undefined) this.#clock.clearTimeout(timer);
          detach();
        },
      };
      this.#waiters.push(waiter);
      if (Number.isFinite(timeoutMs))
        timer = this.#clock.setTimeout(() => leave(new PoolExhaustedError(this.name, timeoutMs)), timeoutMs);
      // many waiters may share one signal: one listener on it for all of them
      if (signal !== undefined) detach = onAbort(signal, () => leave(new CancelledError(signal.reason)));
    });
  }

  /**
   * Returns a checked-out agent: it goes to the first waiter, back to the idle agents, or — when the
   * pool holds `size` agents without it (it is surplus, overflow) — away. Its memory is reset first (`resetOnCheckin`). A crashed agent,
   * or one whose run is paused for approval, is discarded and a fresh one made in its place.
   * After {@link AgentPool.stop} a check-in does nothing.
   *
   * @param agent - the agent from {@link AgentPool.checkout}.
   * @param options - `crashed: true` to have it replaced.
   * @throws NotCheckedOutError for an agent that is not checked out of this pool; what `resetMemory`
   *   or the factory throws (the agent is then discarded and the pool stays consistent).
   */
  checkin(agent: A, options: CheckinOptions = {}): void {
    if (this.#stopped) return;
    if (!this.#busy.has(agent)) throw new NotCheckedOutError(this.name, agent.name);
    this.#busy.delete(agent);
    if (options.crashed === true || isPaused(agent)) {
      this.#replace();
      return;
    }
    if (this.#reset && hasResetMemory(agent)) {
      try {
        agent.resetMemory();
      } catch (error) {
        this.#replace(); // its memory may still hold the last user's conversation
        throw error;
      }
    }
    this.#release(agent);
  }

  /**
   * Checks out an agent, runs `fn` with it, and checks it back in — even when `fn` throws. A throw the
   * pool's `isCrash` calls a crash has the agent replaced. `fn` gets a signal aborted by the caller's
   * signal and by {@link AgentPool.stop}: pass it to the agent's runs.
   *
   * @param fn - the work, given the agent and the transaction's signal.
   * @param options - the checkout's timeout and a signal.
   * @returns what `fn` returns.
   * @throws what `checkout` throws; what `fn` throws, except that a failure after an abort becomes
   *   PoolStoppedError (pool stopped) or CancelledError (caller's signal), with `fn`'s error as the cause.
   * @example
   * ```ts
   * const result = await pool.transaction((agent, signal) => agent.run("Summarise ticket 42", { signal }));
   * ```
   */
  async transaction<R>(
    fn: (agent: A, signal: AbortSignal) => R | Promise<R>,
    options: CheckoutOptions = {},
  ): Promise<R> {
    const agent = await this.checkout(options);
    const controller = new AbortController();
    let finished: () => void = () => {};
    const entry: InFlight = {
      controller,
      done: new Promise<void>((resolve) => {
        finished = resolve;
      }),
    };
    this.#inFlight.add(entry);
    const signal = options.signal;
    // at once if it was aborted between the hand-over and this continuation
    const detach = signal === undefined ? undefined : onAbort(signal, () => controller.abort(signal.reason));
    const now = () => this.#clock.now();
    const events = orchestrationEvents(
      this.#telemetry,
      "pool",
      { op: "transaction", pool: this.name, agent: agent.name },
      now,
    );
    const started = now();
    let crashed = false;
    try {
      const value = await fn(agent, controller.signal);
      events.agent(agent.name, { ok: true, durationMs: now() - started });
      events.stop();
      return value;
    } catch (error) {
      crashed = this.#isCrash(error);
      events.agent(agent.name, { ok: false, durationMs: now() - started, error });
      const reason: unknown = controller.signal.reason;
      const surfaced = !controller.signal.aborted
        ? error
        : reason instanceof PoolStoppedError
          ? new PoolStoppedError(this.name, error)
          : new CancelledError(reason);
      events.exception(surfaced);
      throw surfaced;
    } finally {
      detach?.();
      this.#inFlight.delete(entry);
      finished();
      this.checkin(agent, { crashed });
    }
  }

  /**
   * Stops the pool: rejects every waiter with {@link PoolStoppedError}, aborts the signal of every
   * transaction in flight, and drops every agent. Later checkouts are refused.
   *
   * @returns once every transaction in flight has finished (its function settled).
   */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      for (const waiter of this.#waiters.splice(0)) {
        waiter.release();
        waiter.reject(new PoolStoppedError(this.name));
      }
      this.#idle.length = 0;
      for (const { controller } of this.#inFlight) controller.abort(new PoolStoppedError(this.name));
    }
    await Promise.all([...this.#inFlight].map((t) => t.done));
    this.#busy.clear();
  }

  get #total(): number {
    return this.#idle.length + this.#busy.size;
  }

  /** A fresh agent from the factory. */
  #make(): A {
    const agent = this.#create();
    if (this.#busy.has(agent) || this.#idle.includes(agent))
      throw new TypeError(`AgentPool ${this.name}: the factory returned an agent already in the pool`);
    return agent;
  }

  /** An idle agent by strategy, else a new one while overflow is left, checked out; else undefined. */
  #take(): A | undefined {
    let agent = this.#strategy === "lifo" ? this.#idle.pop() : this.#idle.shift();
    if (agent === undefined && this.#total < this.#size + this.#maxOverflow) agent = this.#make();
    if (agent !== undefined) this.#busy.add(agent);
    return agent;
  }

  /** Hands a returned agent to the first waiter, else keeps it idle unless the pool is full. */
  #release(agent: A): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.release();
      this.#busy.add(agent);
      waiter.resolve(agent);
    } else if (this.#total < this.#size) {
      this.#idle.push(agent);
    } // else: an overflow agent with nobody waiting is discarded
  }

  /** A discarded agent's slot: a fresh agent when a waiter needs it or the pool is below size. */
  #replace(): void {
    if (this.#waiters.length > 0 || this.#total < this.#size) this.#release(this.#make());
  }
}

function isPaused(agent: Runnable): boolean {
  return (agent as { awaitingApproval?: unknown }).awaitingApproval === true;
}

function hasResetMemory(agent: Runnable): agent is Runnable & { resetMemory(): void } {
  return typeof (agent as { resetMemory?: unknown }).resetMemory === "function";
}
