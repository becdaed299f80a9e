/**
 * SharedContext, the runtime's GenServer + ETS: a service process that holds named tables of
 * key/value objects with ETS semantics (set, ordered_set, bag; public/protected/private access; an
 * owner whose exit deletes the table or hands it to an heir; `giveAway`). Writes are calls to the
 * service, serialized by its mailbox; reads go straight to the tables, synchronously. This file owns
 * the public entry point and the table handle; the data structures and the service live in
 * `./sharedContext/`.
 */
import type { ActorSystem } from "./ActorSystem.js";
import { InvalidArgumentError } from "./errors.js";
import type { Key } from "./sharedContext/keys.js";
import { type Reply, type Request, Store, sharedContextService } from "./sharedContext/service.js";
import type { Subscriber, TableState, TransactionView } from "./sharedContext/table.js";
import type {
  Caller,
  Change,
  Heir,
  Table,
  TableInfo,
  TableOptions,
  Transaction,
  TransactionOptions,
} from "./sharedContext/types.js";

export {
  AccessError,
  type AccessOperation,
  CounterError,
  NoTableError,
  TableExistsError,
  TransactionTimeoutError,
} from "./sharedContext/errors.js";
export { compareKeys, deepEqual, type Key, type KeyAtom } from "./sharedContext/keys.js";
export type {
  Access,
  Caller,
  Change,
  ChangeKind,
  EtsTransferMessage,
  Heir,
  Table,
  TableInfo,
  TableOptions,
  TableType,
  Transaction,
  TransactionOptions,
} from "./sharedContext/types.js";

/** The name a shared context registers under unless told otherwise. */
export const DEFAULT_SHARED_CONTEXT_NAME = "normandy.shared_context";

/** Options of {@link SharedContext.start}. */
export interface SharedContextOptions {
  /** The name to register the service under (default {@link DEFAULT_SHARED_CONTEXT_NAME}). */
  readonly name?: string;
  /** The timeout of each write call, in ms (default 5000, as any call). */
  readonly callTimeout?: number;
  /** The default time limit of a transaction, in ms of the system clock (default 5000; `Infinity` for none). */
  readonly transactionTimeout?: number;
}

const DEFAULT_TIMEOUT = 5000;

/**
 * A running shared-context service and the way to its tables.
 *
 * @example
 * ```ts
 * const ctx = await SharedContext.start(system);
 * const users = await ctx.newTable<{ name: string }>("users", { owner: ownerPid, heir: { pid: keeperPid } });
 * await users.put("u1", { name: "Ada" });         // a call to the service, serialized
 * ctx.table<{ name: string }>("users").get("u1"); // a direct, synchronous read: { name: "Ada" }
 * ```
 */
export class SharedContext {
  /** The actor system the service runs on. */
  readonly system: ActorSystem;
  /** The service's pid. */
  readonly pid: string;
  /** The service's registered name. */
  readonly name: string;
  readonly #store: Store;
  readonly #callTimeout: number;
  readonly #transactionTimeout: number;

  private constructor(
    system: ActorSystem,
    pid: string,
    name: string,
    store: Store,
    options: SharedContextOptions,
  ) {
    this.system = system;
    this.pid = pid;
    this.name = name;
    this.#store = store;
    this.#callTimeout = options.callTimeout ?? DEFAULT_TIMEOUT;
    this.#transactionTimeout = options.transactionTimeout ?? DEFAULT_TIMEOUT;
  }

  /**
   * Spawns the service on `system` and registers it under `options.name`.
   *
   * When the service exits, for any reason, every table is deleted: reads throw `NoTableError` and
   * writes reject with `NoProcError`.
   *
   * @param system - the actor system.
   * @param options - the name, the write-call timeout, the default transaction time limit.
   * @returns the running context.
   * @throws NameTakenError when the name is registered to a live process.
   * @example
   * ```ts
   * const system = ActorSystem.start();
   * const ctx = await SharedContext.start(system, { name: "app.context" });
   * ```
   */
  static async start(system: ActorSystem, options: SharedContextOptions = {}): Promise<SharedContext> {
    const name = options.name ?? DEFAULT_SHARED_CONTEXT_NAME;
    const store = new Store(system);
    const pid = await system.spawn(sharedContextService, { args: store, name });
    system.monitor(pid, () => store.close());
    return new SharedContext(system, pid, name, store, options);
  }

