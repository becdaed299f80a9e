import { generateSystemPrompt } from "@normandy/agents";
import { LoopbackLLMServer } from "@normandy/testing";
import OpenAI from "openai";
const system = await generateSystemPrompt({}, []);
const N = 1000;
const server = await new LoopbackLLMServer({ latency: { firstByteMs: 20 } }).start();
const turns = () => Array.from({ length: N }, () => ({ text: "done" }));
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
const call = (sig: boolean) => Promise.all(Array.from({ length: N }, () => sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "system", content: system }, { role: "user", content: "go" }], temperature: 0.9 }, sig ? { signal: new AbortController().signal } : {})));
const res: Record<string, number[]> = { raw: [], sig: [] };
for (let r = 0; r < 8; r++) {
  for (const mode of r % 2 ? ["raw", "sig"] : ["sig", "raw"]) {
    server.reset(turns()); const t = performance.now(); await call(mode === "sig"); res[mode]!.push(performance.now() - t);
  }
}
console.log(Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v.slice(2).map((x) => x.toFixed(0)).join(" ")])));
await server.stop();
