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
const specs = Array.from({ length: N }, (_, i) => ({
  id: `a${i}`,
  agent: defineAgent({ name: `a${i}`, provider, model: "gpt-4o" }),
  input: "go",
}));
const mode = process.argv[2] ?? "all";
for (let r = 0; r < 6; r++) {
  let raw = 0,
    orch = 0,
    plain = 0;
  if (mode === "all" || mode === "raw") {
    server.reset(turns());
    const t = performance.now();
    await Promise.all(
      Array.from({ length: N }, () =>
        sdk.chat.completions.create({
          model: "gpt-4o",
          messages: [
            { role: "system", content: system },
            { role: "user", content: "go" },
          ],
          temperature: 0.9,
        }),
      ),
    );
    raw = performance.now() - t;
  }
  if (mode === "all" || mode === "orch") {
    server.reset(turns());
    for (const s of specs) s.agent.resetMemory();
    const t = performance.now();
    await runParallel(specs, { maxConcurrency: N });
    orch = performance.now() - t;
  }
  if (mode === "all" || mode === "plain") {
    server.reset(turns());
    for (const s of specs) s.agent.resetMemory();
    const t = performance.now();
    await Promise.all(specs.map((s) => s.agent.run("go")));
    plain = performance.now() - t;
  }
  console.log(r, "raw", raw.toFixed(0), "orch", orch.toFixed(0), "plain agents", plain.toFixed(0));
}
await server.stop();
