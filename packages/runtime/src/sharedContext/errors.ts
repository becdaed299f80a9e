/**
 * The typed errors of the shared-context store. `AccessError` and `NoTableError` use the runtime's
 * `access` and `no_table` codes; a taken table name and a bad counter are arguments out of their domain
 * (ETS's `badarg`), so they extend `InvalidArgumentError`; a transaction that outlives its time limit
 * has the `timeout` code.
 */
import { InvalidArgumentError, RuntimeError } from "../errors.js";

/** What an access check was for: reading, writing, or an owner-only operation (give away, heir, drop). */
export type AccessOperation = "read" | "write" | "owner";

/**
 * A caller lacks the right for an operation on a table (ETS `badarg` with cause `access`): a write to a
 * `protected` table, any access to a `private` one, or an owner-only operation, by a non-owner.
 */
export class AccessError extends RuntimeError {
  /** The table. */
  readonly table: string;
  /** The caller's identity (`undefined` outside any process). */
  readonly caller: string | undefined;
  /** What was refused. */
  readonly operation: AccessOperation;

  /**
   * @param table - the table.
   * @param caller - the caller's pid or name, or undefined.
   * @param operation - what was refused.
   */
  constructor(table: string, caller: string | undefined, operation: AccessOperation) {
    super(
      "access",
      `${caller === undefined ? "a caller outside any process" : JSON.stringify(caller)} may not ${
        operation === "owner" ? "perform an owner-only operation on" : operation
      } table ${JSON.stringify(table)}`,
    );
    this.table = table;
    this.caller = caller;
    this.operation = operation;
  }
}

/** No table has this name: it was never created, was dropped, or died with its owner or the service. */
export class NoTableError extends RuntimeError {
  /** The table name. */
  readonly table: string;

  /** @param table - the table name. */
  constructor(table: string) {
    super("no_table", `no table ${JSON.stringify(table)}`);
    this.table = table;
  }
}

/** `newTable` was given a name that an existing table already has (code `invalid_argument`). */
export class TableExistsError extends InvalidArgumentError {
  /** The table name. */
  readonly table: string;

  /** @param table - the taken name. */
  constructor(table: string) {
    super(`table ${JSON.stringify(table)} already exists`);
    this.table = table;
  }
}

/**
 * `incr` found no object under the key and was given no initial value (`missing_key`), or found a
 * value that is not a number (`not_a_number`); code `invalid_argument`, as ETS's `badarg`.
 */
export class CounterError extends InvalidArgumentError {
  /** The table. */
  readonly table: string;
  /** The key. */
  readonly key: unknown;
  /** Why the counter could not be updated. */
  readonly reason: "missing_key" | "not_a_number";

  /**
   * @param table - the table.
   * @param key - the key.
   * @param reason - `missing_key` or `not_a_number`.
   */
  constructor(table: string, key: unknown, reason: "missing_key" | "not_a_number") {
    super(
      reason === "missing_key"
        ? `incr: no object under key ${JSON.stringify(key)} in ${JSON.stringify(table)} and no initial value`
        : `incr: the value under key ${JSON.stringify(key)} in ${JSON.stringify(table)} is not a number`,
    );
    this.table = table;
    this.key = key;
    this.reason = reason;
  }
}

/** A transaction did not settle within its time limit; its writes were discarded (code `timeout`). */
export class TransactionTimeoutError extends RuntimeError {
  /** The table. */
  readonly table: string;
  /** The limit that elapsed, in ms. */
  readonly timeoutMs: number;

  /**
   * @param table - the table.
   * @param timeoutMs - the limit.
   */
  constructor(table: string, timeoutMs: number) {
    super(
      "timeout",
      `transaction on ${JSON.stringify(table)} did not settle within ${timeoutMs} ms; its writes were discarded`,
    );
    this.table = table;
    this.timeoutMs = timeoutMs;
  }
}
