// The agent pool with real agents over the loopback LLM server: exhaustion and overflow, lifo and fifo,
// waiters served in order, checkout timeouts on a manual clock, crashed and paused agents replaced by
// fresh ones, memory reset between users, transactions that release on throw, and stop.
import { type Agent, ProviderError } from "@normandy/agents";
import {
  AgentPausedError,
  AgentPool,
  type AgentPoolOptions,
  CancelledError,
  isOrdinaryFailure,
  NotCheckedOutError,
  PoolExhaustedError,
  PoolStoppedError,
  type Runnable,
  runToResult,
} from "@normandy/coordination";
import { ManualClock, Telemetry } from "@normandy/runtime";
import type { LoopbackLLMServer, ScriptedTurn } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { agentOn, approvalTool, hanging, useFixtures } from "./support.js";

const { serve } = useFixtures();
const pools: { stop(): Promise<void> }[] = [];
// registered after useFixtures, so it runs before its hook (vitest runs afterEach hooks last-registered
// first): the pools stop before their servers
afterEach(async () => {
  for (const p of pools.splice(0)) await p.stop();
});

type Chat = Agent<{ chat_message: string }, { chat_message: string }>;

/** A pool of real agents on one loopback server; `made()` counts the factory's calls. */
async function poolOn(script: ScriptedTurn[], options: Partial<AgentPoolOptions<Chat>> = {}) {
  const server = await serve(script);
  let made = 0;
  const pool = new AgentPool<Chat>({
    create: () => agentOn(server, `agent-${++made}`, { tools: [approvalTool()] }),
    size: 2,
    maxOverflow: 1,
    ...options,
  });
  pools.push(pool);
  return { pool, server, made: () => made };
}

function roles(server: LoopbackLLMServer, index: number): string[] {
  const body = server.requests[index]?.body as { messages: { role: string }[] };
  return body.messages.map((m) => m.role);
}

