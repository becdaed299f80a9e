/**
 * The log level of each telemetry event: the user's overrides (exact names or `*` patterns), then the
 * defaults below, then a rule on the event's last segment.
 */

/** A pino log level. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/** The level an event is logged at; `silent` does not log it. */
export type EventLevel = LogLevel | "silent";

/**
 * Per event kind levels, keyed by the dotted event name (`normandy.agent.run.start`) or a pattern whose
 * `*` segments match any one segment (`normandy.orchestration.*.stop`, `normandy.process.*`).
 */
export type EventLevels = Readonly<Record<string, EventLevel>>;

/**
 * The default levels. What ends a unit of work a user cares about (an agent run, an orchestration) is
 * `info`; what goes wrong but is handled (a restart, a dead letter, an overflow, a failed attempt that
 * will be retried, a circuit opening, a tool call that returned an error) is `warn`; the rest of the
 * start/stop chatter (runs and orchestrations starting, model and tool calls, processes, shared-context
 * writes) is `debug`. Events not listed here are `error` when their last segment says a failure
 * (`exception`, `crash`, `error`, or a name ending in `_failed`, `_error`, `_threw`, `_exceeded`), else
 * `debug`.
 */
export const DEFAULT_EVENT_LEVELS: EventLevels = {
  // one line per run at info, when it ends (with its duration, tokens and cost); its start is chatter
  "normandy.agent.run.stop": "info",
  "normandy.agent.run.pause": "info",
  "normandy.orchestration.*.stop": "info",
  "normandy.supervisor.restart": "warn",
  "normandy.supervisor.start_error": "warn",
  "normandy.dead_letter": "warn",
  "normandy.mailbox.overflow": "warn",
  "normandy.retry.attempt_failed": "warn",
  "normandy.circuit_breaker.state_change": "warn",
};

const FAILURE = /^(exception|crash|error)$|_(failed|error|threw|exceeded)$/;
const TOOL_STOP = "normandy.tool.call.stop";

interface Pattern {
  readonly segments: readonly string[];
  readonly level: EventLevel;
}

function patternsOf(levels: EventLevels): Pattern[] {
  return Object.entries(levels)
    .filter(([key]) => key.includes("*"))
    .map(([key, level]) => ({ segments: key.split("."), level }));
}

function own(levels: EventLevels, key: string): EventLevel | undefined {
  return Object.hasOwn(levels, key) ? levels[key] : undefined;
}

function matching(patterns: readonly Pattern[], event: readonly string[]): EventLevel | undefined {
  for (const p of patterns) {
    if (p.segments.length === event.length && p.segments.every((s, i) => s === "*" || s === event[i]))
      return p.level;
  }
  return undefined;
}

/**
 * Resolves event levels, caching each event name's resolution.
 *
 * @example
 * ```ts
 * const levels = new EventLevelResolver({ "normandy.agent.model_call.*": "info" });
 * levels.levelOf(["normandy", "agent", "model_call", "stop"], {}); // "info"
 * ```
 */
export class EventLevelResolver {
  readonly #user: EventLevels;
  readonly #userPatterns: Pattern[];
  readonly #defaultPatterns: Pattern[];
  /** Resolved levels by event key, and whether the user chose them. */
  readonly #cache = new Map<string, { level: EventLevel; byUser: boolean }>();

  /** @param overrides - the user's levels, which win over the defaults. */
  constructor(overrides: EventLevels = {}) {
    this.#user = overrides;
    this.#userPatterns = patternsOf(overrides);
    this.#defaultPatterns = patternsOf(DEFAULT_EVENT_LEVELS);
  }

  /**
   * The level of one event.
   *
   * @param event - the event name.
   * @param metadata - its metadata (a tool call that returned an error is `warn` by default).
   * @returns the level, or `silent`.
   */
  levelOf(event: readonly string[], metadata: Readonly<Record<string, unknown>>): EventLevel {
    const key = event.join(".");
    let resolved = this.#cache.get(key);
    if (resolved === undefined) {
      resolved = this.#resolve(key, event);
      this.#cache.set(key, resolved);
    }
    if (!resolved.byUser && key === TOOL_STOP && metadata.isError === true) return "warn";
    return resolved.level;
  }

  #resolve(key: string, event: readonly string[]): { level: EventLevel; byUser: boolean } {
    const user = own(this.#user, key) ?? matching(this.#userPatterns, event);
    if (user !== undefined) return { level: user, byUser: true };
    const level =
      own(DEFAULT_EVENT_LEVELS, key) ??
      matching(this.#defaultPatterns, event) ??
      (FAILURE.test(event[event.length - 1] ?? "") ? "error" : "debug");
    return { level, byUser: false };
  }
}
