import { connect } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import {
  LoopbackLLMServer,
  type LoopbackLLMServerOptions,
  type RecordedRequest,
  ScriptError,
  type StaticTurn,
} from "@normandy/testing";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";

let servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function setup(options: LoopbackLLMServerOptions = {}) {
  const server = await new LoopbackLLMServer(options).start();
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

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function post(server: LoopbackLLMServer, path: string, body: string, method = "POST") {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(method === "GET" ? {} : { body }),
  });
  return { status: response.status, body: (await response.json()) as unknown, headers: response.headers };
}

describe("lifecycle", () => {
  it("listens on 127.0.0.1 and gives the base URLs of both SDKs", async () => {
    const { server } = await setup();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.openaiBaseURL).toBe(`${server.url}/v1`);
    expect(server.anthropicBaseURL).toBe(server.url);
  });

  it("refuses to give a port before start, and stop() is safe before start and twice", async () => {
    const server = new LoopbackLLMServer();
    expect(() => server.port).toThrow(/not started/);
    await server.stop();
    await server.start();
    await server.stop();
    await server.stop();
  });

  it("rejects start() when the port is taken", async () => {
    const { server } = await setup();
    const clash = new LoopbackLLMServer({ port: server.port });
    await expect(clash.start()).rejects.toThrow(/EADDRINUSE/);
  });

  it("stops while a stream is in progress: the client's stream fails and stop() resolves", async () => {
    const { server, openai } = await setup({
      script: [{ text: "x".repeat(200) }],
      latency: { chunkSize: 1, chunkDelayMs: 5 },
    });
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await server.stop();
    expect(await rejection(iterator.next())).toBeInstanceOf(Error);
    expect(server.requests[0]?.outcome).toBe("client_disconnected");
  });
});

