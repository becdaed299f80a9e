// The agents group: an agent's tool-calling step against the same requests made with the raw SDK
// (loopback server, 5 ms latency, same run), next-step token accounting on a 1,000-message
// conversation, 1,000 concurrent agents against 3,000 concurrent raw requests, and retained heap.
import {
  ConversationMemory,
  calculator,
  defineAgent,
  generateSystemPrompt,
  type Message,
  OpenAIProvider,
  TokenCounter,
  tiktokenEncoder,
} from "@normandy/agents";
import { LoopbackLLMServer } from "@normandy/testing";
import OpenAI from "openai";
import { alternatingRatio, gc, type Metric, median } from "./harness.js";
import { serve, toolLoop } from "./loopback.js";
import { observabilityRatios } from "./observability.js";

const tools = [
  {
    type: "function" as const,
    function: { name: "calculator", description: calculator.description, parameters: calculator.inputSchema },
  },
];

/** The agent's system prompt (no instructions, the calculator), so both sides send the same request. */
const system = await generateSystemPrompt({}, [calculator.definition]);

/** What the agent does, with the raw SDK: call, run the tool, call again, until the answer. */
async function rawLoop(sdk: OpenAI, question: string): Promise<void> {
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    { role: "system", content: system },
    { role: "user", content: question },
  ];
  for (let i = 0; i < 10; i++) {
    const r = await sdk.chat.completions.create({ model: "gpt-4o", messages, tools, temperature: 0.9 });
    const msg = r.choices[0]?.message;
    if (!msg?.tool_calls?.length) return;
    messages.push(msg);
    for (const call of msg.tool_calls) {
      if (call.type !== "function") continue;
      const args = JSON.parse(call.function.arguments) as { a: number; b: number };
      messages.push({ role: "tool", tool_call_id: call.id, content: String(args.a + args.b) });
    }
  }
}

async function stepRatio(): Promise<number> {
  const server = await serve(1, 5, 10_000);
  const sdk = new OpenAI({ apiKey: "bench", baseURL: server.openaiBaseURL, maxRetries: 0 });
  const agent = defineAgent({
    name: "bench",
    provider: new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL }),
    model: "gpt-4o",
    tools: [calculator],
  });
  const runAgent = async () => {
    agent.resetMemory();
    const r = await agent.run("add");
    if (r.status !== "done") throw new Error("paused");
  };
  for (let i = 0; i < 5; i++) {
    await rawLoop(sdk, "add");
    await runAgent();
  }
  const ratios: number[] = [];
  for (let i = 0; i < 40; i++) {
    let t = performance.now();
    await rawLoop(sdk, "add");
    const raw = performance.now() - t;
    t = performance.now();
    await runAgent();
    ratios.push((performance.now() - t) / raw);
  }
  await server.stop();
  return median(ratios);
}

function nextStepMicros(): number {
  const counter = new TokenCounter(tiktokenEncoder("gpt-4o"));
  const memory = new ConversationMemory();
  for (let i = 0; i < 1000; i++)
    memory.add({ role: i % 2 ? "assistant" : "user", content: `message number ${i} with a few words in it` });
  const definitions = [calculator.definition];
  counter.countConversation(memory.messages());
  counter.countTools(definitions);
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const next: Message = { role: "user", content: `the next question, number ${i}` };
    const t = performance.now();
    memory.add(next);
    counter.countText(
      "# IDENTITY and PURPOSE\n- This is a conversation with a helpful and friendly AI assistant.",
    );
    counter.countTools(definitions);
    counter.countConversation(memory.messages());
    samples.push((performance.now() - t) * 1000);
  }
  return median(samples);
}

async function concurrentRatio(): Promise<number> {
  const AGENTS = 1000;
  const server = await new LoopbackLLMServer({ latency: { firstByteMs: 0 }, fallback: toolLoop(2) }).start();
  const sdk = new OpenAI({ apiKey: "bench", baseURL: server.openaiBaseURL, maxRetries: 0 });
  const provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const agents = Array.from({ length: AGENTS }, (_, i) =>
    defineAgent({ name: `a${i}`, provider, model: "gpt-4o", tools: [calculator] }),
  );
  const raw = () => Promise.all(Array.from({ length: AGENTS }, () => rawLoop(sdk, "add")));
  const orchestrated = () =>
    Promise.all(
      agents.map(async (agent) => {
        agent.resetMemory();
        const r = await agent.run("add");
        if (r.status !== "done") throw new Error("paused");
      }),
    );
  // the server forgets each round's recorded requests: they are no side's garbage to collect
  const ratio = await alternatingRatio(raw, orchestrated, () => server.reset());
  await server.stop();
  return ratio;
}

async function retainedBytes(): Promise<number> {
  const server = await serve(1, 0, 2200);
  const agent = defineAgent({
    name: "leak",
    provider: new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL }),
    model: "gpt-4o",
    tools: [calculator],
  });
  // the loopback server records every request: clear its records so only the agent's heap is measured
  const turns = () => Array.from({ length: 1100 }, () => toolLoop(1));
  const thousandRuns = async () => {
    for (let i = 0; i < 1000; i++) {
      agent.resetMemory();
      await agent.run("add");
      if (i % 100 === 99) server.reset(turns());
    }
    server.reset(turns());
    gc();
    return process.memoryUsage().heapUsed;
  };
  // warm up to a steady state first: the first thousand runs also grow the heap once (optimized code and
  // type feedback live on it), which is not a leak. Then the median growth of three thousands: a leak
  // grows every one of them, while the heap's own settling moves one by up to a megabyte either way
  let before = await thousandRuns();
  const growths: number[] = [];
  for (let i = 0; i < 3; i++) {
    const after = await thousandRuns();
    growths.push(after - before);
    before = after;
  }
  await server.stop();
  return Math.max(0, median(growths));
}

/** The agents benchmark group. */
export async function agents(): Promise<Metric[]> {
  const step = await stepRatio();
  const tokens = nextStepMicros();
  const concurrent = await concurrentRatio();
  const retained = await retainedBytes();
  const observability = await observabilityRatios();
  return [
    { name: "agents.step.ratio_vs_sdk", value: step, target: "<= 1.10" },
    { name: "agents.tokens.next_step_us", value: tokens, target: "<= 1000", unit: "µs" },
    { name: "agents.concurrent.ratio_vs_sdk", value: concurrent, target: "<= 1.25" },
    { name: "agents.retained_bytes_after_1000_runs", value: retained, target: "<= 1048576", unit: "B" },
    { name: "observability.tracing.ratio", value: observability.tracing, target: ">= 0.85" },
    { name: "observability.detached.ratio", value: observability.detached, target: ">= 0.98" },
  ];
}
