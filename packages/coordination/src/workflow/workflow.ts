/**
 * Running workflows: a workflow is an XState machine spawned as a (durable) process of the actor system.
 * `workflowLogic` wraps a machine so its run reports telemetry and its delayed transitions (`after`)
 * survive a restore; `startWorkflow` / `runWorkflow` run one and settle with its output; `workflowChild`
 * puts one under a supervisor.
 *
 * Durability, as XState and the runtime give it: the persisted snapshot is saved after every step and
 * restored when a process with the same key starts. A step whose invoked actor was still running when the
 * snapshot was taken is re-run on restore (with the input it was invoked with); a completed step is not,
 * because the transition that records its output is what the snapshot saves. XState keeps delayed events
 * in its system, not in the machine's snapshot, so this wrapper saves them beside it and re-arms them on
 * restore with the time they had left (by the wall clock, the only one that survives a process restart).
 */
import {
  type ChildSpec,
  type Clock,
  type ExitReason,
  type RestartType,
  type Shutdown,
  type ActorSystem as System,
  systemClock,
  type Telemetry,
} from "@normandy/runtime";
import type {
  AnyActorRef,
  AnyActorScope,
  AnyMachineSnapshot,
  AnyStateMachine,
  EventObject,
  InputFrom,
  OutputFrom,
} from "xstate";
import {
  CancelledError,
  InvalidWorkflowError,
  WorkflowError,
  WorkflowInterruptedError,
  WorkflowTimeoutError,
} from "../errors.js";
import { type OrchestrationEvents, orchestrationEvents } from "../orchestration.js";

/** Where the wrapper keeps a workflow's pending delayed events in its persisted snapshot. */
const TIMERS_KEY = "normandy.timers";

/** A delayed event saved with a snapshot: its id, the event, and when it is due (epoch ms). */
interface SavedTimer {
  readonly id: string;
  readonly event: EventObject;
  readonly dueAt: number;
}

/** Options of {@link workflowLogic}. */
export interface WorkflowLogicOptions<O = unknown> {
  /** The workflow's name, in telemetry metadata. */
  readonly name: string;
  /** Where `["normandy","orchestration","workflow",…]` events go (start / agent / stop / exception). */
  readonly telemetry?: Telemetry;
  /** The clock durations are measured with (default: the real one). */
  readonly clock?: Clock;
  /** Extra telemetry metadata (e.g. the durable key). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Called with the output when the workflow reaches its final state. Must not throw. */
  readonly onDone?: (output: O) => void;
  /** Called with the error when the workflow fails. Must not throw. */
  readonly onError?: (error: unknown) => void;
}

/** What the wrapper tracks per running actor. */
interface Run {
  /** Whether it was restored from a snapshot. */
  readonly resumed: boolean;
  /** Its telemetry, from its start (not its creation: a process may be created and then refused). */
  events: OrchestrationEvents | undefined;
  /** When each invoked child was first seen, for its step duration. */
  readonly started: Map<string, number>;
  settled: boolean;
}

/** The hooks behind {@link workflowLogic}; `stopError` names the error of a stop (telemetry). */
interface Hooks<O> extends WorkflowLogicOptions<O> {
  readonly stopError?: () => unknown;
}

/**
 * Wraps a workflow machine for running as a process: telemetry start / per-step agent / stop / exception
 * events, and delayed transitions (`after`, delayed self-`raise`) that survive persist and restore.
 * The result is the same machine to XState (same config, states, implementations).
 *
 * @param machine - the workflow machine.
 * @param options - name, telemetry, and outcome callbacks.
 * @returns the wrapped machine.
 * @example
 * ```ts
 * await system.spawn(workflowLogic(machine, { name: "onboarding", telemetry: system.telemetry }), {
 *   name: "onboarding",
 *   durable: "onboarding/42",
 *   input,
 * });
 * ```
 */
