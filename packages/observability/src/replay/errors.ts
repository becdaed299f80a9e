/**
 * The typed failures of record / replay: a request that does not match the recording, a replay that ran
 * past its end, a recording that cannot be read or written, and a recorded failure that was not a
 * ProviderError.
 */

/** Base class of the errors a replay raises about the recording itself (not about the model). */
export class ReplayError extends Error {
  /**
   * @param message - what went wrong.
   * @param options - the underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplayError";
  }
}

/** Details of a {@link ReplayMismatchError}. */
export interface ReplayMismatchInit {
  /** Position of the exchange in the recording, from 0. */
  readonly index: number;
  /** How many exchanges the recording holds. */
  readonly total: number;
  /** The operation called (`complete`, `stream`, `countTokens`). */
  readonly operation: string;
  /** Where the requests differ: `operation`, or a field path of the request such as `messages[1].content`. */
  readonly path: string;
  /** The recorded value at `path` (`undefined` when the recording has no such field). */
  readonly expected: unknown;
  /** The value at `path` in the request made now (`undefined` when it has no such field). */
  readonly actual: unknown;
  /** The concise rendering of expected vs actual used in the message. */
  readonly detail: string;
}

/** A request differs from the recorded one: which exchange, which field, expected vs actual. */
export class ReplayMismatchError extends ReplayError {
  /** Position of the exchange in the recording, from 0. */
  readonly index: number;
  /** How many exchanges the recording holds. */
  readonly total: number;
  /** The operation called. */
  readonly operation: string;
  /** The first field path (in canonical key order) where the requests differ, or `operation`. */
  readonly path: string;
  /** The recorded value at `path`. */
  readonly expected: unknown;
  /** The value at `path` now. */
  readonly actual: unknown;

  /** @param init - where and how the request differs. */
  constructor(init: ReplayMismatchInit) {
    super(
      `replay mismatch at exchange ${init.index + 1} of ${init.total} (${init.operation}): ` +
        `${init.path === "operation" ? "operation" : `request.${init.path}`} differs: ${init.detail}`,
    );
    this.name = "ReplayMismatchError";
    this.index = init.index;
    this.total = init.total;
    this.operation = init.operation;
    this.path = init.path;
    this.expected = init.expected;
    this.actual = init.actual;
  }
}

/** A request arrived after every recorded exchange had been replayed. */
export class ReplayExhaustedError extends ReplayError {
  /** How many exchanges the recording holds (all used). */
  readonly total: number;
  /** The operation called. */
  readonly operation: string;

  /**
   * @param total - the recording's size.
   * @param operation - the operation called.
   */
  constructor(total: number, operation: string) {
    super(
      `replay exhausted: the recording holds ${total} exchange${total === 1 ? "" : "s"}, all used, ` +
        `and another ${operation} request arrived`,
    );
    this.name = "ReplayExhaustedError";
    this.total = total;
    this.operation = operation;
  }
}

/** A recording that is not valid JSONL of this format (a bad line, an unknown version). */
export class RecordingFormatError extends ReplayError {
  /** The 1-based line (or exchange position) at fault. */
  readonly line: number;

  /**
   * @param line - the 1-based line at fault.
   * @param reason - what is wrong with it.
   * @param options - the underlying error, if any.
   */
  constructor(line: number, reason: string, options?: ErrorOptions) {
    super(`invalid recording at line ${line}: ${reason}`, options);
    this.name = "RecordingFormatError";
    this.line = line;
  }
}

/** An exchange could not be written to the recording (the call that made it fails with this error). */
export class RecordingWriteError extends Error {
  /** @param cause - the sink's (or the file system's) error. */
  constructor(cause: unknown) {
    super(`could not write the recording: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "RecordingWriteError";
  }
}

/**
 * A recorded failure that was not a ProviderError (a provider broke its contract, or a wrapper threw its
 * own error), rethrown on replay with the original name and message.
 */
export class ReplayedError extends Error {
  /** The `name` of the original error. */
  readonly originalName: string;

  /**
   * @param originalName - the original error's name.
   * @param message - its message.
   */
  constructor(originalName: string, message: string) {
    super(message);
    this.name = "ReplayedError";
    this.originalName = originalName;
  }
}
