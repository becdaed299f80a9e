// Durable actors: a persisted snapshot saved after each completed step and restored by a restart
// (X7 for XState logic), with the in-memory and the file store.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ActorSystem,
  addressOf,
  defineServer,
  defineSupervisor,
  type ExitReason,
  FileSnapshotStore,
  ManualClock,
  MemorySnapshotStore,
  reply,
  type SnapshotStore,
  type StoredSnapshot,
  stop,
} from "@normandy/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import { flush } from "./probe.js";

const systems: ActorSystem[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of systems.splice(0)) await s.shutdown({ timeout: 0 });
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function start(store: SnapshotStore) {
  const system = ActorSystem.start({ clock: new ManualClock(), snapshotStore: store });
  systems.push(system);
  return system;
}

const notebook = defineServer({
  init: (_: undefined) => ({ lines: [] as string[] }),
  handleCast: (m: { type: "write"; line: string } | { type: "crash" } | { type: "done" }, s) => {
    if (m.type === "crash") throw new Error("crash");
    if (m.type === "done") return stop("normal", s);
    return { lines: [...s.lines, m.line] };
  },
  handleCall: (_m: { type: "read" }, _f, s) => reply(s.lines, s),
});

const nb = addressOf(notebook, "nb");

async function crashAndRead(system: ActorSystem): Promise<string[]> {
  system.cast(nb, { type: "crash" });
  await system.flushSnapshots();
  await flush();
  return system.call(nb, { type: "read" });
}

