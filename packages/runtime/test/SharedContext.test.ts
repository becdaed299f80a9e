/**
 * Tests of SharedContext, the GenServer + ETS store (otp-semantics §3): table types, key equality and
 * order, access modes, direct reads vs serialized writes, transactions, subscriptions, ownership (heir,
 * giveAway, drop), and a property test of every table type against a reference model.
 */
import {
  AccessError,
  ActorSystem,
  type CallOptions,
  type Change,
  CounterError,
  compareKeys,
  DEFAULT_SHARED_CONTEXT_NAME,
  type DownMessage,
  deepEqual,
  defineServer,
  defineSupervisor,
  type EtsTransferMessage,
  type ExitMessage,
  type From,
  InvalidArgumentError,
  type Key,
  ManualClock,
  NameTakenError,
  NoProcError,
  NoTableError,
  noreply,
  RuntimeError,
  reply,
  type ServerContext,
  SharedContext,
  type Table,
  TableExistsError,
  type TableType,
  TransactionTimeoutError,
} from "@normandy/runtime";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deferred } from "./probe.js";

const clock = new ManualClock();
let system: ActorSystem;
afterEach(async () => {
  vi.restoreAllMocks();
  await system?.shutdown({ timeout: 0 }).catch(() => {});
});

/** Starts a system on the manual clock and a shared context on it. */
async function setup(name?: string): Promise<SharedContext> {
  system = ActorSystem.start({ clock });
  return SharedContext.start(system, name === undefined ? {} : { name });
}

/** Lets every pending continuation run (no wall-clock time passes). */
const settle = () => clock.advance(0);

/** A process that records the info messages it receives (e.g. ETS-TRANSFER). */
async function spawnInbox(name?: string): Promise<{ pid: string; inbox: unknown[] }> {
  const inbox: unknown[] = [];
  const server = defineServer({
    init: () => inbox,
    handleCall: (_m: { type: "ping" }, _f, s) => reply("pong", s),
    handleInfo: (msg: Info, s) => {
      s.push(msg);
      return s;
    },
  });
  const pid = await system.spawn(server, name === undefined ? {} : { name });
  return { pid, inbox };
}

/** What the test processes may receive as info messages. */
type Info = EtsTransferMessage | DownMessage | ExitMessage;

const crash = (pid: string) => system.exit(pid, { error: new Error("boom") });

describe("set tables", () => {
  it("puts, overwrites, reads directly and deletes", async () => {
    const sc = await setup();
    const { pid } = await spawnInbox();
    const t = await sc.newTable<{ name: string }>("users", { owner: pid });
    expect(t.name).toBe("users");
    expect(t.caller).toBe(pid);
    expect(t.info()).toEqual({
      name: "users",
      type: "set",
      access: "protected",
      owner: pid,
      heir: undefined,
      size: 0,
    });
    await t.put("u1", { name: "Ada" });
    await t.put("u1", { name: "Grace" });
    await t.put("u2", { name: "Alan" });
    expect(t.get("u1")).toEqual({ name: "Grace" });
    expect(t.get("nobody")).toBeUndefined();
    expect(t.has("u2")).toBe(true);
    expect(t.has("u3")).toBe(false);
    expect(t.lookup("u1")).toEqual([{ name: "Grace" }]);
    expect(t.lookup("u3")).toEqual([]);
    expect(t.size).toBe(2);
    expect(t.entries()).toEqual([
      ["u1", { name: "Grace" }],
      ["u2", { name: "Alan" }],
    ]);
    expect(t.keys()).toEqual(["u1", "u2"]);
    expect(t.select((_k, v) => v.name.startsWith("A"))).toEqual([["u2", { name: "Alan" }]]);
    expect(await t.putNew("u1", { name: "X" })).toBe(false);
    expect(await t.putNew("u3", { name: "Barbara" })).toBe(true);
    expect(await t.delete("u3")).toBe(true);
    expect(await t.delete("u3")).toBe(false);
    expect(await t.take("u2")).toEqual([{ name: "Alan" }]);
    expect(await t.take("u2")).toEqual([]);
    expect(await t.deleteObject("u1", { name: "nope" })).toBe(false);
    expect(await t.deleteObject("u1", { name: "Grace" })).toBe(true);
    expect(t.size).toBe(0);
    expect(sc.tables()).toEqual(["users"]);
  });

  it("updates atomically and counts with incr", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("n", { owner: (await spawnInbox()).pid, access: "public" });
    expect(await t.update("a", (old) => (old ?? 10) + 1)).toBe(11);
    expect(await t.update("a", (old) => (old ?? 10) * 2)).toBe(22);
    expect(await t.incr("a")).toBe(23);
    expect(await t.incr("a", -3)).toBe(20);
    expect(await t.incr("b", 5, 100)).toBe(105);
    expect(await t.incr("b", 1, 0)).toBe(106);
    const boom = new Error("fn failed");
    await expect(
      t.update("a", () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(t.get("a")).toBe(20);
  });

  it("raises typed incr errors", async () => {
    const sc = await setup();
    const t = await sc.newTable<unknown>("n", { owner: (await spawnInbox()).pid, access: "public" });
    const missing = await t.incr("x").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CounterError);
    expect(missing).toBeInstanceOf(InvalidArgumentError);
    expect(missing).toMatchObject({ code: "invalid_argument", reason: "missing_key", table: "n", key: "x" });
    await t.put("s", "text");
    await expect(t.incr("s")).rejects.toMatchObject({ name: "CounterError", reason: "not_a_number" });
    await expect(t.incr("s", Number.NaN)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.incr("z", 1, Number.POSITIVE_INFINITY)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(t.has("z")).toBe(false);
    expect(t.get("s")).toBe("text");
  });

  it("deletes by predicate with selectDelete", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("n", { owner: (await spawnInbox()).pid, access: "public" });
    for (const [k, v] of [
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ] as const)
      await t.put(k, v);
    expect(await t.selectDelete((_k, v) => v >= 2)).toBe(2);
    expect(t.entries()).toEqual([["a", 1]]);
    expect(await t.selectDelete(() => false)).toBe(0);
  });
});

