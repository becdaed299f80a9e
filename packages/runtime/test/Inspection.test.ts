// Inspection: servers and supervisors report XState inspection events with real parent links, so
// @statelyai/inspect works unchanged; a real WebSocket server receives a supervision tree and a restart.
import type { AddressInfo } from "node:net";
import { ActorSystem, defineServer, defineSupervisor, ManualClock, reply } from "@normandy/runtime";
import { createWebSocketInspector } from "@statelyai/inspect";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { InspectionEvent } from "xstate";
import { createMachine } from "xstate";

const worker = defineServer({
  name: "worker",
  init: () => 0,
  handleCast: (m: { type: "inc" } | { type: "crash" }, n: number) => {
    if (m.type === "crash") throw new Error("boom");
    return n + 1;
  },
  handleCall: (_m: { type: "get" }, _f, n: number) => reply(n, n),
});

const tree = defineSupervisor({
  intensity: 3,
  children: [
    { id: "a", start: worker, name: "a" },
    { id: "m", start: createMachine({ id: "leaf" }), name: "m" },
  ],
});

interface Seen {
  type: string;
  id?: string;
  session: string;
  parent?: string | undefined;
  event?: string;
  source?: string | undefined;
}

function summarize(e: InspectionEvent): Seen {
  const ref = e.actorRef as unknown as { id: string; sessionId: string; _parent?: { sessionId: string } };
  const base = { type: e.type, session: ref.sessionId };
  if (e.type === "@xstate.actor") return { ...base, id: ref.id, parent: ref._parent?.sessionId };
  if (e.type === "@xstate.event") return { ...base, event: e.event.type, source: e.sourceRef?.sessionId };
  if (e.type === "@xstate.snapshot") return { ...base, event: e.event.type };
  return base;
}

