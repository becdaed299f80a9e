// Every loopback fault through AnthropicProvider becomes the right ProviderError (kind, status, retryable,
// retryAfterMs, request id, cause, partial output), plus the classifier on errors the server cannot produce.
import {
  AnthropicError,
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  RateLimitError,
} from "@anthropic-ai/sdk";
import { type ModelRequest, ProviderError, textOf } from "@normandy/agents";
import { type Fault, LoopbackLLMServer, type ReplyTurn } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { AnthropicProvider } from "../src/providers/anthropic/AnthropicProvider.js";
import { classifyAnthropicError } from "../src/providers/anthropic/anthropicErrors.js";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(faults: Fault[]) {
  const server = await new LoopbackLLMServer({ script: faults.map((fault) => ({ fault })) }).start();
  servers.push(server);
  const provider = new AnthropicProvider({ apiKey: "test-key", baseURL: server.anthropicBaseURL });
  return { server, provider };
}

const request: ModelRequest = { model: "claude-haiku-4-5", messages: [{ role: "user", content: "hi" }] };

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error("expected a failure");
}

/** Both a completion and a stream hit `fault`; returns the two errors. */
async function both(fault: Fault): Promise<[ProviderError, ProviderError]> {
  const { provider } = await setup([fault, fault]);
  return [await failure(provider.complete(request)), await failure(provider.stream(request).final())];
}

describe("HTTP faults", () => {
  it.each([
    [{ kind: "rate_limit", retryAfterSeconds: 2, retryAfterMs: null }, "rate_limit", 429, true, 2000],
    [{ kind: "rate_limit", retryAfterSeconds: 2, retryAfterMs: 1500 }, "rate_limit", 429, true, 1500],
    [{ kind: "rate_limit", retryAfterSeconds: null, retryAfterMs: null }, "rate_limit", 429, true, undefined],
    [{ kind: "quota_exhausted" }, "quota_exhausted", 429, false, undefined],
    [{ kind: "server_error" }, "server", 500, true, undefined],
    [{ kind: "unavailable" }, "server", 503, true, undefined],
    [{ kind: "unavailable", headers: { "retry-after": "3" } }, "server", 503, true, 3000],
    [{ kind: "overloaded" }, "overloaded", 529, true, undefined],
    [{ kind: "authentication" }, "auth", 401, false, undefined],
    [{ kind: "permission" }, "permission", 403, false, undefined],
    [{ kind: "context_length" }, "context_length_exceeded", 400, false, undefined],
    [{ kind: "http", status: 400 }, "invalid_request", 400, false, undefined],
    [{ kind: "http", status: 404, type: "not_found_error" }, "invalid_request", 404, false, undefined],
    [{ kind: "http", status: 413, type: "request_too_large" }, "invalid_request", 413, false, undefined],
    [{ kind: "http", status: 422 }, "invalid_request", 422, false, undefined],
    [{ kind: "http", status: 408, type: "timeout_error" }, "timeout", 408, true, undefined],
    [{ kind: "http", status: 502 }, "server", 502, true, undefined],
    [{ kind: "http", status: 504 }, "server", 504, true, undefined],
    [{ kind: "http", status: 402, type: "billing_error" }, "quota_exhausted", 402, false, undefined],
    [
      { kind: "http", status: 400, message: "Your credit balance is too low to access the Anthropic API." },
      "quota_exhausted",
      400,
      false,
      undefined,
    ],
  ] as const)("%j → %s", async (fault, kind, status, retryable, retryAfter) => {
    for (const error of await both(fault as Fault)) {
      expect(error).toMatchObject({
        kind,
        status,
        retryable,
        provider: "anthropic",
        retryAfterMs: retryAfter,
      });
      expect(error.requestId).toMatch(/^req_Loopback/);
      expect(error.cause).toBeInstanceOf(APIError);
      expect(error.message).toContain(String(status));
    }
  });

  it("keeps the SDK error as cause and the API message in the message", async () => {
    const [error] = await both({ kind: "rate_limit" });
    expect(error.cause).toBeInstanceOf(RateLimitError);
    expect(error.message).toMatch(/429 rate_limit_error: Rate limit reached/);
  });
});

