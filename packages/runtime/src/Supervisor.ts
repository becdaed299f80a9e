/**
 * Supervisors with OTP's semantics (`supervisor.erl`, see shared/reference/otp-semantics.md §1): the
 * strategies, restart types, the exact intensity algorithm, start order and start failures, the
 * per-child shutdown protocol in reverse start order, significant children and auto-shutdown, and the
 * management API. A supervisor is a server that traps exits, so it handles one request at a time and is
 * blocked while a child's `init` runs, as in OTP.
 */
import type { AnyActorLogic } from "xstate";
import {
  type ChildSpec,
  checkChildSpec,
  checkFlags,
  type FullChildSpec,
  type FullFlags,
  type SupervisorFlags,
} from "./ChildSpec.js";
import { type ExitReason, isCleanExit } from "./ExitReason.js";
import { InvalidChildSpecError } from "./errors.js";
import type { Context } from "./internal/Context.js";
import type { AnyEvent, Process, StartOutcome } from "./internal/Process.js";
import type { ServerProcess } from "./internal/ServerProcess.js";
import { exitSource } from "./internal/signals.js";
import { addRestart, type RestartHistory } from "./RestartIntensity.js";
import {
  type CallResult,
  defineServer,
  type ExitMessage,
  type From,
  IGNORE,
  type Protocol,
  reply,
  type Server,
  type ServerContext,
  type ServerDefinition,
  type StateResult,
  type Stop,
  stop,
} from "./Server.js";

/** A supervisor's spec: its flags and its children (for `simple_one_for_one`, exactly one template). */
export interface SupervisorSpec extends SupervisorFlags {
  readonly children?: readonly ChildSpec[];
}

/** One row of {@link SupervisorRequest} `which_children`, newest child first (OTP order). */
export interface ChildInfo {
  /** The child's id (`undefined` for a `simple_one_for_one` child). */
  readonly id: string | undefined;
  /** Its pid, `restarting` while a failed restart waits for a retry, or `undefined` when not running. */
  readonly pid: string | "restarting" | undefined;
  readonly type: "worker" | "supervisor";
  readonly kind: "server" | "supervisor" | "logic";
}

/** `count_children`. */
export interface ChildCounts {
  readonly specs: number;
  readonly active: number;
  readonly supervisors: number;
  readonly workers: number;
}

/** Why a management request failed (OTP's `{error, Reason}` cases). */
export type SupervisorError =
  | {
      readonly ok: false;
      readonly error:
        | "not_found"
        | "running"
        | "restarting"
        | "simple_one_for_one"
        | "already_present"
        | "max_children"
        | "bad_request";
    }
  | { readonly ok: false; readonly error: "already_started"; readonly pid: string }
  | { readonly ok: false; readonly error: "start_failed"; readonly reason: ExitReason }
  | {
      readonly ok: false;
      readonly error: "invalid_child_spec";
      readonly reason: string;
      readonly message: string;
    };

/** A started (or ignored: `pid` undefined) child, or an error. */
export type StartChildResult = { readonly ok: true; readonly pid: string | undefined } | SupervisorError;
/** `terminate_child` / `delete_child`. */
export type OkResult = { readonly ok: true } | SupervisorError;
/** `get_childspec`. */
export type ChildSpecResult = { readonly ok: true; readonly spec: FullChildSpec } | SupervisorError;

/** The management requests a supervisor answers (send them with `system.call`, or use `SupervisorClient`). */
export type SupervisorRequest =
  | { readonly type: "which_children" }
  | { readonly type: "count_children" }
  | { readonly type: "start_child"; readonly spec: ChildSpec }
  | { readonly type: "start_child"; readonly extraArgs: readonly unknown[] }
  | { readonly type: "terminate_child"; readonly id: string }
  | { readonly type: "restart_child"; readonly id: string }
  | { readonly type: "delete_child"; readonly id: string }
  | { readonly type: "get_childspec"; readonly id: string };

/** The protocol of a supervisor process. */
export type SupervisorProtocol = Protocol<SupervisorRequest, unknown, never, never>;

/** A supervisor behaviour. */
export type Supervisor<Args = unknown> = Server<Args, SupervisorProtocol> & { readonly kind: "supervisor" };

/** A child as the supervisor tracks it. */
class Child {
  spec: FullChildSpec;
  /** The init argument (for `simple_one_for_one`, the template args with the extra args appended). */
  readonly args: unknown;
  proc: Process | undefined;
  restarting: boolean;
  readonly owner: SupervisorState;
  readonly key: string;

