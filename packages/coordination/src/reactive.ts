/**
 * Reactive combinators (the port of `Coordination.Reactive`): run agents on one input at once and decide on
 * the first success (`race`), every outcome (`all`), a quorum of successes (`some`), or transform one
 * agent's outcome (`map`). Unlike the original, a decided combinator aborts the runs it no longer needs
 * (their model requests disconnect), a timeout fails only its own agent, and every failure is typed.
 * Each combinator is also orchestration logic, to run as an actor.
 */
import type { AgentResult } from "@normandy/agents";
import { type Clock, systemClock, type Telemetry, type TimerHandle } from "@normandy/runtime";
import {
  AgentFailedError,
  type AgentFailure,
  AgentTimeoutError,
  AllAgentsFailedError,
  CancelledError,
  QuorumNotReachedError,
} from "./errors.js";
import { type OrchestrationLogic, orchestrationEvents, orchestrationLogic } from "./orchestration.js";
import { type Runnable, runToResult } from "./Runnable.js";

/** One agent's successful run inside a combinator. */
export interface AgentSuccess<O> {
  readonly ok: true;
  /** The agent's name. */
  readonly agent: string;
  /** Its position in the list of agents. */
  readonly index: number;
  /** What the run produced. */
  readonly result: AgentResult<O>;
  /** How long the run took, in ms. */
  readonly durationMs: number;
}

/** How one agent's run ended: a success or a failure. */
export type AgentOutcome<O> = AgentSuccess<O> | AgentFailure;

/** What every combinator accepts. */
export interface ReactiveOptions<O> {
  /** Limit of each agent's run, in ms, from its start: a run over it is aborted and fails with {@link AgentTimeoutError}. */
  readonly timeoutMs?: number;
  /** Cancels the combinator (it rejects with {@link CancelledError}) and every run it started. */
  readonly signal?: AbortSignal;
  /** Called with each outcome while the combinator is undecided; a throw fails the combinator with it. */
  readonly onComplete?: (outcome: AgentOutcome<O>) => void;
  /** Where `["normandy","orchestration","reactive",…]` events go. */
  readonly telemetry?: Telemetry;
  /** The clock of timeouts and durations (default the system clock). */
  readonly clock?: Clock;
  /** The orchestration's id in telemetry metadata. */
  readonly id?: string;
}

/** Options of {@link all}. */
export interface AllOptions<O> extends ReactiveOptions<O> {
  /** Runs at once (default: every agent). */
  readonly maxConcurrency?: number;
  /** Reject with {@link AgentFailedError} at the first failure, aborting the runs in flight and starting no more. */
  readonly failFast?: boolean;
}

/** Options of {@link some}. */
export interface SomeOptions<O> extends ReactiveOptions<O> {
  /** Successes needed (an integer ≥ 1). */
  readonly count: number;
}

/** The input given to every agent. */
export type ReactiveInput<I> = I | string | undefined;

/** What a decision function says after an outcome: keep going (undefined), resolve, or reject. */
type Verdict<R> = { readonly value: R } | { readonly error: unknown } | undefined;

/**
 * Runs agents under a concurrency limit until `decide` returns a verdict, then aborts what is left.
 *
 * @param op - the combinator's name (telemetry).
 * @param agents - at least one agent.
 * @param input - their input.
 * @param options - timeout, signal, callbacks, telemetry.
 * @param limit - runs at once.
 * @param decide - sees each outcome and how many runs have not finished; must decide when none is left.
 * @returns the verdict's value.
 */
function combine<I, O, R>(
  op: string,
  agents: readonly Runnable<I, O>[],
  input: ReactiveInput<I>,
  options: ReactiveOptions<O>,
  limit: number,
  decide: (outcome: AgentOutcome<O>, remaining: number) => Verdict<R>,
): Promise<R> {
  const clock = options.clock ?? systemClock;
  const events = orchestrationEvents(
    options.telemetry,
    "reactive",
    { op, ...(options.id !== undefined && { id: options.id }), agents: agents.map((a) => a.name) },
    () => clock.now(),
  );
  const signal = options.signal;
  return new Promise<R>((resolve, reject) => {
    const running = new Set<AbortController>();
    let started = 0;
    let settled = 0;
    let succeeded = 0;
    let decided = false;

    const finish = (verdict: NonNullable<Verdict<R>>) => {
      decided = true;
      signal?.removeEventListener("abort", onAbort);
      // the runs still going are not needed any more: abort them (their HTTP requests close)
      const reason = "error" in verdict ? verdict.error : new CancelledError(new Error(`${op} decided`));
      for (const controller of running) controller.abort(reason);
      running.clear();
      if ("error" in verdict) {
        events.exception(verdict.error);
        reject(verdict.error);
      } else {
        events.stop({ succeeded, failed: settled - succeeded, aborted: started - settled });
        resolve(verdict.value);
      }
    };

    const onOutcome = (controller: AbortController, outcome: AgentOutcome<O>) => {
      running.delete(controller);
      if (decided) return; // a run aborted after the decision: its outcome no longer matters
      settled++;
      if (outcome.ok) succeeded++;
      events.agent(outcome.agent, {
        ok: outcome.ok,
        durationMs: outcome.durationMs,
        ...(!outcome.ok && { error: outcome.error }),
      });
      let verdict: Verdict<R>;
      try {
        options.onComplete?.(outcome);
        verdict = decide(outcome, agents.length - settled);
      } catch (error) {
        verdict = { error };
      }
      if (verdict !== undefined) finish(verdict);
      else launch();
    };

    const launch = () => {
      while (!decided && started - settled < limit && started < agents.length) {
        const index = started++;
        const agent = agents[index] as Runnable<I, O>;
        const controller = new AbortController();
        running.add(controller);
        attempt(agent, index, input, controller, options.timeoutMs, clock, (outcome) =>
          onOutcome(controller, outcome),
        );
      }
    };

    const onAbort = () => finish({ error: new CancelledError(signal?.reason) });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    launch();
  });
}

