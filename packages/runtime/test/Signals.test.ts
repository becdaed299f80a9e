// Links, monitors and exit signals (otp-semantics §2.1, scenario S22), and process lifecycle events.
import {
  ActorSystem,
  addressOf,
  type DownMessage,
  defineServer,
  type ExitMessage,
  type ExitReason,
  ManualClock,
  reply,
  stop,
} from "@normandy/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

type Cmd =
  | { type: "link"; to: string }
  | { type: "unlink"; to: string }
  | { type: "monitor"; to: string }
  | { type: "demonitor"; ref: number }
  | { type: "exit"; reason: ExitReason }
  | { type: "signal"; to: string; reason: ExitReason | "kill" }
  | { type: "trap"; on: boolean };

/** A process that records its info messages and obeys commands. */
const node = defineServer({
  init: (trap: boolean, ctx) => {
    ctx.trapExit(trap);
    return { got: [] as (ExitMessage | DownMessage | { type: string })[], refs: [] as number[] };
  },
  handleCast: (cmd: Cmd, s, ctx) => {
    switch (cmd.type) {
      case "link":
        ctx.link(cmd.to);
        return s;
      case "unlink":
        ctx.unlink(cmd.to);
        return s;
      case "monitor":
        return { ...s, refs: [...s.refs, ctx.monitor(cmd.to).id] };
      case "demonitor":
        ctx.demonitor({ id: cmd.ref });
        return s;
      case "exit":
        return stop(cmd.reason, s);
      case "signal":
        ctx.exit(cmd.to, cmd.reason);
        return s;
      case "trap":
        ctx.trapExit(cmd.on);
        return s;
    }
  },
  handleInfo: (msg, s) => ({ ...s, got: [...s.got, msg] }),
  handleCall: (_m: { type: "state" }, _f, s) => reply(s, s),
});

const got = async (pid: string) => (await system.call(addressOf(node, pid), { type: "state" })).got;
const spawnNode = (trap: boolean) => system.spawn(node, { args: trap });

describe("exit signals (§2.1, S22)", () => {
  it("a normal exit of a linked process is ignored without trapping and delivered as EXIT when trapping", async () => {
    const [plain, trapping, dying] = [await spawnNode(false), await spawnNode(true), await spawnNode(false)];
    system.cast(plain, { type: "link", to: dying });
    system.cast(trapping, { type: "link", to: dying });
    system.cast(dying, { type: "exit", reason: "normal" });
    expect(system.isAlive(plain)).toBe(true);
    expect(await got(trapping)).toEqual([{ type: "EXIT", from: dying, reason: "normal" }]);
  });

  it("kill cannot be trapped; a linked process then sees killed, which it can trap", async () => {
    const [trapping, watcher, plain] = [await spawnNode(true), await spawnNode(true), await spawnNode(false)];
    system.cast(watcher, { type: "link", to: trapping });
    system.cast(plain, { type: "link", to: trapping });
    system.exit(trapping, "kill");
    expect(system.isAlive(trapping)).toBe(false);
    expect(await got(watcher)).toEqual([{ type: "EXIT", from: trapping, reason: "killed" }]);
    expect(system.isAlive(plain)).toBe(false);
  });

  it("any other reason kills a non-trapping linked process with the same reason, both ways", async () => {
    const [a, b] = [await spawnNode(false), await spawnNode(false)];
    const reasons: ExitReason[] = [];
    system.monitor(a, (r) => reasons.push(r));
    system.cast(b, { type: "link", to: a }); // links are bidirectional: b links, a dies when b does
    system.cast(b, { type: "exit", reason: { shutdown: "t" } });
    expect(reasons).toEqual([{ shutdown: "t" }]);
  });

  it("exit signals sent by one process to another follow the same rules", async () => {
    const [sender, target, trapping] = [
      await spawnNode(false),
      await spawnNode(false),
      await spawnNode(true),
    ];
    system.cast(sender, { type: "signal", to: target, reason: "normal" });
    expect(system.isAlive(target)).toBe(true);
    system.cast(sender, { type: "signal", to: trapping, reason: "shutdown" });
    expect(await got(trapping)).toEqual([{ type: "EXIT", from: sender, reason: "shutdown" }]);
    system.cast(sender, { type: "signal", to: target, reason: "shutdown" });
    expect(system.isAlive(target)).toBe(false);
    expect(system.exit("nobody", "kill")).toBe(false);
  });

  it("trap_exit can be switched on later; unlink stops propagation; linking to a dead process signals noproc", async () => {
    const [a, b] = [await spawnNode(false), await spawnNode(false)];
    system.cast(a, { type: "trap", on: true });
    system.cast(a, { type: "link", to: b });
    system.cast(a, { type: "unlink", to: b });
    system.cast(b, { type: "exit", reason: { error: "x" } });
    expect(await got(a)).toEqual([]);
    system.cast(a, { type: "link", to: b });
    expect(await got(a)).toEqual([{ type: "EXIT", from: b, reason: "noproc" }]);
    const c = await spawnNode(false);
    system.cast(c, { type: "link", to: "gone" });
    expect(system.isAlive(c)).toBe(false);
  });
});

