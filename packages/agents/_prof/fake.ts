import { calculator, defineAgent, type Provider, ZERO_USAGE } from "../src/index.js";

let n = 0;
const provider: Provider = {
  name: "fake",
  async complete(req) {
    await new Promise((r) => setImmediate(r));
    const tools = req.messages.filter((m) => m.role === "tool").length;
    const content =
      tools < 2
        ? [
            {
              type: "tool_call" as const,
              id: `c${n++}`,
              name: "calculator",
              arguments: { operation: "add", a: 1, b: 2 },
              rawArguments: "{}",
            },
          ]
        : [{ type: "text" as const, text: "done" }];
    return {
      id: "x",
      model: "m",
      content,
      stopReason: tools < 2 ? "tool_use" : "end_turn",
      rawStopReason: undefined,
      usage: ZERO_USAGE,
    } as never;
  },
  stream() {
    throw new Error("no");
  },
} as never;
const N = +(process.argv[2] ?? 1000);
const agents = Array.from({ length: N }, (_, i) =>
  defineAgent({ name: `a${i}`, provider, model: "gpt-4o", tools: [calculator] }),
);
for (let round = 0; round < +(process.argv[3] ?? 6); round++) {
  let t = performance.now();
  await Promise.all(
    agents.map(async (a) => {
      a.resetMemory();
      const r = await a.run("add");
      if (r.status !== "done") throw new Error("x");
    }),
  );
  const conc = performance.now() - t;
  t = performance.now();
  for (const a of agents) {
    a.resetMemory();
    await a.run("add");
  }
  const seq = performance.now() - t;
  console.log(
    round,
    "concurrent µs/run",
    ((conc * 1000) / N).toFixed(0),
    "sequential µs/run",
    ((seq * 1000) / N).toFixed(0),
  );
}
