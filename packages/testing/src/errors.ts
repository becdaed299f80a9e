/** The errors the testing package throws. */

/**
 * A script turn that does not have a valid shape (an unknown key, a wrong type, text and json together, …).
 * Thrown by `parseScript` and by the server's `append`/`reset`; a bad turn returned by a turn function is
 * answered with HTTP 500 carrying this message.
 */
export class ScriptError extends Error {
  /** @param message - what is wrong, prefixed with where (e.g. `turn 2: toolCalls[0].name …`). */
  constructor(message: string) {
    super(message);
    this.name = "ScriptError";
  }
}
