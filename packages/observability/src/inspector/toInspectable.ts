/**
 * Turns any value (an actor's context, an event, a machine definition) into JSON data an inspector
 * client can parse, and never throws: cycles are cut, depth and size are bounded, getters or `toJSON`
 * that throw become a marker, functions become `{ type: name }` (as `@statelyai/inspect` renders
 * actions), bigints, symbols and non-finite numbers become strings, errors `{ name, message, … }`,
 * actor refs `{ id, sessionId }`, and secret fields (API keys, tokens, …) are redacted.
 */
import { isSecretKey, REDACTED, scrubSecrets } from "../logging/redaction.js";

/** How {@link toInspectable} bounds a value. */
export interface InspectableLimits {
  /** Nesting kept (default 10, as `@statelyai/inspect`). */
  readonly maxDepth?: number;
  /** Items kept of an array, keys of an object, entries of a Map or Set (default 200). */
  readonly maxItems?: number;
  /** Characters kept of a string (default 10,000). */
  readonly maxString?: number;
  /** More field names to redact at any depth (compared without case, `-` or `_`). */
  readonly redactKeys?: ReadonlySet<string>;
}

interface Walk {
  readonly maxDepth: number;
  readonly maxItems: number;
  readonly maxString: number;
  readonly redactKeys: ReadonlySet<string>;
  /** The objects on the path from the root: a shared but acyclic reference is rendered twice. */
  readonly ancestors: WeakSet<object>;
}

/** What XState's `Actor#toJSON` tags an actor with. */
const ACTOR_TYPE = 1;

/**
 * A JSON-safe copy of a value.
 *
 * @param value - anything.
 * @param limits - depth, size and redaction.
 * @returns JSON data (`undefined` only for `undefined` itself).
 */
export function toInspectable(value: unknown, limits: InspectableLimits = {}): unknown {
  return walk(value, 0, {
    maxDepth: limits.maxDepth ?? 10,
    maxItems: limits.maxItems ?? 200,
    maxString: limits.maxString ?? 10_000,
    redactKeys: limits.redactKeys ?? new Set(),
    ancestors: new WeakSet(),
  });
}

function walk(value: unknown, depth: number, w: Walk): unknown {
  switch (typeof value) {
    case "string":
      return text(value, w);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
    case "undefined":
      return value;
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return { type: value.name === "" ? "anonymous" : value.name };
  }
  if (value === null) return null;
  const object = value as object;
  if (w.ancestors.has(object)) return "[Circular]";
  if (depth >= w.maxDepth) return Array.isArray(object) ? "[Array]" : "[Object]";
  w.ancestors.add(object);
  try {
    return objectOf(object, depth, w);
  } catch (error) {
    // a Proxy trap or an exotic object that refuses to be read
    return unreadable(error);
  } finally {
    w.ancestors.delete(object);
  }
}

function objectOf(object: object, depth: number, w: Walk): unknown {
  if (isActorRef(object)) return { xstate$$type: ACTOR_TYPE, id: object.id, sessionId: object.sessionId };
  if (object instanceof Error) return errorOf(object, depth, w);
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
  if (ArrayBuffer.isView(object)) return `[${object.constructor.name}(${object.byteLength} bytes)]`;
  if (object instanceof Map) {
    const entries = [...bounded(object.entries(), w.maxItems)].map(([k, v]) => [
      walk(k, depth + 1, w) ?? null,
      walk(v, depth + 1, w) ?? null,
    ]);
    return { dataType: "Map", entries: withRest(entries, object.size, w.maxItems) };
  }
  if (object instanceof Set) {
    const values = [...bounded(object.values(), w.maxItems)].map((v) => walk(v, depth + 1, w) ?? null);
    return { dataType: "Set", values: withRest(values, object.size, w.maxItems) };
  }
  if (Array.isArray(object)) {
    const items: unknown[] = [];
    const kept = Math.min(object.length, w.maxItems);
    for (let i = 0; i < kept; i++) items.push(walk(read(object, i), depth + 1, w) ?? null);
    return withRest(items, object.length, w.maxItems);
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    let json: unknown;
    try {
      json = toJSON.call(object, "");
    } catch (error) {
      return unreadable(error);
    }
    // `toJSON` may return the object itself or another object: walk it one level deeper
    return json === object ? fieldsOf(object, depth, w) : walk(json, depth + 1, w);
  }
  return fieldsOf(object, depth, w);
}

function fieldsOf(object: object, depth: number, w: Walk): unknown {
  const keys = Object.keys(object);
  // an instance with no data of its own (a promise, a signal, a socket) says only what it is
  if (keys.length === 0) {
    const proto: unknown = Object.getPrototypeOf(object);
    const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
    if (proto !== null && proto !== Object.prototype && typeof name === "string" && name !== "")
      return `[${name}]`;
  }
  const out: Record<string, unknown> = {};
  const kept = Math.min(keys.length, w.maxItems);
  for (let i = 0; i < kept; i++) {
    const key = keys[i] as string;
    if (isSecretKey(key, w.redactKeys)) {
      out[key] = REDACTED;
      continue;
    }
    const field = walk(read(object, key), depth + 1, w);
    if (field !== undefined) out[key] = field;
  }
  if (keys.length > kept) out["…"] = `[+${keys.length - kept} keys]`;
  return out;
}

function errorOf(error: Error, depth: number, w: Walk): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: walk(read(error, "name"), depth + 1, w),
    message: walk(read(error, "message"), depth + 1, w),
  };
  // own data of typed errors (code, kind, status, …); the stack is noise in an inspector
  for (const key of Object.keys(error)) {
    if (key === "stack" || key === "cause") continue;
    const field = isSecretKey(key, w.redactKeys) ? REDACTED : walk(read(error, key), depth + 1, w);
    if (field !== undefined) out[key] = field;
  }
  const cause = read(error, "cause");
  if (cause !== undefined) out.cause = walk(cause, depth + 1, w);
  return out;
}

/** Reads a property; a getter (or Proxy trap) that throws yields a marker instead. */
function read(object: object, key: string | number): unknown {
  try {
    return (object as Record<string | number, unknown>)[key];
  } catch (error) {
    return unreadable(error);
  }
}

function unreadable(error: unknown): string {
  let reason: string;
  try {
    reason = error instanceof Error ? error.message : String(error);
  } catch {
    // even the thrown value refuses to be read: say so without its text
    reason = "unknown";
  }
  return `[Unreadable: ${reason}]`;
}

function text(value: string, w: Walk): string {
  const cut =
    value.length > w.maxString
      ? `${value.slice(0, w.maxString)}…[+${value.length - w.maxString} chars]`
      : value;
  return scrubSecrets(cut);
}

function* bounded<T>(items: Iterable<T>, max: number): Iterable<T> {
  if (max <= 0) return;
  let n = 0;
  for (const item of items) {
    yield item;
    if (++n >= max) return;
  }
}

function withRest(items: unknown[], total: number, max: number): unknown[] {
  if (total > max) items.push(`…[+${total - max} items]`);
  return items;
}

function isActorRef(object: object): object is { id: unknown; sessionId: string } {
  const ref = object as { sessionId?: unknown; send?: unknown; getSnapshot?: unknown };
  return (
    typeof ref.sessionId === "string" &&
    typeof ref.send === "function" &&
    typeof ref.getSnapshot === "function"
  );
}
