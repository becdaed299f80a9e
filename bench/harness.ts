// The benchmark harness: groups of named measurements, medians over rounds, a printed table, and
// bench/results/latest.json (merged, so running one group keeps the others' figures).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One metric with its target, e.g. `{ name: "runtime.call.per_s", value: 1.2e5, target: ">= 100000" }`. */
export interface Metric {
  readonly name: string;
  readonly value: number;
  /** The target, as `>= N` or `<= N`; absent for context figures. */
  readonly target?: string;
  readonly unit?: string;
}

/** A benchmark group: a function producing metrics. */
export type Group = () => Promise<Metric[]>;

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A percentile (0..100) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Runs a full garbage collection (the bench runs with --expose-gc). */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error("run the bench with node --expose-gc (pnpm bench does)");
  g();
  g();
}

/** Whether a value meets a target written as `>= N` or `<= N`. */
export function meets(value: number, target: string | undefined): boolean | undefined {
  if (target === undefined) return undefined;
  const m = /^(>=|<=)\s*([\d.e+]+)$/.exec(target.trim());
  if (m === null) throw new Error(`bad target ${target}`);
  const bound = Number(m[2]);
  return m[1] === ">=" ? value >= bound : value <= bound;
}

function format(value: number): string {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(Math.abs(value) >= 10 ? 1 : 3);
}

/** Prints a table of metrics and merges them into bench/results/latest.json. */
export function report(metrics: readonly Metric[]): string {
  const rows = metrics.map((m) => {
    const ok = meets(m.value, m.target);
    return [
      m.name,
      format(m.value) + (m.unit ? ` ${m.unit}` : ""),
      m.target ?? "",
      ok === undefined ? "" : ok ? "ok" : "MISSED",
    ];
  });
  const header = ["metric", "value", "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  const table = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
  const file = join(dirname(fileURLToPath(import.meta.url)), "results", "latest.json");
  mkdirSync(dirname(file), { recursive: true });
  const previous = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as { metrics?: Record<string, number> })
    : {};
  const merged = {
    ...(previous.metrics ?? {}),
    ...Object.fromEntries(metrics.map((m) => [m.name, m.value])),
  };
  writeFileSync(
    file,
    `${JSON.stringify({ node: process.version, at: new Date().toISOString(), metrics: merged }, null, 2)}\n`,
  );
  return table;
}

/**
 * The median ratio `measured ÷ baseline` over 24 rounds, after 3 warm-up rounds. Each side goes first in
 * turn and is timed from a collected heap, not paying for the other's garbage. Why so many: a round of
 * either side varies by ±15 % on a shared machine, and the first rounds of a process run slower on the
 * side with more code to optimize and more heap to grow into (the fan-out's first two measured rounds
 * after a single warm-up were 1.34 and 1.37 where the rest centred on 1.13).
 *
 * @param baseline - one round of the baseline (e.g. the raw SDK).
 * @param measured - the same work through Normandy.
 * @param beforeEach - run before each side (outside its time), e.g. to forget a server's records.
 * @returns the median ratio.
 */
export async function alternatingRatio(
  baseline: () => Promise<unknown>,
  measured: () => Promise<unknown>,
  beforeEach: () => void = () => {},
): Promise<number> {
  const timed = async (work: () => Promise<unknown>) => {
    // the other side's trailing work (sockets going back to the pool, the server's last writes) is not
    // this side's: it runs before the clock starts
    await new Promise((resolve) => setTimeout(resolve, 10));
    beforeEach();
    gc();
    const t = performance.now();
    await work();
    return performance.now() - t;
  };
  const ratios: number[] = [];
  const warmup = 3;
  for (let round = 0; round < warmup + 24; round++) {
    let baselineMs: number;
    let measuredMs: number;
    if (round % 2 === 0) {
      baselineMs = await timed(baseline);
      measuredMs = await timed(measured);
    } else {
      measuredMs = await timed(measured);
      baselineMs = await timed(baseline);
    }
    if (round >= warmup) ratios.push(measuredMs / baselineMs);
  }
  return median(ratios);
}
