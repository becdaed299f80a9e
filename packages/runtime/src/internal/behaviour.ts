/** Tells what a start target is: a server or supervisor behaviour, or XState logic. */

/** What runs inside a process. */
export type BehaviourKind = "server" | "supervisor" | "logic";

/**
 * Classifies a value given as something to start.
 *
 * @param start - a behaviour from `defineServer` / `defineSupervisor`, or XState logic.
 * @returns its kind, or undefined when it is neither.
 */
export function kindOf(start: unknown): BehaviourKind | undefined {
  if (typeof start !== "object" || start === null) return undefined;
  const s = start as {
    kind?: unknown;
    transition?: unknown;
    getInitialSnapshot?: unknown;
    definition?: unknown;
  };
  if (
    (s.kind === "server" || s.kind === "supervisor") &&
    typeof s.definition === "object" &&
    s.definition !== null
  )
    return s.kind;
  if (typeof s.transition === "function" && typeof s.getInitialSnapshot === "function") return "logic";
  return undefined;
}
