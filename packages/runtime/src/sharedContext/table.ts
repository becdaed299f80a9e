/**
 * The data of one table and its write operations. A table indexes its objects by key in a `KeyMap`
 * (O(1) reads and writes for every type); an `ordered_set` also keeps its slots in a key-sorted array
 * (binary search, so finding a slot's position is O(log n) and inserting or removing a key is O(log n)
 * plus an O(n) array shift; updating an existing key is O(1)). A bag insert also scans the values under
 * the key for a duplicate, O(values under that key). The operations are written once against `View`,
 * which is either the committed table or a transaction's overlay of it.
 */
import { InvalidArgumentError } from "../errors.js";
import { CounterError } from "./errors.js";
import { compareKeys, deepEqual, type Key, KeyMap } from "./keys.js";
import type { Access, Change, Heir, TableType, Transaction } from "./types.js";

/** The objects under one key (never empty while in a table). */
export interface Slot {
  readonly key: Key;
  values: readonly unknown[];
}

const EMPTY: readonly unknown[] = Object.freeze([]);

/** Reading and replacing the objects under a key: the committed table or a transaction's overlay. */
export interface View {
  readonly name: string;
  readonly type: TableType;
  /** The values under `key` (an empty array if none); never mutated in place. */
  read(key: Key): readonly unknown[];
  /** Replaces the values under `key` (an empty array removes the key). */
  write(key: Key, values: readonly unknown[]): void;
}

/** A subscriber, with the identity its read access is checked against. */
export interface Subscriber {
  readonly caller: string | undefined;
  readonly listener: (change: Change) => unknown;
}

/** A table: its settings, ownership, objects and subscribers. */
export class TableState implements View {
  readonly name: string;
  readonly type: TableType;
  readonly access: Access;
  /** The owner's pid. */
  owner: string;
  /** The heir, with its pid resolved. */
  heir: Heir | undefined;
  /** Set once the table is deleted, so handles and transactions holding it know. */
  deleted = false;
  readonly subscribers = new Set<Subscriber>();
  readonly #slots = new KeyMap<Slot>();
  readonly #sorted: Slot[] | undefined;
  #size = 0;

  /**
   * @param name - the table name.
   * @param type - its type.
   * @param access - its access mode.
   * @param owner - the owner's pid.
   * @param heir - the heir, or undefined.
   */
  constructor(name: string, type: TableType, access: Access, owner: string, heir: Heir | undefined) {
    this.name = name;
    this.type = type;
    this.access = access;
    this.owner = owner;
    this.heir = heir;
    this.#sorted = type === "ordered_set" ? [] : undefined;
  }

  /** The number of objects. */
  get size(): number {
    return this.#size;
  }

  read(key: Key): readonly unknown[] {
    return this.#slots.get(key)?.values ?? EMPTY;
  }

  write(key: Key, values: readonly unknown[]): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      if (values.length === 0) return;
      const created: Slot = { key, values };
      this.#slots.set(key, created);
      if (this.#sorted !== undefined) this.#sorted.splice(this.#position(key), 0, created);
      this.#size += values.length;
      return;
    }
    this.#size += values.length - slot.values.length;
    if (values.length > 0) {
      slot.values = values;
      return;
    }
    this.#slots.delete(key);
    if (this.#sorted !== undefined) this.#sorted.splice(this.#position(key), 1);
  }

  /** The slots: in key order for an `ordered_set`, else in index order. */
  slots(): Iterable<Slot> {
    return this.#sorted ?? this.#slots.values();
  }

  /** Deletes every object and subscription and marks the table deleted. */
  destroy(): void {
    this.deleted = true;
    this.#slots.clear();
    this.#sorted?.splice(0);
    this.#size = 0;
    this.subscribers.clear();
  }

