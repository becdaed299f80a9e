/** Dead letters: messages that reached no handler. None is dropped without one of these being reported. */

/** Why a message became a dead letter. */
export type DeadLetterReason =
  /** no live process has that address */
  | "noproc"
  /** the recipient exited with the message still in its mailbox */
  | "exited"
  /** a full `drop-oldest` mailbox dropped it */
  | "overflow"
  /** the recipient has no handler for it (a server without `handleInfo`, a supervisor) */
  | "unexpected"
  /** a reply arrived after its call had timed out or its caller was gone */
  | "late_reply"
  /** the recipient rejected it as invalid (e.g. a payload that fails its schema) */
  | "invalid";

/** A message that reached no handler. */
export interface DeadLetter {
  /** The address it was sent to. */
  readonly to: string;
  /** The message (an XState event, or the payload of a cast or reply). */
  readonly message: unknown;
  /** Why it was not handled. */
  readonly reason: DeadLetterReason;
}
