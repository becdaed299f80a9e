// The inspector server, end to end: a real actor system with a supervised tree and an agent process talking to
// the loopback LLM server, watched by real WebSocket clients on 127.0.0.1. Covers the Stately wire format,
// runtime facts (restart, mailbox depth, dead letters, shared-context writes, agent turns), late joiners and
// systems already running, closing, serialization of hostile values, the loopback/origin guards, option
// errors, failure reporting, and the demo flag.
import { request as httpRequest } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { defineAgent, OpenAIProvider } from "@normandy/agents";
import { AgentProcessClient, agentChildSpec, workflow } from "@normandy/coordination";
import {
  INSPECTOR_ENV,
  type InspectorActorMessage,
  InspectorError,
  type InspectorMessage,
  type InspectorServer,
  inspectorRequested,
  type RuntimeFact,
  runtimeFactOf,
  startInspector,
  startInspectorIfRequested,
  toInspectable,
} from "@normandy/observability";
import {
  ActorSystem,
  Correlation,
  defineServer,
  defineSupervisor,
  MailboxFullError,
  MemorySnapshotStore,
  SharedContext,
  Telemetry,
} from "@normandy/runtime";
import { LoopbackLLMServer } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

// ---- fixtures -----------------------------------------------------------------------------------

const systems: ActorSystem[] = [];
const inspectors: InspectorServer[] = [];
const llms: LoopbackLLMServer[] = [];
const clients: Client[] = [];
const netServers: NetServer[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  for (const i of inspectors.splice(0)) await i.close();
  for (const s of systems.splice(0)) await s.shutdown({ timeout: 0 });
  for (const l of llms.splice(0)) await l.stop();
  for (const n of netServers.splice(0)) await new Promise<void>((resolve) => n.close(() => resolve()));
});

function startSystem(): ActorSystem {
  const system = ActorSystem.start({ snapshotStore: new MemorySnapshotStore() });
  systems.push(system);
  return system;
}

async function inspect(system: ActorSystem, options: Parameters<typeof startInspector>[1] = {}) {
  const errors: InspectorError[] = [];
  const inspector = await startInspector(system, { onError: (e) => errors.push(e), ...options });
  inspectors.push(inspector);
  return { inspector, errors };
}

async function llm(texts: string[]): Promise<LoopbackLLMServer> {
  const server = await new LoopbackLLMServer({ script: texts.map((text) => ({ text })) }).start();
  llms.push(server);
  return server;
}

const provider = (server: LoopbackLLMServer) =>
  new OpenAIProvider({ apiKey: "sk-inspectorTestKey0123456789", baseURL: server.openaiBaseURL });

