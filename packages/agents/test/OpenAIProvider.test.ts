// The OpenAI provider over HTTP: the real openai SDK against the loopback server — text, streaming, tool
// calls assembled by index, structured output, usage, the request body sent, abort, configuration.
import {
  type ModelRequest,
  type Provider,
  ProviderError,
  type StreamEvent,
  type ToolDefinition,
  textOf,
  toolCallsOf,
} from "@normandy/agents";
import { LoopbackLLMServer, type LoopbackLLMServerOptions, type ScriptedTurn } from "@normandy/testing";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { OpenAIProvider, type OpenAIProviderOptions } from "../src/providers/openai/OpenAIProvider.js";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(
  script: ScriptedTurn[],
  options: Omit<LoopbackLLMServerOptions, "script"> = {},
  providerOptions: OpenAIProviderOptions = {},
) {
  const server = await new LoopbackLLMServer({ script, ...options }).start();
  servers.push(server);
  const provider = new OpenAIProvider({ apiKey: "test", baseURL: server.openaiBaseURL, ...providerOptions });
  return { server, provider };
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error("expected a rejection");
}

const model = "gpt-4o-mini";
const hello: ModelRequest = { model, messages: [{ role: "user", content: "Hi" }] };
const weather: ToolDefinition = {
  name: "get_weather",
  description: "Weather for a city",
  inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

describe("OpenAIProvider.complete", () => {
  it("answers text with the mapped stop reason and usage", async () => {
    const { provider, server } = await setup([
      { text: "Sunny in Paris.", usage: { inputTokens: 12, outputTokens: 4 } },
    ]);
    const response = await provider.complete(hello);
    expect(response).toEqual({
      id: "chatcmpl-Loopback000000000000000000001",
      model,
      content: [{ type: "text", text: "Sunny in Paris." }],
      stopReason: "end_turn",
      rawStopReason: "stop",
      usage: {
        inputTokens: 12,
        outputTokens: 4,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      },
    });
    expect(server.requests[0]?.body).toEqual({ model, messages: [{ role: "user", content: "Hi" }] });
    expect(server.requests[0]?.headers.authorization).toBe("Bearer test");
    expect(provider.name).toBe("openai");
    expect((provider satisfies Provider as Provider).countTokens).toBeUndefined();
  });

  it("answers tool calls with parsed arguments, after the text", async () => {
    const { provider } = await setup([
      {
        text: "Checking.",
        toolCalls: [
          { name: "get_weather", arguments: { city: "Paris" }, id: "call_paris" },
          { name: "get_weather", arguments: { city: "Rome" } },
        ],
      },
    ]);
    const response = await provider.complete({ ...hello, tools: [weather] });
    expect(response.stopReason).toBe("tool_use");
    expect(response.rawStopReason).toBe("tool_calls");
    expect(response.content).toEqual([
      { type: "text", text: "Checking." },
      {
        type: "tool_call",
        id: "call_paris",
        name: "get_weather",
        arguments: { city: "Paris" },
        rawArguments: '{"city":"Paris"}',
      },
      {
        type: "tool_call",
        id: "call_Loopback00000000001",
        name: "get_weather",
        arguments: { city: "Rome" },
        rawArguments: '{"city":"Rome"}',
      },
    ]);
  });

  it("maps length and stop-sequence finishes", async () => {
    const { provider } = await setup([
      { text: "trunc", stopReason: "max_tokens" },
      { text: "until", stopReason: "stop_sequence" },
    ]);
    const first = await provider.complete({ ...hello, maxTokens: 5 });
    expect([first.stopReason, first.rawStopReason]).toEqual(["max_tokens", "length"]);
    const second = await provider.complete({ ...hello, stop: ["END"] });
    expect([second.stopReason, second.rawStopReason]).toEqual(["end_turn", "stop"]);
  });

  it("keeps malformed tool JSON as rawArguments with argumentsError, streamed or not", async () => {
    const raw = '{"city": "Paris", oops}';
    const { provider } = await setup(
      [
        { toolCalls: [{ name: "get_weather", rawArguments: raw, id: "c1" }] },
        { toolCalls: [{ name: "get_weather", rawArguments: raw, id: "c2" }] },
      ],
      { latency: { chunkSize: 3 } },
    );
    for (const response of [
      await provider.complete({ ...hello, tools: [weather] }),
      await provider.stream({ ...hello, tools: [weather] }).final(),
    ]) {
      const [call] = toolCallsOf(response);
      expect(call).toMatchObject({
        name: "get_weather",
        arguments: undefined,
        rawArguments: raw,
        argumentsError: expect.stringMatching(/not valid JSON/),
      });
      expect(response.stopReason).toBe("tool_use");
    }
  });

  it("returns json_schema structured output as text, and sends the response_format", async () => {
    const { provider, server } = await setup([{ json: { city: "Paris", temperature: 21 } }, { json: [1] }]);
    const schema = {
      type: "object",
      properties: { city: { type: "string" }, temperature: { type: "number" } },
      required: ["city", "temperature"],
      additionalProperties: false,
    };
    const response = await provider.complete({
      ...hello,
      responseFormat: { type: "json_schema", name: "weather", schema, strict: true },
    });
    expect(JSON.parse(textOf(response))).toEqual({ city: "Paris", temperature: 21 });
    expect(server.requests[0]?.body).toMatchObject({
      response_format: { type: "json_schema", json_schema: { name: "weather", schema, strict: true } },
    });
    await provider.complete({ ...hello, responseFormat: { type: "json_object" } });
    expect(server.requests[1]?.body).toMatchObject({ response_format: { type: "json_object" } });
  });

  it("reports usage with cached and reasoning tokens (prompt_tokens includes the cache)", async () => {
    const usage = { inputTokens: 100, cacheReadInputTokens: 900, outputTokens: 50, reasoningTokens: 7 };
    const { provider } = await setup([
      { text: "Done.", usage },
      { text: "Done.", usage },
    ]);
    const expected = {
      inputTokens: 1000,
      cacheReadTokens: 900,
      cacheWriteTokens: 0,
      outputTokens: 50,
      reasoningTokens: 7,
    };
    expect((await provider.complete(hello)).usage).toEqual(expected);
    const stream = provider.stream(hello);
    const events = await collect(stream);
    expect(events.filter((e) => e.type === "usage")).toEqual([{ type: "usage", usage: expected }]);
    expect((await stream.final()).usage).toEqual(expected);
  });

  it("sends the whole request body: messages of every kind, tools, choices and sampling, extras last", async () => {
    const { provider, server } = await setup([{ text: "ok" }, { text: "ok" }]);
    const request: ModelRequest = {
      model,
      messages: [
        { role: "system", content: "You are terse." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is on these?" },
            { type: "image", source: { kind: "base64", mediaType: "image/png", data: "iVBORw0KGgo=" } },
            { type: "image", source: { kind: "url", url: "https://example.com/cat.jpg" } },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hidden", signature: "sig" },
            { type: "text", text: "Let me look." },
            {
              type: "tool_call",
              id: "c1",
              name: "get_weather",
              arguments: { city: "Paris" },
              rawArguments: '{"city":"Paris"}',
            },
            {
              type: "tool_call",
              id: "c2",
              name: "get_weather",
              arguments: { city: "Rome" },
              rawArguments: '{"city":"Rome"}',
            },
          ],
        },
        {
          role: "tool",
          content: [
            { type: "tool_result", toolCallId: "c1", content: "21°C" },
            { type: "tool_result", toolCallId: "c2", content: [{ type: "text", text: "25°C" }] },
          ],
        },
      ],
      tools: [weather],
      toolChoice: { name: "get_weather" },
      parallelToolCalls: false,
      temperature: 0.2,
      topP: 0.9,
      maxTokens: 256,
      stop: ["END"],
      thinking: { budgetTokens: 1000 },
      cache: true,
      extras: { reasoning_effort: "low", temperature: 0.5 },
    };
    await provider.complete(request);
    const messages = [
      { role: "system", content: "You are terse." },
      {
        role: "user",
        content: [
          { type: "text", text: "What is on these?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
        ],
      },
      {
        role: "assistant",
        content: [{ type: "text", text: "Let me look." }],
        tool_calls: [
          { id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          { id: "c2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "c1", content: "21°C" },
      { role: "tool", tool_call_id: "c2", content: [{ type: "text", text: "25°C" }] },
    ];
    expect(server.requests[0]?.body).toEqual({
      model,
      messages,
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Weather for a city",
            parameters: weather.inputSchema,
          },
        },
      ],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      parallel_tool_calls: false,
      temperature: 0.5,
      top_p: 0.9,
      max_completion_tokens: 256,
      stop: ["END"],
      reasoning_effort: "low",
    });

    await provider.stream({ ...hello, tools: [weather], toolChoice: "required" }).final();
    expect(server.requests[1]?.body).toEqual({
      model,
      messages: [{ role: "user", content: "Hi" }],
      tools: [expect.objectContaining({ type: "function" })],
      tool_choice: "required",
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("uses max_tokens when asked (for compatible servers), and leaves tool settings out without tools", async () => {
    const { provider, server } = await setup(
      [{ text: "ok" }],
      {},
      { maxTokensField: "max_tokens", name: "vllm" },
    );
    await provider.complete({
      ...hello,
      maxTokens: 64,
      tools: [],
      toolChoice: "auto",
      parallelToolCalls: true,
    });
    expect(server.requests[0]?.body).toEqual({
      model,
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 64,
    });
    expect(provider.name).toBe("vllm");
  });
});

describe("OpenAIProvider.stream", () => {
  it("streams text deltas, usage and the end", async () => {
    const { provider, server } = await setup([{ text: "Sunny and warm." }], { latency: { chunkSize: 4 } });
    const stream = provider.stream(hello);
    expect(server.requests).toHaveLength(0); // nothing is sent before the stream is consumed
    const events = await collect(stream);
    const response = await stream.final();
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "text_delta",
      "text_delta",
      "text_delta",
      "text_delta",
      "usage",
      "message_end",
    ]);
    expect(events[0]).toEqual({ type: "message_start", id: response.id, model });
    expect(events.filter((e) => e.type === "text_delta").map((e) => e.text)).toEqual([
      "Sunn",
      "y an",
      "d wa",
      "rm.",
    ]);
    expect(events.every((e) => e.type !== "text_delta" || e.index === 0)).toBe(true);
    expect(response).toMatchObject({
      content: [{ type: "text", text: "Sunny and warm." }],
      stopReason: "end_turn",
      rawStopReason: "stop",
    });
    expect(response.usage.outputTokens).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({ type: "message_end", response });
    expect(server.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("assembles several tool calls by index from many argument deltas", async () => {
    const { provider } = await setup(
      [
        {
          text: "Checking.",
          toolCalls: [
            { name: "get_weather", arguments: { city: "Paris", unit: "celsius" }, id: "call_paris" },
            { name: "get_weather", arguments: { city: "Rome", unit: "celsius" }, id: "call_rome" },
            { name: "noop", arguments: {}, id: "call_noop" },
          ],
        },
      ],
      { latency: { chunkSize: 2 } },
    );
    const stream = provider.stream({ ...hello, tools: [weather] });
    const events = await collect(stream);
    const response = await stream.final();
    const starts = events.filter((e) => e.type === "tool_call_start");
    expect(starts).toEqual([
      { type: "tool_call_start", index: 1, id: "call_paris", name: "get_weather" },
      { type: "tool_call_start", index: 2, id: "call_rome", name: "get_weather" },
      { type: "tool_call_start", index: 3, id: "call_noop", name: "noop" },
    ]);
    const deltas = events.filter((e) => e.type === "tool_call_delta");
    expect(deltas.length).toBeGreaterThan(20);
    expect(deltas.every((d) => d.delta.length <= 2)).toBe(true);
    expect(
      deltas
        .filter((d) => d.index === 2)
        .map((d) => d.delta)
        .join(""),
    ).toBe('{"city":"Rome","unit":"celsius"}');
    expect(deltas.filter((d) => d.index === 1).every((d) => d.id === "call_paris")).toBe(true);
    // every call ends together at the finish chunk, after all the deltas and before usage
    const types = events.map((e) => e.type);
    expect(types.slice(-5)).toEqual([
      "tool_call_end",
      "tool_call_end",
      "tool_call_end",
      "usage",
      "message_end",
    ]);
    expect(events.filter((e) => e.type === "tool_call_end").map((e) => e.call.arguments)).toEqual([
      { city: "Paris", unit: "celsius" },
      { city: "Rome", unit: "celsius" },
      {},
    ]);
    expect(response.stopReason).toBe("tool_use");
    expect(textOf(response)).toBe("Checking.");
    expect(toolCallsOf(response).map((c) => [c.id, c.rawArguments])).toEqual([
      ["call_paris", '{"city":"Paris","unit":"celsius"}'],
      ["call_rome", '{"city":"Rome","unit":"celsius"}'],
      ["call_noop", "{}"],
    ]);
  });

  it("streams json_schema output in pieces that join to the JSON", async () => {
    const { provider } = await setup([{ json: { ok: true, items: [1, 2, 3] } }], {
      latency: { chunkSize: 2 },
    });
    const response = await provider
      .stream({ ...hello, responseFormat: { type: "json_schema", name: "r", schema: { type: "object" } } })
      .final();
    expect(JSON.parse(textOf(response))).toEqual({ ok: true, items: [1, 2, 3] });
  });

  it("is linear: a 10,000-delta stream completes with its exact text", async () => {
    const text = Array.from({ length: 10_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const { provider } = await setup([{ text }], { latency: { chunkSize: 1 } });
    let deltas = 0;
    const stream = provider.stream(hello);
    for await (const event of stream) if (event.type === "text_delta") deltas += 1;
    expect(deltas).toBe(10_000);
    expect(textOf(await stream.final())).toBe(text);
  });
});

describe("abort", () => {
  it("aborting mid-stream closes the request: the server sees the disconnect, the error is aborted", async () => {
    const { provider, server } = await setup([{ text: "x".repeat(400) }], {
      latency: { chunkSize: 4, chunkDelayMs: 5 },
    });
    const controller = new AbortController();
    const stream = provider.stream(hello, { signal: controller.signal });
    let received = "";
    const error = await rejection(
      (async () => {
        for await (const event of stream) {
          if (event.type === "text_delta") {
            received += event.text;
            controller.abort();
          }
        }
      })(),
    );
    expect(error).toMatchObject({ kind: "aborted", retryable: false, provider: "openai" });
    expect(textOf(error.partial ?? { content: [] })).toBe(received);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
    expect(server.requests[0]?.outcome).toBe("client_disconnected");
  });

  it("a consumer that stops early closes the request too", async () => {
    const { provider, server } = await setup([{ text: "y".repeat(400) }], {
      latency: { chunkSize: 4, chunkDelayMs: 5 },
    });
    const stream = provider.stream(hello);
    for await (const event of stream) if (event.type === "text_delta") break;
    await expect(stream.final()).rejects.toMatchObject({ kind: "aborted" });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("aborting complete() while waiting for the response closes the request", async () => {
    const controller = new AbortController();
    const { provider, server } = await setup([
      () => {
        controller.abort();
        return { text: "too late", latency: { firstByteMs: 5_000 } };
      },
    ]);
    const error = await rejection(provider.complete(hello, { signal: controller.signal }));
    expect(error).toMatchObject({ kind: "aborted", retryable: false });
    expect(error.cause).toBeInstanceOf(OpenAI.APIUserAbortError);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("an already aborted signal fails at once, stream or not, and sends nothing", async () => {
    const { provider, server } = await setup([]);
    const signal = AbortSignal.abort();
    expect(await rejection(provider.complete(hello, { signal }))).toMatchObject({ kind: "aborted" });
    expect(await rejection(provider.stream(hello, { signal }).final())).toMatchObject({ kind: "aborted" });
    expect(server.requests).toHaveLength(0);
  });
});

describe("configuration", () => {
  const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
  afterEach(() => {
    for (const [name, value] of [
      ["OPENAI_API_KEY", saved.key],
      ["OPENAI_BASE_URL", saved.url],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("reads OPENAI_API_KEY and OPENAI_BASE_URL from the environment", async () => {
    const { server } = await setup([{ text: "from env" }]);
    process.env.OPENAI_API_KEY = "env-key";
    process.env.OPENAI_BASE_URL = server.openaiBaseURL;
    const provider = new OpenAIProvider();
    expect(textOf(await provider.complete(hello))).toBe("from env");
    expect(server.requests[0]?.headers.authorization).toBe("Bearer env-key");
  });

  it("fails at construction with a typed auth error when there is no key and no base URL", () => {
    delete process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_BASE_URL;
    let error: unknown;
    try {
      new OpenAIProvider({ name: "openai-test" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "auth", retryable: false, provider: "openai-test" });
    expect((error as Error).message).toMatch(/OPENAI_API_KEY/);
    process.env.OPENAI_API_KEY = "";
    expect(() => new OpenAIProvider()).toThrow(/no OpenAI API key/);
    expect(() => new OpenAIProvider({ apiKey: "", baseURL: "" })).toThrow(/no OpenAI API key/);
  });

  it("sends a placeholder key to a base URL that needs none; passes headers and organization", async () => {
    delete process.env.OPENAI_API_KEY;
    const { server } = await setup([{ text: "local" }]);
    const provider = new OpenAIProvider({
      baseURL: server.openaiBaseURL,
      organization: "org-test",
      defaultHeaders: { "x-team": "normandy" },
    });
    expect(textOf(await provider.complete(hello))).toBe("local");
    expect(server.requests[0]?.headers).toMatchObject({
      authorization: "Bearer no-key",
      "openai-organization": "org-test",
      "x-team": "normandy",
    });
  });

  it("uses a given client, never retries, and names its errors after the provider", async () => {
    const { server } = await setup([
      { fault: { kind: "server_error" } },
      { fault: { kind: "server_error" } },
    ]);
    const client = new OpenAI({ apiKey: "own", baseURL: server.openaiBaseURL, maxRetries: 3 });
    const provider = new OpenAIProvider({ client, name: "vllm" });
    expect(await rejection(provider.complete(hello))).toMatchObject({ kind: "server", provider: "vllm" });
    expect(await rejection(provider.stream(hello).final())).toMatchObject({
      kind: "server",
      provider: "vllm",
    });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers.authorization).toBe("Bearer own");
  });

  it("fails with a typed server error when a 200 response is not a chat.completion", async () => {
    const client = new OpenAI({
      apiKey: "k",
      baseURL: "http://127.0.0.1:9/v1",
      fetch: async () =>
        new Response("<html>proxy page</html>", { headers: { "content-type": "text/html" } }),
    });
    const error = await rejection(new OpenAIProvider({ client }).complete(hello));
    expect(error).toMatchObject({ kind: "server", message: expect.stringMatching(/not a chat.completion/) });
  });

  it("times out after timeoutMs", async () => {
    const { provider, server } = await setup(
      [{ text: "slow", latency: { firstByteMs: 2_000 } }],
      {},
      { timeoutMs: 50 },
    );
    const error = await rejection(provider.complete(hello));
    expect(error).toMatchObject({ kind: "timeout", retryable: true });
    expect(error.cause).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });
});
