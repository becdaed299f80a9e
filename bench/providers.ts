// The providers group: our providers against the raw SDKs on the same loopback server, same run —
// stream consumption (1,000 deltas), its linearity (10,000 ÷ 1,000), and a non-streamed tool call.
import Anthropic from "@anthropic-ai/sdk";
import { AnthropicProvider, type ModelRequest, OpenAIProvider } from "@normandy/agents";
import { LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import OpenAI from "openai";
import { type Metric, median } from "./harness.js";

const ROUNDS = 25;

/**
 * Times `ours` against `baseline` in back-to-back pairs (alternating which goes first); returns both
 * medians in ms and the median of the per-pair ratios, which is robust to load that changes between
 * pairs on a shared machine.
 */
async function paired(
  baseline: () => Promise<void>,
  ours: () => Promise<void>,
  rounds = ROUNDS,
): Promise<{ base: number; ours: number; ratio: number }> {
  const b: number[] = [];
  const o: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < 3; i++) {
    await baseline();
    await ours();
  }
  const time = async (fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  for (let i = 0; i < rounds; i++) {
    const [tb, to] = i % 2 === 0 ? [await time(baseline), await time(ours)] : [-1, await time(ours)];
    const base = tb >= 0 ? tb : await time(baseline);
    b.push(base);
    o.push(to);
    ratios.push(to / base);
  }
  return { base: median(b), ours: median(o), ratio: median(ratios) };
}

/** A server that answers every request with `turn` (a function turn never runs out). */
async function serve(turn: ScriptedTurn): Promise<LoopbackLLMServer> {
  const server = await new LoopbackLLMServer({ latency: { chunkSize: 1 } }).start();
  server.append(...Array.from({ length: 200 }, () => turn));
  return server;
}

const messages = [{ role: "user" as const, content: "go" }];

async function openai(): Promise<Metric[]> {
  const text1k = "x".repeat(1_000);
  const text10k = "x".repeat(10_000);
  let server = await serve(() => ({ text: text1k }));
  let sdk = new OpenAI({ apiKey: "bench", baseURL: server.openaiBaseURL, maxRetries: 0 });
  let provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const request: ModelRequest = { model: "gpt-4o", messages };
  const rawStream = async () => {
    const stream = await sdk.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    let n = 0;
    for await (const chunk of stream) n += chunk.choices[0]?.delta.content?.length ?? 0;
    if (n === 0) throw new Error("no text");
  };
  const ourStream = async () => {
    let n = 0;
    for await (const e of provider.stream(request)) if (e.type === "text_delta") n += e.text.length;
    if (n === 0) throw new Error("no text");
  };
  const stream1k = await paired(rawStream, ourStream);
  await server.stop();

  // linearity: 10,000 vs 1,000 deltas through our provider, interleaved on one server
  server = await serve((req) => ({
    text: (req.body as { model?: string }).model === "10k" ? text10k : text1k,
  }));
  provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const linear = await paired(
    async () => void (await provider.stream({ model: "1k", messages }).final()),
    async () => void (await provider.stream({ model: "10k", messages }).final()),
    9,
  );
  await server.stop();

  server = await serve(() => ({
    toolCalls: [{ name: "lookup", arguments: { query: "x".repeat(200), limit: 5 } }],
  }));
  sdk = new OpenAI({ apiKey: "bench", baseURL: server.openaiBaseURL, maxRetries: 0 });
  provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const tools = [
    {
      name: "lookup",
      description: "Looks things up.",
      inputSchema: { type: "object", properties: { query: { type: "string" } } },
    },
  ];
  const call = await paired(
    async () => {
      const r = await sdk.chat.completions.create({
        model: "gpt-4o",
        messages,
        tools: [
          {
            type: "function",
            function: {
              name: "lookup",
              description: "Looks things up.",
              parameters: tools[0]?.inputSchema ?? {},
            },
          },
        ],
      });
      if (!r.choices[0]?.message.tool_calls?.length) throw new Error("no tool call");
    },
    async () => {
      const r = await provider.complete({ ...request, tools });
      if (!r.content.some((b) => b.type === "tool_call")) throw new Error("no tool call");
    },
  );
  await server.stop();
  return [
    { name: "providers.stream.ratio_vs_sdk", value: stream1k.ratio, target: "<= 1.10" },
    { name: "providers.stream.linearity", value: linear.ratio, target: "<= 12" },
    { name: "providers.call.ratio_vs_sdk", value: call.ratio, target: "<= 1.10" },
    { name: "providers.stream.sdk_1k_ms", value: stream1k.base, unit: "ms" },
    { name: "providers.stream.ours_1k_ms", value: stream1k.ours, unit: "ms" },
  ];
}

async function anthropic(): Promise<Metric[]> {
  const server = await serve(() => ({ text: "x".repeat(1_000) }));
  const sdk = new Anthropic({ apiKey: "bench", baseURL: server.anthropicBaseURL, maxRetries: 0 });
  const provider = new AnthropicProvider({ apiKey: "bench", baseURL: server.anthropicBaseURL });
  const model = "claude-haiku-4-5";
  const stream = await paired(
    async () => {
      const s = await sdk.messages.create({ model, max_tokens: 2000, messages, stream: true });
      let n = 0;
      for await (const e of s)
        if (e.type === "content_block_delta" && e.delta.type === "text_delta") n += e.delta.text.length;
      if (n === 0) throw new Error("no text");
    },
    async () => {
      let n = 0;
      for await (const e of provider.stream({ model, maxTokens: 2000, messages }))
        if (e.type === "text_delta") n += e.text.length;
      if (n === 0) throw new Error("no text");
    },
  );
  await server.stop();
  return [
    { name: "providers.anthropic.stream.ratio_vs_sdk", value: stream.ours / stream.base, target: "<= 1.10" },
  ];
}

/** The providers benchmark group. */
export async function providers(): Promise<Metric[]> {
  return [...(await openai()), ...(await anthropic())];
}
