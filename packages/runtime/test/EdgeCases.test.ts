// Bad input and races: every one gives a typed error or a supervised crash, never an unhandled
// rejection, a hang, or a message lost without a dead letter.
import {
  ActorSystem,
  CallExitError,
  crash,
  type DeadLetter,
  defineServer,
  defineSupervisor,
  type ExitReason,
  formatReason,
  InvalidArgumentError,
  isCleanExit,
  MailboxFullError,
  ManualClock,
  MemorySnapshotStore,
  NameTakenError,
  NoProcError,
  reply,
  SupervisorClient,
  SystemStoppedError,
} from "@normandy/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMachine } from "xstate";
import { flush, sleep } from "./probe.js";

let clock: ManualClock;
let system: ActorSystem;
let letters: DeadLetter[];
beforeEach(() => {
  clock = new ManualClock();
  system = ActorSystem.start({ clock });
  letters = [];
  system.onDeadLetter((l) => letters.push(l));
});
afterEach(async () => {
  await system.shutdown({ timeout: 0 });
});

const echo = defineServer({
  init: () => 0,
  handleCall: (m: { type: "echo"; v: unknown }, _f, s) => reply(m.v, s),
  handleCast: (_m: { type: "noop" }, s) => s,
});

describe("the registry and addressing", () => {
  it("validates names and pids", async () => {
    const pid = await system.spawn(echo);
    expect(() => system.register("", pid)).toThrow(InvalidArgumentError);
    expect(() => system.register("n", "p:999999")).toThrow(NoProcError);
    system.register("n", pid);
    system.register("n", pid); // idempotent for the same process
    expect(system.registered()).toEqual(["n"]);
    const other = await system.spawn(echo);
    expect(() => system.register("n", other)).toThrow(NameTakenError);
    expect(system.whereis(pid)).toBeUndefined(); // a pid is not a name
    expect(system.unregister("n")).toBe(true);
    expect(system.unregister("n")).toBe(false);
    expect(system.whereis("n")).toBeUndefined();
    await expect(system.spawn(createMachine({}), { name: "m" })).resolves.toBeDefined();
    await expect(system.spawn(createMachine({}), { name: "m" })).rejects.toBeInstanceOf(NameTakenError);
  });

  it("refuses what is not a behaviour, and everything after shutdown", async () => {
    await expect(system.spawn({} as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await system.shutdown();
    await system.shutdown(); // twice is fine
    await expect(system.spawn(echo)).rejects.toBeInstanceOf(SystemStoppedError);
    await expect(system.spawn(createMachine({}))).rejects.toBeInstanceOf(SystemStoppedError);
    expect(system.getSnapshot("nobody")).toBeUndefined();
    expect(system.mailboxDepth("nobody")).toBeUndefined();
    expect(system.actorRef("nobody")).toBeUndefined();
  });
});

describe("calls", () => {
  it("validate the timeout and can wait forever", async () => {
    const pid = await system.spawn(echo);
    await expect(system.call(pid, { type: "echo", v: 1 }, { timeout: -1 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      system.call(pid, { type: "echo", v: 2 }, { timeout: Number.POSITIVE_INFINITY }),
    ).resolves.toBe(2);
    expect(clock.pending).toBe(0); // a synchronous reply arms no timer
  });

  it("crash the server on a message it has no handler for, and tell the caller", async () => {
    const castOnly = defineServer({ init: () => 0, handleCast: (_m: { type: "x" }, s) => s });
    const a = await system.spawn(castOnly);
    const error = await system.call(a, { type: "?" } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallExitError);
    expect(formatReason((error as CallExitError).reason)).toMatch(/has no handleCall for \{type: "\?"\}/);
    const callOnly = defineServer({ init: () => 0, handleCall: (_m: unknown, _f, s) => reply(1, s) });
    const b = await system.spawn(callOnly);
    const down = new Promise<ExitReason>((resolve) => system.monitor(b, resolve));
    system.cast(b, 42 as never);
    expect(formatReason(await down)).toMatch(/has no handleCast for 42/);
  });

  it("crash the server when handleCall returns something that is not a call result", async () => {
    const bad = defineServer({ init: () => 0, handleCall: (_m: object) => 5 as never });
    const pid = await system.spawn(bad);
    const error = (await system.call(pid, {}).catch((e: unknown) => e)) as CallExitError;
    expect((error.reason as { error: unknown }).error).toBeInstanceOf(TypeError);
  });

  it("fail with killed when the callee is killed while an async handler runs", async () => {
    const slow = defineServer({ init: () => 0, handleCall: (_m: object) => new Promise<never>(() => {}) });
    const pid = await system.spawn(slow);
    const call = system.call(pid, {}).catch((e: unknown) => e);
    system.exit(pid, "kill");
    expect(await call).toMatchObject({ code: "exit", reason: "killed" });
  });

  it("dropped by a drop-oldest mailbox fail at once with a typed error", async () => {
    const busy = defineServer({
      init: () => 0,
      handleCast: (_m: object) => new Promise<number>(() => {}),
      handleCall: (_m: object, _f, s: number) => reply(s, s),
    });
    const pid = await system.spawn(busy, { mailbox: { capacity: 1, overflow: "drop-oldest" } });
    system.cast(pid, {});
    const dropped = system.call(pid, {}).catch((e: unknown) => e);
    system.cast(pid, {});
    const error = await dropped;
    expect(error).toBeInstanceOf(MailboxFullError);
    expect(error).toMatchObject({ policy: "drop-oldest", capacity: 1 });
  });
});

describe("starts", () => {
  it("a process killed during its async init fails its start with killed", async () => {
    const slow = defineServer({ init: (_: undefined, ctx) => sleep(clock, 100).then(() => ctx.self) });
    const spawned = system.spawn(slow, { name: "slow" }).catch((e: unknown) => e);
    await flush();
    system.exit("slow", "kill");
    await clock.advance(100);
    expect(await spawned).toMatchObject({ code: "start_failed", reason: "killed" });
  });

  it("a supervisor child killed during its async init is a failed start", async () => {
    const slow = defineServer({ init: () => sleep(clock, 100).then(() => 0) });
    const sup = defineSupervisor({ children: [{ id: "s", start: slow, name: "s" }] });
    const spawned = system.spawn(sup).catch((e: unknown) => e);
    await flush();
    system.exit("s", "kill");
    await clock.advance(100);
    expect(await spawned).toMatchObject({
      reason: { shutdown: { failed_to_start_child: "s", reason: "killed" } },
    });
  });

  it("a durable machine whose stored snapshot is corrupt fails its start", async () => {
    const store = new MemorySnapshotStore();
    await store.put("m", {
      version: 1,
      value: { status: "active", value: "no-such-state", context: {}, children: {} },
    });
    const durable = ActorSystem.start({ clock, snapshotStore: store });
    try {
      const machine = createMachine({ initial: "a", states: { a: {} } });
      await expect(durable.spawn(machine, { durable: "m" })).rejects.toMatchObject({ code: "start_failed" });
      expect(durable.processCount).toBe(0);
    } finally {
      await durable.shutdown();
    }
  });
});

describe("timers", () => {
  it("validate their delay, reach names, and are cancelled with a pid target that died", async () => {
    const got: string[] = [];
    const inbox = defineServer({
      init: () => 0,
      handleInfo: (m: { type: string }, s: number) => {
        got.push(m.type);
        return s;
      },
    });
    const a = await system.spawn(inbox, { name: "inbox" });
    expect(() => system.sendAfter(a, { type: "x" }, -1)).toThrow(InvalidArgumentError);
    expect(() => system.sendAfter(a, { type: "x" }, Number.POSITIVE_INFINITY)).toThrow(InvalidArgumentError);
    system.sendAfter("inbox", { type: "by-name" }, 10);
    system.sendAfter(a, { type: "to-dead-pid" }, 20);
    system.sendAfter("ghost", { type: "to-ghost" }, 20);
    await clock.advance(10);
    await system.stop(a);
    await clock.advance(10);
    expect(got).toEqual(["by-name"]);
    expect(letters.map((l) => [l.to, l.reason])).toEqual([["ghost", "noproc"]]);
  });

  it("from inside a server, with cast and cancel", async () => {
    const got: string[] = [];
    const self = defineServer({
      init: (_: undefined, ctx) => {
        const t = ctx.sendAfter(ctx.self, { type: "cancelled" }, 5);
        expect(ctx.cancelTimer(t)).toBe(true);
        ctx.sendAfter(ctx.self, { type: "tick" }, 5);
        return 0;
      },
      handleInfo: (m: { type: string }, s: number, ctx) => {
        got.push(m.type);
        ctx.cast(ctx.self, { type: "c" });
        return s;
      },
      handleCast: (m: { type: string }, s: number) => {
        got.push(m.type);
        return s;
      },
    });
    await system.spawn(self);
    await clock.advance(5);
    expect(got).toEqual(["tick", "c"]);
  });
});

describe("the ActorRef surface of a server", () => {
  it("stop(), selectors, unsubscribe, persisted snapshots and messages after death", async () => {
    const pid = await system.spawn(echo);
    const ref = system.actorRef(pid);
    if (ref === undefined) throw new Error("no ref");
    ref.start(); // a no-op: the kernel starts processes
    expect(ref.select((s: { context: number }) => s.context + 1).get()).toBe(1);
    const seen: unknown[] = [];
    const sub = ref.subscribe((s: unknown) => seen.push(s));
    sub.unsubscribe();
    ref.on("anything", () => {}).unsubscribe();
    system.cast(pid, { type: "noop" });
    expect(seen).toEqual([]);
    expect(ref.getPersistedSnapshot()).toEqual({
      status: "active",
      output: undefined,
      error: undefined,
      context: 0,
    });
    expect((ref as unknown as { [k: symbol]: () => unknown })[Symbol.for("observable")]?.()).toBe(ref);
    const down = new Promise<ExitReason>((resolve) => system.monitor(pid, resolve));
    ref.stop();
    expect(await down).toBe("normal");
    ref.send({ type: "late" });
    expect(letters).toEqual([{ to: pid, message: { type: "late" }, reason: "noproc" }]);
    const ctxAfter = await new Promise<AbortSignal>((resolve) => {
      const s = defineServer({
        init: (_: undefined, ctx) => {
          resolve(ctx.signal);
          return 0;
        },
      });
      void system.spawn(s);
    });
    expect(ctxAfter.aborted).toBe(false);
  });

  it("survives an observer that throws, and reports it", async () => {
    const pid = await system.spawn(echo);
    const reports: unknown[] = [];
    system.telemetry.attach("obs", [["normandy", "process", "observer_failed"]], (_e, _m, meta) =>
      reports.push(meta),
    );
    system.actorRef(pid)?.subscribe(() => {
      throw new Error("observer bug");
    });
    system.cast(pid, { type: "noop" });
    expect(await system.call(pid, { type: "echo", v: "still fine" })).toBe("still fine");
    expect(reports).toEqual([
      { pid, error: new Error("observer bug") },
      { pid, error: new Error("observer bug") },
    ]);
  });

  it("reports a killed server to observers as an error", async () => {
    const pid = await system.spawn(echo);
    const errors: unknown[] = [];
    system.actorRef(pid)?.subscribe({ error: (e) => errors.push(e) });
    system.exit(pid, "kill");
    expect(errors).toEqual([new Error(`${pid} was killed`)]);
  });
});

describe("exit reasons", () => {
  it("classify and format every kind", () => {
    expect(["normal", "shutdown", { shutdown: 1 }].map((r) => isCleanExit(r as ExitReason))).toEqual([
      true,
      true,
      true,
    ]);
    expect(["killed", "noproc", crash("x")].map((r) => isCleanExit(r as ExitReason))).toEqual([
      false,
      false,
      false,
    ]);
    expect(formatReason({ shutdown: "bye" })).toBe('{shutdown: "bye"}');
    expect(formatReason({ error: new TypeError("t") })).toBe("crash: TypeError: t");
    expect(formatReason({ error: { code: 1 } })).toBe('crash: {"code":1}');
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(formatReason({ error: cyclic })).toBe("crash: [object Object]");
    expect(formatReason({ error: undefined })).toBe("crash: undefined");
  });
});

describe("supervisor corners", () => {
  it("static start_child with ignore keeps the spec (not a temporary one); restart_child failing reports it", async () => {
    const flaky = defineServer({
      init: (plan: string[]) => {
        const next = plan.shift();
        if (next === "ignore") return Symbol.for("normandy.ignore") as never;
        if (next === "fail") throw new Error("no");
        return 0;
      },
    });
    const sup = await system.spawn(defineSupervisor({ children: [] }));
    const client = new SupervisorClient(system, sup);
    expect(await client.startChild({ id: "i", start: flaky, args: ["ignore", "fail"] })).toEqual({
      ok: true,
      pid: undefined,
    });
    expect(await client.whichChildren()).toEqual([
      { id: "i", pid: undefined, type: "worker", kind: "server" },
    ]);
    expect(await client.restartChild("i")).toEqual({
      ok: false,
      error: "start_failed",
      reason: { error: new Error("no") },
    });
    expect(
      await client.startChild({ id: "t", start: flaky, args: ["ignore"], restart: "temporary" }),
    ).toEqual({ ok: true, pid: undefined });
    expect((await client.whichChildren()).map((r) => r.id)).toEqual(["i"]);
    expect(await client.startChild([1] as never)).toMatchObject({ ok: false, error: "invalid_child_spec" });
  });

  it("simple_one_for_one: ignore gives ok undefined, failures are reported, templates validated", async () => {
    const flaky = defineServer({
      init: ([mode]: string[]) => {
        if (mode === "ignore") return Symbol.for("normandy.ignore") as never;
        if (mode === "fail") throw new Error("no");
        return mode;
      },
    });
    const sup = await system.spawn(
      defineSupervisor({ strategy: "simple_one_for_one", children: [{ id: "w", start: flaky }] }),
    );
    const client = new SupervisorClient(system, sup);
    expect(await client.startChild(["ignore"])).toEqual({ ok: true, pid: undefined });
    expect(await client.startChild(["fail"])).toEqual({
      ok: false,
      error: "start_failed",
      reason: { error: new Error("no") },
    });
    expect(await client.startChild({ id: "x", start: flaky })).toMatchObject({
      ok: false,
      error: "invalid_child_spec",
    });
    expect(await client.countChildren()).toEqual({ specs: 1, active: 0, supervisors: 0, workers: 0 });
    await expect(
      system.spawn(
        defineSupervisor({
          strategy: "simple_one_for_one",
          children: [{ id: "w", start: flaky, args: "not-an-array" }],
        }),
      ),
    ).rejects.toMatchObject({ reason: "bad_start_spec" });
    const letter = await system.call(sup, { type: "get_childspec", id: "nope" });
    expect(letter).toEqual({ ok: false, error: "not_found" });
  });

  it("a one_for_one restart whose child now ignores leaves it stopped", async () => {
    let ignore = false;
    const w = defineServer({
      init: () => (ignore ? (Symbol.for("normandy.ignore") as never) : 0),
      handleCast: (_m: { type: "crash" }) => {
        throw new Error("x");
      },
    });
    const sup = await system.spawn(
      defineSupervisor({ intensity: 3, children: [{ id: "w", start: w, name: "w" }] }),
    );
    ignore = true;
    system.cast("w", { type: "crash" });
    expect(await new SupervisorClient(system, sup).whichChildren()).toEqual([
      { id: "w", pid: undefined, type: "worker", kind: "server" },
    ]);
  });
});
