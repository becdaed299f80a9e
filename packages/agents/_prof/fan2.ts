import { defineAgent, generateSystemPrompt, OpenAIProvider } from "@normandy/agents";
import { runParallel } from "@normandy/coordination";
import { LoopbackLLMServer } from "@normandy/testing";
import OpenAI from "openai";
const system = await generateSystemPrompt({}, []);
const N = 1000;
const server = await new LoopbackLLMServer({ latency: { firstByteMs: 20 } }).start();
const turns = () => Array.from({ length: N }, () => ({ text: "done" }));
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
const inner = new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL });
let stamps: number[] = [];
const provider = { name: inner.name, complete: (r: any, o: any) => { stamps.push(performance.now()); return inner.complete(r, o); }, stream: (r: any, o: any) => inner.stream(r, o) } as any;
const specs = Array.from({ length: N }, (_, i) => ({ id: `a${i}`, agent: defineAgent({ name: `a${i}`, provider, model: "gpt-4o" }), input: "go" }));
function report(label: string, _t: number, ms: number) {
  const base = Math.min(...server.requests.map((r) => r.receivedAt));
  const rec = server.requests.map((r) => r.receivedAt - base).sort((a, b) => a - b);
  const fin = server.requests.map((r) => (r.finishedAt ?? 0) - base).sort((a, b) => a - b);
  console.log(label, "total", ms.toFixed(0), "recv first/median/last", rec[0]?.toFixed(0), rec[N >> 1]?.toFixed(0), rec[N - 1]?.toFixed(0), "fin median/last", fin[N >> 1]?.toFixed(0), fin[N - 1]?.toFixed(0));
}
for (let r = 0; r < 4; r++) {
  server.reset(turns()); let t0 = performance.now(); let t = Date.now();
  await Promise.all(Array.from({ length: N }, () => sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "system", content: system }, { role: "user", content: "go" }], temperature: 0.9 })));
  report("raw ", t, performance.now() - t0);
  server.reset(turns()); t0 = performance.now(); t = Date.now();
  await Promise.all(Array.from({ length: N }, () => sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "system", content: system }, { role: "user", content: "go" }], temperature: 0.9 }, { signal: new AbortController().signal, maxRetries: 0 })));
  report("rsig", t, performance.now() - t0);
  server.reset(turns()); for (const s of specs) s.agent.resetMemory(); t0 = performance.now(); t = Date.now();
  await Promise.all(specs.map((s) => s.agent.run("go")));
  report("plai", t, performance.now() - t0); stamps = [];
  server.reset(turns()); for (const s of specs) s.agent.resetMemory(); t0 = performance.now(); t = Date.now();
  await runParallel(specs, { maxConcurrency: N });
  report("orch", t, performance.now() - t0);
  stamps.sort((a, b) => a - b); console.log("   complete() calls from t0: first/median/last", (stamps[0]! - t0).toFixed(0), (stamps[N >> 1]! - t0).toFixed(0), (stamps[N - 1]! - t0).toFixed(0)); stamps = [];
}
await server.stop();
