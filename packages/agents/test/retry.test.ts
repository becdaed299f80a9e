// withRetry and its policy: the backoff schedule and cap, jitter, Retry-After, presets, what is never
// retried, exhaustion, per-attempt timeouts, aborts, and reporting. Every wait is on a ManualClock.
import { ProviderError, type ProviderErrorKind } from "@normandy/agents";
import { InvalidArgumentError, ManualClock, Telemetry } from "@normandy/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RetryExhaustedError } from "../src/resilience/errors.js";
import {
  linkedController,
  type RetryInfo,
  RetryPolicy,
  retryPresets,
} from "../src/resilience/RetryPolicy.js";
import { type RetryAttempt, withRetry } from "../src/resilience/retry.js";

const pe = (kind: ProviderErrorKind, extra: { retryAfterMs?: number } = {}) =>
  new ProviderError({ kind, provider: "test", message: `${kind} failure`, ...extra });

/** Lets pending continuations schedule their timers, then fires every timer. */
async function drain(clock: ManualClock): Promise<void> {
  await clock.advance(0);
  await clock.runAll();
}

/** A function that fails with the given errors in turn, then returns "ok"; it logs when it was called. */
function scripted(clock: ManualClock, errors: unknown[]) {
  const calls: { number: number; at: number; signal: AbortSignal }[] = [];
  const fn = async (attempt: RetryAttempt) => {
    calls.push({ number: attempt.number, at: clock.now(), signal: attempt.signal });
    const error = errors[attempt.number - 1];
    if (error !== undefined) throw error;
    return "ok";
  };
  return { fn, calls };
}

/** A function whose attempts never settle unless told to. */
function hanging(clock: ManualClock) {
  const calls: { at: number; signal: AbortSignal; resolve: (v: string) => void }[] = [];
  const fn = (attempt: RetryAttempt) =>
    new Promise<string>((resolve) => calls.push({ at: clock.now(), signal: attempt.signal, resolve }));
  return { fn, calls };
}

