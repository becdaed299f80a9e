/**
 * Runtime facts the XState inspection stream does not carry by itself, derived from telemetry events:
 * supervisor restarts (and giving up), mailbox overflows, dead letters, shared-context changes and agent
 * turn states. Each fact names the addresses it concerns, so the server can deliver it to that actor.
 */
import { agentProcessName } from "@normandy/coordination";
import { Correlation, type EventName, type Measurements, type Metadata } from "@normandy/runtime";

/** A supervisor restarted a child (`normandy.supervisor.restart`). */
export interface RestartFact {
  readonly type: "@normandy.restart";
  readonly supervisor: string;
  readonly childId: unknown;
  /** The new pid of the child. */
  readonly pid: string;
  /** Why the old one exited. */
  readonly reason: unknown;
}

/** A supervisor exceeded its restart intensity and shuts down (`normandy.supervisor.intensity_exceeded`). */
export interface IntensityExceededFact {
  readonly type: "@normandy.intensity_exceeded";
  readonly supervisor: string;
  readonly childId: unknown;
  readonly restarts: number | undefined;
  readonly intensity: unknown;
  readonly period: unknown;
}

/** A server's mailbox depth changed (measured), or its bounded mailbox overflowed. */
export interface MailboxFact {
  readonly type: "@normandy.mailbox";
  readonly pid: string;
  readonly name?: string | undefined;
  /** Messages waiting (measured after the runtime's synchronous work settled). */
  readonly depth?: number;
  /** Set on overflow: the bound and what the policy did. */
  readonly capacity?: number | undefined;
  readonly overflow?: "reject" | "drop-oldest" | undefined;
}

/** A message reached no handler (`normandy.dead_letter`). */
export interface DeadLetterFact {
  readonly type: "@normandy.dead_letter";
  readonly to: unknown;
  readonly reason: unknown;
  readonly message: unknown;
}

/** A shared-context table changed: a write, an ownership transfer or a deletion. */
export interface SharedContextFact {
  readonly type: "@normandy.shared_context";
  readonly change: "write" | "transfer" | "table_deleted";
  readonly table: unknown;
  readonly [field: string]: unknown;
}

/** Where an agent's turn is, after the telemetry event `on`. */
export type AgentTurnState =
  | "running"
  | "calling_model"
  | "running_tools"
  | "awaiting_approval"
  | "done"
  | "failed";

/** An agent's turn moved (from its `normandy.agent.*` and `normandy.tool.call.*` telemetry). */
export interface AgentTurnFact {
  readonly type: "@normandy.agent_turn";
  readonly agent: unknown;
  readonly state: AgentTurnState;
  /** The telemetry event, e.g. `normandy.agent.model_call.stop`. */
  readonly on: string;
  readonly [field: string]: unknown;
}

/** A runtime fact, delivered as the `event` of an `@xstate.event` message. */
export type RuntimeFact =
  | RestartFact
  | IntensityExceededFact
  | MailboxFact
  | DeadLetterFact
  | SharedContextFact
  | AgentTurnFact;

/** A fact and the addresses (pids or names) it concerns, most specific first. */
export interface Derived {
  readonly fact: RuntimeFact;
  readonly about: readonly string[];
}

/** The telemetry events facts are derived from. */
export const FACT_EVENTS: readonly EventName[] = [
  ["normandy", "supervisor", "restart"],
  ["normandy", "supervisor", "intensity_exceeded"],
  ["normandy", "mailbox", "overflow"],
  ["normandy", "dead_letter"],
  ["normandy", "shared_context", "write"],
  ["normandy", "shared_context", "transfer"],
  ["normandy", "shared_context", "table_deleted"],
  ["normandy", "agent", "run", "start"],
  ["normandy", "agent", "run", "stop"],
  ["normandy", "agent", "run", "exception"],
  ["normandy", "agent", "run", "pause"],
  ["normandy", "agent", "model_call", "start"],
  ["normandy", "agent", "model_call", "stop"],
  ["normandy", "agent", "model_call", "exception"],
  ["normandy", "tool", "call", "start"],
  ["normandy", "tool", "call", "stop"],
];

