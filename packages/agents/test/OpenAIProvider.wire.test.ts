// The OpenAI wire translation, without HTTP: round trips of every message kind (normalized → wire →
// normalized), the documented canonicalisation, completions and usage, and the chunk translator's edge cases.
import {
  type Message,
  ModelStream,
  ProviderError,
  type RawStreamEvent,
  type ToolCallBlock,
  textOf,
} from "@normandy/agents";
import fc from "fast-check";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam } from "openai/resources";
import { describe, expect, it } from "vitest";
import { openaiRawEvents } from "../src/providers/openai/openaiStream.js";
import {
  fromOpenAICompletion,
  fromOpenAIFinishReason,
  fromOpenAIMessages,
  fromOpenAIUsage,
  toOpenAIMessages,
  toOpenAIRequest,
  toOpenAIToolChoice,
} from "../src/providers/openai/openaiWire.js";

const call = (id: string, args: object): ToolCallBlock => ({
  type: "tool_call",
  id,
  name: "get_weather",
  arguments: args,
  rawArguments: JSON.stringify(args),
});

const roundTrip = (messages: readonly Message[]) => fromOpenAIMessages(toOpenAIMessages(messages));

describe("message round trips (normalized → wire → normalized)", () => {
  const kinds: [string, Message][] = [
    ["system string", { role: "system", content: "Be terse." }],
    [
      "system blocks",
      {
        role: "system",
        content: [
          { type: "text", text: "A" },
          { type: "text", text: "B" },
        ],
      },
    ],
    ["user string", { role: "user", content: "Hi" }],
    [
      "user text and images",
      {
        role: "user",
        content: [
          { type: "text", text: "Look:" },
          { type: "image", source: { kind: "base64", mediaType: "image/jpeg", data: "/9j/4AAQ" } },
          { type: "image", source: { kind: "url", url: "https://example.com/a.png" } },
        ],
      },
    ],
    ["user empty blocks", { role: "user", content: [] }],
    ["assistant string", { role: "assistant", content: "Hello." }],
    ["assistant text blocks", { role: "assistant", content: [{ type: "text", text: "Hello." }] }],
    [
      "assistant text and tool calls",
      {
        role: "assistant",
        content: [
          { type: "text", text: "Checking." },
          call("c1", { city: "Paris" }),
          call("c2", { city: "Rome" }),
        ],
      },
    ],
    ["assistant tool call only", { role: "assistant", content: [call("c1", {})] }],
    [
      "assistant malformed tool call",
      {
        role: "assistant",
        content: [
          {
            type: "tool_call",
            id: "c9",
            name: "f",
            arguments: undefined,
            rawArguments: '{"a":',
            argumentsError: "tool arguments are not valid JSON: Unexpected end of JSON input",
          },
        ],
      },
    ],
    ["assistant empty", { role: "assistant", content: [] }],
    [
      "tool result string",
      { role: "tool", content: [{ type: "tool_result", toolCallId: "c1", content: "21°C" }] },
    ],
    [
      "tool result text blocks",
      {
        role: "tool",
        content: [{ type: "tool_result", toolCallId: "c1", content: [{ type: "text", text: "ok" }] }],
      },
    ],
  ];

  it.each(kinds)("%s", (_name, message) => {
    expect(roundTrip([message])).toEqual([message]);
  });

  it("holds for a whole conversation", () => {
    const conversation = kinds.map(([, m]) => m);
    expect(roundTrip(conversation)).toEqual(conversation);
  });

  it("holds for arbitrary canonical messages (property)", () => {
    const text = fc.record({ type: fc.constant("text" as const), text: fc.string() });
    const image = fc.oneof(
      fc.record({
        type: fc.constant("image" as const),
        source: fc.record({
          kind: fc.constant("base64" as const),
          mediaType: fc.constantFrom("image/png", "image/jpeg", "image/webp"),
          data: fc.base64String(),
        }),
      }),
      fc.record({
        type: fc.constant("image" as const),
        source: fc.record({ kind: fc.constant("url" as const), url: fc.webUrl() }),
      }),
    );
    const toolCall = fc
      .record({
        id: fc.string({ minLength: 1 }),
        name: fc.string({ minLength: 1 }),
        args: fc.dictionary(
          fc.string(),
          fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null)),
        ),
      })
      .map(({ id, name, args }): ToolCallBlock => {
        const rawArguments = JSON.stringify(args);
        return { type: "tool_call", id, name, arguments: JSON.parse(rawArguments), rawArguments };
      });
    const message: fc.Arbitrary<Message> = fc.oneof(
      fc.record({
        role: fc.constantFrom("system" as const, "user" as const, "assistant" as const),
        content: fc.string(),
      }),
      fc.record({ role: fc.constant("system" as const), content: fc.array(text) }),
      fc.record({ role: fc.constant("user" as const), content: fc.array(fc.oneof(text, image)) }),
      fc
        .tuple(fc.array(text), fc.array(toolCall))
        .map(([texts, calls]): Message => ({ role: "assistant", content: [...texts, ...calls] })),
      fc.record({ toolCallId: fc.string(), content: fc.oneof(fc.string(), fc.array(text)) }).map(
        ({ toolCallId, content }): Message => ({
          role: "tool",
          content: [{ type: "tool_result", toolCallId, content }],
        }),
      ),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), (messages) => {
        expect(roundTrip(messages)).toEqual(messages);
      }),
    );
  });
});

