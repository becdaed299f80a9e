/**
 * Child specs and supervisor flags, with OTP's defaults and validation (`supervisor:check_childspecs`,
 * `check_flags`): what a supervisor starts, how it restarts it, and how it shuts it down.
 */
import type { AnyActorLogic } from "xstate";
import { InvalidChildSpecError } from "./errors.js";
import { kindOf } from "./internal/behaviour.js";
import type { MailboxOptions, Server } from "./Server.js";

/** When a terminated child is restarted (OTP §1.2): always, after an abnormal exit, or never. */
export type RestartType = "permanent" | "transient" | "temporary";

/** How a child is stopped: killed at once, asked and killed after `ms`, or asked and awaited forever. */
export type Shutdown = "brutal_kill" | "infinity" | number;

/** Restart strategies: OTP's three static ones and `simple_one_for_one` (one template, children added at runtime). */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one" | "simple_one_for_one";

/** When the exit of significant children shuts the supervisor down. */
export type AutoShutdown = "never" | "any_significant" | "all_significant";

/** What a child runs: a server, a supervisor, or any XState logic. */
export type Startable = Server<never> | Server<unknown> | AnyActorLogic;

/** A child spec. Only `id` and `start` are required. */
export interface ChildSpec {
  /** Unique within the supervisor. */
  readonly id: string;
  /** The behaviour or logic to run. */
  readonly start: Startable;
  /** The server's `init` argument or the logic's input (for `simple_one_for_one`, an array that `startChild`'s extra arguments extend). */
  readonly args?: unknown;
  /** Default `permanent`. */
  readonly restart?: RestartType;
  /** Default 5000 ms for a worker, `infinity` for a supervisor. */
  readonly shutdown?: Shutdown;
  /** Default `supervisor` for a supervisor behaviour, else `worker`. */
  readonly type?: "worker" | "supervisor";
  /** Whether its exit may trigger auto-shutdown (not with `permanent`). Default false. */
  readonly significant?: boolean;
  /** A name to register each instance under (registered before its init runs). */
  readonly name?: string;
  /** A snapshot-store key: the child is durable and a restart resumes from its last saved state. */
  readonly durable?: string;
  /** Servers only: trap exits from the start. */
  readonly trapExit?: boolean;
  /** Servers only: mailbox bounds. */
  readonly mailbox?: MailboxOptions;
}

/** A child spec with every default filled in (what `getChildSpec` returns). */
export interface FullChildSpec extends ChildSpec {
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly type: "worker" | "supervisor";
  readonly significant: boolean;
  /** What runs inside: a server, a supervisor, or XState logic. */
  readonly kind: "server" | "supervisor" | "logic";
}

/** Supervisor flags (OTP defaults: one_for_one, intensity 1, period 5 s, auto_shutdown never). */
export interface SupervisorFlags {
  readonly strategy?: Strategy;
  /** MaxR: restarts allowed within `period` (integer >= 0). Default 1. */
  readonly intensity?: number;
  /** MaxT: the window in seconds (integer > 0). Default 5. */
  readonly period?: number;
  readonly autoShutdown?: AutoShutdown;
  /** `simple_one_for_one` only: the most children at once (default unlimited). */
  readonly maxChildren?: number;
}

/** Flags with defaults filled in. */
export interface FullFlags {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
  readonly autoShutdown: AutoShutdown;
  readonly maxChildren: number;
}

const STRATEGIES: readonly string[] = ["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"];
const RESTARTS: readonly string[] = ["permanent", "transient", "temporary"];
const AUTO_SHUTDOWNS: readonly string[] = ["never", "any_significant", "all_significant"];

/**
 * Validates supervisor flags and fills in OTP's defaults.
 *
 * @param flags - the flags.
 * @returns the full flags.
 * @throws InvalidChildSpecError naming the bad flag.
 */
