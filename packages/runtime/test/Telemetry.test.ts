// The telemetry bus, and the events the runtime emits on it.
import {
  ActorSystem,
  defineServer,
  defineSupervisor,
  type EventName,
  ManualClock,
  type Measurements,
  MemorySnapshotStore,
  type Metadata,
  Telemetry,
} from "@normandy/runtime";
import { afterEach, describe, expect, it, vi } from "vitest";
import { child, flush } from "./probe.js";

type Seen = [string, Measurements, Metadata];
const record = (bus: Telemetry, events: "*" | EventName[] = "*") => {
  const seen: Seen[] = [];
  bus.attach(`rec${Math.random()}`, events, (name, m, meta) => seen.push([name.join("."), m, meta]));
  return seen;
};

describe("Telemetry", () => {
  it("delivers to exact-name and wildcard handlers, and detaches", () => {
    const bus = new Telemetry(new ManualClock());
    expect(bus.active).toBe(false);
    const exact: string[] = [];
    bus.attach("exact", [["a", "b"], ["c"]], (name) => exact.push(name.join(".")));
    const all = record(bus);
    expect(bus.active).toBe(true);
    bus.emit(["a", "b"], { n: 1 }, { k: "v" });
    bus.emit(["c"], {}, {});
    bus.emit(["x"], {}, {});
    expect(exact).toEqual(["a.b", "c"]);
    expect(all.map((s) => s[0])).toEqual(["a.b", "c", "x"]);
    expect(all[0]).toEqual(["a.b", { n: 1 }, { k: "v" }]);
    expect(() => bus.attach("exact", "*", () => {})).toThrow(/already attached/);
    expect(bus.detach("exact")).toBe(true);
    expect(bus.detach("exact")).toBe(false);
    bus.emit(["a", "b"], {}, {});
    expect(exact).toHaveLength(2);
    expect(bus.handlers()).toHaveLength(1);
    bus.detach(bus.handlers()[0] as string);
    expect(bus.active).toBe(false);
  });

  it("measures spans, sync and async, with exceptions rethrown", async () => {
    const clock = new ManualClock();
    const bus = new Telemetry(clock);
    expect(bus.span(["s"], {}, () => 1)).toBe(1); // nothing attached: just runs
    const seen = record(bus);
    expect(bus.span(["s"], { id: 1 }, () => "ok")).toBe("ok");
    const pending = bus.span(["s"], { id: 2 }, async () => {
      await new Promise<void>((r) => clock.setTimeout(r, 40));
      return "later";
    });
    await clock.advance(40);
    expect(await pending).toBe("later");
    expect(() =>
      bus.span(["s"], { id: 3 }, () => {
        throw new Error("sync");
      }),
    ).toThrow("sync");
    await expect(bus.span(["s"], { id: 4 }, () => Promise.reject(new Error("async")))).rejects.toThrow(
      "async",
    );
    expect(seen.map(([n, m, meta]) => `${n} ${meta.id} ${m.duration ?? "-"}`)).toEqual([
      "s.start 1 -",
      "s.stop 1 0",
      "s.start 2 -",
      "s.stop 2 40",
      "s.start 3 -",
      "s.exception 3 0",
      "s.start 4 -",
      "s.exception 4 0",
    ]);
    expect(seen[5]?.[2].error).toEqual(new Error("sync"));
  });

  it("detaches a throwing handler and reports the failure to the others", () => {
    const bus = new Telemetry();
    bus.attach("bad", [["e"]], () => {
      throw new Error("handler bug");
    });
    const seen = record(bus);
    bus.emit(["e"], {}, {});
    bus.emit(["e"], {}, {});
    // the failure is reported while the exact handlers run, before the wildcard ones see the event
    expect(seen.map((s) => s[0])).toEqual(["normandy.telemetry.handler_failed", "e", "e"]);
    expect(seen[0]?.[2]).toMatchObject({ handlerId: "bad", error: new Error("handler bug") });
    expect(bus.handlers()).not.toContain("bad");
  });

  it("warns the process when no handler listens for the failure, so it is never silent", () => {
    const bus = new Telemetry();
    bus.attach("only", "*", () => {
      throw new Error("lonely bug");
    });
    bus.attach("elsewhere", [["other"]], () => {});
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      bus.emit(["e"], {}, {});
      expect(warn).toHaveBeenCalledWith(expect.stringContaining("lonely bug"), "NormandyWarning");
      expect(bus.listens(["other"])).toBe(true);
      expect(bus.listens(["e"])).toBe(false);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("runtime telemetry", () => {
  let system: ActorSystem | undefined;
  afterEach(async () => {
    await system?.shutdown({ timeout: 0 });
  });

  it("reports process lifecycle, restarts, intensity, shutdowns, dead letters and overflows", async () => {
    const clock = new ManualClock();
    const telemetry = new Telemetry(clock);
    const seen = record(telemetry);
    system = ActorSystem.start({ clock, telemetry });
    const log: string[] = [];
    const sup = await system.spawn(
      defineSupervisor({
        intensity: 1,
        children: [
          child(log, clock, "a", { starts: ["ok", "fail", "ok"] }),
          child(log, clock, "b", { shutdown: 10, cleanupMs: "forever" }),
        ],
      }),
      { name: "sup" },
    );
    const names = () => seen.map((s) => s[0]);
    expect(names()).toEqual(["normandy.process.start", "normandy.process.start", "normandy.process.start"]);
    expect(seen[2]?.[2]).toMatchObject({ pid: sup, name: "sup", kind: "supervisor" });
    seen.length = 0;
    system.cast("a", { type: "crash" });
    await flush();
    expect(names()).toEqual([
      "normandy.process.crash",
      "normandy.process.crash", // the failed restart
      "normandy.supervisor.start_error",
      "normandy.supervisor.intensity_exceeded",
      "normandy.supervisor.shutdown",
    ]);
    seen.length = 0;
    await clock.advance(10);
    await flush();
    expect(names()).toEqual([
      "normandy.process.crash",
      "normandy.supervisor.shutdown_error",
      "normandy.process.stop",
    ]);
    expect(seen[1]?.[2]).toMatchObject({ childId: "b", reason: "killed" });
    expect(seen[2]?.[2]).toMatchObject({ pid: sup, reason: "shutdown" });

    seen.length = 0;
    system.send("nobody", { type: "x" });
    const slow = defineServer({ init: () => 0, handleCast: (_m: object) => new Promise<number>(() => {}) });
    const pid = await system.spawn(slow, { mailbox: { capacity: 1 } });
    system.cast(pid, {});
    system.cast(pid, {});
    expect(() => system?.cast(pid, {})).toThrow();
    expect(names()).toEqual(["normandy.dead_letter", "normandy.process.start", "normandy.mailbox.overflow"]);
    expect(seen[2]).toEqual([
      "normandy.mailbox.overflow",
      { capacity: 1 },
      { pid, name: undefined, policy: "reject" },
    ]);
  });

  it("reports a restart with the child, its new pid and the reason", async () => {
    const clock = new ManualClock();
    const telemetry = new Telemetry(clock);
    system = ActorSystem.start({ clock, telemetry, snapshotStore: new MemorySnapshotStore() });
    const log: string[] = [];
    await system.spawn(
      defineSupervisor({
        strategy: "one_for_all",
        intensity: 3,
        children: [child(log, clock, "a"), child(log, clock, "b")],
      }),
    );
    const restarts = record(telemetry, [["normandy", "supervisor", "restart"]]);
    system.cast("a", { type: "crash" });
    await flush();
    expect(restarts.map((r) => [r[2].childId, r[2].reason])).toEqual([
      ["a", { error: "crash" }],
      ["b", "shutdown"],
    ]);
    expect(restarts[0]?.[2].pid).toBe(system.whereis("a"));
  });
});
