import { defineAgent, generateSystemPrompt, OpenAIProvider } from "@normandy/agents";
import { runParallel } from "@normandy/coordination";
import { LoopbackLLMServer } from "@normandy/testing";
import OpenAI from "openai";
const system = await generateSystemPrompt({}, []);
const N = 1000;
const server = await new LoopbackLLMServer({ latency: { firstByteMs: 20 } }).start();
const turns = () => Array.from({ length: N }, () => ({ text: "done" }));
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
const provider = new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL });
const specs = Array.from({ length: N }, (_, i) => ({ id: `a${i}`, agent: defineAgent({ name: `a${i}`, provider, model: "gpt-4o" }), input: "go" }));
const run: Record<string, () => Promise<unknown>> = {
  raw: () => Promise.all(Array.from({ length: N }, () => sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "system", content: system }, { role: "user", content: "go" }], temperature: 0.9 }))),
  orch: () => { for (const s of specs) s.agent.resetMemory(); return runParallel(specs, { maxConcurrency: N }); },
  plain: () => { for (const s of specs) s.agent.resetMemory(); return Promise.all(specs.map((s) => s.agent.run("go"))); },
};
const res: Record<string, number[]> = { raw: [], orch: [], plain: [] };
const orders = [["raw", "orch", "plain"], ["orch", "plain", "raw"], ["plain", "raw", "orch"]];
for (let r = 0; r < 9; r++) for (const mode of orders[r % 3]!) { server.reset(turns()); const t = performance.now(); await run[mode]!(); res[mode]!.push(performance.now() - t); }
const med = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]!; };
console.log(Object.fromEntries(Object.entries(res).map(([k, v]) => [k, med(v.slice(3)).toFixed(0)])), "ratio orch/raw", (med(res.orch!.slice(3)) / med(res.raw!.slice(3))).toFixed(3));
await server.stop();
