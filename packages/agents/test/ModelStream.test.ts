// The normalized stream: assembly, final(), failures with partial output, abort, and the helpers of the model.
import {
  addUsage,
  ModelStream,
  ProviderError,
  parseToolArguments,
  type RawStreamEvent,
  retryAfterMs,
  type StreamEvent,
  textOf,
  toolCallsOf,
  ZERO_USAGE,
} from "@normandy/agents";
import { describe, expect, it } from "vitest";

const usage = {
  inputTokens: 10,
  outputTokens: 5,
  cacheReadTokens: 2,
  cacheWriteTokens: 1,
  reasoningTokens: 3,
};

function script(
  events: RawStreamEvent[],
  fail?: Error,
): (signal: AbortSignal) => AsyncIterable<RawStreamEvent> {
  return async function* (signal) {
    for (const e of events) {
      if (signal.aborted) throw new Error("aborted by signal");
      yield e;
    }
    if (fail) throw fail;
  };
}

const full: RawStreamEvent[] = [
  { type: "message_start", id: "m1", model: "test-model" },
  { type: "thinking_delta", index: 0, thinking: "let me " },
  { type: "thinking_delta", index: 0, thinking: "think", signature: "sig" },
  { type: "text_delta", index: 1, text: "Hello, " },
  { type: "text_delta", index: 1, text: "world" },
  { type: "tool_call_start", index: 2, id: "c1", name: "add" },
  { type: "tool_call_delta", index: 2, id: "c1", delta: '{"a":1,' },
  { type: "tool_call_delta", index: 2, id: "c1", delta: '"b":2}' },
  { type: "tool_call_end", index: 2 },
  { type: "tool_call_start", index: 3, id: "c2", name: "broken" },
  { type: "tool_call_delta", index: 3, id: "c2", delta: '{"a":' },
  { type: "tool_call_end", index: 3 },
  { type: "usage", usage },
  { type: "message_end", stopReason: "tool_use", rawStopReason: "tool_use" },
];