describe("canonicalisation", () => {
  it("splits several tool results into one tool message each, and moves user-placed results out", () => {
    const results: Message = {
      role: "tool",
      content: [
        { type: "tool_result", toolCallId: "c1", content: "a" },
        { type: "tool_result", toolCallId: "c2", content: "b", isError: true },
      ],
    };
    expect(roundTrip([results])).toEqual([
      { role: "tool", content: [{ type: "tool_result", toolCallId: "c1", content: "a" }] },
      { role: "tool", content: [{ type: "tool_result", toolCallId: "c2", content: "b" }] },
    ]);
    const anthropicStyle: Message = {
      role: "user",
      content: [
        { type: "tool_result", toolCallId: "c1", content: "a" },
        { type: "text", text: "and now?" },
      ],
    };
    expect(toOpenAIMessages([anthropicStyle])).toEqual([
      { role: "tool", tool_call_id: "c1", content: "a" },
      { role: "user", content: [{ type: "text", text: "and now?" }] },
    ]);
    expect(
      toOpenAIMessages([
        { role: "user", content: [{ type: "tool_result", toolCallId: "c1", content: "a" }] },
      ]),
    ).toEqual([{ role: "tool", tool_call_id: "c1", content: "a" }]);
  });

  it("drops thinking and cache marks, and puts an assistant's text before its tool calls", () => {
    const message: Message = {
      role: "assistant",
      content: [
        { type: "thinking", thinking: "hmm", signature: "sig" },
        call("c1", { x: 1 }),
        { type: "text", text: "Done.", cache: true },
      ],
    };
    expect(toOpenAIMessages([message])).toEqual([
      {
        role: "assistant",
        content: [{ type: "text", text: "Done." }],
        tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"x":1}' } }],
      },
    ]);
    expect(roundTrip([message])).toEqual([
      { role: "assistant", content: [{ type: "text", text: "Done." }, call("c1", { x: 1 })] },
    ]);
    expect(
      toOpenAIMessages([{ role: "assistant", content: [{ type: "thinking", thinking: "only" }] }]),
    ).toEqual([{ role: "assistant", content: null }]);
  });

  it("serialises the arguments of a hand-made tool call without raw text", () => {
    const handMade: ToolCallBlock = {
      type: "tool_call",
      id: "c1",
      name: "f",
      arguments: { a: 1 },
      rawArguments: "",
    };
    const [wire] = toOpenAIMessages([{ role: "assistant", content: [handMade] }]);
    expect(wire).toMatchObject({ tool_calls: [{ function: { arguments: '{"a":1}' } }] });
    const noArgs: ToolCallBlock = { ...handMade, arguments: undefined };
    expect(toOpenAIMessages([{ role: "assistant", content: [noArgs] }])[0]).toMatchObject({
      tool_calls: [{ function: { arguments: "{}" } }],
    });
  });

  it("sends the images of tool results in a user message after the run of tool messages", () => {
    const png = { type: "image", source: { kind: "base64", mediaType: "image/png", data: "AAAA" } } as const;
    const messages: Message[] = [
      {
        role: "tool",
        content: [
          { type: "tool_result", toolCallId: "c1", content: [{ type: "text", text: "screenshot:" }, png] },
          { type: "tool_result", toolCallId: "c2", content: [png] },
        ],
      },
      { role: "assistant", content: "I see." },
      { role: "tool", content: [{ type: "tool_result", toolCallId: "c3", content: [png] }] },
    ];
    const dataUrl = { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } };
    expect(toOpenAIMessages(messages)).toEqual([
      { role: "tool", tool_call_id: "c1", content: [{ type: "text", text: "screenshot:" }] },
      { role: "tool", tool_call_id: "c2", content: "" },
      {
        role: "user",
        content: [
          { type: "text", text: "Images from tool call c1:" },
          dataUrl,
          { type: "text", text: "Images from tool call c2:" },
          dataUrl,
        ],
      },
      { role: "assistant", content: "I see." },
      { role: "tool", tool_call_id: "c3", content: "" },
      { role: "user", content: [{ type: "text", text: "Images from tool call c3:" }, dataUrl] },
    ]);
  });

  it("reads developer messages, refusals, string content with tool calls, and custom tool calls", () => {
    const wire: ChatCompletionMessageParam[] = [
      { role: "developer", content: "Rules." },
      { role: "assistant", content: null, refusal: "I can't help with that." },
      {
        role: "assistant",
        content: [
          { type: "text", text: "a" },
          { type: "refusal", refusal: "no" },
        ],
      },
      {
        role: "assistant",
        content: "Calling.",
        tool_calls: [{ id: "x1", type: "custom", custom: { name: "sql", input: "SELECT 1" } }],
      },
      { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/gif;base64,R0lG" } }] },
      { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/svg+xml,<svg/>" } }] },
    ];
    expect(fromOpenAIMessages(wire)).toEqual([
      { role: "system", content: "Rules." },
      { role: "assistant", content: [{ type: "text", text: "I can't help with that." }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "no" },
        ],
      },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Calling." },
          {
            type: "tool_call",
            id: "x1",
            name: "sql",
            arguments: undefined,
            rawArguments: "SELECT 1",
            argumentsError: expect.stringMatching(/not valid JSON/),
          },
        ],
      },
      {
        role: "user",
        content: [{ type: "image", source: { kind: "base64", mediaType: "image/gif", data: "R0lG" } }],
      },
      {
        role: "user",
        content: [{ type: "image", source: { kind: "url", url: "data:image/svg+xml,<svg/>" } }],
      },
    ]);
  });
});

