// Property-based tests: restart intensity against OTP's list algorithm, and supervisor strategies
// against a small reference model of what OTP's supervisor.erl does for a sequence of crashes.
import {
  ActorSystem,
  addRestart,
  defineSupervisor,
  ManualClock,
  type RestartHistory,
  type Strategy,
} from "@normandy/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { child, flush, watch } from "./probe.js";

/** supervisor:add_restart/1 as written in OTP (a list of integer seconds, newest first). */
function otpAddRestart(restarts: number[], nowMs: number, intensity: number, period: number) {
  const now = Math.floor(nowMs / 1000);
  const threshold = now - period;
  const kept: number[] = [];
  for (const r of restarts) {
    if (r >= threshold) kept.push(r);
    else break;
  }
  const next = [now, ...kept];
  return { restarts: next, ok: next.length <= intensity };
}

describe("restart intensity (property)", () => {
  it("matches OTP's list algorithm for any restart times, intensity and period", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 2500 }), { minLength: 1, maxLength: 40 }),
        (intensity, period, gaps) => {
          let model: number[] = [];
          let history: RestartHistory = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            const expected = otpAddRestart(model, now, intensity, period);
            const actual = addRestart(history, now, intensity, period);
            expect(actual.allowed).toBe(expected.ok);
            expect(actual.count).toBe(expected.restarts.length);
            if (!expected.ok) return; // the supervisor is gone
            model = expected.restarts;
            history = actual.history;
            expect(history.length).toBeLessThanOrEqual(period + 2);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

type Crash = { readonly child: number; readonly gapMs: number };

/** What OTP logs for a sequence of crashes of permanent children (until the intensity is exceeded). */
function model(
  strategy: Exclude<Strategy, "simple_one_for_one">,
  n: number,
  intensity: number,
  period: number,
  crashes: Crash[],
) {
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  const log: string[] = [];
  let restarts: number[] = [];
  let now = 0;
  for (const { child: i, gapMs } of crashes) {
    now += gapMs;
    const id = ids[i] as string;
    log.push(`term ${id} crash`);
    const check = otpAddRestart(restarts, now, intensity, period);
    if (!check.ok) {
      for (const other of [...ids].reverse()) if (other !== id) log.push(`term ${other} shutdown`);
      log.push("down sup shutdown");
      return log;
    }
    restarts = check.restarts;
    const group = strategy === "one_for_one" ? [id] : strategy === "one_for_all" ? ids : ids.slice(i);
    for (const other of [...group].reverse()) if (other !== id) log.push(`term ${other} shutdown`);
    for (const other of group) log.push(`start ${other}`);
  }
  return log;
}

describe("strategies against the reference model (property)", () => {
  it("produce OTP's termination and start order for any crash sequence", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("one_for_one", "one_for_all", "rest_for_one") as fc.Arbitrary<
          Exclude<Strategy, "simple_one_for_one">
        >,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.record({ child: fc.nat(), gapMs: fc.integer({ min: 0, max: 1500 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        async (strategy, n, intensity, period, raw) => {
          const crashes = raw.map((c) => ({ child: c.child % n, gapMs: c.gapMs }));
          const clock = new ManualClock();
          const system = ActorSystem.start({ clock });
          const log: string[] = [];
          try {
            const children = Array.from({ length: n }, (_, i) => child(log, clock, `c${i}`));
            await system.spawn(defineSupervisor({ strategy, intensity, period, children }), { name: "sup" });
            void watch(system, log, "sup");
            log.length = 0;
            for (const { child: i, gapMs } of crashes) {
              await clock.advance(gapMs);
              if (!system.isAlive("sup")) break;
              system.cast(`c${i}`, { type: "crash" });
              await flush();
            }
            expect(log).toEqual(model(strategy, n, intensity, period, crashes));
          } finally {
            await system.shutdown({ timeout: 0 });
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
