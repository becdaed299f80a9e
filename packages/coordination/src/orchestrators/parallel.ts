/**
 * The parallel orchestrator: agents run at once (at most `maxConcurrency`), each with its own input and
 * an optional per-agent time limit that fails only that agent. Every agent's outcome is kept — a failed
 * or timed-out sibling never loses the others' results (the original's defect A5). Results come in spec
 * order (`runParallel`) or as they complete (`streamParallel`); the same-input form gives every agent one
 * input.
 */
import type { AgentResult } from "@normandy/agents";
import { type Clock, onAbort, systemClock, type Telemetry } from "@normandy/runtime";
import type { ContextNamespace } from "../AgentContext.js";
import { AggregationFailedError, CancelledError } from "../errors.js";
import { checkConcurrency, checkTimeout, runStep, Semaphore } from "../internal/agentStep.js";
import {
  type OrchestrationEvents,
  type OrchestrationLogic,
  orchestrationEvents,
  orchestrationLogic,
} from "../orchestration.js";
import type { Runnable } from "../Runnable.js";

/** One agent of a parallel run. */
export interface ParallelSpec {
  /** The agent's id (unique within the run): its key in the results and the shared context. */
  readonly id: string;
  readonly agent: Runnable<unknown, unknown>;
  /** Its input. */
  readonly input: unknown;
  /** Maps its output (and whole result) to the value kept; default the output. A throw fails this agent. */
  readonly transform?: (output: unknown, result: AgentResult<unknown>) => unknown;
}

/** An agent of a same-input run. */
export type ParallelAgent = Omit<ParallelSpec, "input">;

/** An agent that succeeded. */
export interface ParallelSuccess {
  readonly id: string;
  readonly ok: true;
  /** The value kept (the transformed output). */
  readonly output: unknown;
  readonly result: AgentResult<unknown>;
}

/** An agent that failed (its error: the run's, an {@link AgentTimeoutError}, or its transform's). */
export interface ParallelFailure {
  readonly id: string;
  readonly ok: false;
  readonly error: unknown;
}

/** One agent's outcome. */
export type ParallelOutcome = ParallelSuccess | ParallelFailure;

/** Options of {@link runParallel}. */
export interface ParallelOptions {
  /** Cancels the run: every agent run in flight is aborted and the call rejects with a CancelledError. */
  readonly signal?: AbortSignal;
  /** Agents running at once (default 10). */
  readonly maxConcurrency?: number;
  /** Per agent, counted from its start (default 300,000 ms, as the original): fails only that agent. */
  readonly timeoutMs?: number;
  /** Combines the successful outcomes (in spec order) into `aggregated`. */
  readonly aggregate?: (results: readonly ParallelSuccess[]) => unknown;
  /** Where each success is stored (key: the agent's id) as soon as it completes. */
  readonly context?: ContextNamespace;
  /** Called as each agent finishes, in completion order. */
  readonly onAgentComplete?: (outcome: ParallelOutcome) => void;
  /** Receives `["normandy","orchestration","parallel",…]` events. */
  readonly telemetry?: Telemetry;
  /** The orchestration's id in telemetry metadata. */
  readonly id?: string;
  /** The clock of the time limits and durations (default the system clock). */
  readonly clock?: Clock;
}

/** The outcome of a parallel run. */
export interface ParallelResult {
  /** Whether every agent succeeded. */
  readonly success: boolean;
  /** Every agent's outcome, in spec order. */
  readonly outcomes: readonly ParallelOutcome[];
  /** The successes' values by id. */
  readonly results: Readonly<Record<string, unknown>>;
  /** The failures' errors by id. */
  readonly errors: Readonly<Record<string, unknown>>;
  /** What `aggregate` returned (undefined without one). */
  readonly aggregated: unknown;
}

/** The original's per-agent time limit. */
const DEFAULT_TIMEOUT_MS = 300_000;

/**
 * Runs agents in parallel and waits for all of them.
 *
 * @param specs - the agents and their inputs (ids must be unique).
 * @param options - concurrency, per-agent time limit, aggregation, shared context, signal, telemetry.
 * @returns every outcome; a failed agent never throws.
 * @throws CancelledError when the signal aborts; AggregationFailedError (holding the outcomes) when
 *   `aggregate` throws; RangeError for bad options or duplicate ids; a callback's error.
 * @example
 * ```ts
 * const run = await runParallel(
 *   [
 *     { id: "news", agent: researcher, input: "tides, news" },
 *     { id: "papers", agent: scholar, input: "tides, papers" },
 *   ],
 *   { maxConcurrency: 2, timeoutMs: 60_000 },
 * );
 * console.log(run.results.news, run.errors.papers);
 * ```
 */
