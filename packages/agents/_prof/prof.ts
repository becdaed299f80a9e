import { calculator, defineAgent, OpenAIProvider } from "@normandy/agents";
import { LoopbackLLMServer, type RecordedRequest } from "@normandy/testing";
import OpenAI from "openai";

const turn = (req: RecordedRequest) =>
  (req.body as { messages: { role: string }[] }).messages.some((m) => m.role === "tool")
    ? { text: "done" }
    : { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 1, b: 1 } }] };
const server = await new LoopbackLLMServer({}).start();
server.append(...Array.from({ length: 20000 }, () => turn));
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
const agent = defineAgent({
  name: "p",
  provider: new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL }),
  model: "gpt-4o",
  tools: [calculator],
});
const tools = [
  {
    type: "function" as const,
    function: { name: "calculator", description: calculator.description, parameters: calculator.inputSchema },
  },
];
async function raw() {
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "add" }];
  const r = await sdk.chat.completions.create({ model: "gpt-4o", messages, tools });
  const msg = r.choices[0]!.message;
  messages.push(msg);
  for (const c of msg.tool_calls ?? []) messages.push({ role: "tool", tool_call_id: c.id, content: "2" });
  await sdk.chat.completions.create({ model: "gpt-4o", messages, tools });
}
const mode = process.argv[2];
for (let i = 0; i < 100; i++) {
  await raw();
  agent.resetMemory();
  await agent.run("add");
}
let t = performance.now();
for (let i = 0; i < 500; i++) await raw();
const r = performance.now() - t;
t = performance.now();
for (let i = 0; i < 500; i++) {
  agent.resetMemory();
  await agent.run("add");
}
const a = performance.now() - t;
console.log(
  `raw ${(r / 500).toFixed(3)} ms/run, agent ${(a / 500).toFixed(3)} ms/run, ratio ${(a / r).toFixed(3)}`,
);
server.reset();
await server.stop();