describe("keys", () => {
  it("compares tuples structurally and keeps atom types apart", async () => {
    const sc = await setup();
    const t = await sc.newTable<string, Key>("k", { owner: (await spawnInbox()).pid, access: "public" });
    await t.put(["user", 1], "tuple");
    expect(t.get(["user", 1])).toBe("tuple");
    await t.put(["user", 1], "again");
    expect(t.size).toBe(1);
    expect(t.get(["user", 1])).toBe("again");
    await t.put([["nested", true], []], "deep");
    expect(t.get([["nested", true], []])).toBe("deep");
    expect(t.has(["user", "1"])).toBe(false);
    await t.put(1, "number");
    await t.put("1", "string");
    await t.put(true, "boolean");
    expect(t.size).toBe(5);
    expect([t.get(1), t.get("1"), t.get(true)]).toEqual(["number", "string", "boolean"]);
    await t.put(-0, "zero");
    expect(t.get(0)).toBe("zero");
    await t.put([-0], "tuple zero");
    expect(t.get([0])).toBe("tuple zero");
    // a string that looks like an encoded tuple is not that tuple
    await t.put('["user",1]', "lookalike");
    expect(t.get(["user", 1])).toBe("again");
  });

  it("rejects values that are not keys", async () => {
    const sc = await setup();
    const t = await sc.newTable<string, Key>("k", { owner: (await spawnInbox()).pid, access: "public" });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, null, undefined, { a: 1 }, [1, Number.NaN]]) {
      expect(() => t.get(bad as unknown as Key)).toThrow(InvalidArgumentError);
      await expect(t.put(bad as unknown as Key, "x")).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    const circular: unknown[] = [];
    circular.push({ self: circular });
    expect(() => t.has(circular as unknown as Key)).toThrow(/invalid key/);
    expect(() => t.has(10n as unknown as Key)).toThrow(/invalid key 10/);
    expect(t.size).toBe(0);
  });

  it("orders ordered_set keys: numbers < strings < booleans < tuples", async () => {
    const sc = await setup();
    const t = await sc.newTable<number, Key>("o", {
      type: "ordered_set",
      owner: (await spawnInbox()).pid,
      access: "public",
    });
    const keys: Key[] = [["b"], true, "b", 10, ["a", 2], "a", false, -1.5, ["a"], 2, "B", ["a", 1], []];
    for (const [i, k] of keys.entries()) await t.put(k, i);
    const sorted: Key[] = [-1.5, 2, 10, "B", "a", "b", false, true, [], ["a"], ["a", 1], ["a", 2], ["b"]];
    expect(t.keys()).toEqual(sorted);
    expect(t.entries().map(([k]) => k)).toEqual(sorted);
    expect(t.select((k) => typeof k === "string")).toEqual([
      ["B", 10],
      ["a", 5],
      ["b", 2],
    ]);
    await t.delete("a");
    await t.delete(["a", 1]);
    await t.put(2, 99); // an existing key keeps its place
    expect(t.keys()).toEqual([-1.5, 2, 10, "B", "b", false, true, [], ["a"], ["a", 2], ["b"]]);
    expect(t.get(2)).toBe(99);
    expect([...keys].sort(compareKeys)).toEqual(sorted);
    expect(compareKeys(["x", 1], ["x", 1])).toBe(0);
  });
});

