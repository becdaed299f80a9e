/**
 * The sequential orchestrator: a pipeline of agents, each one's output (through its optional transform)
 * being the next one's input; on a failure it stops, or continues with a typed {@link StepFailure} as
 * the value passed on. The message form threads an {@link AgentMessage} through the pipeline and returns
 * the correlated conversation. Both run as plain functions or as orchestration actors.
 */
import type { AgentResult } from "@normandy/agents";
import type { Clock, Telemetry } from "@normandy/runtime";
import { systemClock } from "@normandy/runtime";
import type { ContextNamespace } from "../AgentContext.js";
import { type AgentMessage, type ErrorPayload, errorReply, replyTo } from "../AgentMessage.js";
import { CancelledError } from "../errors.js";
import { NEVER, runStep } from "../internal/agentStep.js";
import {
  type OrchestrationEvents,
  type OrchestrationLogic,
  orchestrationEvents,
  orchestrationLogic,
} from "../orchestration.js";
import type { Runnable } from "../Runnable.js";

/** One step of a pipeline. */
export interface SequentialStep {
  /** The step's id: its key in the shared context, its address in the message form. */
  readonly id: string;
  /** The agent. */
  readonly agent: Runnable<unknown, unknown>;
  /** Maps the agent's output (and its whole result) to the value passed on; default the output itself. */
  readonly transform?: (output: unknown, result: AgentResult<unknown>) => unknown;
}

/** What to do when a step fails: stop the pipeline, or pass a {@link StepFailure} on to the next step. */
export type OnStepError = "stop" | "continue";

/** Options of {@link runSequential} (and of the message form). */
export interface SequentialOptions {
  /** Cancels the pipeline: the running agent's run is aborted and the call rejects with a CancelledError. */
  readonly signal?: AbortSignal;
  /** Default `stop`. */
  readonly onError?: OnStepError;
  /** Where each successful step's value is stored (key: the step's id) as soon as it is known. */
  readonly context?: ContextNamespace;
  /** Called after each successful step with its value (after the transform) and its result. */
  readonly onStepComplete?: (id: string, output: unknown, result: AgentResult<unknown>) => void;
  /** Receives `["normandy","orchestration","sequential",…]` events. */
  readonly telemetry?: Telemetry;
  /** The orchestration's id in telemetry metadata. */
  readonly id?: string;
  /** Measures step durations (default the system clock). */
  readonly clock?: Clock;
}

/** A successful step. */
export interface SequentialStepResult {
  readonly id: string;
  /** The value passed on (the transformed output). */
  readonly output: unknown;
  /** The agent's run. */
  readonly result: AgentResult<unknown>;
}

/** A failed step. */
export interface SequentialStepError {
  readonly id: string;
  readonly error: unknown;
  /** The value the step was given. */
  readonly input: unknown;
}

/** The outcome of a pipeline. */
export interface SequentialResult {
  /** Whether every step succeeded. */
  readonly success: boolean;
  /** The successful steps, in order. */
  readonly results: readonly SequentialStepResult[];
  /** The failed steps, in order (at most one with `stop`). */
  readonly errors: readonly SequentialStepError[];
  /** The last value of the pipeline (a {@link StepFailure} when the last step run failed). */
  readonly output: unknown;
}

/**
 * The value a failed step passes on under `onError: "continue"` (the original's `{:error, reason}`).
 * An agent given one receives its text (`toString`), so a default-schema agent can still read it.
 */
export class StepFailure {
  /** The failed step's id. */
  readonly id: string;
  /** Why it failed. */
  readonly error: unknown;
  /** The value it was given. */
  readonly input: unknown;

  /**
   * @param id - the step's id.
   * @param error - its error.
   * @param input - its input.
   */
  constructor(id: string, error: unknown, input: unknown) {
    this.id = id;
    this.error = error;
    this.input = input;
  }

  /** @returns `step <id> failed: <message>`. */
  toString(): string {
    return `step ${this.id} failed: ${messageOf(this.error)}`;
  }
}

