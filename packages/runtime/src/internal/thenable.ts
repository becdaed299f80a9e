/** Recognises a promise-like result of user code (handlers, init, terminate may return one). */

/**
 * Whether a value is promise-like (has a callable `then`).
 *
 * @param value - any value.
 * @returns true for promises and other thenables.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}
