// The supervisor scenarios of shared/reference/otp-semantics.md §5 (S01–S27), observed on OTP 25, and
// the cases §1 specifies that the table does not list.
import {
  ActorSystem,
  type DeadLetter,
  defineServer,
  defineSupervisor,
  IGNORE,
  InvalidChildSpecError,
  ManualClock,
  reply,
  SupervisorClient,
  type SupervisorSpec,
} from "@normandy/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { child, flush, probe, watch } from "./probe.js";

let clock: ManualClock;
let system: ActorSystem;
let log: string[];

beforeEach(() => {
  clock = new ManualClock();
  system = ActorSystem.start({ clock });
  log = [];
});
afterEach(async () => {
  const done = system.shutdown({ timeout: 0 });
  await clock.runAll();
  await done;
});

const c = (id: string, extra: Parameters<typeof child>[3] = {}) => child(log, clock, id, extra);

async function startSup(spec: SupervisorSpec, name = "sup") {
  const pid = await system.spawn(defineSupervisor(spec), { name });
  return { pid, client: new SupervisorClient(system, pid) };
}

async function pidOf(name: string): Promise<string> {
  const pid = system.whereis(name);
  if (pid === undefined) throw new Error(`${name} is not running`);
  return pid;
}

describe("restart strategies (§1.3)", () => {
  it("S01 one_for_one restarts only the crashed child, then shuts down in reverse start order", async () => {
    await startSup({ strategy: "one_for_one", intensity: 3, children: [c("a"), c("b"), c("c")] });
    const [a, b, cc] = [await pidOf("a"), await pidOf("b"), await pidOf("c")];
    system.cast("b", { type: "crash" });
    await flush();
    expect(log).toEqual(["start a", "start b", "start c", "term b crash", "start b"]);
    expect(await pidOf("a")).toBe(a);
    expect(await pidOf("c")).toBe(cc);
    expect(await pidOf("b")).not.toBe(b);
    log.length = 0;
    const down = watch(system, log, "sup");
    await system.stop("sup", { reason: "shutdown" });
    await down;
    expect(log).toEqual(["term c shutdown", "term b shutdown", "term a shutdown", "down sup shutdown"]);
  });

  it("S02 one_for_all terminates the others in reverse order, then starts all in order", async () => {
    await startSup({ strategy: "one_for_all", intensity: 3, children: [c("a"), c("b"), c("c")] });
    log.length = 0;
    system.cast("b", { type: "crash" });
    await flush();
    expect(log).toEqual([
      "term b crash",
      "term c shutdown",
      "term a shutdown",
      "start a",
      "start b",
      "start c",
    ]);
  });

  it("S03 rest_for_one restarts the crashed child and those started after it", async () => {
    await startSup({ strategy: "rest_for_one", intensity: 3, children: [c("a"), c("b"), c("c"), c("d")] });
    const a = await pidOf("a");
    log.length = 0;
    system.cast("b", { type: "crash" });
    await flush();
    expect(log).toEqual([
      "term b crash",
      "term d shutdown",
      "term c shutdown",
      "start b",
      "start c",
      "start d",
    ]);
    expect(await pidOf("a")).toBe(a);
  });

  it("S05/S26 a temporary child terminated by a sibling's group restart is dropped, not restarted", async () => {
    for (const strategy of ["one_for_all", "rest_for_one"] as const) {
      log.length = 0;
      const { pid, client } = await startSup(
        { strategy, intensity: 3, children: [c("a"), c("t", { restart: "temporary" })] },
        `sup_${strategy}`,
      );
      log.length = 0;
      system.cast("a", { type: "crash" });
      await flush();
      expect(log).toEqual(["term a crash", "term t shutdown", "start a"]);
      expect((await client.whichChildren()).map((r) => r.id)).toEqual(["a"]);
      await system.stop(pid);
    }
  });

  it("group restarts under every strategy restart transient children that had stopped normally (OTP start_children)", async () => {
    const { client } = await startSup({
      strategy: "one_for_all",
      intensity: 5,
      children: [c("a"), c("tr", { restart: "transient" })],
    });
    system.cast("tr", { type: "exit", reason: "normal" });
    await flush();
    expect((await client.whichChildren()).find((r) => r.id === "tr")?.pid).toBeUndefined();
    log.length = 0;
    system.cast("a", { type: "crash" });
    await flush();
    expect(log).toEqual(["term a crash", "start a", "start tr"]);
  });
});

