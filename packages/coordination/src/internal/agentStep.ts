/**
 * How an orchestrator runs one agent: under a concurrency limit, one run per agent at a time (an agent
 * holds one conversation and refuses overlapping runs), within an optional time limit that fails only
 * that run, and cancellable — each way of ending aborts the run's own signal, so its model and tool
 * calls (and their HTTP requests) stop with it.
 */
import type { AgentResult } from "@normandy/agents";
import { type Clock, type CorrelationIds, onAbort, type TimerHandle } from "@normandy/runtime";
import { AgentTimeoutError, CancelledError } from "../errors.js";
import { type Runnable, runToResult } from "../Runnable.js";

/** A counting semaphore; waiters are served in arrival order and leave the queue when their signal aborts. */
export class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  /** @param permits - how many holders at once (an integer ≥ 1). */
  constructor(permits: number) {
    this.#free = permits;
  }

  /**
   * Takes a permit.
   *
   * @param signal - abandons the wait.
   * @returns the release function (idempotent).
   * @throws CancelledError when the signal aborts first.
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(new CancelledError(signal.reason));
    const free = this.tryAcquire();
    if (free !== undefined) return Promise.resolve(free);
    return new Promise((resolve, reject) => {
      const grant = () => {
        detach();
        resolve(this.#releaser());
      };
      this.#waiting.push(grant);
      const detach = onAbort(signal, () => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(new CancelledError(signal.reason));
      });
    });
  }

  /**
   * Takes a permit if one is free, without waiting.
   *
   * @returns the release function, or undefined when none is free.
   */
  tryAcquire(): (() => void) | undefined {
    if (this.#free === 0) return undefined;
    this.#free--;
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next)
        next(); // the permit passes straight to the next waiter
      else this.#free++;
    };
  }
}

/** One lock per runnable, shared by every orchestration of the process. */
const locks = new WeakMap<object, Semaphore>();

function lockOf(runnable: object): Semaphore {
  let lock = locks.get(runnable);
  if (lock === undefined) {
    lock = new Semaphore(1);
    locks.set(runnable, lock);
  }
  return lock;
}

/** The limits of one agent step. */
export interface StepLimits {
  /** Cancels the step (a {@link CancelledError}). */
  readonly signal: AbortSignal;
  /** The clock of the time limit. */
  readonly clock: Clock;
  /** Fails only this step with an {@link AgentTimeoutError} (counted from the run's start, not its wait). */
  readonly timeoutMs?: number;
  /** The orchestration's concurrency limit. */
  readonly slots?: Semaphore;
  /** The ids of the work the step is part of (e.g. the manager's tool call, for agent-as-tool). */
  readonly correlation?: CorrelationIds;
}

/**
 * Runs one agent to its result within the limits.
 *
 * @param id - the step's id (named by a timeout error).
 * @param runnable - the agent.
 * @param input - its input.
 * @param limits - signal, clock, time limit, concurrency limit.
 * @returns the run's result.
 * @throws CancelledError when the signal aborts; AgentTimeoutError; whatever the run throws.
 */
export function runStep(
  id: string,
  runnable: Runnable<unknown, unknown>,
  input: unknown,
  limits: StepLimits,
): Promise<AgentResult<unknown>> {
  const { signal, slots } = limits;
  if (signal.aborted) return Promise.reject(new CancelledError(signal.reason));
  // the common case, a free agent and slot, starts at once (no async function, no await: a step is
  // most of an orchestrator's own cost per agent)
  const lock = lockOf(runnable);
  const releaseLock = lock.tryAcquire();
  const releaseSlot = releaseLock === undefined ? undefined : slots?.tryAcquire();
  if (releaseLock !== undefined && (slots === undefined || releaseSlot !== undefined))
    return start(id, runnable, input, limits, releaseLock, releaseSlot);
  return waitThenStart(id, runnable, input, limits, releaseLock ?? lock.acquire(signal));
}

/** Waits for the agent (unless held already), then for a slot, and starts the run. */
async function waitThenStart(
  id: string,
  runnable: Runnable<unknown, unknown>,
  input: unknown,
  limits: StepLimits,
  lock: (() => void) | Promise<() => void>,
): Promise<AgentResult<unknown>> {
  const { signal, slots } = limits;
  const releaseLock = typeof lock === "function" ? lock : await lock;
  let releaseSlot: (() => void) | undefined;
  try {
    releaseSlot = slots === undefined ? undefined : await slots.acquire(signal);
  } catch (error) {
    releaseLock();
    throw error;
  }
  return start(id, runnable, input, limits, releaseLock, releaseSlot);
}

/** Runs the agent holding its lock and slot: the step ends at the run's end, its time limit or a cancel. */
function start(
  id: string,
  runnable: Runnable<unknown, unknown>,
  input: unknown,
  limits: StepLimits,
  releaseLock: () => void,
  releaseSlot: (() => void) | undefined,
): Promise<AgentResult<unknown>> {
  const { signal, clock, timeoutMs } = limits;
  const controller = new AbortController();
  const run = runToResult(runnable, input, controller.signal, limits.correlation);
  return new Promise<AgentResult<unknown>>((resolve, reject) => {
    let timer: TimerHandle | undefined;
    let detach = () => {};
    let ended = false;
    // the first of run, time limit and cancel ends the step (the others then do nothing)
    const end = (settle: () => void) => {
      if (ended) return;
      ended = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      detach();
      releaseSlot?.();
      settle();
    };
    detach = onAbort(signal, () => {
      controller.abort(signal.reason);
      end(() => reject(new CancelledError(signal.reason)));
    });
    if (timeoutMs !== undefined)
      timer = clock.setTimeout(() => {
        const error = new AgentTimeoutError(id, timeoutMs);
        controller.abort(error);
        end(() => reject(error));
      }, timeoutMs);
    // The agent stays locked until its run has really ended, even when the step gave up on it earlier.
    run.then(
      (result) => {
        releaseLock();
        end(() => resolve(result));
      },
      (error: unknown) => {
        releaseLock();
        end(() => reject(signal.aborted ? new CancelledError(signal.reason) : error));
      },
    );
  });
}

/**
 * Checks a concurrency limit.
 *
 * @param value - the limit.
 * @param name - the option's name, for the message.
 * @returns the limit.
 * @throws RangeError unless it is an integer ≥ 1.
 */
export function checkConcurrency(value: number, name = "maxConcurrency"): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1`);
  return value;
}

/**
 * Checks a time limit.
 *
 * @param value - the limit, or undefined for none.
 * @param name - the option's name, for the message.
 * @returns the limit.
 * @throws RangeError unless it is a finite number > 0.
 */
export function checkTimeout(value: number | undefined, name = "timeoutMs"): number | undefined {
  if (value !== undefined && !(Number.isFinite(value) && value > 0))
    throw new RangeError(`${name} must be a finite number > 0`);
  return value;
}

/**
 * The text of an agent's answer: its output's `chat_message` when it has one, else the model's text.
 *
 * @param result - the run's result.
 * @returns the text.
 */
export function answerText(result: AgentResult<unknown>): string {
  const output = result.output as { chat_message?: unknown } | null | undefined;
  return typeof output === "object" && output !== null && typeof output.chat_message === "string"
    ? output.chat_message
    : result.text;
}

/** A signal that never aborts, for runs started without one. */
export const NEVER: AbortSignal = new AbortController().signal;