describe("ModelStream", () => {
  it("yields normalized events and assembles the response", async () => {
    const stream = new ModelStream("test", script(full));
    const events: StreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const response = await stream.final();
    expect(events.map((e) => e.type)).toEqual(full.map((e) => e.type));
    const end = events.find((e) => e.type === "tool_call_end");
    expect(end).toEqual({
      type: "tool_call_end",
      index: 2,
      call: {
        type: "tool_call",
        id: "c1",
        name: "add",
        arguments: { a: 1, b: 2 },
        rawArguments: '{"a":1,"b":2}',
      },
    });
    expect(response).toEqual({
      id: "m1",
      model: "test-model",
      stopReason: "tool_use",
      rawStopReason: "tool_use",
      usage,
      content: [
        { type: "thinking", thinking: "let me think", signature: "sig" },
        { type: "text", text: "Hello, world" },
        {
          type: "tool_call",
          id: "c1",
          name: "add",
          arguments: { a: 1, b: 2 },
          rawArguments: '{"a":1,"b":2}',
        },
        expect.objectContaining({
          type: "tool_call",
          id: "c2",
          arguments: undefined,
          rawArguments: '{"a":',
          argumentsError: expect.stringMatching(/not valid JSON/),
        }),
      ],
    });
    expect(textOf(response)).toBe("Hello, world");
    expect(toolCallsOf(response).map((c) => c.id)).toEqual(["c1", "c2"]);
    expect(events.at(-1)).toEqual({ type: "message_end", response });
  });

  it("resolves final() without anyone iterating, and refuses a second iteration", async () => {
    const stream = new ModelStream("test", script(full));
    const [a, b] = await Promise.all([stream.final(), stream.final()]);
    expect(a).toBe(b);
    expect(await stream.final()).toBe(a);
    const again = stream[Symbol.asyncIterator]();
    await expect(again.next()).rejects.toThrow(/only once/);
  });

  it("fails with a ProviderError carrying the partial output", async () => {
    const cut = full.slice(0, 7);
    const stream = new ModelStream("test", script(cut, new Error("socket hang up")));
    const seen: string[] = [];
    const error = await (async () => {
      for await (const e of stream) seen.push(e.type);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "network", retryable: true, provider: "test" });
    const partial = (error as ProviderError).partial;
    expect(partial && textOf(partial)).toBe("Hello, world");
    expect(partial?.content[2]).toMatchObject({
      type: "tool_call",
      id: "c1",
      argumentsError: expect.stringMatching(/before the tool call was complete/),
    });
    await expect(stream.final()).rejects.toBe(error);
  });

  it("keeps a provider's own classification, and reports a stream with no end", async () => {
    const limited = new ProviderError({
      kind: "rate_limit",
      provider: "p",
      message: "slow down",
      status: 429,
      retryAfterMs: 1500,
      requestId: "r1",
    });
    const e1 = await new ModelStream("p", script(full.slice(0, 2), limited)).final().catch((e: unknown) => e);
    expect(e1).toMatchObject({
      kind: "rate_limit",
      status: 429,
      retryAfterMs: 1500,
      requestId: "r1",
      retryable: true,
      partial: expect.anything(),
    });
    const e2 = await new ModelStream("p", script(full.slice(0, 3))).final().catch((e: unknown) => e);
    expect(e2).toMatchObject({ kind: "network", message: expect.stringMatching(/without a message end/) });
  });

  it("aborts: by signal before or during the stream, and when the consumer stops early", async () => {
    const before = new AbortController();
    before.abort();
    await expect(new ModelStream("p", script(full), before.signal).final()).rejects.toMatchObject({
      kind: "aborted",
    });
    const during = new AbortController();
    const stream = new ModelStream("p", script(full), during.signal);
    const error = await (async () => {
      for await (const e of stream) if (e.type === "text_delta") during.abort();
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "aborted", retryable: false });
    let sawAbort = false;
    const early = new ModelStream("p", async function* (signal) {
      signal.addEventListener("abort", () => (sawAbort = true));
      yield* full;
    });
    for await (const e of early) if (e.type === "text_delta") break;
    expect(sawAbort).toBe(true);
    await expect(early.final()).rejects.toMatchObject({ kind: "aborted" });
    const manual = new ModelStream("p", script(full));
    manual.abort();
    await expect(manual.final()).rejects.toMatchObject({ kind: "aborted" });
  });

  it("assembles in linear time (100k deltas)", async () => {
    const deltas: RawStreamEvent[] = [{ type: "message_start", id: "m", model: "x" }];
    for (let i = 0; i < 100_000; i++) deltas.push({ type: "text_delta", index: 0, text: "ab" });
    deltas.push({ type: "message_end", stopReason: "end_turn", rawStopReason: "stop" });
    const response = await new ModelStream("p", script(deltas)).final();
    expect(textOf(response)).toHaveLength(200_000);
  });
});

describe("model helpers", () => {
  it("parse tool arguments and sum usage", () => {
    expect(parseToolArguments("")).toEqual({ arguments: {} });
    expect(parseToolArguments('{"x":1}')).toEqual({ arguments: { x: 1 } });
    expect(parseToolArguments("[1]")).toEqual({
      arguments: undefined,
      error: "tool arguments must be a JSON object",
    });
    expect(addUsage(usage, usage)).toEqual({
      inputTokens: 20,
      outputTokens: 10,
      cacheReadTokens: 4,
      cacheWriteTokens: 2,
      reasoningTokens: 6,
    });
    expect(addUsage(ZERO_USAGE, usage)).toEqual(usage);
  });

  it("read Retry-After in ms, seconds or as a date", () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs({ "retry-after-ms": "250", "retry-after": "9" })).toBe(250);
    expect(retryAfterMs(new Headers({ "retry-after": "2" }))).toBe(2000);
    expect(retryAfterMs({ "retry-after": new Date(10_000).toUTCString() }, 7_000)).toBe(3000);
    expect(retryAfterMs({ "retry-after": "soon" })).toBeUndefined();
    expect(retryAfterMs({})).toBeUndefined();
  });
});