describe("restart types (§1.2)", () => {
  it("S04 permanent, transient and temporary children under one_for_one", async () => {
    const { client } = await startSup({
      strategy: "one_for_one",
      intensity: 10,
      children: [c("p"), c("tr", { restart: "transient" }), c("tm", { restart: "temporary" })],
    });
    const step = async (name: string, msg: { type: "exit"; reason: never } | { type: "crash" }) => {
      log.length = 0;
      system.cast(name, msg);
      await flush();
      return [...log];
    };
    expect(await step("p", { type: "exit", reason: "normal" as never })).toEqual([
      "term p normal",
      "start p",
    ]);
    expect(await step("p", { type: "exit", reason: "shutdown" as never })).toEqual([
      "term p shutdown",
      "start p",
    ]);
    expect(await step("tr", { type: "exit", reason: "normal" as never })).toEqual(["term tr normal"]);
    expect((await client.whichChildren()).find((r) => r.id === "tr")).toMatchObject({ pid: undefined });
    const restarted = await client.restartChild("tr");
    expect(restarted).toEqual({ ok: true, pid: await pidOf("tr") });
    expect(await step("tr", { type: "exit", reason: { shutdown: "bye" } as never })).toEqual([
      "term tr {shutdown,bye}",
    ]);
    expect(await client.restartChild("tr")).toMatchObject({ ok: true });
    expect(await step("tr", { type: "crash" })).toEqual(["term tr crash", "start tr"]);
    expect(await step("tm", { type: "crash" })).toEqual(["term tm crash"]);
    expect((await client.whichChildren()).map((r) => r.id)).toEqual(["tr", "p"]);
    expect(await client.restartChild("tm")).toEqual({ ok: false, error: "not_found" });
  });

  it("a transient child's clean exits and a temporary child's exits do not count toward intensity", async () => {
    await startSup({
      strategy: "one_for_one",
      intensity: 0,
      children: [c("tr", { restart: "transient" }), c("tm", { restart: "temporary" }), c("x")],
    });
    const sup = await pidOf("sup");
    system.cast("tr", { type: "exit", reason: "normal" });
    system.cast("tm", { type: "crash" });
    await flush();
    expect(system.isAlive(sup)).toBe(true);
  });
});

describe("transient and temporary children under every strategy", () => {
  const expectations = {
    one_for_one: ["term tr crash", "start tr"],
    one_for_all: [
      "term tr crash",
      "term tm shutdown",
      "term z shutdown",
      "term a shutdown",
      "start a",
      "start tr",
      "start z",
    ],
    rest_for_one: ["term tr crash", "term tm shutdown", "term z shutdown", "start tr", "start z"],
  } as const;
  for (const strategy of ["one_for_one", "one_for_all", "rest_for_one"] as const) {
    it(`${strategy}: a transient child's normal exit and a temporary child's crash restart nothing; a transient crash restarts its group`, async () => {
      const { client } = await startSup({
        strategy,
        intensity: 5,
        children: [c("a"), c("tr", { restart: "transient" }), c("tm", { restart: "temporary" }), c("z")],
      });
      log.length = 0;
      system.cast("tm", { type: "crash" });
      system.cast("tr", { type: "exit", reason: "normal" });
      await flush();
      expect(log).toEqual(["term tm crash", "term tr normal"]);
      expect(
        (await client.whichChildren()).map((r) => `${r.id}:${r.pid === undefined ? "-" : "up"}`),
      ).toEqual(["z:up", "tr:-", "a:up"]);
      await client.restartChild("tr"); // keeps its place
      await client.startChild(c("tm", { restart: "temporary" })); // appended: the order is a, tr, z, tm
      log.length = 0;
      system.cast("tr", { type: "crash" });
      await flush();
      expect(log).toEqual(expectations[strategy]);
    });
  }
});

