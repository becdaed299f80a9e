// Any XState logic as a supervised process: the X-scenarios of otp-semantics §5 (what XState does on
// its own) and how the runtime handles each, plus interop between machines and servers.
import {
  ActorSystem,
  type DeadLetter,
  defineServer,
  defineSupervisor,
  type ExitReason,
  ManualClock,
  NotAServerError,
  reply,
  SupervisorClient,
} from "@normandy/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AnyActorRef,
  assign,
  createMachine,
  fromCallback,
  fromPromise,
  sendParent,
  sendTo,
  setup,
} from "xstate";
import { flush } from "./probe.js";

let clock: ManualClock;
let system: ActorSystem;
beforeEach(() => {
  clock = new ManualClock();
  system = ActorSystem.start({ clock });
});
afterEach(async () => {
  await system.shutdown({ timeout: 0 });
});

const counter = setup({
  types: {
    context: {} as { n: number },
    events: {} as { type: "INC" } | { type: "BOOM" } | { type: "FINISH" },
  },
}).createMachine({
  id: "counter",
  context: { n: 0 },
  initial: "on",
  states: {
    on: {
      on: {
        INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        BOOM: {
          actions: () => {
            throw new Error("boom in action");
          },
        },
        FINISH: "off",
      },
    },
    off: { type: "final" },
  },
});

describe("XState logic under supervision", () => {
  it("X1/X2: a machine child throwing in an action crashes only itself; the supervisor restarts it", async () => {
    const sup = await system.spawn(
      defineSupervisor({ intensity: 3, children: [{ id: "k", start: counter, name: "k" }] }),
      { name: "sup" },
    );
    const first = system.whereis("k");
    system.send("k", { type: "INC" });
    const reasons: ExitReason[] = [];
    system.monitor("k", (r) => reasons.push(r));
    system.send("k", { type: "BOOM" });
    expect(reasons).toEqual([{ error: new Error("boom in action") }]);
    expect(system.isAlive(sup)).toBe(true);
    const second = system.whereis("k");
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(system.getSnapshot("k")).toMatchObject({ status: "active", context: { n: 0 } });
    expect(await new SupervisorClient(system, sup).whichChildren()).toEqual([
      { id: "k", pid: second, type: "worker", kind: "logic" },
    ]);
  });

  it("a top-level machine that errors does not take the system down; its monitor sees the crash", async () => {
    const pid = await system.spawn(counter, { name: "solo" });
    const down = new Promise<ExitReason>((resolve) => system.monitor(pid, resolve));
    system.send(pid, { type: "BOOM" });
    expect(await down).toEqual({ error: new Error("boom in action") });
    expect(system.root.getSnapshot().status).toBe("active");
  });

  it("a machine reaching its final state exits normal: a transient child is not restarted", async () => {
    const sup = await system.spawn(
      defineSupervisor({ children: [{ id: "k", start: counter, name: "k", restart: "transient" }] }),
    );
    system.send("k", { type: "FINISH" });
    expect(await new SupervisorClient(system, sup).whichChildren()).toEqual([
      { id: "k", pid: undefined, type: "worker", kind: "logic" },
    ]);
  });

  it("X3: a rejecting promise actor crashes and is restarted; a resolving one exits normal", async () => {
    let attempts = 0;
    const job = fromPromise(async () => {
      attempts++;
      if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
      return "ok";
    });
    const sup = await system.spawn(
      defineSupervisor({ intensity: 5, children: [{ id: "job", start: job, restart: "transient" }] }),
    );
    for (let i = 0; i < 5; i++) await flush();
    expect(attempts).toBe(3);
    expect(await new SupervisorClient(system, sup).countChildren()).toEqual({
      specs: 1,
      active: 0,
      supervisors: 0,
      workers: 1,
    });
  });

  it("X4: a callback actor that throws while starting fails the start", async () => {
    const bad = fromCallback(() => {
      throw new Error("cannot start");
    });
    await expect(system.spawn(bad)).rejects.toMatchObject({
      code: "start_failed",
      reason: { error: new Error("cannot start") },
    });
    await expect(
      system.spawn(defineSupervisor({ children: [{ id: "cb", start: bad }] })),
    ).rejects.toMatchObject({
      reason: { shutdown: { failed_to_start_child: "cb" } },
    });
  });

  it("X5: restarting a named machine frees and reuses its name", async () => {
    await system.spawn(
      defineSupervisor({ intensity: 5, children: [{ id: "k", start: counter, name: "w" }] }),
    );
    for (let i = 0; i < 3; i++) {
      const before = system.whereis("w");
      system.exit("w", "kill");
      expect(system.whereis("w")).not.toBe(before);
      expect(system.whereis("w")).toBeDefined();
    }
  });

  it("X6: events sent before a stop are processed before the actor stops", async () => {
    const pid = await system.spawn(counter);
    system.send(pid, { type: "INC" });
    system.send(pid, { type: "INC" });
    const snapshot = system.actorRef(pid)?.getSnapshot();
    await system.stop(pid, { reason: "shutdown" });
    expect(snapshot).toMatchObject({ context: { n: 2 } });
  });

  it("X8: the runtime stops machine children in reverse start order, not XState's creation order", async () => {
    const log: string[] = [];
    const leaf = (id: string) => createMachine({ id });
    const sup = await system.spawn(
      defineSupervisor({
        children: [
          { id: "l1", start: leaf("l1"), name: "l1" },
          { id: "l2", start: leaf("l2"), name: "l2" },
        ],
      }),
    );
    for (const id of ["l1", "l2"]) system.monitor(id, () => log.push(`stop ${id}`));
    await system.stop(sup, { reason: "shutdown" });
    expect(log).toEqual(["stop l2", "stop l1"]);
  });

  it("an XState child cannot trap exits: a non-normal signal stops it, normal is ignored", async () => {
    const pid = await system.spawn(counter);
    system.exit(pid, "normal");
    expect(system.isAlive(pid)).toBe(true);
    const down = new Promise<ExitReason>((resolve) => system.monitor(pid, resolve));
    system.exit(pid, { shutdown: "bye" });
    expect(await down).toEqual({ shutdown: "bye" });
  });

  it("a machine whose initial state is final exits normal right after starting", async () => {
    const done = createMachine({ initial: "end", states: { end: { type: "final" } } });
    const pid = await system.spawn(done);
    expect(system.isAlive(pid)).toBe(false);
  });
});

