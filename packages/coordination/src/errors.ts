/** The typed errors of the coordination package. */

/** What went wrong, as a stable code for callers to branch on. */
export type CoordinationErrorCode =
  | "invalid_message"
  | "agent_paused"
  | "agent_timeout"
  | "cancelled"
  | "manager_failed"
  | "aggregation_failed"
  | "pool_exhausted"
  | "not_found"
  | "quorum_not_reached"
  | "workflow_failed"
  | "workflow_timeout"
  | "workflow_interrupted"
  | "invalid_workflow"
  | "agent_failed"
  | "supervisor_error"
  | "all_failed"
  | "pool_stopped"
  | "not_checked_out";

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

/** One agent's failed run inside a combinator: which agent, its position, and what it threw. */
export interface AgentFailure {
  readonly ok: false;
  /** The agent's name. */
  readonly agent: string;
  /** Its position in the list of agents. */
  readonly index: number;
  /** What the run threw ({@link AgentTimeoutError} when it ran out of time). */
  readonly error: unknown;
  /** How long the run took, in ms. */
  readonly durationMs: number;
}

/** One agent's run failed where the orchestration needed every run to succeed (`all` with `failFast`). */
export class AgentFailedError extends CoordinationError {
  /** The agent's name. */
  readonly agent: string;
  /** Its position in the list of agents. */
  readonly index: number;
  /** @param failure - the failed run (its error becomes the cause). */
  constructor(failure: AgentFailure) {
    const why = failure.error instanceof Error ? failure.error.message : String(failure.error);
    super("agent_failed", `agent ${failure.agent} (#${failure.index}) failed: ${why}`, {
      cause: failure.error,
    });
    this.name = "AgentFailedError";
    this.agent = failure.agent;
    this.index = failure.index;
  }
}

/** Every agent of a `race` failed: there is no winner. */
export class AllAgentsFailedError extends CoordinationError {
  /** Each agent's failure, in agent order. */
  readonly failures: readonly AgentFailure[];
  /** @param failures - each agent's failure. */
  constructor(failures: readonly AgentFailure[]) {
    super("all_failed", `all ${failures.length} agents failed: ${failures.map((f) => f.agent).join(", ")}`, {
      cause: failures[0]?.error,
    });
    this.name = "AllAgentsFailedError";
    this.failures = failures;
  }
}

/** A quorum (`some` with `count`) cannot be reached: too many agents failed, or there are too few. */
export class QuorumNotReachedError extends CoordinationError {
  /** Successes needed. */
  readonly needed: number;
  /** Successes obtained before the quorum became impossible. */
  readonly succeeded: number;
  /** The failures, in the order they happened. */
  readonly failures: readonly AgentFailure[];
  /**
   * @param needed - successes needed.
   * @param succeeded - successes obtained.
   * @param failures - the failures.
   * @param agents - how many agents took part.
   */
  constructor(needed: number, succeeded: number, failures: readonly AgentFailure[], agents: number) {
    super(
      "quorum_not_reached",
      `quorum of ${needed} not reachable: ${succeeded} succeeded, ${failures.length} failed of ${agents} agents`,
      { cause: failures[0]?.error },
    );
    this.name = "QuorumNotReachedError";
    this.needed = needed;
    this.succeeded = succeeded;
    this.failures = failures;
  }
}

/** No pooled agent became free within the checkout's time limit. */
export class PoolExhaustedError extends CoordinationError {
  /** The limit waited, in ms. */
  readonly timeoutMs: number;
  /**
   * @param pool - the pool's name.
   * @param timeoutMs - the limit waited.
   */
  constructor(pool: string, timeoutMs: number) {
    super("pool_exhausted", `pool ${pool}: no agent became free within ${timeoutMs} ms`);
    this.name = "PoolExhaustedError";
    this.timeoutMs = timeoutMs;
  }
}

/** The pool was stopped: its waiters are turned away and its in-flight transactions aborted. */
export class PoolStoppedError extends CoordinationError {
  /**
   * @param pool - the pool's name.
   * @param cause - what the aborted transaction threw, if anything.
   */
  constructor(pool: string, cause?: unknown) {
    super("pool_stopped", `pool ${pool} is stopped`, { cause });
    this.name = "PoolStoppedError";
  }
}

/** An agent was checked in that is not checked out of this pool (never was, or already checked in). */
export class NotCheckedOutError extends CoordinationError {
  /** The agent's name. */
  readonly agent: string;
  /**
   * @param pool - the pool's name.
   * @param agent - the agent's name.
   */
  constructor(pool: string, agent: string) {
    super("not_checked_out", `pool ${pool}: agent ${agent} is not checked out of this pool`);
    this.name = "NotCheckedOutError";
    this.agent = agent;
  }
}

