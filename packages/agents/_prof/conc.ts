import { LoopbackLLMServer, type RecordedRequest, type TurnFunction } from "@normandy/testing";
import OpenAI from "openai";
import { calculator, defineAgent, generateSystemPrompt, OpenAIProvider } from "../src/index.js";

function toolLoop(steps: number): TurnFunction {
  return (req: RecordedRequest) => {
    const messages = (req.body as { messages: { role: string }[] }).messages;
    const results = messages.filter((m) => m.role === "tool").length;
    return results < steps
      ? { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: results, b: 1 } }] }
      : { text: "done" };
  };
}
const tools = [
  {
    type: "function" as const,
    function: { name: "calculator", description: calculator.description, parameters: calculator.inputSchema },
  },
];
const system = await generateSystemPrompt({}, [calculator.definition]);
async function rawLoop(sdk: OpenAI, q: string) {
  const messages: any[] = [
    { role: "system", content: system },
    { role: "user", content: q },
  ];
  for (let i = 0; i < 10; i++) {
    const r = await sdk.chat.completions.create({ model: "gpt-4o", messages, tools, temperature: 0.9 });
    const msg = r.choices[0]?.message;
    if (!msg?.tool_calls?.length) return;
    messages.push(msg);
    for (const call of msg.tool_calls) {
      if (call.type !== "function") continue;
      const a = JSON.parse(call.function.arguments);
      messages.push({ role: "tool", tool_call_id: call.id, content: String(a.a + a.b) });
    }
  }
}
const N = 1000;
const server = await new LoopbackLLMServer({ latency: { firstByteMs: 0 } }).start();
server.append(...Array.from({ length: N * 3 * 8 }, () => toolLoop(2)));
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
const provider = new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL });
const agents = Array.from({ length: N }, (_, i) =>
  defineAgent({ name: `a${i}`, provider, model: "gpt-4o", tools: [calculator] }),
);
const mode = process.argv[2] ?? "both";
for (let round = 0; round < 4; round++) {
  let raw = 0,
    ag = 0;
  if (mode !== "agent") {
    const t = performance.now();
    await Promise.all(Array.from({ length: N }, () => rawLoop(sdk, "add")));
    raw = performance.now() - t;
  }
  if (mode !== "raw") {
    const t = performance.now();
    await Promise.all(
      agents.map(async (a) => {
        a.resetMemory();
        const r = await a.run("add");
        if (r.status !== "done") throw new Error("x");
      }),
    );
    ag = performance.now() - t;
  }
  console.log(round, raw.toFixed(0), ag.toFixed(0), (ag / raw).toFixed(3));
}
await server.stop();
