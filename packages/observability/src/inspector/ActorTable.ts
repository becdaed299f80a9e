/**
 * The live actors of a system as the inspection stream reports them, parents before children, so a
 * client that connects late can be shown the current tree. An actor leaves the table when a snapshot
 * says it is no longer active, or when the runtime reports its process gone.
 */
import type { InspectedActor, InspectionEvent } from "./statelyEvents.js";

/** The live actor table. */
export class ActorTable {
  // insertion order is creation order: a parent is always announced before its children
  readonly #actors = new Map<string, InspectedActor>();

  /**
   * Updates the table from an inspection event.
   *
   * @param event - the event.
   * @returns the session id of an actor the event removed, if any.
   */
  observe(event: InspectionEvent): string | undefined {
    const actor = event.actorRef as unknown as InspectedActor;
    if (event.type === "@xstate.actor") {
      if (!this.#actors.has(actor.sessionId)) this.#actors.set(actor.sessionId, actor);
      return undefined;
    }
    if (event.type === "@xstate.snapshot") {
      const status = (event.snapshot as { status?: unknown } | undefined)?.status;
      if (status !== "active" && this.#actors.delete(actor.sessionId)) return actor.sessionId;
    }
    return undefined;
  }

  /**
   * Removes an actor (its process exited).
   *
   * @param sessionId - its session id (pid).
   * @returns whether it was in the table.
   */
  remove(sessionId: string): boolean {
    return this.#actors.delete(sessionId);
  }

  /**
   * The live actors, parents first.
   *
   * @returns a snapshot of the table.
   */
  actors(): InspectedActor[] {
    return [...this.#actors.values()];
  }
}
