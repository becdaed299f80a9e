/**
 * Trapped exit signals as `EXIT` messages, with a hidden link to the process they came from: a
 * non-enumerable symbol key, invisible to JSON (the inspector), to equality checks and to user code
 * that reads `from` and `reason`. Supervisors use it to find the child record without a pid table.
 */
import type { ExitReason } from "../ExitReason.js";
import type { ExitMessage } from "../Server.js";
import type { Process } from "./Process.js";

/** The key of an `EXIT` message's source process. */
export const EXIT_SOURCE: unique symbol = Symbol("normandy.exitSource");

/**
 * Builds the `EXIT` message a trapping process receives.
 *
 * @param from - the process the signal came from, if known.
 * @param fromPid - its pid (also when the process object is not known).
 * @param reason - the exit reason.
 * @returns the message.
 */
export function exitMessage(
  from: Process | undefined,
  fromPid: string | undefined,
  reason: ExitReason,
): ExitMessage {
  const message = { type: "EXIT", from: fromPid, reason } as const;
  Object.defineProperty(message, EXIT_SOURCE, { value: from, enumerable: false });
  return message;
}

/**
 * The process an `EXIT` message came from.
 *
 * @param message - an `EXIT` message.
 * @returns the source process, if it was known.
 */
export function exitSource(message: ExitMessage): Process | undefined {
  return (message as { [EXIT_SOURCE]?: Process })[EXIT_SOURCE];
}