export function workflowLogic<M extends AnyStateMachine>(
  machine: M,
  options: WorkflowLogicOptions<OutputFrom<M>>,
): M {
  return observe(machine, options);
}

function observe<M extends AnyStateMachine>(machine: M, hooks: Hooks<OutputFrom<M>>): M {
  const now = () => (hooks.clock ?? systemClock).now();
  const scopes = new WeakMap<object, AnyActorScope>();
  const restoredTimers = new WeakMap<object, readonly SavedTimer[]>();
  const runs = new WeakMap<AnyActorRef, Run>();

  const runOf = (scope: AnyActorScope, resumed: boolean): Run => {
    let run = runs.get(scope.self);
    if (run === undefined) {
      run = { resumed, events: undefined, started: new Map(), settled: false };
      runs.set(scope.self, run);
    }
    return run;
  };

  const eventsOf = (run: Run): OrchestrationEvents => {
    if (run.events === undefined) {
      const metadata = { id: hooks.name, workflow: hooks.name, resumed: run.resumed, ...hooks.metadata };
      run.events = orchestrationEvents(hooks.telemetry, "workflow", metadata, now);
    }
    return run.events;
  };

  const settle = (run: Run, snapshot: AnyMachineSnapshot): void => {
    if (run.settled || snapshot.status === "active") return;
    run.settled = true;
    const events = eventsOf(run);
    if (snapshot.status === "done") {
      events.stop();
      hooks.onDone?.(snapshot.output as OutputFrom<M>);
    } else if (snapshot.status === "error") {
      events.exception(snapshot.error);
      hooks.onError?.(snapshot.error);
    } else {
      events.exception(hooks.stopError?.() ?? new WorkflowInterruptedError(hooks.name, "stopped"));
    }
  };

  // XState stops no child of an actor that errors: its agent runs would go on, so stop them here
  const stopChildren = (scope: AnyActorScope, ...snapshots: AnyMachineSnapshot[]): void => {
    for (const snapshot of snapshots)
      for (const child of Object.values(snapshot.children) as AnyActorRef[]) scope.stopChild(child);
  };

  // a throwing transition ends the actor: XState will not call this logic for it again
  const fail = (run: Run, error: unknown): never => {
    run.settled = true;
    eventsOf(run).exception(error);
    hooks.onError?.(error);
    throw error;
  };

  const track = (run: Run, next: AnyMachineSnapshot, event: EventObject): void => {
    for (const id of Object.keys(next.children)) if (!run.started.has(id)) run.started.set(id, now());
    const outcome = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event.type);
    if (outcome === null) return;
    const [, kind, id] = outcome as unknown as [string, string, string];
    const since = run.started.get(id) ?? now();
    run.started.delete(id);
    const error = kind === "error" ? (event as { error?: unknown }).error : undefined;
    eventsOf(run).agent(id, {
      ok: kind === "done",
      durationMs: now() - since,
      ...(error !== undefined && { error }),
    });
  };

  // Object.create keeps every method and field of the machine (and `instanceof`); only these are replaced.
  const wrapped = Object.create(machine) as M;
  Object.assign(wrapped, {
    getInitialSnapshot(scope: AnyActorScope, input: unknown): AnyMachineSnapshot {
      const run = runOf(scope, false);
      let snapshot: AnyMachineSnapshot;
      try {
        snapshot = machine.getInitialSnapshot(scope, input);
      } catch (error) {
        return fail(run, error);
      }
      scopes.set(snapshot, scope);
      track(run, snapshot, { type: "xstate.init" });
      settle(run, snapshot);
      return snapshot;
    },
    restoreSnapshot(persisted: unknown, scope: AnyActorScope): AnyMachineSnapshot {
      const run = runOf(scope, true);
      const { [TIMERS_KEY]: timers, ...rest } = persisted as Record<string, unknown>;
      let snapshot: AnyMachineSnapshot;
      try {
        snapshot = machine.restoreSnapshot(rest as never, scope) as AnyMachineSnapshot;
      } catch (error) {
        return fail(run, error);
      }
      scopes.set(snapshot, scope);
      if (Array.isArray(timers)) restoredTimers.set(snapshot, timers as SavedTimer[]);
      track(run, snapshot, { type: "xstate.init" });
      return snapshot;
    },
    start(snapshot: AnyMachineSnapshot, scope: AnyActorScope): void {
      eventsOf(runOf(scope, false));
      machine.start(snapshot);
      const timers = restoredTimers.get(snapshot);
      if (timers === undefined) return;
      restoredTimers.delete(snapshot);
      const wall = Date.now();
      for (const t of timers) {
        scope.system.scheduler.schedule(scope.self, scope.self, t.event, Math.max(0, t.dueAt - wall), t.id);
      }
    },
    transition(snapshot: AnyMachineSnapshot, event: EventObject, scope: AnyActorScope): AnyMachineSnapshot {
      const run = runOf(scope, false);
      let next: AnyMachineSnapshot;
      try {
        next = machine.transition(snapshot, event as never, scope) as AnyMachineSnapshot;
      } catch (error) {
        stopChildren(scope, snapshot);
        return fail(run, error);
      }
      scopes.set(next, scope);
      track(run, next, event);
      if (next.status === "error") stopChildren(scope, snapshot, next);
      settle(run, next);
      return next;
    },
    getPersistedSnapshot(snapshot: AnyMachineSnapshot, options?: unknown): unknown {
      // XState's persist takes options (e.g. `__unsafeAllowInlineActors`) its type does not declare
      const persist = machine.getPersistedSnapshot as (s: unknown, o?: unknown) => Record<string, unknown>;
      const persisted = persist(snapshot, options);
      const scope = scopes.get(snapshot);
      if (scope === undefined) return persisted;
      const timers: SavedTimer[] = [];
      for (const e of Object.values(scope.system.getSnapshot()._scheduledEvents)) {
        // only events the workflow sends itself (its `after` transitions, delayed `raise`s)
        if (e.source === scope.self && e.target === scope.self)
          timers.push({ id: e.id, event: e.event, dueAt: e.startedAt + e.delay });
      }
      return timers.length === 0 ? persisted : { ...persisted, [TIMERS_KEY]: timers };
    },
  });
  return wrapped;
}