/**
 * Runs a pipeline of agents.
 *
 * @param steps - the agents, in order (ids must be unique).
 * @param input - the first agent's input.
 * @param options - signal, error policy, shared context, callback, telemetry.
 * @returns successes, failures and the final value; a failed step never throws.
 * @throws CancelledError when the signal aborts; RangeError for duplicate step ids; a callback's error.
 * @example
 * ```ts
 * const run = await runSequential(
 *   [{ id: "research", agent: researcher }, { id: "write", agent: writer }],
 *   "Tides of the Channel",
 *   { context: shared.namespace("results") },
 * );
 * if (run.success) console.log(run.output);
 * ```
 */
export async function runSequential(
  steps: readonly SequentialStep[],
  input: unknown,
  options: SequentialOptions = {},
): Promise<SequentialResult> {
  checkIds(steps);
  const pipeline = new Pipeline(steps, options);
  const results: SequentialStepResult[] = [];
  const errors: SequentialStepError[] = [];
  try {
    let value = input;
    for (const step of steps) {
      const outcome = await pipeline.step(step, value);
      if (outcome.ok) {
        results.push({ id: step.id, output: outcome.output, result: outcome.result });
        value = outcome.output;
        continue;
      }
      errors.push({ id: step.id, error: outcome.error, input: value });
      if (pipeline.stopOnError) break;
      value = new StepFailure(step.id, outcome.error, value);
    }
    pipeline.events.stop({ steps: results.length + errors.length, errors: errors.length });
    return { success: errors.length === 0, results, errors, output: value };
  } catch (error) {
    pipeline.events.exception(error);
    throw error;
  }
}

/**
 * Runs a pipeline on a message: each agent gets the previous message's payload, and answers with a reply
 * (its transformed output as payload) or an error reply. Every reply carries the conversation's
 * correlation id (the initial message's `correlationId`, else its id) and, as `causationId`, the id of
 * the message before it.
 *
 * @param steps - the agents, in order; a step's id is its address.
 * @param message - the initial message.
 * @param options - as for {@link runSequential}; `stop` (the default) ends the list at the first error reply.
 * @returns the initial message, then one reply per step run.
 * @throws CancelledError when the signal aborts; RangeError for duplicate step ids.
 * @example
 * ```ts
 * const ask = createMessage({ from: "user", to: "pipeline", payload: { chat_message: "Tides" } });
 * const [, ...replies] = await runSequentialMessages(steps, ask);
 * ```
 */
export async function runSequentialMessages(
  steps: readonly SequentialStep[],
  message: AgentMessage,
  options: SequentialOptions = {},
): Promise<AgentMessage[]> {
  checkIds(steps);
  const pipeline = new Pipeline(steps, options);
  const correlationId = message.correlationId ?? message.id;
  const messages: AgentMessage[] = [message];
  let errors = 0;
  try {
    let previous = message;
    for (const step of steps) {
      const request: AgentMessage = { ...previous, to: step.id, type: "request" };
      const input =
        previous.type === "error" ? describeError(previous.payload as ErrorPayload) : previous.payload;
      const outcome = await pipeline.step(step, input);
      const reply = outcome.ok
        ? replyTo(request, outcome.output)
        : errorReply(request, errorPayload(outcome.error));
      previous = { ...reply, correlationId, causationId: previous.id };
      messages.push(previous);
      if (!outcome.ok) {
        errors++;
        if (pipeline.stopOnError) break;
      }
    }
    pipeline.events.stop({ steps: messages.length - 1, errors });
    return messages;
  } catch (error) {
    pipeline.events.exception(error);
    throw error;
  }
}

/**
 * The pipeline as orchestration logic: its input is the first agent's input.
 *
 * @param steps - the agents.
 * @param options - as for {@link runSequential}, without the signal (the actor's is used).
 * @returns promise logic for `startOrchestration` or a supervisor.
 * @example
 * ```ts
 * const run = startOrchestration(sequentialLogic(steps), "Tides");
 * run.stop(); // aborts the running agent
 * ```
 */
