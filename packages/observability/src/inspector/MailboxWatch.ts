/**
 * Mailbox depth, measured: every actor an inspection event touches is marked, and once the runtime's
 * synchronous work has settled (a microtask later) the marked actors' depths are read and each change
 * is reported. Measuring after the burst, not at each delivery, reports what is really waiting and
 * coalesces a burst of messages into one fact per actor.
 */

/** Reads a live actor's mailbox depth; undefined when it is gone. */
export type DepthOf = (sessionId: string) => number | undefined;

/** The mailbox depth tracker. */
export class MailboxWatch {
  readonly #depthOf: DepthOf;
  readonly #report: (sessionId: string, depth: number) => void;
  /** The last depth reported per actor; absent means 0. */
  readonly #depths = new Map<string, number>();
  readonly #marked = new Set<string>();
  #scheduled = false;
  #stopped = false;

  /**
   * @param depthOf - reads a depth.
   * @param report - receives each change.
   */
  constructor(depthOf: DepthOf, report: (sessionId: string, depth: number) => void) {
    this.#depthOf = depthOf;
    this.#report = report;
  }

  /**
   * Marks an actor whose mailbox may have changed.
   *
   * @param sessionId - the actor.
   */
  touch(sessionId: string): void {
    if (this.#stopped) return;
    this.#marked.add(sessionId);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flush());
  }

  /**
   * Forgets an actor that is gone.
   *
   * @param sessionId - the actor.
   */
  forget(sessionId: string): void {
    this.#depths.delete(sessionId);
    this.#marked.delete(sessionId);
  }

  /**
   * Measures the given actors afresh without reporting (after a time nobody watched).
   *
   * @param sessionIds - the live actors.
   */
  resync(sessionIds: Iterable<string>): void {
    this.#depths.clear();
    this.#marked.clear();
    for (const id of sessionIds) {
      const depth = this.#depthOf(id) ?? 0;
      if (depth > 0) this.#depths.set(id, depth);
    }
  }

  /**
   * The actors with messages waiting, as last measured.
   *
   * @returns `[sessionId, depth]` pairs.
   */
  waiting(): [string, number][] {
    return [...this.#depths];
  }

  /** Stops measuring: nothing is reported afterwards, even for actors already marked. */
  stop(): void {
    this.#stopped = true;
    this.#marked.clear();
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#stopped) return;
    const marked = [...this.#marked];
    this.#marked.clear();
    for (const id of marked) {
      // an actor that is gone (or no process at all) has nothing waiting
      const depth = this.#depthOf(id) ?? 0;
      const last = this.#depths.get(id) ?? 0;
      if (depth === last) continue;
      if (depth === 0) this.#depths.delete(id);
      else this.#depths.set(id, depth);
      this.#report(id, depth);
    }
  }
}
