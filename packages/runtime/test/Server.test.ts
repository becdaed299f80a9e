import {
  ActorSystem,
  CallExitError,
  CallingSelfError,
  CallTimeoutError,
  type DeadLetter,
  defineServer,
  type ExitReason,
  IGNORE,
  MailboxFullError,
  ManualClock,
  NameTakenError,
  NoProcError,
  noreply,
  reply,
  StartError,
  stop,
  stopWithReply,
} from "@normandy/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "./probe.js";

const clock = new ManualClock();
let system: ActorSystem;
const start = () => {
  system = ActorSystem.start({ clock });
  return system;
};
afterEach(async () => {
  await system?.shutdown({ timeout: 0 }).catch(() => {});
});

const counter = defineServer({
  init: (n: number) => n,
  handleCall: (msg: { type: "get" } | { type: "add_get"; by: number }, _from, n) =>
    msg.type === "get" ? reply(n, n) : reply(n + msg.by, n + msg.by),
  handleCast: (msg: { type: "add"; by: number }, n) => n + msg.by,
});

describe("servers", () => {
  it("handles calls and casts with typed replies", async () => {
    start();
    const pid = await system.spawn(counter, { args: 1 });
    system.cast(pid, { type: "add", by: 2 });
    const n: number = await system.call(pid, { type: "get" });
    expect(n).toBe(3);
    expect(await system.call(pid, { type: "add_get", by: 4 })).toBe(7);
    expect((system.getSnapshot(pid) as { context: number }).context).toBe(7);
  });

  it("handles one message at a time, in order, while an async handler is pending", async () => {
    start();
    const log: string[] = [];
    const gates = [deferred(), deferred()];
    const server = defineServer({
      init: () => 0,
      handleCast: async (msg: { type: "work"; i: number }, n: number) => {
        log.push(`start ${msg.i}`);
        if (msg.i < 2) await gates[msg.i]?.promise;
        log.push(`end ${msg.i}`);
        return n + 1;
      },
      handleCall: (_m: { type: "count" }, _f, n) => reply(n, n),
    });
    const pid = await system.spawn(server);
    for (const i of [0, 1, 2]) system.cast(pid, { type: "work", i });
    const count = system.call(pid, { type: "count" });
    expect(system.mailboxDepth(pid)).toBe(3);
    gates[1]?.resolve();
    await clock.advance(0);
    expect(log).toEqual(["start 0"]);
    gates[0]?.resolve();
    expect(await count).toBe(3);
    expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
  });

  it("times out a call with a typed error, keeps the server running and drops the late reply", async () => {
    start();
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const gate = deferred();
    const slow = defineServer({
      init: () => 0,
      handleCall: async (_m: { type: "slow" } | { type: "ping" }, _f, s: number) => {
        if (_m.type === "slow") await gate.promise;
        return reply("pong", s);
      },
    });
    const pid = await system.spawn(slow);
    const call = system.call(pid, { type: "slow" }, { timeout: 100 });
    await clock.advance(99);
    let settled = false;
    void call.catch(() => {}).then(() => (settled = true));
    await clock.advance(0);
    expect(settled).toBe(false);
    await clock.advance(1);
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect(error).toMatchObject({ code: "timeout", timeoutMs: 100 });
    gate.resolve();
    expect(await system.call(pid, { type: "ping" })).toBe("pong");
    expect(letters).toEqual([expect.objectContaining({ reason: "late_reply", message: "pong" })]);
  });

  it("uses a 5 s default call timeout", async () => {
    start();
    const never = defineServer({ init: () => 0, handleCall: (_m: unknown, _f, s) => noreply(s) });
    const pid = await system.spawn(never);
    const call = system.call(pid, {}).catch((e: unknown) => e);
    await clock.advance(4999);
    await clock.advance(1);
    expect(await call).toMatchObject({ code: "timeout", timeoutMs: 5000 });
  });

  it("gives noproc for a dead or unknown address", async () => {
    start();
    await expect(system.call("nobody", {})).rejects.toBeInstanceOf(NoProcError);
    const pid = await system.spawn(counter, { args: 0 });
    await system.stop(pid);
    await expect(system.call(pid, { type: "get" })).rejects.toMatchObject({ code: "noproc", address: pid });
  });

  it("gives the caller the callee's exit reason when it crashes during the call", async () => {
    start();
    const boom = new Error("boom");
    const crashy = defineServer({
      init: () => 0,
      handleCall: async (_m: { type: "crash" }) => {
        throw boom;
      },
    });
    const pid = await system.spawn(crashy);
    const queued = system.call(pid, { type: "crash" });
    const error = await system.call(pid, { type: "crash" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallExitError);
    expect((error as CallExitError).reason).toEqual({ error: boom });
    await expect(queued).rejects.toBeInstanceOf(CallExitError);
  });

  it("supports deferred replies and stop with reply", async () => {
    start();
    const waiters = defineServer({
      init: () => [] as { ref: number; pid: string | undefined }[],
      handleCall: (msg: { type: "wait" } | { type: "release" } | { type: "quit" }, from, list, ctx) => {
        if (msg.type === "wait") return noreply([...list, from]);
        if (msg.type === "quit") return stopWithReply("normal", "bye", list);
        for (const w of list) ctx.reply(w, "released");
        return reply(list.length, []);
      },
    });
    const pid = await system.spawn(waiters);
    const a = system.call(pid, { type: "wait" });
    const b = system.call(pid, { type: "wait" });
    expect(await system.call(pid, { type: "release" })).toBe(2);
    expect(await Promise.all([a, b])).toEqual(["released", "released"]);
    expect(await system.call(pid, { type: "quit" })).toBe("bye");
    expect(system.isAlive(pid)).toBe(false);
  });

  it("fails a pending deferred call with the exit reason when the server stops without replying", async () => {
    start();
    const s = defineServer({
      init: () => 0,
      handleCall: (_m: { type: "wait" }, _f, n) => noreply(n),
      handleCast: (_m: { type: "quit" }, n) => stop({ shutdown: "done" }, n),
    });
    const pid = await system.spawn(s);
    const waiting = system.call(pid, { type: "wait" });
    system.cast(pid, { type: "quit" });
    await expect(waiting).rejects.toMatchObject({ code: "exit", reason: { shutdown: "done" } });
  });

  it("rejects a call to itself", async () => {
    start();
    const selfish = defineServer({
      init: () => 0,
      handleCall: async (_m: { type: "go" }, _f, n, ctx) => {
        const error = await ctx.call(ctx.self, { type: "go" }).catch((e: unknown) => e);
        return reply(error, n);
      },
    });
    const pid = await system.spawn(selfish);
    expect(await system.call(pid, { type: "go" })).toBeInstanceOf(CallingSelfError);
  });

  it("runs terminate on stop, crash and handler exceptions of every kind", async () => {
    start();
    const terminated: ExitReason[] = [];
    const s = defineServer({
      init: () => 0,
      handleCast: (msg: { type: "throw"; value: unknown } | { type: "reject"; value: unknown }) => {
        if (msg.type === "throw") throw msg.value;
        return Promise.reject(msg.value);
      },
      terminate: (reason) => {
        terminated.push(reason);
      },
    });
    const error = new TypeError("bad");
    for (const msg of [
      { type: "throw", value: error },
      { type: "throw", value: "a string" },
      { type: "reject", value: 42 },
      { type: "reject", value: undefined },
    ] as const) {
      const pid = await system.spawn(s);
      const down = new Promise<ExitReason>((resolve) => system.monitor(pid, resolve));
      system.cast(pid, msg);
      expect(await down).toEqual({ error: msg.value });
    }
    expect(terminated).toEqual([{ error }, { error: "a string" }, { error: 42 }, { error: undefined }]);
  });

  it("fails the start when init throws, rejects or ignores", async () => {
    start();
    const failing = defineServer({
      init: (mode: "throw" | "reject" | "ignore" | "stop") => {
        if (mode === "throw") throw new Error("no");
        if (mode === "reject") return Promise.reject(new Error("later"));
        if (mode === "stop") return stop({ shutdown: "nope" }, undefined);
        return IGNORE;
      },
    });
    await expect(system.spawn(failing, { args: "throw", name: "f" })).rejects.toMatchObject({
      code: "start_failed",
      reason: { error: new Error("no") },
    });
    expect(system.whereis("f")).toBeUndefined();
    await expect(system.spawn(failing, { args: "reject" })).rejects.toBeInstanceOf(StartError);
    await expect(system.spawn(failing, { args: "ignore" })).rejects.toMatchObject({ reason: "ignore" });
    await expect(system.spawn(failing, { args: "stop" })).rejects.toMatchObject({
      reason: { shutdown: "nope" },
    });
    expect(system.processCount).toBe(0);
  });

  it("queues messages sent during an async init and handles them after it", async () => {
    start();
    const gate = deferred<number>();
    const s = defineServer({
      init: () => gate.promise,
      handleCall: (_m: { type: "get" }, _f, n: number) => reply(n, n),
      handleCast: (m: { type: "add"; by: number }, n: number) => n + m.by,
    });
    const spawned = system.spawn(s, { name: "late" });
    await clock.advance(0);
    expect(system.whereis("late")).toBeDefined();
    system.cast("late", { type: "add", by: 1 });
    const got = system.call("late", { type: "get" });
    gate.resolve(10);
    await spawned;
    expect(await got).toBe(11);
  });

  it("bounds the mailbox: reject refuses the new message, drop-oldest dead-letters the oldest", async () => {
    start();
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const gate = deferred();
    const s = defineServer({
      init: () => [] as number[],
      handleCast: async (m: { type: "n"; i: number }, seen: number[]) => {
        await gate.promise;
        return [...seen, m.i];
      },
      handleCall: (_m: { type: "seen" }, _f, seen) => reply(seen, seen),
    });
    const rejecting = await system.spawn(s, { mailbox: { capacity: 2, overflow: "reject" } });
    system.cast(rejecting, { type: "n", i: 0 }); // being handled
    system.cast(rejecting, { type: "n", i: 1 });
    system.cast(rejecting, { type: "n", i: 2 });
    expect(() => system.cast(rejecting, { type: "n", i: 3 })).toThrow(MailboxFullError);
    await expect(system.call(rejecting, { type: "seen" })).rejects.toMatchObject({
      code: "mailbox_full",
      policy: "reject",
    });

    const dropping = await system.spawn(s, { mailbox: { capacity: 2, overflow: "drop-oldest" } });
    for (const i of [0, 1, 2, 3]) system.cast(dropping, { type: "n", i });
    gate.resolve();
    await clock.advance(0);
    expect(await system.call(rejecting, { type: "seen" })).toEqual([0, 1, 2]);
    expect(await system.call(dropping, { type: "seen" })).toEqual([0, 2, 3]);
    expect(letters).toEqual([
      { to: dropping, reason: "overflow", message: { type: "normandy.cast", msg: { type: "n", i: 1 } } },
    ]);
  });

  it("registers names, refuses duplicates and frees a name when its process dies", async () => {
    start();
    const pid = await system.spawn(counter, { args: 0, name: "c" });
    expect(system.whereis("c")).toBe(pid);
    await expect(system.spawn(counter, { args: 0, name: "c" })).rejects.toBeInstanceOf(NameTakenError);
    expect(await system.call("c", { type: "get" })).toBe(0);
    await system.stop("c");
    expect(system.whereis("c")).toBeUndefined();
    const again = await system.spawn(counter, { args: 5, name: "c" });
    expect(system.whereis("c")).toBe(again);
    expect(() => system.register("other", again)).toThrow(/already registered/);
    expect(() => system.register("p:1", again)).toThrow(/looks like a pid/);
  });

  it("sends messages to dead or unknown addresses to dead letters", async () => {
    start();
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    system.send("ghost", { type: "hello" });
    system.cast("ghost", { type: "add", by: 1 });
    expect(letters.map((l) => [l.to, l.reason])).toEqual([
      ["ghost", "noproc"],
      ["ghost", "noproc"],
    ]);
    expect(() => system.send("ghost", "not an event" as never)).toThrow(/string `type`/);
  });

  it("delivers sendAfter on the clock and cancels timers", async () => {
    start();
    const got: string[] = [];
    const s = defineServer({
      init: () => 0,
      handleInfo: (m: { type: string }, n: number) => {
        got.push(m.type);
        return n;
      },
    });
    const pid = await system.spawn(s);
    system.sendAfter(pid, { type: "later" }, 1000);
    const t = system.sendAfter(pid, { type: "cancelled" }, 500);
    expect(system.cancelTimer(t)).toBe(true);
    expect(system.cancelTimer(t)).toBe(false);
    await clock.advance(999);
    expect(got).toEqual([]);
    await clock.advance(1);
    expect(got).toEqual(["later"]);
  });
});