describe("restart intensity (§1.4)", () => {
  it("S06 intensity 2: the third crash within the period shuts the supervisor down in reverse order", async () => {
    await startSup({ strategy: "one_for_one", intensity: 2, period: 5, children: [c("a"), c("b"), c("c")] });
    const down = watch(system, log, "sup");
    log.length = 0;
    for (let i = 0; i < 3; i++) {
      system.cast("b", { type: "crash" });
      await flush();
      await clock.advance(30);
    }
    await down;
    expect(log).toEqual([
      "term b crash",
      "start b",
      "term b crash",
      "start b",
      "term b crash",
      "term c shutdown",
      "term a shutdown",
      "down sup shutdown",
    ]);
  });

  it("S07 intensity 0: the first crash kills the supervisor", async () => {
    await startSup({ strategy: "one_for_one", intensity: 0, children: [c("a")] });
    const down = watch(system, log, "sup");
    system.cast("a", { type: "crash" });
    expect(await down).toBe("shutdown");
  });

  it("S08 period 1: restarts 2.1 s apart survive, two immediate ones do not", async () => {
    await startSup({ strategy: "one_for_one", intensity: 1, period: 1, children: [c("a")] });
    for (let i = 0; i < 3; i++) {
      system.cast("a", { type: "crash" });
      await flush();
      await clock.advance(2100);
    }
    expect(system.isAlive("sup")).toBe(true);
    const down = watch(system, log, "sup");
    system.cast("a", { type: "crash" });
    await flush();
    system.cast("a", { type: "crash" });
    expect(await down).toBe("shutdown");
  });

  it("pins OTP's one-second granularity: the window is between period and period+1 seconds", async () => {
    // period 1, intensity 1: two restarts count as 'within the period' when their whole seconds differ by <= 1
    await startSup({ strategy: "one_for_one", intensity: 1, period: 1, children: [c("a")] });
    await clock.advance(900); // t = 0.9 s (second 0)
    system.cast("a", { type: "crash" });
    await flush();
    await clock.advance(1200); // t = 2.1 s (second 2): 0 < 2 - 1, outside the window
    system.cast("a", { type: "crash" });
    await flush();
    expect(system.isAlive("sup")).toBe(true);
    await clock.advance(1800); // t = 3.9 s (second 3): 2 >= 3 - 1, inside; 1.8 s apart yet it counts
    const down = watch(system, log, "sup");
    system.cast("a", { type: "crash" });
    expect(await down).toBe("shutdown");
  });

  it("S09 escalation: a nested supervisor exceeding its intensity exits shutdown and its parent restarts it", async () => {
    const mid = defineSupervisor({ strategy: "one_for_one", intensity: 0, children: [c("m1"), c("m2")] });
    await startSup({
      strategy: "one_for_one",
      intensity: 1,
      period: 5,
      children: [c("x"), { id: "mid", start: mid, name: "mid" }],
    });
    const topDown = watch(system, log, "sup", "top");
    log.length = 0;
    system.cast("m2", { type: "crash" });
    await flush();
    expect(log).toEqual(["term m2 crash", "term m1 shutdown", "start m1", "start m2"]);
    await clock.advance(100);
    log.length = 0;
    system.cast("m1", { type: "crash" });
    await topDown;
    expect(log).toEqual(["term m1 crash", "term m2 shutdown", "term x shutdown", "down top shutdown"]);
  });

  it("a transient child supervisor that exceeds its intensity is not restarted by its parent", async () => {
    const mid = defineSupervisor({ strategy: "one_for_one", intensity: 0, children: [c("m1")] });
    const { client } = await startSup({
      strategy: "one_for_one",
      intensity: 5,
      children: [{ id: "mid", start: mid, name: "mid", restart: "transient" }],
    });
    system.cast("m1", { type: "crash" });
    await flush();
    expect(await client.whichChildren()).toEqual([
      { id: "mid", pid: undefined, type: "supervisor", kind: "supervisor" },
    ]);
  });

  it("intensity exceeded during a one_for_all group restart shuts everything down", async () => {
    await startSup({
      strategy: "one_for_all",
      intensity: 2,
      children: [c("a"), c("b", { starts: ["ok", "fail", "fail", "fail"] })],
    });
    const down = watch(system, log, "sup");
    log.length = 0;
    system.cast("a", { type: "crash" });
    expect(await down).toBe("shutdown");
    expect(log).toEqual([
      "term a crash",
      "term b shutdown",
      "start a",
      "b init_fail", // restart 1 failed: retried at once
      "term a shutdown",
      "start a",
      "b init_fail", // restart 2 failed
      "term a shutdown", // restart 3 exceeds intensity 2
      "down sup shutdown",
    ]);
  });
});

