// The pure Anthropic translation: round trips of every message kind, the documented canonicalisation,
// request options, response mapping (stop reasons, usage, tool input), and the stream translator's edge cases.
import type {
  Message as AnthropicMessage,
  RawMessageStreamEvent,
} from "@anthropic-ai/sdk/resources/messages";
import type { Message, ModelRequest, RawStreamEvent } from "@normandy/agents";
import { describe, expect, it } from "vitest";
import { fromAnthropicStream } from "../src/providers/anthropic/anthropicStream.js";
import {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  fromAnthropicMessage,
  fromAnthropicMessages,
  fromAnthropicStopReason,
  fromAnthropicToolInput,
  fromAnthropicUsage,
  toAnthropicCountTokensRequest,
  toAnthropicMessages,
  toAnthropicRequest,
  toAnthropicToolChoice,
} from "../src/providers/anthropic/anthropicWire.js";

const roundTrip = (messages: Message[]) => fromAnthropicMessages(toAnthropicMessages(messages));

describe("round trips (normalized → wire → normalized)", () => {
  it.each<[string, Message[]]>([
    [
      "a string system message and user/assistant strings",
      [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello." },
      ],
    ],
    [
      "system text blocks with a cache breakpoint",
      [
        {
          role: "system",
          content: [
            { type: "text", text: "Rules." },
            { type: "text", text: "Long doc.", cache: true },
          ],
        },
        { role: "user", content: "Hi" },
      ],
    ],
    [
      "user text and images (base64 and url)",
      [
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?", cache: true },
            { type: "image", source: { kind: "base64", mediaType: "image/jpeg", data: "/9j/4AAQ" } },
            { type: "image", source: { kind: "url", url: "https://example.com/a.png" } },
          ],
        },
      ],
    ],
    [
      "assistant thinking with signature, redacted thinking, text and tool calls",
      [
        { role: "user", content: "Go" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "Let me think.", signature: "sig==" },
            { type: "thinking", thinking: "", redacted: "opaque-data" },
            { type: "text", text: "Calling." },
            {
              type: "tool_call",
              id: "toolu_1",
              name: "add",
              arguments: { a: 1, b: [2, 3] },
              rawArguments: '{"a":1,"b":[2,3]}',
            },
            { type: "tool_call", id: "toolu_2", name: "now", arguments: {}, rawArguments: "{}" },
          ],
        },
      ],
    ],
    [
      "tool results: string, blocks with an image, is_error true and false, absent",
      [
        {
          role: "tool",
          content: [
            { type: "tool_result", toolCallId: "toolu_1", content: "3", isError: false },
            {
              type: "tool_result",
              toolCallId: "toolu_2",
              content: [
                { type: "text", text: "see" },
                { type: "image", source: { kind: "url", url: "https://example.com/chart.png" } },
              ],
              isError: true,
            },
            { type: "tool_result", toolCallId: "toolu_3", content: "ok" },
          ],
        },
      ],
    ],
    [
      "consecutive same-role messages, kept apart",
      [
        { role: "user", content: "one" },
        { role: "user", content: "two" },
        { role: "assistant", content: "a" },
        { role: "assistant", content: [{ type: "text", text: "b" }] },
      ],
    ],
    [
      "a user message mixing tool results and text",
      [
        {
          role: "user",
          content: [
            { type: "tool_result", toolCallId: "t", content: "r" },
            { type: "text", text: "and also" },
          ],
        },
      ],
    ],
  ])("%s", (_, messages) => {
    expect(roundTrip(messages)).toEqual(messages);
  });

  it("sends tool messages as user tool_result blocks, never as text", () => {
    const wire = toAnthropicMessages([
      {
        role: "tool",
        content: [{ type: "tool_result", toolCallId: "toolu_1", content: "42", isError: true }],
      },
    ]);
    expect(wire.messages).toEqual([
      {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "42", is_error: true }],
      },
    ]);
  });
});

