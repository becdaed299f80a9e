/**
 * Orchestrations as actors. Each orchestrator is XState promise logic (so it can be spawned by the
 * runtime, under a supervisor or inside a workflow, and shows in the inspector); stopping the actor
 * aborts its signal, which cancels every agent run it started and their model and tool calls.
 * `startOrchestration` runs one standalone; telemetry follows the bus's start / stop / exception shape.
 */
import type { Telemetry } from "@normandy/runtime";
import { type AnyActorRef, createActor, fromPromise, type PromiseActorLogic, toPromise } from "xstate";
import { CancelledError } from "./errors.js";

/** Promise logic of an orchestration taking `I` and resolving with `R`. */
export type OrchestrationLogic<I, R> = PromiseActorLogic<R, I>;

/**
 * Makes orchestration logic from an async function of its input and abort signal.
 *
 * @param run - the orchestration (must honour the signal).
 * @returns promise logic.
 */
export function orchestrationLogic<I, R>(
  run: (input: I, signal: AbortSignal) => Promise<R>,
): OrchestrationLogic<I, R> {
  return fromPromise<R, I>(({ input, signal }) => run(input, signal));
}

/** A running orchestration. */
export interface Orchestration<R> {
  /** Its actor (for inspection). */
  readonly actor: AnyActorRef;
  /** Its outcome; a stop rejects it with a {@link CancelledError}. */
  readonly result: Promise<R>;
  /** Cancels it: every agent run it started is aborted. */
  stop(): void;
}

/**
 * Starts an orchestration as a standalone actor.
 *
 * @param logic - the orchestration.
 * @param input - its input.
 * @param options - a signal that stops it.
 * @returns the running orchestration.
 * @example
 * ```ts
 * const run = startOrchestration(parallelLogic(specs), input);
 * setTimeout(() => run.stop(), 1000);
 * await run.result; // CancelledError if stopped first
 * ```
 */
export function startOrchestration<I, R>(
  logic: OrchestrationLogic<I, R>,
  input: I,
  options: { readonly signal?: AbortSignal } = {},
): Orchestration<R> {
  const actor = createActor(logic, { input });
  let cancel: (reason: unknown) => void = () => {};
  const cancelled = new Promise<never>((_, reject) => {
    cancel = reject;
  });
  const stop = (reason?: unknown) => {
    if (actor.getSnapshot().status !== "active") return;
    cancel(new CancelledError(reason)); // first: a stopped actor's promise resolves with undefined
    actor.stop();
  };
  const signal = options.signal;
  const onAbort = () => stop(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  actor.start();
  const result = Promise.race([toPromise(actor), cancelled]).finally(() =>
    signal?.removeEventListener("abort", onAbort),
  );
  if (signal?.aborted) onAbort();
  return { actor, result, stop: () => stop() };
}

/** What an orchestration reports on the telemetry bus. */
export interface OrchestrationEvents {
  /** A step (one agent's run) finished: ok or with its error. */
  agent(
    id: string,
    outcome: { readonly ok: boolean; readonly durationMs: number; readonly error?: unknown },
  ): void;
  /** Something the orchestration decided (e.g. a manager's plan): `[..., kind, name]` with `metadata`. */
  decision(name: string, metadata: Readonly<Record<string, unknown>>): void;
  /** The orchestration finished. */
  stop(measurements?: Record<string, number>): void;
  /** The orchestration failed. */
  exception(error: unknown): void;
}

const NOOP: OrchestrationEvents = { agent() {}, decision() {}, stop() {}, exception() {} };

/**
 * Emits `["normandy","orchestration",kind,"start"]` and returns the emitters of its `agent`, decision
 * (e.g. `plan`), `stop` and `exception` events (which carry the same `id` metadata; all but decisions a
 * `duration`).
 *
 * @param telemetry - the bus (nothing is emitted without one or with no handler attached).
 * @param kind - `sequential`, `parallel`, `hierarchical`, `reactive`, `pool`, `workflow`.
 * @param metadata - e.g. the orchestration's id and its agents.
 * @param now - the clock.
 * @returns the emitters.
 */
export function orchestrationEvents(
  telemetry: Telemetry | undefined,
  kind: string,
  metadata: Readonly<Record<string, unknown>>,
  now: () => number = Date.now,
): OrchestrationEvents {
  if (telemetry === undefined || !telemetry.active) return NOOP;
  const started = now();
  telemetry.emit(["normandy", "orchestration", kind, "start"], {}, metadata);
  return {
    agent(id, outcome) {
      telemetry.emit(
        ["normandy", "orchestration", kind, "agent"],
        { duration: outcome.durationMs },
        {
          ...metadata,
          agentId: id,
          ok: outcome.ok,
          ...(outcome.error !== undefined && { error: outcome.error }),
        },
      );
    },
    decision(name, extra) {
      telemetry.emit(["normandy", "orchestration", kind, name], {}, { ...metadata, ...extra });
    },
    stop(measurements = {}) {
      telemetry.emit(
        ["normandy", "orchestration", kind, "stop"],
        { duration: now() - started, ...measurements },
        metadata,
      );
    },
    exception(error) {
      telemetry.emit(
        ["normandy", "orchestration", kind, "exception"],
        { duration: now() - started },
        { ...metadata, error },
      );
    },
  };
}