  constructor(owner: SupervisorState, key: string, spec: FullChildSpec, args: unknown) {
    this.owner = owner;
    this.key = key;
    this.spec = spec;
    this.args = args;
    this.proc = undefined;
    this.restarting = false;
  }
}

/** A supervisor's state: flags, children in start order, and its restart history. */
class SupervisorState {
  readonly flags: FullFlags;
  readonly self: ServerProcess;
  /** Static supervisors: by id. `simple_one_for_one`: by a serial key. Insertion order is start order. */
  readonly children = new Map<string, Child>();
  readonly template: FullChildSpec | undefined;
  history: RestartHistory = [];
  restartCount = 0;
  serial = 0;

  constructor(flags: FullFlags, self: ServerProcess, template: FullChildSpec | undefined) {
    this.flags = flags;
    this.self = self;
    this.template = template;
  }

  get dynamic(): boolean {
    return this.flags.strategy === "simple_one_for_one";
  }

  /** What the inspector and `getSnapshot` show (the child table can hold 100k entries). */
  toJSON(): unknown {
    return {
      strategy: this.flags.strategy,
      intensity: this.flags.intensity,
      period: this.flags.period,
      children: this.children.size,
      restarts: this.restartCount,
    };
  }
}

type Maybe<T> = T | Promise<T>;

function then<T, U>(value: Maybe<T>, fn: (value: T) => Maybe<U>): Maybe<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** Runs `fn` over `items` one after another, waiting for each result that is a promise. */
function sequence<T>(items: readonly T[], fn: (item: T) => Maybe<void>, from = 0): Maybe<void> {
  for (let i = from; i < items.length; i++) {
    const r = fn(items[i] as T);
    if (r instanceof Promise) return r.then(() => sequence(items, fn, i + 1));
  }
  return undefined;
}

const TRY_AGAIN = "normandy.supervisor.try_again";

interface TryAgain {
  readonly type: typeof TRY_AGAIN;
  readonly key: string;
}

/**
 * Defines a supervisor. `spec` may be a function of the start argument; returning {@link IGNORE} from
 * it makes the supervisor's start return `ignore`, as OTP's `init/1` can.
 *
 * @param spec - the flags and children, or a function building them.
 * @returns a supervisor behaviour to spawn or to use as a child.
 * @example
 * ```ts
 * const tree = defineSupervisor({
 *   strategy: "one_for_one", intensity: 3, period: 5,
 *   children: [{ id: "cache", start: cacheServer }, { id: "workers", start: workerPool }],
 * });
 * const sup = await system.spawn(tree, { name: "app" });
 * ```
 */
export function defineSupervisor<Args = void>(
  spec: SupervisorSpec | ((args: Args) => SupervisorSpec | typeof IGNORE),
): Supervisor<Args> {
  const definition: ServerDefinition<Args, SupervisorState, SupervisorRequest, unknown, never, TryAgain> = {
    name: "supervisor",
    trapExit: true,
    mailbox: { capacity: Number.POSITIVE_INFINITY },
    init: (args, ctx) => init(typeof spec === "function" ? spec(args) : spec, ctx),
    handleCall: (req, from, state) => handleCall(req, from, state),
    handleInfo: (msg, state) => handleInfo(msg, state),
    terminate: (reason, state) => terminateChildren(state, reason),
  };
  const server = defineServer(definition);
  return { ...server, kind: "supervisor" } as unknown as Supervisor<Args>;
}

// ---- init -----------------------------------------------------------------------------------------

