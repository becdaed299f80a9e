// Every failure of the OpenAI provider is a classified ProviderError: HTTP faults from the loopback server,
// transport faults (reset, cut, empty, in-stream error) with the partial output, and the classifier's table.
import { type ModelRequest, ProviderError, type ProviderErrorKind, textOf } from "@normandy/agents";
import { type Fault, LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { OpenAIProvider } from "../src/providers/openai/OpenAIProvider.js";
import { classifyOpenAIError } from "../src/providers/openai/openaiErrors.js";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(script: ScriptedTurn[], chunkSize = 16) {
  const server = await new LoopbackLLMServer({ script, latency: { chunkSize } }).start();
  servers.push(server);
  return { server, provider: new OpenAIProvider({ apiKey: "test", baseURL: server.openaiBaseURL }) };
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

const hello: ModelRequest = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] };
const firstRequestId = "req_Loopback0000000000000001";

describe("HTTP faults → ProviderError, complete and stream alike", () => {
  const cases: [string, Fault, ProviderErrorKind, number, boolean, number | undefined][] = [
    [
      "429 retry-after seconds and ms",
      { kind: "rate_limit", retryAfterSeconds: 2 },
      "rate_limit",
      429,
      true,
      2000,
    ],
    [
      "429 retry-after seconds only",
      { kind: "rate_limit", retryAfterSeconds: 3, retryAfterMs: null },
      "rate_limit",
      429,
      true,
      3000,
    ],
    [
      "429 retry-after-ms only",
      { kind: "rate_limit", retryAfterSeconds: null, retryAfterMs: 250 },
      "rate_limit",
      429,
      true,
      250,
    ],
    ["429 insufficient_quota", { kind: "quota_exhausted" }, "quota_exhausted", 429, false, undefined],
    ["500", { kind: "server_error" }, "server", 500, true, undefined],
    ["503 unavailable", { kind: "unavailable" }, "server", 503, true, undefined],
    ["503 overloaded", { kind: "overloaded" }, "server", 503, true, undefined],
    ["502", { kind: "http", status: 502 }, "server", 502, true, undefined],
    ["504", { kind: "http", status: 504 }, "server", 504, true, undefined],
    ["529", { kind: "http", status: 529, type: "overloaded_error" }, "overloaded", 529, true, undefined],
    ["401", { kind: "authentication" }, "auth", 401, false, undefined],
    ["403", { kind: "permission" }, "permission", 403, false, undefined],
    ["400 context_length", { kind: "context_length" }, "context_length_exceeded", 400, false, undefined],
    [
      "400 context message without code (vLLM)",
      {
        kind: "http",
        status: 400,
        message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
      },
      "context_length_exceeded",
      400,
      false,
      undefined,
    ],
    [
      "400 content filter",
      { kind: "http", status: 400, code: "content_filter", message: "flagged" },
      "content_filter",
      400,
      false,
      undefined,
    ],
    ["400", { kind: "http", status: 400, code: "invalid_value" }, "invalid_request", 400, false, undefined],
    ["404", { kind: "http", status: 404, code: "model_not_found" }, "invalid_request", 404, false, undefined],
    ["422", { kind: "http", status: 422 }, "invalid_request", 422, false, undefined],
    ["408", { kind: "http", status: 408 }, "timeout", 408, true, undefined],
    [
      "503 with retry-after",
      { kind: "unavailable", headers: { "retry-after": "5" } },
      "server",
      503,
      true,
      5000,
    ],
  ];

  it.each(cases)("%s", async (_name, fault, kind, status, retryable, retryAfterMs) => {
    const { provider, server } = await setup([{ fault }, { fault }]);
    for (const error of [
      await rejection(provider.complete(hello)),
      await rejection(provider.stream(hello).final()),
    ]) {
      expect(error).toMatchObject({ kind, status, retryable, provider: "openai", retryAfterMs });
      expect(error.requestId).toMatch(/^req_Loopback/);
      expect(error.cause).toBeInstanceOf(OpenAI.APIError);
    }
    expect(server.requests.map((r) => r.status)).toEqual([status, status]);
  });

  it("keeps the request id and the SDK error", async () => {
    const { provider } = await setup([{ fault: { kind: "authentication" } }]);
    const error = await rejection(provider.complete(hello));
    expect(error.requestId).toBe(firstRequestId);
    expect(error.cause).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.message).toMatch(/Incorrect API key/);
  });
});