/** A real WebSocket client that records every message and lets a test wait for one (no timers). */
class Client {
  readonly messages: InspectorMessage[] = [];
  readonly socket: WebSocket;
  readonly closed: Promise<{ readonly code: number; readonly reason: string }>;
  readonly #waiters = new Set<{ check: () => void; fail: (error: Error) => void }>();

  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on("message", (data) => {
      this.messages.push(JSON.parse(String(data)) as InspectorMessage);
      for (const w of [...this.#waiters]) w.check();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", (code, reason) => {
        for (const w of [...this.#waiters])
          w.fail(new Error(`closed (${code}) after ${this.messages.length} messages`));
        resolve({ code, reason: String(reason) });
      }),
    );
  }

  static async open(url: string): Promise<Client> {
    const socket = new WebSocket(url);
    const client = new Client(socket);
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return client;
  }

  /** Resolves once some message satisfies `predicate`; returns it. */
  until(predicate: (m: InspectorMessage) => boolean): Promise<InspectorMessage> {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const found = this.messages.find(predicate);
          if (found === undefined) return;
          this.#waiters.delete(waiter);
          resolve(found);
        },
        fail: (error: Error) => {
          this.#waiters.delete(waiter);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  facts(type?: RuntimeFact["type"]): { sessionId: string; fact: RuntimeFact }[] {
    return this.messages.flatMap((m) => {
      const fact = runtimeFactOf(m);
      return fact === undefined || (type !== undefined && fact.type !== type)
        ? []
        : [{ sessionId: m.sessionId, fact }];
    });
  }

  actors(): InspectorActorMessage[] {
    return this.messages.filter((m): m is InspectorActorMessage => m.type === "@xstate.actor");
  }
}

const isFact = (type: RuntimeFact["type"], test: (fact: Record<string, unknown>) => boolean = () => true) => {
  return (m: InspectorMessage) => {
    const fact = runtimeFactOf(m);
    return fact?.type === type && test(fact as unknown as Record<string, unknown>);
  };
};
const isEvent = (sessionId: string | undefined, type: string) => (m: InspectorMessage) =>
  m.type === "@xstate.event" && m.sessionId === sessionId && m.event.type === type;

const worker = defineServer({
  name: "worker",
  init: () => 0,
  handleCast: (m: { type: "inc" } | { type: "crash" } | { type: "marker" }, n: number) => {
    if (m.type === "crash") throw new Error("boom");
    return m.type === "inc" ? n + 1 : n;
  },
});

/** A supervisor with a worker and an agent process (registered `agent:assistant`) answering from `server`. */
function app(server: LoopbackLLMServer, system: ActorSystem) {
  return defineSupervisor({
    strategy: "one_for_one",
    intensity: 3,
    children: [
      { id: "worker", start: worker, name: "worker" },
      agentChildSpec({
        id: "assistant",
        definition: {
          name: "assistant",
          provider: provider(server),
          model: "gpt-4o",
          telemetry: system.telemetry,
        },
      }),
    ],
  });
}

// ---- the stream ---------------------------------------------------------------------------------

describe("the inspector server", () => {
  it("streams a supervised tree with an agent process, its turn, a crash and the restart", async () => {
    const server = await llm(["hello there"]);
    const system = startSystem();
    const { inspector, errors } = await inspect(system);
    expect(inspector.url).toBe(`ws://127.0.0.1:${inspector.port}`);
    expect(inspector.pageUrl).toBe(`http://127.0.0.1:${inspector.port}/`);
    const client = await Client.open(inspector.url);
    const root = system.root.sessionId;
    const sup = await system.spawn(app(server, system), { name: "app" });
    const agentPid = system.whereis("agent:assistant") as string;
    const first = system.whereis("worker") as string;
    expect(inspector.clients).toBe(1);

    const reply = await new AgentProcessClient(system, "assistant").request("hi");
    expect(reply.payload.status === "done" && reply.payload.output.chat_message).toBe("hello there");
    system.cast("worker", { type: "crash" });
    const second = system.whereis("worker") as string;
    expect(second).not.toBe(first);
    await client.until(isFact("@normandy.restart"));

    // the tree, in @statelyai/inspect's format, with real parent links
    const actors = client.actors();
    expect(actors[0]).toMatchObject({ name: "normandy", sessionId: root, rootId: root });
    expect(actors[0]?.parentId).toBeUndefined();
    expect(actors).toContainEqual(expect.objectContaining({ name: "app", sessionId: sup, parentId: root }));
    expect(actors).toContainEqual(
      expect.objectContaining({ name: "worker", sessionId: first, parentId: sup }),
    );
    expect(actors).toContainEqual(
      expect.objectContaining({ name: "worker", sessionId: second, parentId: sup }),
    );
    expect(actors).toContainEqual(
      expect.objectContaining({ name: "assistant", sessionId: agentPid, parentId: sup }),
    );
    for (const m of client.messages) expect(m).toMatchObject({ id: null, _version: "0.7.2", rootId: root });
    expect(JSON.parse(actors[0]?.definition ?? "")).toEqual({ id: "normandy" });

    // the processes' snapshots: the agent answered, the first worker crashed, the new one is fresh
    const snapshots = (pid: string) =>
      client.messages.filter((m) => m.type === "@xstate.snapshot" && m.sessionId === pid);
    expect(snapshots(agentPid).at(-1)).toMatchObject({
      event: { type: "agent.done" },
      snapshot: { status: "active", context: { stats: { runs: 1, failures: 0 } } },
    });
    expect(snapshots(first).at(-1)).toMatchObject({
      event: { type: "xstate.error.actor.worker" },
      snapshot: { status: "error", error: { name: "Error", message: "boom" } },
    });
    expect(snapshots(second)[0]).toMatchObject({ snapshot: { status: "active", context: 0 } });
    expect(client.messages).toContainEqual(
      expect.objectContaining({
        type: "@xstate.event",
        sessionId: sup,
        sourceId: first,
        event: expect.objectContaining({ type: "EXIT" }),
      }),
    );

    // the runtime facts: the restart at the supervisor, the turn at the agent process
    expect(client.facts("@normandy.restart")).toEqual([
      {
        sessionId: sup,
        fact: {
          type: "@normandy.restart",
          supervisor: sup,
          childId: "worker",
          pid: second,
          reason: { error: { name: "Error", message: "boom" } },
        },
      },
    ]);
    const turn = client.facts("@normandy.agent_turn");
    expect(turn.every((t) => t.sessionId === agentPid)).toBe(true);
    expect(
      turn.map((t) => [
        t.fact.type === "@normandy.agent_turn" && t.fact.state,
        (t.fact as { on: string }).on,
      ]),
    ).toEqual([
      ["running", "normandy.agent.run.start"],
      ["calling_model", "normandy.agent.model_call.start"],
      ["running", "normandy.agent.model_call.stop"],
      ["done", "normandy.agent.run.stop"],
    ]);
    expect(turn.at(-1)?.fact).toMatchObject({
      agent: "assistant",
      model: "gpt-4o",
      provider: "openai",
      steps: 1,
    });
    expect(turn[2]?.fact).toMatchObject({
      step: 1,
      inputTokens: expect.any(Number),
      outputTokens: expect.any(Number),
    });
    // the provider's API key never reaches the wire
    expect(JSON.stringify(client.messages)).not.toContain("inspectorTestKey");
    expect(errors).toEqual([]);
  });

  it("shows a late-joining client the live tree with current snapshots, then the live stream", async () => {
    const server = await llm([]);
    const system = startSystem();
    const { inspector } = await inspect(system);
    const early = await Client.open(inspector.url);
    const sup = await system.spawn(app(server, system), { name: "app" });
    const dead = system.whereis("worker") as string;
    system.cast("worker", { type: "crash" });
    const live = system.whereis("worker") as string;
    system.cast("worker", { type: "inc" });
    system.cast("worker", { type: "inc" });

    const late = await Client.open(inspector.url);
    expect(inspector.clients).toBe(2);
    system.cast("worker", { type: "marker" }); // everything the late client got before this is the replay
    await late.until(isEvent(live, "normandy.cast"));
    const replay = late.messages.slice(0, late.messages.findIndex(isEvent(live, "normandy.cast")));
    expect(replay.every((m) => m.type === "@xstate.actor")).toBe(true);
    expect(replay.map((m) => [m.sessionId, (m as InspectorActorMessage).parentId])).toEqual([
      [system.root.sessionId, undefined],
      [sup, system.root.sessionId],
      [system.whereis("agent:assistant"), sup],
      [live, sup],
    ]);
    expect(replay.map((m) => m.sessionId)).not.toContain(dead);
    expect(replay.at(-1)).toMatchObject({ name: "worker", snapshot: { status: "active", context: 2 } });
    await early.until(isEvent(live, "normandy.cast"));
    expect(early.actors().map((m) => m.sessionId)).toContain(dead); // the early client saw the crashed one
  });

  it("shows the tree of a system that was running before the inspector started", async () => {
    const server = await llm([]);
    const system = startSystem();
    const sup = await system.spawn(app(server, system), { name: "app" });
    const { inspector } = await inspect(system);
    const client = await Client.open(inspector.url);
    system.cast("worker", { type: "inc" });
    await client.until((m) => m.type === "@xstate.snapshot" && m.sessionId === system.whereis("worker"));
    expect(client.actors().map((m) => [m.name, m.parentId])).toEqual([
      ["normandy", undefined],
      ["app", system.root.sessionId],
      ["worker", sup],
      ["assistant", sup],
    ]);
  });

  it("reports a server's mailbox depth as messages queue and drain, and the current depth to a late client", async () => {
    const system = startSystem();
    const { inspector } = await inspect(system);
    const client = await Client.open(inspector.url);
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const slow = defineServer({
      name: "slow",
      init: () => 0,
      handleCast: async (_m: { type: "work" }, n: number) => {
        await gate;
        return n + 1;
      },
    });
    const pid = await system.spawn(slow, { name: "slow" });
    for (let i = 0; i < 3; i++) system.cast("slow", { type: "work" });
    await client.until(isFact("@normandy.mailbox"));
    expect(client.facts("@normandy.mailbox")).toEqual([
      { sessionId: pid, fact: { type: "@normandy.mailbox", pid, depth: 2 } },
    ]);
    expect(system.mailboxDepth(pid)).toBe(2);

    const late = await Client.open(inspector.url);
    await late.until(isFact("@normandy.mailbox"));
    expect(late.facts("@normandy.mailbox")).toEqual([
      { sessionId: pid, fact: { type: "@normandy.mailbox", pid, depth: 2 } },
    ]);
    // an inspector started now measures what is already waiting
    const { inspector: second } = await inspect(system);
    const fresh = await Client.open(second.url);
    await fresh.until(isFact("@normandy.mailbox"));
    expect(fresh.facts("@normandy.mailbox")).toEqual([
      { sessionId: pid, fact: { type: "@normandy.mailbox", pid, depth: 2 } },
    ]);

    open();
    await client.until(isFact("@normandy.mailbox", (f) => f.depth === 0));
    const depths = client.facts("@normandy.mailbox").map((f) => (f.fact as { depth: number }).depth);
    expect(depths[0]).toBe(2);
    expect(depths.at(-1)).toBe(0);
    expect([...depths].sort((a, b) => b - a)).toEqual(depths); // only ever drains
    expect(system.getSnapshot(pid)).toMatchObject({ context: 3 });
  });

  it("reports dead letters, mailbox overflows, shared-context changes and the turns of an agent on its own bus", async () => {
    const server = await llm(["solo answer"]);
    const system = startSystem();
    const bus = new Telemetry();
    const { inspector } = await inspect(system, { telemetry: [bus, system.telemetry] });
    const client = await Client.open(inspector.url);
    const root = system.root.sessionId;

    system.send("nobody", { type: "PING" });
    await client.until(isFact("@normandy.dead_letter"));
    expect(client.facts("@normandy.dead_letter")).toEqual([
      {
        sessionId: root,
        fact: { type: "@normandy.dead_letter", to: "nobody", reason: "noproc", message: { type: "PING" } },
      },
    ]);

    const owner = await system.spawn(worker, { name: "owner" });
    const sc = await SharedContext.start(system);
    const table = await sc.newTable<number>("scores", { owner, access: "public" });
    await table.put("ada", 1);
    await client.until(isFact("@normandy.shared_context"));
    expect(client.facts("@normandy.shared_context")).toEqual([
      {
        sessionId: sc.pid,
        fact: {
          type: "@normandy.shared_context",
          change: "write",
          table: "scores",
          key: "ada",
          kind: "insert",
        },
      },
    ]);

    const tiny = defineServer({
      name: "tiny",
      init: () => 0,
      handleCast: async (_m: { type: "work" }, n: number) => {
        await new Promise<void>(() => {}); // stays busy: the mailbox fills
        return n;
      },
      mailbox: { capacity: 1, overflow: "drop-oldest" },
    });
    const tinyPid = await system.spawn(tiny, { name: "tiny" });
    for (let i = 0; i < 3; i++) system.cast("tiny", { type: "work" });
    await client.until(isFact("@normandy.mailbox", (f) => f.overflow !== undefined));
    expect(client.facts("@normandy.mailbox")[0]).toEqual({
      sessionId: tinyPid,
      fact: { type: "@normandy.mailbox", pid: tinyPid, name: "tiny", capacity: 1, overflow: "drop-oldest" },
    });
    expect(client.facts("@normandy.dead_letter").at(-1)?.fact).toMatchObject({
      to: "tiny",
      reason: "overflow",
    });

    const solo = defineAgent({ name: "solo", provider: provider(server), model: "gpt-4o", telemetry: bus });
    await solo.run("hi");
    await client.until(isFact("@normandy.agent_turn", (f) => f.state === "done"));
    const turn = client.facts("@normandy.agent_turn");
    expect(turn.map((t) => (t.fact as { state: string }).state)).toEqual([
      "running",
      "calling_model",
      "running",
      "done",
    ]);
    expect(turn.every((t) => t.sessionId === root && (t.fact as { agent: string }).agent === "solo")).toBe(
      true,
    );
  });

  it("shows an XState machine process with its definition, and drops it from the tree when it is done", async () => {
    const system = startSystem();
    const { inspector, errors } = await inspect(system);
    const client = await Client.open(inspector.url);
    const pid = await system.spawn(workflow("gate").approval("ok").build(), { input: "x" });
    const actor = (await client.until(
      (m) => m.type === "@xstate.actor" && m.sessionId === pid,
    )) as InspectorActorMessage;
    // XState announces an actor before its first snapshot exists: that snapshot follows at once
    expect(actor).toMatchObject({
      name: "gate",
      parentId: system.root.sessionId,
      snapshot: { status: "active" },
    });
    const next = client.messages[client.messages.indexOf(actor) + 2];
    expect(next).toMatchObject({
      type: "@xstate.snapshot",
      sessionId: pid,
      event: { type: "xstate.init", input: "x" },
      snapshot: { status: "active", value: "ok", context: { input: "x" } },
    });
    const definition = JSON.parse(actor.definition) as { id: string; states: Record<string, unknown> };
    expect(definition.id).toBe("gate");
    expect(Object.keys(definition.states)).toContain("ok");
    system.send(pid, { type: "APPROVE", by: "ana" } as { type: string });
    await client.until(
      (m) =>
        m.type === "@xstate.snapshot" &&
        m.sessionId === pid &&
        (m.snapshot as { status: string }).status === "done",
    );
    // only the three kinds the Stately inspector shows go on the wire
    expect(new Set(client.messages.map((m) => m.type))).toEqual(
      new Set(["@xstate.actor", "@xstate.event", "@xstate.snapshot"]),
    );
    const late = await Client.open(inspector.url);
    await late.until((m) => m.sessionId === system.root.sessionId);
    system.send("nobody", { type: "MARK" });
    await late.until(isFact("@normandy.dead_letter"));
    expect(late.actors().map((m) => m.sessionId)).toEqual([system.root.sessionId]);
    expect(errors).toEqual([]);
  });

  it("reports a supervisor giving up, a rejecting mailbox, and a turn of an unnamed agent", async () => {
    const system = startSystem();
    const { inspector } = await inspect(system);
    const client = await Client.open(inspector.url);
    const fragile = defineSupervisor({
      intensity: 0,
      children: [{ id: "w", start: worker, name: "fragile" }],
    });
    const sup = await system.spawn(fragile);
    system.cast("fragile", { type: "crash" });
    await client.until(isFact("@normandy.intensity_exceeded"));
    expect(client.facts("@normandy.intensity_exceeded")).toEqual([
      {
        sessionId: sup,
        fact: {
          type: "@normandy.intensity_exceeded",
          supervisor: sup,
          childId: "w",
          restarts: 1,
          intensity: 0,
          period: 5,
        },
      },
    ]);

    const strict = defineServer({
      name: "strict",
      init: () => 0,
      handleCast: (_m: { type: "work" }, n: number) => new Promise<number>(() => n), // never done: stays busy
      mailbox: { capacity: 1 },
    });
    const pid = await system.spawn(strict);
    system.cast(pid, { type: "work" });
    system.cast(pid, { type: "work" });
    expect(() => system.cast(pid, { type: "work" })).toThrow(MailboxFullError);
    await client.until(isFact("@normandy.mailbox", (f) => f.overflow === "reject"));
    expect(
      client.facts("@normandy.mailbox").find((f) => f.fact.type === "@normandy.mailbox" && f.fact.overflow),
    ).toEqual({
      sessionId: pid,
      fact: { type: "@normandy.mailbox", pid, capacity: 1, overflow: "reject" },
    });

    system.telemetry.emit(["normandy", "agent", "run", "start"], {}, {});
    await client.until(isFact("@normandy.agent_turn"));
    expect(client.facts("@normandy.agent_turn")).toEqual([
      {
        sessionId: system.root.sessionId,
        fact: { type: "@normandy.agent_turn", state: "running", on: "normandy.agent.run.start" },
      },
    ]);
  });

  it("keeps every message's type and ids even at the tightest bounds", async () => {
    const system = startSystem();
    const { inspector } = await inspect(system, { limits: { maxDepth: 0 } });
    const client = await Client.open(inspector.url);
    const pid = await system.spawn(worker, { name: "w" });
    system.cast("w", { type: "inc" });
    const event = await client.until(isEvent(pid, "normandy.cast"));
    expect(event).toMatchObject({ sessionId: pid, event: { type: "normandy.cast", value: "[Object]" } });
    expect(client.actors().at(-1)).toMatchObject({
      sessionId: pid,
      name: "w",
      snapshot: "[Object]",
      definition: '"[Object]"',
    });
  });

  it("answers a client that sends more than it may with an error and a close", async () => {
    const system = startSystem();
    const { inspector, errors } = await inspect(system);
    const client = await Client.open(inspector.url);
    client.socket.send("x".repeat(100_000)); // clients only listen
    expect((await client.closed).code).toBe(1009);
    expect(errors).toEqual([
      expect.objectContaining({ code: "socket", message: expect.stringMatching(/payload/i) }),
    ]);
  });

  it("close() closes every client, detaches, frees the port, and sends nothing after it", async () => {
    const system = startSystem();
    const handlersBefore = system.telemetry.handlers();
    const { inspector } = await inspect(system);
    const pid = await system.spawn(worker, { name: "w" });
    const a = await Client.open(inspector.url);
    const b = await Client.open(inspector.url);
    system.cast("w", { type: "inc" });
    await a.until(isEvent(pid, "normandy.cast"));

    system.cast("w", { type: "inc" }); // its depth check is still pending when close() stops it
    const closing = inspector.close();
    const during = Client.open(inspector.url);
    // same tick as close(): none of this may reach a client
    system.cast("w", { type: "marker" });
    system.send("nobody", { type: "AFTER_CLOSE" });
    expect(inspector.close()).toBe(closing);
    await expect(during).rejects.toThrow();
    await closing;
    expect(await a.closed).toEqual({ code: 1001, reason: "inspector closed" });
    expect((await b.closed).code).toBe(1001);
    expect(inspector.clients).toBe(0);
    for (const c of [a, b]) {
      expect(
        c.messages.some(
          (m) =>
            m.type === "@xstate.event" &&
            m.event.type === "normandy.cast" &&
            (m.event as { msg?: { type?: string } }).msg?.type === "marker",
        ),
      ).toBe(false);
      expect(c.facts("@normandy.dead_letter")).toEqual([]);
    }
    expect(system.telemetry.handlers()).toEqual(handlersBefore);

    // nothing listens any more, and the port can be bound again
    await expect(Client.open(inspector.url)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    const probe = createNetServer();
    netServers.push(probe);
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen({ host: "127.0.0.1", port: inspector.port }, resolve);
    });
  });

  it("serializes circular and non-JSON values (functions, errors, bigint, Map, Set, throwing getters) without throwing", async () => {
    const system = startSystem();
    const { inspector, errors } = await inspect(system);
    const client = await Client.open(inspector.url);
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const failure = new Error("outer", { cause: Object.assign(new Error("inner"), { code: "E_INNER" }) });
    const hostile = {
      cyclic,
      fn: function handler() {},
      arrow: () => {},
      failure,
      big: 12345678901234567890n,
      sym: Symbol("tag"),
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      when: new Date(0),
      map: new Map<unknown, unknown>([["k", { deep: true }]]),
      set: new Set([1, 2]),
      bytes: new Uint8Array(4),
      promise: Promise.resolve(1),
      apiKey: "sk-realSecretValue0123456789",
      note: "Bearer abcdefghijklmnop",
      get broken(): unknown {
        throw new Error("getter refused");
      },
      badJson: {
        toJSON() {
          throw new Error("toJSON refused");
        },
      },
      list: [undefined, 1],
    };
    const holder = defineServer({ name: "holder", init: () => hostile });
    const pid = await system.spawn(holder, { name: "holder" });
    const message = await client.until((m) => m.type === "@xstate.snapshot" && m.sessionId === pid);
    const context = (message as { snapshot: { context: Record<string, unknown> } }).snapshot.context;
    expect(context).toEqual({
      cyclic: { name: "loop", self: "[Circular]" },
      fn: { type: "handler" },
      arrow: { type: "arrow" },
      failure: {
        name: "Error",
        message: "outer",
        cause: { name: "Error", message: "inner", code: "E_INNER" },
      },
      big: "12345678901234567890n",
      sym: "Symbol(tag)",
      nan: "NaN",
      inf: "Infinity",
      when: "1970-01-01T00:00:00.000Z",
      map: { dataType: "Map", entries: [["k", { deep: true }]] },
      set: { dataType: "Set", values: [1, 2] },
      bytes: "[Uint8Array(4 bytes)]",
      promise: "[Promise]",
      apiKey: "[Redacted]",
      note: "Bearer [Redacted]",
      broken: "[Unreadable: getter refused]",
      badJson: "[Unreadable: toJSON refused]",
      list: [null, 1],
    });
    expect(errors).toEqual([]);
  });

  it("bounds what it serializes and survives objects that refuse to be read", () => {
    const deep = { a: { b: { c: { d: 1 } } } };
    expect(toInspectable(deep, { maxDepth: 2 })).toEqual({ a: { b: "[Object]" } });
    expect(toInspectable([[1]], { maxDepth: 1 })).toEqual(["[Array]"]);
    expect(toInspectable([1, 2, 3], { maxItems: 2 })).toEqual([1, 2, "…[+1 items]"]);
    expect(toInspectable({ a: 1, b: 2, c: 3 }, { maxItems: 1 })).toEqual({ a: 1, "…": "[+2 keys]" });
    expect(
      toInspectable(
        new Map([
          [1, 1],
          [2, 2],
        ]),
        { maxItems: 1 },
      ),
    ).toEqual({ dataType: "Map", entries: [[1, 1], "…[+1 items]"] });
    expect(toInspectable(new Set([1]), { maxItems: 0 })).toEqual({
      dataType: "Set",
      values: ["…[+1 items]"],
    });
    expect(toInspectable("x".repeat(12), { maxString: 4 })).toBe("xxxx…[+8 chars]");
    expect(toInspectable({ session: "s", password: "p" }, { redactKeys: new Set(["session"]) })).toEqual({
      session: "[Redacted]",
      password: "[Redacted]",
    });
    const trap = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("no keys");
        },
      },
    );
    expect(toInspectable({ trap })).toEqual({ trap: "[Unreadable: no keys]" });
    const unprintable = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw {
            toString: () => {
              throw new Error("nope");
            },
          };
        },
      },
    );
    expect(toInspectable(unprintable)).toBe("[Unreadable: unknown]");
    const self = { toJSON: () => self, n: 1 };
    expect(toInspectable(self)).toEqual({ toJSON: { type: "toJSON" }, n: 1 });
    expect(toInspectable(new Date(Number.NaN))).toBe("Invalid Date");
    expect(toInspectable(Object.create(null))).toEqual({});
    const secretError = Object.assign(new Error("e"), { token: "t", extra: undefined });
    expect(toInspectable(secretError)).toEqual({ name: "Error", message: "e", token: "[Redacted]" });
    expect(toInspectable(undefined)).toBeUndefined();
  });

  it("binds 127.0.0.1 only, refuses foreign origins and hosts, and serves the bridge page", async () => {
    const system = startSystem();
    const { inspector } = await inspect(system, {
      allowedOrigins: ["http://dev.local:3000"],
      ui: "https://ui.example/inspect?x=1&y=2",
    });
    const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
      new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: inspector.port, path, method, headers }, (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => {
            body += String(chunk);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        req.on("error", reject);
        req.end();
      });
    const page = await get("/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("frame-src https://ui.example");
    expect(page.body).toContain('<iframe id="ui" src="https://ui.example/inspect?x=1&amp;y=2"');
    expect(page.body).toContain("@statelyai.connected");
    expect((await get("/", {}, "HEAD")).body).toBe("");
    expect((await get("/other")).status).toBe(404);
    expect((await get("/", {}, "POST")).status).toBe(405);
    expect((await get("/", { host: `rebound.example:${inspector.port}` })).status).toBe(403);

    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(inspector.url, { headers });
        socket.on("unexpected-response", (_req, res) => {
          resolve(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.on("error", () => {});
        socket.on("open", () => resolve(101));
      });
    expect(await refused({ origin: "https://evil.example" })).toBe(403);
    expect(await refused({ host: `rebound.example:${inspector.port}` })).toBe(403);
    expect(await refused({ origin: `http://localhost:${inspector.port}` })).toBe(101);
    expect(await refused({ origin: "http://dev.local:3000" })).toBe(101);
  });

  it("rejects bad options and a taken port without attaching anything", async () => {
    const system = startSystem();
    await expect(startInspector(system, { host: "0.0.0.0" as "127.0.0.1" })).rejects.toMatchObject({
      name: "InspectorError",
      code: "invalid_option",
    });
    await expect(startInspector(system, { port: 70_000 })).rejects.toMatchObject({ code: "invalid_option" });
    await expect(startInspector(system, { ui: "javascript:alert(1)" })).rejects.toMatchObject({
      code: "invalid_option",
    });
    await expect(startInspector(system, { ui: "not a url" })).rejects.toMatchObject({
      code: "invalid_option",
    });
    const taken = createNetServer();
    netServers.push(taken);
    await new Promise<void>((resolve) => taken.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const port = (taken.address() as { port: number }).port;
    const error = await startInspector(system, { port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectorError);
    expect(error).toMatchObject({ code: "listen", cause: expect.objectContaining({ code: "EADDRINUSE" }) });
    expect(system.telemetry.handlers()).toEqual([]);
  });

  it("reports its own failures: a relay error to onError (or as a warning), a slow client dropped", async () => {
    const system = startSystem();
    const { inspector, errors } = await inspect(system);
    const client = await Client.open(inspector.url);
    const hostile = {
      toString() {
        throw new Error("no string");
      },
    };
    system.telemetry.emit(["normandy", "supervisor", "restart"], {}, { supervisor: hostile });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: "relay",
      cause: expect.objectContaining({ message: "no string" }),
    });
    expect(system.telemetry.handlers().length).toBeGreaterThan(0); // still attached: nothing threw into the bus

    // the default: a process warning
    const bare = await startInspector(system);
    inspectors.push(bare);
    await Client.open(bare.url);
    const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
    system.telemetry.emit(["normandy", "supervisor", "restart"], {}, { supervisor: hostile });
    expect(await warned).toMatchObject({ name: "InspectorError", code: "relay" });

    // a client that cannot keep up is cut off instead of buffering without bound
    const { inspector: strict, errors: strictErrors } = await inspect(system, {
      maxBufferedBytes: 1024 * 1024,
      limits: { maxString: 2_000_000 },
    });
    const slow = await Client.open(strict.url);
    slow.socket.pause(); // stops reading: the server's writes back up once the kernel buffers are full
    const payload = "x".repeat(1_000_000);
    for (let i = 0; i < 64 && strict.clients > 0; i++)
      system.send("nobody", { type: "FLOOD", payload } as { type: string });
    expect(strict.clients).toBe(0);
    slow.socket.resume();
    const { code } = await slow.closed;
    expect(code).toBe(1006);
    expect(strict.clients).toBe(0);
    expect(strictErrors[0]).toMatchObject({ code: "slow_client" });
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
  });

  it("with correlation on, puts a turn on the process that runs it whatever the agent's name", async () => {
    Correlation.enable();
    const server = await llm(["from helper-1"]);
    const system = startSystem();
    const { inspector } = await inspect(system);
    const client = await Client.open(inspector.url);
    const sup = await system.spawn(
      defineSupervisor({
        children: [
          agentChildSpec({
            id: "helper-1",
            definition: {
              name: "assistant",
              provider: provider(server),
              model: "gpt-4o",
              telemetry: system.telemetry,
            },
          }),
        ],
      }),
    );
    expect(sup).toBeTypeOf("string");
    await new AgentProcessClient(system, "helper-1").request("hi");
    await client.until(isFact("@normandy.agent_turn", (f) => f.state === "done"));
    const pid = system.whereis("agent:helper-1");
    expect(client.facts("@normandy.agent_turn").every((t) => t.sessionId === pid)).toBe(true);
  });
});