describe("canonicalisation", () => {
  it("hoists every system message into one top-level system, first", () => {
    const messages: Message[] = [
      { role: "user", content: "hi" },
      { role: "system", content: "A." },
      { role: "system", content: [{ type: "text", text: "B.", cache: true }] },
    ];
    const wire = toAnthropicMessages(messages);
    expect(wire.system).toEqual([
      { type: "text", text: "A." },
      { type: "text", text: "B.", cache_control: { type: "ephemeral" } },
    ]);
    expect(fromAnthropicMessages(wire)).toEqual([
      {
        role: "system",
        content: [
          { type: "text", text: "A." },
          { type: "text", text: "B.", cache: true },
        ],
      },
      { role: "user", content: "hi" },
    ]);
  });

  it("sends a malformed tool call with input {} and thinking without signature with signature ''", () => {
    const wire = toAnthropicMessages([
      {
        role: "assistant",
        content: [
          {
            type: "tool_call",
            id: "a",
            name: "f",
            arguments: undefined,
            rawArguments: "{oops",
            argumentsError: "bad",
          },
          { type: "tool_call", id: "b", name: "f", arguments: undefined, rawArguments: '{"x":1}' },
          { type: "tool_call", id: "c", name: "f", arguments: [1], rawArguments: "[1]" },
          { type: "thinking", thinking: "hm" },
          { type: "text", text: "t", cache: false },
        ],
      },
    ]);
    expect(wire.messages[0]?.content).toEqual([
      { type: "tool_use", id: "a", name: "f", input: {} },
      { type: "tool_use", id: "b", name: "f", input: { x: 1 } },
      { type: "tool_use", id: "c", name: "f", input: {} },
      { type: "thinking", thinking: "hm", signature: "" },
      { type: "text", text: "t" },
    ]);
    expect(fromAnthropicMessages(wire)[0]?.content).toEqual([
      { type: "tool_call", id: "a", name: "f", arguments: {}, rawArguments: "{}" },
      { type: "tool_call", id: "b", name: "f", arguments: { x: 1 }, rawArguments: '{"x":1}' },
      { type: "tool_call", id: "c", name: "f", arguments: {}, rawArguments: "{}" },
      { type: "thinking", thinking: "hm" },
      { type: "text", text: "t" },
    ]);
  });

  it("reads wire-only shapes: inline system messages, absent tool_result content, unknown blocks", () => {
    expect(
      fromAnthropicMessages({
        system: "Top.",
        messages: [
          { role: "system", content: [{ type: "text", text: "Inline." }] },
          { role: "system", content: "Inline string." },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "t" },
              {
                type: "tool_result",
                tool_use_id: "u",
                content: [{ type: "image", source: { type: "file", file_id: "f" } }],
              },
            ],
          },
          {
            role: "user",
            content: [
              { type: "document", source: { type: "text", media_type: "text/plain", data: "doc" } },
              { type: "image", source: { type: "file", file_id: "f" } },
            ],
          },
        ],
      }),
    ).toEqual([
      { role: "system", content: "Top." },
      { role: "system", content: [{ type: "text", text: "Inline." }] },
      { role: "system", content: "Inline string." },
      {
        role: "tool",
        content: [
          { type: "tool_result", toolCallId: "t", content: "" },
          { type: "tool_result", toolCallId: "u", content: [] },
        ],
      },
      { role: "user", content: [] },
    ]);
  });

  it("refuses what the wire cannot express", () => {
    expect(() =>
      toAnthropicMessages([
        { role: "system", content: [{ type: "image", source: { kind: "url", url: "u" } }] },
      ]),
    ).toThrow(/system message may only hold text, not image/);
    expect(() => toAnthropicMessages([{ role: "tool", content: "Tool result: 1" }])).toThrow(
      /tool_result blocks/,
    );
  });
});

