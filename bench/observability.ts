// The observability ratios of the agents group: agent step throughput (one tool step, loopback server
// without latency) with tracing and logging attached ÷ without, and with a bus that has nothing attached
// ÷ no bus at all.
import { fork } from "node:child_process";
import { calculator, defineAgent, OpenAIProvider } from "@normandy/agents";
import { Telemetry } from "@normandy/runtime";
import { median } from "./harness.js";
import { serveInProcess, TS_CHILD } from "./loopback.js";

/** A process running one side of the tracing ratio (see `observabilityProcess.ts`). */
async function side(url: string, mode: "plain" | "traced") {
  const child = fork(new URL("./observabilityProcess.ts", import.meta.url), [url, mode], {
    execArgv: TS_CHILD,
  });
  let pending: { resolve(rate: number): void; reject(error: Error): void } | undefined;
  child.on("message", (m) => pending?.resolve(Number(m)));
  child.once("exit", (code) => pending?.reject(new Error(`the ${mode} process exited (${code})`)));
  const next = () => new Promise<number>((resolve, reject) => (pending = { resolve, reject }));
  await next(); // ready
  return {
    perSecond: (runs: number) => {
      const rate = next();
      child.send({ runs });
      return rate;
    },
    stop: () => child.disconnect(),
  };
}

/**
 * The tracing ratio is measured between two processes, one with tracing and logging attached and one
 * without, in paired rounds (each side first in turn), against a server in a third: tracing turns the
 * correlation context on, which in Node 20 makes every promise of the process pay for async hooks — of
 * its own process only, so neither the other side nor the model server (remote in real life) must pay.
 * The detached ratio alternates an agent without a bus and one with an empty bus run by run, in this
 * process.
 */
export async function observabilityRatios(): Promise<{ tracing: number; detached: number }> {
  const server = await serveInProcess(1);
  try {
    const [plain, traced] = await Promise.all([
      side(server.openaiBaseURL, "plain"),
      side(server.openaiBaseURL, "traced"),
    ]);
    await plain.perSecond(400);
    await traced.perSecond(400);
    const tracingRatios: number[] = [];
    for (let round = 0; round < 16; round++) {
      server.forget();
      const first = round % 2 === 0 ? plain : traced;
      const second = first === plain ? traced : plain;
      const a = await first.perSecond(200);
      const b = await second.perSecond(200);
      tracingRatios.push(first === traced ? a / b : b / a);
    }
    plain.stop();
    traced.stop();

    const provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
    const make = (telemetry?: Telemetry) =>
      defineAgent({
        name: "obs",
        provider,
        model: "gpt-4o",
        tools: [calculator],
        ...(telemetry && { telemetry }),
      });
    // the two agents run alternately, one run each, timed run by run: drift and noise hit both alike
    const bare = make();
    const detached = make(new Telemetry());
    const timeOf = async (agent: ReturnType<typeof make>) => {
      agent.resetMemory();
      const t = performance.now();
      await agent.run("add");
      return performance.now() - t;
    };
    for (let i = 0; i < 300; i++) {
      await timeOf(bare);
      await timeOf(detached);
    }
    const idleRatios: number[] = [];
    for (let round = 0; round < 12; round++) {
      server.forget();
      let bareMs = 0;
      let detachedMs = 0;
      for (let i = 0; i < 200; i++) {
        bareMs += await timeOf(bare);
        detachedMs += await timeOf(detached);
      }
      idleRatios.push(bareMs / detachedMs); // throughput with the bus ÷ without
    }
    return { tracing: median(tracingRatios), detached: median(idleRatios) };
  } finally {
    await server.stop();
  }
}