export function checkFlags(flags: SupervisorFlags): FullFlags {
  const strategy = flags.strategy ?? "one_for_one";
  if (!STRATEGIES.includes(strategy))
    throw new InvalidChildSpecError("invalid_strategy", `strategy ${String(strategy)}`);
  const intensity = flags.intensity ?? 1;
  if (!Number.isInteger(intensity) || intensity < 0) {
    throw new InvalidChildSpecError(
      "invalid_intensity",
      `intensity must be an integer >= 0, got ${String(intensity)}`,
    );
  }
  const period = flags.period ?? 5;
  if (!Number.isInteger(period) || period <= 0) {
    throw new InvalidChildSpecError("invalid_period", `period must be an integer > 0, got ${String(period)}`);
  }
  const autoShutdown = flags.autoShutdown ?? "never";
  if (!AUTO_SHUTDOWNS.includes(autoShutdown)) {
    throw new InvalidChildSpecError("invalid_auto_shutdown", `autoShutdown ${String(autoShutdown)}`);
  }
  const maxChildren = flags.maxChildren ?? Number.POSITIVE_INFINITY;
  if (!(maxChildren >= 0))
    throw new InvalidChildSpecError("invalid_max_children", `maxChildren ${String(maxChildren)}`);
  return { strategy, intensity, period, autoShutdown, maxChildren };
}

/**
 * Validates a child spec against the supervisor's flags and fills in its defaults.
 *
 * @param spec - the child spec.
 * @param autoShutdown - the supervisor's auto-shutdown flag (a significant child needs one).
 * @returns the full spec.
 * @throws InvalidChildSpecError with OTP's reason (`missing_id`, `invalid_restart_type`, `bad_combination`, ...).
 */
export function checkChildSpec(spec: ChildSpec, autoShutdown: AutoShutdown): FullChildSpec {
  if (typeof spec !== "object" || spec === null)
    throw new InvalidChildSpecError("invalid_child_spec", "a child spec must be an object");
  if (typeof spec.id !== "string" || spec.id.length === 0)
    throw new InvalidChildSpecError("missing_id", "id must be a non-empty string");
  const kind = kindOf(spec.start);
  if (kind === undefined) {
    throw new InvalidChildSpecError(
      "invalid_start",
      `child ${spec.id}: start must be a server, a supervisor or XState logic`,
    );
  }
  const restart = spec.restart ?? "permanent";
  if (!RESTARTS.includes(restart))
    throw new InvalidChildSpecError("invalid_restart_type", `child ${spec.id}: restart ${String(restart)}`);
  const type = spec.type ?? (kind === "supervisor" ? "supervisor" : "worker");
  if (type !== "worker" && type !== "supervisor")
    throw new InvalidChildSpecError("invalid_child_type", `child ${spec.id}: type ${String(type)}`);
  const shutdown = spec.shutdown ?? (type === "supervisor" ? "infinity" : 5000);
  if (
    !(
      shutdown === "brutal_kill" ||
      shutdown === "infinity" ||
      (Number.isInteger(shutdown) && (shutdown as number) >= 0)
    )
  ) {
    throw new InvalidChildSpecError("invalid_shutdown", `child ${spec.id}: shutdown ${String(shutdown)}`);
  }
  const significant = spec.significant ?? false;
  if (typeof significant !== "boolean")
    throw new InvalidChildSpecError("invalid_significant", `child ${spec.id}: significant must be a boolean`);
  if (significant && restart === "permanent") {
    throw new InvalidChildSpecError(
      "bad_combination",
      `child ${spec.id}: a permanent child cannot be significant`,
    );
  }
  if (significant && autoShutdown === "never") {
    throw new InvalidChildSpecError(
      "bad_combination",
      `child ${spec.id}: significant needs autoShutdown other than never`,
    );
  }
  if (spec.name !== undefined && (typeof spec.name !== "string" || spec.name.length === 0)) {
    throw new InvalidChildSpecError("invalid_name", `child ${spec.id}: name must be a non-empty string`);
  }
  if (spec.durable !== undefined && (typeof spec.durable !== "string" || spec.durable.length === 0)) {
    throw new InvalidChildSpecError("invalid_durable", `child ${spec.id}: durable must be a non-empty key`);
  }
  return { ...spec, restart, shutdown, type, significant, kind };
}