describe("transport faults", () => {
  it("connection reset → network, complete and stream", async () => {
    const { provider } = await setup([
      { fault: { kind: "connection_reset" } },
      { fault: { kind: "connection_reset" } },
    ]);
    const plain = await rejection(provider.complete(hello));
    expect(plain).toMatchObject({ kind: "network", retryable: true, status: undefined });
    expect(plain.cause).toBeInstanceOf(OpenAI.APIConnectionError);
    const streamed = await rejection(provider.stream(hello).final());
    expect(streamed).toMatchObject({ kind: "network", retryable: true });
    expect(streamed.partial?.content).toEqual([]);
  });

  it("stream cut mid-way → network, with the text received so far as partial", async () => {
    const { provider, server } = await setup(
      [{ fault: { kind: "stream_cut", afterEvents: 5, reply: { text: "abcdefghijklmnop" } } }],
      2,
    );
    const received: string[] = [];
    const stream = provider.stream(hello);
    const error = await rejection(
      (async () => {
        for await (const event of stream) if (event.type === "text_delta") received.push(event.text);
      })(),
    );
    expect(error).toMatchObject({ kind: "network", retryable: true });
    expect((error.cause as Error).message).toBe("terminated");
    expect(received.join("")).toBe("abcdefgh");
    expect(error.partial && textOf(error.partial)).toBe("abcdefgh");
    expect(error.partial?.id).toMatch(/^chatcmpl-/);
    await expect(stream.final()).rejects.toBe(error);
    await server.idle();
    expect(server.requests[0]?.outcome).toBe("stream_cut");
  });

  it("stream cut inside a tool call → the partial call says it was not complete", async () => {
    const { provider } = await setup(
      [
        {
          fault: {
            kind: "stream_cut",
            afterEvents: 5,
            reply: { toolCalls: [{ name: "f", arguments: { query: "a long query" }, id: "c1" }] },
          },
        },
      ],
      3,
    );
    const error = await rejection(provider.stream(hello).final());
    expect(error.kind).toBe("network");
    expect(error.partial?.content).toEqual([
      expect.objectContaining({
        type: "tool_call",
        id: "c1",
        name: "f",
        arguments: undefined,
        argumentsError: expect.stringMatching(/before the tool call was complete/),
      }),
    ]);
  });

  it("a non-streamed body cut half-way → network", async () => {
    const { provider } = await setup([{ fault: { kind: "stream_cut" } }]);
    expect(await rejection(provider.complete(hello))).toMatchObject({ kind: "network", retryable: true });
  });

  it("an error event inside the stream → server, with the partial text", async () => {
    const { provider } = await setup(
      [{ fault: { kind: "stream_error", afterEvents: 3, reply: { text: "partial answer" } } }],
      4,
    );
    const error = await rejection(provider.stream(hello).final());
    expect(error).toMatchObject({ kind: "server", retryable: true, status: undefined });
    expect(error.cause).toBeInstanceOf(OpenAI.APIError);
    expect(error.partial && textOf(error.partial)).toBe("partial answer".slice(0, 8));
  });

  it("an empty stream → a typed server error; an empty body → server too", async () => {
    const { provider } = await setup([
      { fault: { kind: "empty_stream" } },
      { fault: { kind: "empty_stream" } },
    ]);
    const streamed = await rejection(provider.stream(hello).final());
    expect(streamed).toMatchObject({
      kind: "server",
      retryable: true,
      message: expect.stringMatching(/empty/),
    });
    const plain = await rejection(provider.complete(hello));
    expect(plain).toMatchObject({ kind: "server", retryable: true });
    expect(plain.cause).toBeInstanceOf(SyntaxError);
  });

  it("a script exhausted on the server (HTTP 500) → server", async () => {
    const { provider } = await setup([]);
    expect(await rejection(provider.complete(hello))).toMatchObject({ kind: "server", status: 500 });
  });
});

