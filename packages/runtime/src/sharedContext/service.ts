/**
 * The shared-context service: a server process whose state is the `Store` of tables. Every write,
 * table creation, ownership change and transaction is a call to it, so they are serialized by its
 * mailbox; it monitors each table's owner and, on the owner's `DOWN`, hands the table to the heir or
 * deletes it. Handlers never throw: an error is replied to the caller as `{ ok: false, error }`.
 */
import type { ActorSystem } from "../ActorSystem.js";
import { InvalidArgumentError, NoProcError } from "../errors.js";
import { isThenable } from "../internal/thenable.js";
import {
  type CallResult,
  type DownMessage,
  defineServer,
  type ExitMessage,
  type MonitorRef,
  reply,
  type ServerContext,
} from "../Server.js";
import { AccessError, NoTableError, TableExistsError, TransactionTimeoutError } from "./errors.js";
import type { Key } from "./keys.js";
import {
  incr,
  Overlay,
  put,
  putNew,
  remove,
  removeObject,
  selectDelete,
  TableState,
  TransactionView,
  take,
  update,
} from "./table.js";
import type { Access, Change, EtsTransferMessage, Heir, TableType } from "./types.js";

/** A single-object (or predicate) write, applied atomically by the service. */
export type WriteOp =
  | { readonly op: "put"; readonly key: Key; readonly value: unknown }
  | { readonly op: "putNew"; readonly key: Key; readonly value: unknown }
  | { readonly op: "delete"; readonly key: Key }
  | { readonly op: "deleteObject"; readonly key: Key; readonly value: unknown }
  | { readonly op: "take"; readonly key: Key }
  | { readonly op: "update"; readonly key: Key; readonly fn: (old: unknown) => unknown }
  | {
      readonly op: "incr";
      readonly key: Key;
      readonly by: number;
      readonly initial: number | undefined;
    }
  | { readonly op: "selectDelete"; readonly predicate: (key: Key, value: unknown) => boolean };

/** The service's requests; `as` is the caller identity a handle declares. */
export type Request =
  | {
      readonly type: "new_table";
      readonly as: string | undefined;
      readonly name: string;
      readonly tableType: TableType;
      readonly access: Access;
      readonly owner: string;
      readonly heir: Heir | undefined;
    }
  | { readonly type: "write"; readonly table: string; readonly as: string | undefined; readonly op: WriteOp }
  | {
      readonly type: "transaction";
      readonly table: string;
      readonly as: string | undefined;
      readonly fn: (tx: TransactionView) => unknown;
      readonly timeout: number;
    }
  | {
      readonly type: "give_away";
      readonly table: string;
      readonly as: string | undefined;
      readonly to: string;
      readonly data: unknown;
    }
  | {
      readonly type: "set_heir";
      readonly table: string;
      readonly as: string | undefined;
      readonly heir: Heir | undefined;
    }
  | { readonly type: "drop"; readonly table: string; readonly as: string | undefined };

/** The service's replies: a value, or the error to rethrow in the caller. */
export type Reply =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

const EVENT_WRITE = ["normandy", "shared_context", "write"] as const;
const EVENT_SUBSCRIBER_FAILED = ["normandy", "shared_context", "subscriber_failed"] as const;
const EVENT_TRANSFER = ["normandy", "shared_context", "transfer"] as const;
const EVENT_TABLE_DELETED = ["normandy", "shared_context", "table_deleted"] as const;

/**
 * The tables of one shared context. The service owns it as its state and is its only writer; handles
 * read it directly. It serializes (for the inspector) to the table names and sizes only.
 */
export class Store {
  readonly system: ActorSystem;
  readonly tables = new Map<string, TableState>();
  /** The pid of the service that owns the store (set by its `init`), reported with every telemetry event. */
  service: string | undefined = undefined;
  /** The service's monitor of each owner pid. */
  readonly #monitors = new Map<string, MonitorRef>();