function init(
  spec: SupervisorSpec | typeof IGNORE,
  ctx: ServerContext,
): Maybe<SupervisorState | typeof IGNORE | Stop<unknown>> {
  if (spec === IGNORE) return IGNORE;
  const flags = checkFlags(spec);
  const specs = (spec.children ?? []).map((c) => checkChildSpec(c, flags.autoShutdown));
  const self = (ctx as Context).process;
  if (flags.strategy === "simple_one_for_one") {
    if (specs.length !== 1)
      throw new InvalidChildSpecError("bad_start_spec", "simple_one_for_one needs exactly one child spec");
    const template = specs[0] as FullChildSpec;
    if (template.args !== undefined && !Array.isArray(template.args)) {
      throw new InvalidChildSpecError(
        "bad_start_spec",
        "a simple_one_for_one template's args must be an array",
      );
    }
    return new SupervisorState(flags, self, template);
  }
  const state = new SupervisorState(flags, self, undefined);
  for (const s of specs) {
    if (state.children.has(s.id))
      throw new InvalidChildSpecError("duplicate_child_name", `duplicate child id ${s.id}`);
    state.children.set(s.id, new Child(state, s.id, s, s.args));
  }
  // OTP init_children: start in order; on the first failure, terminate the started ones in reverse
  // order and fail the start with {shutdown, {failed_to_start_child, Id, Reason}}.
  const children = [...state.children.values()];
  const startFrom = (i: number): Maybe<SupervisorState | Stop<unknown>> => {
    for (; i < children.length; i++) {
      const child = children[i] as Child;
      const outcome = startChild(state, child);
      if (outcome instanceof Promise) {
        const at = i;
        return outcome.then((o) => afterInitStart(state, child, o) ?? startFrom(at + 1));
      }
      const failed = afterInitStart(state, child, outcome);
      if (failed !== undefined) return failed;
    }
    return state;
  };
  return startFrom(0);
}

/** After one child's start during init: undefined to go on, or the supervisor's failed start. */
function afterInitStart(
  state: SupervisorState,
  child: Child,
  outcome: StartOutcome,
): Maybe<Stop<unknown>> | undefined {
  if (outcome.ok) return undefined;
  if (outcome.reason === "ignore") {
    if (child.spec.restart === "temporary") state.children.delete(child.key);
    return undefined;
  }
  const reason: ExitReason = { shutdown: { failed_to_start_child: child.spec.id, reason: outcome.reason } };
  return then(terminateGroup(state, [...state.children.values()].reverse()), () => stop(reason, undefined));
}

// ---- starting children ----------------------------------------------------------------------------

function startChild(state: SupervisorState, child: Child): Maybe<StartOutcome> {
  const { spec } = child;
  const kernel = state.self.kernel;
  const outcome =
    spec.kind === "logic"
      ? kernel.startLogic(
          spec.start as AnyActorLogic,
          { input: child.args, name: spec.name, id: spec.id, durable: spec.durable },
          state.self,
        )
      : kernel.startServer(
          (spec.start as Server).definition,
          {
            args: child.args,
            name: spec.name,
            id: spec.id,
            trapExit: spec.trapExit,
            capacity: spec.mailbox?.capacity,
            overflow: spec.mailbox?.overflow,
            durable: spec.durable,
            kind: spec.kind,
          },
          state.self,
        );
  return then(outcome, (o) => {
    if (o.ok) {
      child.proc = o.process;
      child.restarting = false;
      o.process.supervision = child;
    } else child.proc = undefined;
    return o;
  });
}

// ---- exits and restarts (do_restart / restart / restart_multiple_children) ------------------------

function handleInfo(
  msg: TryAgain | ExitMessage | { readonly type: string },
  state: SupervisorState,
): Maybe<StateResult<SupervisorState>> {
  if (msg.type === "EXIT") {
    const source = exitSource(msg as ExitMessage);
    const child = source?.supervision;
    // OTP ignores an EXIT from a process that is neither a child nor the parent (§1.9)
    if (!(child instanceof Child) || child.owner !== state || child.proc !== source) return state;
    return childExited(state, child, (msg as ExitMessage).reason);
  }
  if (msg.type === TRY_AGAIN) {
    const child = state.children.get((msg as TryAgain).key);
    if (child === undefined || !child.restarting) return state;
    return restart(state, child);
  }
  state.self.kernel.unexpected(state.self, msg as AnyEvent);
  return state;
}

function childExited(
  state: SupervisorState,
  child: Child,
  reason: ExitReason,
): Maybe<StateResult<SupervisorState>> {
  child.proc = undefined;
  const { restart: type } = child.spec;
  if (type === "permanent" || (type === "transient" && !isCleanExit(reason))) {
    return restart(state, child, reason);
  }
  delChild(state, child);
  return autoShutdown(state, child);
}

function delChild(state: SupervisorState, child: Child): void {
  if (state.dynamic || child.spec.restart === "temporary") state.children.delete(child.key);
  else {
    child.proc = undefined;
    child.restarting = false;
  }
}

function autoShutdown(state: SupervisorState, child: Child): StateResult<SupervisorState> {
  const mode = state.flags.autoShutdown;
  if (!child.spec.significant || mode === "never") return state;
  if (mode === "any_significant") return stop("shutdown", state);
  for (const c of state.children.values()) if (c.spec.significant && c.proc?.alive) return state;
  return stop("shutdown", state);
}

