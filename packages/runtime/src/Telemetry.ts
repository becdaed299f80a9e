/**
 * The telemetry bus, after Elixir's `:telemetry`: the core emits named events with measurements and
 * metadata; observability code attaches handlers. With nothing attached, `emit` is one property read.
 */
import type { Clock } from "./Clock.js";
import { systemClock } from "./Clock.js";
import { InvalidArgumentError } from "./errors.js";

/** An event name such as `["normandy", "process", "start"]`. */
export type EventName = readonly string[];

/** Numeric measurements of an event (durations in ms, counts, sizes). */
export type Measurements = Readonly<Record<string, number>>;

/** Descriptive metadata of an event (ids, names, reasons). */
export type Metadata = Readonly<Record<string, unknown>>;

/** A telemetry handler; it runs synchronously inside `emit`. */
export type TelemetryHandler = (event: EventName, measurements: Measurements, metadata: Metadata) => void;

/** What a handler is attached to: exact event names, or `"*"` for every event. */
export type EventFilter = readonly EventName[] | "*";

const HANDLER_FAILED: EventName = ["normandy", "telemetry", "handler_failed"];

interface Attached {
  readonly id: string;
  readonly handler: TelemetryHandler;
}

/**
 * A synchronous publish/subscribe bus for telemetry events.
 *
 * A handler that throws is detached (as `:telemetry` does) and the failure is emitted as
 * `["normandy", "telemetry", "handler_failed"]` to the remaining handlers, or raised as a process
 * warning when none listens, so no error is lost.
 *
 * @example
 * ```ts
 * const bus = new Telemetry();
 * bus.attach("log", [["normandy", "process", "exit"]], (name, m, meta) => console.log(name, meta));
 * bus.emit(["normandy", "process", "exit"], {}, { pid: "p:1", reason: "normal" });
 * ```
 */
export class Telemetry {
  /** True when at least one handler is attached; emitters test it before building metadata. */
  active = false;
  readonly #clock: Clock;
  readonly #byName = new Map<string, Attached[]>();
  readonly #wildcard: Attached[] = [];
  readonly #ids = new Map<string, EventFilter>();

  /** @param clock - the clock spans measure durations with. */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /**
   * Attaches a handler.
   *
   * @param id - a unique handler id (used to detach).
   * @param events - the exact event names to receive, or `"*"` for all.
   * @param handler - the function to call.
   * @throws InvalidArgumentError if the id is already attached.
   */
  attach(id: string, events: EventFilter, handler: TelemetryHandler): void {
    if (this.#ids.has(id))
      throw new InvalidArgumentError(`telemetry handler ${JSON.stringify(id)} is already attached`);
    this.#ids.set(id, events);
    const entry = { id, handler };
    if (events === "*") this.#wildcard.push(entry);
    else {
      for (const name of events) {
        const key = name.join(".");
        const list = this.#byName.get(key);
        if (list) list.push(entry);
        else this.#byName.set(key, [entry]);
      }
    }
    this.active = true;
  }

  /**
   * Detaches a handler.
   *
   * @param id - the id given to {@link Telemetry.attach}.
   * @returns whether a handler was detached.
   */
  detach(id: string): boolean {
    const events = this.#ids.get(id);
    if (events === undefined) return false;
    this.#ids.delete(id);
    if (events === "*") removeId(this.#wildcard, id);
    else {
      for (const name of events) {
        const key = name.join(".");
        const list = this.#byName.get(key);
        if (list && removeId(list, id) === 0) this.#byName.delete(key);
      }
    }
    this.active = this.#ids.size > 0;
    return true;
  }

  /**
   * Whether any handler would receive `event` (an exact or a wildcard handler). Emitters of failure
   * reports use it to fall back on a process warning rather than emit into the void.
   *
   * @param event - the event name.
   * @returns true when at least one handler listens.
   */
  listens(event: EventName): boolean {
    return this.#wildcard.length > 0 || this.#byName.has(event.join("."));
  }

  /**
   * Reports an error that must not vanish: emitted as `event` (with `error` in the metadata) when a
   * handler listens for it, otherwise raised as a process warning.
   *
   * @param event - the event name, e.g. `["normandy", "shared_context", "subscriber_failed"]`.
   * @param metadata - what the error concerns.
   * @param error - the error.
   * @param summary - the warning's text, before the error's own message.
   */
  report(event: EventName, metadata: Metadata, error: unknown, summary: string): void {
    if (this.listens(event)) {
      this.emit(event, {}, { ...metadata, error });
      return;
    }
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.emitWarning(`${summary}: ${detail}`, "NormandyWarning");
  }

  /** The ids of the attached handlers. */
  handlers(): string[] {
    return [...this.#ids.keys()];
  }

  /**
   * Emits an event to the handlers attached to its name and to the wildcard handlers.
   *
   * @param event - the event name.
   * @param measurements - numeric measurements.
   * @param metadata - descriptive metadata.
   */
  emit(event: EventName, measurements: Measurements, metadata: Metadata): void {
    if (!this.active) return;
    const exact = this.#byName.get(event.join("."));
    if (exact) this.#dispatch(exact, event, measurements, metadata);
    if (this.#wildcard.length > 0) this.#dispatch(this.#wildcard, event, measurements, metadata);
  }

  /**
   * Runs `fn` as a span: emits `[...prefix, "start"]`, then `[...prefix, "stop"]` with `duration` (ms), or
   * `[...prefix, "exception"]` with `duration` and the error before rethrowing it. Works for sync and
   * async functions.
   *
   * @param prefix - the span's event name prefix, e.g. `["normandy", "agent", "run"]`.
   * @param metadata - metadata for all three events.
   * @param fn - the work to measure.
   * @returns what `fn` returns.
   */
  span<T>(prefix: EventName, metadata: Metadata, fn: () => T): T {
    if (!this.active) return fn();
    const start = this.#clock.now();
    this.emit([...prefix, "start"], { system_time: Date.now() }, metadata);
    const fail = (error: unknown): never => {
      this.emit([...prefix, "exception"], { duration: this.#clock.now() - start }, { ...metadata, error });
      throw error;
    };
    let result: T;
    try {
      result = fn();
    } catch (error) {
      return fail(error);
    }
    if (result instanceof Promise) {
      return result.then((value: unknown) => {
        this.emit([...prefix, "stop"], { duration: this.#clock.now() - start }, metadata);
        return value;
      }, fail) as T;
    }
    this.emit([...prefix, "stop"], { duration: this.#clock.now() - start }, metadata);
    return result;
  }

  #dispatch(
    list: readonly Attached[],
    event: EventName,
    measurements: Measurements,
    metadata: Metadata,
  ): void {
    for (const entry of [...list]) {
      try {
        entry.handler(event, measurements, metadata);
      } catch (error) {
        this.detach(entry.id);
        this.report(
          HANDLER_FAILED,
          { handlerId: entry.id, event },
          error,
          `telemetry handler ${JSON.stringify(entry.id)} threw and was detached`,
        );
      }
    }
  }
}

function removeId(list: Attached[], id: string): number {
  const i = list.findIndex((a) => a.id === id);
  if (i >= 0) list.splice(i, 1);
  return list.length;
}