  /**
   * Creates a table (a call to the service).
   *
   * @param name - a name no live table of this context has.
   * @param options - type (default `set`), access (default `protected`), owner (required, alive), heir.
   * @returns a handle bound to the owner.
   * @throws TableExistsError, NoProcError (the owner is not alive), InvalidArgumentError.
   */
  async newTable<V, K extends Key = Key>(name: string, options: TableOptions): Promise<Table<V, K>> {
    if (typeof name !== "string" || name.length === 0)
      throw new InvalidArgumentError("a table name must be a non-empty string");
    const type = options.type ?? "set";
    const access = options.access ?? "protected";
    if (type !== "set" && type !== "ordered_set" && type !== "bag")
      throw new InvalidArgumentError(`unknown table type ${JSON.stringify(type)}`);
    if (access !== "public" && access !== "protected" && access !== "private")
      throw new InvalidArgumentError(`unknown access mode ${JSON.stringify(access)}`);
    const handle = new TableHandle<V, K>(
      this.#store,
      this.pid,
      name,
      options.owner,
      this.#callTimeout,
      this.#transactionTimeout,
    );
    if (handle.caller === undefined) throw new InvalidArgumentError("newTable needs an owner");
    await handle.request({
      type: "new_table",
      as: handle.caller,
      name,
      tableType: type,
      access,
      owner: handle.caller,
      heir: options.heir,
    });
    return handle;
  }

  /**
   * A handle on a table, bound to a caller identity. It does not check that the table exists: each
   * operation does, so a handle outlives a table's deletion and re-creation under the same name.
   *
   * @param name - the table name.
   * @param caller - who acts: a pid or name (declared), a process's `ServerContext` (verified on
   *   writes), or undefined for code outside any process.
   * @returns the handle.
   */
  table<V, K extends Key = Key>(name: string, caller?: Caller): Table<V, K> {
    return new TableHandle<V, K>(
      this.#store,
      this.pid,
      name,
      caller,
      this.#callTimeout,
      this.#transactionTimeout,
    );
  }

  /** The names of the live tables. */
  tables(): string[] {
    return [...this.#store.tables.keys()];
  }

  /**
   * Stops the service in order (queued writes are handled first); every table is then deleted.
   *
   * @returns once the service has exited.
   */
  stop(): Promise<void> {
    return this.system.stop(this.pid);
  }
}

/** The implementation of {@link Table}: reads go to the store, writes to the service. */
class TableHandle<V, K extends Key> implements Table<V, K> {
  readonly name: string;
  readonly caller: string | undefined;
  readonly #store: Store;
  readonly #service: string;
  readonly #via: Exclude<Caller, string> | undefined;
  readonly #callTimeout: number;
  readonly #transactionTimeout: number;

  constructor(
    store: Store,
    service: string,
    name: string,
    caller: Caller | undefined,
    callTimeout: number,
    transactionTimeout: number,
  ) {
    this.#store = store;
    this.#service = service;
    this.name = name;
    if (typeof caller === "object") {
      this.caller = caller.self;
      this.#via = caller;
    } else {
      this.caller = caller;
      this.#via = undefined;
    }
    this.#callTimeout = callTimeout;
    this.#transactionTimeout = transactionTimeout;
  }