describe("monitors", () => {
  it("deliver DOWN exactly once, are unidirectional and stack", async () => {
    const [watcher, target] = [await spawnNode(false), await spawnNode(false)];
    system.cast(watcher, { type: "monitor", to: target });
    system.cast(watcher, { type: "monitor", to: target });
    system.cast(target, { type: "exit", reason: "normal" });
    const downs = (await got(watcher)) as DownMessage[];
    expect(downs.map((d) => [d.type, d.pid, d.reason])).toEqual([
      ["DOWN", target, "normal"],
      ["DOWN", target, "normal"],
    ]);
    expect(new Set(downs.map((d) => d.ref)).size).toBe(2);
  });

  it("monitoring a dead process gives noproc at once; demonitor prevents DOWN", async () => {
    const [watcher, target] = [await spawnNode(false), await spawnNode(false)];
    system.cast(watcher, { type: "monitor", to: "nobody" });
    expect(await got(watcher)).toEqual([
      expect.objectContaining({ type: "DOWN", pid: "nobody", reason: "noproc" }),
    ]);
    system.cast(watcher, { type: "monitor", to: target });
    const { refs } = await system.call(addressOf(node, watcher), { type: "state" });
    system.cast(watcher, { type: "demonitor", ref: refs[1] as number });
    system.cast(target, { type: "exit", reason: "normal" });
    expect(await got(watcher)).toHaveLength(1);
  });

  it("a watcher's monitors die with it, and external monitors can be cancelled", async () => {
    const [watcher, target] = [await spawnNode(false), await spawnNode(false)];
    system.cast(watcher, { type: "monitor", to: target });
    system.cast(watcher, { type: "exit", reason: "normal" });
    const letters: unknown[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const seen: ExitReason[] = [];
    const cancel = system.monitor(target, (r) => seen.push(r));
    cancel();
    system.cast(target, { type: "exit", reason: "normal" });
    expect(letters).toEqual([]);
    expect(seen).toEqual([]);
  });
});

describe("stop and process lifecycle", () => {
  it("stop runs terminate even without trapping, and reports a different exit reason as an error", async () => {
    const terminated: ExitReason[] = [];
    const s = defineServer({
      init: () => 0,
      terminate: (reason) => {
        terminated.push(reason);
        if (reason === "shutdown") throw new Error("cleanup failed");
      },
    });
    const a = await system.spawn(s);
    await system.stop(a);
    const b = await system.spawn(s);
    await expect(system.stop(b, { reason: "shutdown" })).rejects.toMatchObject({
      code: "exit",
      reason: { error: new Error("cleanup failed") },
    });
    expect(terminated).toEqual(["normal", "shutdown"]);
    await expect(system.stop("nobody")).rejects.toMatchObject({ code: "noproc" });
  });

  it("stop honours its timeout", async () => {
    const s = defineServer({ init: () => 0, terminate: () => new Promise<void>(() => {}) });
    const pid = await system.spawn(s);
    const stopping = system.stop(pid, { timeout: 50 }).catch((e: unknown) => e);
    await clock.advance(50);
    expect(await stopping).toMatchObject({ code: "timeout" });
    system.exit(pid, "kill");
  });

  it("a server killed while an async handler is pending aborts its signal and ignores the late result", async () => {
    let signal: AbortSignal | undefined;
    let finish: ((n: number) => void) | undefined;
    const s = defineServer({
      init: () => 0,
      handleCast: (_m: { type: "work" }, _n: number, ctx) => {
        signal = ctx.signal;
        return new Promise<number>((resolve) => {
          finish = resolve;
        });
      },
    });
    const pid = await system.spawn(s);
    system.cast(pid, { type: "work" });
    system.exit(pid, "kill");
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe("killed");
    finish?.(1);
    await flush();
    expect(system.isAlive(pid)).toBe(false);
  });

  it("observes snapshots and the end of a server through the XState ActorRef interface", async () => {
    const counter = defineServer({
      name: "counter",
      init: () => 0,
      handleCast: (m: { type: "inc" } | { type: "crash" } | { type: "quit" }, n: number) => {
        if (m.type === "crash") throw new Error("boom");
        if (m.type === "quit") return stop("normal", n);
        return n + 1;
      },
    });
    const pid = await system.spawn(counter);
    const ref = system.actorRef(pid);
    if (ref === undefined) throw new Error("no ref");
    expect(ref.sessionId).toBe(pid);
    expect(ref.src).toBe("counter");
    const values: number[] = [];
    const errors: unknown[] = [];
    ref.subscribe({ next: (s: { context: number }) => values.push(s.context), error: (e) => errors.push(e) });
    const doubled: number[] = [];
    ref.select((s: { context: number }) => s.context * 2).subscribe((v) => doubled.push(v));
    system.cast(pid, { type: "inc" });
    system.cast(pid, { type: "inc" });
    ref.send({ type: "ignored-info" }); // a server without handleInfo turns it into a dead letter
    system.cast(pid, { type: "crash" });
    expect(values).toEqual([1, 2]);
    expect(doubled).toEqual([2, 4]);
    expect(errors).toEqual([new Error("boom")]);
    expect(ref.getSnapshot()).toMatchObject({ status: "error", error: new Error("boom") });
    expect(JSON.parse(JSON.stringify(ref))).toEqual({ xstate$$type: 1, id: pid });

    const other = await system.spawn(counter);
    const otherRef = system.actorRef(other);
    let completed = false;
    otherRef?.subscribe({ complete: () => (completed = true) });
    system.cast(other, { type: "quit" });
    expect(completed).toBe(true);
    let late = false;
    otherRef?.subscribe({ complete: () => (late = true) });
    expect(late).toBe(true);
    expect(otherRef?.getPersistedSnapshot()).toMatchObject({ status: "done", output: "normal", context: 0 });
  });
});