describe("start and shutdown order (§1.5, §1.7)", () => {
  it("S10 terminates one child at a time in reverse start order, honouring each shutdown spec", async () => {
    await startSup({
      strategy: "one_for_one",
      children: [
        c("a", { shutdown: 1000, cleanupMs: 300 }),
        c("b", { shutdown: 500, cleanupMs: 2000 }),
        c("c", { shutdown: "brutal_kill" }),
        c("d", { shutdown: "infinity", cleanupMs: 200 }),
        c("e", { shutdown: 1000, trap: false }),
      ],
    });
    for (const id of ["a", "b", "c", "d", "e"]) void watch(system, log, id);
    const supDown = watch(system, log, "sup");
    const t0 = clock.now();
    const at = (label: string) => log.push(`${label} @${clock.now() - t0}`);
    void system.stop("sup", { reason: "shutdown" });
    await clock.advance(0);
    at("t");
    await clock.advance(200);
    at("t");
    await clock.advance(500);
    at("t");
    await clock.advance(301);
    at("t");
    await supDown;
    expect(log.slice(log.indexOf("start e") + 1)).toEqual([
      "down e shutdown", // does not trap: killed by the signal at once, no cleanup
      "term d shutdown",
      "t @0",
      "d done",
      "down d shutdown",
      "down c killed", // brutal_kill: no terminate
      "term b shutdown",
      "t @200",
      "down b killed", // its cleanup outlived 500 ms
      "term a shutdown",
      "t @700",
      "a done",
      "down a shutdown",
      "down sup shutdown",
      "t @1001",
    ]);
  });

  it("S25 nested supervisors shut down depth-first, in reverse order at every level", async () => {
    const mid = defineSupervisor({ children: [c("m1"), c("m2")] });
    await startSup({ children: [c("x"), { id: "mid", start: mid }, c("y")] });
    log.length = 0;
    await system.stop("sup", { reason: "shutdown" });
    expect(log).toEqual(["term y shutdown", "term m2 shutdown", "term m1 shutdown", "term x shutdown"]);
  });

  it("S15 a child failing its init stops the supervisor's start; later children never start", async () => {
    const error = await system
      .spawn(defineSupervisor({ children: [c("a"), c("b", { starts: ["fail"] }), c("c")] }), { name: "sup" })
      .catch((e: unknown) => e);
    expect(log).toEqual(["start a", "b init_fail", "term a shutdown"]);
    expect(error).toMatchObject({
      code: "start_failed",
      reason: { shutdown: { failed_to_start_child: "b", reason: { error: "bad" } } },
    });
    expect(system.whereis("sup")).toBeUndefined();
    expect(system.processCount).toBe(0);
  });

  it("S16 a failed restart is retried at once and counts toward intensity (survives within it)", async () => {
    await startSup({
      strategy: "one_for_one",
      intensity: 3,
      children: [c("a"), c("b", { starts: ["ok", "fail", "fail"] })],
    });
    log.length = 0;
    system.cast("b", { type: "crash" });
    await flush();
    expect(log).toEqual(["term b crash", "b init_fail", "b init_fail", "start b"]);
    expect(system.isAlive("sup")).toBe(true);
  });

  it("S16b a restart that always fails exceeds the intensity and shuts the supervisor down", async () => {
    await startSup({
      strategy: "one_for_one",
      intensity: 3,
      children: [c("a"), c("b", { starts: ["ok", "fail", "fail", "fail", "fail"] })],
    });
    const down = watch(system, log, "sup");
    log.length = 0;
    system.cast("b", { type: "crash" });
    await down;
    expect(log).toEqual([
      "term b crash",
      "b init_fail",
      "b init_fail",
      "b init_fail",
      "term a shutdown",
      "down sup shutdown",
    ]);
  });

  it("shows a child as restarting while its retry waits behind an earlier request", async () => {
    const b = c("b", { starts: ["ok", "fail", "ok"] });
    const { client } = await startSup({ strategy: "one_for_one", intensity: 5, children: [b] });
    (b.args as { initMs?: number }).initMs = 10; // restarts now take 10 ms, keeping the supervisor busy
    system.cast("b", { type: "crash" });
    // queued while the failing restart runs: handled after it, before the retry it queues
    const rows = client.whichChildren();
    const restart = client.restartChild("b");
    const del = client.deleteChild("b");
    await clock.advance(10);
    expect(await rows).toEqual([{ id: "b", pid: "restarting", type: "worker", kind: "server" }]);
    expect(await restart).toEqual({ ok: false, error: "restarting" });
    expect(await del).toEqual({ ok: false, error: "restarting" });
    const running = client.whichChildren();
    await clock.advance(10);
    expect((await running)[0]?.pid).toBe(await pidOf("b"));
  });

  it("S24 one_for_all restart failure retries the whole group", async () => {
    await startSup({
      strategy: "one_for_all",
      intensity: 5,
      children: [c("a"), c("b"), c("c", { starts: ["ok", "fail", "ok"] })],
    });
    log.length = 0;
    system.cast("a", { type: "crash" });
    await flush();
    expect(log).toEqual([
      "term a crash",
      "term c shutdown",
      "term b shutdown",
      "start a",
      "start b",
      "c init_fail",
      "term b shutdown",
      "term a shutdown",
      "start a",
      "start b",
      "start c",
    ]);
  });

  it("rest_for_one restart failure retries from the failed child", async () => {
    await startSup({
      strategy: "rest_for_one",
      intensity: 5,
      children: [c("a"), c("b"), c("c", { starts: ["ok", "fail", "ok"] }), c("d")],
    });
    log.length = 0;
    system.cast("b", { type: "crash" });
    await flush();
    expect(log).toEqual([
      "term b crash",
      "term d shutdown",
      "term c shutdown",
      "start b",
      "c init_fail",
      "start c",
      "start d",
    ]);
  });

  it("S17 ignore: the spec is kept without a pid; restart_child that ignores again gives ok undefined", async () => {
    const { client } = await startSup({
      children: [
        c("a", { starts: ["ignore", "ignore", "ok"] }),
        c("t", { restart: "temporary", starts: ["ignore"] }),
      ],
    });
    expect(await client.whichChildren()).toEqual([
      { id: "a", pid: undefined, type: "worker", kind: "server" },
    ]);
    expect(await client.restartChild("a")).toEqual({ ok: true, pid: undefined });
    expect(await client.restartChild("a")).toEqual({ ok: true, pid: await pidOf("a") });
  });

  it("S19 the supervisor cannot answer calls while a restarted child's init runs", async () => {
    const a = c("a");
    const { client } = await startSup({ strategy: "one_for_one", intensity: 5, children: [a] });
    (a.args as { initMs?: number }).initMs = 300; // from now on a's init takes 300 ms
    system.cast("a", { type: "crash" });
    await flush();
    let answered = false;
    const rows = client.whichChildren().then((r) => {
      answered = true;
      return r;
    });
    const timedOut = system
      .call("sup", { type: "count_children" }, { timeout: 100 })
      .catch((e: unknown) => e);
    await clock.advance(100);
    expect(await timedOut).toMatchObject({ code: "timeout" });
    expect(answered).toBe(false);
    expect(system.whereis("a")).toBeDefined(); // the name is registered before init runs
    await clock.advance(200);
    expect((await rows)[0]?.pid).toBe(await pidOf("a"));
  });

  it("S20 a restarted child starts with an empty mailbox; the old mailbox goes to dead letters", async () => {
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const busy = defineServer({
      init: () => 0,
      handleCast: (m: { type: "sleep" } | { type: "m" }, n: number) =>
        m.type === "sleep" ? new Promise<number>(() => {}) : n + 1,
      handleInfo: (_m: { type: string }, n: number) => n,
      handleCall: (_m: { type: "count" }, _f, n: number) => reply(n, n),
    });
    await startSup({ strategy: "one_for_one", children: [{ id: "a", start: busy, name: "reg_a" }] });
    system.cast("reg_a", { type: "sleep" });
    system.send("reg_a", { type: "m1" });
    system.send("reg_a", { type: "m2" });
    system.cast("reg_a", { type: "m" });
    expect(system.mailboxDepth("reg_a")).toBe(3);
    system.exit("reg_a", "kill");
    await flush();
    expect(system.mailboxDepth("reg_a")).toBe(0);
    expect(await system.call("reg_a", { type: "count" })).toBe(0);
    expect(letters.map((l) => l.reason)).toEqual(["exited", "exited", "exited"]);
  });
});