describe("classifyOpenAIError", () => {
  const headers = new Headers({ "x-request-id": "req_1", "retry-after-ms": "1500" });
  const apiError = (status: number | undefined, body: object | undefined, h = headers) =>
    OpenAI.APIError.generate(status, body === undefined ? undefined : { error: body }, "failed", h);

  it("passes ProviderErrors through and classifies aborts", () => {
    const own = new ProviderError({ kind: "auth", provider: "p", message: "m" });
    expect(classifyOpenAIError(own)).toBe(own);
    expect(classifyOpenAIError(new OpenAI.APIUserAbortError())).toMatchObject({
      kind: "aborted",
      provider: "openai",
    });
    expect(classifyOpenAIError(new DOMException("gone", "AbortError"))).toMatchObject({ kind: "aborted" });
    expect(classifyOpenAIError(new Error("anything"), { signal: AbortSignal.abort() })).toMatchObject({
      kind: "aborted",
    });
  });

  it("classifies connection failures, timeouts and undici's socket errors", () => {
    const cases: [unknown, ProviderErrorKind][] = [
      [new OpenAI.APIConnectionTimeoutError(), "timeout"],
      [new OpenAI.APIConnectionError({ message: "Connection error." }), "network"],
      [
        new OpenAI.APIConnectionError({
          message: "Connection error.",
          cause: Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }),
        }),
        "network",
      ],
      [
        new OpenAI.APIConnectionError({
          message: "Connection error.",
          cause: Object.assign(new Error("connect"), { code: "UND_ERR_CONNECT_TIMEOUT" }),
        }),
        "timeout",
      ],
      [new TypeError("terminated", { cause: new Error("other side closed") }), "network"],
      [Object.assign(new Error("read"), { code: "ECONNRESET" }), "network"],
      [
        new Error("wrapped", { cause: Object.assign(new Error("body"), { code: "UND_ERR_BODY_TIMEOUT" }) }),
        "timeout",
      ],
      [new SyntaxError("Unexpected end of JSON input"), "server"],
      [new Error("something odd"), "network"],
      ["a string", "network"],
    ];
    for (const [error, kind] of cases) {
      const classified = classifyOpenAIError(error, { provider: "p" });
      expect([classified.kind, classified.provider, classified.cause]).toEqual([kind, "p", error]);
    }
  });

  it("classifies status errors and in-stream error events", () => {
    const cases: [number | undefined, object | undefined, ProviderErrorKind][] = [
      [429, { type: "insufficient_quota", code: null }, "quota_exhausted"],
      [429, { type: "requests", code: "rate_limit_exceeded" }, "rate_limit"],
      [
        400,
        { message: "Please reduce the length: context window exceeded", code: null },
        "context_length_exceeded",
      ],
      [400, { code: "content_policy_violation" }, "content_filter"],
      [409, { message: "conflict" }, "invalid_request"],
      [413, undefined, "invalid_request"],
      [418, { message: "teapot" }, "invalid_request"],
      [599, undefined, "server"],
      [undefined, { type: "server_error", message: "boom" }, "server"],
      [undefined, { type: "tokens", code: "rate_limit_exceeded" }, "rate_limit"],
      [undefined, { type: "insufficient_quota" }, "quota_exhausted"],
      [undefined, { type: "overloaded_error" }, "overloaded"],
      [undefined, { type: "invalid_request_error", message: "bad" }, "invalid_request"],
      [
        undefined,
        { type: "invalid_request_error", code: "context_length_exceeded" },
        "context_length_exceeded",
      ],
      [undefined, { message: "mystery" }, "server"],
    ];
    for (const [status, body, kind] of cases) {
      const error =
        status === undefined
          ? new OpenAI.APIError(undefined, body, undefined, headers)
          : apiError(status, body);
      const classified = classifyOpenAIError(error);
      expect([status, body, classified.kind]).toEqual([status, body, kind]);
      expect(classified).toMatchObject({ status, requestId: "req_1", retryAfterMs: 1500, cause: error });
    }
    const bare = classifyOpenAIError(apiError(500, undefined, new Headers()));
    expect(bare).toMatchObject({
      kind: "server",
      status: 500,
      requestId: undefined,
      retryAfterMs: undefined,
    });
  });
});
