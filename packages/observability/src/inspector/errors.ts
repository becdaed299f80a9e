/**
 * The typed failures of the inspector server: bad options, a port it cannot listen on, a client it had
 * to drop, and a fault while relaying events.
 */

/** What went wrong, for code that branches on it. */
export type InspectorErrorCode =
  /** An option is invalid (a host other than loopback, a bad port, a UI URL that is not http(s)). */
  | "invalid_option"
  /** The server could not listen (the port is taken, or not allowed). */
  | "listen"
  /** A client fell too far behind and was disconnected. */
  | "slow_client"
  /** A client's socket or the server failed after it started. */
  | "socket"
  /** Relaying an inspection event or a runtime fact failed. */
  | "relay";

/** A failure of the inspector server. */
export class InspectorError extends Error {
  /** What went wrong. */
  readonly code: InspectorErrorCode;

  /**
   * @param code - what went wrong.
   * @param message - the details.
   * @param options - the underlying error, if any.
   */
  constructor(code: InspectorErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InspectorError";
    this.code = code;
  }
}