export async function runParallel(
  specs: readonly ParallelSpec[],
  options: ParallelOptions = {},
): Promise<ParallelResult> {
  const batch = new Batch(specs, options);
  try {
    const outcomes = await batch.all();
    const successes: ParallelSuccess[] = [];
    const results: [string, unknown][] = [];
    const errors: [string, unknown][] = [];
    for (const o of outcomes)
      if (o.ok) {
        successes.push(o);
        results.push([o.id, o.output]);
      } else errors.push([o.id, o.error]);
    let aggregated: unknown;
    if (options.aggregate !== undefined) {
      try {
        aggregated = await options.aggregate(successes);
      } catch (error) {
        throw new AggregationFailedError(outcomes, error);
      }
    }
    batch.events.stop({ agents: outcomes.length, errors: errors.length });
    return {
      success: errors.length === 0,
      outcomes,
      results: Object.fromEntries(results),
      errors: Object.fromEntries(errors),
      aggregated,
    };
  } catch (error) {
    batch.events.exception(error);
    throw error;
  }
}

/**
 * Runs agents in parallel and yields their outcomes as they complete. The agents start when iteration
 * starts; leaving the loop early aborts the ones still running.
 *
 * @param specs - the agents and their inputs.
 * @param options - as for {@link runParallel} (`aggregate` is not used).
 * @returns the outcomes, in completion order.
 * @throws CancelledError (from the iteration) when the signal aborts; RangeError for bad options.
 * @example
 * ```ts
 * for await (const outcome of streamParallel(specs)) console.log(outcome.id, outcome.ok);
 * ```
 */
export function streamParallel(
  specs: readonly ParallelSpec[],
  options: ParallelOptions = {},
): AsyncIterable<ParallelOutcome> {
  const batch = new Batch(specs, options); // checks the options now, not at the first iteration
  return {
    async *[Symbol.asyncIterator]() {
      const queue: ParallelOutcome[] = [];
      let wake = () => {};
      let failed = false;
      const tasks = batch.start().map((task) =>
        task.then(
          (outcome) => {
            queue.push(outcome);
            wake();
          },
          () => {
            failed = true;
            wake();
          },
        ),
      );
      let delivered = 0;
      let errors = 0;
      let ended = false;
      try {
        while (delivered < tasks.length) {
          const outcome = queue.shift();
          if (outcome !== undefined) {
            delivered++;
            if (!outcome.ok) errors++;
            yield outcome;
          } else if (failed) throw batch.failure();
          else await new Promise<void>((resolve) => (wake = resolve));
        }
        ended = true;
        batch.events.stop({ agents: tasks.length, errors });
      } catch (error) {
        ended = true;
        batch.events.exception(error);
        throw error;
      } finally {
        if (!ended) {
          // the consumer left early: the agents still running are not needed any more
          batch.abort(new CancelledError("the consumer stopped iterating"));
          batch.events.stop({ agents: delivered, errors, abandoned: tasks.length - delivered });
        }
        await Promise.all(tasks); // no run outlives the iteration
        batch.finish();
      }
    },
  };
}

/**
 * Runs agents in parallel on one input.
 *
 * @param agents - the agents (ids must be unique).
 * @param input - every agent's input.
 * @param options - as for {@link runParallel}.
 * @returns every outcome.
 * @throws as {@link runParallel}.
 * @example
 * ```ts
 * const votes = await runParallelSameInput([{ id: "a", agent: a }, { id: "b", agent: b }], "Is it safe?");
 * ```
 */
export function runParallelSameInput(
  agents: readonly ParallelAgent[],
  input: unknown,
  options: ParallelOptions = {},
): Promise<ParallelResult> {
  return runParallel(
    agents.map((a) => ({ ...a, input })),
    options,
  );
}

/**
 * The parallel run as orchestration logic: its input is the specs.
 *
 * @param options - as for {@link runParallel}, without the signal (the actor's is used).
 * @returns promise logic for `startOrchestration` or a supervisor.
 * @example
 * ```ts
 * const run = startOrchestration(parallelLogic({ maxConcurrency: 2 }), specs);
 * run.stop(); // aborts every agent still running
 * ```
 */