  /** @param system - the actor system the service runs on. */
  constructor(system: ActorSystem) {
    this.system = system;
  }

  /**
   * Resolves a pid or name to a pid (a string that is neither is returned as is).
   *
   * @param address - a pid or name.
   * @returns the pid.
   */
  pidOf(address: string): string {
    return this.system.whereis(address) ?? address;
  }

  /**
   * Whether `caller` owns `table`.
   *
   * @param table - the table.
   * @param caller - a pid or name, or undefined.
   * @returns true for the owner.
   */
  isOwner(table: TableState, caller: string | undefined): boolean {
    return caller !== undefined && (caller === table.owner || this.system.whereis(caller) === table.owner);
  }

  /**
   * Whether `caller` may read `table`.
   *
   * @param table - the table.
   * @param caller - a pid or name, or undefined.
   * @returns false only for a private table and a non-owner.
   */
  canRead(table: TableState, caller: string | undefined): boolean {
    return table.access !== "private" || this.isOwner(table, caller);
  }

  /**
   * The table, if `caller` may read it.
   *
   * @param name - the table name.
   * @param caller - a pid or name, or undefined.
   * @returns the table.
   * @throws NoTableError, AccessError.
   */
  readable(name: string, caller: string | undefined): TableState {
    const table = this.#get(name);
    if (!this.canRead(table, caller)) throw new AccessError(name, caller, "read");
    return table;
  }

  /**
   * The table, if `caller` may write it.
   *
   * @param name - the table name.
   * @param caller - a pid or name, or undefined.
   * @returns the table.
   * @throws NoTableError, AccessError.
   */
  writable(name: string, caller: string | undefined): TableState {
    const table = this.#get(name);
    if (table.access !== "public" && !this.isOwner(table, caller))
      throw new AccessError(name, caller, "write");
    return table;
  }

  /**
   * The table, if `caller` owns it.
   *
   * @param name - the table name.
   * @param caller - a pid or name, or undefined.
   * @returns the table.
   * @throws NoTableError, AccessError.
   */
  owned(name: string, caller: string | undefined): TableState {
    const table = this.#get(name);
    if (!this.isOwner(table, caller)) throw new AccessError(name, caller, "owner");
    return table;
  }