describe("connection and stream faults", () => {
  it("a connection reset is kind network", async () => {
    for (const error of await both({ kind: "connection_reset" })) {
      expect(error).toMatchObject({ kind: "network", retryable: true, status: undefined });
      expect(error.message).toMatch(/ECONNRESET/);
      expect(error.cause).toBeInstanceOf(APIConnectionError);
    }
  });

  it("a stream cut is kind network with the text so far as partial", async () => {
    const text = "The quick brown fox jumps over the lazy dog";
    const reply: ReplyTurn = { text };
    const { provider } = await setup([{ kind: "stream_cut", reply, afterEvents: 5 }]);
    const error = await failure(provider.stream(request).final());
    expect(error).toMatchObject({ kind: "network", retryable: true });
    expect(error.message).toMatch(/terminated/);
    // message_start, content_block_start, ping, then two 16-character deltas
    expect(textOf(error.partial ?? { content: [] })).toBe(text.slice(0, 16 * 2));
  });

  it("a cut non-streamed body is kind network", async () => {
    const { provider } = await setup([{ kind: "stream_cut" }]);
    expect(await failure(provider.complete(request))).toMatchObject({ kind: "network", retryable: true });
  });

  it("an in-stream error event is classified by its type, with the partial text", async () => {
    const reply: ReplyTurn = { text: "Partial answer before the error" };
    const { provider } = await setup([
      { kind: "stream_error", reply, afterEvents: 4, message: "Overloaded now" },
    ]);
    const error = await failure(provider.stream(request).final());
    expect(error).toMatchObject({ kind: "overloaded", retryable: true, status: undefined });
    expect(error.requestId).toMatch(/^req_Loopback/);
    expect(error.message).toMatch(/overloaded_error: Overloaded now/);
    expect(textOf(error.partial ?? { content: [] })).toBe("Partial answer b");
  });

  it("a stream_error fault on a completion is the 529 overloaded error", async () => {
    const { provider } = await setup([{ kind: "stream_error" }]);
    expect(await failure(provider.complete(request))).toMatchObject({ kind: "overloaded", status: 529 });
  });

  it("an empty stream is a typed network error, streamed or not", async () => {
    const [completion, stream] = await both({ kind: "empty_stream" });
    expect(completion).toMatchObject({ kind: "network", retryable: true });
    expect(stream).toMatchObject({
      kind: "network",
      retryable: true,
      message: "the response stream was empty (no event)",
    });
    expect(stream.partial?.content).toEqual([]);
  });
});

describe("a stream that ends cleanly but early", () => {
  it("is kind network and says how many events arrived", async () => {
    const sse = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"half"}}\n\n',
    ].join("");
    const fetchEarly = async () => new Response(sse, { headers: { "content-type": "text/event-stream" } });
    const { default: Anthropic } = await import("@anthropic-ai/sdk");
    const client = new Anthropic({
      apiKey: "k",
      baseURL: "http://127.0.0.1:9",
      fetch: fetchEarly,
      maxRetries: 0,
    });
    const error = await failure(new AnthropicProvider({ client }).stream(request).final());
    expect(error).toMatchObject({
      kind: "network",
      message: "the response stream ended before message_stop (after 3 events)",
    });
    expect(textOf(error.partial ?? { content: [] })).toBe("half");
  });
});

