// AnthropicProvider against the loopback LLM server through the real @anthropic-ai/sdk: completion, streaming,
// thinking, tool calls, usage, the request body sent, count_tokens, abort, configuration and linearity.
import Anthropic from "@anthropic-ai/sdk";
import {
  type ContentBlock,
  type ModelRequest,
  ProviderError,
  type StreamEvent,
  textOf,
  toolCallsOf,
} from "@normandy/agents";
import {
  estimateRequestTokens,
  LoopbackLLMServer,
  type LoopbackLLMServerOptions,
  type ScriptedTurn,
} from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { AnthropicProvider } from "../src/providers/anthropic/AnthropicProvider.js";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(script: ScriptedTurn[], options: Omit<LoopbackLLMServerOptions, "script"> = {}) {
  const server = await new LoopbackLLMServer({ script, ...options }).start();
  servers.push(server);
  const provider = new AnthropicProvider({ apiKey: "test-key", baseURL: server.anthropicBaseURL });
  return { server, provider };
}

const model = "claude-haiku-4-5";
const ask = (content = "What is the weather in Paris?", extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model,
  messages: [{ role: "user", content }],
  ...extra,
});
const weather = {
  name: "get_weather",
  description: "Weather for a city",
  inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};
const time = {
  name: "get_time",
  description: "Local time of a city",
  inputSchema: { type: "object", properties: { city: { type: "string" } } },
};

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

function bodyOf(server: LoopbackLLMServer, i = 0): Record<string, unknown> {
  return server.requests[i]?.body as Record<string, unknown>;
}