  #get(name: string): TableState {
    const table = this.tables.get(name);
    if (table === undefined) throw new NoTableError(name);
    return table;
  }

  /**
   * Monitors an owner unless already monitored.
   *
   * @param pid - the owner.
   * @param ctx - the service's context.
   */
  watch(pid: string, ctx: ServerContext): void {
    if (!this.#monitors.has(pid)) this.#monitors.set(pid, ctx.monitor(pid));
  }

  /**
   * Stops monitoring a former owner that owns no table any more.
   *
   * @param pid - the former owner.
   * @param ctx - the service's context.
   */
  unwatchIfIdle(pid: string, ctx: ServerContext): void {
    for (const table of this.tables.values()) if (table.owner === pid) return;
    const ref = this.#monitors.get(pid);
    if (ref === undefined) return;
    this.#monitors.delete(pid);
    ctx.demonitor(ref);
  }

  /**
   * Forgets the monitor of an owner that went down.
   *
   * @param pid - the owner.
   */
  forget(pid: string): void {
    this.#monitors.delete(pid);
  }

  /** Deletes every table (the service has exited). */
  close(): void {
    for (const table of this.tables.values()) table.destroy();
    this.tables.clear();
    this.#monitors.clear();
  }

  /** What the inspector shows: each table's name and size. */
  toJSON(): { tables: Record<string, number> } {
    const tables: Record<string, number> = {};
    for (const [name, table] of this.tables) tables[name] = table.size;
    return { tables };
  }

  /**
   * Publishes committed changes: telemetry, then each subscriber that may still read the table.
   *
   * @param table - the table written.
   * @param changes - the changes, in order.
   */
  publish(table: TableState, changes: readonly Change[]): void {
    const telemetry = this.system.telemetry;
    for (const change of changes) {
      if (telemetry.active)
        telemetry.emit(
          EVENT_WRITE,
          {},
          { service: this.service, table: table.name, key: change.key, kind: change.kind },
        );
      if (table.subscribers.size === 0) continue;
      for (const sub of [...table.subscribers]) {
        if (!table.subscribers.has(sub) || !this.canRead(table, sub.caller)) continue;
        try {
          const result = sub.listener(change);
          if (isThenable(result)) result.then(undefined, (error: unknown) => this.#failed(change, error));
        } catch (error) {
          this.#failed(change, error);
        }
      }
    }
  }

  #failed(change: Change, error: unknown): void {
    this.system.telemetry.report(
      EVENT_SUBSCRIBER_FAILED,
      { table: change.table, key: change.key, kind: change.kind },
      error,
      `a subscriber of shared-context table ${JSON.stringify(change.table)} threw`,
    );
  }

  /**
   * Makes `to` the owner of `table` and sends it `ETS-TRANSFER`.
   *
   * @param table - the table.
   * @param to - the new owner's pid.
   * @param data - the message's `data`.
   * @param reason - why (for telemetry).
   * @param ctx - the service's context.
   */
  transfer(
    table: TableState,
    to: string,
    data: unknown,
    reason: "heir" | "give_away",
    ctx: ServerContext,
  ): void {
    const from = table.owner;
    table.owner = to;
    this.watch(to, ctx);
    this.unwatchIfIdle(from, ctx);
    const message: EtsTransferMessage = { type: "ETS-TRANSFER", table: table.name, from, data };
    ctx.send(to, message);
    const telemetry = this.system.telemetry;
    if (telemetry.active)
      telemetry.emit(EVENT_TRANSFER, {}, { service: this.service, table: table.name, from, to, reason });
  }

  /**
   * Deletes a table.
   *
   * @param table - the table.
   * @param reason - `drop` or `owner_exit` (for telemetry).
   * @param ctx - the service's context.
   */
  delete(table: TableState, reason: "drop" | "owner_exit", ctx: ServerContext): void {
    this.tables.delete(table.name);
    table.destroy();
    this.unwatchIfIdle(table.owner, ctx);
    const telemetry = this.system.telemetry;
    if (telemetry.active)
      telemetry.emit(
        EVENT_TABLE_DELETED,
        {},
        { service: this.service, table: table.name, owner: table.owner, reason },
      );
  }
}

const ok = (value: unknown, store: Store): CallResult<Store, Reply> => reply({ ok: true, value }, store);
const fail = (error: unknown, store: Store): CallResult<Store, Reply> => reply({ ok: false, error }, store);

function applyWrite(store: Store, table: TableState, op: WriteOp): unknown {
  const changes: Change[] = [];
  let value: unknown;
  switch (op.op) {
    case "put":
      put(table, op.key, op.value, changes);
      break;
    case "putNew":
      value = putNew(table, op.key, op.value, changes);
      break;
    case "delete":
      value = remove(table, op.key, changes);
      break;
    case "deleteObject":
      value = removeObject(table, op.key, op.value, changes);
      break;
    case "take":
      value = take(table, op.key, changes);
      break;
    case "update":
      value = update(table, op.key, op.fn, changes);
      break;
    case "incr":
      value = incr(table, op.key, op.by, op.initial, changes);
      break;
    case "selectDelete":
      value = selectDelete(table, op.predicate, changes);
      break;
  }
  store.publish(table, changes);
  return value;
}