describe("withRetry", () => {
  it("returns the first success without waiting", async () => {
    const clock = new ManualClock();
    const { fn, calls } = scripted(clock, []);
    expect(await withRetry(fn, { clock })).toBe("ok");
    expect(calls).toHaveLength(1);
  });

  it("retries transient failures on the exponential schedule, capped at maxDelayMs", async () => {
    const clock = new ManualClock();
    const errors = [pe("server"), pe("rate_limit"), pe("overloaded"), pe("network"), pe("timeout")];
    const { fn, calls } = scripted(clock, errors);
    const result = withRetry(fn, { clock, maxAttempts: 5, maxDelayMs: 5_000, jitter: false }).catch(
      (e: unknown) => e,
    );
    await clock.advance(999);
    expect(calls.map((c) => c.at)).toEqual([0]);
    await drain(clock);
    // delays 1000, 2000, 4000, then 8000 capped at 5000
    expect(calls.map((c) => c.at)).toEqual([0, 1_000, 3_000, 7_000, 12_000]);
    const error = await result;
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(error).toMatchObject({ code: "retry_exhausted", attempts: errors, last: errors[4] });
    expect((error as RetryExhaustedError).cause).toBe(errors[4]);
    expect((error as Error).message).toBe("gave up after 5 attempts: timeout failure");
  });

  it("succeeds after retries", async () => {
    const clock = new ManualClock();
    const { fn, calls } = scripted(clock, [pe("server")]);
    const result = withRetry(fn, { clock, jitter: false });
    await clock.advance(1_000);
    expect(await result).toBe("ok");
    expect(calls.map((c) => c.number)).toEqual([1, 2]);
  });

  it("jitters by ±25% with the injected random source", async () => {
    const delays = async (random: () => number) => {
      const clock = new ManualClock();
      const seen: number[] = [];
      const { fn } = scripted(clock, [pe("server"), pe("server"), pe("server")]);
      const result = withRetry(fn, { clock, random, maxAttempts: 4, onRetry: (i) => seen.push(i.delayMs) });
      await drain(clock);
      await result;
      return seen;
    };
    expect(await delays(() => 0)).toEqual([750, 1_500, 3_000]);
    expect(await delays(() => 0.5)).toEqual([1_000, 2_000, 4_000]);
    expect(await delays(() => 0.999_999)).toEqual([1_250, 2_500, 5_000]);
  });

  it("keeps every jittered delay within ±25% of the capped backoff (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 10_000 }),
        (r, attempt, base) => {
          const policy = new RetryPolicy({ baseDelayMs: base, random: () => r });
          const backoff = Math.min(32_000, base * 2 ** (attempt - 1));
          const delay = policy.delayMs(attempt, pe("server"));
          return delay >= Math.floor(backoff * 0.75) && delay <= Math.ceil(backoff * 1.25);
        },
      ),
    );
  });

  it("waits for Retry-After instead of the backoff, unjittered and capped", async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const { fn, calls } = scripted(clock, [pe("rate_limit", { retryAfterMs: 5_000 })]);
    const result = withRetry(fn, { clock, random: () => 0, onRetry: (i) => seen.push(i.delayMs) });
    await clock.advance(4_999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(await result).toBe("ok");
    expect(seen).toEqual([5_000]);

    const policy = new RetryPolicy({ jitter: false });
    expect(policy.delayMs(1, pe("rate_limit", { retryAfterMs: 100_000 }))).toBe(32_000); // capped by maxDelayMs
    expect(
      new RetryPolicy({ maxRetryAfterMs: 2_000 }).delayMs(1, pe("rate_limit", { retryAfterMs: 9_000 })),
    ).toBe(2_000);
    expect(
      new RetryPolicy({ respectRetryAfter: false, jitter: false }).delayMs(
        1,
        pe("rate_limit", { retryAfterMs: 9_000 }),
      ),
    ).toBe(1_000);
  });

  it("retries at once after a Retry-After of 0, and refuses to wait on an aborted signal", async () => {
    const clock = new ManualClock();
    const { fn, calls } = scripted(clock, [pe("rate_limit", { retryAfterMs: 0 })]);
    expect(await withRetry(fn, { clock })).toBe("ok");
    expect(calls.map((c) => c.at)).toEqual([0, 0]);
    const policy = new RetryPolicy({ clock, provider: "p" });
    await expect(policy.wait(10, AbortSignal.abort())).rejects.toMatchObject({
      kind: "aborted",
      provider: "p",
    });
    expect(clock.pending).toBe(0);
  });

  it("has Normandy's presets", async () => {
    expect(retryPresets).toEqual({
      quick: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 1_000 },
      standard: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000 },
      persistent: { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000 },
      patient: { maxAttempts: 10, baseDelayMs: 2_000, maxDelayMs: 60_000, factor: 1.5 },
    });
    const patient = new RetryPolicy({ ...retryPresets.patient, jitter: false });
    expect([1, 2, 3, 4, 12].map((n) => patient.delayMs(n, pe("server")))).toEqual([
      2_000, 3_000, 4_500, 6_750, 60_000,
    ]);
    const standard = new RetryPolicy("standard");
    expect([standard.maxAttempts, standard.baseDelayMs, standard.maxDelayMs, standard.factor]).toEqual([
      3, 1_000, 10_000, 2,
    ]);
    const defaults = new RetryPolicy();
    expect(defaults).toMatchObject({
      maxAttempts: 3,
      baseDelayMs: 1_000,
      maxDelayMs: 32_000,
      factor: 2,
      jitter: true,
      respectRetryAfter: true,
      maxRetryAfterMs: 32_000,
      attemptTimeoutMs: undefined,
    });

    const clock = new ManualClock();
    const { fn, calls } = scripted(clock, [pe("server"), pe("server")]);
    const result = withRetry(fn, { ...retryPresets.quick, clock, jitter: false }).catch((e: unknown) => e);
    await drain(clock);
    expect(await result).toBeInstanceOf(RetryExhaustedError);
    expect(calls.map((c) => c.at)).toEqual([0, 100]);
    // a preset's name works too (here the failure is not retried, so nothing waits on the real clock)
    const auth = pe("auth");
    await expect(withRetry(() => Promise.reject(auth), "quick")).rejects.toBe(auth);
  });

  it.each<ProviderErrorKind>([
    "auth",
    "quota_exhausted",
    "invalid_request",
    "context_length_exceeded",
    "permission",
    "content_filter",
    "aborted",
  ])("never retries %s: it fails at once with the original error", async (kind) => {
    const clock = new ManualClock();
    const error = pe(kind);
    const { fn, calls } = scripted(clock, [error]);
    await expect(withRetry(fn, { clock, maxAttempts: 5 })).rejects.toBe(error);
    expect(calls).toHaveLength(1);
  });

  it("does not retry other errors unless retryIf says so", async () => {
    const clock = new ManualClock();
    const bug = new TypeError("bug");
    const plain = scripted(clock, [bug]);
    await expect(withRetry(plain.fn, { clock })).rejects.toBe(bug);
    expect(plain.calls).toHaveLength(1);

    const seen: [unknown, number][] = [];
    const custom = scripted(clock, [bug]);
    const result = withRetry(custom.fn, {
      clock,
      retryIf: (e, n) => {
        seen.push([e, n]);
        return true;
      },
    });
    await drain(clock);
    expect(await result).toBe("ok");
    expect(seen).toEqual([[bug, 1]]);

    // retryIf overrides retryOn, both ways
    const server = pe("server");
    const refused = scripted(clock, [server]);
    await expect(withRetry(refused.fn, { clock, retryIf: () => false })).rejects.toBe(server);
    // ...but an aborted failure is never retried
    const aborted = pe("aborted");
    await expect(withRetry(scripted(clock, [aborted]).fn, { clock, retryIf: () => true })).rejects.toBe(
      aborted,
    );
  });

  it("retries the kinds of retryOn only", async () => {
    const clock = new ManualClock();
    const limited = pe("rate_limit");
    await expect(withRetry(scripted(clock, [limited]).fn, { clock, retryOn: ["server"] })).rejects.toBe(
      limited,
    );
    const auth = scripted(clock, [pe("auth")]);
    const result = withRetry(auth.fn, { clock, retryOn: ["auth"] });
    await drain(clock);
    expect(await result).toBe("ok");
    expect(auth.calls).toHaveLength(2);
  });

  it("gives every attempt its own time limit; a timed-out attempt is a retryable timeout", async () => {
    const clock = new ManualClock();
    const { fn, calls } = hanging(clock);
    const result = withRetry(fn, { clock, attemptTimeoutMs: 500, maxAttempts: 2, jitter: false }).catch(
      (e: unknown) => e,
    );
    await clock.advance(499);
    expect(calls[0]?.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(calls[0]?.signal.aborted).toBe(true);
    expect(calls[0]?.signal.reason).toMatchObject({ kind: "timeout" });
    calls[0]?.resolve("too late"); // ignored: the attempt was abandoned
    await clock.advance(1_000);
    expect(calls.map((c) => c.at)).toEqual([0, 1_500]);
    await clock.advance(500);
    const error = (await result) as RetryExhaustedError;
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(error.attempts).toHaveLength(2);
    for (const e of error.attempts) {
      expect(e).toBeInstanceOf(ProviderError);
      expect(e).toMatchObject({
        kind: "timeout",
        retryable: true,
        message: expect.stringContaining("500 ms"),
      });
    }
    expect(clock.pending).toBe(0);
  });

  it("clears the attempt timer when the attempt settles in time", async () => {
    const clock = new ManualClock();
    const { fn, calls } = hanging(clock);
    const result = withRetry(fn, { clock, attemptTimeoutMs: 500 });
    await clock.advance(100);
    expect(clock.pending).toBe(1);
    calls[0]?.resolve("in time");
    expect(await result).toBe("in time");
    expect(clock.pending).toBe(0);
    expect(calls[0]?.signal.aborted).toBe(false);
  });

  it("fails a timed-out attempt at once when timeouts are not retried", async () => {
    const clock = new ManualClock();
    const { fn } = hanging(clock);
    const result = withRetry(fn, { clock, attemptTimeoutMs: 100, retryOn: ["server"] }).catch(
      (e: unknown) => e,
    );
    await clock.advance(100);
    expect(await result).toMatchObject({ kind: "timeout" });
  });

  it("aborts a pending wait at once, with no further attempt", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const { fn, calls } = scripted(clock, [pe("server"), pe("server")]);
    const result = withRetry(fn, { clock, signal: controller.signal }).catch((e: unknown) => e);
    await clock.advance(10);
    expect(clock.pending).toBe(1);
    controller.abort(new Error("user cancelled"));
    const error = await result;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "aborted", retryable: false, provider: "unknown" });
    expect((error as Error).cause).toEqual(new Error("user cancelled"));
    expect(clock.pending).toBe(0);
    await drain(clock);
    expect(calls).toHaveLength(1);
  });

  it("aborts a running attempt at once: its signal aborts and nothing is retried", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const { fn, calls } = hanging(clock);
    const result = withRetry(fn, {
      clock,
      signal: controller.signal,
      attemptTimeoutMs: 10_000,
      provider: "anthropic",
    }).catch((e: unknown) => e);
    await clock.advance(1);
    controller.abort();
    expect(calls[0]?.signal.aborted).toBe(true);
    expect(await result).toMatchObject({ kind: "aborted", provider: "anthropic" });
    expect(clock.pending).toBe(0);
    await drain(clock);
    expect(calls).toHaveLength(1);
  });

  it("does not start when the signal is already aborted", async () => {
    const clock = new ManualClock();
    const { fn, calls } = scripted(clock, []);
    await expect(withRetry(fn, { clock, signal: AbortSignal.abort() })).rejects.toMatchObject({
      kind: "aborted",
    });
    expect(calls).toHaveLength(0);
  });

  it("ends as aborted when the signal aborts while an attempt fails", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const fn = async () => {
      await Promise.resolve();
      controller.abort();
      throw pe("server");
    };
    await expect(withRetry(fn, { clock, signal: controller.signal })).rejects.toMatchObject({
      kind: "aborted",
    });
  });

  it("treats a synchronous throw as a failed attempt", async () => {
    const bug = new RangeError("sync");
    const fn = (): Promise<string> => {
      throw bug;
    };
    await expect(withRetry(fn, { clock: new ManualClock() })).rejects.toBe(bug);
  });

  it("reports retries to onRetry and every failed attempt to telemetry", async () => {
    const clock = new ManualClock();
    const telemetry = new Telemetry(clock);
    const events: unknown[] = [];
    telemetry.attach("t", [["normandy", "retry", "attempt_failed"]], (_n, m, meta) =>
      events.push({ ...m, kind: meta.kind, retrying: meta.retrying }),
    );
    const retries: RetryInfo[] = [];
    const errors = [pe("server"), new Error("odd")];
    const { fn } = scripted(clock, errors);
    const result = withRetry(fn, {
      clock,
      telemetry,
      jitter: false,
      maxAttempts: 2,
      retryIf: () => true,
      onRetry: (i) => retries.push(i),
    }).catch((e: unknown) => e);
    await drain(clock);
    expect(await result).toBeInstanceOf(RetryExhaustedError);
    expect(retries).toEqual([{ attempt: 1, delayMs: 1_000, error: errors[0], kind: "server" }]);
    expect(events).toEqual([
      { attempt: 1, delayMs: 1_000, kind: "server", retrying: true },
      { attempt: 2, delayMs: 0, kind: "unknown", retrying: false },
    ]);
  });

  it("ends the call with the error of a throwing onRetry", async () => {
    const clock = new ManualClock();
    const oops = new Error("onRetry broke");
    const { fn } = scripted(clock, [pe("server")]);
    await expect(
      withRetry(fn, {
        clock,
        onRetry: () => {
          throw oops;
        },
      }),
    ).rejects.toBe(oops);
  });

  it("names a non-Error failure in the exhausted error's message", async () => {
    const error = await withRetry(() => Promise.reject("boom"), {
      maxAttempts: 1,
      retryIf: () => true,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      message: "gave up after 1 attempt: boom",
      attempts: ["boom"],
      last: "boom",
    });
  });

  it("links attempt controllers to the caller's signal, including one already aborted", () => {
    expect(linkedController(undefined).controller.signal.aborted).toBe(false);
    linkedController(undefined).dispose();
    const done = linkedController(AbortSignal.abort("why"));
    expect(done.controller.signal.reason).toBe("why");
    const parent = new AbortController();
    const followed = linkedController(parent.signal);
    const released = linkedController(parent.signal);
    released.dispose();
    parent.abort("later");
    expect(followed.controller.signal.reason).toBe("later");
    expect(released.controller.signal.aborted).toBe(false);
  });

  it("rejects options out of their domain", () => {
    for (const bad of [
      { maxAttempts: 0 },
      { maxAttempts: 1.5 },
      { baseDelayMs: -1 },
      { maxDelayMs: Number.NaN },
      { maxRetryAfterMs: -5 },
      { factor: 0.5 },
      { attemptTimeoutMs: 0 },
    ]) {
      expect(() => new RetryPolicy(bad), JSON.stringify(bad)).toThrow(InvalidArgumentError);
    }
  });
});
