// The circuit breaker as a server process: every transition on a ManualClock, sharing by name across
// callers and processes, atomic half-open admission under concurrency, slots released whatever the call
// did, failure classification, reset/trip/metrics, telemetry, and supervision.
import { ProviderError, type ProviderErrorKind } from "@normandy/agents";
import {
  type ActorSystem,
  defineServer,
  defineSupervisor,
  InvalidArgumentError,
  ManualClock,
  NoProcError,
  reply,
  ActorSystem as System,
} from "@normandy/runtime";
import { afterEach, describe, expect, it } from "vitest";
import {
  CIRCUIT_RELEASE_FAILED,
  CIRCUIT_STATE_CHANGE,
  CircuitBreaker,
  type CircuitBreakerStartOptions,
  defaultIsFailure,
} from "../src/resilience/CircuitBreaker.js";
import { CircuitOpenError, RetryExhaustedError } from "../src/resilience/errors.js";

const pe = (kind: ProviderErrorKind) => new ProviderError({ kind, provider: "test", message: kind });

let clock: ManualClock;
let system: ActorSystem;
const start = () => {
  clock = new ManualClock();
  system = System.start({ clock });
  return system;
};
afterEach(async () => {
  await system?.shutdown({ timeout: 0 }).catch(() => {});
});

const breakerOf = (options: Partial<CircuitBreakerStartOptions> = {}) =>
  CircuitBreaker.start(system, { name: "cb", failureThreshold: 3, openTimeoutMs: 1_000, ...options });

const fail = (breaker: CircuitBreaker, error: unknown = pe("server")) =>
  breaker.call(() => Promise.reject(error)).catch((e: unknown) => e);
const succeed = (breaker: CircuitBreaker) => breaker.call(() => "ok");

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function transitions(sys: ActorSystem) {
  const seen: string[] = [];
  sys.telemetry.attach("transitions", [CIRCUIT_STATE_CHANGE], (_n, _m, meta) =>
    seen.push(`${String(meta.name)}: ${String(meta.from)} -> ${String(meta.to)}`),
  );
  return seen;
}

/** Opens the breaker and lets its timeout pass, so the next query finds it half-open. */
async function halfOpen(breaker: CircuitBreaker): Promise<void> {
  await breaker.trip();
  await clock.advance(1_000);
  expect(await breaker.state()).toBe("half_open");
}

