import { estimateRequestTokens, estimateTokens, parseScript, ScriptError } from "@normandy/testing";
import { describe, expect, it } from "vitest";

describe("parseScript", () => {
  it("accepts every turn shape a JSON script can hold", () => {
    const turns = [
      {
        text: "hi",
        thinking: "hmm",
        thinkingSignature: "sig",
        stopReason: "end_turn",
        usage: { inputTokens: 1 },
      },
      {
        toolCalls: [
          { name: "t", arguments: { a: 1 }, id: "call_1" },
          { name: "u", rawArguments: "{" },
        ],
      },
      { json: null, latency: { firstByteMs: 1, chunkDelayMs: 2, chunkSize: 3 } },
      { text: "x", stopReason: "stop_sequence", stopSequence: "END" },
      {
        fault: {
          kind: "rate_limit",
          retryAfterSeconds: 2,
          retryAfterMs: null,
          message: "m",
          headers: { a: "b" },
        },
      },
      { fault: { kind: "overloaded" }, latency: { firstByteMs: 5 } },
      { fault: { kind: "http", status: 418, type: "teapot", code: "short_and_stout" } },
      { fault: { kind: "connection_reset" } },
      { fault: { kind: "empty_stream" } },
      { fault: { kind: "stream_cut", afterEvents: 3, reply: { text: "abc" } } },
      { fault: { kind: "stream_error", afterEvents: 0, message: "busy" } },
    ];
    expect(parseScript(turns)).toEqual(turns);
  });

  it.each([
    [{}, "turn 0: a reply needs at least one of text, thinking, toolCalls, json (or give a fault)"],
    [[], "turn 0: must be an object"],
    [{ text: "a", json: {} }, "turn 0: give either text or json, not both"],
    [{ text: "a", tool_calls: [] }, 'turn 0: unknown key "tool_calls"'],
    [{ thinking: 3 }, "turn 0: thinking must be a string"],
    [{ toolCalls: {} }, "turn 0: toolCalls must be a non-empty array"],
    [{ toolCalls: [{ name: "", arguments: {} }] }, "turn 0.toolCalls[0]: name must be a non-empty string"],
    [{ toolCalls: [{ name: "t" }] }, "turn 0.toolCalls[0]: give exactly one of arguments and rawArguments"],
    [{ toolCalls: [{ name: "t", arguments: {}, rawArguments: "{}" }] }, "give exactly one of"],
    [{ toolCalls: [{ name: "t", rawArguments: 1 }] }, "turn 0.toolCalls[0]: rawArguments must be a string"],
    [{ toolCalls: [{ name: "t", arguments: {}, id: 1 }] }, "turn 0.toolCalls[0]: id must be a string"],
    [{ toolCalls: ["t"] }, "turn 0.toolCalls[0]: must be an object"],
    [{ text: "a", stopReason: "done" }, "turn 0: stopReason must be one of"],
    [{ text: "a", usage: { inputTokens: -1 } }, "turn 0.usage: inputTokens must be a number ≥ 0"],
    [{ text: "a", usage: { input: 1 } }, 'turn 0.usage: unknown key "input"'],
    [{ text: "a", latency: { chunkSize: 0 } }, "turn 0.latency: chunkSize must be a number ≥ 1"],
    [{ text: "a", latency: { firstByteMs: Number.NaN } }, "turn 0.latency: firstByteMs must be a number ≥ 0"],
    [{ text: "a", latency: 5 }, "turn 0.latency: must be an object"],
    [{ fault: "rate_limit" }, "turn 0.fault: must be an object with a kind"],
    [{ fault: { kind: "teapot" } }, 'turn 0.fault: unknown fault kind "teapot"'],
    [{ fault: { kind: "server_error" }, text: "a" }, 'turn 0: unknown key "text"'],
    [{ fault: { kind: "server_error", status: 500 } }, 'turn 0.fault: unknown key "status"'],
    [
      { fault: { kind: "rate_limit", retryAfterSeconds: "2" } },
      "turn 0.fault: retryAfterSeconds must be a number ≥ 0",
    ],
    [{ fault: { kind: "http", status: 200 } }, "turn 0.fault: status must be an integer from 400 to 599"],
    [{ fault: { kind: "http" } }, "turn 0.fault: status must be an integer from 400 to 599"],
    [{ fault: { kind: "http", status: 400, type: 1 } }, "turn 0.fault: type must be a string"],
    [{ fault: { kind: "server_error", message: 1 } }, "turn 0.fault: message must be a string"],
    [
      { fault: { kind: "server_error", headers: { a: 1 } } },
      "turn 0.fault: headers must be an object of strings",
    ],
    [{ fault: { kind: "server_error", headers: "a" } }, "turn 0.fault: headers must be an object of strings"],
    [{ fault: { kind: "stream_cut", message: "m" } }, 'turn 0.fault: unknown key "message"'],
    [{ fault: { kind: "stream_cut", reply: {} } }, "turn 0.fault.reply: a reply needs at least one of"],
    [{ fault: { kind: "stream_error", afterEvents: -1 } }, "turn 0.fault: afterEvents must be a number ≥ 0"],
    [{ fault: { kind: "connection_reset", afterEvents: 1 } }, 'turn 0.fault: unknown key "afterEvents"'],
  ])("rejects %j", (turn, message) => {
    expect(() => parseScript([turn])).toThrow(ScriptError);
    expect(() => parseScript([turn])).toThrow(message);
  });

  it("rejects values JSON cannot carry, and a script that is not an array", () => {
    expect(() => parseScript([{ json: undefined }])).toThrow("turn 0: json must be JSON-serialisable");
    expect(() => parseScript([{ toolCalls: [{ name: "t", arguments: () => 1 }] }])).toThrow(
      "turn 0.toolCalls[0]: arguments must be JSON-serialisable",
    );
    expect(() => parseScript([{ json: 1n }])).toThrow("turn 0: json must be JSON-serialisable");
    expect(() => parseScript({ turns: [] })).toThrow(
      new ScriptError("a script must be a JSON array of turns"),
    );
    expect(new ScriptError("x").name).toBe("ScriptError");
  });
});

describe("token estimates", () => {
  it("counts ceil(characters / 4): strings by length, other values by their JSON", () => {
    expect(estimateTokens("hello world!")).toBe(3);
    expect(estimateTokens("abcde")).toBe(2);
    expect(estimateTokens()).toBe(0);
    expect(estimateTokens(undefined, null, "")).toBe(0);
    expect(estimateTokens([{ a: 1 }])).toBe(Math.ceil('[{"a":1}]'.length / 4));
    expect(estimateTokens(() => 1)).toBe(0);
  });

  it("estimates a request from system, messages and tools", () => {
    const body = {
      model: "m",
      system: "sys",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ name: "t" }],
    };
    expect(estimateRequestTokens(body)).toBe(estimateTokens("sys", body.messages, body.tools));
    expect(estimateRequestTokens("not an object")).toBe(0);
    expect(estimateRequestTokens(null)).toBe(0);
  });
});