describe("significant children and auto_shutdown (§1.6)", () => {
  it("S11 any_significant: a transient significant child's crash restarts it; its normal exit shuts down", async () => {
    await startSup({
      autoShutdown: "any_significant",
      intensity: 5,
      children: [c("a"), c("t", { restart: "transient", significant: true }), c("c")],
    });
    const down = watch(system, log, "sup");
    log.length = 0;
    system.cast("t", { type: "crash" });
    await flush();
    expect(log).toEqual(["term t crash", "start t"]);
    log.length = 0;
    system.cast("t", { type: "exit", reason: "normal" });
    await down;
    expect(log).toEqual(["term t normal", "term c shutdown", "term a shutdown", "down sup shutdown"]);
  });

  it("S12 all_significant: the supervisor shuts down once no significant child is alive", async () => {
    await startSup({
      autoShutdown: "all_significant",
      children: [
        c("a"),
        c("t1", { restart: "temporary", significant: true }),
        c("t2", { restart: "temporary", significant: true }),
      ],
    });
    const down = watch(system, log, "sup");
    log.length = 0;
    system.cast("t1", { type: "exit", reason: "normal" });
    await flush();
    expect(system.isAlive("sup")).toBe(true);
    system.cast("t2", { type: "crash" });
    await down;
    expect(log).toEqual(["term t1 normal", "term t2 crash", "term a shutdown", "down sup shutdown"]);
  });

  it("terminate_child on a significant child does not trigger auto-shutdown", async () => {
    const { client } = await startSup({
      autoShutdown: "any_significant",
      children: [c("t", { restart: "transient", significant: true })],
    });
    expect(await client.terminateChild("t")).toEqual({ ok: true });
    expect(system.isAlive("sup")).toBe(true);
  });

  it("S13 rejects significant with permanent, and significant with auto_shutdown never", async () => {
    await expect(
      system.spawn(
        defineSupervisor({ autoShutdown: "any_significant", children: [c("p", { significant: true })] }),
      ),
    ).rejects.toMatchObject({
      code: "invalid_child_spec",
      reason: "bad_combination",
    });
    await expect(
      system.spawn(defineSupervisor({ children: [c("t", { restart: "transient", significant: true })] })),
    ).rejects.toBeInstanceOf(InvalidChildSpecError);
  });
});