/** Options of {@link startWorkflow} and {@link runWorkflow}. */
export interface WorkflowOptions {
  /** The process's registered name (address it with `system.send(name, event)`), also in telemetry. */
  readonly name: string;
  /**
   * A snapshot-store key: the workflow is saved after every step and, when a snapshot exists under the key,
   * resumed from it instead of starting from `input`. Needs `ActorSystem.start({ snapshotStore })`.
   */
  readonly durable?: string;
  /** Stops the workflow (discarding its snapshot) if it has not finished within this many ms of the system clock. */
  readonly timeoutMs?: number;
  /** Aborting it cancels the workflow (its snapshot is discarded). */
  readonly signal?: AbortSignal;
}

/** A running workflow. */
export interface WorkflowHandle<O> {
  /** Its registered name. */
  readonly name: string;
  /** Its pid. */
  readonly pid: string;
  /**
   * Its output. Rejects with `WorkflowError` (a step failed: the cause is the step's error),
   * `WorkflowTimeoutError`, `CancelledError` (stopped), or `WorkflowInterruptedError` (its process ended
   * otherwise — e.g. the system shut down; a durable workflow then resumes when started again).
   */
  readonly result: Promise<O>;
  /**
   * Sends it an event (e.g. `{ type: "APPROVE" }`).
   *
   * @param event - the event.
   */
  send(event: { readonly type: string; readonly [key: string]: unknown }): void;
  /** Cancels it: its running steps are aborted and its snapshot is discarded; `result` rejects with `CancelledError`. */
  stop(): void;
}

