/**
 * Turns any value into what a log line may hold: JSON data, bounded in depth, length and items; errors
 * as `{ name, message, code, … }`; secret fields redacted; cycles cut; and, for telemetry metadata,
 * message contents left out.
 */
import { isSecretKey, REDACTED } from "./redaction.js";

/** How {@link toLoggable} bounds and filters a value. */
export interface LoggableOptions {
  /** More field names to redact at any depth (normalized: lowercase, no `-` or `_`). */
  readonly redactKeys: ReadonlySet<string>;
  /** Leave out message contents (`payload`, `content`, `messages`, `partial`): for telemetry metadata. */
  readonly omitContent?: boolean;
  /** Keep error stacks (default false). */
  readonly stacks?: boolean;
  /** Nesting kept (default 6). */
  readonly maxDepth?: number;
  /** Characters kept of a string (default 2,048). */
  readonly maxString?: number;
  /** Items kept of an array, keys of an object (default 50). */
  readonly maxItems?: number;
}

/** What `omitContent` leaves out: conversation text and message payloads, bulky and private. */
const CONTENT_KEYS = new Set(["payload", "content", "messages", "partial"]);
const OMITTED = "[omitted]";

interface Walk {
  readonly options: LoggableOptions;
  readonly maxDepth: number;
  readonly maxString: number;
  readonly maxItems: number;
  /** The objects on the path from the root (a shared, non-circular reference is logged twice). */
  readonly ancestors: WeakSet<object>;
}

/**
 * A loggable copy of a value.
 *
 * @param value - anything.
 * @param options - redaction and bounds.
 * @returns JSON data (undefined for functions and undefined).
 */
export function toLoggable(value: unknown, options: LoggableOptions): unknown {
  return walk(value, 0, {
    options,
    maxDepth: options.maxDepth ?? 6,
    maxString: options.maxString ?? 2048,
    maxItems: options.maxItems ?? 50,
    ancestors: new WeakSet(),
  });
}

function walk(value: unknown, depth: number, w: Walk): unknown {
  switch (typeof value) {
    case "string":
      return value.length > w.maxString
        ? `${value.slice(0, w.maxString)}…[+${value.length - w.maxString} chars]`
        : value;
    case "number":
    case "boolean":
    case "undefined":
      return value;
    case "bigint":
    case "symbol":
      return value.toString();
    case "function":
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
  if (ArrayBuffer.isView(object)) return `[${object.constructor.name}(${object.byteLength} bytes)]`;
  if (object instanceof Map || object instanceof Set) return `[${object.constructor.name}(${object.size})]`;
  if (w.ancestors.has(object)) return "[Circular]";
  if (depth >= w.maxDepth) return Array.isArray(object) ? `[Array(${object.length})]` : "[Object]";
  w.ancestors.add(object);
  try {
    if (object instanceof Error) return errorOf(object, depth, w);
    if (Array.isArray(object)) {
      const items = object.slice(0, w.maxItems).map((item) => walk(item, depth + 1, w) ?? null);
      if (object.length > w.maxItems) items.push(`…[+${object.length - w.maxItems} items]`);
      return items;
    }
    return fieldsOf(object, depth, w);
  } finally {
    w.ancestors.delete(object);
  }
}

function fieldsOf(object: object, depth: number, w: Walk): Record<string, unknown> | string {
  const keys = Object.keys(object);
  // an instance with no data of its own (a signal, a promise, a socket) says only what it is
  if (keys.length === 0 && Object.getPrototypeOf(object) !== Object.prototype) {
    const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === "string" && name !== "" && name !== "Object") return `[${name}]`;
  }
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const key of keys) {
    if (kept === w.maxItems) {
      out["…"] = `[+${keys.length - kept} keys]`;
      break;
    }
    kept++;
    const field = (object as Record<string, unknown>)[key];
    if (isSecretKey(key, w.options.redactKeys)) out[key] = REDACTED;
    else if (w.options.omitContent === true && CONTENT_KEYS.has(key)) out[key] = OMITTED;
    else {
      const v = walk(field, depth + 1, w);
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}

function errorOf(error: Error, depth: number, w: Walk): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: walk(error.message, depth + 1, w) };
  // own data fields of typed errors (code, kind, status, retryable, …); objects among them are left out
  for (const key of Object.keys(error)) {
    const field = (error as unknown as Record<string, unknown>)[key];
    if (key === "cause" || key === "stack" || key === "errors") continue;
    if (isSecretKey(key, w.options.redactKeys)) out[key] = REDACTED;
    else if (typeof field === "string" || typeof field === "number" || typeof field === "boolean")
      out[key] = walk(field, depth + 1, w);
  }
  const code = (error as { code?: unknown }).code;
  if (out.code === undefined && (typeof code === "string" || typeof code === "number")) out.code = code;
  if (error.cause !== undefined) out.cause = walk(error.cause, depth + 1, w);
  if (error instanceof AggregateError) out.errors = walk(error.errors, depth + 1, w);
  if (w.options.stacks === true && error.stack !== undefined) out.stack = walk(error.stack, depth + 1, w);
  return out;
}
