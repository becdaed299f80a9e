import Anthropic from "@anthropic-ai/sdk";
import { type Fault, LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(script: ScriptedTurn[]) {
  const server = await new LoopbackLLMServer({ script }).start();
  servers.push(server);
  return {
    server,
    openai: new OpenAI({ apiKey: "test", baseURL: server.openaiBaseURL, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: "test", baseURL: server.anthropicBaseURL, maxRetries: 0 }),
  };
}

const chat = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "Hi" }] };
const msg = {
  model: "claude-haiku-4-5",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Hi" }],
};

/** Any error class (the SDKs' subclasses narrow the constructor's status parameter). */
type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs the promise and returns what it rejected with (failing the test if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("HTTP faults, as the openai SDK sees them", () => {
  const cases: [string, Fault, ErrorClass, number, string, string | null][] = [
    [
      "rate limit",
      { kind: "rate_limit", retryAfterSeconds: 2 },
      OpenAI.RateLimitError,
      429,
      "requests",
      "rate_limit_exceeded",
    ],
    [
      "quota",
      { kind: "quota_exhausted" },
      OpenAI.RateLimitError,
      429,
      "insufficient_quota",
      "insufficient_quota",
    ],
    ["server error", { kind: "server_error" }, OpenAI.InternalServerError, 500, "server_error", null],
    ["unavailable", { kind: "unavailable" }, OpenAI.InternalServerError, 503, "server_error", null],
    ["overloaded", { kind: "overloaded" }, OpenAI.InternalServerError, 503, "server_error", null],
    [
      "auth",
      { kind: "authentication" },
      OpenAI.AuthenticationError,
      401,
      "invalid_request_error",
      "invalid_api_key",
    ],
    [
      "permission",
      { kind: "permission" },
      OpenAI.PermissionDeniedError,
      403,
      "invalid_request_error",
      "unsupported_country_region_territory",
    ],
    [
      "context length",
      { kind: "context_length" },
      OpenAI.BadRequestError,
      400,
      "invalid_request_error",
      "context_length_exceeded",
    ],
    [
      "custom 404",
      { kind: "http", status: 404, code: "model_not_found" },
      OpenAI.NotFoundError,
      404,
      "invalid_request_error",
      "model_not_found",
    ],
    ["custom 502", { kind: "http", status: 502 }, OpenAI.InternalServerError, 502, "server_error", null],
  ];

  it.each(cases)(
    "%s → the SDK's error class, status and error body",
    async (_name, fault, errorClass, status, type, code) => {
      const { openai, server } = await setup([{ fault }]);
      const error = await rejection(openai.chat.completions.create(chat));
      expect(error).toBeInstanceOf(errorClass);
      const apiError = error as InstanceType<typeof OpenAI.APIError>;
      expect(apiError.status).toBe(status);
      expect(apiError.type).toBe(type);
      expect(apiError.code).toBe(code);
      expect(apiError.requestID).toBe("req_Loopback0000000000000001");
      expect(server.requests[0]?.status).toBe(status);
    },
  );

  it("shows retry-after and retry-after-ms on a 429", async () => {
    const { openai } = await setup([
      { fault: { kind: "rate_limit", retryAfterSeconds: 3, retryAfterMs: 2500 } },
      { fault: { kind: "rate_limit" } },
      {
        fault: {
          kind: "rate_limit",
          retryAfterSeconds: null,
          retryAfterMs: null,
          headers: { "x-ratelimit-remaining-requests": "0" },
        },
      },
      { fault: { kind: "rate_limit", retryAfterSeconds: null } },
    ]);
    const headersOf = async () =>
      ((await rejection(openai.chat.completions.create(chat))) as InstanceType<typeof OpenAI.RateLimitError>)
        .headers;
    const first = await headersOf();
    expect([first.get("retry-after"), first.get("retry-after-ms")]).toEqual(["3", "2500"]);
    const second = await headersOf();
    expect([second.get("retry-after"), second.get("retry-after-ms")]).toEqual(["1", "1000"]);
    const third = await headersOf();
    expect([third.get("retry-after"), third.get("retry-after-ms")]).toEqual([null, null]);
    expect(third.get("x-ratelimit-remaining-requests")).toBe("0");
    const fourth = await headersOf();
    expect([fourth.get("retry-after"), fourth.get("retry-after-ms")]).toEqual([null, "1000"]);
  });

  it("writes the exact OpenAI error body, with a custom message and the context-length param", async () => {
    const { server } = await setup([
      { fault: { kind: "context_length" } },
      { fault: { kind: "server_error", message: "boom" } },
    ]);
    const post = () =>
      fetch(`${server.openaiBaseURL}/chat/completions`, { method: "POST", body: JSON.stringify(chat) });
    const first = await post();
    expect(first.status).toBe(400);
    expect(first.headers.get("x-request-id")).toBe("req_Loopback0000000000000001");
    expect(await first.json()).toEqual({
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 128001 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    });
    expect(await (await post()).json()).toEqual({
      error: { message: "boom", type: "server_error", param: null, code: null },
    });
  });
});

describe("HTTP faults, as the @anthropic-ai/sdk sees them", () => {
  const cases: [string, Fault, ErrorClass, number, string][] = [
    ["rate limit", { kind: "rate_limit" }, Anthropic.RateLimitError, 429, "rate_limit_error"],
    ["quota", { kind: "quota_exhausted" }, Anthropic.RateLimitError, 429, "rate_limit_error"],
    ["server error", { kind: "server_error" }, Anthropic.InternalServerError, 500, "api_error"],
    ["unavailable", { kind: "unavailable" }, Anthropic.InternalServerError, 503, "api_error"],
    ["overloaded", { kind: "overloaded" }, Anthropic.InternalServerError, 529, "overloaded_error"],
    ["auth", { kind: "authentication" }, Anthropic.AuthenticationError, 401, "authentication_error"],
    ["permission", { kind: "permission" }, Anthropic.PermissionDeniedError, 403, "permission_error"],
    ["context length", { kind: "context_length" }, Anthropic.BadRequestError, 400, "invalid_request_error"],
    [
      "custom 413",
      { kind: "http", status: 413, type: "request_too_large" },
      Anthropic.APIError,
      413,
      "request_too_large",
    ],
    ["custom 500", { kind: "http", status: 500 }, Anthropic.InternalServerError, 500, "api_error"],
  ];

  it.each(cases)(
    "%s → the SDK's error class, status and error type",
    async (_name, fault, errorClass, status, type) => {
      const { anthropic } = await setup([{ fault }]);
      const error = await rejection(anthropic.messages.create(msg));
      expect(error).toBeInstanceOf(errorClass);
      const apiError = error as InstanceType<typeof Anthropic.APIError>;
      expect(apiError.status).toBe(status);
      expect(apiError.type).toBe(type);
      expect(apiError.requestID).toBe("req_Loopback0000000000000001");
      expect(apiError.error).toMatchObject({
        type: "error",
        error: { type },
        request_id: "req_Loopback0000000000000001",
      });
    },
  );

  it("answers 529 overloaded_error, the SDK's OverloadedError", async () => {
    const { anthropic } = await setup([{ fault: { kind: "overloaded" } }]);
    const error = await rejection(anthropic.messages.stream(msg).finalMessage());
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((error as Error).name).toBe("OverloadedError");
    expect((error as InstanceType<typeof Anthropic.APIError>).apiMessage).toBe("Overloaded");
  });

  it("shows retry-after on a 429 and the spend-limit code on quota exhaustion", async () => {
    const { anthropic } = await setup([
      { fault: { kind: "rate_limit", retryAfterSeconds: 7 } },
      { fault: { kind: "quota_exhausted" } },
    ]);
    const limited = (await rejection(anthropic.messages.create(msg))) as InstanceType<
      typeof Anthropic.RateLimitError
    >;
    expect([limited.headers.get("retry-after"), limited.headers.get("retry-after-ms")]).toEqual([
      "7",
      "7000",
    ]);
    expect(limited.errorCode).toBeNull();
    const quota = (await rejection(anthropic.messages.create(msg))) as InstanceType<
      typeof Anthropic.RateLimitError
    >;
    expect(quota.errorCode).toBe("enforced_spend_limit_reached");
    expect(quota.headers.get("retry-after")).toBeNull();
  });

  it("says the prompt is too long, quoting the request's estimate when it is over the limit", async () => {
    const { anthropic } = await setup([
      { fault: { kind: "context_length" } },
      { fault: { kind: "context_length" } },
    ]);
    const small = (await rejection(anthropic.messages.create(msg))) as InstanceType<
      typeof Anthropic.APIError
    >;
    expect(small.apiMessage).toBe("prompt is too long: 200001 tokens > 200000 maximum");
    const huge = { ...msg, messages: [{ role: "user" as const, content: "x".repeat(1_000_000) }] };
    const big = (await rejection(anthropic.messages.create(huge))) as InstanceType<typeof Anthropic.APIError>;
    expect(big.apiMessage).toMatch(/^prompt is too long: 2500\d\d tokens > 200000 maximum$/);
  });
});

describe("transport faults", () => {
  it("resets the connection: APIConnectionError in both SDKs", async () => {
    const { openai, anthropic, server } = await setup([
      { fault: { kind: "connection_reset" } },
      { fault: { kind: "connection_reset" } },
    ]);
    expect(await rejection(openai.chat.completions.create(chat))).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(await rejection(anthropic.messages.create(msg))).toBeInstanceOf(Anthropic.APIConnectionError);
    await server.idle();
    expect(server.requests.map((r) => [r.outcome, r.status, r.disconnected])).toEqual([
      ["connection_reset", undefined, false],
      ["connection_reset", undefined, false],
    ]);
  });

  it("cuts an OpenAI stream after some deltas: the SDK iteration throws", async () => {
    const { openai, server } = await setup([
      { fault: { kind: "stream_cut", reply: { text: "abcdefghijklmnop" } }, latency: { chunkSize: 2 } },
    ]);
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    const received: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? "");
      })(),
    );
    // Undici's body read fails ("terminated", cause "other side closed"); the SDK lets it through.
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("terminated");
    // 11 frames (role, 8 content deltas, finish, [DONE]); half of them are sent: the role and 4 deltas.
    expect(received.join("")).toBe("abcdefgh");
    await server.idle();
    expect(server.requests[0]?.outcome).toBe("stream_cut");
    expect(server.requests[0]?.status).toBe(200);
  });

  it("cuts an Anthropic stream after a given number of events: the SDK stream rejects", async () => {
    const { anthropic, server } = await setup([
      {
        fault: { kind: "stream_cut", afterEvents: 4, reply: { text: "abcdefghijklmnopqrstuvwxyz" } },
        latency: { chunkSize: 2 },
      },
    ]);
    const stream = anthropic.messages.stream(msg);
    const text: string[] = [];
    stream.on("text", (delta) => text.push(delta));
    const error = await rejection(stream.finalMessage());
    expect(error).toBeInstanceOf(Error);
    expect(text).toEqual(["ab"]);
    await server.idle();
    expect(server.requests[0]?.outcome).toBe("stream_cut");
  });

  it("cuts a stream right after its headers when afterEvents is 0", async () => {
    const { openai, server } = await setup([{ fault: { kind: "stream_cut", afterEvents: 0 } }]);
    const { data: stream, response } = await openai.chat.completions
      .create({ ...chat, stream: true })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const error = await rejection(
      (async () => {
        for await (const _ of stream) throw new Error("no chunk expected");
      })(),
    );
    expect((error as Error).message).toBe("terminated");
    await server.idle();
    expect(server.requests[0]?.outcome).toBe("stream_cut");
  });

  it("cuts a non-streamed response halfway through its JSON body", async () => {
    const { openai, anthropic, server } = await setup([
      { fault: { kind: "stream_cut" } },
      { fault: { kind: "stream_cut", reply: { text: "partial" } } },
    ]);
    expect(await rejection(openai.chat.completions.create(chat))).toBeInstanceOf(Error);
    expect(await rejection(anthropic.messages.create(msg))).toBeInstanceOf(Error);
    await server.idle();
    expect(server.requests.map((r) => r.outcome)).toEqual(["stream_cut", "stream_cut"]);
  });

  it("sends an in-stream error event: both SDKs throw an APIError carrying it", async () => {
    const { openai, anthropic } = await setup([
      { fault: { kind: "stream_error", reply: { text: "partial answer" } } },
      { fault: { kind: "stream_error", afterEvents: 2, message: "Overloaded right now" } },
    ]);
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    let chunks = 0;
    const openaiError = await rejection(
      (async () => {
        for await (const _ of stream) chunks += 1;
      })(),
    );
    expect(openaiError).toBeInstanceOf(OpenAI.APIError);
    expect((openaiError as InstanceType<typeof OpenAI.APIError>).type).toBe("server_error");
    expect(chunks).toBeGreaterThan(0);

    const anthropicError = await rejection(anthropic.messages.stream(msg).finalMessage());
    expect(anthropicError).toBeInstanceOf(Anthropic.APIError);
    expect((anthropicError as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error");
    expect((anthropicError as InstanceType<typeof Anthropic.APIError>).apiMessage).toBe(
      "Overloaded right now",
    );
  });

  it("answers a non-streamed request to stream_error with the overloaded HTTP error", async () => {
    const { openai, anthropic } = await setup([
      { fault: { kind: "stream_error" } },
      { fault: { kind: "stream_error", message: "busy" } },
    ]);
    const first = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(first.status).toBe(503);
    const second = (await rejection(anthropic.messages.create(msg))) as InstanceType<
      typeof Anthropic.APIError
    >;
    expect([second.status, second.apiMessage]).toEqual([529, "busy"]);
  });

  it("sends an empty stream: no chunk, and the stream helpers say nothing was produced", async () => {
    const { openai, anthropic } = await setup([
      { fault: { kind: "empty_stream" } },
      { fault: { kind: "empty_stream" } },
      { fault: { kind: "empty_stream" } },
    ]);
    const raw = await openai.chat.completions.create({ ...chat, stream: true });
    const chunks: unknown[] = [];
    for await (const chunk of raw) chunks.push(chunk);
    expect(chunks).toEqual([]);
    const helperError = await rejection(openai.chat.completions.stream(chat).finalChatCompletion());
    expect((helperError as Error).message).toMatch(/without producing|without sending any chunks/);
    const anthropicError = await rejection(anthropic.messages.stream(msg).finalMessage());
    expect((anthropicError as Error).message).toMatch(/without producing|without sending any chunks/);
  });

  it("sends an empty body to a non-streamed request: the SDK fails to read it", async () => {
    const { openai, server } = await setup([{ fault: { kind: "empty_stream" } }]);
    const response = await fetch(`${server.openaiBaseURL}/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chat),
    });
    expect([response.status, response.headers.get("content-type"), await response.text()]).toEqual([
      200,
      "application/json",
      "",
    ]);
    server.append({ fault: { kind: "empty_stream" } });
    expect(await rejection(openai.chat.completions.create(chat))).toBeInstanceOf(Error);
  });

  it("delays a fault by the turn's time to first byte", async () => {
    const { openai, server } = await setup([
      { fault: { kind: "server_error" }, latency: { firstByteMs: 30 } },
    ]);
    expect(await rejection(openai.chat.completions.create(chat))).toBeInstanceOf(OpenAI.InternalServerError);
    await server.idle();
    const [record] = server.requests;
    expect((record?.finishedAt ?? 0) - (record?.receivedAt ?? 0)).toBeGreaterThanOrEqual(25);
  });
});