describe("AnthropicProvider.complete", () => {
  it("answers text with id, model, stop reason and usage, sending a minimal body with the key", async () => {
    const { server, provider } = await setup([{ text: "Sunny in Paris." }]);
    const response = await provider.complete(ask());
    expect(response).toEqual({
      id: "msg_01Loopback00000000000001",
      model,
      content: [{ type: "text", text: "Sunny in Paris." }],
      stopReason: "end_turn",
      rawStopReason: "end_turn",
      usage: {
        inputTokens: estimateRequestTokens(bodyOf(server)),
        outputTokens: 4,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      },
    });
    expect(bodyOf(server)).toEqual({
      model,
      max_tokens: 4096,
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
    });
    expect(server.requests[0]?.headers.authorization).toBe("Bearer test-key");
    expect(server.requests[0]?.stream).toBe(false);
  });

  it("answers structured output (json) as text", async () => {
    const { provider } = await setup([{ json: { city: "Paris", temperature: 21 } }]);
    const response = await provider.complete(
      ask("Weather as JSON", {
        responseFormat: { type: "json_schema", name: "w", schema: { type: "object" } },
      }),
    );
    expect(JSON.parse(textOf(response))).toEqual({ city: "Paris", temperature: 21 });
  });

  it("maps stop_sequence and max_tokens stop reasons, keeping the raw one", async () => {
    const { provider } = await setup([
      { text: "one", stopReason: "stop_sequence" },
      { text: "two", stopReason: "max_tokens" },
    ]);
    const first = await provider.complete(ask("x", { stop: ["###"] }));
    expect([first.stopReason, first.rawStopReason]).toEqual(["stop_sequence", "stop_sequence"]);
    const second = await provider.complete(ask());
    expect([second.stopReason, second.rawStopReason]).toEqual(["max_tokens", "max_tokens"]);
  });

  it("returns thinking with its signature, and sends it back unchanged", async () => {
    const { server, provider } = await setup([
      { thinking: "The user wants weather.", thinkingSignature: "c2lnbmF0dXJl", text: "Sunny." },
      { text: "Still sunny." },
    ]);
    const request = ask("Weather?", { thinking: { budgetTokens: 2048 } });
    const first = await provider.complete(request);
    expect(first.content).toEqual([
      { type: "thinking", thinking: "The user wants weather.", signature: "c2lnbmF0dXJl" },
      { type: "text", text: "Sunny." },
    ]);
    expect(bodyOf(server).thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
    expect(bodyOf(server).max_tokens).toBe(2048 + 4096);

    await provider.complete({
      ...request,
      messages: [
        ...request.messages,
        { role: "assistant", content: first.content },
        { role: "user", content: "And now?" },
      ],
    });
    expect((bodyOf(server, 1).messages as unknown[])[1]).toEqual({
      role: "assistant",
      content: [
        { type: "thinking", thinking: "The user wants weather.", signature: "c2lnbmF0dXJl" },
        { type: "text", text: "Sunny." },
      ],
    });
  });

  it("returns several tool calls with parsed arguments", async () => {
    const { provider } = await setup([
      {
        text: "Checking.",
        toolCalls: [
          { name: "get_weather", arguments: { city: "Paris" }, id: "toolu_paris" },
          { name: "get_time", arguments: { city: "Rome" }, id: "toolu_rome" },
        ],
      },
    ]);
    const response = await provider.complete(ask("x", { tools: [weather, time] }));
    expect(response.stopReason).toBe("tool_use");
    expect(toolCallsOf(response)).toEqual([
      {
        type: "tool_call",
        id: "toolu_paris",
        name: "get_weather",
        arguments: { city: "Paris" },
        rawArguments: '{"city":"Paris"}',
      },
      {
        type: "tool_call",
        id: "toolu_rome",
        name: "get_time",
        arguments: { city: "Rome" },
        rawArguments: '{"city":"Rome"}',
      },
    ]);
  });

  it("turns malformed tool JSON (sent as a string) into a tool call with argumentsError", async () => {
    const raw = '{"city": Paris}';
    const { provider } = await setup([
      { toolCalls: [{ name: "get_weather", rawArguments: raw, id: "toolu_bad" }] },
    ]);
    const response = await provider.complete(ask("x", { tools: [weather] }));
    const [call] = toolCallsOf(response);
    expect(call).toMatchObject({
      id: "toolu_bad",
      name: "get_weather",
      arguments: undefined,
      rawArguments: raw,
    });
    expect(call?.argumentsError).toMatch(/not valid JSON/);
    expect(response.stopReason).toBe("tool_use");
  });

  it("reports usage with cache reads and writes (input includes the cached parts)", async () => {
    const usage = {
      inputTokens: 12,
      outputTokens: 34,
      cacheReadInputTokens: 1000,
      cacheCreationInputTokens: 200,
    };
    const { provider } = await setup([
      { text: "a", usage },
      { text: "b", usage },
    ]);
    const expected = {
      inputTokens: 1212,
      outputTokens: 34,
      cacheReadTokens: 1000,
      cacheWriteTokens: 200,
      reasoningTokens: 0,
    };
    expect((await provider.complete(ask())).usage).toEqual(expected);
    expect((await provider.stream(ask()).final()).usage).toEqual(expected);
  });
});

describe("AnthropicProvider request body", () => {
  it("sends system with cache_control, tools with cache_control on the last only, and every option", async () => {
    const { server, provider } = await setup([{ text: "ok" }]);
    const image = {
      type: "image",
      source: { kind: "base64", mediaType: "image/png", data: "iVBORw0KGgo=" },
    } as const;
    await provider.complete({
      model,
      messages: [
        { role: "system", content: "You are terse." },
        {
          role: "user",
          content: [
            { type: "text", text: "Look:" },
            image,
            { type: "image", source: { kind: "url", url: "https://example.com/cat.png" } },
          ],
        },
        {
          role: "assistant",
          content: [
            {
              type: "tool_call",
              id: "toolu_1",
              name: "get_weather",
              arguments: { city: "Paris" },
              rawArguments: "",
            },
            {
              type: "tool_call",
              id: "toolu_2",
              name: "get_time",
              arguments: { city: "Rome" },
              rawArguments: "",
            },
          ],
        },
        {
          role: "tool",
          content: [
            { type: "tool_result", toolCallId: "toolu_1", content: "Sunny", isError: false },
            {
              type: "tool_result",
              toolCallId: "toolu_2",
              content: [{ type: "text", text: "no clock" }],
              isError: true,
            },
          ],
        },
      ],
      tools: [weather, time],
      toolChoice: "auto",
      parallelToolCalls: false,
      temperature: 0.2,
      topP: 0.9,
      maxTokens: 512,
      stop: ["###", "END"],
      thinking: { budgetTokens: 256 },
      cache: true,
      extras: { metadata: { user_id: "u1" }, temperature: 0.3 },
    });
    expect(bodyOf(server)).toEqual({
      model,
      max_tokens: 512,
      system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Look:" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
            { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
            { type: "tool_use", id: "toolu_2", name: "get_time", input: { city: "Rome" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: "Sunny", is_error: false },
            {
              type: "tool_result",
              tool_use_id: "toolu_2",
              content: [{ type: "text", text: "no clock" }],
              is_error: true,
            },
          ],
        },
      ],
      tools: [
        { name: "get_weather", description: "Weather for a city", input_schema: weather.inputSchema },
        {
          name: "get_time",
          description: "Local time of a city",
          input_schema: time.inputSchema,
          cache_control: { type: "ephemeral" },
        },
      ],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
      temperature: 0.3,
      top_p: 0.9,
      stop_sequences: ["###", "END"],
      thinking: { type: "enabled", budget_tokens: 256 },
      metadata: { user_id: "u1" },
    });
  });

  it("translates every tool choice", async () => {
    const { server, provider } = await setup(Array.from({ length: 6 }, () => ({ text: "ok" })));
    const tools = [weather];
    await provider.complete(ask("x", { tools, toolChoice: "auto" }));
    await provider.complete(ask("x", { tools, toolChoice: "required" }));
    await provider.complete(ask("x", { tools, toolChoice: "none" }));
    await provider.complete(
      ask("x", { tools, toolChoice: { name: "get_weather" }, parallelToolCalls: false }),
    );
    await provider.complete(ask("x", { tools, parallelToolCalls: false }));
    await provider.complete(ask("x", { tools, parallelToolCalls: true }));
    expect(server.requests.map((r) => (r.body as { tool_choice?: unknown }).tool_choice)).toEqual([
      { type: "auto" },
      { type: "any" },
      { type: "none" },
      { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
      { type: "auto", disable_parallel_tool_use: true },
      undefined,
    ]);
    expect((bodyOf(server).tools as unknown[])[0]).not.toHaveProperty("cache_control");
  });

  it("sends cache_control on the last block of several system messages and never sends response_format", async () => {
    const { server, provider } = await setup([{ text: "ok" }]);
    await provider.complete({
      model,
      messages: [
        { role: "system", content: "Rule one." },
        { role: "system", content: [{ type: "text", text: "Rule two." }] },
        { role: "user", content: "hi" },
      ],
      cache: true,
      responseFormat: { type: "json_schema", name: "x", schema: { type: "object" } },
    });
    expect(bodyOf(server)).toEqual({
      model,
      max_tokens: 4096,
      system: [
        { type: "text", text: "Rule one." },
        { type: "text", text: "Rule two.", cache_control: { type: "ephemeral" } },
      ],
      messages: [{ role: "user", content: "hi" }],
    });
  });
});

describe("AnthropicProvider.stream", () => {
  it("streams text deltas and assembles the response", async () => {
    const { server, provider } = await setup([{ text: "Sunny and warm." }], { latency: { chunkSize: 4 } });
    const stream = provider.stream(ask());
    const events = await collect(stream);
    const response = await stream.final();
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "usage",
      "text_delta",
      "text_delta",
      "text_delta",
      "text_delta",
      "usage",
      "message_end",
    ]);
    expect(events.filter((e) => e.type === "text_delta").map((e) => e.text)).toEqual([
      "Sunn",
      "y an",
      "d wa",
      "rm.",
    ]);
    expect(events[0]).toEqual({ type: "message_start", id: "msg_01Loopback00000000000001", model });
    expect(response.content).toEqual([{ type: "text", text: "Sunny and warm." }]);
    expect(response.stopReason).toBe("end_turn");
    expect(bodyOf(server).stream).toBe(true);
    await server.idle();
    expect(server.requests[0]?.outcome).toBe("completed");
  });

  it("streams thinking with its signature before the text", async () => {
    const { provider } = await setup(
      [{ thinking: "The user wants weather.", thinkingSignature: "c2lnbmF0dXJl", text: "Sunny." }],
      { latency: { chunkSize: 8 } },
    );
    const stream = provider.stream(ask("x", { thinking: { budgetTokens: 1024 } }));
    const events = await collect(stream);
    expect(events.filter((e) => e.type === "thinking_delta")).toEqual([
      { type: "thinking_delta", index: 0, thinking: "The user" },
      { type: "thinking_delta", index: 0, thinking: " wants w" },
      { type: "thinking_delta", index: 0, thinking: "eather." },
      { type: "thinking_delta", index: 0, thinking: "", signature: "c2lnbmF0dXJl" },
    ]);
    expect((await stream.final()).content).toEqual([
      { type: "thinking", thinking: "The user wants weather.", signature: "c2lnbmF0dXJl" },
      { type: "text", text: "Sunny." },
    ]);
  });

  it("streams several tool calls from small input_json deltas", async () => {
    const { provider } = await setup(
      [
        {
          text: "Checking both.",
          toolCalls: [
            { name: "get_weather", arguments: { city: "Paris" }, id: "toolu_paris" },
            { name: "get_weather", arguments: { city: "Rome", unit: "celsius" }, id: "toolu_rome" },
          ],
        },
      ],
      { latency: { chunkSize: 3 } },
    );
    const stream = provider.stream(ask("x", { tools: [weather] }));
    const events = await collect(stream);
    const deltas = events.filter((e) => e.type === "tool_call_delta");
    expect(deltas.length).toBeGreaterThan(10);
    expect(
      deltas
        .filter((d) => d.id === "toolu_paris")
        .map((d) => d.delta)
        .join(""),
    ).toBe('{"city":"Paris"}');
    expect(events.filter((e) => e.type === "tool_call_start")).toEqual([
      { type: "tool_call_start", index: 1, id: "toolu_paris", name: "get_weather" },
      { type: "tool_call_start", index: 2, id: "toolu_rome", name: "get_weather" },
    ]);
    const ends = events.filter((e) => e.type === "tool_call_end");
    expect(ends.map((e) => e.call.arguments)).toEqual([{ city: "Paris" }, { city: "Rome", unit: "celsius" }]);
    const response = await stream.final();
    expect(response.stopReason).toBe("tool_use");
    expect(textOf(response)).toBe("Checking both.");
    expect(toolCallsOf(response).map((c) => [c.id, c.rawArguments])).toEqual([
      ["toolu_paris", '{"city":"Paris"}'],
      ["toolu_rome", '{"city":"Rome","unit":"celsius"}'],
    ]);
  });

  it("turns malformed streamed tool JSON into a tool call with argumentsError", async () => {
    const raw = '{"city": Paris}';
    const { provider } = await setup(
      [{ toolCalls: [{ name: "get_weather", rawArguments: raw, id: "toolu_bad" }] }],
      {
        latency: { chunkSize: 4 },
      },
    );
    const response = await provider.stream(ask("x", { tools: [weather] })).final();
    const [call] = toolCallsOf(response);
    expect(call).toMatchObject({ id: "toolu_bad", arguments: undefined, rawArguments: raw });
    expect(call?.argumentsError).toMatch(/not valid JSON/);
  });

  it("reports cumulative usage: message_start counts, then the output merged in", async () => {
    const { provider } = await setup([
      {
        text: "abc",
        usage: { inputTokens: 7, outputTokens: 9, cacheReadInputTokens: 5, cacheCreationInputTokens: 3 },
      },
    ]);
    const events = await collect(provider.stream(ask()));
    expect(events.filter((e) => e.type === "usage").map((e) => e.usage)).toEqual([
      { inputTokens: 15, outputTokens: 1, cacheReadTokens: 5, cacheWriteTokens: 3, reasoningTokens: 0 },
      { inputTokens: 15, outputTokens: 9, cacheReadTokens: 5, cacheWriteTokens: 3, reasoningTokens: 0 },
    ]);
  });

  it("sends nothing until the stream is consumed", async () => {
    const { server, provider } = await setup([{ text: "late" }]);
    const stream = provider.stream(ask());
    expect(server.requests).toHaveLength(0);
    expect(textOf(await stream.final())).toBe("late");
    expect(server.requests).toHaveLength(1);
  });

  it("completes a 10,000-delta stream with the exact text (linear assembly)", async () => {
    const text = Array.from({ length: 10_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const { provider } = await setup([{ text }], { latency: { chunkSize: 1 } });
    let deltas = 0;
    const stream = provider.stream(ask());
    for await (const event of stream) if (event.type === "text_delta") deltas += 1;
    expect(deltas).toBe(10_000);
    expect(textOf(await stream.final())).toBe(text);
  });
});

describe("AnthropicProvider abort", () => {
  it("aborting mid-stream closes the request and fails with kind aborted and the partial text", async () => {
    const { server, provider } = await setup([{ text: "x".repeat(500) }], {
      latency: { chunkSize: 1, chunkDelayMs: 2 },
    });
    const controller = new AbortController();
    const stream = provider.stream(ask(), { signal: controller.signal });
    let seen = 0;
    const failure = await (async () => {
      try {
        for await (const event of stream) {
          if (event.type === "text_delta" && ++seen === 3) controller.abort();
        }
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ kind: "aborted", retryable: false });
    expect(textOf((failure as ProviderError).partial ?? { content: [] })).toMatch(/^x{3,}$/);
    await expect(stream.final()).rejects.toMatchObject({ kind: "aborted" });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("breaking out of the stream closes the request", async () => {
    const { server, provider } = await setup([{ text: "y".repeat(500) }], {
      latency: { chunkSize: 1, chunkDelayMs: 2 },
    });
    const stream = provider.stream(ask());
    for await (const event of stream) if (event.type === "text_delta") break;
    await expect(stream.final()).rejects.toMatchObject({ kind: "aborted" });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("aborting complete() while the server waits closes the request", async () => {
    const controller = new AbortController();
    const { server, provider } = await setup([
      () => {
        controller.abort();
        return { text: "too late", latency: { firstByteMs: 50 } };
      },
    ]);
    await expect(provider.complete(ask(), { signal: controller.signal })).rejects.toMatchObject({
      name: "ProviderError",
      kind: "aborted",
      provider: "anthropic",
    });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("an already aborted signal fails at once without a request", async () => {
    const { server, provider } = await setup([{ text: "never" }]);
    const signal = AbortSignal.abort();
    await expect(provider.complete(ask(), { signal })).rejects.toMatchObject({ kind: "aborted" });
    await expect(provider.stream(ask(), { signal }).final()).rejects.toMatchObject({ kind: "aborted" });
    await expect(provider.countTokens(ask(), { signal })).rejects.toMatchObject({ kind: "aborted" });
    expect(server.requests).toHaveLength(0);
  });
});

describe("AnthropicProvider.countTokens", () => {
  it("counts with /v1/messages/count_tokens, without max_tokens and without taking a turn", async () => {
    const { server, provider } = await setup([{ text: "unused" }]);
    const request = ask("How many tokens is this?", {
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "How many tokens is this?" },
      ],
      tools: [weather],
      toolChoice: "auto",
      maxTokens: 100,
      temperature: 1,
      stop: ["x"],
      extras: { metadata: { user_id: "u" } },
    });
    const count = await provider.countTokens(request);
    expect(server.requests[0]?.endpoint).toBe("count_tokens");
    expect(count).toBe(estimateRequestTokens(bodyOf(server)));
    expect(bodyOf(server)).toEqual({
      model,
      system: "You are terse.",
      messages: [{ role: "user", content: "How many tokens is this?" }],
      tools: [{ name: "get_weather", description: "Weather for a city", input_schema: weather.inputSchema }],
      tool_choice: { type: "auto" },
    });
    expect(server.remainingTurns).toBe(1);
  });
});

describe("AnthropicProvider configuration", () => {
  const saved = { key: process.env.ANTHROPIC_API_KEY, url: process.env.ANTHROPIC_BASE_URL };
  afterEach(() => {
    for (const [name, value] of [
      ["ANTHROPIC_API_KEY", saved.key],
      ["ANTHROPIC_BASE_URL", saved.url],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL from the environment", async () => {
    const { server } = await setup([{ text: "from env" }]);
    process.env.ANTHROPIC_API_KEY = "env-key";
    process.env.ANTHROPIC_BASE_URL = server.anthropicBaseURL;
    const provider = new AnthropicProvider();
    expect(provider.name).toBe("anthropic");
    expect(textOf(await provider.complete(ask()))).toBe("from env");
    expect(server.requests[0]?.headers.authorization).toBe("Bearer env-key");
  });

  it("prefers explicit options over the environment", async () => {
    const { server } = await setup([{ text: "explicit" }]);
    process.env.ANTHROPIC_API_KEY = "env-key";
    process.env.ANTHROPIC_BASE_URL = "http://127.0.0.1:1";
    const provider = new AnthropicProvider({
      apiKey: "option-key",
      baseURL: server.anthropicBaseURL,
      defaultHeaders: { "x-team": "normandy" },
      name: "claude",
    });
    expect(provider.name).toBe("claude");
    await provider.complete(ask());
    expect(server.requests[0]?.headers).toMatchObject({
      authorization: "Bearer option-key",
      "x-team": "normandy",
    });
  });

  it("fails at construction with kind auth when no key is found", () => {
    delete process.env.ANTHROPIC_API_KEY;
    expect(() => new AnthropicProvider()).toThrow(ProviderError);
    try {
      new AnthropicProvider({ name: "claude" });
    } catch (error) {
      expect(error).toMatchObject({ kind: "auth", retryable: false, provider: "claude" });
      expect((error as Error).message).toMatch(/ANTHROPIC_API_KEY/);
    }
    process.env.ANTHROPIC_API_KEY = "";
    expect(() => new AnthropicProvider()).toThrow(/no Anthropic API key/);
  });

  it("uses a given client, but never lets it retry", async () => {
    const { server } = await setup([{ fault: { kind: "server_error" } }, { text: "second" }]);
    const client = new Anthropic({ apiKey: "client-key", baseURL: server.anthropicBaseURL, maxRetries: 3 });
    delete process.env.ANTHROPIC_API_KEY;
    const provider = new AnthropicProvider({ client });
    await expect(provider.complete(ask())).rejects.toMatchObject({ kind: "server", status: 500 });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.headers.authorization).toBe("Bearer client-key");
  });

  it("applies timeoutMs (kind timeout) and defaultMaxTokens", async () => {
    const { server } = await setup([{ text: "slow", latency: { firstByteMs: 300 } }, { text: "fast" }]);
    const provider = new AnthropicProvider({
      apiKey: "k",
      baseURL: server.anthropicBaseURL,
      timeoutMs: 50,
      defaultMaxTokens: 77,
    });
    await expect(provider.complete(ask())).rejects.toMatchObject({ kind: "timeout", retryable: true });
    expect(bodyOf(server).max_tokens).toBe(77);
  });

  it("rejects a request it cannot express with kind invalid_request, before sending it", async () => {
    const { server, provider } = await setup([{ text: "never" }]);
    const bad: ModelRequest = { model, messages: [{ role: "tool", content: "Tool result: 42" }] };
    await expect(provider.complete(bad)).rejects.toMatchObject({ kind: "invalid_request" });
    await expect(provider.stream(bad).final()).rejects.toMatchObject({ kind: "invalid_request" });
    await expect(provider.countTokens(bad)).rejects.toMatchObject({ kind: "invalid_request" });
    expect(server.requests).toHaveLength(0);
  });

  it("rejects a 200 response that is not a message or a count (kind server)", async () => {
    const fetchNull = async () => new Response("null", { headers: { "content-type": "application/json" } });
    const client = new Anthropic({
      apiKey: "k",
      baseURL: "http://127.0.0.1:9",
      fetch: fetchNull,
      maxRetries: 0,
    });
    const provider = new AnthropicProvider({ client });
    await expect(provider.complete(ask())).rejects.toMatchObject({ kind: "server" });
    await expect(provider.countTokens(ask())).rejects.toMatchObject({ kind: "server" });
  });
});

describe("AnthropicProvider content round trip through the server", () => {
  it("sends redacted thinking back as redacted_thinking", async () => {
    const { server, provider } = await setup([{ text: "ok" }]);
    const content: ContentBlock[] = [
      { type: "thinking", thinking: "", redacted: "EmwKAhgBEgy3va3pzix" },
      { type: "text", text: "Done." },
    ];
    await provider.complete({
      model,
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content },
        { role: "user", content: "again" },
      ],
    });
    expect((bodyOf(server).messages as unknown[])[1]).toEqual({
      role: "assistant",
      content: [
        { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix" },
        { type: "text", text: "Done." },
      ],
    });
  });
});
