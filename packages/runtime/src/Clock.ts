/**
 * The one clock every timer of the runtime reads: call timeouts, shutdown timeouts, `sendAfter`, restart
 * intensity windows, and (through the actor system) XState's delayed events. Tests swap in a
 * {@link ManualClock}.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** A source of monotonic time and timers; compatible with XState's `clock` option. */
export interface Clock {
  /** Monotonic milliseconds (the origin is arbitrary; only differences mean anything). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface ManualTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/**
 * A clock that only moves when told to. Timers fire in time order (then creation order) during
 * {@link ManualClock.advance}, which lets promise continuations run between firings, so a timer set by
 * an async step that an earlier timer resumed still fires within the same advance.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const system = ActorSystem.start({ clock });
 * await clock.advance(5_000); // every call timeout set before now fires
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, ManualTimer>();

  /** @param start - the initial reading of {@link ManualClock.now}, in ms. */
  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  /** The number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in order, and settling promise
   * continuations after each one.
   *
   * @param ms - how far to move, in milliseconds (≥ 0).
   * @returns a promise that resolves once time has reached its new reading.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Fires every pending timer (and those they schedule), however far ahead, up to `limit` firings. */
  async runAll(limit = 10_000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      const next = this.#nextDue(Number.POSITIVE_INFINITY);
      if (next === undefined) return;
      await this.advance(next.at - this.#now);
    }
    throw new Error(`ManualClock.runAll: more than ${limit} timers fired; a timer keeps rescheduling itself`);
  }

  #nextDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers.values()) {
      if (t.at <= limit && (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id))) {
        best = t;
      }
    }
    return best;
  }
}

/** Lets every queued promise continuation (and the continuations they queue) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