describe("bag tables", () => {
  it("keeps many values per key but no two deep-equal ones", async () => {
    const sc = await setup();
    const t = await sc.newTable<unknown>("b", {
      type: "bag",
      owner: (await spawnInbox()).pid,
      access: "public",
    });
    const changes: Change[] = [];
    t.subscribe((c) => changes.push(c));
    await t.put("k", { a: 1, b: [1, 2] });
    await t.put("k", { b: [1, 2], a: 1 }); // deep-equal: ignored
    await t.put("k", { a: 1, b: [1, 3] });
    await t.put("k", 1);
    await t.put("k", 1);
    await t.put("k", Number.NaN);
    await t.put("k", Number.NaN);
    await t.put("k", new Date(5));
    await t.put("k", new Date(5));
    expect(t.lookup("k")).toEqual([{ a: 1, b: [1, 2] }, { a: 1, b: [1, 3] }, 1, Number.NaN, new Date(5)]);
    expect(t.get("k")).toEqual({ a: 1, b: [1, 2] });
    expect(changes.map((c) => c.kind)).toEqual(["insert", "insert", "insert", "insert", "insert"]);
    await t.put("j", "x");
    expect(t.size).toBe(6);
    expect(t.keys()).toEqual(["k", "j"]);
    expect(t.entries()).toHaveLength(6);
    expect(await t.putNew("j", "y")).toBe(false);
    expect(await t.deleteObject("k", 1)).toBe(true);
    expect(t.lookup("k")).toHaveLength(4);
    expect(await t.take("k")).toEqual([{ a: 1, b: [1, 2] }, { a: 1, b: [1, 3] }, Number.NaN, new Date(5)]);
    expect(changes.slice(-6).map((c) => c.kind)).toEqual([
      "insert",
      "delete",
      "delete",
      "delete",
      "delete",
      "delete",
    ]);
    await expect(t.update("j", () => "z")).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.incr("j")).rejects.toThrow(/not supported on bag/);
    expect(await t.delete("j")).toBe(true);
    expect(t.size).toBe(0);
  });

  it("compares values with deepEqual", () => {
    class Point {
      readonly x: number;
      constructor(x: number) {
        this.x = x;
      }
    }
    const p = new Point(1);
    expect(deepEqual(p, p)).toBe(true);
    expect(deepEqual(new Point(1), new Point(1))).toBe(false);
    expect(deepEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(deepEqual({ a: 1, c: 2 }, { a: 1, b: 2 })).toBe(false);
    expect(deepEqual({ a: [1] }, { a: [2] })).toBe(false);
    expect(deepEqual([1, 2], [1, 2, 3])).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
    expect(deepEqual(new Date(1), { t: 1 })).toBe(false);
    expect(deepEqual(Object.create(null), {})).toBe(true); // both are plain objects
    expect(
      deepEqual(Object.assign(Object.create(null), { a: 1 }), Object.assign(Object.create(null), { a: 1 })),
    ).toBe(true);
    expect(deepEqual(1, "1")).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual(0, -0)).toBe(true);
  });
});

describe("access", () => {
  async function tables(sc: SharedContext, owner: string) {
    return {
      pub: await sc.newTable<number>("pub", { owner, access: "public" }),
      prot: await sc.newTable<number>("prot", { owner }),
      priv: await sc.newTable<number>("priv", { owner, access: "private" }),
    };
  }

  it("lets the owner read and write every table", async () => {
    const sc = await setup();
    const { pid } = await spawnInbox("owner");
    const own = await tables(sc, pid);
    for (const t of Object.values(own)) {
      await t.put("k", 1);
      expect(t.get("k")).toBe(1);
    }
    // the owner's registered name is the owner too
    const byName = sc.table<number>("priv", "owner");
    await byName.put("k", 2);
    expect(byName.get("k")).toBe(2);
  });

  it("lets others read public and protected tables, and write only public ones", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const other = await spawnInbox();
    await tables(sc, owner.pid);
    for (const caller of [other.pid, undefined]) {
      const pub = sc.table<number>("pub", caller);
      const prot = sc.table<number>("prot", caller);
      const priv = sc.table<number>("priv", caller);
      await pub.put("k", 1);
      expect(pub.get("k")).toBe(1);
      expect(prot.get("k")).toBeUndefined();
      const denied = await prot.put("k", 1).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(AccessError);
      expect(denied).toBeInstanceOf(RuntimeError);
      expect(denied).toMatchObject({ code: "access", table: "prot", caller, operation: "write" });
      expect(() => priv.get("k")).toThrow(AccessError);
      expect(() => priv.size).toThrow(expect.objectContaining({ operation: "read" }));
      expect(() => priv.subscribe(() => {})).toThrow(AccessError);
      await expect(priv.put("k", 1)).rejects.toMatchObject({ code: "access" });
      await expect(prot.transaction((tx) => tx.put("k", 1))).rejects.toBeInstanceOf(AccessError);
      for (const op of [() => pub.drop(), () => pub.giveAway(other.pid), () => pub.setHeir(undefined)])
        await expect(op()).rejects.toMatchObject({ code: "access", operation: "owner" });
    }
    expect(sc.table<number>("pub").get("k")).toBe(1);
  });

  it("verifies a process's identity when the handle is bound to its ServerContext", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    await sc.newTable<number>("prot", { owner: owner.pid });
    const writer = defineServer({
      init: () => null,
      handleCall: async (msg: { type: "as_self" } | { type: "forge"; as: string }, _f, s, ctx) => {
        const caller =
          msg.type === "as_self"
            ? ctx
            : {
                self: msg.as,
                call: (to: string, m: unknown, o?: CallOptions) => ctx.call(to, m, o),
              };
        const error = await sc
          .table<number>("prot", caller as Pick<ServerContext, "self" | "call">)
          .put("k", 1)
          .catch((e: unknown) => e);
        return reply(error, s);
      },
    });
    const pid = await system.spawn(writer);
    expect(await system.call(pid, { type: "as_self" })).toMatchObject({ code: "access", caller: pid });
    // claiming the owner's pid from another process does not work: the call carries the real pid
    expect(await system.call(pid, { type: "forge", as: owner.pid })).toMatchObject({
      code: "access",
      caller: pid,
    });
    expect(sc.table("prot").has("k")).toBe(false);
  });
});

