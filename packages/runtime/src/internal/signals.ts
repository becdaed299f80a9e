/**
 * The hidden link from an `EXIT` message to the process it came from. A symbol key: invisible to
 * JSON (the inspector) and to user code that reads `from`, `reason`; used by supervisors to find the
 * child record without a pid-keyed table.
 */
export const EXIT_SOURCE: unique symbol = Symbol("normandy.exitSource");