describe("classifyAnthropicError", () => {
  const headers = (h: Record<string, string> = {}) => new Headers({ "request-id": "req_x", ...h });
  const body = (type: string, message: string, details?: Record<string, unknown>) => ({
    type: "error",
    error: { type, message, ...(details && { details }) },
  });

  it("passes a ProviderError through", () => {
    const error = new ProviderError({ kind: "server", provider: "p", message: "m" });
    expect(classifyAnthropicError(error, "anthropic")).toBe(error);
  });

  it("classifies aborts, timeouts and connection failures", () => {
    expect(classifyAnthropicError(new APIUserAbortError(), "a")).toMatchObject({ kind: "aborted" });
    expect(classifyAnthropicError(new Error("x"), "a", AbortSignal.abort())).toMatchObject({
      kind: "aborted",
    });
    expect(classifyAnthropicError(new APIConnectionTimeoutError(), "a")).toMatchObject({ kind: "timeout" });
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    const connection = classifyAnthropicError(new APIConnectionError({ cause: reset }), "a");
    expect(connection).toMatchObject({
      kind: "network",
      message: "connection failed: read ECONNRESET (ECONNRESET)",
    });
  });

  it("classifies undici's terminated, a truncated body and unknown throws as network", () => {
    const terminated = new TypeError("terminated", { cause: new Error("other side closed") });
    expect(classifyAnthropicError(terminated, "a")).toMatchObject({
      kind: "network",
      message: "the response failed: terminated: other side closed",
    });
    expect(classifyAnthropicError(new SyntaxError("Unexpected end of JSON input"), "a")).toMatchObject({
      kind: "network",
    });
    expect(classifyAnthropicError("a string", "a")).toMatchObject({ kind: "network", cause: "a string" });
  });

  it("classifies an SDK refusal before sending as invalid_request", () => {
    const error = classifyAnthropicError(new AnthropicError("Streaming is required"), "a");
    expect(error).toMatchObject({ kind: "invalid_request", retryable: false });
  });

  it("classifies in-stream error events (no status) by type", () => {
    const stream = (type: string, message = "m") =>
      new APIError(undefined, body(type, message), undefined, headers());
    expect(classifyAnthropicError(stream("api_error"), "a")).toMatchObject({
      kind: "server",
      requestId: "req_x",
    });
    expect(classifyAnthropicError(stream("rate_limit_error"), "a")).toMatchObject({ kind: "rate_limit" });
    expect(classifyAnthropicError(stream("authentication_error"), "a")).toMatchObject({ kind: "auth" });
    expect(classifyAnthropicError(stream("permission_error"), "a")).toMatchObject({ kind: "permission" });
    expect(classifyAnthropicError(stream("timeout_error"), "a")).toMatchObject({ kind: "timeout" });
    expect(classifyAnthropicError(stream("billing_error"), "a")).toMatchObject({ kind: "quota_exhausted" });
    expect(classifyAnthropicError(stream("not_found_error"), "a")).toMatchObject({ kind: "invalid_request" });
    expect(
      classifyAnthropicError(
        stream("invalid_request_error", "prompt is too long: 300000 tokens > 200000"),
        "a",
      ),
    ).toMatchObject({
      kind: "context_length_exceeded",
    });
    expect(classifyAnthropicError(stream("invalid_request_error"), "a")).toMatchObject({
      kind: "invalid_request",
    });
    expect(classifyAnthropicError(stream("brand_new_error"), "a")).toMatchObject({ kind: "server" });
    const untyped = new APIError(undefined, undefined, "bare", undefined);
    expect(classifyAnthropicError(untyped, "a")).toMatchObject({
      kind: "server",
      message: "stream error: bare",
    });
  });

  it("reads the spend-limit error code and the request id of the body", () => {
    const spend = APIError.generate(
      429,
      {
        ...body("rate_limit_error", "limit", { error_code: "enforced_spend_limit_reached" }),
        request_id: "req_body",
      },
      undefined,
      new Headers({ "retry-after": "5" }),
    );
    expect(classifyAnthropicError(spend, "a")).toMatchObject({
      kind: "quota_exhausted",
      requestId: "req_body",
      retryAfterMs: undefined,
    });
    const contract = APIError.generate(
      403,
      body("permission_error", "x", { error_code: "contract_spend_limit_reached" }),
      undefined,
      headers(),
    );
    expect(classifyAnthropicError(contract, "a")).toMatchObject({ kind: "quota_exhausted" });
    const other = APIError.generate(409, { request_id: 42 }, undefined, headers());
    expect(classifyAnthropicError(other, "a")).toMatchObject({ kind: "invalid_request", requestId: "req_x" });
    const noId = APIError.generate(409, undefined, undefined, new Headers());
    expect(classifyAnthropicError(noId, "a").requestId).toBeUndefined();
  });

  it("classifies overloaded_error on any status as overloaded, with Retry-After", () => {
    const error = APIError.generate(
      503,
      body("overloaded_error", "busy"),
      undefined,
      headers({ "retry-after-ms": "250" }),
    );
    expect(classifyAnthropicError(error, "a")).toMatchObject({
      kind: "overloaded",
      status: 503,
      retryAfterMs: 250,
    });
  });
});
