/**
 * The public types of the shared-context store: table options and metadata, change notifications,
 * the ownership-transfer message, and the `Table` and `Transaction` interfaces a caller works with.
 */
import type { ServerContext } from "../Server.js";
import type { Key } from "./keys.js";

/**
 * How a table stores objects (ETS §3.1):
 * - `set`: one value per key; `put` overwrites. Iteration order is unspecified.
 * - `ordered_set`: one value per key; iteration and `select` run in key order (see `compareKeys`).
 * - `bag`: many values per key, but never two deep-equal values under one key; a duplicate `put` is a
 *   no-op. The order of values under a key is their insertion order.
 */
export type TableType = "set" | "ordered_set" | "bag";

/**
 * Who may read and write (ETS §3.2):
 * - `public`: anyone reads and writes.
 * - `protected` (the default): anyone reads, only the owner writes.
 * - `private`: only the owner reads and writes.
 */
export type Access = "public" | "protected" | "private";

/**
 * Who is calling. A pid or name string is a *declared* identity, trusted as a capability. A
 * process's `ServerContext` is a *verified* one: writes go through `ctx.call`, and the service checks
 * the identity against the calling process. `undefined` is a caller outside any process.
 */
export type Caller = string | Pick<ServerContext, "self" | "call">;

/** A table's heir: the process that inherits the table when its owner exits, and the data it receives. */
export interface Heir {
  /** The heir's pid or name (resolved to a pid when set). */
  readonly pid: string;
  /** Passed as `data` in the heir's `ETS-TRANSFER` message. */
  readonly data?: unknown;
}

/** Options of `SharedContext.newTable`. */
export interface TableOptions {
  /** Default `set`. */
  readonly type?: TableType;
  /** Default `protected`. */
  readonly access?: Access;
  /**
   * The owning process (a pid, a name, or its `ServerContext`); it must be alive. The table is deleted
   * when the owner exits, unless an heir inherits it. The handle `newTable` returns is bound to it.
   */
  readonly owner: Caller;
  /** Inherits the table when the owner exits. An heir that is not alive when set is ignored, as in ETS. */
  readonly heir?: Heir;
}

/** A table's metadata (`ets:info`). */
export interface TableInfo {
  readonly name: string;
  readonly type: TableType;
  readonly access: Access;
  /** The owner's pid. */
  readonly owner: string;
  /** The heir's pid, if any. */
  readonly heir: string | undefined;
  /** The number of objects (for a bag, every value under every key). */
  readonly size: number;
}

/** The kind of a committed write to one object. */
export type ChangeKind = "insert" | "update" | "delete";

/**
 * A committed write to one object, as delivered to subscribers. A bag reports one change per value (a
 * `delete` of a key with three values is three `delete` changes); a set reports `update` when a `put`
 * replaces a value.
 */
export type Change<V = unknown, K extends Key = Key> =
  | { readonly table: string; readonly key: K; readonly kind: "insert"; readonly value: V }
  | { readonly table: string; readonly key: K; readonly kind: "update"; readonly old: V; readonly value: V }
  | { readonly table: string; readonly key: K; readonly kind: "delete"; readonly old: V };

/**
 * The info message a process receives when it becomes a table's owner, by inheritance (`from` is the
 * owner that exited, `data` the heir data) or by `giveAway` (`from` is the giver, `data` what it passed).
 */
export interface EtsTransferMessage {
  readonly type: "ETS-TRANSFER";
  /** The table name. */
  readonly table: string;
  /** The previous owner's pid. */
  readonly from: string;
  /** The heir data or the `giveAway` data. */
  readonly data: unknown;
}

/** Options of `Table.transaction`. */
export interface TransactionOptions {
  /**
   * Milliseconds of the system clock the transaction may run before it is aborted with
   * `TransactionTimeoutError` and its writes discarded (default: the context's `transactionTimeout`;
   * `Infinity` for none).
   */
  readonly timeout?: number;
}

/**
 * The view a transaction function gets: reads see the committed table plus the transaction's own
 * writes; writes are buffered and applied all at once when the function returns (or its promise
 * resolves). Every method is synchronous and throws once the transaction is over.
 */
export interface Transaction<V, K extends Key = Key> {
  /** The table name. */
  readonly table: string;
  /** The first value under `key`, or undefined. */
  get(key: K): V | undefined;
  /** Whether an object is under `key`. */
  has(key: K): boolean;
  /** Every value under `key` (at most one, except in a bag). */
  lookup(key: K): V[];
  /** As `Table.put`. */
  put(key: K, value: V): void;
  /** As `Table.putNew`. */
  putNew(key: K, value: V): boolean;
  /** As `Table.delete`. */
  delete(key: K): boolean;
  /** As `Table.deleteObject`. */
  deleteObject(key: K, value: V): boolean;
  /** As `Table.take`. */
  take(key: K): V[];
  /** As `Table.update`. */
  update(key: K, fn: (old: V | undefined) => V): V;
  /** As `Table.incr`. */
  incr(key: K, by?: number, initial?: number): number;
}