describe("simple_one_for_one (§1.3)", () => {
  it("S14 children from a template, restarted with the same arguments, shut down concurrently", async () => {
    const seen: unknown[][] = [];
    const dyn = defineServer({
      init: (args: unknown[]) => {
        seen.push(args);
        return args;
      },
      handleCast: (_m: { type: "crash" }) => {
        throw "crash";
      },
      trapExit: true,
      terminate: () => void log.push("term"),
    });
    const { client } = await startSup({
      strategy: "simple_one_for_one",
      intensity: 5,
      children: [{ id: "dyn", start: dyn, args: ["base"] }],
    });
    const pids: string[] = [];
    for (const x of ["x1", "x2", "x3"]) {
      const r = await client.startChild([x]);
      if (!r.ok || r.pid === undefined) throw new Error("start failed");
      pids.push(r.pid);
    }
    system.cast(pids[1] as string, { type: "crash" });
    await flush();
    expect(seen.at(-1)).toEqual(["base", "x2"]);
    const rows = await client.whichChildren();
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.id === undefined)).toBe(true);
    expect(await client.countChildren()).toEqual({ specs: 1, active: 3, supervisors: 0, workers: 3 });
    expect(await client.terminateChild(pids[0] as string)).toEqual({ ok: true });
    expect(await client.terminateChild(pids[1] as string)).toEqual({ ok: true }); // already dead
    expect(await client.terminateChild("some-id")).toEqual({ ok: true }); // OTP: a pid that is not alive
    expect(await client.terminateChild("sup")).toEqual({ ok: false, error: "not_found" }); // alive, not a child
    expect(await client.restartChild("x")).toEqual({ ok: false, error: "simple_one_for_one" });
    expect(await client.deleteChild("x")).toEqual({ ok: false, error: "simple_one_for_one" });
    log.length = 0;
    await system.stop("sup", { reason: "shutdown" });
    expect(log).toEqual(["term", "term"]);
  });

  it("requires exactly one template and honours maxChildren", async () => {
    await expect(
      system.spawn(defineSupervisor({ strategy: "simple_one_for_one", children: [] })),
    ).rejects.toMatchObject({
      reason: "bad_start_spec",
    });
    const worker = defineServer({ init: (args: unknown[]) => args });
    const { client } = await startSup({
      strategy: "simple_one_for_one",
      maxChildren: 1,
      children: [{ id: "w", start: worker, args: [] }],
    });
    expect(await client.startChild([])).toMatchObject({ ok: true });
    expect(await client.startChild([])).toEqual({ ok: false, error: "max_children" });
  });
});

