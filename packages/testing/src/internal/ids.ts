/**
 * Deterministic ids in the shapes of the real APIs (`chatcmpl-…`, `call_…`, `msg_01…`, `toolu_01…`,
 * `req_…`), numbered per server so tests can predict them.
 */

/** The kinds of id the server hands out. */
export type IdKind = "chatcmpl" | "call" | "msg" | "toolu" | "req";

const shapes: Record<IdKind, { prefix: string; digits: number }> = {
  chatcmpl: { prefix: "chatcmpl-Loopback", digits: 21 },
  call: { prefix: "call_Loopback", digits: 11 },
  msg: { prefix: "msg_01Loopback", digits: 14 },
  toolu: { prefix: "toolu_01Loopback", digits: 14 },
  req: { prefix: "req_Loopback", digits: 16 },
};

/** A numbered source of ids, one counter per kind. */
export class IdSource {
  #counters = new Map<IdKind, number>();

  /**
   * Returns the next id of a kind.
   *
   * @param kind - which shape of id.
   * @returns e.g. `toolu_01Loopback00000000000001` for the first `toolu` id.
   */
  next(kind: IdKind): string {
    const n = (this.#counters.get(kind) ?? 0) + 1;
    this.#counters.set(kind, n);
    const { prefix, digits } = shapes[kind];
    return `${prefix}${String(n).padStart(digits, "0")}`;
  }

  /** Restarts every counter at 1. */
  reset(): void {
    this.#counters.clear();
  }
}