describe("the script", () => {
  it("answers both endpoints from one script, in order", async () => {
    const { openai, anthropic, server } = await setup({
      script: [{ text: "one" }, { text: "two" }, { text: "three" }],
    });
    expect((await openai.chat.completions.create(chat)).choices[0]?.message.content).toBe("one");
    expect((await anthropic.messages.create(msg)).content).toEqual([{ type: "text", text: "two" }]);
    expect((await openai.chat.completions.create(chat)).choices[0]?.message.content).toBe("three");
    expect(server.requests.map((r) => [r.family, r.endpoint, r.turnIndex])).toEqual([
      ["openai", "chat.completions", 0],
      ["anthropic", "messages", 1],
      ["openai", "chat.completions", 2],
    ]);
    expect(server.remainingTurns).toBe(0);
  });

  it("calls a turn function with the recorded request, sync or async", async () => {
    const echo = (request: RecordedRequest): StaticTurn => {
      const body = request.body as { messages: { content: string }[] };
      return { text: `you said: ${body.messages.at(-1)?.content}` };
    };
    const { openai, anthropic, server } = await setup({
      script: [echo, async (request) => ({ text: `${request.endpoint} #${request.index}` })],
    });
    expect((await openai.chat.completions.create(chat)).choices[0]?.message.content).toBe("you said: Hi");
    expect((await anthropic.messages.create(msg)).content).toEqual([{ type: "text", text: "messages #1" }]);
    expect(server.requests[0]?.turn).toEqual({ text: "you said: Hi" });
  });

  it("answers HTTP 500 saying the script is exhausted, in each family's error shape", async () => {
    const { openai, anthropic, server } = await setup({ script: [{ text: "only" }] });
    await openai.chat.completions.create(chat);
    const openaiError = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(openaiError).toBeInstanceOf(OpenAI.InternalServerError);
    expect(openaiError.message).toBe(
      "500 loopback script exhausted: request #1 (POST /v1/chat/completions) arrived but all 1 scripted turns were used",
    );
    expect(openaiError.code).toBe("loopback_script_exhausted");
    const anthropicError = (await rejection(anthropic.messages.stream(msg).finalMessage())) as InstanceType<
      typeof Anthropic.APIError
    >;
    expect(anthropicError).toBeInstanceOf(Anthropic.InternalServerError);
    expect(anthropicError.apiMessage).toMatch(
      /^loopback script exhausted: request #2 \(POST \/v1\/messages\)/,
    );
    expect(server.requests[2]?.error).toMatch(/script exhausted/);
    expect(server.requests[2]?.turnIndex).toBeUndefined();
  });

  it("answers with the fallback once the script is used up, and with turns appended later first", async () => {
    const { openai, anthropic, server } = await setup({
      script: [{ text: "scripted" }],
      fallback: (request) => ({ text: `fallback for #${request.index} (${request.endpoint})` }),
    });
    expect((await openai.chat.completions.create(chat)).choices[0]?.message.content).toBe("scripted");
    expect((await openai.chat.completions.create(chat)).choices[0]?.message.content).toBe(
      "fallback for #1 (chat.completions)",
    );
    server.append({ text: "appended" });
    expect((await anthropic.messages.create(msg)).content).toEqual([{ type: "text", text: "appended" }]);
    expect((await anthropic.messages.create(msg)).content).toEqual([
      { type: "text", text: "fallback for #3 (messages)" },
    ]);
    expect(server.requests.map((r) => r.turnIndex)).toEqual([0, undefined, 1, undefined]);
    expect(server.requests[1]?.turn).toEqual({ text: "fallback for #1 (chat.completions)" });
    expect(server.remainingTurns).toBe(0);
  });

  it("answers HTTP 500 naming the fallback when it throws", async () => {
    const { openai, server } = await setup({
      fallback: () => {
        throw new Error("no rule for this request");
      },
    });
    const error = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect([error.status, error.message]).toEqual([
      500,
      "500 loopback fallback failed: no rule for this request",
    ]);
    expect(server.requests[0]?.error).toBe("loopback fallback failed: no rule for this request");
  });

  it("answers HTTP 500 when a turn function throws or returns a malformed turn", async () => {
    const { openai, server } = await setup({
      script: [
        () => {
          throw new Error("no such fixture");
        },
        () => ({ txt: "typo" }) as unknown as StaticTurn,
        async () => {
          throw "a string";
        },
      ],
    });
    const first = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect([first.status, first.message]).toEqual([500, "500 loopback turn 0 failed: no such fixture"]);
    const second = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(second.message).toMatch(/loopback turn 1 failed: turn 1: unknown key "txt"/);
    const third = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(third.message).toMatch(/loopback turn 2 failed: a string/);
    expect(server.requests.map((r) => r.error)).toEqual([
      "loopback turn 0 failed: no such fixture",
      expect.stringContaining("unknown key"),
      "loopback turn 2 failed: a string",
    ]);
  });

  it("appends turns, and reset() replaces the script, forgets requests and restarts ids", async () => {
    const { openai, server } = await setup({ script: [{ text: "a" }] });
    server.append({ text: "b" }, () => ({ text: "c" }));
    expect(server.remainingTurns).toBe(3);
    const first = await openai.chat.completions.create(chat);
    expect(first.id).toBe("chatcmpl-Loopback000000000000000000001");
    expect(server.remainingTurns).toBe(2);
    server.reset([{ text: "fresh" }]);
    expect(server.requests).toEqual([]);
    expect(server.remainingTurns).toBe(1);
    const again = await openai.chat.completions.create(chat);
    expect([again.id, again.choices[0]?.message.content]).toEqual([
      "chatcmpl-Loopback000000000000000000001",
      "fresh",
    ]);
    expect(server.requests[0]?.index).toBe(0);
    server.reset();
    expect(server.remainingTurns).toBe(0);
  });

  it("rejects malformed turns up front with a ScriptError, changing nothing", async () => {
    expect(
      () => new LoopbackLLMServer({ script: [{ text: "ok" }, { text: 1 } as unknown as StaticTurn] }),
    ).toThrow(new ScriptError("turn 1: text must be a string"));
    const { server } = await setup({ script: [{ text: "ok" }] });
    expect(() => server.append({ toolCalls: [] })).toThrow(/turn 1: toolCalls must be a non-empty array/);
    expect(() => server.reset([{}])).toThrow(/turn 0: a reply needs at least one of/);
    expect(server.remainingTurns).toBe(1);
  });
});