/** The agent events that are facts, by name, with the state the turn is in after them. */
const TURN_STATES: Readonly<Record<string, AgentTurnState>> = {
  "normandy.agent.run.start": "running",
  "normandy.agent.run.stop": "done",
  "normandy.agent.run.exception": "failed",
  "normandy.agent.run.pause": "awaiting_approval",
  "normandy.agent.model_call.start": "calling_model",
  "normandy.agent.model_call.stop": "running",
  "normandy.agent.model_call.exception": "running",
  "normandy.tool.call.start": "running_tools",
  "normandy.tool.call.stop": "running_tools",
};

/** What an agent turn fact keeps of the event's metadata (ids, model, tool, outcome; never content). */
const TURN_FIELDS = [
  "runId",
  "conversationId",
  "turnId",
  "model",
  "provider",
  "step",
  "tool",
  "toolCallId",
  "isError",
  "finishReason",
  "calls",
  "error",
  "costUsd",
] as const;

/**
 * The fact a telemetry event stands for.
 *
 * @param event - the event name.
 * @param measurements - its measurements.
 * @param metadata - its metadata.
 * @returns the fact and the addresses it concerns, or undefined for an event that is no fact.
 */
export function deriveFact(
  event: EventName,
  measurements: Measurements,
  metadata: Metadata,
): Derived | undefined {
  const name = event.join(".");
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  switch (name) {
    case "normandy.supervisor.restart": {
      const supervisor = String(metadata.supervisor);
      return {
        fact: {
          type: "@normandy.restart",
          supervisor,
          childId: metadata.childId,
          pid: String(metadata.pid),
          reason: metadata.reason,
        },
        about: [supervisor],
      };
    }
    case "normandy.supervisor.intensity_exceeded": {
      const supervisor = String(metadata.supervisor);
      return {
        fact: {
          type: "@normandy.intensity_exceeded",
          supervisor,
          childId: metadata.childId,
          restarts: measurements.restarts,
          intensity: metadata.intensity,
          period: metadata.period,
        },
        about: [supervisor],
      };
    }
    case "normandy.mailbox.overflow": {
      const pid = String(metadata.pid);
      const policy = metadata.policy === "drop-oldest" ? "drop-oldest" : "reject";
      return {
        fact: {
          type: "@normandy.mailbox",
          pid,
          name: str(metadata.name),
          capacity: measurements.capacity,
          overflow: policy,
        },
        about: [pid],
      };
    }
    case "normandy.dead_letter":
      return {
        fact: {
          type: "@normandy.dead_letter",
          to: metadata.to,
          reason: metadata.reason,
          message: metadata.message,
        },
        about: present([str(metadata.to)]),
      };
    case "normandy.shared_context.write":
    case "normandy.shared_context.transfer":
    case "normandy.shared_context.table_deleted": {
      const { service, ...fields } = metadata;
      return {
        fact: {
          ...fields,
          type: "@normandy.shared_context",
          change: event[2] as SharedContextFact["change"],
          table: metadata.table,
        },
        about: present([str(service)]),
      };
    }
  }
  const state = TURN_STATES[name];
  if (state === undefined) return undefined;
  const fact: Record<string, unknown> = {
    type: "@normandy.agent_turn",
    agent: metadata.agent,
    state,
    on: name,
  };
  for (const field of TURN_FIELDS) if (metadata[field] !== undefined) fact[field] = metadata[field];
  Object.assign(fact, measurements);
  // the process running the turn: the one its ids name (an agent process's run carries its pid), else
  // the correlation context's (when on), else the agent's process by name
  const agent = str(metadata.agent);
  return {
    fact: fact as unknown as AgentTurnFact,
    about: present([
      str(metadata.processId) ?? Correlation.current()?.processId,
      agent === undefined ? undefined : agentProcessName(agent),
    ]),
  };
}

function present(addresses: readonly (string | undefined)[]): string[] {
  return addresses.filter((a): a is string => a !== undefined);
}

/**
 * The runtime fact a message carries, for clients that watch for them.
 *
 * @param message - a parsed message from the inspector server.
 * @returns the fact, or undefined for an ordinary inspection message.
 */
export function runtimeFactOf(message: {
  readonly type: string;
  readonly event?: unknown;
}): RuntimeFact | undefined {
  if (message.type !== "@xstate.event") return undefined;
  const type = (message.event as { type?: unknown } | undefined)?.type;
  return typeof type === "string" && type.startsWith("@normandy.")
    ? (message.event as RuntimeFact)
    : undefined;
}
