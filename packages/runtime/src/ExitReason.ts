/**
 * Why a process ended, with OTP's meaning: `normal`, `shutdown` and `{ shutdown: detail }` are clean
 * exits; `killed` and `{ error }` (a crash) are abnormal; `noproc` reports a process that was already gone.
 */

/** Why a process exited. */
export type ExitReason =
  | "normal"
  | "shutdown"
  | "killed"
  | "noproc"
  | { readonly shutdown: unknown }
  | { readonly error: unknown };

/** The untrappable signal of `exit(pid, 'kill')`; the target dies with reason `killed`. */
export type ExitSignal = ExitReason | "kill";

/**
 * Whether a reason is a clean exit (`normal`, `shutdown`, `{ shutdown }`): a transient child is not
 * restarted after one, and a significant child's clean exit can trigger auto-shutdown.
 *
 * @param reason - the exit reason.
 * @returns true for `normal`, `shutdown` and `{ shutdown: detail }`.
 */
export function isCleanExit(reason: ExitReason): boolean {
  return reason === "normal" || reason === "shutdown" || (typeof reason === "object" && "shutdown" in reason);
}

/**
 * Wraps anything thrown by user code as a crash reason.
 *
 * @param error - the thrown value (an Error or anything else).
 * @returns `{ error }`.
 */
export function crash(error: unknown): ExitReason {
  return { error };
}

/**
 * A short, human-readable rendering of a reason, for logs and error messages.
 *
 * @param reason - the exit reason.
 * @returns e.g. `normal`, `{shutdown: "bye"}`, `crash: Error: boom`.
 */
export function formatReason(reason: ExitReason): string {
  if (typeof reason === "string") return reason;
  if ("shutdown" in reason) return `{shutdown: ${safeString(reason.shutdown)}}`;
  const e = reason.error;
  return `crash: ${e instanceof Error ? `${e.name}: ${e.message}` : safeString(e)}`;
}

function safeString(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