describe("the management API (§1.8)", () => {
  it("S18 terminate, restart, delete and start children with OTP's results", async () => {
    const { client } = await startSup({ children: [c("a"), c("b")] });
    expect(await client.whichChildren()).toEqual([
      { id: "b", pid: await pidOf("b"), type: "worker", kind: "server" },
      { id: "a", pid: await pidOf("a"), type: "worker", kind: "server" },
    ]);
    log.length = 0;
    expect(await client.terminateChild("a")).toEqual({ ok: true });
    expect(log).toEqual(["term a shutdown"]);
    expect(await client.countChildren()).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 });
    expect(await client.restartChild("a")).toMatchObject({ ok: true });
    expect(await client.restartChild("a")).toEqual({ ok: false, error: "running" });
    expect(await client.deleteChild("a")).toEqual({ ok: false, error: "running" });
    expect(await client.startChild(c("a"))).toEqual({
      ok: false,
      error: "already_started",
      pid: await pidOf("a"),
    });
    await client.terminateChild("a");
    expect(await client.startChild(c("a"))).toEqual({ ok: false, error: "already_present" });
    expect(await client.deleteChild("a")).toEqual({ ok: true });
    expect(await client.deleteChild("a")).toEqual({ ok: false, error: "not_found" });
    expect(await client.terminateChild("zzz")).toEqual({ ok: false, error: "not_found" });
    expect(await client.getChildSpec("b")).toMatchObject({
      ok: true,
      spec: { id: "b", restart: "permanent", shutdown: 5000, type: "worker", significant: false },
    });
    expect(await client.getChildSpec("zzz")).toEqual({ ok: false, error: "not_found" });
  });

  it("start_child appends (last started, first terminated); a failed start discards the spec", async () => {
    const { client } = await startSup({ children: [c("a")] });
    expect(await client.startChild(c("n"))).toMatchObject({ ok: true });
    expect((await client.whichChildren()).map((r) => r.id)).toEqual(["n", "a"]);
    expect(await client.startChild(c("bad", { starts: ["fail"] }))).toEqual({
      ok: false,
      error: "start_failed",
      reason: { error: "bad" },
    });
    expect(await client.getChildSpec("bad")).toEqual({ ok: false, error: "not_found" });
    expect(await client.startChild({ id: "", start: probe(log, clock) })).toMatchObject({
      ok: false,
      error: "invalid_child_spec",
      reason: "missing_id",
    });
    log.length = 0;
    await system.stop("sup", { reason: "shutdown" });
    expect(log).toEqual(["term n shutdown", "term a shutdown"]);
  });

  it("a temporary child's spec is deleted by terminate_child", async () => {
    const { client } = await startSup({ children: [c("t", { restart: "temporary" })] });
    expect(await client.terminateChild("t")).toEqual({ ok: true });
    expect(await client.restartChild("t")).toEqual({ ok: false, error: "not_found" });
  });

  it("answers an unknown request with bad_request and keeps running", async () => {
    await startSup({ children: [] });
    expect(await system.call("sup", { type: "nonsense" } as never)).toEqual({
      ok: false,
      error: "bad_request",
    });
  });
});