describe("serialization", () => {
  it("serves reads directly while the service is busy with a transaction", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    await t.put("k", 1);
    const gate = deferred();
    const tx = t.transaction(async (x) => {
      x.put("k", 2);
      await gate.promise;
      return x.get("k");
    });
    await settle();
    const queued = t.put("k", 3);
    expect(system.mailboxDepth(sc.pid)).toBe(1);
    const read = t.get("k"); // synchronous: not a promise, not queued
    expect(read).toBe(1);
    expect(t.lookup("k")).toEqual([1]);
    gate.resolve();
    expect(await tx).toBe(2);
    await queued;
    expect(t.get("k")).toBe(3);
  });

  it("applies writes in the order they were sent", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const seen: Change<number, Key>[] = [];
    t.subscribe((c) => seen.push(c));
    const results = await Promise.all([
      t.put("k", 1),
      t.put("k", 2),
      t.update("k", (n) => (n ?? 0) + 10),
      t.incr("k", 5),
      t.take("k"),
      t.putNew("k", 7),
    ]);
    expect(results).toEqual([undefined, undefined, 12, 17, [17], true]);
    expect(seen.map((c) => [c.kind, "old" in c ? c.old : null, "value" in c ? c.value : null])).toEqual([
      ["insert", null, 1],
      ["update", 1, 2],
      ["update", 2, 12],
      ["update", 12, 17],
      ["delete", 17, null],
      ["insert", null, 7],
    ]);
  });
});

describe("transactions", () => {
  it("commits every write at once and notifies after the commit", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("acct", { owner: (await spawnInbox()).pid, access: "public" });
    await t.put("a", 100);
    await t.put("b", 0);
    const seen: string[] = [];
    t.subscribe((c) => seen.push(`${c.kind}:${String(c.key)}:${t.get(c.key as string)}`));
    const result = await t.transaction((tx) => {
      const a = tx.get("a") ?? 0;
      tx.put("a", a - 30);
      tx.update("b", (b) => (b ?? 0) + 30);
      expect(tx.get("a")).toBe(70); // the transaction sees its own writes
      expect(t.get("a")).toBe(100); // the outside does not, yet
      expect(tx.has("b")).toBe(true);
      expect(tx.lookup("a")).toEqual([70]);
      expect(tx.putNew("c", 1)).toBe(true);
      expect(tx.putNew("c", 2)).toBe(false);
      expect(tx.incr("c", 4)).toBe(5);
      expect(tx.take("c")).toEqual([5]);
      expect(tx.delete("c")).toBe(false);
      tx.put("d", 1);
      expect(tx.deleteObject("d", 1)).toBe(true);
      expect(tx.table).toBe("acct");
      return "done";
    });
    expect(result).toBe("done");
    expect(t.entries()).toEqual([
      ["a", 70],
      ["b", 30],
    ]);
    // subscribers run after the whole commit, in the transaction's order
    expect(seen).toEqual([
      "update:a:70",
      "update:b:30",
      "insert:c:undefined",
      "update:c:undefined",
      "delete:c:undefined",
      "insert:d:undefined",
      "delete:d:undefined",
    ]);
  });

  it("discards every write when the function throws", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    await t.put("a", 1);
    const seen: Change[] = [];
    t.subscribe((c) => seen.push(c));
    const boom = new Error("abort");
    await expect(
      t.transaction((tx) => {
        tx.put("a", 2);
        tx.put("b", 2);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(t.entries()).toEqual([["a", 1]]);
    expect(seen).toEqual([]);
    // the service is still serving
    await t.put("b", 3);
    expect(t.get("b")).toBe(3);
  });

  it("discards every write when the promise rejects, and closes the transaction", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    let leaked: Parameters<Parameters<typeof t.transaction>[0]>[0] | undefined;
    await expect(
      t.transaction(async (tx) => {
        leaked = tx;
        tx.put("a", 1);
        await settle();
        tx.incr("missing"); // throws CounterError
      }),
    ).rejects.toBeInstanceOf(CounterError);
    expect(t.has("a")).toBe(false);
    expect(() => leaked?.get("a")).toThrow(/transaction on t is over/);
  });

  it("aborts a transaction that outlives its time limit", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const gate = deferred();
    let lateWrite: unknown;
    const tx = t
      .transaction(
        async (x) => {
          x.put("a", 1);
          await gate.promise;
          try {
            x.put("b", 1);
          } catch (e) {
            lateWrite = e;
          }
        },
        { timeout: 100 },
      )
      .catch((e: unknown) => e);
    const after = t.put("c", 1);
    await clock.advance(99);
    expect(t.has("c")).toBe(false);
    await clock.advance(1);
    const error = await tx;
    expect(error).toBeInstanceOf(TransactionTimeoutError);
    expect(error).toMatchObject({ code: "timeout", table: "t", timeoutMs: 100 });
    await after;
    expect(t.entries()).toEqual([["c", 1]]);
    gate.resolve();
    await settle();
    expect(lateWrite).toBeInstanceOf(InvalidArgumentError);
    expect(t.has("b")).toBe(false);
  });

  it("uses the context's default limit, accepts Infinity, and rejects a bad one", async () => {
    system = ActorSystem.start({ clock });
    const sc = await SharedContext.start(system, { transactionTimeout: 50, callTimeout: 1000 });
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const gate = deferred();
    const limited = t.transaction(() => gate.promise).catch((e: unknown) => e);
    await clock.advance(50);
    expect(await limited).toMatchObject({ timeoutMs: 50 });
    const unlimited = t.transaction(
      async (tx) => {
        await gate.promise;
        tx.put("k", 1);
        return 1;
      },
      { timeout: Number.POSITIVE_INFINITY },
    );
    await clock.advance(1_000_000);
    gate.resolve();
    expect(await unlimited).toBe(1);
    expect(t.get("k")).toBe(1);
    await expect(t.transaction(() => 1, { timeout: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sc.table("nope").transaction(() => 1)).rejects.toBeInstanceOf(NoTableError);
  });

  it("commits nothing when the service dies during a transaction", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const events: unknown[] = [];
    system.telemetry.attach("w", [["normandy", "shared_context", "write"]], (_e, _m, meta) =>
      events.push(meta),
    );
    const gate = deferred();
    const tx = t
      .transaction(async (x) => {
        await gate.promise;
        x.put("k", 1);
      })
      .catch((e: unknown) => e);
    await settle();
    system.exit(sc.pid, "kill");
    gate.resolve();
    expect(await tx).toMatchObject({ code: "exit" });
    await settle();
    expect(events).toEqual([]);
    expect(sc.tables()).toEqual([]);
  });
});

