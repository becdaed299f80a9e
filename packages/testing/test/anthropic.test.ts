import Anthropic from "@anthropic-ai/sdk";
import type { MessageParam, RawMessageStreamEvent, Tool } from "@anthropic-ai/sdk/resources/messages";
import { estimateTokens, LoopbackLLMServer, type LoopbackLLMServerOptions } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(options: LoopbackLLMServerOptions) {
  const server = await new LoopbackLLMServer(options).start();
  servers.push(server);
  const client = new Anthropic({ apiKey: "test", baseURL: server.anthropicBaseURL, maxRetries: 0 });
  return { server, client };
}

const model = "claude-haiku-4-5";
const system = "You are terse.";
const messages: MessageParam[] = [{ role: "user", content: "What is the weather in Paris and in Rome?" }];
const tools: Tool[] = [
  {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
];
const base = { model, max_tokens: 1024, system, messages };

async function collect(stream: AsyncIterable<RawMessageStreamEvent>): Promise<RawMessageStreamEvent[]> {
  const events: RawMessageStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe("Anthropic Messages, read back by the @anthropic-ai/sdk", () => {
  it("answers a JSON message with text and estimated usage", async () => {
    const { client } = await setup({ script: [{ text: "Sunny in Paris." }] });
    const message = await client.messages.create(base);

    expect(message).toMatchObject({
      id: "msg_01Loopback00000000000001",
      type: "message",
      role: "assistant",
      model,
      content: [{ type: "text", text: "Sunny in Paris." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: estimateTokens(system, messages),
        output_tokens: estimateTokens("Sunny in Paris."),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
  });

  it("exposes the request-id header on the response", async () => {
    const { client } = await setup({ script: [{ text: "a" }] });
    const { response, request_id } = await client.messages.create(base).withResponse();
    expect(request_id).toBe("req_Loopback0000000000000001");
    expect(response.headers.get("content-type")).toBe("application/json");
  });

  it("streams text deltas that the message stream assembles", async () => {
    const { client } = await setup({ script: [{ text: "Sunny and warm." }], latency: { chunkSize: 4 } });
    const stream = client.messages.stream(base);
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const message = await stream.finalMessage();

    expect(deltas).toEqual(["Sunn", "y an", "d wa", "rm."]);
    expect(message.content).toEqual([{ type: "text", text: "Sunny and warm." }]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.usage.output_tokens).toBe(estimateTokens("Sunny and warm."));
    expect(message.usage.input_tokens).toBe(estimateTokens(system, messages));
  });

  it("writes the full SSE sequence: message_start, block start, ping, deltas, block stop, message_delta, stop", async () => {
    const { server } = await setup({ script: [{ text: "Hello there" }], latency: { chunkSize: 6 } });
    const response = await fetch(`${server.anthropicBaseURL}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...base, stream: true }),
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("request-id")).toBe("req_Loopback0000000000000001");
    const text = await response.text();
    const frames = text.split("\n\n").filter((f) => f !== "");
    const names = frames.map((f) => /^event: (\w+)/.exec(f)?.[1]);
    expect(names).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const data = frames.map((f) => JSON.parse(f.split("\ndata: ")[1] ?? "null") as Record<string, unknown>);
    expect(data[0]).toMatchObject({
      type: "message_start",
      message: { content: [], stop_reason: null, usage: { output_tokens: 1 } },
    });
    expect(data[1]).toEqual({
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    });
    expect(data[3]).toEqual({
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: "Hello " },
    });
    expect(data[6]).toMatchObject({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: estimateTokens("Hello there") },
    });
  });

  it("streams several tool calls whose partial_json deltas the SDK assembles", async () => {
    const { client } = await setup({
      script: [
        {
          text: "Checking both.",
          toolCalls: [
            { name: "get_weather", arguments: { city: "Paris" }, id: "toolu_paris" },
            { name: "get_weather", arguments: { city: "Rome", unit: "celsius" } },
          ],
        },
      ],
      latency: { chunkSize: 5 },
    });
    const stream = client.messages.stream({ ...base, tools });
    const partials: string[] = [];
    stream.on("inputJson", (partial) => partials.push(partial));
    const message = await stream.finalMessage();

    expect(message.stop_reason).toBe("tool_use");
    expect(message.content).toEqual([
      { type: "text", text: "Checking both." },
      { type: "tool_use", id: "toolu_paris", name: "get_weather", input: { city: "Paris" } },
      {
        type: "tool_use",
        id: "toolu_01Loopback00000000000001",
        name: "get_weather",
        input: { city: "Rome", unit: "celsius" },
      },
    ]);
    expect(partials.filter((p) => p !== "").length).toBeGreaterThan(4);
    expect(partials.join("")).toBe('{"city":"Paris"}{"city":"Rome","unit":"celsius"}');
  });

  it("answers tool calls in a JSON message", async () => {
    const { client } = await setup({
      script: [{ toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }],
    });
    const message = await client.messages.create({ ...base, tools });
    expect(message.content).toEqual([
      {
        type: "tool_use",
        id: "toolu_01Loopback00000000000001",
        name: "get_weather",
        input: { city: "Paris" },
      },
    ]);
    expect(message.stop_reason).toBe("tool_use");
  });

  it("streams thinking deltas and the signature before the text", async () => {
    const { client } = await setup({
      script: [{ thinking: "The user wants weather.", thinkingSignature: "c2lnbmF0dXJl", text: "Sunny." }],
      latency: { chunkSize: 8 },
    });
    const stream = client.messages.stream({ ...base, thinking: { type: "enabled", budget_tokens: 2048 } });
    const thinking: string[] = [];
    const signatures: string[] = [];
    stream.on("thinking", (delta) => thinking.push(delta));
    stream.on("signature", (signature) => signatures.push(signature));
    const message = await stream.finalMessage();

    expect(thinking).toEqual(["The user", " wants w", "eather."]);
    expect(signatures).toEqual(["c2lnbmF0dXJl"]);
    expect(message.content).toEqual([
      { type: "thinking", thinking: "The user wants weather.", signature: "c2lnbmF0dXJl" },
      { type: "text", text: "Sunny." },
    ]);
    expect(message.usage.output_tokens).toBe(estimateTokens("The user wants weather.", "Sunny."));
  });

  it("answers a thinking block with a default signature in a JSON message", async () => {
    const { client } = await setup({ script: [{ thinking: "Hmm.", text: "Yes." }] });
    const message = await client.messages.create(base);
    const [block] = message.content;
    expect(block?.type).toBe("thinking");
    expect(block?.type === "thinking" ? block.signature : "").toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("reports usage overrides with cache reads and writes, streamed and not", async () => {
    const usage = {
      inputTokens: 12,
      outputTokens: 34,
      cacheReadInputTokens: 1000,
      cacheCreationInputTokens: 200,
    };
    const { client } = await setup({
      script: [
        { text: "a", usage },
        { text: "b", usage },
      ],
    });
    const plain = await client.messages.create(base);
    expect(plain.usage).toMatchObject({
      input_tokens: 12,
      output_tokens: 34,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 200,
    });
    const streamed = await client.messages.stream(base).finalMessage();
    expect(streamed.usage).toMatchObject({
      input_tokens: 12,
      output_tokens: 34,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 200,
    });
  });

  it("reports stop_sequence with the request's first stop sequence, or the scripted one", async () => {
    const { client } = await setup({
      script: [
        { text: "one", stopReason: "stop_sequence" },
        { text: "two", stopReason: "stop_sequence", stopSequence: "END" },
        { text: "three", stopReason: "max_tokens" },
        { text: "four", stopReason: "stop_sequence" },
      ],
    });
    const first = await client.messages.create({ ...base, stop_sequences: ["###", "STOP"] });
    expect([first.stop_reason, first.stop_sequence]).toEqual(["stop_sequence", "###"]);
    const second = await client.messages.stream({ ...base, stop_sequences: ["###"] }).finalMessage();
    expect([second.stop_reason, second.stop_sequence]).toEqual(["stop_sequence", "END"]);
    const third = await client.messages.create(base);
    expect([third.stop_reason, third.stop_sequence]).toEqual(["max_tokens", null]);
    const fourth = await client.messages.create(base);
    expect([fourth.stop_reason, fourth.stop_sequence]).toEqual(["stop_sequence", null]);
  });

  it("sends scripted JSON as a text block (structured output)", async () => {
    const { client } = await setup({ script: [{ json: { city: "Paris", temperature: 21 } }] });
    const message = await client.messages.create(base);
    expect(message.content).toEqual([{ type: "text", text: '{"city":"Paris","temperature":21}' }]);
  });

  it("counts tokens as ceil(chars / 4) over system, messages and tools, without taking a turn", async () => {
    const { client, server } = await setup({ script: [{ text: "unused" }] });
    const count = await client.messages.countTokens({ model, system, messages, tools });
    expect(count).toEqual({ input_tokens: estimateTokens(system, messages, tools) });
    const bare = await client.messages.countTokens({ model, messages });
    expect(bare.input_tokens).toBe(Math.ceil(JSON.stringify(messages).length / 4));
    expect(server.remainingTurns).toBe(1);
    expect(server.requests.map((r) => r.endpoint)).toEqual(["count_tokens", "count_tokens"]);
  });

  it("sends malformed tool JSON as partial_json deltas that concatenate to the raw string", async () => {
    const raw = '{"city": Paris}';
    const { client } = await setup({
      script: [
        { toolCalls: [{ name: "get_weather", rawArguments: raw }] },
        { toolCalls: [{ name: "x", rawArguments: raw }] },
      ],
      latency: { chunkSize: 4 },
    });
    const events = await collect(await client.messages.create({ ...base, tools, stream: true }));
    const partial = events
      .map((e) =>
        e.type === "content_block_delta" && e.delta.type === "input_json_delta" ? e.delta.partial_json : "",
      )
      .join("");
    expect(partial).toBe(raw);
    expect(() => JSON.parse(partial)).toThrow(SyntaxError);

    const plain = await client.messages.create({ ...base, tools });
    const block = plain.content[0];
    expect(block?.type === "tool_use" ? block.input : undefined).toBe(raw);
  });

  it("lets the message stream helper reject malformed tool JSON", async () => {
    const { client } = await setup({
      script: [{ toolCalls: [{ name: "get_weather", rawArguments: "{oops" }] }],
    });
    await expect(client.messages.stream({ ...base, tools }).finalMessage()).rejects.toThrow();
  });
});