describe("checkout and checkin", () => {
  it("makes size agents up front, lends overflow agents when they are all out, and discards overflow on return", async () => {
    const { pool, made } = await poolOn([]);
    expect(made()).toBe(2);
    expect(pool.stats()).toEqual({ size: 2, available: 2, inUse: 0, overflow: 0, waiting: 0 });
    const a = await pool.checkout();
    const b = await pool.checkout();
    const c = await pool.checkout(); // overflow
    expect(made()).toBe(3);
    expect(pool.stats()).toEqual({ size: 2, available: 0, inUse: 3, overflow: 1, waiting: 0 });
    await expect(pool.checkout({ timeoutMs: 0 })).rejects.toBeInstanceOf(PoolExhaustedError);
    pool.checkin(a); // b and c still make a full pool: a is the surplus and goes away
    expect(pool.stats()).toEqual({ size: 2, available: 0, inUse: 2, overflow: 0, waiting: 0 });
    pool.checkin(b);
    pool.checkin(c);
    expect(pool.stats()).toEqual({ size: 2, available: 2, inUse: 0, overflow: 0, waiting: 0 });
    const again = [await pool.checkout(), await pool.checkout()];
    expect(again).toContain(b);
    expect(again).toContain(c);
    expect(again).not.toContain(a);
    expect(made()).toBe(3);
  });

  it("lifo lends the most recently returned agent, fifo the longest idle", async () => {
    for (const [strategy, expected] of [
      ["lifo", 2],
      ["fifo", 0],
    ] as const) {
      const { pool } = await poolOn([], { size: 3, maxOverflow: 0, strategy });
      const out = [await pool.checkout(), await pool.checkout(), await pool.checkout()];
      for (const agent of out) pool.checkin(agent);
      expect(await pool.checkout()).toBe(out[expected]);
    }
  });

  it("serves waiters in arrival order, each with the agent returned", async () => {
    const { pool } = await poolOn([], { size: 1, maxOverflow: 0 });
    const held = await pool.checkout();
    const order: string[] = [];
    const waiters = ["w1", "w2", "w3"].map((name) =>
      pool.checkout().then((agent) => {
        order.push(name);
        return agent;
      }),
    );
    expect(pool.stats().waiting).toBe(3);
    pool.checkin(held);
    const first = await waiters[0];
    expect(first).toBe(held);
    pool.checkin(held);
    await waiters[1];
    pool.checkin(held);
    await waiters[2];
    expect(order).toEqual(["w1", "w2", "w3"]);
    expect(pool.stats()).toMatchObject({ inUse: 1, waiting: 0 });
  });

  it("times a waiting checkout out on the pool's clock, and the agent then goes to nobody stale", async () => {
    const clock = new ManualClock();
    const { pool } = await poolOn([], { size: 1, maxOverflow: 0, clock, checkoutTimeoutMs: 1000 });
    const held = await pool.checkout();
    let outcome: unknown;
    const waiting = pool.checkout().then(
      () => "served",
      (e: unknown) => e,
    );
    void waiting.then((o) => {
      outcome = o;
    });
    await clock.advance(999);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    const error = await waiting;
    expect(error).toBeInstanceOf(PoolExhaustedError);
    expect(error).toMatchObject({ code: "pool_exhausted", timeoutMs: 1000 });
    expect(pool.stats().waiting).toBe(0);
    pool.checkin(held); // the timed-out waiter is gone: the agent is idle again, not leaked
    expect(pool.stats()).toMatchObject({ available: 1, inUse: 0 });

    // a per-checkout limit overrides the pool's; an infinite one sets no timer
    const other = await pool.checkout();
    const short = pool.checkout({ timeoutMs: 10 }).catch((e: unknown) => e);
    await clock.advance(10);
    expect(await short).toBeInstanceOf(PoolExhaustedError);
    const patient = pool.checkout({ timeoutMs: Number.POSITIVE_INFINITY });
    expect(clock.pending).toBe(0);
    pool.checkin(other);
    expect(await patient).toBe(other);
  });

  it("gives up a wait when its signal aborts, or at once for an aborted signal", async () => {
    const { pool } = await poolOn([], { size: 1, maxOverflow: 0 });
    const held = await pool.checkout();
    const controller = new AbortController();
    const waiting = pool.checkout({ signal: controller.signal });
    const next = pool.checkout();
    controller.abort(new Error("caller left"));
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    expect(pool.stats().waiting).toBe(1);
    pool.checkin(held);
    expect(await next).toBe(held);
    await expect(pool.checkout({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
  });

  it("refuses a double or foreign check-in", async () => {
    const { pool } = await poolOn([]);
    const agent = await pool.checkout();
    pool.checkin(agent);
    expect(() => pool.checkin(agent)).toThrow(NotCheckedOutError);
    const { pool: other } = await poolOn([]);
    const foreign = await other.checkout();
    const error = (() => {
      try {
        pool.checkin(foreign);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ code: "not_checked_out", agent: foreign.name });
  });
});

describe("memory between users", () => {
  it("a returned agent forgets its conversation; with resetOnCheckin false it keeps it", async () => {
    const { pool, server } = await poolOn([{ text: "one" }, { text: "two" }], { size: 1, maxOverflow: 0 });
    await pool.transaction((agent, signal) => agent.run("first user", { signal }));
    const again = await pool.checkout();
    expect(again.memory.size).toBe(0);
    await again.run("second user");
    expect(roles(server, 1)).toEqual(["system", "user"]);

    const kept = await poolOn([{ text: "one" }, { text: "two" }], {
      size: 1,
      maxOverflow: 0,
      resetOnCheckin: false,
    });
    await kept.pool.transaction((agent, signal) => agent.run("first", { signal }));
    await kept.pool.transaction((agent, signal) => agent.run("second", { signal }));
    expect(roles(kept.server, 1)).toEqual(["system", "user", "assistant", "user"]);
  });

  it("a crashed agent is discarded and a fresh one made: its memory never reaches the next user", async () => {
    const { pool, server, made } = await poolOn([{ text: "secret" }, { text: "fresh" }], {
      size: 1,
      maxOverflow: 0,
      resetOnCheckin: false,
    });
    const bug = new TypeError("bug in the caller's code");
    let crashed: Chat | undefined;
    const error = await pool
      .transaction(async (agent, signal) => {
        crashed = agent;
        await agent.run("my password is hunter2", { signal });
        throw bug;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(bug);
    expect(made()).toBe(2);
    expect(pool.stats()).toMatchObject({ available: 1, inUse: 0 });
    const next = await pool.checkout();
    expect(next).not.toBe(crashed);
    await next.run("hello");
    expect(roles(server, 1)).toEqual(["system", "user"]);
  });

  it("checkin with crashed: true replaces the agent, handing the fresh one to a waiter", async () => {
    const { pool, made } = await poolOn([], { size: 1, maxOverflow: 0 });
    const broken = await pool.checkout();
    const waiting = pool.checkout();
    pool.checkin(broken, { crashed: true });
    const fresh = await waiting;
    expect(fresh).not.toBe(broken);
    expect(made()).toBe(2);
    expect(pool.stats()).toMatchObject({ inUse: 1, waiting: 0 });
  });

  it("a crashed overflow agent is not replaced when the pool is full", async () => {
    const { pool, made } = await poolOn([], { size: 1, maxOverflow: 1 });
    const a = await pool.checkout();
    const b = await pool.checkout();
    pool.checkin(b, { crashed: true });
    expect(pool.stats()).toEqual({ size: 1, available: 0, inUse: 1, overflow: 0, waiting: 0 });
    pool.checkin(a);
    expect(made()).toBe(2);
  });

  it("an agent returned while paused for approval is replaced (its pending run would block the next user)", async () => {
    const { pool, made } = await poolOn([{ toolCalls: [{ name: "wire_money", arguments: {} }] }], {
      size: 1,
      maxOverflow: 0,
    });
    const error = await pool
      .transaction((agent, signal) => runToResult(agent, "pay", signal))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentPausedError);
    expect(made()).toBe(2);
    const next = await pool.checkout();
    expect(next.awaitingApproval).toBe(false);
  });

  it("a resetMemory that throws has the agent replaced, and the error surfaces", async () => {
    let made = 0;
    const failing = new Error("reset failed");
    const pool = new AgentPool<Runnable & { resetMemory(): void }>({
      create: () => {
        const id = ++made;
        return {
          name: `custom-${id}`,
          run: () => Promise.reject(new Error("unused")),
          resetMemory: () => {
            throw failing;
          },
        };
      },
      size: 1,
      maxOverflow: 0,
    });
    pools.push(pool);
    const agent = await pool.checkout();
    expect(() => pool.checkin(agent)).toThrow(failing);
    expect(made).toBe(2);
    expect(await pool.checkout()).not.toBe(agent);
  });
});

describe("transaction", () => {
  it("checks the agent back in after an ordinary failure, and keeps it", async () => {
    const { pool, made } = await poolOn([{ fault: { kind: "authentication" } }], { size: 1, maxOverflow: 0 });
    let used: Chat | undefined;
    const error = await pool
      .transaction((agent, signal) => {
        used = agent;
        return agent.run("q", { signal });
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(made()).toBe(1);
    expect(pool.stats()).toMatchObject({ available: 1, inUse: 0 });
    expect(await pool.checkout()).toBe(used);
  });

  it("returns what its function returns, and reports on the bus", async () => {
    const telemetry = new Telemetry();
    const seen: { name: string; meta: Record<string, unknown> }[] = [];
    telemetry.attach("t", "*", (name, _m, meta) => seen.push({ name: name.join("."), meta }));
    const { pool } = await poolOn([{ text: "answer" }], { telemetry, name: "support" });
    const result = await pool.transaction((agent, signal) => runToResult(agent, "q", signal));
    expect(result.text).toBe("answer");
    expect(seen.map((e) => e.name)).toEqual([
      "normandy.orchestration.pool.start",
      "normandy.orchestration.pool.agent",
      "normandy.orchestration.pool.stop",
    ]);
    expect(seen[0]?.meta).toEqual({ op: "transaction", pool: "support", agent: "agent-2" });
    seen.length = 0;
    await expect(
      pool.transaction(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(seen.map((e) => e.name).at(-1)).toBe("normandy.orchestration.pool.exception");
  });

  it("the caller's signal aborts the run in flight: CancelledError, the request disconnects, the agent returns", async () => {
    const { turn, arrived } = hanging();
    const { pool, server } = await poolOn([turn], { size: 1, maxOverflow: 0 });
    const controller = new AbortController();
    const pending = pool
      .transaction((agent, signal) => agent.run("q", { signal }), { signal: controller.signal })
      .catch((e: unknown) => e);
    await arrived;
    controller.abort(new Error("user left"));
    const error = await pending;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as Error).message).toBe("cancelled: user left");
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
    expect(pool.stats()).toMatchObject({ available: 1, inUse: 0 });
  });

  it("a signal aborted just as a waiter is handed its agent still reaches the function", async () => {
    const { pool } = await poolOn([], { size: 1, maxOverflow: 0 });
    const held = await pool.checkout();
    const controller = new AbortController();
    const pending = pool.transaction((_agent, signal) => signal.aborted, { signal: controller.signal });
    pool.checkin(held);
    controller.abort();
    expect(await pending).toBe(true);
  });

  it("passes on a factory failure when making an overflow agent", async () => {
    let calls = 0;
    const pool = new AgentPool<Runnable>({
      create: () => {
        if (++calls > 1) throw new Error("factory down");
        return { name: "only", run: () => Promise.reject(new Error("unused")) };
      },
      size: 1,
      maxOverflow: 1,
    });
    pools.push(pool);
    await pool.checkout();
    await expect(pool.transaction(() => "never")).rejects.toThrow("factory down");
    expect(pool.stats()).toMatchObject({ inUse: 1, overflow: 0 });
  });
});

describe("stop", () => {
  it("rejects waiters, aborts transactions in flight, and refuses later checkouts", async () => {
    const { turn, arrived } = hanging();
    const { pool, server } = await poolOn([turn], { size: 1, maxOverflow: 0 });
    const running = pool.transaction((agent, signal) => agent.run("q", { signal })).catch((e: unknown) => e);
    const waiting = pool.checkout().catch((e: unknown) => e);
    await arrived;
    await pool.stop();
    const aborted = await running;
    expect(aborted).toBeInstanceOf(PoolStoppedError);
    expect((aborted as PoolStoppedError).code).toBe("pool_stopped");
    expect((aborted as Error).cause).toMatchObject({ name: "AgentAbortedError" });
    expect(await waiting).toBeInstanceOf(PoolStoppedError);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
    expect(pool.stats()).toEqual({ size: 1, available: 0, inUse: 0, overflow: 0, waiting: 0 });
    await expect(pool.checkout()).rejects.toBeInstanceOf(PoolStoppedError);
    await expect(pool.transaction(() => 1)).rejects.toBeInstanceOf(PoolStoppedError);
    await pool.stop(); // idempotent
  });

  it("a check-in after stop does nothing", async () => {
    const { pool } = await poolOn([]);
    const agent = await pool.checkout();
    await pool.stop();
    expect(() => pool.checkin(agent)).not.toThrow();
    expect(pool.stats().available).toBe(0);
  });
});

describe("construction", () => {
  it("refuses a bad size or overflow, and a factory that returns one shared agent", () => {
    const create = () => ({ name: "x", run: () => Promise.reject(new Error("unused")) });
    expect(() => new AgentPool({ create, size: 0 })).toThrow(RangeError);
    expect(() => new AgentPool({ create, maxOverflow: -1 })).toThrow(RangeError);
    const shared = create();
    expect(() => new AgentPool({ create: () => shared, size: 2 })).toThrow(TypeError);
  });

  it("calls an agent's ordinary typed failures not crashes", () => {
    expect(isOrdinaryFailure(new ProviderError({ kind: "server", message: "500", provider: "openai" }))).toBe(
      true,
    );
    expect(isOrdinaryFailure(new PoolExhaustedError("p", 1))).toBe(true);
    expect(isOrdinaryFailure(new TypeError("bug"))).toBe(false);
    expect(isOrdinaryFailure("thrown string")).toBe(false);
  });
});
