/**
 * Batch processing after Normandy's `Batch.Processor`: inputs run through an async function with a
 * concurrency limit (10), results in input order, a per-item timeout (300 s) that fails only its item
 * (the original let one slow item crash the batch), progress and error callbacks, stats, and a
 * chunked variant.
 */
import { type Clock, onAbort, systemClock } from "@normandy/runtime";

/** One item's outcome. */
export type BatchItem<R> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown };

/** A batch's outcome: one entry per input, in input order, and the counts. */
export interface BatchResult<R> {
  readonly items: readonly BatchItem<R>[];
  readonly total: number;
  readonly successCount: number;
  readonly errorCount: number;
}

/** Options of {@link processBatch}. */
export interface BatchOptions<I> {
  /** Default 10. */
  readonly maxConcurrency?: number;
  /** Per-item timeout in ms (default 300,000): the item fails with {@link BatchItemTimeoutError}, its signal aborts. */
  readonly timeoutMs?: number;
  /** After each item, with the numbers done and total. */
  readonly onProgress?: (completed: number, total: number) => void;
  /** After each failed item. */
  readonly onError?: (input: I, error: unknown, index: number) => void;
  /** Cancels the batch: running items are aborted, pending ones fail with the abort reason. */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

/** An item that did not finish within the batch's per-item timeout. */
export class BatchItemTimeoutError extends Error {
  readonly index: number;
  readonly timeoutMs: number;

  /**
   * @param index - the item's position.
   * @param timeoutMs - the timeout.
   */
  constructor(index: number, timeoutMs: number) {
    super(`batch item ${index} timed out after ${timeoutMs} ms`);
    this.name = "BatchItemTimeoutError";
    this.index = index;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Runs `fn` over `inputs` with bounded concurrency.
 *
 * @param inputs - the inputs.
 * @param fn - the work for one input; it gets an AbortSignal for its timeout and the batch's signal.
 * @param options - concurrency, timeout, callbacks, signal, clock.
 * @returns every item's outcome, in input order, with counts (it never rejects for an item's failure).
 * @example
 * ```ts
 * const { items, errorCount } = await processBatch(questions, (q, { signal }) => agent.run(q, { signal }), { maxConcurrency: 4 });
 * ```
 */
export async function processBatch<I, R>(
  inputs: readonly I[],
  fn: (input: I, ctx: { readonly signal: AbortSignal; readonly index: number }) => Promise<R>,
  options: BatchOptions<I> = {},
): Promise<BatchResult<R>> {
  const limit = options.maxConcurrency ?? 10;
  if (!(limit >= 1)) throw new RangeError(`maxConcurrency must be >= 1, got ${limit}`);
  const timeoutMs = options.timeoutMs ?? 300_000;
  const clock = options.clock ?? systemClock;
  const items: BatchItem<R>[] = new Array(inputs.length);
  let next = 0;
  let completed = 0;
  const runOne = (index: number): Promise<BatchItem<R>> =>
    new Promise((resolve) => {
      const controller = new AbortController();
      const batchSignal = options.signal;
      let settled = false;
      let detach = () => {};
      const finish = (item: BatchItem<R>) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        detach();
        resolve(item);
      };
      const timer = clock.setTimeout(() => {
        const error = new BatchItemTimeoutError(index, timeoutMs);
        controller.abort(error);
        finish({ ok: false, error });
      }, timeoutMs);
      if (batchSignal !== undefined) {
        // the items in flight share one listener on the batch's signal
        detach = onAbort(batchSignal, () => {
          controller.abort(batchSignal.reason);
          finish({ ok: false, error: batchSignal.reason });
        });
        if (settled) return; // it was aborted already
      }
      let running: Promise<R>;
      try {
        running = fn(inputs[index] as I, { signal: controller.signal, index });
      } catch (error) {
        finish({ ok: false, error });
        return;
      }
      // an item that outlives its timeout may settle later: that outcome is dropped here
      running.then(
        (value) => finish({ ok: true, value }),
        (error: unknown) => finish({ ok: false, error }),
      );
    });
  const worker = async () => {
    for (let i = next++; i < inputs.length; i = next++) {
      const item = await runOne(i);
      items[i] = item;
      completed++;
      if (!item.ok) options.onError?.(inputs[i] as I, item.error, i);
      options.onProgress?.(completed, inputs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, inputs.length) }, worker));
  const successCount = items.filter((i) => i.ok).length;
  return { items, total: inputs.length, successCount, errorCount: inputs.length - successCount };
}

/** Normandy's stats view of a batch. */
export interface BatchStats<I, R> {
  readonly success: readonly R[];
  readonly errors: readonly { readonly input: I; readonly error: unknown }[];
  readonly total: number;
  readonly successCount: number;
  readonly errorCount: number;
}

/**
 * Like {@link processBatch}, reported as Normandy's stats: the successful values and the failed inputs with their errors.
 *
 * @param inputs - the inputs.
 * @param fn - the work for one input.
 * @param options - as for processBatch.
 * @returns the stats.
 */
export async function processBatchWithStats<I, R>(
  inputs: readonly I[],
  fn: (input: I, ctx: { readonly signal: AbortSignal; readonly index: number }) => Promise<R>,
  options: BatchOptions<I> = {},
): Promise<BatchStats<I, R>> {
  const result = await processBatch(inputs, fn, options);
  const success: R[] = [];
  const errors: { input: I; error: unknown }[] = [];
  result.items.forEach((item, i) => {
    if (item.ok) success.push(item.value);
    else errors.push({ input: inputs[i] as I, error: item.error });
  });
  return {
    success,
    errors,
    total: result.total,
    successCount: result.successCount,
    errorCount: result.errorCount,
  };
}

/**
 * Processes a large batch in chunks, one chunk after another (default 100 items, no delay between).
 *
 * @param inputs - the inputs.
 * @param fn - the work for one input.
 * @param options - as for processBatch, plus the chunk size and the delay between chunks (on the clock).
 * @returns every item's outcome, in input order.
 */
export async function processBatchChunked<I, R>(
  inputs: readonly I[],
  fn: (input: I, ctx: { readonly signal: AbortSignal; readonly index: number }) => Promise<R>,
  options: BatchOptions<I> & { readonly chunkSize?: number; readonly chunkDelayMs?: number } = {},
): Promise<BatchResult<R>> {
  const size = options.chunkSize ?? 100;
  if (!(size >= 1)) throw new RangeError(`chunkSize must be >= 1, got ${size}`);
  const clock = options.clock ?? systemClock;
  const items: BatchItem<R>[] = [];
  for (let start = 0; start < inputs.length; start += size) {
    if (start > 0 && options.chunkDelayMs)
      await new Promise<void>((r) => clock.setTimeout(r, options.chunkDelayMs as number));
    const chunk = await processBatch(
      inputs.slice(start, start + size),
      (input, ctx) => fn(input, { ...ctx, index: start + ctx.index }),
      {
        ...options,
        onProgress: (done) => options.onProgress?.(start + done, inputs.length),
        onError: (input, error, i) => options.onError?.(input, error, start + i),
      },
    );
    items.push(...chunk.items);
  }
  const successCount = items.filter((i) => i.ok).length;
  return { items, total: inputs.length, successCount, errorCount: inputs.length - successCount };
}
