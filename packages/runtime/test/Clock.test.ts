// The manual clock's ordering rules, the real clock, and the mailbox ring buffer.
import { ManualClock, systemClock } from "@normandy/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Deque } from "../src/internal/Deque.js";

describe("ManualClock", () => {
  it("fires timers in time order, then creation order, only when advanced", async () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b@20"), 20);
    clock.setTimeout(() => fired.push("a@10"), 10);
    clock.setTimeout(() => fired.push("c@20"), 20);
    const cancelled = clock.setTimeout(() => fired.push("never"), 5);
    clock.clearTimeout(cancelled);
    clock.clearTimeout("not a handle");
    expect(clock.pending).toBe(3);
    await clock.advance(9);
    expect(fired).toEqual([]);
    await clock.advance(11);
    expect(fired).toEqual(["a@10", "b@20", "c@20"]);
    expect(clock.now()).toBe(1020);
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
  });

  it("fires timers set by promise continuations of earlier timers within the same advance", async () => {
    const clock = new ManualClock();
    const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
    const steps: number[] = [];
    const task = (async () => {
      await sleep(100);
      steps.push(clock.now());
      await sleep(100);
      steps.push(clock.now());
    })();
    await clock.advance(250);
    await task;
    expect(steps).toEqual([100, 200]);
  });

  it("runAll drains every timer and refuses one that reschedules itself forever", async () => {
    const clock = new ManualClock();
    let n = 0;
    clock.setTimeout(() => clock.setTimeout(() => n++, 1_000_000), 5);
    await clock.runAll();
    expect(n).toBe(1);
    const again = () => clock.setTimeout(again, 1);
    again();
    await expect(clock.runAll(50)).rejects.toThrow(/rescheduling/);
  });
});

describe("systemClock", () => {
  it("is monotonic and runs real timers", async () => {
    const t0 = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 0));
    expect(systemClock.now()).toBeGreaterThanOrEqual(t0);
    let ran = false;
    systemClock.clearTimeout(systemClock.setTimeout(() => (ran = true), 0));
    await new Promise((r) => setImmediate(r));
    expect(ran).toBe(false);
  });
});

describe("Deque", () => {
  it("behaves as a FIFO queue through growth and wrap-around (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer(), fc.constant<"shift">("shift")), { maxLength: 300 }),
        (ops) => {
          const deque = new Deque<number>(2);
          const model: number[] = [];
          for (const op of ops) {
            if (op === "shift") expect(deque.shift()).toBe(model.shift());
            else {
              deque.push(op);
              model.push(op);
            }
            expect(deque.length).toBe(model.length);
          }
          expect(deque.drain()).toEqual(model);
          expect(deque.length).toBe(0);
        },
      ),
    );
  });
});