describe("what the wire cannot carry → invalid_request", () => {
  const png = { type: "image", source: { kind: "url", url: "https://x/y.png" } } as const;
  const cases: [string, Message][] = [
    ["an image in a system message", { role: "system", content: [png] }],
    ["a tool call in a user message", { role: "user", content: [call("c1", {})] }],
    ["an image in an assistant message", { role: "assistant", content: [png] }],
    ["a tool message with a string", { role: "tool", content: "result" }],
    ["a tool message with text", { role: "tool", content: [{ type: "text", text: "x" }] }],
  ];
  it.each(cases)("%s", (_name, message) => {
    let error: unknown;
    try {
      toOpenAIMessages([message], { provider: "vllm" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "invalid_request", provider: "vllm", retryable: false });
  });

  it("rejects function messages and audio parts when reading the wire", () => {
    expect(() => fromOpenAIMessages([{ role: "function", name: "f", content: "x" }])).toThrow(
      /function messages are not supported/,
    );
    expect(() =>
      fromOpenAIMessages([
        { role: "user", content: [{ type: "input_audio", input_audio: { data: "", format: "wav" } }] },
      ]),
    ).toThrow(/input_audio content parts are not supported/);
  });

  it("reports a translation failure of stream() through the stream", async () => {
    const { OpenAIProvider } = await import("../src/providers/openai/OpenAIProvider.js");
    const provider = new OpenAIProvider({ apiKey: "k", baseURL: "http://127.0.0.1:9/v1" });
    const bad = { model: "m", messages: [{ role: "tool", content: "x" } as const] };
    await expect(provider.stream(bad).final()).rejects.toMatchObject({ kind: "invalid_request" });
    await expect(provider.complete(bad)).rejects.toMatchObject({ kind: "invalid_request" });
  });
});

describe("request, completion and usage mapping", () => {
  it("maps tool choices and response formats", () => {
    expect(["auto", "none", "required"].map((c) => toOpenAIToolChoice(c as "auto"))).toEqual([
      "auto",
      "none",
      "required",
    ]);
    expect(toOpenAIToolChoice({ name: "f" })).toEqual({ type: "function", function: { name: "f" } });
    const body = toOpenAIRequest(
      {
        model: "m",
        messages: [],
        responseFormat: { type: "json_schema", name: "r", schema: { type: "object" } },
      },
      { stream: false },
    );
    expect(body).toEqual({
      model: "m",
      messages: [],
      response_format: { type: "json_schema", json_schema: { name: "r", schema: { type: "object" } } },
    });
    expect(toOpenAIRequest({ model: "m", messages: [], maxTokens: 9 }, { stream: true })).toEqual({
      model: "m",
      messages: [],
      max_completion_tokens: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(
      toOpenAIRequest({ model: "m", messages: [], responseFormat: { type: "text" } }, { stream: false }),
    ).toEqual({
      model: "m",
      messages: [],
      response_format: { type: "text" },
    });
  });

  it("maps finish reasons and usage", () => {
    expect(
      ["stop", "tool_calls", "length", "content_filter", "function_call", "eos", null, undefined].map(
        fromOpenAIFinishReason,
      ),
    ).toEqual(["end_turn", "tool_use", "max_tokens", "content_filter", "other", "other", "other", "other"]);
    expect(fromOpenAIUsage(undefined)).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    expect(fromOpenAIUsage({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 })).toEqual({
      inputTokens: 10,
      outputTokens: 3,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
  });

  const completion = (
    message: Partial<ChatCompletion.Choice["message"]>,
    finish = "stop",
  ): ChatCompletion => ({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 0,
    model: "m",
    choices: [
      {
        index: 0,
        logprobs: null,
        finish_reason: finish as "stop",
        message: { role: "assistant", content: null, refusal: null, ...message },
      },
    ],
  });

  it("reads a refusal as text with stop reason refusal, and a content filter as a stop reason", () => {
    const refused = fromOpenAICompletion(completion({ refusal: "I can't." }));
    expect(refused).toMatchObject({
      content: [{ type: "text", text: "I can't." }],
      stopReason: "refusal",
      rawStopReason: "stop",
    });
    const filtered = fromOpenAICompletion(completion({ content: "" }, "content_filter"));
    expect(filtered).toMatchObject({
      content: [],
      stopReason: "content_filter",
      rawStopReason: "content_filter",
    });
    expect(filtered.usage.inputTokens).toBe(0);
  });

  it("fails on a completion without choices, and tolerates a missing finish reason", () => {
    expect(() => fromOpenAICompletion({ ...completion({}), choices: [] })).toThrow(
      expect.objectContaining({ kind: "server", provider: "openai" }),
    );
    const noFinish = fromOpenAICompletion(completion({ content: "hi" }, null as unknown as string));
    expect(noFinish).toMatchObject({ stopReason: "other", rawStopReason: undefined });
  });
});

describe("the chunk translator", () => {
  const base = { id: "chatcmpl-9", object: "chat.completion.chunk" as const, created: 0, model: "m" };
  const chunk = (
    delta: ChatCompletionChunk.Choice["delta"],
    finish: ChatCompletionChunk.Choice["finish_reason"] = null,
    index = 0,
  ): ChatCompletionChunk => ({ ...base, choices: [{ index, delta, finish_reason: finish }] });
  async function* from(chunks: ChatCompletionChunk[], error?: Error): AsyncGenerator<ChatCompletionChunk> {
    yield* chunks;
    if (error) throw error;
  }
  async function events(chunks: ChatCompletionChunk[], signal = new AbortController().signal) {
    const out: RawStreamEvent[] = [];
    for await (const e of openaiRawEvents(from(chunks), signal, "p")) out.push(e);
    return out;
  }

  it("streams a refusal as text, skips a leading filter chunk and other choices, and allows text after tools", async () => {
    const out = await events([
      { ...base, id: "", model: "", choices: [] },
      chunk({ role: "assistant", content: "", refusal: null }),
      chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f" } }] }),
      chunk({ content: "ignored" }, null, 1),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }),
      chunk({ refusal: "No." }),
      chunk({ content: " I", refusal: " can't." }),
      chunk({ content: " Sorry." }),
      chunk({}, "stop"),
    ]);
    expect(out).toEqual([
      { type: "message_start", id: "chatcmpl-9", model: "m" },
      { type: "tool_call_start", index: 0, id: "c1", name: "f" },
      { type: "tool_call_delta", index: 0, id: "c1", delta: "{}" },
      { type: "text_delta", index: 1, text: "No." },
      { type: "text_delta", index: 1, text: " I" },
      { type: "text_delta", index: 1, text: " can't." },
      { type: "text_delta", index: 1, text: " Sorry." },
      { type: "tool_call_end", index: 0 },
      { type: "message_end", stopReason: "refusal", rawStopReason: "stop" },
    ]);
  });

  it("starts on a usage-only chunk and tolerates a tool call without id or name", async () => {
    const usage = { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 };
    const out = await events([
      { ...base, choices: [], usage },
      chunk({ tool_calls: [{ index: 3 }] }),
      chunk({}, "tool_calls"),
    ]);
    expect(out.map((e) => e.type)).toEqual([
      "message_start",
      "usage",
      "tool_call_start",
      "tool_call_end",
      "message_end",
    ]);
    expect(out[2]).toEqual({ type: "tool_call_start", index: 0, id: "", name: "" });
  });

  it("fails a stream that ends before its finish reason (network), or is aborted", async () => {
    const cut = await events([chunk({ content: "half" })]).catch((e: unknown) => e);
    expect(cut).toMatchObject({
      kind: "network",
      provider: "p",
      message: expect.stringMatching(/finish reason/),
    });
    const controller = new AbortController();
    const out: RawStreamEvent[] = [];
    const aborted = await (async () => {
      for await (const e of openaiRawEvents(
        from([chunk({ content: "a" }), chunk({ content: "b" })]),
        controller.signal,
      )) {
        out.push(e);
        controller.abort("stop");
      }
    })().catch((e: unknown) => e);
    expect(aborted).toMatchObject({ kind: "aborted", provider: "openai", cause: "stop" });
    expect(out.map((e) => e.type)).toEqual(["message_start", "text_delta"]);
  });

  it("classifies what the chunk iterator throws", async () => {
    const error = await (async () => {
      for await (const _ of openaiRawEvents(
        from([chunk({ content: "a" })], new TypeError("terminated")),
        new AbortController().signal,
      )) {
        // drained
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "network" });
    const stream = new ModelStream("p", (signal) =>
      openaiRawEvents(from([chunk({ content: "abc" })], new TypeError("terminated")), signal, "p"),
    );
    const failed = await stream.final().catch((e: unknown) => e as ProviderError);
    expect(failed).toBeInstanceOf(ProviderError);
    expect(textOf((failed as ProviderError).partial ?? { content: [] })).toBe("abc");
  });
});