function failure(agent: Runnable, index: number, error: unknown, durationMs: number): AgentFailure {
  return { ok: false, agent: agent.name, index, error, durationMs };
}

/** Runs one agent and reports its outcome once; past `timeoutMs` the run is aborted and fails. */
function attempt<I, O>(
  agent: Runnable<I, O>,
  index: number,
  input: ReactiveInput<I>,
  controller: AbortController,
  timeoutMs: number | undefined,
  clock: Clock,
  report: (outcome: AgentOutcome<O>) => void,
): void {
  const startedAt = clock.now();
  let timer: TimerHandle | undefined;
  let reported = false;
  // the first of run and timer decides; the other is ignored
  const done = (outcome: AgentOutcome<O>) => {
    if (reported) return;
    reported = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    report(outcome);
  };
  if (timeoutMs !== undefined)
    timer = clock.setTimeout(() => {
      const error = new AgentTimeoutError(agent.name, timeoutMs);
      done(failure(agent, index, error, clock.now() - startedAt));
      controller.abort(error);
    }, timeoutMs);
  runToResult(agent, input, controller.signal).then(
    (result) => done({ ok: true, agent: agent.name, index, result, durationMs: clock.now() - startedAt }),
    (error: unknown) => done(failure(agent, index, error, clock.now() - startedAt)),
  );
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`);
}

/**
 * Runs every agent on the input at once; the first success wins and the other runs are aborted.
 *
 * @param agents - the contestants (at least one).
 * @param input - the input of every agent.
 * @param options - per-agent timeout, signal, callbacks, telemetry.
 * @returns the winner's success.
 * @throws AllAgentsFailedError when every run failed (timeouts included); CancelledError on abort;
 *   RangeError for an empty list.
 * @example
 * ```ts
 * const fastest = await race([cached, search, research], "What is the tide at Omaha?", { timeoutMs: 5000 });
 * console.log(fastest.agent, fastest.result.output.chat_message);
 * ```
 */
export async function race<I, O>(
  agents: readonly Runnable<I, O>[],
  input: ReactiveInput<I>,
  options: ReactiveOptions<O> = {},
): Promise<AgentSuccess<O>> {
  if (agents.length === 0) throw new RangeError("race needs at least one agent");
  const failures: AgentFailure[] = [];
  return combine<I, O, AgentSuccess<O>>(
    "race",
    agents,
    input,
    options,
    agents.length,
    (outcome, remaining) => {
      if (outcome.ok) return { value: outcome };
      failures.push(outcome);
      if (remaining > 0) return undefined;
      return { error: new AllAgentsFailedError(failures.sort((a, b) => a.index - b.index)) };
    },
  );
}

/**
 * Runs every agent on the input (at most `maxConcurrency` at once) and collects every outcome. With
 * `failFast`, the first failure rejects and aborts the rest.
 *
 * @param agents - the agents.
 * @param input - the input of every agent.
 * @param options - concurrency, failFast, per-agent timeout, signal, callbacks, telemetry.
 * @returns each agent's outcome, in agent order (all successes with `failFast`).
 * @throws AgentFailedError with `failFast`; CancelledError on abort; RangeError for a bad `maxConcurrency`.
 * @example
 * ```ts
 * const outcomes = await all([optimist, pessimist, realist], "Should we sail?", { maxConcurrency: 2 });
 * const votes = outcomes.filter((o) => o.ok).map((o) => o.result.output.chat_message);
 * ```
 */
export async function all<I, O>(
  agents: readonly Runnable<I, O>[],
  input: ReactiveInput<I>,
  options: AllOptions<O> = {},
): Promise<AgentOutcome<O>[]> {
  const limit = options.maxConcurrency ?? agents.length;
  checkPositiveInteger("maxConcurrency", options.maxConcurrency ?? 1);
  if (agents.length === 0) return [];
  const outcomes: AgentOutcome<O>[] = new Array(agents.length);
  return combine<I, O, AgentOutcome<O>[]>("all", agents, input, options, limit, (outcome, remaining) => {
    if (!outcome.ok && options.failFast === true) return { error: new AgentFailedError(outcome) };
    outcomes[outcome.index] = outcome;
    return remaining === 0 ? { value: outcomes } : undefined;
  });
}

/**
 * Runs every agent on the input at once until `count` of them succeed (a quorum), then aborts the rest.
 *
 * @param agents - the voters.
 * @param input - the input of every agent.
 * @param options - `count`, per-agent timeout, signal, callbacks, telemetry.
 * @returns the first `count` successes, in agent order.
 * @throws QuorumNotReachedError as soon as too many runs failed (or when there are fewer agents than
 *   `count`); CancelledError on abort; RangeError for a bad `count`.
 * @example
 * ```ts
 * const majority = await some([judge1, judge2, judge3], "Is this claim supported?", { count: 2 });
 * ```
 */
export async function some<I, O>(
  agents: readonly Runnable<I, O>[],
  input: ReactiveInput<I>,
  options: SomeOptions<O>,
): Promise<AgentSuccess<O>[]> {
  const count = options.count;
  checkPositiveInteger("count", count);
  if (count > agents.length) throw new QuorumNotReachedError(count, 0, [], agents.length);
  const successes: AgentSuccess<O>[] = [];
  const failures: AgentFailure[] = [];
  return combine<I, O, AgentSuccess<O>[]>(
    "some",
    agents,
    input,
    options,
    agents.length,
    (outcome, remaining) => {
      if (outcome.ok) successes.push(outcome);
      else failures.push(outcome);
      if (successes.length >= count) return { value: successes.sort((a, b) => a.index - b.index) };
      if (successes.length + remaining < count)
        return { error: new QuorumNotReachedError(count, successes.length, failures, agents.length) };
      return undefined;
    },
  );
}

/**
 * Runs one agent and hands its outcome — success or failure — to `transform` (the original's
 * `map(agent, input, fun)`), e.g. to grade a result or to turn a failure into a fallback.
 *
 * @param agent - the agent.
 * @param input - its input.
 * @param transform - maps the outcome to the answer (may be async; a throw rejects).
 * @param options - timeout, signal, callbacks, telemetry.
 * @returns what `transform` returns.
 * @throws CancelledError on abort; whatever `transform` throws.
 * @example
 * ```ts
 * const grade = await map(classifier, ticket, (o) => (o.ok ? o.result.output.label : "unknown"));
 * ```
 */
export async function map<I, O, R>(
  agent: Runnable<I, O>,
  input: ReactiveInput<I>,
  transform: (outcome: AgentOutcome<O>) => R | Promise<R>,
  options: ReactiveOptions<O> = {},
): Promise<R> {
  const outcome = await combine<I, O, AgentOutcome<O>>("map", [agent], input, options, 1, (o) => ({
    value: o,
  }));
  return transform(outcome);
}

/**
 * {@link race} as orchestration logic: its input is the agents' input; stopping the actor aborts every run.
 *
 * @param agents - the contestants.
 * @param options - as for {@link race}, without the signal (the actor's is used).
 * @returns promise logic resolving with the winner.
 * @example
 * ```ts
 * const run = startOrchestration(raceLogic([a, b]), "question");
 * const winner = await run.result;
 * ```
 */
export function raceLogic<I, O>(
  agents: readonly Runnable<I, O>[],
  options: Omit<ReactiveOptions<O>, "signal"> = {},
): OrchestrationLogic<ReactiveInput<I>, AgentSuccess<O>> {
  return orchestrationLogic((input, signal) => race(agents, input, { ...options, signal }));
}

/**
 * {@link all} as orchestration logic.
 *
 * @param agents - the agents.
 * @param options - as for {@link all}, without the signal.
 * @returns promise logic resolving with every outcome.
 */
export function allLogic<I, O>(
  agents: readonly Runnable<I, O>[],
  options: Omit<AllOptions<O>, "signal"> = {},
): OrchestrationLogic<ReactiveInput<I>, AgentOutcome<O>[]> {
  return orchestrationLogic((input, signal) => all(agents, input, { ...options, signal }));
}

/**
 * {@link some} as orchestration logic.
 *
 * @param agents - the voters.
 * @param options - as for {@link some}, without the signal.
 * @returns promise logic resolving with the quorum's successes.
 */
export function someLogic<I, O>(
  agents: readonly Runnable<I, O>[],
  options: Omit<SomeOptions<O>, "signal">,
): OrchestrationLogic<ReactiveInput<I>, AgentSuccess<O>[]> {
  return orchestrationLogic((input, signal) => some(agents, input, { ...options, signal }));
}

/**
 * {@link map} as orchestration logic.
 *
 * @param agent - the agent.
 * @param transform - maps its outcome.
 * @param options - as for {@link map}, without the signal.
 * @returns promise logic resolving with the transformed outcome.
 */
export function mapLogic<I, O, R>(
  agent: Runnable<I, O>,
  transform: (outcome: AgentOutcome<O>) => R | Promise<R>,
  options: Omit<ReactiveOptions<O>, "signal"> = {},
): OrchestrationLogic<ReactiveInput<I>, R> {
  return orchestrationLogic((input, signal) => map(agent, input, transform, { ...options, signal }));
}