function handleSync(
  req: Exclude<Request, { type: "transaction" }>,
  caller: string | undefined,
  store: Store,
  ctx: ServerContext,
): unknown {
  switch (req.type) {
    case "new_table": {
      if (store.tables.has(req.name)) throw new TableExistsError(req.name);
      const owner = store.pidOf(req.owner);
      if (!store.system.isAlive(owner)) throw new NoProcError(req.owner);
      const heir = liveHeir(store, req.heir);
      store.tables.set(req.name, new TableState(req.name, req.tableType, req.access, owner, heir));
      store.watch(owner, ctx);
      return undefined;
    }
    case "write":
      return applyWrite(store, store.writable(req.table, caller), req.op);
    case "give_away": {
      const table = store.owned(req.table, caller);
      const to = store.pidOf(req.to);
      if (!store.system.isAlive(to)) throw new NoProcError(req.to);
      if (to === table.owner)
        throw new InvalidArgumentError(`giveAway: ${req.to} already owns ${JSON.stringify(req.table)}`);
      store.transfer(table, to, req.data, "give_away", ctx);
      return undefined;
    }
    case "set_heir": {
      store.owned(req.table, caller).heir = liveHeir(store, req.heir);
      return undefined;
    }
    case "drop":
      store.delete(store.owned(req.table, caller), "drop", ctx);
      return undefined;
  }
}

/** An heir with its pid resolved, or undefined if it is not alive (ETS ignores a dead heir). */
function liveHeir(store: Store, heir: Heir | undefined): Heir | undefined {
  if (heir === undefined) return undefined;
  const pid = store.pidOf(heir.pid);
  return store.system.isAlive(pid) ? { pid, data: heir.data } : undefined;
}

async function runTransaction(
  req: Extract<Request, { type: "transaction" }>,
  caller: string | undefined,
  store: Store,
): Promise<CallResult<Store, Reply>> {
  let table: TableState;
  try {
    table = store.writable(req.table, caller);
  } catch (error) {
    return fail(error, store);
  }
  const overlay = new Overlay(table);
  const tx = new TransactionView(overlay);
  const clock = store.system.clock;
  let timer: unknown;
  const limit = new Promise<never>((_, reject) => {
    if (Number.isFinite(req.timeout))
      timer = clock.setTimeout(
        () => reject(new TransactionTimeoutError(req.table, req.timeout)),
        req.timeout,
      );
  });
  try {
    const value = await Promise.race([req.fn(tx), limit]);
    tx.close();
    // the service died meanwhile (its tables are gone): nothing to commit
    if (table.deleted) throw new NoTableError(req.table);
    overlay.commit();
    store.publish(table, tx.changes);
    return ok(value, store);
  } catch (error) {
    tx.close();
    return fail(error, store);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
}

/** The service behaviour; its `init` argument is the store it will own. */
export const sharedContextService = defineServer({
  name: "shared_context",
  init: (store: Store, ctx) => {
    store.service = ctx.self;
    return store;
  },
  handleCall: (
    req: Request,
    from,
    store: Store,
    ctx,
  ): CallResult<Store, Reply> | Promise<CallResult<Store, Reply>> => {
    // A call from a process carries its pid, which outranks the identity a handle declares.
    const caller = from.pid ?? req.as;
    if (req.type === "transaction") return runTransaction(req, caller, store);
    try {
      return ok(handleSync(req, caller, store, ctx), store);
    } catch (error) {
      return fail(error, store);
    }
  },
  handleInfo: (msg: DownMessage | ExitMessage, store: Store, ctx) => {
    if (msg.type === "DOWN") ownerDown(store, msg.pid, ctx);
    return store;
  },
});

/** ETS on an owner's exit: each of its tables goes to a live heir (not itself) or is deleted. */
function ownerDown(store: Store, pid: string, ctx: ServerContext): void {
  store.forget(pid);
  for (const table of [...store.tables.values()]) {
    if (table.owner !== pid) continue;
    const heir = table.heir;
    if (heir !== undefined && heir.pid !== pid && store.system.isAlive(heir.pid))
      store.transfer(table, heir.pid, heir.data, "heir", ctx);
    else store.delete(table, "owner_exit", ctx);
  }
}
