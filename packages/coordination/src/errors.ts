/** The typed errors of the coordination package. */

/** What went wrong, as a stable code for callers to branch on. */
export type CoordinationErrorCode =
  | "invalid_message"
  | "agent_paused"
  | "agent_timeout"
  | "cancelled"
  | "agent_crashed"
  | "manager_failed"
  | "aggregation_failed"
  | "pool_exhausted"
  | "not_found"
  | "quorum_not_reached"
  | "workflow_failed";

/** Base class of every coordination error. */
export class CoordinationError extends Error {
  /** The error's code. */
  readonly code: CoordinationErrorCode;
  /**
   * @param code - the error's code.
   * @param message - what happened.
   * @param options - the cause.
   */
  constructor(code: CoordinationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CoordinationError";
    this.code = code;
  }
}

/** An AgentMessage failed validation (its envelope, or its payload against the receiver's schema). */
export class InvalidMessageError extends CoordinationError {
  /** What was wrong, one line per issue. */
  readonly issues: readonly string[];
  /**
   * @param issues - what was wrong.
   * @param cause - the validation error.
   */
  constructor(issues: readonly string[], cause?: unknown) {
    super("invalid_message", `invalid agent message: ${issues.join("; ")}`, { cause });
    this.name = "InvalidMessageError";
    this.issues = issues;
  }
}

/** An agent's run paused for human approval where an orchestration needs an answer. */
export class AgentPausedError extends CoordinationError {
  /**
   * @param agent - the agent's name or id.
   * @param calls - the tool calls waiting for approval.
   */
  readonly agent: string;
  readonly calls: readonly string[];
  constructor(agent: string, calls: readonly string[]) {
    super("agent_paused", `agent ${agent} paused for approval of ${calls.join(", ")}`);
    this.name = "AgentPausedError";
    this.agent = agent;
    this.calls = calls;
  }
}

/** An agent did not answer within its time limit (only that agent fails). */
export class AgentTimeoutError extends CoordinationError {
  /**
   * @param agent - the agent's name or id.
   * @param ms - the limit.
   */
  readonly agent: string;
  readonly ms: number;
  constructor(agent: string, ms: number) {
    super("agent_timeout", `agent ${agent} did not finish within ${ms} ms`);
    this.name = "AgentTimeoutError";
    this.agent = agent;
    this.ms = ms;
  }
}

/** An orchestration or a request was cancelled. */
export class CancelledError extends CoordinationError {
  /** @param reason - the abort reason. */
  constructor(reason?: unknown) {
    super("cancelled", `cancelled${reason instanceof Error ? `: ${reason.message}` : ""}`, { cause: reason });
    this.name = "CancelledError";
  }
}