describe("interop between machines and servers", () => {
  it("a machine sends to a server with sendTo; a server sends back with ctx.send; casts become events", async () => {
    const echo = defineServer({
      init: () => [] as string[],
      handleInfo: (msg: { type: string; replyTo?: string }, seen, ctx) => {
        if (msg.replyTo) ctx.send(msg.replyTo, { type: "INC" });
        return [...seen, msg.type];
      },
      handleCall: (_m: { type: "seen" }, _f, seen) => reply(seen, seen),
    });
    const server = await system.spawn(echo, { name: "echo" });
    const ref = system.actorRef(server);
    const machine = setup({
      types: { context: {} as { n: number }, events: {} as { type: "PING" } | { type: "INC" } },
    }).createMachine({
      context: { n: 0 },
      on: {
        PING: {
          actions: sendTo(
            () => ref as AnyActorRef,
            ({ self }) => ({ type: "ping", replyTo: self.sessionId }),
          ),
        },
        INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      },
    });
    const m = await system.spawn(machine);
    system.send(m, { type: "PING" });
    system.cast(m, { type: "INC" });
    expect(await system.call("echo", { type: "seen" })).toEqual(["ping"]);
    expect(system.getSnapshot(m)).toMatchObject({ context: { n: 2 } });
    await expect(system.call(m, { type: "x" })).rejects.toBeInstanceOf(NotAServerError);
    expect(() => system.cast(m, "not an event" as never)).toThrow(/string `type`/);
  });

  it("sendParent from a machine child reaches its supervisor, which reports it as a dead letter", async () => {
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const chatty = createMachine({ on: { GO: { actions: sendParent({ type: "HELLO_SUP" }) } } });
    const sup = await system.spawn(defineSupervisor({ children: [{ id: "c", start: chatty, name: "c" }] }));
    system.send("c", { type: "GO" });
    expect(letters).toEqual([{ to: sup, message: { type: "HELLO_SUP" }, reason: "unexpected" }]);
  });
});