export function parallelLogic(
  options: Omit<ParallelOptions, "signal"> = {},
): OrchestrationLogic<readonly ParallelSpec[], ParallelResult> {
  return orchestrationLogic((specs, signal) => runParallel(specs, { ...options, signal }));
}

/**
 * The same-input run as orchestration logic: its input is the agents' input.
 *
 * @param agents - the agents.
 * @param options - as for {@link runParallel}, without the signal.
 * @returns promise logic.
 */
export function parallelSameInputLogic(
  agents: readonly ParallelAgent[],
  options: Omit<ParallelOptions, "signal"> = {},
): OrchestrationLogic<unknown, ParallelResult> {
  return orchestrationLogic((input, signal) => runParallelSameInput(agents, input, { ...options, signal }));
}

/**
 * One parallel run: its agents' tasks share a concurrency limit and an abort controller, which the
 * caller's signal, a thrown callback or an abandoned stream abort so no agent run is left behind.
 */
class Batch {
  readonly events: OrchestrationEvents;
  readonly #specs: readonly ParallelSpec[];
  readonly #options: ParallelOptions;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #slots: Semaphore;
  readonly #controller = new AbortController();
  /** Stops following the caller's signal. */
  #detach = () => {};
  #error: unknown;
  #started = false;

  constructor(specs: readonly ParallelSpec[], options: ParallelOptions) {
    const seen = new Set<string>();
    for (const { id } of specs) {
      if (seen.has(id)) throw new RangeError(`duplicate agent id ${JSON.stringify(id)}`);
      seen.add(id);
    }
    this.#specs = specs;
    this.#options = options;
    this.#slots = new Semaphore(checkConcurrency(options.maxConcurrency ?? 10));
    this.#timeoutMs = checkTimeout(options.timeoutMs) ?? DEFAULT_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.events = orchestrationEvents(
      options.telemetry,
      "parallel",
      { ...(options.id !== undefined && { id: options.id }), agents: specs.map((s) => s.id) },
      () => this.#clock.now(),
    );
  }

  /**
   * Starts every agent; a task rejects only when the whole run fails (see {@link Batch.failure}). Call
   * {@link Batch.finish} once every task has settled.
   */
  start(): Promise<ParallelOutcome>[] {
    if (this.#started) throw new Error("a parallel stream can be iterated only once");
    this.#started = true;
    const signal = this.#options.signal;
    if (signal !== undefined)
      this.#detach = onAbort(signal, () => this.abort(new CancelledError(signal.reason)));
    return this.#specs.map((spec) => this.#run(spec));
  }

  /**
   * Runs every agent to its outcome, in spec order.
   *
   * @throws the run's failure, once every agent has stopped.
   */
  async all(): Promise<ParallelOutcome[]> {
    const tasks = this.start();
    try {
      return await Promise.all(tasks);
    } catch {
      await Promise.allSettled(tasks); // no agent outlives the call
      throw this.failure();
    } finally {
      this.finish();
    }
  }

  /** Detaches from the caller's signal, when every task has settled. */
  finish(): void {
    this.#detach();
  }

  /** Stops every agent still running, for the given reason (the first reason wins). */
  abort(reason: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.#error = reason;
    this.#controller.abort(reason);
  }

  /** Why the run failed: the caller's cancellation, or the first callback error. */
  failure(): unknown {
    return this.#error;
  }

  async #run(spec: ParallelSpec): Promise<ParallelOutcome> {
    const signal = this.#controller.signal;
    const started = this.#clock.now();
    let outcome: ParallelOutcome;
    try {
      const result = await runStep(spec.id, spec.agent, spec.input, {
        signal,
        clock: this.#clock,
        timeoutMs: this.#timeoutMs,
        slots: this.#slots,
      });
      const output =
        spec.transform === undefined ? result.output : await spec.transform(result.output, result);
      const context = this.#options.context;
      if (context !== undefined) await context.put(spec.id, output);
      outcome = { id: spec.id, ok: true, output, result };
    } catch (error) {
      if (signal.aborted) throw this.#error;
      outcome = { id: spec.id, ok: false, error };
    }
    this.events.agent(spec.id, {
      ok: outcome.ok,
      durationMs: this.#clock.now() - started,
      ...(!outcome.ok && { error: outcome.error }),
    });
    try {
      this.#options.onAgentComplete?.(outcome);
    } catch (error) {
      this.abort(error); // a broken callback fails the run, and its siblings stop with it
      throw error;
    }
    return outcome;
  }
}
