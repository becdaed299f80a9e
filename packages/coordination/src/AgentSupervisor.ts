/**
 * A dynamic supervisor of agent processes (the original's `AgentSupervisor`, a DynamicSupervisor).
 * Each agent is a child with its agent id as child id, registered as `agent:<id>` (so finding an agent
 * is one registry lookup, O(1), not a scan) and durable under the same key (so a restart restores its
 * conversation). The supervisor is an ordinary runtime supervisor: it can be a child of any other, so
 * agent trees nest.
 */
import type { AgentDefinition } from "@normandy/agents";
import {
  type ActorSystem,
  type ChildSpec,
  defineSupervisor,
  type MailboxOptions,
  type RestartType,
  type Server,
  type Shutdown,
  SupervisorClient,
  type SupervisorError,
} from "@normandy/runtime";
import { agentProcessName, defineAgentProcess } from "./AgentProcess.js";
import { AgentProcessClient, type AgentProcessClientOptions } from "./AgentProcessClient.js";
import { CoordinationError } from "./errors.js";

/** Restart intensity of an agent supervisor: the original's defaults (3 restarts in 5 s). */
export interface AgentSupervisorFlags {
  /** Default 3. */
  readonly intensity?: number;
  /** Seconds, default 5. */
  readonly period?: number;
}

/** How to start an agent under the supervisor. */
export interface AgentChildOptions<I, O> {
  /** The agent's id (unique under the supervisor). */
  readonly id: string;
  readonly definition: AgentDefinition<I, O>;
  /** Default `transient` (the original's): restarted after a crash, not after a normal stop. */
  readonly restart?: RestartType;
  /** Default true: persisted after every step, restored on restart. */
  readonly durable?: boolean;
  /** Default 5000 ms (the original's). */
  readonly shutdown?: Shutdown;
  readonly mailbox?: MailboxOptions;
}

/**
 * The child spec of an agent process (also for static supervisor trees).
 *
 * @param options - id, definition, restart type, durability.
 * @returns the child spec.
 */
export function agentChildSpec<I, O>(options: AgentChildOptions<I, O>): ChildSpec {
  const name = agentProcessName(options.id);
  return {
    id: options.id,
    start: defineAgentProcess({
      id: options.id,
      definition: options.definition,
      ...(options.mailbox !== undefined && { mailbox: options.mailbox }),
    }),
    restart: options.restart ?? "transient",
    shutdown: options.shutdown ?? 5_000,
    name,
    ...(options.durable !== false && { durable: name }),
  };
}

/**
 * The behaviour of an agent supervisor (one_for_one, no static children).
 *
 * @param flags - restart intensity.
 * @returns a supervisor behaviour to spawn or nest.
 */
export function defineAgentSupervisor(flags: AgentSupervisorFlags = {}): Server<unknown> {
  return defineSupervisor({
    strategy: "one_for_one",
    intensity: flags.intensity ?? 3,
    period: flags.period ?? 5,
    children: [],
  });
}

/** A supervisor operation failed. */
export class AgentSupervisorError extends CoordinationError {
  /** The supervisor's reason (`already_present`, `not_found`, ...). */
  readonly reason: SupervisorError["error"] | "start_failed";
  /**
   * @param reason - the supervisor's reason.
   * @param message - what was asked.
   */
  constructor(reason: SupervisorError["error"] | "start_failed", message: string) {
    super(reason === "not_found" ? "not_found" : "supervisor_error", `${message}: ${reason}`);
    this.name = "AgentSupervisorError";
    this.reason = reason;
  }
}

/** Manages the agents of one agent supervisor. */
export class AgentSupervisor {
  /** The supervisor's address. */
  readonly address: string;
  readonly #system: ActorSystem;
  readonly #sup: SupervisorClient;

  /**
   * @param system - the actor system.
   * @param address - the supervisor's name or pid (spawned with {@link defineAgentSupervisor}).
   */
  constructor(system: ActorSystem, address: string) {
    this.#system = system;
    this.address = address;
    this.#sup = new SupervisorClient(system, address);
  }

  /**
   * Spawns an agent supervisor at the top of the system.
   *
   * @param system - the actor system (with a snapshot store, for durable agents).
   * @param options - its name and restart intensity.
   * @returns its manager.
   * @example
   * ```ts
   * const agents = await AgentSupervisor.start(system, { name: "agents" });
   * const researcher = await agents.startAgent({ id: "researcher", definition });
   * await researcher.request("find X");
   * ```
   */
  static async start(
    system: ActorSystem,
    options: AgentSupervisorFlags & { readonly name?: string } = {},
  ): Promise<AgentSupervisor> {
    const pid = await system.spawn(
      defineAgentSupervisor(options),
      options.name === undefined ? {} : { name: options.name },
    );
    return new AgentSupervisor(system, options.name ?? pid);
  }

  /**
   * Starts an agent process.
   *
   * @param options - id, definition, restart type, durability.
   * @param client - options of the returned client.
   * @returns a client of the new process.
   * @throws AgentSupervisorError (`already_present` for a taken id, `start_failed`).
   */
  async startAgent<I = { chat_message: string }, O = { chat_message: string }>(
    options: AgentChildOptions<I, O>,
    client: AgentProcessClientOptions = {},
  ): Promise<AgentProcessClient<I, O>> {
    const result = await this.#sup.startChild(agentChildSpec(options));
    if (!result.ok) throw new AgentSupervisorError(result.error, `start agent ${options.id}`);
    if (result.pid === undefined) throw new AgentSupervisorError("start_failed", `start agent ${options.id}`);
    return new AgentProcessClient<I, O>(this.#system, options.id, client);
  }

  /**
   * Stops an agent and removes it from the supervisor (it is not restarted). Its snapshot is kept:
   * starting an agent with the same id later resumes its conversation.
   *
   * @param id - the agent's id.
   * @throws AgentSupervisorError `not_found`.
   */
  async terminateAgent(id: string): Promise<void> {
    const stopped = await this.#sup.terminateChild(id);
    if (!stopped.ok) throw new AgentSupervisorError(stopped.error, `terminate agent ${id}`);
    const deleted = await this.#sup.deleteChild(id);
    if (!deleted.ok) throw new AgentSupervisorError(deleted.error, `delete agent ${id}`);
  }

  /** The agents, newest first, with their current pid (`undefined` while restarting). */
  async listAgents(): Promise<Array<{ readonly id: string; readonly pid: string | undefined }>> {
    const children = await this.#sup.whichChildren();
    return children.map((c) => ({
      id: c.id as string,
      pid: c.pid === "restarting" ? undefined : c.pid,
    }));
  }

  /** How many agents are running. */
  async countAgents(): Promise<number> {
    return (await this.#sup.countChildren()).active;
  }

  /** The pid of an agent's process, by id, in O(1) (the registry, not a scan of the children). */
  findAgent(id: string): string | undefined {
    return this.#system.whereis(agentProcessName(id));
  }

  /** A client of an agent by id (it need not be running yet). */
  client<I = { chat_message: string }, O = { chat_message: string }>(
    id: string,
    options: AgentProcessClientOptions = {},
  ): AgentProcessClient<I, O> {
    return new AgentProcessClient<I, O>(this.#system, id, options);
  }

  /** Stops and forgets every agent. */
  async terminateAll(): Promise<void> {
    for (const { id } of await this.listAgents()) await this.terminateAgent(id);
  }
}
