/**
 * Shared context for agents: one table of the runtime's SharedContext (the GenServer + ETS analogue),
 * split into namespaces. Reads are direct; writes are serialized through the service, so `update` is an
 * atomic read-modify-write; subscribers see every committed change of their namespace. Hand a namespace
 * to an agent's tools through its `services`.
 */
import { type ActorSystem, type Change, defineServer, SharedContext, type Table } from "@normandy/runtime";

/** A change to a key of a namespace. */
export type ContextChange =
  | { readonly key: string; readonly kind: "insert"; readonly value: unknown }
  | { readonly key: string; readonly kind: "update"; readonly old: unknown; readonly value: unknown }
  | { readonly key: string; readonly kind: "delete"; readonly old: unknown };

/** Options of {@link AgentContext.start}. */
export interface AgentContextOptions {
  /** The shared-context service's registered name (default `normandy.agent_context`). */
  readonly name?: string;
}

const TABLE = "agent_context";

/** The table's owner: a process that only keeps the table alive. */
const owner = defineServer({ name: "agent-context-owner", init: () => null });

/** The shared context of a team of agents. */
export class AgentContext {
  readonly #context: SharedContext;
  readonly #table: Table<unknown, readonly [string, string]>;

  private constructor(context: SharedContext, table: Table<unknown, readonly [string, string]>) {
    this.#context = context;
    this.#table = table;
  }

  /**
   * Starts the service and its table on a system.
   *
   * @param system - the actor system.
   * @param options - the service's name.
   * @returns the context.
   * @example
   * ```ts
   * const shared = await AgentContext.start(system);
   * const research = shared.namespace("research");
   * await research.put("topic", "tides");
   * ```
   */
  static async start(system: ActorSystem, options: AgentContextOptions = {}): Promise<AgentContext> {
    const context = await SharedContext.start(system, { name: options.name ?? "normandy.agent_context" });
    const pid = await system.spawn(owner);
    const table = await context.newTable<unknown, readonly [string, string]>(TABLE, {
      owner: pid,
      access: "public",
    });
    return new AgentContext(context, table);
  }

  /**
   * A namespace: keys of one namespace never collide with another's.
   *
   * @param name - the namespace.
   * @returns its view.
   */
  namespace(name: string): ContextNamespace {
    return new ContextNamespace(this.#table, name);
  }

  /** Stops the service (the table goes with it). */
  stop(): Promise<void> {
    return this.#context.stop();
  }
}

/** One namespace of an {@link AgentContext}. */
export class ContextNamespace {
  /** The namespace's name. */
  readonly name: string;
  readonly #table: Table<unknown, readonly [string, string]>;

  /**
   * @param table - the context's table.
   * @param name - the namespace.
   */
  constructor(table: Table<unknown, readonly [string, string]>, name: string) {
    this.#table = table;
    this.name = name;
  }

  /** The value of a key. */
  get<V = unknown>(key: string): V | undefined {
    return this.#table.get([this.name, key]) as V | undefined;
  }

  /** Whether a key has a value. */
  has(key: string): boolean {
    return this.#table.has([this.name, key]);
  }

  /** The namespace's keys. */
  keys(): string[] {
    return this.entries().map(([k]) => k);
  }

  /** The namespace's keys and values. */
  entries(): Array<[string, unknown]> {
    return this.#table.select((k) => k[0] === this.name).map(([k, v]) => [k[1], v]);
  }

  /** Sets a key. */
  async put(key: string, value: unknown): Promise<void> {
    await this.#table.put([this.name, key], value);
  }

  /** Deletes a key; resolves with whether it had a value. */
  delete(key: string): Promise<boolean> {
    return this.#table.delete([this.name, key]);
  }

  /**
   * Atomically replaces a key's value with `fn(old)` (no other write interleaves).
   *
   * @param key - the key.
   * @param fn - old value (undefined when absent) to new value.
   * @returns the new value.
   */
  update<V>(key: string, fn: (old: V | undefined) => V): Promise<V> {
    return this.#table.update([this.name, key], fn as (old: unknown) => unknown) as Promise<V>;
  }

  /**
   * Calls `listener` after every committed change of this namespace.
   *
   * @param listener - receives the change.
   * @returns unsubscribes.
   */
  subscribe(listener: (change: ContextChange) => void): () => void {
    return this.#table.subscribe((change: Change<unknown, readonly [string, string]>) => {
      if (change.key[0] !== this.name) return;
      const key = change.key[1];
      if (change.kind === "insert") listener({ key, kind: "insert", value: change.value });
      else if (change.kind === "update")
        listener({ key, kind: "update", old: change.old, value: change.value });
      else listener({ key, kind: "delete", old: change.old });
    });
  }
}
