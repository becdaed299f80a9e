import { calculator, defineAgent, OpenAIProvider } from "@normandy/agents";
import { LoopbackLLMServer, type RecordedRequest } from "@normandy/testing";
const toolLoop = (req: RecordedRequest) => { const m = (req.body as any).messages; const n = m.filter((x: any) => x.role === "tool").length; return n < 1 ? { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: n, b: 1 } }] } : { text: "done" }; };
const server = await new LoopbackLLMServer().start();
const turns = () => Array.from({ length: 1100 }, () => toolLoop);
server.reset(turns());
const agent = defineAgent({ name: "leak", provider: new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL }), model: "gpt-4o", tools: [calculator] });
const run = async () => { agent.resetMemory(); await agent.run("add"); };
for (let i = 0; i < 50; i++) await run();
const gc = () => { (globalThis as any).gc(); (globalThis as any).gc(); };
for (let k = 0; k < 5; k++) {
  server.reset(turns()); gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1000; i++) { await run(); if (i % 100 === 99) server.reset(turns()); }
  server.reset(turns()); gc();
  console.log("retained", process.memoryUsage().heapUsed - before);
}
await server.stop();
