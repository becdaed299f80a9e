/**
 * Many waiters on one abort signal. Node 20's `EventTarget` scans its listener list on every
 * `addEventListener` and `removeEventListener`, so a thousand agents each listening to their
 * orchestration's signal cost O(n²), and each call costs microseconds even on a fresh signal; here a
 * signal gets one listener and a `Set` of callbacks, so waiting and detaching are O(1).
 */

const fanouts = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts (at once if it already has).
 *
 * @param signal - the signal.
 * @param callback - what to do.
 * @returns removes the callback (O(1)).
 * @example
 * ```ts
 * const detach = onAbort(signal, () => request.destroy());
 * await request.done;
 * detach();
 * ```
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return () => {};
  }
  let callbacks = fanouts.get(signal);
  if (callbacks === undefined) {
    const set = new Set<() => void>();
    callbacks = set;
    fanouts.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        fanouts.delete(signal);
        for (const cb of set) cb();
      },
      { once: true },
    );
  }
  const set = callbacks;
  set.add(callback);
  return () => {
    set.delete(callback);
  };
}