describe("subscriptions", () => {
  it("reports old and new values in order and stops after unsubscribe", async () => {
    const sc = await setup();
    const t = await sc.newTable<string>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const seen: Change<string, Key>[] = [];
    const unsubscribe = t.subscribe((c) => seen.push(c));
    await t.put("k", "a");
    await t.put("k", "b");
    await t.delete("k");
    await t.putNew("k", "a"); // a no-op write publishes nothing
    await t.putNew("k", "b");
    await t.delete("missing");
    unsubscribe();
    await t.put("k", "c");
    expect(seen).toEqual([
      { table: "t", key: "k", kind: "insert", value: "a" },
      { table: "t", key: "k", kind: "update", old: "a", value: "b" },
      { table: "t", key: "k", kind: "delete", old: "b" },
      { table: "t", key: "k", kind: "insert", value: "a" },
    ]);
  });

  it("reports a throwing or rejecting subscriber on telemetry and keeps going", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const failures: Record<string, unknown>[] = [];
    system.telemetry.attach("f", [["normandy", "shared_context", "subscriber_failed"]], (_e, _m, meta) =>
      failures.push({ ...meta }),
    );
    const boom = new Error("subscriber bug");
    const good: number[] = [];
    t.subscribe(() => {
      throw boom;
    });
    t.subscribe(() => Promise.reject(boom));
    t.subscribe((c) => {
      if (c.kind !== "delete") good.push(c.value);
    });
    await t.put("k", 1);
    await t.put("k", 2);
    await settle();
    expect(good).toEqual([1, 2]);
    expect(failures).toHaveLength(4);
    expect(failures[0]).toEqual({ table: "t", key: "k", kind: "insert", error: boom });
    expect(system.isAlive(sc.pid)).toBe(true);
  });

  it("raises a process warning for a failing subscriber when no telemetry handler listens for it", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    system.telemetry.attach("unrelated", [["normandy", "process", "start"]], () => {});
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    t.subscribe(() => {
      throw new Error("bug");
    });
    t.subscribe(() => {
      throw "not an error";
    });
    await t.put("k", 1);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0]?.[0]).toMatch(/subscriber of shared-context table "t" threw: Error: bug/);
    expect(warn.mock.calls[1]?.[0]).toMatch(/threw: not an error/);
    expect(t.get("k")).toBe(1);
  });

  it("skips a subscriber that lost read access and one removed during delivery", async () => {
    const sc = await setup();
    const a = await spawnInbox();
    const b = await spawnInbox();
    const t = await sc.newTable<number>("t", { owner: a.pid, access: "private" });
    const seen: string[] = [];
    t.subscribe((c) => seen.push(`a:${c.kind}`));
    let second: () => void = () => {};
    t.subscribe(() => {
      seen.push("first");
      second();
    });
    second = t.subscribe(() => seen.push("second"));
    await t.put("k", 1);
    expect(seen).toEqual(["a:insert", "first"]);
    await t.giveAway(b.pid);
    await sc.table<number>("t", b.pid).put("k", 2);
    expect(seen).toEqual(["a:insert", "first"]);
  });

  it("emits a write event per committed object", async () => {
    const sc = await setup();
    const t = await sc.newTable<number>("t", { owner: (await spawnInbox()).pid, access: "public" });
    const events: unknown[] = [];
    system.telemetry.attach("w", [["normandy", "shared_context", "write"]], (_e, _m, meta) =>
      events.push(meta),
    );
    await t.put("k", 1);
    await t.transaction((tx) => {
      tx.put("k", 2);
      tx.put(["t", 1], 3);
    });
    await t
      .transaction(() => {
        throw new Error("rolled back");
      })
      .catch(() => {});
    await t.take("k");
    expect(events).toEqual([
      { service: sc.pid, table: "t", key: "k", kind: "insert" },
      { service: sc.pid, table: "t", key: "k", kind: "update" },
      { service: sc.pid, table: "t", key: ["t", 1], kind: "insert" },
      { service: sc.pid, table: "t", key: "k", kind: "delete" },
    ]);
  });
});