describe("toAnthropicRequest", () => {
  const base: ModelRequest = { model: "m", messages: [{ role: "user", content: "hi" }] };

  it("defaults max_tokens, adds the thinking budget, honours an explicit value and an option", () => {
    expect(toAnthropicRequest(base).max_tokens).toBe(ANTHROPIC_DEFAULT_MAX_TOKENS);
    expect(toAnthropicRequest({ ...base, thinking: { budgetTokens: 1000 } }).max_tokens).toBe(1000 + 4096);
    expect(toAnthropicRequest({ ...base, maxTokens: 10, thinking: { budgetTokens: 1 } }).max_tokens).toBe(10);
    expect(toAnthropicRequest(base, { defaultMaxTokens: 99 }).max_tokens).toBe(99);
  });

  it("merges extras last, except stream which stays ours", () => {
    const extras = { top_k: 5, max_tokens: 50, stream: true };
    expect(toAnthropicRequest({ ...base, extras })).toEqual({
      model: "m",
      max_tokens: 50,
      top_k: 5,
      messages: base.messages,
    });
    expect(toAnthropicRequest({ ...base, extras: { stream: false } }, { stream: true }).stream).toBe(true);
  });

  it("caches a string system prompt as one block, leaves no system alone, omits empty lists", () => {
    const cached = toAnthropicRequest({
      ...base,
      messages: [{ role: "system", content: "S" }, ...base.messages],
      cache: true,
    });
    expect(cached.system).toEqual([{ type: "text", text: "S", cache_control: { type: "ephemeral" } }]);
    const bare = toAnthropicRequest({ ...base, cache: true, tools: [], stop: [] });
    expect(bare).toEqual({ model: "m", max_tokens: 4096, messages: base.messages });
    expect(
      toAnthropicRequest({ ...base, messages: [{ role: "system", content: [] }], cache: true }).system,
    ).toEqual([]);
  });

  it("counts tokens with the same translation, without max_tokens, sampling, stop or extras", () => {
    const request: ModelRequest = {
      ...base,
      maxTokens: 5,
      temperature: 1,
      topP: 1,
      stop: ["x"],
      thinking: { budgetTokens: 2000 },
      extras: { metadata: {} },
    };
    expect(toAnthropicCountTokensRequest(request)).toEqual({
      model: "m",
      messages: base.messages,
      thinking: { type: "enabled", budget_tokens: 2000 },
    });
  });

  it("maps tool choices", () => {
    expect(toAnthropicToolChoice(undefined, undefined)).toBeUndefined();
    expect(toAnthropicToolChoice(undefined, true)).toBeUndefined();
    expect(toAnthropicToolChoice("none", false)).toEqual({ type: "none" });
    expect(toAnthropicToolChoice("required", true)).toEqual({ type: "any" });
    expect(toAnthropicToolChoice("required", false)).toEqual({
      type: "any",
      disable_parallel_tool_use: true,
    });
    expect(toAnthropicToolChoice({ name: "f" }, undefined)).toEqual({ type: "tool", name: "f" });
  });
});