/**
 * Starts a workflow machine as a process of `system` (durable when `options.durable` is set).
 *
 * A failed workflow keeps its last snapshot (the state after its last completed step), so starting it
 * again with the same key retries from the failed step; a finished, cancelled or timed-out one has its
 * snapshot deleted. To suspend a durable workflow, stop its process with a reason other than `normal`
 * (`system.stop(name, { reason: "shutdown" })`) or shut the system down.
 *
 * @param system - the actor system.
 * @param machine - the workflow (any XState machine; its context must stay JSON to be durable).
 * @param input - its input (ignored when resuming from a snapshot).
 * @param options - name, durable key, time limit, signal.
 * @returns the handle, once the process has started.
 * @throws CancelledError when the signal is already aborted; the runtime's spawn errors (`NameTakenError`, `StartError`).
 * @example
 * ```ts
 * const run = await startWorkflow(system, reviewFlow, { doc }, { name: "review-7", durable: "review/7" });
 * run.send({ type: "APPROVE", by: "ana" });
 * const output = await run.result;
 * ```
 */
export async function startWorkflow<M extends AnyStateMachine>(
  system: System,
  machine: M,
  input: InputFrom<M>,
  options: WorkflowOptions,
): Promise<WorkflowHandle<OutputFrom<M>>> {
  const { name, signal, timeoutMs } = options;
  if (timeoutMs !== undefined && !(timeoutMs > 0 && Number.isFinite(timeoutMs)))
    throw new InvalidWorkflowError(`timeoutMs must be a finite number > 0, got ${String(timeoutMs)}`);
  if (signal?.aborted) throw new CancelledError(signal.reason);
  let outcome: { readonly output: OutputFrom<M> } | { readonly error: unknown } | undefined;
  let stopCause: Error | undefined;
  const logic = observe(machine, {
    name,
    telemetry: system.telemetry,
    clock: system.clock,
    ...(options.durable !== undefined && { metadata: { durable: options.durable } }),
    onDone: (output) => {
      outcome = { output };
    },
    onError: (error) => {
      outcome = { error };
    },
    stopError: () => stopCause,
  });
  const pid = await system.spawn(logic, {
    input,
    name,
    ...(options.durable !== undefined && { durable: options.durable }),
  });

  let halt: (cause: Error) => void = () => {};
  const result = new Promise<OutputFrom<M>>((resolve, reject) => {
    let timer: unknown;
    const onAbort = () => halt(new CancelledError(signal?.reason));
    const finish = (reason: ExitReason) => {
      if (timer !== undefined) system.clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (outcome !== undefined && "output" in outcome) resolve(outcome.output);
      else if (stopCause !== undefined) reject(stopCause);
      else if (outcome !== undefined) reject(asWorkflowError(name, outcome.error));
      else if (typeof reason === "object" && "error" in reason) reject(asWorkflowError(name, reason.error));
      else reject(new WorkflowInterruptedError(name, reason));
    };
    halt = (cause) => {
      if (stopCause !== undefined || outcome !== undefined) return;
      stopCause = cause;
      // a `normal` stop ends the workflow for good (the runtime deletes its snapshot) and the monitor
      // settles `result`; if it is already gone or exits otherwise meanwhile, the monitor has settled it
      // with that exit first and this rejection is a no-op
      system.stop(pid, { reason: "normal" }).catch(reject);
    };
    system.monitor(pid, finish);
    if (timeoutMs !== undefined)
      timer = system.clock.setTimeout(() => halt(new WorkflowTimeoutError(name, timeoutMs)), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
  });
  return {
    name,
    pid,
    result,
    send: (event) => system.send(pid, event),
    stop: () => halt(new CancelledError()),
  };
}

/**
 * Runs a workflow machine as a process of `system` to its output. See {@link startWorkflow}.
 *
 * @param system - the actor system.
 * @param machine - the workflow.
 * @param input - its input (ignored when resuming from a snapshot).
 * @param options - name, durable key, time limit, and a signal that cancels it.
 * @returns the workflow's output.
 * @throws WorkflowError, WorkflowTimeoutError, CancelledError, WorkflowInterruptedError, and spawn errors.
 * @example
 * ```ts
 * const system = ActorSystem.start({ snapshotStore: new FileSnapshotStore("./state") });
 * const results = await runWorkflow(system, research.build(), { topic: "tides" }, {
 *   name: "research-1",
 *   durable: "research/1", // after a crash, the same call resumes after the last completed step
 *   timeoutMs: 600_000,
 * });
 * ```
 */
export async function runWorkflow<M extends AnyStateMachine>(
  system: System,
  machine: M,
  input: InputFrom<M>,
  options: WorkflowOptions,
): Promise<OutputFrom<M>> {
  const handle = await startWorkflow(system, machine, input, options);
  return handle.result;
}

/** Options of {@link workflowChild}. */
export interface WorkflowChildOptions<M extends AnyStateMachine> {
  /** The child's id in its supervisor. */
  readonly id: string;
  /** The workflow's input (ignored when it resumes from a snapshot). */
  readonly input?: InputFrom<M>;
  /** A name to register the process under (also the telemetry name; default the id). */
  readonly name?: string;
  /** A snapshot-store key: a restart resumes after the last completed step. */
  readonly durable?: string;
  /** Default `transient`: restarted after a crash, not once it has finished. */
  readonly restart?: RestartType;
  /** How it is stopped (default the runtime's, 5000 ms). */
  readonly shutdown?: Shutdown;
  /** Whether its exit may shut its supervisor down (with `autoShutdown`). */
  readonly significant?: boolean;
  /** Where workflow telemetry goes (e.g. `system.telemetry`). */
  readonly telemetry?: Telemetry;
  /** The clock of telemetry durations (e.g. `system.clock`). */
  readonly clock?: Clock;
  /** Called with the output when the workflow finishes. Must not throw. */
  readonly onDone?: (output: OutputFrom<M>) => void;
  /** Called with the error when a run of the workflow fails (before its restart). Must not throw. */
  readonly onError?: (error: unknown) => void;
}

/**
 * A child spec running a workflow under a runtime supervisor. With a durable key, a crashed workflow
 * is restarted from its last snapshot, so its completed steps are not run again.
 *
 * @param machine - the workflow.
 * @param options - id, input, name, durable key, restart type, telemetry and outcome callbacks.
 * @returns the child spec.
 * @example
 * ```ts
 * await system.spawn(defineSupervisor({
 *   children: [workflowChild(machine, { id: "nightly", durable: "nightly", input, onDone: save })],
 * }));
 * ```
 */
export function workflowChild<M extends AnyStateMachine>(
  machine: M,
  options: WorkflowChildOptions<M>,
): ChildSpec {
  const name = options.name ?? options.id;
  return {
    id: options.id,
    start: observe(machine, {
      name,
      ...(options.telemetry !== undefined && { telemetry: options.telemetry }),
      ...(options.clock !== undefined && { clock: options.clock }),
      ...(options.durable !== undefined && { metadata: { durable: options.durable } }),
      ...(options.onDone !== undefined && { onDone: options.onDone }),
      ...(options.onError !== undefined && { onError: options.onError }),
    }),
    args: options.input,
    restart: options.restart ?? "transient",
    ...(options.name !== undefined && { name: options.name }),
    ...(options.durable !== undefined && { durable: options.durable }),
    ...(options.shutdown !== undefined && { shutdown: options.shutdown }),
    ...(options.significant !== undefined && { significant: options.significant }),
  };
}

/** A workflow's error as a {@link WorkflowError} (one already is, from a builder machine, passes as is). */
function asWorkflowError(name: string, error: unknown): WorkflowError {
  if (error instanceof WorkflowError) return error;
  return new WorkflowError(name, error instanceof Error ? error.message : String(error), { cause: error });
}
