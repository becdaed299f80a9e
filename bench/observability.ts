// The observability ratios of the agents group: agent step throughput (one tool step, loopback server
// without latency, in a process of its own) with tracing and logging attached ÷ with nothing attached,
// and with a bus that has nothing attached ÷ no bus at all.
import { calculator, defineAgent, OpenAIProvider } from "@normandy/agents";
import { attachLogger, attachTracing } from "@normandy/observability";
import { Telemetry } from "@normandy/runtime";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { gc, median } from "./harness.js";
import { serveInProcess } from "./loopback.js";

/** The six orders of three agents: each takes each place equally often. */
const ORDERS = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
] as const;

/**
 * Three agents — no bus, a bus with nothing attached, a bus with tracing (in-memory exporter) and logging
 * (a null destination) — run in turn, one run each, timed run by run, so drift and noise hit all three
 * alike; each round gives a ratio of summed times, and the result is the median over the rounds.
 * (Tracing and logging turn nothing on process-wide — the async context is opt-in — so the three can
 * share this process; the model server runs in another, as a real one would.)
 */
export async function observabilityRatios(): Promise<{ tracing: number; detached: number }> {
  gc(); // from a collected heap: the benchmarks before this one leave garbage that is not its cost
  const server = await serveInProcess(1);
  try {
    const provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
    const make = (telemetry?: Telemetry) =>
      defineAgent({
        name: "obs",
        provider,
        model: "gpt-4o",
        tools: [calculator],
        ...(telemetry && { telemetry }),
      });
    const traced = new Telemetry();
    const exporter = new InMemorySpanExporter();
    attachTracing(traced, {
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    });
    attachLogger(traced, { destination: { write: () => true } });
    const agents = [make(), make(new Telemetry()), make(traced)];
    const timeOf = async (agent: ReturnType<typeof make>) => {
      agent.resetMemory();
      const t = performance.now();
      await agent.run("add");
      return performance.now() - t;
    };
    const round = async (pairs: number) => {
      const ms = [0, 0, 0];
      for (let i = 0; i < pairs; i++)
        for (const a of ORDERS[i % ORDERS.length] as readonly number[])
          ms[a] = (ms[a] as number) + (await timeOf(agents[a] as ReturnType<typeof make>));
      return ms as [number, number, number];
    };
    await round(300);
    const tracing: number[] = [];
    const detached: number[] = [];
    for (let r = 0; r < 16; r++) {
      server.forget();
      exporter.reset(); // it keeps every span
      const [bare, idle, withTracing] = await round(150);
      tracing.push(idle / withTracing);
      detached.push(bare / idle);
    }
    return { tracing: median(tracing), detached: median(detached) };
  } finally {
    await server.stop();
  }
}
