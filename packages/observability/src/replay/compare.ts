/**
 * The canonical comparison of a request with the recorded one: both as JSON (absent and `undefined`
 * fields are the same, object key order does not matter, array order does), walked in sorted key order
 * so the first difference reported is the same every time. Nothing is ignored unless the caller names
 * it: an agent's requests are deterministic given the same inputs and recorded replies (tool-call ids
 * come from the replies, the system prompt holds no clock), so a difference is a real change.
 */

/** The first place two values differ. */
export interface Difference {
  /** The field path, such as `messages[1].content[0].text` (empty for the root). */
  readonly path: string;
  /** The recorded value there (`undefined`: absent). */
  readonly expected: unknown;
  /** The value there now (`undefined`: absent). */
  readonly actual: unknown;
  /** Expected vs actual, concisely (long strings are cut around the first differing character). */
  readonly detail: string;
}

type Segment = string | number;

/** A compiled list of ignored field paths. */
export type IgnoreMatcher = (path: readonly Segment[]) => boolean;

/**
 * Compiles field-path patterns: dotted keys with `[n]` for array items, `*` (or `[*]`) for any key or
 * item; a matched field is skipped with everything under it. E.g. `temperature`, `extras.*`,
 * `messages[0].content` (the system prompt), `messages[*].content`.
 *
 * @param patterns - the patterns.
 * @returns the matcher.
 */
export function compileIgnore(patterns: readonly string[]): IgnoreMatcher {
  const compiled = patterns.map((p) => p.split(/[.[\]]/).filter((s) => s !== ""));
  if (compiled.length === 0) return () => false;
  return (path) =>
    compiled.some(
      (pattern) =>
        pattern.length === path.length && pattern.every((s, i) => s === "*" || s === String(path[i])),
    );
}

/**
 * Finds the first difference between two JSON values.
 *
 * @param expected - the recorded value.
 * @param actual - the value now.
 * @param ignored - fields to skip.
 * @returns the first difference in canonical order, or undefined when they are equal.
 */
export function firstDifference(
  expected: unknown,
  actual: unknown,
  ignored: IgnoreMatcher,
): Difference | undefined {
  const found = walk(expected, actual, [], ignored);
  if (found === undefined) return undefined;
  return {
    path: formatPath(found.path),
    expected: found.expected,
    actual: found.actual,
    detail: detail(found),
  };
}

interface Found {
  readonly path: readonly Segment[];
  readonly expected: unknown;
  readonly actual: unknown;
}

function walk(
  expected: unknown,
  actual: unknown,
  path: Segment[],
  ignored: IgnoreMatcher,
): Found | undefined {
  if (path.length > 0 && ignored(path)) return undefined;
  if (Object.is(expected, actual)) return undefined;
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const length = Math.max(expected.length, actual.length);
    for (let i = 0; i < length; i++) {
      const found = walk(expected[i], actual[i], [...path, i], ignored);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (isRecord(expected) && isRecord(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
    for (const key of keys) {
      const found = walk(expected[key], actual[key], [...path, key], ignored);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return { path, expected, actual };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly Segment[]): string {
  let out = "";
  for (const segment of path)
    out += typeof segment === "number" ? `[${segment}]` : out === "" ? segment : `.${segment}`;
  return out;
}

const MAX = 80;
const BEFORE = 24;

function detail({ expected, actual }: Found): string {
  if (typeof expected === "string" && typeof actual === "string") {
    let at = 0;
    while (at < expected.length && expected[at] === actual[at]) at++;
    return `expected ${excerpt(expected, at)} but got ${excerpt(actual, at)} (strings differ at character ${at})`;
  }
  return `expected ${show(expected)} but got ${show(actual)}`;
}

/** A string cut to a window around `at`, quoted. */
function excerpt(text: string, at: number): string {
  const start = Math.max(0, at - BEFORE);
  const end = Math.min(text.length, start + MAX - BEFORE);
  return `${start > 0 ? "…" : ""}${JSON.stringify(text.slice(start, end))}${end < text.length ? "…" : ""}`;
}

function show(value: unknown): string {
  if (value === undefined) return "(absent)";
  const json = JSON.stringify(value);
  return json.length > MAX ? `${json.slice(0, MAX)}…` : json;
}