function restart(
  state: SupervisorState,
  child: Child,
  reason?: ExitReason,
): Maybe<StateResult<SupervisorState>> {
  const { flags, self } = state;
  const kernel = self.kernel;
  const check = addRestart(state.history, kernel.clock.now(), flags.intensity, flags.period);
  state.history = check.history;
  if (!check.allowed) {
    if (kernel.telemetry.active) {
      kernel.telemetry.emit(
        ["normandy", "supervisor", "intensity_exceeded"],
        { restarts: check.count },
        {
          supervisor: self.pid,
          childId: child.spec.id,
          intensity: flags.intensity,
          period: flags.period,
        },
      );
    }
    delChild(state, child);
    return stop("shutdown", state);
  }
  state.restartCount++;
  const group = groupOf(state, child);
  if (group === undefined) {
    return then(startChild(state, child), (outcome) => {
      if (outcome.ok) reportRestart(state, child, outcome.process, reason);
      else if (outcome.reason === "ignore") delChild(state, child);
      else tryAgain(state, child);
      return state;
    });
  }
  // rest_for_one / one_for_all: terminate the group (but the dead child) in reverse order, then start it in order
  child.proc = undefined;
  return then(terminateGroup(state, [...group].reverse()), () => {
    const survivors = group.filter((c) => c.spec.restart !== "temporary");
    for (const c of group) if (c.spec.restart === "temporary") state.children.delete(c.key);
    return then(startGroup(state, survivors), (failed) => {
      if (failed !== undefined) tryAgain(state, failed);
      else
        for (const c of survivors)
          if (c.proc !== undefined) reportRestart(state, c, c.proc, c === child ? reason : "shutdown");
      return state;
    });
  });
}

/** The children a restart of `child` involves besides itself, in start order; undefined for a lone restart. */
function groupOf(state: SupervisorState, child: Child): Child[] | undefined {
  const strategy = state.flags.strategy;
  if (strategy === "one_for_all") return [...state.children.values()];
  if (strategy === "rest_for_one") {
    const all = [...state.children.values()];
    return all.slice(all.indexOf(child));
  }
  return undefined;
}

/** Starts children in order; returns the first that failed to start (left `restarting`). */
function startGroup(state: SupervisorState, group: readonly Child[], from = 0): Maybe<Child | undefined> {
  for (let i = from; i < group.length; i++) {
    const child = group[i] as Child;
    const outcome = startChild(state, child);
    const next = (o: StartOutcome): Maybe<Child | undefined> | "continue" => {
      if (o.ok || o.reason === "ignore") return "continue";
      child.restarting = true;
      return child;
    };
    if (outcome instanceof Promise) {
      const at = i;
      return outcome.then((o) => {
        const r = next(o);
        return r === "continue" ? startGroup(state, group, at + 1) : r;
      });
    }
    const r = next(outcome);
    if (r !== "continue") return r;
  }
  return undefined;
}

/** OTP's try_again_restart: retried at once, after any message already queued, counting toward intensity. */
function tryAgain(state: SupervisorState, child: Child): void {
  child.restarting = true;
  child.proc = undefined;
  const kernel = state.self.kernel;
  if (kernel.telemetry.active) {
    kernel.telemetry.emit(
      ["normandy", "supervisor", "start_error"],
      {},
      { supervisor: state.self.pid, childId: child.spec.id },
    );
  }
  state.self.deliverSystem({ type: TRY_AGAIN, key: child.key } satisfies TryAgain, state.self);
}

function reportRestart(
  state: SupervisorState,
  child: Child,
  proc: Process,
  reason: ExitReason | undefined,
): void {
  const kernel = state.self.kernel;
  if (kernel.telemetry.active) {
    kernel.telemetry.emit(
      ["normandy", "supervisor", "restart"],
      {},
      {
        supervisor: state.self.pid,
        childId: child.spec.id,
        pid: proc.pid,
        reason,
      },
    );
  }
  kernel.inspectRuntimeEvent(state.self, state.self, {
    type: "normandy.supervisor.restart",
    childId: child.spec.id,
    pid: proc.pid,
    reason,
  } as { type: string });
}

// ---- termination (terminate_children / shutdown/1) ------------------------------------------------

