/**
 * Agents as invokable XState logic: `agentLogic(agent)` is promise logic a workflow state invokes. Its
 * input is the agent's input, its output the agent's output; leaving the state (or stopping the workflow)
 * aborts the run and its HTTP request. Optional retries wait on the actor system's clock.
 */
import { type AgentResult, type RetryOptions, withRetry } from "@normandy/agents";
import { type Clock, systemClock } from "@normandy/runtime";
import { fromPromise, type PromiseActorLogic } from "xstate";
import { type Runnable, runToResult } from "../Runnable.js";

/** An agent, or a factory making a fresh one for every run (and every retry). */
export type AgentSource<I, O> = Runnable<I, O> | (() => Runnable<I, O>);

/** Retries of an agent step: {@link RetryOptions} of `@normandy/agents` without the signal (the step's). */
export type StepRetry = Omit<RetryOptions, "signal">;

/** Options of {@link agentLogic}. */
export interface AgentLogicOptions<O, R> {
  /**
   * Retries of failed runs. The rule: only a `ProviderError` that is `retryable` (rate limit, overloaded,
   * server, timeout, network) is retried — by default; `retryIf` / `retryOn` widen or narrow it. A paused run
   * (`AgentPausedError`), invalid input, a structured-output failure or a cancellation is never retried.
   * Waits run on `clock`, by default the clock of the actor system the workflow runs in.
   * When every attempt fails, the step fails with `RetryExhaustedError` (holding each attempt's error).
   */
  readonly retry?: StepRetry;
  /** What the step outputs, from the run's result (default: `result.output`). Keep it JSON. */
  readonly select?: (result: AgentResult<O>) => R;
}

/**
 * Turns an agent into promise logic for a workflow state to invoke.
 *
 * The invoked actor's input is the agent's input (a string or an object of its input schema) and its
 * output the agent's output. A run that pauses for approval fails with `AgentPausedError`. When the
 * invoking state is left or the workflow stops, the run is aborted (its model request disconnects and its
 * tools see the abort). Pass a factory rather than an agent when the same agent may run twice at once
 * (parallel states) or when each run should start from an empty conversation — an agent's memory is not
 * part of a workflow's snapshot, so durable workflows should use factories.
 *
 * @param agent - the agent, or a factory of agents.
 * @param options - retries and the output selection.
 * @returns promise logic (input: the agent's input; output: the selected output).
 * @example
 * ```ts
 * const machine = setup({ actors: { research: agentLogic(() => makeResearcher(), { retry: { maxAttempts: 3 } }) } })
 *   .createMachine({
 *     initial: "research",
 *     states: {
 *       research: { invoke: { src: "research", input: ({ context }) => context.topic, onDone: "done" } },
 *       done: { type: "final" },
 *     },
 *   });
 * ```
 */
export function agentLogic<I, O, R = O>(
  agent: AgentSource<I, O>,
  options: AgentLogicOptions<O, R> = {},
): PromiseActorLogic<R, I | string | undefined> {
  const select = options.select ?? ((result: AgentResult<O>) => result.output as unknown as R);
  const retry = options.retry;
  return fromPromise<R, I | string | undefined>(async ({ input, signal, system }) => {
    const once = async (attemptSignal: AbortSignal): Promise<R> => {
      const runnable = typeof agent === "function" ? agent() : agent;
      return select(await runToResult(runnable, input, attemptSignal));
    };
    if (retry === undefined) return once(signal);
    return withRetry((attempt) => once(attempt.signal), {
      ...retry,
      signal,
      clock: retry.clock ?? clockOf(system),
    });
  });
}

/**
 * The clock of the XState system an actor runs in: the runtime's clock when the actor runs in an
 * `ActorSystem` (which hands its clock to XState), else the real one.
 *
 * @param system - the actor's XState system.
 * @returns a runtime clock.
 */
export function clockOf(system: { readonly _clock?: unknown }): Clock {
  const clock = system._clock as Partial<Clock> | undefined;
  return typeof clock?.now === "function" ? (clock as Clock) : systemClock;
}
