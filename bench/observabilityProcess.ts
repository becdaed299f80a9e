// One side of the tracing ratio, in a process of its own (see `observability.ts`): an agent whose bus
// has nothing attached ("plain"), or tracing to an in-memory exporter and logging to a null destination
// ("traced"; with `asyncContext` the correlation context, and so Node's async hooks, would be on for
// this process only).
// argv: the server's OpenAI base URL, the mode. Each message { runs } is answered with runs per second.
import { calculator, defineAgent, OpenAIProvider } from "@normandy/agents";
import { attachLogger, attachTracing } from "@normandy/observability";
import { Telemetry } from "@normandy/runtime";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

const [url = "", mode] = process.argv.slice(2);
const bus = new Telemetry();
const agent = defineAgent({
  name: "obs",
  provider: new OpenAIProvider({ apiKey: "bench", baseURL: url }),
  model: "gpt-4o",
  tools: [calculator],
  telemetry: bus,
});
if (mode === "traced") {
  const exporter = new InMemorySpanExporter();
  attachTracing(bus, {
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  });
  attachLogger(bus, { destination: { write: () => true } });
  // the exporter keeps every span: empty it between rounds so the heap stays flat
  process.on("message", () => exporter.reset());
}

async function perSecond(runs: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < runs; i++) {
    agent.resetMemory();
    await agent.run("add");
  }
  return runs / ((performance.now() - t) / 1000);
}

process.on("message", (message: { runs: number }) => {
  void perSecond(message.runs).then((rate) => process.send?.(rate));
});
process.on("disconnect", () => process.exit(0));
process.send?.("ready");