describe("durable servers", () => {
  it("a restarted durable child resumes from its last step; a plain one starts blank", async () => {
    const system = start(new MemorySnapshotStore());
    await system.spawn(
      defineSupervisor({
        intensity: 5,
        children: [
          { id: "nb", start: notebook, name: "nb", durable: "notebook/1" },
          { id: "plain", start: notebook, name: "plain" },
        ],
      }),
    );
    for (const line of ["a", "b", "c"]) {
      system.cast("nb", { type: "write", line });
      system.cast("plain", { type: "write", line });
    }
    expect(await crashAndRead(system)).toEqual(["a", "b", "c"]);
    system.cast("plain", { type: "crash" });
    await flush();
    expect(await system.call("plain", { type: "read" })).toEqual([]);
  });

  it("coalesces writes so the newest state wins, and deletes the snapshot on a normal exit", async () => {
    const puts: StoredSnapshot[] = [];
    const inner = new MemorySnapshotStore();
    const store: SnapshotStore = {
      get: (k) => inner.get(k),
      put: async (k, v) => {
        puts.push(v);
        await inner.put(k, v);
      },
      delete: (k) => inner.delete(k),
      keys: () => inner.keys(),
    };
    const system = start(store);
    await system.spawn(notebook, { name: "nb", durable: "k" });
    for (const line of ["1", "2", "3", "4"]) system.cast("nb", { type: "write", line });
    await system.flushSnapshots();
    expect(puts.length).toBeLessThan(4);
    expect(puts.at(-1)).toEqual({ version: 1, value: { lines: ["1", "2", "3", "4"] } });
    system.cast("nb", { type: "done" });
    await system.flushSnapshots();
    expect(await store.keys()).toEqual([]);
  });

  it("persists with custom persist/restore and survives a whole-system restart on disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "normandy-snap-"));
    dirs.push(dir);
    const tally = defineServer({
      init: () => new Map<string, number>(),
      handleCast: (m: { type: "see"; word: string }, s: Map<string, number>) =>
        new Map(s).set(m.word, (s.get(m.word) ?? 0) + 1),
      handleCall: (_m: { type: "get" }, _f, s) => reply(Object.fromEntries(s), s),
      durable: { persist: (s) => [...s], restore: (v) => new Map(v as [string, number][]) },
    });
    const first = start(new FileSnapshotStore(dir));
    await first.spawn(tally, { name: "t", durable: "tally" });
    for (const word of ["x", "y", "x"]) first.cast("t", { type: "see", word });
    await first.shutdown();
    expect(await readdir(dir)).toEqual(["tally.snapshot.json"]);
    const second = start(new FileSnapshotStore(dir));
    await second.spawn(tally, { name: "t", durable: "tally" });
    expect(await second.call("t", { type: "get" })).toEqual({ x: 2, y: 1 });
    expect(await new FileSnapshotStore(dir).keys()).toEqual(["tally"]);
  });

  it("crashes a durable process whose snapshot cannot be saved", async () => {
    const failing: SnapshotStore = {
      get: async () => undefined,
      put: async () => {
        throw new Error("disk full");
      },
      delete: async () => {},
      keys: async () => [],
    };
    const system = start(failing);
    const pid = await system.spawn(notebook, { durable: "k" });
    const down = new Promise<ExitReason>((resolve) => system.monitor(pid, resolve));
    system.cast(pid, { type: "write", line: "x" });
    expect(await down).toEqual({ error: new Error("disk full") });
  });

  it("refuses a durable process without a store, and a failed read fails the start", async () => {
    const plain = ActorSystem.start({ clock: new ManualClock() });
    systems.push(plain);
    await expect(plain.spawn(notebook, { durable: "k" })).rejects.toMatchObject({ code: "invalid_argument" });
    const unreadable: SnapshotStore = {
      get: async () => Promise.reject(new Error("io")),
      put: async () => {},
      delete: async () => {},
      keys: async () => [],
    };
    const system = start(unreadable);
    await expect(system.spawn(notebook, { durable: "k" })).rejects.toMatchObject({
      reason: { error: new Error("io") },
    });
  });

  it("a durable child whose restore throws, or whose snapshot cannot be read, fails its start without harming the supervisor", async () => {
    const store = new MemorySnapshotStore();
    await store.put("bad", { version: 1, value: "garbage" });
    const system = start(store);
    const strict = defineServer({
      init: () => 0,
      durable: {
        restore: (v) => {
          if (typeof v !== "number") throw new TypeError("not a number");
          return v;
        },
      },
    });
    await expect(
      system.spawn(defineSupervisor({ children: [{ id: "s", start: strict, durable: "bad" }] })),
    ).rejects.toMatchObject({
      reason: { shutdown: { failed_to_start_child: "s", reason: { error: new TypeError("not a number") } } },
    });
    const unreadable: SnapshotStore = {
      ...store,
      get: async () => Promise.reject(new Error("io")),
      put: store.put.bind(store),
      delete: store.delete.bind(store),
      keys: store.keys.bind(store),
    };
    const other = start(unreadable);
    const machine = setup({}).createMachine({});
    await expect(other.spawn(machine, { durable: "k" })).rejects.toMatchObject({
      reason: { error: new Error("io") },
    });
    expect(other.processCount).toBe(0);
  });

  it("the file store rejects unknown versions and reports missing keys as undefined", async () => {
    const dir = await mkdtemp(join(tmpdir(), "normandy-snap-"));
    dirs.push(dir);
    const store = new FileSnapshotStore(join(dir, "nested"));
    expect(await store.get("none")).toBeUndefined();
    expect(await store.keys()).toEqual([]);
    await store.put("a/b c", { version: 1, value: 1 });
    expect(await store.keys()).toEqual(["a/b c"]);
    await store.put("v", { version: 2 as 1, value: 1 });
    await expect(store.get("v")).rejects.toMatchObject({ code: "invalid_argument" });
    await store.delete("a/b c");
    await store.delete("a/b c");
    expect(await store.keys()).toEqual(["v"]);
  });
});

describe("durable XState logic (X7)", () => {
  it("a restarted durable machine resumes from its persisted snapshot", async () => {
    const system = start(new MemorySnapshotStore());
    const counter = setup({
      types: { context: {} as { n: number }, events: {} as { type: "INC" } },
    }).createMachine({
      context: { n: 0 },
      on: { INC: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    });
    await system.spawn(
      defineSupervisor({
        intensity: 3,
        children: [{ id: "k", start: counter, name: "k", durable: "machine/k" }],
      }),
    );
    system.send("k", { type: "INC" });
    system.send("k", { type: "INC" });
    await system.flushSnapshots();
    system.exit("k", "kill");
    await flush();
    expect(system.getSnapshot("k")).toMatchObject({ status: "active", context: { n: 2 } });
  });
});