/** A hierarchical team's manager failed to plan (its run failed, or its output is not a delegation plan). */
export class ManagerFailedError extends CoordinationError {
  /** The manager's name. */
  readonly manager: string;
  /**
   * @param manager - the manager's name.
   * @param detail - what went wrong.
   * @param cause - the run's error or the plan's validation error.
   */
  constructor(manager: string, detail: string, cause?: unknown) {
    super("manager_failed", `manager ${manager} failed: ${detail}`, { cause });
    this.name = "ManagerFailedError";
    this.manager = manager;
  }
}

/** Aggregating the agents' results failed; the results are kept on the error so none is lost. */
export class AggregationFailedError extends CoordinationError {
  /** What was being aggregated: the orchestrator's per-agent outcomes. */
  readonly results: readonly unknown[];
  /**
   * @param results - the per-agent outcomes.
   * @param cause - the aggregator's error.
   */
  constructor(results: readonly unknown[], cause: unknown) {
    super("aggregation_failed", `aggregation failed${cause instanceof Error ? `: ${cause.message}` : ""}`, {
      cause,
    });
    this.name = "AggregationFailedError";
    this.results = results;
  }
}

/** A delegation plan named workers the team does not have (or named none where one is required). */
export class UnknownWorkerError extends CoordinationError {
  /** The unknown worker ids (`""` for a task that named none). */
  readonly workers: readonly string[];
  /** @param workers - the unknown ids. */
  constructor(workers: readonly string[]) {
    super(
      "not_found",
      `unknown worker${workers.length === 1 ? "" : "s"}: ${workers.map((w) => JSON.stringify(w)).join(", ")}`,
    );
    this.name = "UnknownWorkerError";
    this.workers = workers;
  }
}

/** An agent process answered a request with an error (its run failed there). */
export class AgentRunError extends CoordinationError {
  /** The class name of the error in the agent process (e.g. `ProviderError`). */
  readonly errorName: string;
  /** The remote error's own code, when it had one. */
  readonly remoteCode: string;
  /**
   * @param agent - the agent's id.
   * @param payload - the error reply's payload.
   */
  constructor(agent: string, payload: { code: string; message: string; details?: unknown }) {
    super("agent_failed", `agent ${agent} failed: ${payload.message}`);
    this.name = "AgentRunError";
    const details = payload.details as { name?: unknown } | undefined;
    this.errorName = typeof details?.name === "string" ? details.name : "Error";
    this.remoteCode = payload.code;
  }
}

/** A workflow failed: a step's error (the `cause`) that no transition handled, or its machine threw. */
export class WorkflowError extends CoordinationError {
  /** The workflow's name. */
  readonly workflow: string;
  /** The step that failed, when known. */
  readonly step: string | undefined;
  /**
   * @param workflow - the workflow's name.
   * @param message - what happened.
   * @param options - the failed step and the underlying error.
   */
  constructor(workflow: string, message: string, options: { step?: string; cause?: unknown } = {}) {
    super("workflow_failed", `workflow ${workflow}: ${message}`, { cause: options.cause });
    this.name = "WorkflowError";
    this.workflow = workflow;
    this.step = options.step;
  }
}

/** A workflow did not finish within its time limit (it was stopped and its snapshot discarded). */
export class WorkflowTimeoutError extends CoordinationError {
  /** The workflow's name. */
  readonly workflow: string;
  /** The limit, in ms. */
  readonly ms: number;
  /**
   * @param workflow - the workflow's name.
   * @param ms - the limit.
   */
  constructor(workflow: string, ms: number) {
    super("workflow_timeout", `workflow ${workflow} did not finish within ${ms} ms`);
    this.name = "WorkflowTimeoutError";
    this.workflow = workflow;
    this.ms = ms;
  }
}

/**
 * A workflow's process ended before the workflow did (system shutdown, a kill, a stop with a reason other
 * than `normal`). A durable workflow keeps its snapshot and resumes when started again with its key.
 */
export class WorkflowInterruptedError extends CoordinationError {
  /** The workflow's name. */
  readonly workflow: string;
  /** The process's exit reason (an `ExitReason` of the runtime). */
  readonly reason: unknown;
  /**
   * @param workflow - the workflow's name.
   * @param reason - the exit reason.
   */
  constructor(workflow: string, reason: unknown) {
    super("workflow_interrupted", `workflow ${workflow} was interrupted (${describeReason(reason)})`, {
      cause: reason,
    });
    this.name = "WorkflowInterruptedError";
    this.workflow = workflow;
    this.reason = reason;
  }
}

/** A workflow definition is malformed (a duplicate or unknown step name, a bad option). */
export class InvalidWorkflowError extends CoordinationError {
  /** @param message - what is wrong. */
  constructor(message: string) {
    super("invalid_workflow", message);
    this.name = "InvalidWorkflowError";
  }
}

/** A short rendering of an exit reason for WorkflowInterruptedError's message. */
function describeReason(reason: unknown): string {
  if (typeof reason === "string") return reason;
  try {
    return JSON.stringify(reason) ?? String(reason);
  } catch {
    // not JSON-able (a cycle, a BigInt): the plain string form still names it
    return String(reason);
  }
}