describe("recording", () => {
  it("records method, path, url, headers, parsed body, clock times, turn, status and outcome", async () => {
    let tick = 1000;
    const { openai, anthropic, server } = await setup({
      script: [{ text: "a" }, { text: "b" }],
      clock: { now: () => (tick += 1) },
    });
    await openai.chat.completions.create(chat);
    await anthropic.messages.create(msg);
    await server.idle();
    const [first, second] = server.requests;
    expect(first).toMatchObject({
      index: 0,
      method: "POST",
      path: "/v1/chat/completions",
      url: "/v1/chat/completions",
      body: chat,
      family: "openai",
      endpoint: "chat.completions",
      stream: false,
      turnIndex: 0,
      turn: { text: "a" },
      status: 200,
      outcome: "completed",
      disconnected: false,
      error: undefined,
    });
    expect(first?.rawBody).toBe(JSON.stringify(chat));
    expect(first?.headers.authorization).toBe("Bearer test");
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(second?.headers["anthropic-version"]).toBeTypeOf("string");
    expect(second?.body).toEqual(msg);
    const times = [first?.receivedAt, first?.finishedAt, second?.receivedAt, second?.finishedAt];
    expect(times.every((t) => typeof t === "number" && t > 1000)).toBe(true);
    expect(first?.receivedAt).toBeLessThan(first?.finishedAt ?? 0);
    expect(first?.finishedAt).toBeLessThan(second?.receivedAt ?? 0);
  });

  it("records a streamed request and the query string", async () => {
    const { server } = await setup({ script: [{ text: "a" }] });
    const response = await fetch(`${server.url}/v1/messages?beta=true`, {
      method: "POST",
      body: JSON.stringify({ ...msg, stream: true }),
    });
    await response.text();
    await server.idle();
    expect(server.requests[0]).toMatchObject({
      path: "/v1/messages",
      url: "/v1/messages?beta=true",
      stream: true,
      outcome: "completed",
    });
  });

  it("records an OpenAI client abort mid-stream as a disconnect, and stops writing", async () => {
    const { openai, server } = await setup({
      script: [{ text: "x".repeat(400) }],
      latency: { chunkSize: 1, chunkDelayMs: 2 },
    });
    const controller = new AbortController();
    const stream = await openai.chat.completions.create(
      { ...chat, stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    for await (const _ of stream) {
      chunks += 1;
      if (chunks === 3) controller.abort();
    }
    await server.idle();
    expect(chunks).toBeLessThan(400);
    expect(server.requests[0]).toMatchObject({
      disconnected: true,
      outcome: "client_disconnected",
      status: 200,
    });
    expect(server.requests[0]?.finishedAt).toBeTypeOf("number");
  });

  it("records an Anthropic client abort mid-stream as a disconnect", async () => {
    const { anthropic, server } = await setup({
      script: [{ text: "y".repeat(400) }],
      latency: { chunkSize: 1, chunkDelayMs: 2 },
    });
    const controller = new AbortController();
    const stream = anthropic.messages.stream(msg, { signal: controller.signal });
    let deltas = 0;
    stream.on("text", () => {
      deltas += 1;
      if (deltas === 2) controller.abort();
    });
    expect(await rejection(stream.finalMessage())).toBeInstanceOf(Anthropic.APIUserAbortError);
    await server.idle();
    expect(server.requests[0]).toMatchObject({ disconnected: true, outcome: "client_disconnected" });
  });

  it("records an abort during the time to first byte: no status was sent", async () => {
    const { openai, server } = await setup({ script: [{ text: "late" }], latency: { firstByteMs: 5_000 } });
    const controller = new AbortController();
    const pending = openai.chat.completions.create(chat, { signal: controller.signal });
    while (server.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    expect(await rejection(pending)).toBeInstanceOf(OpenAI.APIUserAbortError);
    await server.idle();
    expect(server.requests[0]).toMatchObject({ disconnected: true, status: undefined, turnIndex: 0 });
  });

  it.each([
    ["returns a reply", { text: "too late" }],
    ["throws", new Error("fixture failed late")],
  ])(
    "does not write to a client that left while an async turn function ran (it %s)",
    async (_name, outcome) => {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { openai, server } = await setup({
        script: [
          async () => {
            await released;
            if (outcome instanceof Error) throw outcome;
            return outcome;
          },
        ],
      });
      const controller = new AbortController();
      const pending = openai.chat.completions.create(chat, { signal: controller.signal });
      while (server.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      expect(await rejection(pending)).toBeInstanceOf(OpenAI.APIUserAbortError);
      while (!server.requests[0]?.disconnected) await new Promise((resolve) => setImmediate(resolve));
      release();
      await server.idle();
      expect(server.requests[0]).toMatchObject({ outcome: "client_disconnected", status: undefined });
      expect(server.requests[0]?.error).toBe(
        outcome instanceof Error ? "loopback turn 0 failed: fixture failed late" : undefined,
      );
    },
  );

  it("records a request whose body never fully arrived", async () => {
    const { server } = await setup({ script: [{ text: "unused" }] });
    const socket = connect(server.port, "127.0.0.1");
    // `Expect: 100-continue` makes the server say when its handler is reading the body.
    const continued = new Promise<void>((resolve) => socket.once("data", () => resolve()));
    socket.write(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    );
    await continued;
    socket.end('{"model":');
    await server.idle();
    expect(server.requests[0]).toMatchObject({ rawBody: '{"model":', body: undefined, disconnected: true });
    expect(server.requests[0]?.error).toMatch(/^request body not received/);
    expect(server.remainingTurns).toBe(1);
  });
});

describe("latency", () => {
  it("waits the time to first byte and the delay between chunks", async () => {
    const { openai } = await setup({
      script: [{ text: "abcd", latency: { chunkSize: 1 } }],
      latency: { firstByteMs: 20, chunkDelayMs: 10 },
    });
    const started = performance.now();
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    const times: number[] = [];
    for await (const _ of stream) times.push(performance.now());
    expect((times[0] ?? 0) - started).toBeGreaterThanOrEqual(18);
    // role, 4 deltas, finish: 5 gaps of ≥ 10 ms (allowing timer granularity).
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(45);
  });

  it("lets a turn's latency override the server's", async () => {
    const { openai } = await setup({
      script: [{ text: "fast", latency: { firstByteMs: 0 } }],
      latency: { firstByteMs: 10_000 },
    });
    const started = performance.now();
    await openai.chat.completions.create(chat);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("requests the server rejects (no turn taken)", () => {
  it("answers 404 for unknown routes, in the shape of the family the path belongs to", async () => {
    const { server } = await setup({ script: [{ text: "unused" }] });
    const openai = await post(server, "/v1/responses", "{}");
    expect(openai).toMatchObject({
      status: 404,
      body: {
        error: {
          message: "Invalid URL (POST /v1/responses)",
          type: "invalid_request_error",
          param: null,
          code: null,
        },
      },
    });
    expect(openai.headers.get("x-request-id")).toMatch(/^req_/);
    const anthropic = await post(server, "/v1/messages/batches", "{}");
    expect(anthropic).toMatchObject({
      status: 404,
      body: {
        type: "error",
        error: { type: "not_found_error", message: "Invalid URL (POST /v1/messages/batches)" },
      },
    });
    expect(anthropic.headers.get("request-id")).toMatch(/^req_/);
    const get = await post(server, "/v1/chat/completions", "", "GET");
    expect(get.status).toBe(404);
    expect(server.requests.map((r) => [r.endpoint, r.family])).toEqual([
      ["unknown", undefined],
      ["unknown", undefined],
      ["unknown", undefined],
    ]);
    expect(server.remainingTurns).toBe(1);
  });

  it("answers 400 for a body that is not JSON, not an object, or lacks a required field", async () => {
    const { server, anthropic } = await setup({ script: [{ text: "unused" }] });
    const cases: [string, string, string][] = [
      ["/v1/chat/completions", "{not json", "We could not parse the JSON body of your request."],
      ["/v1/chat/completions", "", "The request body must be a JSON object."],
      ["/v1/chat/completions", "[1]", "The request body must be a JSON object."],
      ["/v1/chat/completions", '{"messages": []}', "model: Field required (a string)."],
      ["/v1/chat/completions", '{"model": "m"}', "messages: Field required (an array)."],
      ["/v1/messages", '{"model": "m", "messages": []}', "max_tokens: Field required (a number)."],
      ["/v1/messages/count_tokens", '{"model": "m"}', "messages: Field required (an array)."],
    ];
    for (const [path, body, message] of cases) {
      const response = await post(server, path, body);
      expect(response.status).toBe(400);
      const error = (response.body as { error: { message: string } }).error;
      expect(error.message).toBe(message);
    }
    expect(server.remainingTurns).toBe(1);
    const error = (await rejection(anthropic.messages.countTokens({ model: "m" } as never))) as InstanceType<
      typeof Anthropic.APIError
    >;
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.type).toBe("invalid_request_error");
  });

  it("gives the OpenAI error param of a missing field", async () => {
    const { server } = await setup();
    const response = await post(server, "/v1/chat/completions", '{"messages": []}');
    expect(response.body).toEqual({
      error: {
        message: "model: Field required (a string).",
        type: "invalid_request_error",
        param: "model",
        code: null,
      },
    });
  });
});

describe("a failure inside the server", () => {
  it("answers 500 and records the error when rendering a turn throws", async () => {
    let reads = 0;
    const treacherous = {
      get text() {
        reads += 1;
        if (reads > 2) throw new Error("exploded on render");
        return "ok";
      },
    } as StaticTurn;
    const { openai, server } = await setup({ script: [() => treacherous] });
    const error = (await rejection(openai.chat.completions.create(chat))) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/loopback server error: .*exploded on render/);
    expect(server.requests[0]?.error).toMatch(/exploded on render/);
  });
});
