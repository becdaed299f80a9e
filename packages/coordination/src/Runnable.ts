/**
 * What orchestrators run: anything with an agent's `run` — an `Agent`, or an agent process's client —
 * and the one way they turn a run into an answer (a paused run is an error, never a silent result).
 */
import type { AgentResult, RunResult } from "@normandy/agents";
import type { CorrelationIds } from "@normandy/runtime";
import { AgentPausedError } from "./errors.js";

/** Something that runs like an agent. `Agent` and `AgentProcessClient` are runnables. */
export interface Runnable<I = unknown, O = unknown> {
  readonly name: string;
  run(
    input?: I | string,
    options?: { readonly signal?: AbortSignal; readonly correlation?: CorrelationIds },
  ): Promise<RunResult<O>>;
}

/**
 * Runs a runnable to its result.
 *
 * @param runnable - the agent.
 * @param input - its input.
 * @param signal - cancels the run (its model and tool calls).
 * @param correlation - the ids of the work the run is part of (it continues that trace).
 * @returns the run's result.
 * @throws AgentPausedError when the run stops for approval; whatever the run throws.
 */
export function runToResult<I, O>(
  runnable: Runnable<I, O>,
  input: I | string | undefined,
  signal?: AbortSignal,
  correlation?: CorrelationIds,
): Promise<AgentResult<O>> {
  const options: { signal?: AbortSignal; correlation?: CorrelationIds } = {};
  if (signal !== undefined) options.signal = signal;
  if (correlation !== undefined) options.correlation = correlation;
  let run: Promise<RunResult<O>>;
  try {
    run = runnable.run(input, options);
  } catch (error) {
    return Promise.reject(error); // a runnable that throws instead of rejecting
  }
  // not an async function: one promise less per step
  return run.then((result) => {
    if (result.status !== "done")
      throw new AgentPausedError(
        runnable.name,
        result.calls.map((c) => c.name),
      );
    return result;
  });
}