export function sequentialLogic(
  steps: readonly SequentialStep[],
  options: Omit<SequentialOptions, "signal"> = {},
): OrchestrationLogic<unknown, SequentialResult> {
  return orchestrationLogic((input, signal) => runSequential(steps, input, { ...options, signal }));
}

/**
 * The message pipeline as orchestration logic: its input is the initial message.
 *
 * @param steps - the agents.
 * @param options - as for {@link runSequentialMessages}, without the signal.
 * @returns promise logic.
 */
export function sequentialMessagesLogic(
  steps: readonly SequentialStep[],
  options: Omit<SequentialOptions, "signal"> = {},
): OrchestrationLogic<AgentMessage, AgentMessage[]> {
  return orchestrationLogic((message, signal) =>
    runSequentialMessages(steps, message, { ...options, signal }),
  );
}

type StepOutcome =
  | { readonly ok: true; readonly output: unknown; readonly result: AgentResult<unknown> }
  | { readonly ok: false; readonly error: unknown };

/** What both forms share: running one step, with its telemetry, storage and callback. */
class Pipeline {
  readonly events: OrchestrationEvents;
  readonly stopOnError: boolean;
  readonly #options: SequentialOptions;
  readonly #signal: AbortSignal;
  readonly #clock: Clock;

  constructor(steps: readonly SequentialStep[], options: SequentialOptions) {
    this.#options = options;
    this.#signal = options.signal ?? NEVER;
    this.#clock = options.clock ?? systemClock;
    this.stopOnError = (options.onError ?? "stop") === "stop";
    this.events = orchestrationEvents(
      options.telemetry,
      "sequential",
      { ...(options.id !== undefined && { id: options.id }), agents: steps.map((s) => s.id) },
      () => this.#clock.now(),
    );
  }

  /** Runs a step; its failure is an outcome, a cancellation or a callback's error is thrown. */
  async step(step: SequentialStep, value: unknown): Promise<StepOutcome> {
    if (this.#signal.aborted) throw new CancelledError(this.#signal.reason);
    const started = this.#clock.now();
    let outcome: StepOutcome;
    try {
      const input = value instanceof StepFailure ? String(value) : value;
      const result = await runStep(step.id, step.agent, input, { signal: this.#signal, clock: this.#clock });
      const output =
        step.transform === undefined ? result.output : await step.transform(result.output, result);
      await this.#options.context?.put(step.id, output);
      outcome = { ok: true, output, result };
    } catch (error) {
      if (this.#signal.aborted)
        throw error instanceof CancelledError ? error : new CancelledError(this.#signal.reason);
      outcome = { ok: false, error };
    }
    const durationMs = this.#clock.now() - started;
    if (outcome.ok) {
      this.events.agent(step.id, { ok: true, durationMs });
      this.#options.onStepComplete?.(step.id, outcome.output, outcome.result);
    } else this.events.agent(step.id, { ok: false, durationMs, error: outcome.error });
    return outcome;
  }
}

function checkIds(steps: readonly { readonly id: string }[]): void {
  const seen = new Set<string>();
  for (const { id } of steps) {
    if (seen.has(id)) throw new RangeError(`duplicate step id ${JSON.stringify(id)}`);
    seen.add(id);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error reply's payload: a coordination error's code, a provider error's kind, else the error's name. */
function errorPayload(error: unknown): ErrorPayload {
  const { code, kind } = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    kind?: unknown;
  };
  const name = error instanceof Error ? error.name : "error";
  return {
    code: typeof code === "string" ? code : typeof kind === "string" ? kind : name,
    message: messageOf(error),
    details: { name },
  };
}

function describeError(payload: ErrorPayload): string {
  return `the previous step failed (${payload.code}): ${payload.message}`;
}
