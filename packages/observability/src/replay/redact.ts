/**
 * Scrubbing of secrets from a recorded exchange: every occurrence of a given string, in any string value
 * (request, response, events, error message), becomes `[REDACTED]`. A defence in depth for what a server
 * may echo back (an error message quoting a key, say); requests never carry credentials.
 */

/** What a secret is replaced with. */
export const REDACTED = "[REDACTED]";

/**
 * A copy of a JSON value with every occurrence of the secrets replaced.
 *
 * @param value - a JSON value.
 * @param secrets - the strings to remove (empty strings are ignored).
 * @returns the scrubbed copy (the value itself when there is nothing to scrub).
 */
export function redact<T>(value: T, secrets: readonly string[]): T {
  const active = secrets.filter((s) => s !== "");
  return active.length === 0 ? value : (scrub(value, active) as T);
}

function scrub(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === "string") {
    let out = value;
    for (const secret of secrets) out = out.replaceAll(secret, REDACTED);
    return out;
  }
  if (Array.isArray(value)) return value.map((item) => scrub(item, secrets));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = scrub(item, secrets);
    return out;
  }
  return value;
}