describe("other supervisor facts (§1.9)", () => {
  it("S23 ignores an EXIT from a linked stranger and exit(sup, shutdown) from a non-parent", async () => {
    const stranger = defineServer({
      init: (sup: string, ctx) => {
        ctx.link(sup);
        return 0;
      },
      handleCast: (_m: { type: "crash" }) => {
        throw "boom";
      },
    });
    await startSup({ children: [c("a")] });
    const s = await system.spawn(stranger, { args: await pidOf("sup") });
    system.cast(s, { type: "crash" });
    await flush();
    expect(system.isAlive("sup")).toBe(true);
    system.exit("sup", "shutdown");
    await flush();
    expect(system.isAlive("sup")).toBe(true);
    system.send("sup", { type: "unexpected" });
    expect(system.isAlive("sup")).toBe(true);
  });

  it("S27 stop from a stranger performs the ordered reverse shutdown", async () => {
    await startSup({ children: [c("a"), c("b")] });
    log.length = 0;
    await system.stop("sup");
    expect(log).toEqual(["term b shutdown", "term a shutdown"]);
  });

  it("exit(sup, kill) kills it at once; its trapping children see killed from their parent", async () => {
    await startSup({ children: [c("a"), c("b", { trap: false })] });
    const downs = [watch(system, log, "a"), watch(system, log, "b"), watch(system, log, "sup")];
    log.length = 0;
    system.exit("sup", "kill");
    await Promise.all(downs);
    expect(log).toContain("down sup killed");
    expect(log).toContain("term a killed");
    expect(log).toContain("down a killed");
    expect(log).toContain("down b killed");
    expect(log).not.toContain("term b killed");
  });

  it("calls queued while a supervisor shuts down fail with its exit reason", async () => {
    await startSup({ children: [c("a", { cleanupMs: 100 })] });
    const stopping = system.stop("sup", { reason: "shutdown" });
    const call = system
      .call("sup", { type: "which_children" }, { timeout: Number.POSITIVE_INFINITY })
      .catch((e: unknown) => e);
    await clock.advance(100);
    await stopping;
    expect(await call).toMatchObject({ code: "exit", reason: "shutdown" });
  });

  it("keeps a child's registered name across restarts", async () => {
    await startSup({ intensity: 5, children: [c("a")] });
    const before = await pidOf("a");
    system.cast("a", { type: "crash" });
    await flush();
    const after = await pidOf("a");
    expect(after).not.toBe(before);
    expect(await system.call("a", { type: "pid" })).toBe(after);
  });

  it("validates flags and child specs with OTP's reasons", async () => {
    const bad = async (spec: SupervisorSpec) =>
      ((await system.spawn(defineSupervisor(spec)).catch((e: unknown) => e)) as InvalidChildSpecError).reason;
    expect(await bad({ strategy: "one_for_many" as never })).toBe("invalid_strategy");
    expect(await bad({ intensity: -1 })).toBe("invalid_intensity");
    expect(await bad({ period: 0 })).toBe("invalid_period");
    expect(await bad({ autoShutdown: "sometimes" as never })).toBe("invalid_auto_shutdown");
    expect(await bad({ maxChildren: Number.NaN })).toBe("invalid_max_children");
    expect(await bad({ children: [c("a"), c("a")] })).toBe("duplicate_child_name");
    expect(await bad({ children: [{ ...c("a"), start: {} as never }] })).toBe("invalid_start");
    expect(await bad({ children: [{ ...c("a"), restart: "sometimes" as never }] })).toBe(
      "invalid_restart_type",
    );
    expect(await bad({ children: [{ ...c("a"), shutdown: -5 }] })).toBe("invalid_shutdown");
    expect(await bad({ children: [{ ...c("a"), type: "manager" as never }] })).toBe("invalid_child_type");
    expect(await bad({ children: [{ ...c("a"), significant: "yes" as never }] })).toBe("invalid_significant");
    expect(await bad({ children: [{ ...c("a"), name: "" }] })).toBe("invalid_name");
    expect(await bad({ children: [{ ...c("a"), durable: "" }] })).toBe("invalid_durable");
    expect(await bad({ children: [null as never] })).toBe("invalid_child_spec");
  });

  it("a supervisor whose spec function returns IGNORE does not start", async () => {
    await expect(system.spawn(defineSupervisor(() => IGNORE))).rejects.toMatchObject({ reason: "ignore" });
  });
});
