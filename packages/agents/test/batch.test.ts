// Batch processing: order, concurrency limit, a slow item timing out alone, callbacks, stats, chunks, cancellation.
import {
  BatchItemTimeoutError,
  processBatch,
  processBatchChunked,
  processBatchWithStats,
} from "@normandy/agents";
import { ManualClock } from "@normandy/runtime";
import { describe, expect, it } from "vitest";

const sleep = (clock: ManualClock, ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));

describe("processBatch", () => {
  it("keeps input order, respects the limit, and times out a slow item alone", async () => {
    const clock = new ManualClock();
    let running = 0;
    let peak = 0;
    const progress: number[] = [];
    const failed: number[] = [];
    let slowSignal: AbortSignal | undefined;
    const pending = processBatch(
      [30, 10, 1000, 20, 5],
      async (ms, { signal, index }) => {
        running++;
        peak = Math.max(peak, running);
        if (index === 2) slowSignal = signal;
        await sleep(clock, ms);
        running--;
        if (ms === 20) throw new Error("twenty");
        return ms * 2;
      },
      {
        maxConcurrency: 2,
        timeoutMs: 100,
        clock,
        onProgress: (done) => progress.push(done),
        onError: (_input, _e, i) => failed.push(i),
      },
    );
    await clock.advance(1000);
    const result = await pending;
    expect(result.items).toEqual([
      { ok: true, value: 60 },
      { ok: true, value: 20 },
      { ok: false, error: expect.any(BatchItemTimeoutError) },
      { ok: false, error: new Error("twenty") },
      { ok: true, value: 10 },
    ]);
    expect(result).toMatchObject({ total: 5, successCount: 3, errorCount: 2 });
    expect(peak).toBe(2);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(failed.sort()).toEqual([2, 3]);
    expect(slowSignal?.aborted).toBe(true);
    expect((result.items[2] as { error: BatchItemTimeoutError }).error).toMatchObject({
      index: 2,
      timeoutMs: 100,
    });
  });

  it("turns a synchronous throw into a failed item, and validates the limit", async () => {
    const result = await processBatch([1], () => {
      throw new Error("sync");
    });
    expect(result.items).toEqual([{ ok: false, error: new Error("sync") }]);
    await expect(processBatch([1], async () => 1, { maxConcurrency: 0 })).rejects.toThrow(RangeError);
    expect(await processBatch([], async () => 1)).toEqual({
      items: [],
      total: 0,
      successCount: 0,
      errorCount: 0,
    });
  });

  it("cancels: running items are aborted and later ones fail with the reason", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    const pending = processBatch(
      [1, 2, 3],
      async (_x, { signal }) => {
        seen.push(signal);
        await sleep(clock, 50);
        return 1;
      },
      { maxConcurrency: 1, clock, signal: controller.signal },
    );
    await clock.advance(0);
    controller.abort(new Error("stop"));
    const result = await pending;
    expect(result.items.map((i) => i.ok)).toEqual([false, false, false]);
    expect(seen[0]?.aborted).toBe(true);
    expect(seen).toHaveLength(1);
  });
});

describe("stats and chunks", () => {
  it("reports Normandy's stats", async () => {
    const stats = await processBatchWithStats([1, 2, 3], async (x) => {
      if (x === 2) throw new Error("two");
      return x * 10;
    });
    expect(stats).toEqual({
      success: [10, 30],
      errors: [{ input: 2, error: new Error("two") }],
      total: 3,
      successCount: 2,
      errorCount: 1,
    });
  });

  it("processes chunk after chunk with a delay, indices and progress over the whole batch", async () => {
    const clock = new ManualClock();
    const indices: number[] = [];
    const progress: number[] = [];
    const errors: number[] = [];
    const pending = processBatchChunked(
      [1, 2, 3, 4, 5],
      async (x, { index }) => {
        indices.push(index);
        if (x === 4) throw new Error("four");
        return x;
      },
      {
        chunkSize: 2,
        chunkDelayMs: 10,
        clock,
        onProgress: (d) => progress.push(d),
        onError: (_i, _e, i) => errors.push(i),
      },
    );
    await clock.advance(10);
    await clock.advance(10);
    const result = await pending;
    expect(result.items.map((i) => (i.ok ? i.value : "x"))).toEqual([1, 2, 3, "x", 5]);
    expect(indices).toEqual([0, 1, 2, 3, 4]);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(errors).toEqual([3]);
    await expect(processBatchChunked([1], async (x) => x, { chunkSize: 0 })).rejects.toThrow(RangeError);
    expect((await processBatchChunked([1, 2, 3], async (x) => x)).successCount).toBe(3);
  });
});