// ---- the demo flag ------------------------------------------------------------------------------

describe("the demo flag", () => {
  it("reads --inspector[=PORT] and NORMANDY_INSPECTOR, the command line first", () => {
    expect(inspectorRequested({ argv: [], env: {} })).toBeUndefined();
    expect(inspectorRequested({ argv: ["--inspector"], env: {} })).toEqual({ port: undefined });
    expect(inspectorRequested({ argv: ["x", "--inspector=9001"], env: { [INSPECTOR_ENV]: "9002" } })).toEqual(
      { port: 9001 },
    );
    expect(inspectorRequested({ argv: [], env: { [INSPECTOR_ENV]: "9002" } })).toEqual({ port: 9002 });
    expect(inspectorRequested({ argv: [], env: { [INSPECTOR_ENV]: " TRUE " } })).toEqual({ port: undefined });
    for (const off of ["", "0", "false", "off", "no"])
      expect(inspectorRequested({ argv: [], env: { [INSPECTOR_ENV]: off } })).toBeUndefined();
    expect(() => inspectorRequested({ argv: ["--inspector=http"], env: {} })).toThrow(InspectorError);
    expect(() => inspectorRequested({ argv: [], env: { [INSPECTOR_ENV]: "99999" } })).toThrow(/0\.\.65535/);
    expect(inspectorRequested()).toEqual(
      process.env[INSPECTOR_ENV] === undefined ? undefined : expect.anything(),
    );
  });

  it("starts the server only when asked", async () => {
    const system = startSystem();
    expect(await startInspectorIfRequested(system, { argv: [], env: {} })).toBeUndefined();
    const flagged = await startInspectorIfRequested(system, { argv: ["--inspector=0"], env: {} });
    expect(flagged).toBeDefined();
    if (flagged === undefined) return;
    inspectors.push(flagged);
    const client = await Client.open(flagged.url);
    await client.until((m) => m.type === "@xstate.actor");
    const plain = await startInspectorIfRequested(system, {
      argv: ["--inspector"],
      env: {},
      onError: () => {},
    });
    expect(plain?.port).toBeGreaterThan(0);
    if (plain !== undefined) inspectors.push(plain);
  });
});
