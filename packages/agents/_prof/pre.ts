import { defineAgent, type Provider } from "@normandy/agents";
import { runParallel } from "@normandy/coordination";
const N = 1000;
let stamps: number[] = [];
let release: () => void = () => {};
let gate = new Promise<void>((r) => (release = r));
const provider: Provider = { name: "fake", async complete() { stamps.push(performance.now()); await gate; return { id: "x", model: "m", content: [{ type: "text", text: "done" }], stopReason: "end_turn", rawStopReason: undefined, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 } } as never; }, stream() { throw new Error("x"); } } as never;
const agents = Array.from({ length: N }, (_, i) => defineAgent({ name: `a${i}`, provider, model: "gpt-4o" }));
for (let r = 0; r < 6; r++) {
  for (const mode of ["plain", "orch"]) {
    for (const a of agents) a.resetMemory();
    stamps = []; gate = new Promise<void>((res) => (release = res));
    const t0 = performance.now();
    const p = mode === "plain" ? Promise.all(agents.map((a) => a.run("go"))) : runParallel(agents.map((a, i) => ({ id: `a${i}`, agent: a, input: "go" })), { maxConcurrency: N });
    while (stamps.length < N) await new Promise((r) => setImmediate(r));
    const pre = performance.now() - t0;
    const t1 = performance.now(); release(); await p; const post = performance.now() - t1;
    console.log(r, mode, "pre µs/agent", (pre * 1000 / N).toFixed(0), "post µs/agent", (post * 1000 / N).toFixed(0));
  }
}
