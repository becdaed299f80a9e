/**
 * Keys of shared-context tables: the key domain, its equality rule (a canonical encoding), the total
 * order of `ordered_set` tables, the map that indexes objects by key in O(1), and the deep equality
 * that decides whether two values in a `bag` are duplicates.
 */
import { InvalidArgumentError } from "../errors.js";

/** A key atom: a string, a finite number, or a boolean. */
export type KeyAtom = string | number | boolean;

/**
 * A table key: an atom, or a tuple (array) of keys, nested to any depth.
 *
 * Equality is structural: two tuples with equal elements are the same key (`["u", 1]` equals
 * `["u", 1]`), `0` and `-0` are the same key, and atoms of different types never are (`1` is not `"1"`,
 * `true` is not `1`). `NaN`, `Infinity`, `undefined`, `null`, objects and sparse arrays are not keys;
 * using one throws an `InvalidArgumentError`.
 */
export type Key = KeyAtom | readonly Key[];

type Atom = string | number | boolean;

/**
 * Whether a key is a tuple.
 *
 * @param key - the key.
 * @returns true for an array.
 */
export function isTuple(key: Key): key is readonly Key[] {
  return Array.isArray(key);
}

function badKey(key: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(key) ?? String(key);
  } catch {
    shown = String(key);
  }
  throw new InvalidArgumentError(
    `invalid key ${shown}: a key is a string, a finite number, a boolean, or an array of keys`,
  );
}

/**
 * Validates an atom key and normalises `-0` to `0`.
 *
 * @param key - the candidate.
 * @returns the atom as the index stores it.
 * @throws InvalidArgumentError when it is not a string, finite number or boolean.
 */
function atom(key: unknown): Atom {
  if (typeof key === "string" || typeof key === "boolean") return key;
  if (typeof key === "number" && Number.isFinite(key)) return key === 0 ? 0 : key;
  return badKey(key);
}

/**
 * The canonical string of a tuple key: equal tuples, and only they, encode to the same string.
 *
 * @param key - the tuple.
 * @returns its encoding (strings JSON-quoted, numbers in shortest round-trip form, `-0` as `0`).
 * @throws InvalidArgumentError when an element is not a key.
 */
export function encodeTuple(key: readonly unknown[]): string {
  let out = "[";
  for (let i = 0; i < key.length; i++) {
    if (i > 0) out += ",";
    const part = key[i];
    if (Array.isArray(part)) out += encodeTuple(part);
    else if (typeof part === "string") out += JSON.stringify(part);
    else out += String(atom(part));
  }
  return `${out}]`;
}

/**
 * A map from keys to `T`, under the key equality rule: atoms index one `Map` directly (no string is
 * built), tuples index another by their canonical encoding. Every operation is O(1) for an atom and
 * O(size of the tuple) for a tuple.
 */
export class KeyMap<T> {
  readonly #atoms = new Map<Atom, T>();
  readonly #tuples = new Map<string, T>();

  /**
   * @param key - the key (validated).
   * @returns the entry, or undefined.
   */
  get(key: Key): T | undefined {
    return isTuple(key) ? this.#tuples.get(encodeTuple(key)) : this.#atoms.get(atom(key));
  }

  /**
   * @param key - the key (validated).
   * @param value - the entry.
   */
  set(key: Key, value: T): void {
    if (isTuple(key)) this.#tuples.set(encodeTuple(key), value);
    else this.#atoms.set(atom(key), value);
  }

  /**
   * @param key - the key (validated).
   * @returns whether an entry was removed.
   */
  delete(key: Key): boolean {
    return isTuple(key) ? this.#tuples.delete(encodeTuple(key)) : this.#atoms.delete(atom(key));
  }

  /** Removes every entry. */
  clear(): void {
    this.#atoms.clear();
    this.#tuples.clear();
  }

  /** The entries: atom keys first, then tuple keys, each in insertion order. */
  *values(): IterableIterator<T> {
    yield* this.#atoms.values();
    yield* this.#tuples.values();
  }
}

function rank(key: Key): number {
  switch (typeof key) {
    case "number":
      return 0;
    case "string":
      return 1;
    case "boolean":
      return 2;
    default:
      return 3;
  }
}

/**
 * The total order of `ordered_set` keys: numbers < strings < booleans < tuples. Numbers compare
 * numerically, strings by UTF-16 code units (not by locale), `false < true`, and tuples
 * lexicographically element by element, a proper prefix first.
 *
 * @param a - a key.
 * @param b - another key.
 * @returns a negative number, zero (the same key), or a positive number.
 * @example
 * ```ts
 * [["a"], true, "b", 2, 1].sort(compareKeys); // [1, 2, "b", true, ["a"]]
 * ```
 */
export function compareKeys(a: Key, b: Key): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (isTuple(a) && isTuple(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareKeys(a[i] as Key, b[i] as Key);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (a === b) return 0;
  return (a as Atom) < (b as Atom) ? -1 : 1;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Deep equality of values, the rule that makes two objects of a `bag` duplicates: primitives are equal
 * when `===` (and `NaN` equals `NaN`); arrays element by element; plain objects (prototype `Object` or
 * `null`, the two alike) by their own enumerable keys and values; `Date`s by time; any other object only to itself.
 *
 * @param a - a value.
 * @param b - another value.
 * @returns whether they are equal.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