  /** The index of the first sorted slot whose key is not below `key` (binary search, O(log n)). */
  #position(key: Key): number {
    const sorted = this.#sorted as Slot[];
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys((sorted[mid] as Slot).key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A transaction's private view: writes land in an overlay; reads fall through to the table. */
export class Overlay implements View {
  readonly name: string;
  readonly type: TableType;
  readonly #base: TableState;
  readonly #pending = new KeyMap<Slot>();

  /** @param base - the committed table. */
  constructor(base: TableState) {
    this.#base = base;
    this.name = base.name;
    this.type = base.type;
  }

  read(key: Key): readonly unknown[] {
    return this.#pending.get(key)?.values ?? this.#base.read(key);
  }

  write(key: Key, values: readonly unknown[]): void {
    const slot = this.#pending.get(key);
    if (slot === undefined) this.#pending.set(key, { key, values });
    else slot.values = values;
  }

  /** Applies every buffered write to the table. */
  commit(): void {
    for (const slot of this.#pending.values()) this.#base.write(slot.key, slot.values);
  }
}

// ---- operations (each validates before it writes, so a throw leaves the view unchanged) -------------

function deleted(view: View, key: Key, values: readonly unknown[], out: Change[]): void {
  for (const old of values) out.push({ table: view.name, key, kind: "delete", old });
}

function notForBag(view: View, op: string): void {
  if (view.type === "bag") throw new InvalidArgumentError(`${op} is not supported on bag ${view.name}`);
}

/**
 * ETS `insert` of one object.
 *
 * @param view - where to write.
 * @param key - the key.
 * @param value - the value.
 * @param out - receives the changes.
 */
export function put(view: View, key: Key, value: unknown, out: Change[]): void {
  const current = view.read(key);
  if (view.type === "bag") {
    for (const v of current) if (deepEqual(v, value)) return;
    view.write(key, [...current, value]);
    out.push({ table: view.name, key, kind: "insert", value });
    return;
  }
  view.write(key, [value]);
  out.push(
    current.length === 0
      ? { table: view.name, key, kind: "insert", value }
      : { table: view.name, key, kind: "update", old: current[0], value },
  );
}

/**
 * ETS `insert_new`.
 *
 * @param view - where to write.
 * @param key - the key.
 * @param value - the value.
 * @param out - receives the changes.
 * @returns false if an object is under `key`.
 */
export function putNew(view: View, key: Key, value: unknown, out: Change[]): boolean {
  if (view.read(key).length > 0) return false;
  view.write(key, [value]);
  out.push({ table: view.name, key, kind: "insert", value });
  return true;
}

/**
 * ETS `delete/2`.
 *
 * @param view - where to write.
 * @param key - the key.
 * @param out - receives the changes.
 * @returns whether an object was under `key`.
 */
export function remove(view: View, key: Key, out: Change[]): boolean {
  return take(view, key, out).length > 0;
}

/**
 * ETS `take`.
 *
 * @param view - where to write.
 * @param key - the key.
 * @param out - receives the changes.
 * @returns the values that were under `key`.
 */
export function take(view: View, key: Key, out: Change[]): unknown[] {
  const current = view.read(key);
  if (current.length === 0) return [];
  view.write(key, EMPTY);
  deleted(view, key, current, out);
  return [...current];
}

/**
 * ETS `delete_object`.
 *
 * @param view - where to write.
 * @param key - the key.
 * @param value - the value to match (deep equality).
 * @param out - receives the changes.
 * @returns whether an object with a deep-equal value was under `key`.
 */
export function removeObject(view: View, key: Key, value: unknown, out: Change[]): boolean {
  const current = view.read(key);
  const i = current.findIndex((v) => deepEqual(v, value));
  if (i < 0) return false;
  view.write(key, current.toSpliced(i, 1));
  deleted(view, key, [current[i]], out);
  return true;
}

/**
 * Atomic read-modify-write of the value under `key` (not for bags).
 *
 * @param view - where to write.
 * @param key - the key.
 * @param fn - computes the new value from the old one (undefined if absent).
 * @param out - receives the changes.
 * @returns the new value.
 */
export function update(view: View, key: Key, fn: (old: unknown) => unknown, out: Change[]): unknown {
  notForBag(view, "update");
  const current = view.read(key);
  const next = fn(current.length === 0 ? undefined : current[0]);
  put(view, key, next, out);
  return next;
}

/**
 * ETS `update_counter/3,4` (not for bags).
 *
 * @param view - where to write.
 * @param key - the key.
 * @param by - the increment.
 * @param initial - the count a missing key starts from, if any.
 * @param out - receives the changes.
 * @returns the new count.
 * @throws CounterError for a missing key without `initial`, or a non-number value.
 */
export function incr(view: View, key: Key, by: number, initial: number | undefined, out: Change[]): number {
  notForBag(view, "incr");
  if (!Number.isFinite(by)) throw new InvalidArgumentError(`incr: by must be a finite number, got ${by}`);
  if (initial !== undefined && !Number.isFinite(initial))
    throw new InvalidArgumentError(`incr: initial must be a finite number, got ${initial}`);
  const current = view.read(key);
  let base: number;
  if (current.length === 0) {
    if (initial === undefined) throw new CounterError(view.name, key, "missing_key");
    base = initial;
  } else {
    const old = current[0];
    if (typeof old !== "number") throw new CounterError(view.name, key, "not_a_number");
    base = old;
  }
  const next = base + by;
  put(view, key, next, out);
  return next;
}

/**
 * ETS `select_delete` with a predicate.
 *
 * @param table - the committed table.
 * @param predicate - selects the objects to delete.
 * @param out - receives the changes.
 * @returns how many objects were deleted.
 */
export function selectDelete(
  table: TableState,
  predicate: (key: Key, value: unknown) => boolean,
  out: Change[],
): number {
  const doomed: Array<[Key, unknown]> = [];
  for (const slot of table.slots()) {
    for (const value of slot.values) if (predicate(slot.key, value)) doomed.push([slot.key, value]);
  }
  for (const [key, value] of doomed) removeObject(table, key, value, out);
  return doomed.length;
}

/** The transaction object handed to a transaction function; see {@link Transaction}. */
export class TransactionView implements Transaction<unknown, Key> {
  readonly table: string;
  /** The changes made so far, in order; published on commit. */
  readonly changes: Change[] = [];
  readonly #view: Overlay;
  #open = true;

  /** @param view - the transaction's overlay. */
  constructor(view: Overlay) {
    this.#view = view;
    this.table = view.name;
  }

  /** Ends the transaction: every later call throws. */
  close(): void {
    this.#open = false;
  }

  #use(): Overlay {
    if (!this.#open) throw new InvalidArgumentError(`the transaction on ${this.table} is over`);
    return this.#view;
  }

  get(key: Key): unknown {
    return this.#use().read(key)[0];
  }

  has(key: Key): boolean {
    return this.#use().read(key).length > 0;
  }

  lookup(key: Key): unknown[] {
    return [...this.#use().read(key)];
  }

  put(key: Key, value: unknown): void {
    put(this.#use(), key, value, this.changes);
  }

  putNew(key: Key, value: unknown): boolean {
    return putNew(this.#use(), key, value, this.changes);
  }

  delete(key: Key): boolean {
    return remove(this.#use(), key, this.changes);
  }

  deleteObject(key: Key, value: unknown): boolean {
    return removeObject(this.#use(), key, value, this.changes);
  }

  take(key: Key): unknown[] {
    return take(this.#use(), key, this.changes);
  }

  update(key: Key, fn: (old: unknown) => unknown): unknown {
    return update(this.#use(), key, fn, this.changes);
  }

  incr(key: Key, by = 1, initial?: number): number {
    return incr(this.#use(), key, by, initial, this.changes);
  }
}
