/**
 * The runtime's typed errors. Each carries a stable `code` so callers can branch without `instanceof`
 * (for example across a future network transport) and the data needed to act on it.
 */
import { type ExitReason, formatReason } from "./ExitReason.js";

/** Stable codes of {@link RuntimeError}. */
export type RuntimeErrorCode =
  | "noproc"
  | "timeout"
  | "exit"
  | "calling_self"
  | "mailbox_full"
  | "name_taken"
  | "invalid_child_spec"
  | "invalid_argument"
  | "start_failed"
  | "not_a_server"
  | "access"
  | "no_table"
  | "system_stopped";

/** Base class of every error the runtime throws or rejects with. */
export class RuntimeError extends Error {
  /** A stable machine-readable code. */
  readonly code: RuntimeErrorCode;

  /**
   * @param code - the stable code.
   * @param message - a human-readable message.
   * @param options - standard `ErrorOptions` (e.g. `cause`).
   */
  constructor(code: RuntimeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A call or stop addressed a process that does not exist (unknown name, or dead pid). */
export class NoProcError extends RuntimeError {
  readonly address: string;

  /** @param address - the address that resolved to nothing. */
  constructor(address: string) {
    super("noproc", `no process at address ${JSON.stringify(address)}`);
    this.address = address;
  }
}

/** A call got no reply within its timeout. The server keeps running; a late reply is dropped. */
export class CallTimeoutError extends RuntimeError {
  readonly address: string;
  readonly timeoutMs: number;
  readonly correlationId: number;

  /**
   * @param address - the callee.
   * @param timeoutMs - the timeout that elapsed.
   * @param correlationId - the call's correlation id.
   */
  constructor(address: string, timeoutMs: number, correlationId: number) {
    super(
      "timeout",
      `call to ${JSON.stringify(address)} timed out after ${timeoutMs} ms (#${correlationId})`,
    );
    this.address = address;
    this.timeoutMs = timeoutMs;
    this.correlationId = correlationId;
  }
}

/** The callee exited before replying; `reason` is its exit reason. */
export class CallExitError extends RuntimeError {
  readonly address: string;
  readonly reason: ExitReason;

  /**
   * @param address - the callee.
   * @param reason - why the callee exited.
   */
  constructor(address: string, reason: ExitReason) {
    const cause = typeof reason === "object" && "error" in reason ? reason.error : undefined;
    super("exit", `${JSON.stringify(address)} exited during the call: ${formatReason(reason)}`, { cause });
    this.address = address;
    this.reason = reason;
  }
}

/** A server called itself, which could only deadlock. */
export class CallingSelfError extends RuntimeError {
  readonly address: string;

  /** @param address - the server's own address. */
  constructor(address: string) {
    super("calling_self", `${JSON.stringify(address)} called itself`);
    this.address = address;
  }
}

/** A bounded mailbox refused a message (`reject`) or dropped a queued call (`drop-oldest`). */
export class MailboxFullError extends RuntimeError {
  readonly address: string;
  readonly capacity: number;
  readonly policy: "reject" | "drop-oldest";

  /**
   * @param address - the recipient.
   * @param capacity - the mailbox's capacity.
   * @param policy - the overflow policy that applied.
   */
  constructor(address: string, capacity: number, policy: "reject" | "drop-oldest") {
    super(
      "mailbox_full",
      policy === "reject"
        ? `mailbox of ${JSON.stringify(address)} is full (${capacity}); message rejected`
        : `mailbox of ${JSON.stringify(address)} overflowed (${capacity}); this queued call was dropped`,
    );
    this.address = address;
    this.capacity = capacity;
    this.policy = policy;
  }
}

/** A name is already registered to another live process. */
export class NameTakenError extends RuntimeError {
  readonly registeredName: string;
  readonly holder: string;

  /**
   * @param name - the contested name.
   * @param holder - the pid holding it.
   */
  constructor(name: string, holder: string) {
    super("name_taken", `name ${JSON.stringify(name)} is already registered to ${holder}`);
    this.registeredName = name;
    this.holder = holder;
  }
}

/** A child spec or supervisor flag set failed validation; `reason` says which field and why. */
export class InvalidChildSpecError extends RuntimeError {
  readonly reason: string;

  /**
   * @param reason - what is wrong (e.g. `missing_id`, `bad_combination`).
   * @param detail - a readable explanation.
   */
  constructor(reason: string, detail: string) {
    super("invalid_child_spec", `invalid supervisor spec (${reason}): ${detail}`);
    this.reason = reason;
  }
}

/** An argument to a runtime function is out of its domain. */
export class InvalidArgumentError extends RuntimeError {
  /** @param message - what was wrong. */
  constructor(message: string) {
    super("invalid_argument", message);
  }
}

/** A process failed to start: its `init` threw or rejected, returned `ignore`, or it could not register. */
export class StartError extends RuntimeError {
  readonly reason: "ignore" | ExitReason;

  /** @param reason - `ignore`, or the failure as an exit reason (a thrown error is `{ error }`). */
  constructor(reason: "ignore" | ExitReason) {
    const cause = typeof reason === "object" && "error" in reason ? reason.error : undefined;
    super(
      "start_failed",
      reason === "ignore" ? "init returned ignore" : `failed to start: ${formatReason(reason)}`,
      { cause },
    );
    this.reason = reason;
  }
}

/** A call was addressed to a process that is not a server (for example a plain XState machine). */
export class NotAServerError extends RuntimeError {
  readonly address: string;

  /** @param address - the process that cannot answer calls. */
  constructor(address: string) {
    super("not_a_server", `${JSON.stringify(address)} is not a server and cannot answer calls`);
    this.address = address;
  }
}

/** The actor system has been shut down. */
export class SystemStoppedError extends RuntimeError {
  constructor() {
    super("system_stopped", "the actor system is stopped");
  }
}
