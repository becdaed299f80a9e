/**
 * What a log line must never hold: the names of fields that carry secrets (at any depth), and the
 * shapes of secrets inside text (`sk-…` API keys, `Bearer …` / `Basic …` credentials, known values).
 */

/** What replaces a redacted value. */
export const REDACTED = "[Redacted]";

/** Field names always redacted, compared without case, `-` or `_` (so `x-api-key` is `xapikey`). */
const SECRET_KEYS = new Set([
  "apikey",
  "xapikey",
  "authorization",
  "proxyauthorization",
  "password",
  "passwd",
  "secret",
  "token",
  "cookie",
  "setcookie",
  "privatekey",
]);

/** Name endings that mark a secret too (`openaiApiKey`, `clientSecret`, `refresh_token`, ...). */
const SECRET_SUFFIXES = [
  "apikey",
  "secret",
  "password",
  "accesstoken",
  "refreshtoken",
  "authtoken",
  "idtoken",
];

/**
 * A field name in the comparable form.
 *
 * @param key - the name.
 * @returns it lowercased, without `-` and `_`.
 */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

/**
 * Whether a field holds a secret.
 *
 * @param key - the field name.
 * @param extra - more names to redact, normalized with {@link normalizeKey}.
 * @returns true for API keys, authorization headers, passwords, tokens, cookies and the extra names.
 */
export function isSecretKey(key: string, extra: ReadonlySet<string>): boolean {
  // every field of every line asks: the verdicts are kept per set of extra names (field names are few)
  let known = verdicts.get(extra);
  if (known === undefined) {
    known = new Map();
    verdicts.set(extra, known);
  }
  let secret = known.get(key);
  if (secret === undefined) {
    const k = normalizeKey(key);
    secret = SECRET_KEYS.has(k) || extra.has(k) || SECRET_SUFFIXES.some((s) => k.endsWith(s));
    if (known.size < MAX_VERDICTS) known.set(key, secret);
  }
  return secret;
}

const verdicts = new WeakMap<ReadonlySet<string>, Map<string, boolean>>();
/** Bounds the verdicts kept per set (field names from data, e.g. a map's keys, could be endless). */
const MAX_VERDICTS = 4096;

// A secret starts after a non-alphanumeric character, or right after a JSON escape such as `\n`.
const START = String.raw`(?:(?<![A-Za-z0-9])|(?<=\\[bfnrt]))`;
const SECRET_TEXT = new RegExp(
  `${START}(?:(sk-)[A-Za-z0-9_-]{16,}|(Bearer|Basic)\\s+[A-Za-z0-9._~+/=-]{8,})`,
  "gi",
);

/** What every match of {@link SECRET_TEXT} contains (so a text without it has none). */
const MAY_HOLD_SECRET = /sk-|bearer|basic/i;

/**
 * Replaces the secrets found in a text (also a serialized JSON line: the replacement keeps it valid).
 *
 * @param text - the text.
 * @param values - known secret values (e.g. the API keys in use) to remove wherever they appear.
 * @returns the text with `sk-[Redacted]`, `Bearer [Redacted]` and `[Redacted]` in their place.
 */
export function scrubSecrets(text: string, values: readonly string[] = []): string {
  // the full pattern tries its look-behinds at every position: most lines hold none of its literals
  let out = MAY_HOLD_SECRET.test(text)
    ? text.replace(SECRET_TEXT, (_match, sk: string | undefined, scheme: string | undefined) =>
        sk === undefined ? `${scheme} ${REDACTED}` : `${sk}${REDACTED}`,
      )
    : text;
  for (const value of values) if (value !== "") out = out.replaceAll(value, REDACTED);
  return out;
}