/** Terminates children one at a time in the given order (each with its own shutdown spec). */
function terminateGroup(state: SupervisorState, children: readonly Child[]): Maybe<void> {
  return sequence(children, (child) => shutdownChild(state, child));
}

/** OTP's shutdown/1 for one child: unlink (no EXIT follows), then kill or signal `shutdown` and wait. */
function shutdownChild(state: SupervisorState, child: Child): Maybe<void> {
  const proc = child.proc;
  child.proc = undefined;
  if (proc === undefined || !proc.alive) return undefined;
  const sup = state.self;
  const kernel = sup.kernel;
  kernel.unlink(sup, proc.pid);
  const shutdown = child.spec.shutdown;
  let settle: (() => void) | undefined;
  let timer: unknown;
  let exit: ExitReason | undefined;
  kernel.monitor((reason) => {
    exit = reason;
    if (timer !== undefined) kernel.clock.clearTimeout(timer);
    settle?.();
  }, proc.pid);
  proc.signal(sup, shutdown === "brutal_kill" ? "kill" : "shutdown");
  const finish = () => checkShutdownExit(state, child, exit as ExitReason);
  if (exit !== undefined) return finish();
  return new Promise<void>((resolve) => {
    settle = () => resolve(finish());
    if (typeof shutdown === "number")
      timer = kernel.clock.setTimeout(() => proc.signal(sup, "kill"), shutdown);
  });
}

/** Reports a child that did not exit as its shutdown expected (OTP logs a `shutdown_error`). */
function checkShutdownExit(state: SupervisorState, child: Child, reason: ExitReason): void {
  const { shutdown, restart: type } = child.spec;
  const expected =
    reason === (shutdown === "brutal_kill" ? "killed" : "shutdown") ||
    (type !== "permanent" && isCleanExit(reason)) ||
    reason === "noproc";
  const kernel = state.self.kernel;
  if (!expected && kernel.telemetry.active) {
    kernel.telemetry.emit(
      ["normandy", "supervisor", "shutdown_error"],
      {},
      { supervisor: state.self.pid, childId: child.spec.id, reason },
    );
  }
}

/** Terminates every child when the supervisor stops: reverse start order, or all at once when dynamic. */
function terminateChildren(state: SupervisorState, reason: ExitReason): Maybe<void> {
  const kernel = state.self.kernel;
  if (kernel.telemetry.active)
    kernel.telemetry.emit(["normandy", "supervisor", "shutdown"], {}, { supervisor: state.self.pid, reason });
  const children = [...state.children.values()];
  if (state.dynamic) {
    const waits = children
      .map((c) => shutdownChild(state, c))
      .filter((w): w is Promise<void> => w instanceof Promise);
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
  }
  return terminateGroup(state, children.reverse());
}

// ---- the management API (handle_call) -------------------------------------------------------------

function handleCall(
  req: SupervisorRequest,
  _from: From,
  state: SupervisorState,
): Maybe<CallResult<SupervisorState, unknown>> {
  switch (req.type) {
    case "which_children":
      return reply(whichChildren(state), state);
    case "count_children":
      return reply(countChildren(state), state);
    case "start_child":
      return then(startChildRequest(state, req), (r) => reply(r, state));
    case "terminate_child":
      return then(terminateChildRequest(state, req.id), (r) => reply(r, state));
    case "restart_child":
      return then(restartChildRequest(state, req.id), (r) => reply(r, state));
    case "delete_child":
      return reply(deleteChildRequest(state, req.id), state);
    case "get_childspec": {
      const child = state.dynamic ? childByPid(state, req.id) : state.children.get(req.id);
      return reply(child ? { ok: true, spec: { ...child.spec } } : { ok: false, error: "not_found" }, state);
    }
    default:
      return reply({ ok: false, error: "bad_request" }, state);
  }
}

function whichChildren(state: SupervisorState): ChildInfo[] {
  const rows: ChildInfo[] = [];
  for (const c of state.children.values()) {
    rows.push({
      id: state.dynamic ? undefined : c.spec.id,
      pid: c.restarting ? "restarting" : c.proc?.alive ? c.proc.pid : undefined,
      type: c.spec.type,
      kind: c.spec.kind,
    });
  }
  return rows.reverse();
}

function countChildren(state: SupervisorState): ChildCounts {
  let active = 0;
  let supervisors = 0;
  let workers = 0;
  for (const c of state.children.values()) {
    if (c.proc?.alive) active++;
    if (c.spec.type === "supervisor") supervisors++;
    else workers++;
  }
  return { specs: state.dynamic ? 1 : state.children.size, active, supervisors, workers };
}

