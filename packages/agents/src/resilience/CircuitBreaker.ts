/**
 * The circuit breaker: Normandy's `Resilience.CircuitBreaker` GenServer as a server process of the
 * runtime, so one breaker per provider and model is shared by name by every agent that calls it.
 *
 * Unlike the original, admission is one atomic call (`acquire` takes a half-open trial slot in the same
 * step that checks for one), and the caller reports the outcome with one cast in a `finally`, so a
 * throw, a rejection or an abort can never leak a half-open slot. The open → half-open transition is
 * lazy: it happens on the first `acquire`, `state` or `metrics` after `openTimeoutMs` of the system clock.
 */
import {
  type ActorSystem,
  type CallResult,
  type ChildSpec,
  type Clock,
  defineServer,
  InvalidArgumentError,
  NameTakenError,
  reply,
  type Telemetry,
} from "@normandy/runtime";
import { ProviderError } from "../providers/ProviderError.js";
import { CircuitOpenError, type CircuitState } from "./errors.js";

/** Options of a circuit breaker. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open a closed circuit (integer ≥ 1; default 5). */
  readonly failureThreshold?: number;
  /** Successful trial calls that close a half-open circuit (integer ≥ 1; default 2). */
  readonly successThreshold?: number;
  /** How long the circuit stays open before it lets a trial call through, in ms (default 60000). */
  readonly openTimeoutMs?: number;
  /** Trial calls allowed at once while half-open (integer ≥ 1; default 1). */
  readonly halfOpenMaxCalls?: number;
  /**
   * Which errors count as failures (default {@link defaultIsFailure}). An error that is not a failure
   * is neutral: it frees its slot but neither opens nor closes the circuit, nor resets the count.
   */
  readonly isFailure?: (error: unknown) => boolean;
}

/** Options of {@link CircuitBreaker.start}. */
export interface CircuitBreakerStartOptions extends CircuitBreakerOptions {
  /** The name the breaker process is registered under (and reports in errors and telemetry). */
  readonly name: string;
}

/** A snapshot of a breaker. */
export interface CircuitMetrics {
  readonly state: CircuitState;
  /** Consecutive failures counted towards `failureThreshold` (reset by a success while closed). */
  readonly failures: number;
  /** Successful trial calls counted towards `successThreshold` while half-open. */
  readonly successes: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  /** When the circuit last opened, on the system clock (undefined unless open or half-open). */
  readonly openedAt: number | undefined;
  /** When the last failure was recorded, on the system clock. */
  readonly lastFailureAt: number | undefined;
  /** Calls refused since the breaker started (a cumulative counter; `reset` keeps it). */
  readonly rejected: number;
  /** Trial calls running now while half-open. */
  readonly halfOpenInFlight: number;
}

/** How a call admitted by the breaker ended. */
export type CircuitOutcome =
  | { readonly type: "success" }
  | { readonly type: "error"; readonly error: unknown }
  /** The caller gave the call up without an outcome (a stream consumer that stopped early): neutral. */
  | { readonly type: "abandoned" };

/** The telemetry event of a state change, with metadata `{ name, from, to }`. */
export const CIRCUIT_STATE_CHANGE = ["normandy", "circuit_breaker", "state_change"] as const;

/** The telemetry event reported when an outcome could not be delivered to the breaker. */
export const CIRCUIT_RELEASE_FAILED = ["normandy", "circuit_breaker", "release_failed"] as const;

/**
 * The default failure test: a retryable {@link ProviderError} (rate limit, overloaded, server,
 * timeout, network) and any other error are failures. Non-retryable ProviderErrors (auth, permission,
 * invalid_request, context_length_exceeded, quota_exhausted, content_filter, aborted), an `AbortError`
 * and a {@link CircuitOpenError} from a nested breaker are not: they say nothing about the service's
 * health (a bad request or key proves it answered), so they must not open the circuit.
 *
 * @param error - what the call threw.
 * @returns whether it counts as a failure.
 */
export function defaultIsFailure(error: unknown): boolean {
  if (error instanceof ProviderError) return error.retryable;
  if (error instanceof CircuitOpenError) return false;
  if (error instanceof Error && error.name === "AbortError") return false;
  return true;
}

/** Identifies an admission: the breaker's generation (it changes on every transition) and the mode. */
interface Ticket {
  readonly generation: number;
  readonly trial: boolean;
}

type Admission =
  | { readonly admitted: true; readonly ticket: Ticket }
  | {
      readonly admitted: false;
      readonly state: "open" | "half_open";
      readonly retryAt: number | undefined;
      readonly now: number;
    };

