import { estimateTokens, LoopbackLLMServer, type LoopbackLLMServerOptions } from "@normandy/testing";
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources";
import { afterEach, describe, expect, it } from "vitest";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(options: LoopbackLLMServerOptions) {
  const server = await new LoopbackLLMServer(options).start();
  servers.push(server);
  const client = new OpenAI({ apiKey: "test", baseURL: server.openaiBaseURL, maxRetries: 0 });
  return { server, client };
}

const model = "gpt-4o-mini";
const messages: ChatCompletionMessageParam[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "What is the weather in Paris and in Rome?" },
];
const tools: ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe("OpenAI Chat Completions, read back by the openai SDK", () => {
  it("answers a JSON chat.completion with text and estimated usage", async () => {
    const { client, server } = await setup({ script: [{ text: "Sunny in Paris." }] });
    const completion = await client.chat.completions.create({ model, messages });

    expect(completion).toMatchObject({
      id: "chatcmpl-Loopback000000000000000000001",
      object: "chat.completion",
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Sunny in Paris.", refusal: null },
          finish_reason: "stop",
          logprobs: null,
        },
      ],
    });
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
    expect(completion.created).toBeTypeOf("number");
    const prompt = estimateTokens(messages);
    expect(completion.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: estimateTokens("Sunny in Paris."),
      total_tokens: prompt + estimateTokens("Sunny in Paris."),
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
    expect(server.requests[0]?.headers["x-request-id"]).toBeUndefined();
  });

  it("exposes the x-request-id header on the response", async () => {
    const { client } = await setup({ script: [{ text: "a" }, { text: "b" }] });
    const { response, request_id } = await client.chat.completions.create({ model, messages }).withResponse();
    expect(request_id).toBe("req_Loopback0000000000000001");
    expect(response.headers.get("content-type")).toBe("application/json");
    const second = await client.chat.completions.create({ model, messages }).withResponse();
    expect(second.request_id).toBe("req_Loopback0000000000000002");
  });

  it("streams text as chat.completion.chunk deltas, role first, finish chunk, then the usage chunk", async () => {
    const { client } = await setup({ script: [{ text: "Sunny and warm." }], latency: { chunkSize: 4 } });
    const stream = await client.chat.completions.create({
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);

    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === model)).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant", content: "", refusal: null });
    const contents = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? ""));
    expect(contents.filter((c) => c !== "")).toEqual(["Sunn", "y an", "d wa", "rm."]);
    const finish = chunks.at(-2);
    expect(finish?.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
    expect(finish?.usage).toBeNull();
    const usage = chunks.at(-1);
    expect(usage?.choices).toEqual([]);
    expect(usage?.usage?.completion_tokens).toBe(estimateTokens("Sunny and warm."));
    expect(usage?.usage?.prompt_tokens).toBe(estimateTokens(messages));
  });

  it("omits usage from the stream unless include_usage is set", async () => {
    const { client } = await setup({ script: [{ text: "Hi" }] });
    const chunks = await collect(await client.chat.completions.create({ model, messages, stream: true }));
    expect(chunks.every((c) => !("usage" in c))).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
  });

  it("streams several tool calls whose argument deltas the SDK assembles", async () => {
    const { client } = await setup({
      script: [
        {
          toolCalls: [
            { name: "get_weather", arguments: { city: "Paris" }, id: "call_paris" },
            { name: "get_weather", arguments: { city: "Rome", unit: "celsius" } },
          ],
        },
      ],
      latency: { chunkSize: 5 },
    });
    const stream = client.chat.completions.stream({ model, messages, tools });
    const argumentDeltas: string[] = [];
    stream.on("chunk", (chunk) => {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (call.function?.arguments) argumentDeltas.push(call.function.arguments);
      }
    });
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];

    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    const calls = choice?.message.tool_calls ?? [];
    expect(calls.map((c) => c.id)).toEqual(["call_paris", "call_Loopback00000000001"]);
    expect(calls.map((c) => (c.type === "function" ? c.function.name : undefined))).toEqual([
      "get_weather",
      "get_weather",
    ]);
    expect(calls.map((c) => (c.type === "function" ? JSON.parse(c.function.arguments) : undefined))).toEqual([
      { city: "Paris" },
      { city: "Rome", unit: "celsius" },
    ]);
    expect(argumentDeltas.length).toBeGreaterThan(4);
    expect(argumentDeltas.every((d) => d.length <= 5)).toBe(true);
  });

  it("puts index, id, type and name only in the first delta of each tool call", async () => {
    const { client } = await setup({
      script: [
        {
          text: "Checking.",
          toolCalls: [
            { name: "a", arguments: { x: 1 } },
            { name: "b", arguments: {} },
          ],
        },
      ],
      latency: { chunkSize: 3 },
    });
    const chunks = await collect(
      await client.chat.completions.create({ model, messages, tools, stream: true }),
    );
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    const starts = deltas.filter((d) => d.id !== undefined);
    expect(starts).toEqual([
      { index: 0, id: "call_Loopback00000000001", type: "function", function: { name: "a", arguments: "" } },
      { index: 1, id: "call_Loopback00000000002", type: "function", function: { name: "b", arguments: "" } },
    ]);
    const rest = deltas.filter((d) => d.id === undefined);
    expect(rest.every((d) => d.type === undefined && d.function?.name === undefined)).toBe(true);
    expect(
      rest
        .filter((d) => d.index === 0)
        .map((d) => d.function?.arguments)
        .join(""),
    ).toBe('{"x":1}');
    expect(chunks[0]?.choices[0]?.delta.content).toBe("");
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("answers tool calls (with text) in a JSON completion", async () => {
    const { client } = await setup({
      script: [{ text: "Let me check.", toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }],
    });
    const completion = await client.chat.completions.create({ model, messages, tools });
    const message = completion.choices[0]?.message;
    expect(message?.content).toBe("Let me check.");
    expect(message?.tool_calls).toEqual([
      {
        id: "call_Loopback00000000001",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Paris"}' },
      },
    ]);
    expect(completion.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("sends scripted JSON as the content of a json_schema response, which parse() reads", async () => {
    const { client } = await setup({ script: [{ json: { city: "Paris", temperature: 21 } }] });
    const completion = await client.chat.completions.parse({
      model,
      messages,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "weather",
          strict: true,
          schema: {
            type: "object",
            properties: { city: { type: "string" }, temperature: { type: "number" } },
            required: ["city", "temperature"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(completion.choices[0]?.message.content).toBe('{"city":"Paris","temperature":21}');
    expect(completion.choices[0]?.message.parsed).toEqual({ city: "Paris", temperature: 21 });
  });

  it("streams JSON content in several deltas", async () => {
    const { client } = await setup({ script: [{ json: { ok: true } }], latency: { chunkSize: 2 } });
    const stream = client.chat.completions.stream({
      model,
      messages,
      response_format: { type: "json_schema", json_schema: { name: "r", schema: { type: "object" } } },
    });
    const completion = await stream.finalChatCompletion();
    expect(JSON.parse(completion.choices[0]?.message.content ?? "")).toEqual({ ok: true });
  });

  it("reports usage overrides: cached and reasoning tokens, prompt_tokens including the cache", async () => {
    const { client } = await setup({
      script: [
        {
          text: "Done.",
          thinking: "Let me think about the weather.",
          usage: {
            inputTokens: 100,
            cacheReadInputTokens: 900,
            outputTokens: 50,
            cacheCreationInputTokens: 10,
          },
        },
        { text: "Again.", thinking: "Hmm.", usage: { reasoningTokens: 7 } },
      ],
    });
    const first = await client.chat.completions.create({ model, messages });
    expect(first.usage).toMatchObject({
      prompt_tokens: 1010,
      completion_tokens: 50,
      total_tokens: 1060,
      prompt_tokens_details: { cached_tokens: 900 },
      completion_tokens_details: { reasoning_tokens: estimateTokens("Let me think about the weather.") },
    });
    expect(first.choices[0]?.message.content).toBe("Done.");
    const stream = client.chat.completions.stream({
      model,
      messages,
      stream_options: { include_usage: true },
    });
    const second = await stream.finalChatCompletion();
    expect(second.usage?.completion_tokens_details?.reasoning_tokens).toBe(7);
    expect(second.choices[0]?.message.content).toBe("Again.");
  });

  it("maps stop reasons to finish_reason: length and stop", async () => {
    const { client } = await setup({
      script: [
        { text: "truncated", stopReason: "max_tokens" },
        { text: "until", stopReason: "stop_sequence" },
        { text: "x", stopReason: "length" },
      ],
    });
    const reasons: (string | null | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const completion = await client.chat.completions.create({ model, messages });
      reasons.push(completion.choices[0]?.finish_reason);
    }
    expect(reasons).toEqual(["length", "stop", "length"]);
  });

  it("sends malformed tool-argument JSON as the raw argument string, streamed or not", async () => {
    const raw = '{"city": "Paris", oops}';
    const { client } = await setup({
      script: [
        { toolCalls: [{ name: "get_weather", rawArguments: raw }] },
        { toolCalls: [{ name: "x", rawArguments: raw }] },
      ],
      latency: { chunkSize: 4 },
    });
    const completion = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion();
    const call = completion.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" ? call.function.arguments : undefined).toBe(raw);
    expect(() => JSON.parse(raw)).toThrow(SyntaxError);

    const plain = await client.chat.completions.create({ model, messages, tools });
    const plainCall = plain.choices[0]?.message.tool_calls?.[0];
    expect(plainCall?.type === "function" ? plainCall.function.arguments : undefined).toBe(raw);
  });
});