function startChildRequest(
  state: SupervisorState,
  req: Extract<SupervisorRequest, { type: "start_child" }>,
): Maybe<StartChildResult> {
  if (state.dynamic) {
    const template = state.template as FullChildSpec;
    if (!("extraArgs" in req) || !Array.isArray(req.extraArgs)) {
      return {
        ok: false,
        error: "invalid_child_spec",
        reason: "bad_start_spec",
        message: "simple_one_for_one start_child takes extraArgs",
      };
    }
    if (state.children.size >= state.flags.maxChildren) return { ok: false, error: "max_children" };
    const args = [...((template.args as unknown[] | undefined) ?? []), ...req.extraArgs];
    const key = `#${++state.serial}`;
    const child = new Child(state, key, template, args);
    state.children.set(key, child);
    return then(startChild(state, child), (o) => {
      if (o.ok) return { ok: true, pid: o.process.pid };
      state.children.delete(key);
      return o.reason === "ignore"
        ? { ok: true, pid: undefined }
        : { ok: false, error: "start_failed", reason: o.reason };
    });
  }
  if (!("spec" in req))
    return {
      ok: false,
      error: "invalid_child_spec",
      reason: "bad_start_spec",
      message: "start_child takes a child spec",
    };
  let spec: FullChildSpec;
  try {
    spec = checkChildSpec(req.spec, state.flags.autoShutdown);
  } catch (error) {
    const e = error as InvalidChildSpecError;
    return { ok: false, error: "invalid_child_spec", reason: e.reason, message: e.message };
  }
  const existing = state.children.get(spec.id);
  if (existing !== undefined) {
    return existing.proc?.alive
      ? { ok: false, error: "already_started", pid: existing.proc.pid }
      : { ok: false, error: "already_present" };
  }
  const child = new Child(state, spec.id, spec, spec.args);
  state.children.set(spec.id, child);
  return then(startChild(state, child), (o) => {
    if (o.ok) return { ok: true, pid: o.process.pid };
    if (o.reason === "ignore") {
      if (spec.restart === "temporary") state.children.delete(spec.id);
      return { ok: true, pid: undefined };
    }
    state.children.delete(spec.id);
    return { ok: false, error: "start_failed", reason: o.reason };
  });
}

function childByPid(state: SupervisorState, pid: string): Child | undefined {
  const proc = state.self.kernel.resolve(pid);
  const child = proc?.supervision;
  return child instanceof Child && child.owner === state && child.proc === proc ? child : undefined;
}

function terminateChildRequest(state: SupervisorState, id: string): Maybe<OkResult> {
  if (state.dynamic) {
    const child = childByPid(state, id);
    if (child === undefined) {
      // OTP: a dead pid (or one never alive) is ok; a live process that is not our child is not found
      return state.self.kernel.resolve(id) === undefined ? { ok: true } : { ok: false, error: "not_found" };
    }
    return then(shutdownChild(state, child), () => {
      state.children.delete(child.key);
      return { ok: true } as const;
    });
  }
  const child = state.children.get(id);
  if (child === undefined) return { ok: false, error: "not_found" };
  return then(shutdownChild(state, child), () => {
    delChild(state, child);
    return { ok: true } as const;
  });
}

function restartChildRequest(state: SupervisorState, id: string): Maybe<StartChildResult> {
  if (state.dynamic) return { ok: false, error: "simple_one_for_one" };
  const child = state.children.get(id);
  if (child === undefined) return { ok: false, error: "not_found" };
  if (child.restarting) return { ok: false, error: "restarting" };
  if (child.proc?.alive) return { ok: false, error: "running" };
  return then(startChild(state, child), (o) => {
    if (o.ok) return { ok: true, pid: o.process.pid };
    if (o.reason === "ignore") return { ok: true, pid: undefined };
    return { ok: false, error: "start_failed", reason: o.reason };
  });
}

function deleteChildRequest(state: SupervisorState, id: string): OkResult {
  if (state.dynamic) return { ok: false, error: "simple_one_for_one" };
  const child = state.children.get(id);
  if (child === undefined) return { ok: false, error: "not_found" };
  if (child.restarting) return { ok: false, error: "restarting" };
  if (child.proc?.alive) return { ok: false, error: "running" };
  state.children.delete(id);
  return { ok: true };
}