describe("CircuitBreaker", () => {
  it("starts closed with Normandy's defaults", async () => {
    start();
    const breaker = await CircuitBreaker.start(system, { name: "defaults" });
    expect(breaker.name).toBe("defaults");
    expect(await breaker.metrics()).toEqual({
      state: "closed",
      failures: 0,
      successes: 0,
      failureThreshold: 5,
      successThreshold: 2,
      openedAt: undefined,
      lastFailureAt: undefined,
      rejected: 0,
      halfOpenInFlight: 0,
    });
    expect(await succeed(breaker)).toBe("ok");
  });

  it("opens after failureThreshold consecutive failures; a success resets the count", async () => {
    start();
    const seen = transitions(system);
    const breaker = await breakerOf();
    await fail(breaker);
    await clock.advance(5);
    await fail(breaker);
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 2, lastFailureAt: 5 });
    await succeed(breaker);
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 0 });
    await fail(breaker);
    await fail(breaker);
    expect(await breaker.state()).toBe("closed");
    await clock.advance(10);
    const error = pe("overloaded");
    expect(await fail(breaker, error)).toBe(error); // the caller gets the call's own error
    expect(await breaker.metrics()).toMatchObject({ state: "open", failures: 3, openedAt: 15 });
    expect(seen).toEqual(["cb: closed -> open"]);
  });

  it("refuses calls while open with a typed error, without running them", async () => {
    start();
    const breaker = await breakerOf();
    await breaker.trip();
    await clock.advance(400);
    let ran = false;
    const error = await breaker
      .call(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toMatchObject({
      code: "circuit_open",
      breaker: "cb",
      state: "open",
      retryAt: 1_000,
      retryAfterMs: 600,
      message: 'circuit breaker "cb" is open',
    });
    expect((await breaker.metrics()).rejected).toBe(1);
  });

  it("half-opens lazily once openTimeoutMs has passed on the system clock", async () => {
    start();
    const seen = transitions(system);
    const breaker = await breakerOf();
    await breaker.trip();
    await clock.advance(999);
    expect(await breaker.state()).toBe("open");
    await clock.advance(1);
    expect(seen).toEqual(["cb: closed -> open"]); // nothing happens until someone asks
    expect(await breaker.state()).toBe("half_open");
    expect(seen).toEqual(["cb: closed -> open", "cb: open -> half_open"]);
  });

  it("half-opens on the first acquire after the timeout too", async () => {
    start();
    const breaker = await breakerOf({ successThreshold: 1 });
    await breaker.trip();
    await clock.advance(1_000);
    expect(await succeed(breaker)).toBe("ok");
    expect(await breaker.state()).toBe("closed");
  });

  it("closes after successThreshold successful trials", async () => {
    start();
    const seen = transitions(system);
    const breaker = await breakerOf({ successThreshold: 2 });
    await halfOpen(breaker);
    await succeed(breaker);
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", successes: 1, halfOpenInFlight: 0 });
    await succeed(breaker);
    expect(await breaker.metrics()).toMatchObject({
      state: "closed",
      successes: 0,
      failures: 0,
      openedAt: undefined,
    });
    expect(seen).toEqual(["cb: closed -> open", "cb: open -> half_open", "cb: half_open -> closed"]);
  });

  it("reopens on any failure while half-open", async () => {
    start();
    const seen = transitions(system);
    const breaker = await breakerOf({ successThreshold: 3 });
    await halfOpen(breaker);
    await succeed(breaker);
    await clock.advance(7);
    await fail(breaker);
    expect(await breaker.metrics()).toMatchObject({ state: "open", openedAt: 1_007, lastFailureAt: 1_007 });
    expect(seen.at(-1)).toBe("cb: half_open -> open");
    await clock.advance(999);
    expect(await breaker.state()).toBe("open");
    await clock.advance(1);
    expect(await breaker.state()).toBe("half_open");
  });

  it("admits exactly halfOpenMaxCalls of many concurrent calls while half-open", async () => {
    start();
    const breaker = await breakerOf({ halfOpenMaxCalls: 2, successThreshold: 5 });
    await halfOpen(breaker);
    const gate = deferred<string>();
    let started = 0;
    const calls = Array.from({ length: 20 }, () =>
      breaker
        .call(() => {
          started++;
          return gate.promise;
        })
        .then(
          (v) => ({ ok: v }),
          (e: unknown) => ({ error: e }),
        ),
    );
    await clock.advance(0);
    expect(started).toBe(2);
    expect(await breaker.metrics()).toMatchObject({ halfOpenInFlight: 2, rejected: 18 });
    gate.resolve("done");
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => "ok" in o)).toHaveLength(2);
    const refused = outcomes.filter((o) => "error" in o).map((o) => (o as { error: unknown }).error);
    expect(refused).toHaveLength(18);
    for (const e of refused)
      expect(e).toMatchObject({ code: "circuit_open", state: "half_open", retryAt: undefined });
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", successes: 2, halfOpenInFlight: 0 });
  });

  it("releases the trial slot whatever the call does: sync throw, rejection, abort", async () => {
    start();
    const breaker = await breakerOf({ halfOpenMaxCalls: 1, successThreshold: 10 });
    await halfOpen(breaker);
    const auth = pe("auth");
    const syncThrow = await breaker
      .call((): string => {
        throw auth;
      })
      .catch((e: unknown) => e);
    expect(syncThrow).toBe(auth);
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", halfOpenInFlight: 0 });

    const invalid = pe("invalid_request");
    expect(await fail(breaker, invalid)).toBe(invalid);
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", halfOpenInFlight: 0 });

    const controller = new AbortController();
    const aborted = breaker.call(
      () =>
        new Promise((_resolve, reject) =>
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason)),
        ),
    );
    await clock.advance(0);
    expect(await breaker.metrics()).toMatchObject({ halfOpenInFlight: 1 });
    // while the slot is held, nobody else gets in
    expect(await succeed(breaker).catch((e: unknown) => e)).toBeInstanceOf(CircuitOpenError);
    controller.abort(); // a DOMException AbortError: neutral
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", halfOpenInFlight: 0, successes: 0 });
    expect(await succeed(breaker)).toBe("ok");

    // a failure frees the slot too, and reopens
    await fail(breaker);
    expect(await breaker.metrics()).toMatchObject({ state: "open", halfOpenInFlight: 0 });
  });

  it("counts transient ProviderErrors and unknown errors as failures by default, not caller errors", async () => {
    start();
    const breaker = await breakerOf({ failureThreshold: 100 });
    for (const kind of [
      "auth",
      "permission",
      "invalid_request",
      "context_length_exceeded",
      "quota_exhausted",
    ] as const)
      await fail(breaker, pe(kind));
    await fail(breaker, pe("content_filter"));
    await fail(breaker, pe("aborted"));
    expect((await breaker.metrics()).failures).toBe(0);
    for (const kind of ["rate_limit", "overloaded", "server", "timeout", "network"] as const)
      await fail(breaker, pe(kind));
    await fail(breaker, new TypeError("bug"));
    await fail(breaker, new RetryExhaustedError([pe("server")]));
    expect((await breaker.metrics()).failures).toBe(7);
    expect(defaultIsFailure(new CircuitOpenError("inner", "open", 0, 0))).toBe(false);
    expect(defaultIsFailure("a string")).toBe(true);
  });

  it("takes a custom isFailure", async () => {
    start();
    const breaker = await breakerOf({
      failureThreshold: 1,
      isFailure: (e) => e instanceof ProviderError && e.kind === "auth",
    });
    await fail(breaker, pe("server"));
    expect(await breaker.state()).toBe("closed");
    await fail(breaker, pe("auth"));
    expect(await breaker.state()).toBe("open");
  });

  it("counts a failure, and reports it, when isFailure throws", async () => {
    start();
    const reports: unknown[] = [];
    system.telemetry.attach("r", [["normandy", "circuit_breaker", "is_failure_threw"]], (_n, _m, meta) =>
      reports.push(meta),
    );
    const broken = new Error("predicate broke");
    const breaker = await breakerOf({
      failureThreshold: 1,
      isFailure: () => {
        throw broken;
      },
    });
    await fail(breaker, pe("auth"));
    expect(await breaker.state()).toBe("open");
    expect(reports).toEqual([{ name: "cb", error: broken }]);
  });

  it("trips, resets, and ignores outcomes of calls admitted before a transition", async () => {
    start();
    const seen = transitions(system);
    const breaker = await breakerOf({ failureThreshold: 1 });
    const gate = deferred<string>();
    const early = breaker.call(() => gate.promise).catch((e: unknown) => e);
    await clock.advance(0);
    await breaker.trip();
    await breaker.trip(); // re-arms the timeout; no second event
    expect(await breaker.metrics()).toMatchObject({ state: "open", openedAt: 0 });
    gate.reject(pe("server")); // admitted while closed: says nothing about now
    await early;
    expect(await breaker.metrics()).toMatchObject({ state: "open", failures: 0, lastFailureAt: undefined });
    await breaker.reset();
    await breaker.reset(); // already closed: no event
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 0, openedAt: undefined });
    expect(seen).toEqual(["cb: closed -> open", "cb: open -> closed"]);

    // a trial admitted before a reset no longer holds a slot afterwards
    await halfOpen(breaker);
    const trial = deferred<string>();
    const late = breaker.call(() => trial.promise);
    await clock.advance(0);
    await breaker.reset();
    trial.resolve("late");
    expect(await late).toBe("late");
    expect(await breaker.metrics()).toMatchObject({ state: "closed", halfOpenInFlight: 0, successes: 0 });
  });

  it("keeps the rejected counter across a reset", async () => {
    start();
    const breaker = await breakerOf();
    await breaker.trip();
    await succeed(breaker).catch(() => {});
    await breaker.reset();
    expect((await breaker.metrics()).rejected).toBe(1);
  });

  it("is shared by name: racing starts get one breaker", async () => {
    start();
    const handles = await Promise.all(
      Array.from({ length: 5 }, () =>
        CircuitBreaker.shared(system, "anthropic:claude-sonnet-4-5", { failureThreshold: 2 }),
      ),
    );
    expect(new Set(handles.map((h) => h.name))).toEqual(new Set(["breaker:anthropic:claude-sonnet-4-5"]));
    expect(system.registered().filter((n) => n.startsWith("breaker:"))).toEqual([
      "breaker:anthropic:claude-sonnet-4-5",
    ]);
    const [a, b] = handles;
    if (a === undefined || b === undefined) throw new Error("unreachable");
    await fail(a);
    await fail(b);
    expect(await a.state()).toBe("open");
    // a later caller's options are ignored: it joins the running breaker
    const later = await CircuitBreaker.shared(system, "anthropic:claude-sonnet-4-5", {
      failureThreshold: 50,
    });
    expect(await later.metrics()).toMatchObject({ state: "open", failureThreshold: 2 });
    // another key is another breaker
    const other = await CircuitBreaker.shared(system, "openai:gpt-5");
    expect(await other.state()).toBe("closed");
  });

  it("treats a NameTakenError while starting a shared breaker as someone else's win", async () => {
    start();
    const first = await CircuitBreaker.shared(system, "raced", { failureThreshold: 1 });
    // the runtime registers names synchronously, so simulate a caller whose lookup ran before the winner's
    // registration: its start then meets the taken name
    const lookup = system.whereis.bind(system);
    system.whereis = () => undefined;
    const loser = await CircuitBreaker.shared(system, "raced", { failureThreshold: 9 });
    system.whereis = lookup;
    expect(loser.name).toBe(first.name);
    await fail(loser);
    expect(await first.metrics()).toMatchObject({ state: "open", failureThreshold: 1 });
  });

  it("is shared by processes: agents calling through it from their handlers see one circuit", async () => {
    start();
    const breaker = await CircuitBreaker.shared(system, "p:m", { failureThreshold: 2 });
    const agent = defineServer({
      init: (key: string) => key,
      handleCall: async (msg: { type: "ask"; fail: boolean }, _from, key: string) => {
        const handle = await CircuitBreaker.shared(system, key);
        const outcome = await handle
          .call(() => (msg.fail ? Promise.reject(pe("server")) : Promise.resolve("answer")))
          .catch(
            (e: unknown) => (e as { code?: string; kind?: string }).code ?? (e as { kind?: string }).kind,
          );
        return reply(outcome, key);
      },
    });
    const one = await system.spawn(agent, { args: "p:m" });
    const two = await system.spawn(agent, { args: "p:m" });
    expect(await system.call(one, { type: "ask", fail: true })).toBe("server");
    expect(await system.call(two, { type: "ask", fail: true })).toBe("server");
    expect(await system.call(one, { type: "ask", fail: false })).toBe("circuit_open");
    expect(await breaker.state()).toBe("open");
  });

  it("propagates failures to start other than a taken name", async () => {
    start();
    await expect(CircuitBreaker.shared(system, "bad", { failureThreshold: 0 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it("runs under a supervisor from its child spec (a restart starts closed)", async () => {
    start();
    const spec = CircuitBreaker.childSpec(system, { name: "supervised", failureThreshold: 1 });
    expect(spec).toMatchObject({ id: "supervised", name: "supervised" });
    await system.spawn(defineSupervisor({ strategy: "one_for_one", children: [spec] }));
    const breaker = CircuitBreaker.at(system, "supervised");
    await fail(breaker);
    expect(await breaker.state()).toBe("open");
    const pid = system.whereis("supervised");
    if (pid === undefined) throw new Error("not running");
    system.exit(pid, "kill");
    await clock.advance(0);
    expect(system.whereis("supervised")).not.toBe(pid);
    expect(await breaker.state()).toBe("closed");
  });

  it("gives a permit that counts only its first release", async () => {
    start();
    const breaker = await breakerOf({ failureThreshold: 2 });
    const permit = await breaker.acquire();
    permit.release({ type: "error", error: pe("server") });
    permit.release({ type: "error", error: pe("server") });
    expect((await breaker.metrics()).failures).toBe(1);
    const abandoned = await breaker.acquire();
    abandoned.release({ type: "abandoned" });
    expect((await breaker.metrics()).failures).toBe(1);
  });

  it("reports an outcome it cannot deliver instead of throwing it at the caller", async () => {
    start();
    const reports: unknown[] = [];
    system.telemetry.attach("r", [CIRCUIT_RELEASE_FAILED], (_n, _m, meta) => reports.push(meta));
    const refusal = new Error("mailbox refused");
    const flaky = {
      telemetry: system.telemetry,
      call: () => Promise.resolve({ admitted: true, ticket: { generation: 0, trial: false } }),
      cast: () => {
        throw refusal;
      },
    } as unknown as ActorSystem;
    const breaker = CircuitBreaker.at(flaky, "nowhere");
    expect(await breaker.call(() => 42)).toBe(42);
    expect(reports).toEqual([{ name: "nowhere", error: refusal }]);
  });

  it("stops, after which calls fail with noproc", async () => {
    start();
    const breaker = await breakerOf();
    await breaker.stop();
    await expect(breaker.call(() => 1)).rejects.toBeInstanceOf(NoProcError);
    await expect(CircuitBreaker.at(system, "never-started").state()).rejects.toBeInstanceOf(NoProcError);
  });

  it("rejects options out of their domain", async () => {
    start();
    for (const bad of [
      { failureThreshold: 0 },
      { successThreshold: 1.5 },
      { halfOpenMaxCalls: 0 },
      { openTimeoutMs: -1 },
    ]) {
      await expect(breakerOf(bad), JSON.stringify(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });
});