describe("inspection", () => {
  const systems: ActorSystem[] = [];
  afterEach(async () => {
    for (const s of systems.splice(0)) await s.shutdown({ timeout: 0 });
  });

  it("reports the tree with parent links, deliveries, snapshots, exits and restarts", async () => {
    const events: InspectionEvent[] = [];
    const system = ActorSystem.start({ clock: new ManualClock(), inspect: (e) => events.push(e) });
    systems.push(system);
    const root = system.root.sessionId;
    const sup = await system.spawn(tree, { name: "sup" });
    const first = system.whereis("a") as string;
    const seen = () => events.map(summarize);
    expect(seen()).toContainEqual({
      type: "@xstate.actor",
      session: root,
      id: "normandy",
      parent: undefined,
    });
    expect(seen()).toContainEqual({ type: "@xstate.actor", session: sup, id: "sup", parent: root });
    expect(seen()).toContainEqual({ type: "@xstate.actor", session: first, id: "a", parent: sup });
    expect(seen()).toContainEqual({
      type: "@xstate.actor",
      session: system.whereis("m"),
      id: "m",
      parent: sup,
    });
    events.length = 0;
    system.cast("a", { type: "inc" });
    expect(seen()).toEqual([
      { type: "@xstate.event", session: first, event: "normandy.cast", source: undefined },
      { type: "@xstate.snapshot", session: first, event: "normandy.cast" },
    ]);
    events.length = 0;
    system.cast("a", { type: "crash" });
    const second = system.whereis("a") as string;
    expect(seen()).toEqual(
      expect.arrayContaining([
        { type: "@xstate.event", session: sup, event: "xstate.error.actor.a", source: first },
        { type: "@xstate.event", session: sup, event: "EXIT", source: first },
        { type: "@xstate.actor", session: second, id: "a", parent: sup },
        { type: "@xstate.event", session: sup, event: "normandy.supervisor.restart", source: sup },
      ]),
    );
    const crashed = events.find((e) => e.type === "@xstate.snapshot" && e.actorRef.sessionId === first);
    expect(crashed && "snapshot" in crashed ? crashed.snapshot : undefined).toMatchObject({
      status: "error",
      error: new Error("boom"),
    });
    const supSnapshot = events
      .filter((e) => e.type === "@xstate.snapshot" && e.actorRef.sessionId === sup)
      .at(-1);
    expect(
      JSON.parse(JSON.stringify(supSnapshot && "snapshot" in supSnapshot ? supSnapshot.snapshot : null)),
    ).toMatchObject({
      status: "active",
      context: { strategy: "one_for_one", children: 2, restarts: 1 },
    });
    events.length = 0;
    system.send("m", { type: "PING" });
    expect(seen()).toContainEqual({
      type: "@xstate.event",
      session: system.whereis("m"),
      event: "PING",
      source: undefined,
    });
  });

  it("attaches and detaches inspectors at run time, including XState's own actors", async () => {
    const system = ActorSystem.start({ clock: new ManualClock() });
    systems.push(system);
    const events: InspectionEvent[] = [];
    const sub = system.inspect({ next: (e) => events.push(e) });
    const pid = await system.spawn(createMachine({ id: "plain" }));
    system.send(pid, { type: "HI" });
    expect(events.map(summarize)).toContainEqual({
      type: "@xstate.event",
      session: pid,
      event: "HI",
      source: undefined,
    });
    sub.unsubscribe();
    events.length = 0;
    system.send(pid, { type: "HI" });
    await system.spawn(worker);
    expect(events).toEqual([]);
  });

  it("announces the live tree, parents first, to an inspector attached to a running system", async () => {
    const system = ActorSystem.start({ clock: new ManualClock() });
    systems.push(system);
    const sup = await system.spawn(tree, { name: "sup" });
    const machine = createMachine({
      id: "host",
      invoke: { id: "inner", src: createMachine({ id: "innerLogic" }) },
    });
    const host = await system.spawn(machine, { name: "host" });
    system.cast("a", { type: "crash" }); // the restarted child is announced, the crashed one is not
    const events: InspectionEvent[] = [];
    system.inspect((e) => events.push(e));
    const root = system.root.sessionId;
    const hostSnapshot = system.getSnapshot(host) as { children: Record<string, { sessionId: string }> };
    const inner = hostSnapshot.children.inner?.sessionId;
    expect(events.every((e) => e.type === "@xstate.actor" && e.rootId === root)).toBe(true);
    expect(events.map(summarize)).toEqual([
      { type: "@xstate.actor", session: root, id: "normandy", parent: undefined },
      { type: "@xstate.actor", session: sup, id: "sup", parent: root },
      { type: "@xstate.actor", session: system.whereis("m"), id: "m", parent: sup },
      { type: "@xstate.actor", session: host, id: "host", parent: root },
      { type: "@xstate.actor", session: inner, id: "inner", parent: host },
      { type: "@xstate.actor", session: system.whereis("a"), id: "a", parent: sup },
    ]);
  });

  it("streams a supervision tree with a restart to a real WebSocket server through @statelyai/inspect", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    const received: {
      type: string;
      name?: string;
      sessionId: string;
      parentId?: string;
      event?: { type: string };
    }[] = [];
    let wake: (() => void) | undefined;
    server.on("connection", (socket) => {
      socket.on("message", (data) => {
        received.push(JSON.parse(String(data)));
        wake?.();
      });
    });
    const until = async (predicate: () => boolean) => {
      const deadline = Date.now() + 5000; // bounded: a broken pipe fails the test instead of hanging it
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`inspector events did not arrive; got ${received.length}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    };
    const { port } = server.address() as AddressInfo;
    const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
    const system = ActorSystem.start({ inspect: inspector.inspect });
    try {
      const sup = await system.spawn(tree, { name: "sup" });
      const first = system.whereis("a");
      system.cast("a", { type: "crash" });
      const second = system.whereis("a");
      await until(() => received.some((m) => m.type === "@xstate.actor" && m.sessionId === second));
      const actors = received.filter((m) => m.type === "@xstate.actor");
      expect(actors).toContainEqual(
        expect.objectContaining({ name: "sup", sessionId: sup, parentId: system.root.sessionId }),
      );
      expect(actors).toContainEqual(expect.objectContaining({ name: "a", sessionId: first, parentId: sup }));
      expect(actors).toContainEqual(expect.objectContaining({ name: "a", sessionId: second, parentId: sup }));
      expect(received).toContainEqual(
        expect.objectContaining({
          type: "@xstate.event",
          sessionId: sup,
          event: expect.objectContaining({ type: "xstate.error.actor.a" }),
        }),
      );
    } finally {
      await system.shutdown();
      inspector.stop();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    }
  });
});
