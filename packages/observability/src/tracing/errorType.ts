/**
 * The `error.type` of a failure: a low-cardinality class of error, as the conventions ask (the
 * provider's or library's error code, else the exception's class name).
 */

/**
 * The `error.type` value of an error: its string `code` (`agent_timeout`, `ECONNRESET`), else its string
 * `kind` (a `ProviderError`'s classification: `rate_limit`, `server`, ...), else its class name, else
 * `_OTHER` for a thrown non-error.
 *
 * @param error - what was thrown or reported.
 * @returns the error type.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, kind } = error as { code?: unknown; kind?: unknown };
    if (typeof code === "string" && code !== "") return code;
    if (typeof kind === "string" && kind !== "") return kind;
    if (error instanceof Error) return error.name;
  }
  return "_OTHER";
}

/**
 * A low-cardinality label for a process exit reason (`normal`, `shutdown`, `killed`, `noproc`, or
 * `error` / `shutdown` for the object forms).
 *
 * @param reason - an exit reason.
 * @returns its label.
 */
export function exitReasonLabel(reason: unknown): string {
  if (typeof reason === "string") return reason;
  if (typeof reason === "object" && reason !== null) {
    if ("error" in reason) return "error";
    if ("shutdown" in reason) return "shutdown";
  }
  return "_OTHER";
}