describe("ownership", () => {
  it("hands the table to a live heir when the owner dies, with ETS-TRANSFER", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const heir = await spawnInbox("keeper");
    const events: unknown[] = [];
    system.telemetry.attach("x", [["normandy", "shared_context", "transfer"]], (_e, _m, meta) =>
      events.push(meta),
    );
    const t = await sc.newTable<number>("t", {
      owner: owner.pid,
      heir: { pid: "keeper", data: { why: "inherit" } },
    });
    expect(t.info().heir).toBe(heir.pid);
    await t.put("k", 42);
    crash(owner.pid);
    await settle();
    expect(heir.inbox).toEqual([
      { type: "ETS-TRANSFER", table: "t", from: owner.pid, data: { why: "inherit" } },
    ]);
    const mine = sc.table<number>("t", heir.pid);
    expect(mine.info()).toMatchObject({ owner: heir.pid, heir: heir.pid });
    expect(mine.get("k")).toBe(42);
    await mine.put("k", 43);
    expect(events).toEqual([{ service: sc.pid, table: "t", from: owner.pid, to: heir.pid, reason: "heir" }]);
    // the heir now owns it; when it dies too (it is its own heir), the table is deleted
    crash(heir.pid);
    await settle();
    expect(() => mine.get("k")).toThrow(NoTableError);
  });

  it("deletes the table when the owner dies without a (live) heir", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const deadHeir = await spawnInbox();
    const lateHeir = await spawnInbox();
    const events: unknown[] = [];
    system.telemetry.attach("d", [["normandy", "shared_context", "table_deleted"]], (_e, _m, meta) =>
      events.push(meta),
    );
    const plain = await sc.newTable<number>("plain", { owner: owner.pid });
    const withHeir = await sc.newTable<number>("heir_dies", {
      owner: owner.pid,
      heir: { pid: lateHeir.pid },
    });
    await system.stop(deadHeir.pid);
    const ignored = await sc.newTable<number>("heir_dead", { owner: owner.pid, heir: { pid: deadHeir.pid } });
    expect(ignored.info().heir).toBeUndefined();
    await plain.put("k", 1);
    const seen: Change[] = [];
    plain.subscribe((c) => seen.push(c));
    await system.stop(lateHeir.pid);
    await system.stop(owner.pid); // a normal exit deletes it too
    await settle();
    expect(sc.tables()).toEqual([]);
    for (const t of [plain, withHeir, ignored]) {
      expect(() => t.get("k")).toThrow(NoTableError);
      await expect(t.put("k", 2)).rejects.toMatchObject({ code: "no_table" });
    }
    expect(seen).toEqual([]);
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual({ service: sc.pid, table: "plain", owner: owner.pid, reason: "owner_exit" });
  });

  it("gives a table away, keeping the heir, and stops watching the old owner", async () => {
    const sc = await setup();
    const a = await spawnInbox();
    const b = await spawnInbox();
    const keeper = await spawnInbox();
    const t = await sc.newTable<number>("t", { owner: a.pid, heir: { pid: keeper.pid } });
    const other = await sc.newTable<number>("other", { owner: a.pid });
    await t.put("k", 1);
    await t.giveAway(b.pid, "yours");
    expect(b.inbox).toEqual([{ type: "ETS-TRANSFER", table: "t", from: a.pid, data: "yours" }]);
    expect(t.info()).toMatchObject({ owner: b.pid, heir: keeper.pid });
    await expect(t.put("k", 2)).rejects.toBeInstanceOf(AccessError); // a is not the owner any more
    const bt = sc.table<number>("t", b.pid);
    await bt.put("k", 2);
    await expect(bt.giveAway(b.pid)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(bt.giveAway("nobody")).rejects.toBeInstanceOf(NoProcError);
    await other.giveAway(b.pid);
    // a owns nothing now: its death changes nothing
    crash(a.pid);
    await settle();
    expect(bt.get("k")).toBe(2);
    expect(sc.tables().sort()).toEqual(["other", "t"]);
    // b's heir is still the keeper
    crash(b.pid);
    await settle();
    expect(keeper.inbox).toEqual([{ type: "ETS-TRANSFER", table: "t", from: b.pid, data: undefined }]);
    expect(sc.tables()).toEqual(["t"]);
  });

  it("sets and clears the heir", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const heir = await spawnInbox();
    const t = await sc.newTable<number>("t", { owner: owner.pid });
    await t.setHeir({ pid: heir.pid, data: 1 });
    expect(t.info().heir).toBe(heir.pid);
    await t.setHeir(undefined);
    expect(t.info().heir).toBeUndefined();
    await t.setHeir({ pid: "nobody" });
    expect(t.info().heir).toBeUndefined();
    await t.setHeir({ pid: heir.pid, data: 2 });
    await sc.newTable("bystander", { owner: heir.pid });
    crash(owner.pid);
    await settle();
    expect(heir.inbox).toEqual([{ type: "ETS-TRANSFER", table: "t", from: owner.pid, data: 2 }]);
    expect(sc.tables().sort()).toEqual(["bystander", "t"]);
  });

  it("drops a table (owner only); the name can be reused", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const t = await sc.newTable<number>("t", { owner: owner.pid, access: "public" });
    await t.put("k", 1);
    await expect(sc.table("t").drop()).rejects.toBeInstanceOf(AccessError);
    await t.drop();
    expect(() => t.size).toThrow(NoTableError);
    await expect(t.drop()).rejects.toBeInstanceOf(NoTableError);
    const again = await sc.newTable<number>("t", { owner: owner.pid, type: "ordered_set" });
    expect(again.size).toBe(0);
    expect(t.info().type).toBe("ordered_set"); // the old handle names the new table
  });

  it("keeps a supervised owner's data across its restart through a keeper heir", async () => {
    const sc = await setup();
    const transfers: Array<{ to: string; msg: EtsTransferMessage }> = [];

    interface KeeperState {
      readonly held: Set<string>;
      readonly waiting: Map<string, From>;
    }
    const keeperDef = defineServer({
      init: (): KeeperState => ({ held: new Set(), waiting: new Map() }),
      handleCall: async (msg: { type: "claim"; table: string }, from, s: KeeperState, ctx) => {
        if (!s.held.has(msg.table)) {
          s.waiting.set(msg.table, from);
          return noreply(s);
        }
        s.held.delete(msg.table);
        await sc.table(msg.table, ctx).giveAway(from.pid ?? "", "back");
        return reply(true, s);
      },
      handleInfo: async (msg: Info, s: KeeperState, ctx) => {
        if (msg.type !== "ETS-TRANSFER") return s;
        transfers.push({ to: "keeper", msg });
        const from = s.waiting.get(msg.table);
        if (from === undefined) s.held.add(msg.table);
        else {
          s.waiting.delete(msg.table);
          await sc.table(msg.table, ctx).giveAway(from.pid ?? "", "back");
          ctx.reply(from, true);
        }
        return s;
      },
    });
    const keeper = await system.spawn(keeperDef, { name: "keeper" });

    interface OwnerState {
      readonly t: Table<number>;
    }
    let inits = 0;
    const ownerDef = defineServer({
      init: async (_: undefined, ctx): Promise<OwnerState> => {
        inits++;
        if (sc.tables().includes("hits")) await ctx.call("keeper", { type: "claim", table: "hits" });
        else await sc.newTable<number>("hits", { owner: ctx, heir: { pid: "keeper", data: "inherit" } });
        return { t: sc.table<number>("hits", ctx) };
      },
      handleCall: async (msg: { type: "hit" } | { type: "crash" }, _f, s: OwnerState) => {
        if (msg.type === "crash") throw new Error("owner crashed");
        return reply(await s.t.incr("n", 1, 0), s);
      },
      handleInfo: (msg: Info, s: OwnerState, ctx) => {
        if (msg.type !== "ETS-TRANSFER") return s;
        transfers.push({ to: ctx.self, msg });
        return s;
      },
    });
    const sup = defineSupervisor({
      strategy: "one_for_one",
      intensity: 3,
      children: [{ id: "owner", start: ownerDef, name: "owner" }],
    });
    await system.spawn(sup);
    const first = system.whereis("owner") ?? "";
    expect(await system.call("owner", { type: "hit" })).toBe(1);
    expect(await system.call("owner", { type: "hit" })).toBe(2);

    await expect(system.call("owner", { type: "crash" })).rejects.toMatchObject({ code: "exit" });
    await settle();
    const second = system.whereis("owner") ?? "";
    expect(second).not.toBe(first);
    expect(inits).toBe(2);
    expect(transfers).toEqual([
      { to: "keeper", msg: { type: "ETS-TRANSFER", table: "hits", from: first, data: "inherit" } },
      { to: second, msg: { type: "ETS-TRANSFER", table: "hits", from: keeper, data: "back" } },
    ]);
    expect(sc.table("hits").info()).toMatchObject({ owner: second, heir: keeper });
    expect(await system.call("owner", { type: "hit" })).toBe(3);
    expect(sc.table<number>("hits").get("n")).toBe(3);
  });
});