describe("responses", () => {
  const message = (over: Partial<AnthropicMessage>): AnthropicMessage =>
    ({
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-x",
      content: [],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 4 },
      ...over,
    }) as AnthropicMessage;

  it.each([
    ["end_turn", "end_turn"],
    ["tool_use", "tool_use"],
    ["max_tokens", "max_tokens"],
    ["stop_sequence", "stop_sequence"],
    ["refusal", "refusal"],
    ["pause_turn", "pause_turn"],
    ["model_context_window_exceeded", "other"],
    ["toString", "other"],
    [null, "other"],
    [undefined, "other"],
  ] as const)("stop reason %s → %s", (raw, expected) => {
    expect(fromAnthropicStopReason(raw)).toBe(expected);
  });

  it("keeps the raw stop reason, undefined when null", () => {
    expect(fromAnthropicMessage(message({ stop_reason: "refusal" }))).toMatchObject({
      stopReason: "refusal",
      rawStopReason: "refusal",
    });
    expect(fromAnthropicMessage(message({ stop_reason: null })).rawStopReason).toBeUndefined();
  });

  it("normalizes usage: input includes cache parts; reasoning from thinking_tokens when reported", () => {
    expect(
      fromAnthropicUsage({
        input_tokens: 10,
        output_tokens: 20,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 5,
        output_tokens_details: { thinking_tokens: 7 },
      }),
    ).toEqual({
      inputTokens: 115,
      outputTokens: 20,
      cacheReadTokens: 100,
      cacheWriteTokens: 5,
      reasoningTokens: 7,
    });
    expect(fromAnthropicUsage({ input_tokens: 1, output_tokens: 2, cache_read_input_tokens: null })).toEqual({
      inputTokens: 1,
      outputTokens: 2,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    expect(fromAnthropicUsage(undefined).inputTokens).toBe(0);
  });

  it("drops blocks without a normalized counterpart, keeps order of the rest", () => {
    const response = fromAnthropicMessage(
      message({
        content: [
          { type: "text", text: "a", citations: null },
          { type: "server_tool_use", id: "s", name: "web_search", input: {} },
          { type: "redacted_thinking", data: "d" },
        ] as AnthropicMessage["content"],
      }),
    );
    expect(response.content).toEqual([
      { type: "text", text: "a" },
      { type: "thinking", thinking: "", redacted: "d" },
    ]);
  });

  it("builds tool calls from object, string, non-object and missing inputs", () => {
    expect(fromAnthropicToolInput("i", "n", { a: 1 })).toEqual({
      type: "tool_call",
      id: "i",
      name: "n",
      arguments: { a: 1 },
      rawArguments: '{"a":1}',
    });
    expect(fromAnthropicToolInput("i", "n", '{"a":1}')).toMatchObject({
      arguments: { a: 1 },
      rawArguments: '{"a":1}',
    });
    expect(fromAnthropicToolInput("i", "n", "{oops")).toMatchObject({
      arguments: undefined,
      rawArguments: "{oops",
    });
    expect(fromAnthropicToolInput("i", "n", [1]).argumentsError).toBe("tool arguments must be a JSON object");
    expect(fromAnthropicToolInput("i", "n", undefined)).toMatchObject({ arguments: {}, rawArguments: "{}" });
  });
});

describe("fromAnthropicStream", () => {
  async function* from(events: unknown[]): AsyncGenerator<RawMessageStreamEvent> {
    for (const e of events) yield e as RawMessageStreamEvent;
  }
  async function run(events: unknown[], signal?: AbortSignal): Promise<RawStreamEvent[]> {
    const out: RawStreamEvent[] = [];
    for await (const e of fromAnthropicStream(from(events), "anthropic", signal)) out.push(e);
    return out;
  }
  const start = {
    type: "message_start",
    message: {
      id: "m",
      model: "x",
      usage: { input_tokens: 2, output_tokens: 1, cache_read_input_tokens: 3 },
    },
  };

  it("handles prefilled starts, redacted thinking, citations, unknown events and tool deltas without a start", async () => {
    const events = await run([
      start,
      { type: "content_block_start", index: 0, content_block: { type: "redacted_thinking", data: "d" } },
      { type: "content_block_stop", index: 0 },
      {
        type: "content_block_start",
        index: 1,
        content_block: { type: "thinking", thinking: "pre", signature: "" },
      },
      { type: "content_block_start", index: 2, content_block: { type: "text", text: "Hello" } },
      { type: "content_block_delta", index: 2, delta: { type: "citations_delta", citation: {} } },
      {
        type: "content_block_start",
        index: 3,
        content_block: { type: "server_tool_use", id: "s", name: "w", input: {} },
      },
      { type: "content_block_delta", index: 4, delta: { type: "input_json_delta", partial_json: "{}" } },
      { type: "content_block_delta", index: 4, delta: { type: "input_json_delta", partial_json: "" } },
      { type: "brand_new_event" },
      {
        type: "message_delta",
        delta: { stop_reason: null },
        usage: { output_tokens: 9, input_tokens: null },
      },
      { type: "message_stop" },
      { type: "content_block_delta", index: 2, delta: { type: "text_delta", text: "after the end" } },
    ]);
    expect(events).toEqual([
      { type: "message_start", id: "m", model: "x" },
      {
        type: "usage",
        usage: {
          inputTokens: 5,
          outputTokens: 1,
          cacheReadTokens: 3,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
        },
      },
      { type: "thinking_delta", index: 0, thinking: "" },
      { type: "thinking_delta", index: 1, thinking: "pre" },
      { type: "text_delta", index: 2, text: "Hello" },
      { type: "tool_call_delta", index: 4, id: "", delta: "{}" },
      {
        type: "usage",
        usage: {
          inputTokens: 5,
          outputTokens: 9,
          cacheReadTokens: 3,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
        },
      },
      { type: "message_end", stopReason: "other", rawStopReason: undefined },
    ]);
  });

  it("takes input and cache counts from message_delta when it reports them", async () => {
    const events = await run([
      start,
      {
        type: "message_delta",
        delta: { stop_reason: "end_turn" },
        usage: {
          output_tokens: 4,
          input_tokens: 10,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 6,
        },
      },
      { type: "message_stop" },
    ]);
    expect(events.at(-2)).toEqual({
      type: "usage",
      usage: {
        inputTokens: 16,
        outputTokens: 4,
        cacheReadTokens: 0,
        cacheWriteTokens: 6,
        reasoningTokens: 0,
      },
    });
    expect(events.at(-1)).toEqual({ type: "message_end", stopReason: "end_turn", rawStopReason: "end_turn" });
  });

  it("reports a silent end after an abort as aborted, otherwise as network", async () => {
    await expect(run([start], AbortSignal.abort())).rejects.toMatchObject({ kind: "aborted" });
    await expect(run([start])).rejects.toMatchObject({
      kind: "network",
      message: "the response stream ended before message_stop (after 1 events)",
    });
    await expect(run([])).rejects.toMatchObject({
      kind: "network",
      message: "the response stream was empty (no event)",
    });
  });
});