type BreakerCall =
  | { readonly type: "acquire" }
  | { readonly type: "state" }
  | { readonly type: "metrics" }
  | { readonly type: "reset" }
  | { readonly type: "trip" };

type BreakerReply = Admission | CircuitState | CircuitMetrics | undefined;

type BreakerCast = { readonly type: "release"; readonly ticket: Ticket; readonly outcome: CircuitOutcome };

interface BreakerArgs {
  readonly name: string;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly openTimeoutMs: number;
  readonly halfOpenMaxCalls: number;
  readonly isFailure: (error: unknown) => boolean;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
}

/** The breaker's state machine (the server's state; every method runs inside one message). */
class Breaker {
  readonly #a: BreakerArgs;
  #state: CircuitState = "closed";
  #generation = 0;
  #failures = 0;
  #successes = 0;
  #openedAt: number | undefined;
  /** When an open circuit half-opens (meaningful only while open). */
  #halfOpenAt = 0;
  #lastFailureAt: number | undefined;
  #rejected = 0;
  #inFlight = 0;

  constructor(args: BreakerArgs) {
    this.#a = args;
  }

  acquire(): Admission {
    this.#tick();
    if (this.#state === "closed")
      return { admitted: true, ticket: { generation: this.#generation, trial: false } };
    if (this.#state === "half_open" && this.#inFlight < this.#a.halfOpenMaxCalls) {
      this.#inFlight++;
      return { admitted: true, ticket: { generation: this.#generation, trial: true } };
    }
    this.#rejected++;
    const open = this.#state === "open";
    return {
      admitted: false,
      state: open ? "open" : "half_open",
      retryAt: open ? this.#halfOpenAt : undefined,
      now: this.#a.clock.now(),
    };
  }

  /**
   * Records an outcome. One from an earlier generation (admitted before a transition, a reset or a
   * trip) is ignored: it says nothing about the current trial, and its slot no longer exists.
   */
  release(ticket: Ticket, outcome: CircuitOutcome): void {
    if (ticket.generation !== this.#generation) return;
    if (ticket.trial) this.#inFlight--;
    const verdict = this.#verdict(outcome);
    if (verdict === "neutral") return;
    if (verdict === "failure") {
      this.#lastFailureAt = this.#a.clock.now();
      if (this.#state === "half_open") this.#open();
      else {
        this.#failures++;
        if (this.#failures >= this.#a.failureThreshold) this.#open();
      }
    } else if (this.#state === "half_open") {
      this.#successes++;
      if (this.#successes >= this.#a.successThreshold) this.#close();
    } else this.#failures = 0;
  }

  state(): CircuitState {
    this.#tick();
    return this.#state;
  }

  metrics(): CircuitMetrics {
    this.#tick();
    return {
      state: this.#state,
      failures: this.#failures,
      successes: this.#successes,
      failureThreshold: this.#a.failureThreshold,
      successThreshold: this.#a.successThreshold,
      openedAt: this.#openedAt,
      lastFailureAt: this.#lastFailureAt,
      rejected: this.#rejected,
      halfOpenInFlight: this.#inFlight,
    };
  }

  reset(): void {
    this.#close();
    this.#lastFailureAt = undefined;
  }

  trip(): void {
    this.#open();
  }

  #verdict(outcome: CircuitOutcome): "success" | "failure" | "neutral" {
    if (outcome.type === "success") return "success";
    if (outcome.type === "abandoned") return "neutral";
    try {
      return this.#a.isFailure(outcome.error) ? "failure" : "neutral";
    } catch (error) {
      // a broken predicate must not crash the shared breaker: count a failure (the safe side) and say so
      this.#a.telemetry.report(
        ["normandy", "circuit_breaker", "is_failure_threw"],
        { name: this.#a.name },
        error,
        `circuit breaker ${JSON.stringify(this.#a.name)}: isFailure threw; counted as a failure`,
      );
      return "failure";
    }
  }

  /** The lazy open → half-open transition. */
  #tick(): void {
    if (this.#state === "open" && this.#a.clock.now() >= this.#halfOpenAt) this.#transition("half_open");
  }

  #open(): void {
    this.#openedAt = this.#a.clock.now();
    this.#halfOpenAt = this.#openedAt + this.#a.openTimeoutMs;
    this.#transition("open");
  }

  #close(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
    this.#transition("closed");
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    this.#successes = 0;
    this.#inFlight = 0;
    if (from !== to && this.#a.telemetry.active)
      this.#a.telemetry.emit(CIRCUIT_STATE_CHANGE, {}, { name: this.#a.name, from, to });
  }
}

/** The breaker's server behaviour (for supervision, see {@link CircuitBreaker.childSpec}). */
export const circuitBreakerServer = defineServer({
  name: "circuit_breaker",
  init: (args: BreakerArgs) => new Breaker(args),
  handleCall: (msg: BreakerCall, _from, breaker: Breaker): CallResult<Breaker, BreakerReply> => {
    switch (msg.type) {
      case "acquire":
        return reply(breaker.acquire(), breaker);
      case "state":
        return reply(breaker.state(), breaker);
      case "metrics":
        return reply(breaker.metrics(), breaker);
      case "reset":
        breaker.reset();
        return reply(undefined, breaker);
      case "trip":
        breaker.trip();
        return reply(undefined, breaker);
    }
  },
  handleCast: (msg: BreakerCast, breaker: Breaker) => {
    breaker.release(msg.ticket, msg.outcome);
    return breaker;
  },
  // unbounded: a release refused by a full mailbox would wedge a trial slot; every handler is O(1)
  mailbox: { capacity: Number.POSITIVE_INFINITY },
});

/** A permit to run one call, from {@link CircuitBreaker.acquire}; release it exactly once. */
export interface CircuitPermit {
  /**
   * Reports how the call ended (only the first report counts). It never throws: a report that cannot
   * be delivered is reported on the system's telemetry as `["normandy","circuit_breaker","release_failed"]`.
   *
   * @param outcome - success, error (classified by the breaker's `isFailure`), or abandoned (neutral).
   */
  release(outcome: CircuitOutcome): void;
}

/** The handle callers use; see {@link CircuitBreaker}. */
export type CircuitBreakerHandle = CircuitBreaker;

/**
 * A handle on a circuit breaker process. Handles are cheap: any number may address the same breaker,
 * from any process, by its registered name.
 *
 * @example
 * ```ts
 * const breaker = await CircuitBreaker.shared(system, "anthropic:claude-sonnet-4-5", { failureThreshold: 3 });
 * const response = await breaker.call(() => provider.complete(request));
 * ```
 */
export class CircuitBreaker {
  /** The registered name of the breaker process. */
  readonly name: string;
  readonly #system: ActorSystem;

  private constructor(system: ActorSystem, name: string) {
    this.#system = system;
    this.name = name;
  }

  /**
   * Starts a breaker process registered under `options.name`.
   *
   * @param system - the actor system (its clock and telemetry are the breaker's).
   * @param options - the name and thresholds.
   * @returns a handle on the running breaker.
   * @throws InvalidArgumentError for an option out of its domain; NameTakenError if the name is taken.
   * @example
   * ```ts
   * const breaker = await CircuitBreaker.start(system, { name: "search-api", openTimeoutMs: 30_000 });
   * ```
   */
  static async start(system: ActorSystem, options: CircuitBreakerStartOptions): Promise<CircuitBreaker> {
    await system.spawn(circuitBreakerServer, { args: breakerArgs(system, options), name: options.name });
    return new CircuitBreaker(system, options.name);
  }

  /**
   * The breaker shared under `breaker:<key>` (for example `anthropic:claude-sonnet-4-5`), started with
   * `options` if none runs yet. Concurrent calls racing to start it all get the one that won; the options
   * of the losers (and of any later call) are ignored.
   *
   * @param system - the actor system.
   * @param key - what the breaker protects, typically `provider:model`.
   * @param options - thresholds, used only if this call starts the breaker.
   * @returns a handle on the shared breaker.
   * @example
   * ```ts
   * const breaker = await CircuitBreaker.shared(system, `${provider.name}:${model}`);
   * ```
   */
  static async shared(
    system: ActorSystem,
    key: string,
    options: CircuitBreakerOptions = {},
  ): Promise<CircuitBreaker> {
    const name = `breaker:${key}`;
    if (system.whereis(name) !== undefined) return new CircuitBreaker(system, name);
    try {
      return await CircuitBreaker.start(system, { ...options, name });
    } catch (error) {
      // another caller registered the name first: use theirs
      if (error instanceof NameTakenError) return new CircuitBreaker(system, name);
      throw error;
    }
  }

  /**
   * A handle on a breaker started elsewhere (for example by a supervisor from {@link CircuitBreaker.childSpec}).
   *
   * @param system - the actor system.
   * @param name - the breaker's registered name.
   * @returns the handle (calls fail with NoProcError while no breaker runs under that name).
   */
  static at(system: ActorSystem, name: string): CircuitBreaker {
    return new CircuitBreaker(system, name);
  }

  /**
   * A child spec that runs a breaker under a supervisor, registered under `options.name`.
   *
   * @param system - the actor system (for its clock and telemetry).
   * @param options - the name and thresholds.
   * @returns the child spec (id = the name).
   */
  static childSpec(system: ActorSystem, options: CircuitBreakerStartOptions): ChildSpec {
    return {
      id: options.name,
      start: circuitBreakerServer,
      args: breakerArgs(system, options),
      name: options.name,
    };
  }

  /**
   * Runs `fn` through the breaker: one atomic admission call, then `fn` in the caller, then one cast
   * with the outcome, sent in a `finally` whatever `fn` did.
   *
   * @param fn - the protected work.
   * @returns what `fn` returned.
   * @throws CircuitOpenError when refused; otherwise whatever `fn` threw.
   * @example
   * ```ts
   * const response = await breaker.call(() => provider.complete(request, { signal }));
   * ```
   */
  async call<T>(fn: () => Promise<T> | T): Promise<T> {
    const permit = await this.acquire();
    let outcome: CircuitOutcome = { type: "abandoned" };
    try {
      const value = await fn();
      outcome = { type: "success" };
      return value;
    } catch (error) {
      outcome = { type: "error", error };
      throw error;
    } finally {
      permit.release(outcome);
    }
  }

  /**
   * Asks for admission without running anything (for work that is not one promise, such as a stream).
   * Prefer {@link CircuitBreaker.call}; with a permit, release it in a `finally`.
   *
   * @returns the permit.
   * @throws CircuitOpenError when refused; NoProcError when no breaker runs under the name.
   */
  async acquire(): Promise<CircuitPermit> {
    // no timeout: the handler is synchronous, and a timed-out call whose late reply admitted us would leak a slot
    const admission = (await this.#call({ type: "acquire" })) as Admission;
    if (!admission.admitted)
      throw new CircuitOpenError(this.name, admission.state, admission.retryAt, admission.now);
    const ticket = admission.ticket;
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        try {
          this.#system.cast(this.name, { type: "release", ticket, outcome } satisfies BreakerCast);
        } catch (error) {
          this.#system.telemetry.report(
            CIRCUIT_RELEASE_FAILED,
            { name: this.name },
            error,
            `circuit breaker ${JSON.stringify(this.name)}: an outcome could not be delivered`,
          );
        }
      },
    };
  }

  /**
   * The current state (an open circuit whose timeout has passed becomes half-open here).
   *
   * @returns `closed`, `open` or `half_open`.
   */
  async state(): Promise<CircuitState> {
    return (await this.#call({ type: "state" })) as CircuitState;
  }

  /**
   * A snapshot of the breaker's counters.
   *
   * @returns the metrics.
   */
  async metrics(): Promise<CircuitMetrics> {
    return (await this.#call({ type: "metrics" })) as CircuitMetrics;
  }

  /** Closes the circuit and clears its counts (calls admitted before are then ignored). */
  async reset(): Promise<void> {
    await this.#call({ type: "reset" });
  }

  /** Opens the circuit now (for `openTimeoutMs`), whatever its state. */
  async trip(): Promise<void> {
    await this.#call({ type: "trip" });
  }

  /** Stops the breaker process. */
  stop(): Promise<void> {
    return this.#system.stop(this.name);
  }

  #call(msg: BreakerCall): Promise<unknown> {
    return this.#system.call(this.name, msg, { timeout: Number.POSITIVE_INFINITY });
  }
}

function breakerArgs(system: ActorSystem, options: CircuitBreakerStartOptions): BreakerArgs {
  const args: BreakerArgs = {
    name: options.name,
    failureThreshold: options.failureThreshold ?? 5,
    successThreshold: options.successThreshold ?? 2,
    openTimeoutMs: options.openTimeoutMs ?? 60_000,
    halfOpenMaxCalls: options.halfOpenMaxCalls ?? 1,
    isFailure: options.isFailure ?? defaultIsFailure,
    clock: system.clock,
    telemetry: system.telemetry,
  };
  for (const key of ["failureThreshold", "successThreshold", "halfOpenMaxCalls"] as const) {
    const value = args[key];
    if (!Number.isInteger(value) || value < 1)
      throw new InvalidArgumentError(`circuit breaker: ${key} must be an integer >= 1, got ${value}`);
  }
  if (!(args.openTimeoutMs >= 0))
    throw new InvalidArgumentError(`circuit breaker: openTimeoutMs must be >= 0, got ${args.openTimeoutMs}`);
  return args;
}