describe("the service", () => {
  it("registers under its name, refuses a taken one, and serializes to table sizes", async () => {
    const sc = await setup();
    expect(sc.name).toBe(DEFAULT_SHARED_CONTEXT_NAME);
    expect(system.whereis(DEFAULT_SHARED_CONTEXT_NAME)).toBe(sc.pid);
    await expect(SharedContext.start(system)).rejects.toBeInstanceOf(NameTakenError);
    const other = await SharedContext.start(system, { name: "other.context" });
    expect(system.whereis("other.context")).toBe(other.pid);
    const owner = await spawnInbox();
    const t = await sc.newTable<number>("a", { owner: owner.pid });
    await sc.newTable<number>("b", { owner: owner.pid, type: "bag" });
    await t.put("k", 1);
    expect(JSON.parse(JSON.stringify(system.getSnapshot(sc.pid)))).toMatchObject({
      status: "active",
      context: { tables: { a: 1, b: 0 } },
    });
    expect(other.tables()).toEqual([]);
  });

  it("validates newTable", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    await sc.newTable("t", { owner: owner.pid });
    await expect(sc.newTable("t", { owner: owner.pid })).rejects.toBeInstanceOf(TableExistsError);
    await expect(sc.newTable("t", { owner: owner.pid })).rejects.toMatchObject({
      code: "invalid_argument",
      table: "t",
    });
    await expect(sc.newTable("u", { owner: "nobody" })).rejects.toBeInstanceOf(NoProcError);
    await expect(sc.newTable("", { owner: owner.pid })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sc.newTable("u", { owner: owner.pid, type: "duplicate_bag" as TableType })).rejects.toThrow(
      /unknown table type/,
    );
    await expect(sc.newTable("u", { owner: owner.pid, access: "open" as "public" })).rejects.toThrow(
      /unknown access mode/,
    );
    await expect(sc.newTable("u", {} as { owner: string })).rejects.toThrow(/needs an owner/);
    expect(sc.tables()).toEqual(["t"]);
  });

  it("ignores stray info messages", async () => {
    const sc = await setup();
    system.send(sc.pid, { type: "stray" });
    await settle();
    expect(system.isAlive(sc.pid)).toBe(true);
  });

  it("deletes every table when it stops", async () => {
    const sc = await setup();
    const owner = await spawnInbox();
    const t = await sc.newTable<number>("t", { owner: owner.pid, access: "public" });
    await t.put("k", 1);
    await sc.stop();
    expect(sc.tables()).toEqual([]);
    expect(() => t.get("k")).toThrow(NoTableError);
    await expect(t.put("k", 1)).rejects.toBeInstanceOf(NoProcError);
  });
});