/**
 * A handle on a named table, bound to a caller identity. Reads are direct and synchronous: they never
 * queue behind the service's mailbox and see the last committed state. Writes are calls to the service,
 * serialized in its mailbox, each atomic. Every operation checks the caller's access and throws (reads)
 * or rejects (writes) with `AccessError`, `NoTableError` for a table that does not exist (any more), or
 * `InvalidArgumentError` for an invalid key.
 *
 * Values are stored by reference, not copied: treat what you put and what you read as immutable.
 */
export interface Table<V, K extends Key = Key> {
  /** The table name. */
  readonly name: string;
  /** The caller identity this handle acts as (`undefined`: outside any process). */
  readonly caller: string | undefined;
  /** The number of objects (for a bag, every value under every key). */
  readonly size: number;
  /** The table's metadata. */
  info(): TableInfo;
  /** The value under `key` (a bag: the first one), or undefined. O(1); O(size of the tuple) for a tuple key. */
  get(key: K): V | undefined;
  /** Whether an object is under `key`. */
  has(key: K): boolean;
  /** Every value under `key`: `[]` if none, at most one except in a bag (in insertion order). */
  lookup(key: K): V[];
  /** The `[key, value]` objects for which `predicate` holds; in key order for an `ordered_set`. O(n). */
  select(predicate: (key: K, value: V) => boolean): Array<[K, V]>;
  /** Every `[key, value]` object; in key order for an `ordered_set`. */
  entries(): Array<[K, V]>;
  /** Every key, once; in key order for an `ordered_set`. */
  keys(): K[];
  /** Inserts: a set overwrites the value under `key`; a bag adds `value` unless an equal one is there. */
  put(key: K, value: V): Promise<void>;
  /** Inserts only if no object is under `key` (ETS `insert_new`); resolves false if one is. */
  putNew(key: K, value: V): Promise<boolean>;
  /** Deletes every object under `key`; resolves whether there was one. */
  delete(key: K): Promise<boolean>;
  /** Deletes the object under `key` whose value deep-equals `value` (ETS `delete_object`); resolves whether there was one. */
  deleteObject(key: K, value: V): Promise<boolean>;
  /** Deletes and returns every value under `key` (`[]` if none), as ETS `take`. */
  take(key: K): Promise<V[]>;
  /** Sets the value under `key` to `fn(old)` atomically (`old` undefined if absent); resolves the new value. Not for bags. */
  update(key: K, fn: (old: V | undefined) => V): Promise<V>;
  /**
   * Adds `by` (default 1) to the number under `key` atomically, as ETS `update_counter`; with no object
   * there, inserts `initial + by` if `initial` is given, else rejects with `CounterError`
   * (`missing_key`). A non-number value rejects with `CounterError` (`not_a_number`). Not for bags.
   */
  incr(key: K, by?: number, initial?: number): Promise<number>;
  /** Deletes every object for which `predicate` holds, atomically (ETS `select_delete`); resolves how many. */
  selectDelete(predicate: (key: K, value: V) => boolean): Promise<number>;
  /**
   * Runs `fn` serialized in the service: no other write to any table of the context runs until it
   * settles. Its writes apply all at once, and subscribers hear of them after, if it returns or
   * resolves; a throw, a rejection, or the time limit discards every one of them and rejects with that
   * error. Needs write access. Inside `fn`, write through `tx` only: awaiting this handle's own writes
   * would wait behind the transaction until it times out.
   */
  transaction<R>(fn: (tx: Transaction<V, K>) => R | Promise<R>, options?: TransactionOptions): Promise<R>;
  /**
   * Calls `listener` after each committed write, in commit order, synchronously in the service. A
   * listener that throws (or rejects) is reported on telemetry as
   * `["normandy", "shared_context", "subscriber_failed"]` with `{ table, key, kind, error }` (as a
   * process warning when no telemetry handler is attached) and stays subscribed; it cannot break the service. Needs read access, checked again at
   * each change. The subscription ends with the table.
   *
   * @returns a function that unsubscribes.
   */
  subscribe(listener: (change: Change<V, K>) => unknown): () => void;
  /**
   * Makes `to` (alive, not the owner) the owner; it receives an `ETS-TRANSFER` info message with `data`.
   * The heir is kept. Owner only.
   */
  giveAway(to: string, data?: unknown): Promise<void>;
  /** Sets or clears the heir (ETS `setopts(T, {heir, ...})`). Owner only. */
  setHeir(heir: Heir | undefined): Promise<void>;
  /** Deletes the table and its subscriptions. Owner only. */
  drop(): Promise<void>;
}
