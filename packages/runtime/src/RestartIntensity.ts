/**
 * OTP's restart-intensity check (`supervisor:add_restart/1`), exactly: restarts are kept as integer
 * seconds, newest first; a restart at second `now` keeps the earlier ones that are `>= now - period`,
 * and the supervisor gives up when more than `intensity` remain. The window is therefore between
 * `period` and `period + 1` seconds long, as in OTP.
 *
 * Restarts within the same second are stored as one `[second, count]` entry, so the history never has
 * more than `period + 1` entries and a restart costs O(period), not O(restarts in the window).
 */

/** Restart history: `[second, count]` pairs, newest first. */
export type RestartHistory = readonly (readonly [second: number, count: number])[];

/** The outcome of recording one restart. */
export interface RestartCheck {
  /** The updated history. */
  readonly history: RestartHistory;
  /** How many restarts the window now holds (this one included). */
  readonly count: number;
  /** False when the restart exceeds the intensity: the supervisor must shut down. */
  readonly allowed: boolean;
}

/**
 * Records a restart at `nowMs` and says whether it is within the intensity.
 *
 * @param history - the history returned by the previous call (`[]` at first).
 * @param nowMs - the current monotonic time in milliseconds.
 * @param intensity - MaxR: the most restarts allowed within the period (>= 0).
 * @param period - MaxT: the period in seconds (> 0).
 * @returns the new history, the count in the window, and whether the restart is allowed.
 * @example
 * ```ts
 * const first = addRestart([], 0, 1, 5);               // allowed
 * addRestart(first.history, 100, 1, 5).allowed;         // false: 2 restarts within 5 s, intensity 1
 * ```
 */
export function addRestart(
  history: RestartHistory,
  nowMs: number,
  intensity: number,
  period: number,
): RestartCheck {
  const now = Math.floor(nowMs / 1000);
  const threshold = now - period;
  const next: [number, number][] = [];
  let count = 1;
  for (const [second, n] of history) {
    if (second < threshold) break;
    if (second === now) {
      count += n;
      continue;
    }
    next.push([second, n]);
    count += n;
  }
  next.unshift([now, history[0]?.[0] === now ? history[0][1] + 1 : 1]);
  return { history: next, count, allowed: count <= intensity };
}