// ---- property test against a reference model ------------------------------------------------------

type Op =
  | { readonly op: "put"; readonly key: Key; readonly value: unknown }
  | { readonly op: "putNew"; readonly key: Key; readonly value: unknown }
  | { readonly op: "delete"; readonly key: Key }
  | { readonly op: "take"; readonly key: Key }
  | { readonly op: "deleteObject"; readonly key: Key; readonly value: unknown };

/** The model: canonical key (JSON) → the key and its values in insertion order. */
class Model {
  readonly rows = new Map<string, { key: Key; values: unknown[] }>();
  readonly type: TableType;
  constructor(type: TableType) {
    this.type = type;
  }

  apply(op: Op): unknown {
    const id = JSON.stringify(op.key);
    const row = this.rows.get(id);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    switch (op.op) {
      case "put":
        if (this.type !== "bag") this.rows.set(id, { key: op.key, values: [op.value] });
        else if (row === undefined) this.rows.set(id, { key: op.key, values: [op.value] });
        else if (!row.values.some((v) => same(v, op.value))) row.values.push(op.value);
        return undefined;
      case "putNew":
        if (row !== undefined) return false;
        this.rows.set(id, { key: op.key, values: [op.value] });
        return true;
      case "delete":
        return this.rows.delete(id);
      case "take":
        this.rows.delete(id);
        return row?.values ?? [];
      case "deleteObject": {
        const i = row?.values.findIndex((v) => same(v, op.value)) ?? -1;
        if (row === undefined || i < 0) return false;
        row.values.splice(i, 1);
        if (row.values.length === 0) this.rows.delete(id);
        return true;
      }
    }
  }
}

/** The model's key order, written independently: numbers < strings < booleans < tuples. */
function modelOrder(a: Key, b: Key): number {
  const rank = (k: Key) =>
    typeof k === "number" ? 0 : typeof k === "string" ? 1 : typeof k === "boolean" ? 2 : 3;
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = modelOrder(a[i] as Key, b[i] as Key);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

const keyArb: fc.Arbitrary<Key> = fc.oneof(
  fc.integer({ min: -2, max: 2 }),
  fc.constantFrom("a", "b", "1"),
  fc.boolean(),
  fc.tuple(fc.constantFrom("u", "v"), fc.integer({ min: 0, max: 1 })),
  fc.constant([] as Key[]),
);
const valueArb = fc.oneof(fc.integer({ min: 0, max: 2 }), fc.record({ n: fc.integer({ min: 0, max: 1 }) }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key: keyArb, value: valueArb }),
  fc.record({ op: fc.constant("putNew" as const), key: keyArb, value: valueArb }),
  fc.record({ op: fc.constant("delete" as const), key: keyArb }),
  fc.record({ op: fc.constant("take" as const), key: keyArb }),
  fc.record({ op: fc.constant("deleteObject" as const), key: keyArb, value: valueArb }),
);

function send(t: Table<unknown>, op: Op): Promise<unknown> {
  switch (op.op) {
    case "put":
      return t.put(op.key, op.value);
    case "putNew":
      return t.putNew(op.key, op.value);
    case "delete":
      return t.delete(op.key);
    case "take":
      return t.take(op.key);
    case "deleteObject":
      return t.deleteObject(op.key, op.value);
  }
}

describe("property: every table type behaves as the reference model", () => {
  for (const type of ["set", "ordered_set", "bag"] as const) {
    it(`${type}`, async () => {
      const sc = await setup();
      const owner = await spawnInbox();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
          const t = await sc.newTable<unknown>(`${type}-${run++}`, { type, owner: owner.pid });
          const model = new Model(type);
          // sent all at once: the service applies them in order, as the model does one by one
          const results = await Promise.all(ops.map((op) => send(t, op)));
          expect(results).toEqual(ops.map((op) => model.apply(op)));
          const rows = [...model.rows.values()];
          expect(t.size).toBe(rows.reduce((n, r) => n + r.values.length, 0));
          for (const row of rows) expect(t.lookup(row.key)).toEqual(row.values);
          const keys = t.keys();
          if (type === "ordered_set") expect(keys).toEqual(rows.map((r) => r.key).sort(modelOrder));
          else expect(new Set(keys.map((k) => JSON.stringify(k)))).toEqual(new Set(model.rows.keys()));
          await t.drop();
        }),
        { numRuns: 100 },
      );
    });
  }
});