  /** Sends a request to the service; rethrows the error it replies with. */
  async request(req: Request, timeout = this.#callTimeout): Promise<unknown> {
    const options = { timeout };
    const result: Reply =
      this.#via === undefined
        ? ((await this.#store.system.call(this.#service, req, options)) as Reply)
        : ((await this.#via.call(this.#service, req, options)) as Reply);
    if (!result.ok) throw result.error;
    return result.value;
  }

  #write(op: Extract<Request, { type: "write" }>["op"]): Promise<unknown> {
    return this.request({ type: "write", table: this.name, as: this.caller, op });
  }

  #read(): TableState {
    return this.#store.readable(this.name, this.caller);
  }

  get size(): number {
    return this.#read().size;
  }

  info(): TableInfo {
    const t = this.#read();
    return { name: t.name, type: t.type, access: t.access, owner: t.owner, heir: t.heir?.pid, size: t.size };
  }

  get(key: K): V | undefined {
    return this.#read().read(key)[0] as V | undefined;
  }

  has(key: K): boolean {
    return this.#read().read(key).length > 0;
  }

  lookup(key: K): V[] {
    return [...this.#read().read(key)] as V[];
  }

  select(predicate: (key: K, value: V) => boolean): Array<[K, V]> {
    const out: Array<[K, V]> = [];
    for (const slot of this.#read().slots()) {
      for (const value of slot.values)
        if (predicate(slot.key as K, value as V)) out.push([slot.key as K, value as V]);
    }
    return out;
  }

  entries(): Array<[K, V]> {
    return this.select(() => true);
  }

  keys(): K[] {
    const out: K[] = [];
    for (const slot of this.#read().slots()) out.push(slot.key as K);
    return out;
  }

  async put(key: K, value: V): Promise<void> {
    await this.#write({ op: "put", key, value });
  }

  putNew(key: K, value: V): Promise<boolean> {
    return this.#write({ op: "putNew", key, value }) as Promise<boolean>;
  }

  delete(key: K): Promise<boolean> {
    return this.#write({ op: "delete", key }) as Promise<boolean>;
  }

  deleteObject(key: K, value: V): Promise<boolean> {
    return this.#write({ op: "deleteObject", key, value }) as Promise<boolean>;
  }

  take(key: K): Promise<V[]> {
    return this.#write({ op: "take", key }) as Promise<V[]>;
  }

  update(key: K, fn: (old: V | undefined) => V): Promise<V> {
    return this.#write({ op: "update", key, fn: fn as (old: unknown) => unknown }) as Promise<V>;
  }

  incr(key: K, by = 1, initial?: number): Promise<number> {
    return this.#write({ op: "incr", key, by, initial }) as Promise<number>;
  }

  selectDelete(predicate: (key: K, value: V) => boolean): Promise<number> {
    return this.#write({
      op: "selectDelete",
      predicate: predicate as (key: Key, value: unknown) => boolean,
    }) as Promise<number>;
  }

  transaction<R>(
    fn: (tx: Transaction<V, K>) => R | Promise<R>,
    options: TransactionOptions = {},
  ): Promise<R> {
    const timeout = options.timeout ?? this.#transactionTimeout;
    if (!(timeout >= 0))
      return Promise.reject(new InvalidArgumentError(`transaction timeout must be >= 0 ms, got ${timeout}`));
    return this.request(
      {
        type: "transaction",
        table: this.name,
        as: this.caller,
        fn: fn as unknown as (tx: TransactionView) => unknown,
        timeout,
      },
      // The service bounds the transaction itself; the call waits for its verdict.
      Number.POSITIVE_INFINITY,
    ) as Promise<R>;
  }

  subscribe(listener: (change: Change<V, K>) => unknown): () => void {
    const table = this.#read();
    const sub: Subscriber = { caller: this.caller, listener: listener as (change: Change) => unknown };
    table.subscribers.add(sub);
    return () => {
      table.subscribers.delete(sub);
    };
  }

  async giveAway(to: string, data?: unknown): Promise<void> {
    await this.request({ type: "give_away", table: this.name, as: this.caller, to, data });
  }

  async setHeir(heir: Heir | undefined): Promise<void> {
    await this.request({ type: "set_heir", table: this.name, as: this.caller, heir });
  }

  async drop(): Promise<void> {
    await this.request({ type: "drop", table: this.name, as: this.caller });
  }
}
