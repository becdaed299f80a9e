// Record / replay of provider exchanges: real agents record multi-step tool runs (complete and
// streaming) against the loopback LLM server over both wire formats, the server is stopped, and fresh
// agents replay the runs from the JSONL file with identical results; plus the typed failures (mismatch,
// exhaustion, recorded provider errors, bad files, failed writes), abort signals and secrets.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AgentEvent,
  AnthropicProvider,
  calculator,
  defineAgent,
  ModelCatalog,
  type ModelRequest,
  OpenAIProvider,
  type Provider,
  ProviderError,
  type StreamEvent,
  stringManipulator,
} from "@normandy/agents";
import {
  fileSink,
  memorySink,
  parseRecording,
  RECORDING_VERSION,
  REDACTED,
  type RecordedExchange,
  type RecordedStream,
  RecordingFormatError,
  RecordingWriteError,
  ReplayExhaustedError,
  ReplayedError,
  ReplayMismatchError,
  readRecording,
  recordingProvider,
  replayProvider,
} from "@normandy/observability";
import { LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const API_KEY = "sk-normandy-test-SECRET-4b1d9e";

const servers: LoopbackLLMServer[] = [];
let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "normandy-replay-"));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(script: ScriptedTurn[]): Promise<LoopbackLLMServer> {
  const server = await new LoopbackLLMServer({ script }).start();
  servers.push(server);
  return server;
}

/** Stops a server before the replay, so any network use would fail. */
async function stop(server: LoopbackLLMServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await server.stop();
}

const formats = [
  {
    name: "openai",
    model: "gpt-4o",
    make: (s: LoopbackLLMServer): Provider =>
      new OpenAIProvider({ apiKey: API_KEY, baseURL: s.openaiBaseURL }),
  },
  {
    name: "anthropic",
    model: "claude-haiku-4-5",
    make: (s: LoopbackLLMServer): Provider =>
      new AnthropicProvider({ apiKey: API_KEY, baseURL: s.anthropicBaseURL }),
  },
] as const;

const catalog = new ModelCatalog();

/** Three model calls: parallel tool calls (one with malformed arguments), another tool call, the answer. */
const toolScript = (): ScriptedTurn[] => [
  {
    toolCalls: [
      { name: "string_manipulator", arguments: { operation: "uppercase", text: "a" } },
      { name: "calculator", arguments: { operation: "add", a: 2, b: 3 } },
      { name: "calculator", rawArguments: '{"operation":' },
    ],
  },
  { toolCalls: [{ name: "calculator", arguments: { operation: "multiply", a: 5, b: 4 } }] },
  { text: "a is 'A'; (2 + 3) × 4 = 20. One call had broken arguments." },
];

const fileText = (path: string): string => readFileSync(path, "utf8");
const request = (content: string, extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: "gpt-4o",
  messages: [{ role: "user", content }],
  ...extra,
});

for (const format of formats) {
  describe(`record and replay over ${format.name}`, () => {
    const define = (provider: Provider) =>
      defineAgent({
        name: "helper",
        provider,
        model: format.model,
        tools: [stringManipulator, calculator],
        costOf: (u, m) => catalog.costOf(u, m),
      });

    it("replays a multi-step tool run offline with identical output, steps, usage and memory", async () => {
      const path = join(dir, "run.jsonl");
      const server = await serve(toolScript());
      const recorder = recordingProvider(format.make(server), { path });
      expect(recorder.name).toBe(format.name);
      const recorded = define(recorder);
      const original = await recorded.run("Uppercase a, add 2 and 3, then multiply by 4.");
      expect(original.status).toBe("done");
      expect(server.requests).toHaveLength(3);
      await stop(server);

      const replay = replayProvider({ path });
      expect(replay.name).toBe(format.name);
      expect(replay.remaining).toBe(3);
      const fresh = define(replay);
      const replayed = await fresh.run("Uppercase a, add 2 and 3, then multiply by 4.");
      if (original.status !== "done" || replayed.status !== "done") throw new Error("paused");
      expect(replayed.output).toStrictEqual(original.output);
      expect(replayed.text).toBe(original.text);
      expect(replayed.steps).toStrictEqual(original.steps);
      expect(replayed.usage).toStrictEqual(original.usage);
      expect(replayed.costUsd).toBe(original.costUsd);
      expect(replayed.newMessages).toBe(original.newMessages);
      expect(fresh.memory.messages()).toStrictEqual(recorded.memory.messages());
      expect(replay.used).toBe(3);
      expect(replay.remaining).toBe(0);
      // the malformed arguments went through as a tool error and back
      expect(replayed.steps[0]?.toolResults.map((r) => r.isError === true)).toEqual([false, false, true]);

      const text = fileText(path);
      expect(text).not.toContain(API_KEY);
      expect(readRecording(path).map((e) => e.operation)).toEqual(["complete", "complete", "complete"]);
    });

    it("replays a streamed run with the identical event sequence", async () => {
      const path = join(dir, "stream.jsonl");
      const server = await serve(toolScript());
      const recorded = define(recordingProvider(format.make(server), { path }));
      const collect = async (agent: ReturnType<typeof define>) => {
        const events: AgentEvent[] = [];
        const stream = agent.stream("Uppercase a, add 2 and 3, then multiply by 4.");
        for await (const event of stream) events.push(event);
        return { events, result: await stream.result() };
      };
      const original = await collect(recorded);
      await stop(server);

      const fresh = define(replayProvider({ path }));
      const replayed = await collect(fresh);
      expect(replayed.events).toStrictEqual(original.events);
      expect(replayed.result).toStrictEqual(original.result);
      expect(fresh.memory.messages()).toStrictEqual(recorded.memory.messages());
      expect(original.events.filter((e) => e.type === "text_delta").length).toBeGreaterThan(1);

      // every stream event was recorded, and a replayed stream's final() is the recorded response
      const exchanges = readRecording(path) as RecordedStream[];
      expect(exchanges.map((e) => e.operation)).toEqual(["stream", "stream", "stream"]);
      const first = exchanges[0] as RecordedStream;
      const end = first.events.at(-1);
      if (end?.type !== "message_end") throw new Error("no message end recorded");
      const again = replayProvider({ exchanges: [first] }).stream(first.request);
      const seen: StreamEvent[] = [];
      for await (const event of again) seen.push(event);
      expect(JSON.parse(JSON.stringify(seen))).toEqual(first.events);
      expect(await again.final()).toEqual(end.response);
      expect(fileText(path)).not.toContain(API_KEY);
    });

    it("records a provider error and replays it as the same typed error", async () => {
      const path = join(dir, "error.jsonl");
      const server = await serve([{ fault: { kind: "rate_limit", retryAfterSeconds: 7 } }]);
      const original = await define(recordingProvider(format.make(server), { path }))
        .run("hello")
        .catch((e: unknown) => e);
      await stop(server);
      expect(original).toBeInstanceOf(ProviderError);
      const replayed = await define(replayProvider({ path }))
        .run("hello")
        .catch((e: unknown) => e);
      expect(replayed).toBeInstanceOf(ProviderError);
      const [a, b] = [original as ProviderError, replayed as ProviderError];
      expect(b.kind).toBe("rate_limit");
      expect({
        kind: b.kind,
        status: b.status,
        retryAfterMs: b.retryAfterMs,
        requestId: b.requestId,
        provider: b.provider,
        message: b.message,
        retryable: b.retryable,
      }).toEqual({
        kind: a.kind,
        status: 429,
        retryAfterMs: 7000,
        requestId: a.requestId,
        provider: format.name,
        message: a.message,
        retryable: true,
      });
      expect(fileText(path)).not.toContain(API_KEY);
    });

    it("records a stream that fails mid-way and replays its events, error and partial output", async () => {
      const path = join(dir, "cut.jsonl");
      const reply = { text: "A partial answer that the server interrupts with an error event." };
      const server = await serve([{ fault: { kind: "stream_error", reply, afterEvents: 4 } }]);
      const run = async (provider: Provider) => {
        const events: AgentEvent[] = [];
        const stream = define(provider).stream("talk");
        const error = await (async () => {
          for await (const event of stream) events.push(event);
        })().catch((e: unknown) => e);
        return { events, error: error as ProviderError };
      };
      const original = await run(recordingProvider(format.make(server), { path }));
      await stop(server);
      const replayed = await run(replayProvider({ path }));
      expect(original.error).toBeInstanceOf(ProviderError);
      expect(replayed.error).toBeInstanceOf(ProviderError);
      expect(replayed.events).toStrictEqual(original.events);
      expect(replayed.error.kind).toBe(original.error.kind);
      expect(replayed.error.message).toBe(original.error.message);
      expect(replayed.error.partial).toStrictEqual(original.error.partial);
      const [exchange] = readRecording(path) as RecordedStream[];
      expect(exchange?.error).toMatchObject({ kind: original.error.kind });
    });
  });
}

describe("mismatches and exhaustion", () => {
  async function recordOne(path: string, prompt: string, extra: { readonly instructions?: string } = {}) {
    const server = await serve([{ text: "5" }]);
    const def = {
      name: "helper",
      model: "gpt-4o",
      tools: [calculator],
      ...extra,
    };
    await defineAgent({ ...def, provider: recordingProvider(formats[0].make(server), { path }) }).run(prompt);
    await stop(server);
    return def;
  }

  it("fails on a changed prompt, naming the exchange, the field and both values", async () => {
    const path = join(dir, "run.jsonl");
    const def = await recordOne(path, "What is 2 + 3?");
    const replay = replayProvider({ path });
    const error = await defineAgent({ ...def, provider: replay })
      .run("What is 2 + 4?")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayMismatchError);
    const mismatch = error as ReplayMismatchError;
    expect(mismatch).toMatchObject({
      index: 0,
      total: 1,
      operation: "complete",
      path: "messages[1].content",
      expected: "What is 2 + 3?",
      actual: "What is 2 + 4?",
    });
    expect(mismatch.message).toBe(
      'replay mismatch at exchange 1 of 1 (complete): request.messages[1].content differs: expected "What is 2 + 3?" but got "What is 2 + 4?" (strings differ at character 12)',
    );
    // a mismatch does not use the exchange: the right request still replays
    expect(replay.used).toBe(0);
    const ok = await defineAgent({ ...def, provider: replay }).run("What is 2 + 3?");
    expect(ok.status === "done" && ok.text).toBe("5");
  });

  it("fails past the end of the recording, for completions and streams", async () => {
    const path = join(dir, "run.jsonl");
    const def = await recordOne(path, "What is 2 + 3?");
    const agent = defineAgent({ ...def, provider: replayProvider({ path }) });
    await agent.run("What is 2 + 3?");
    const error = await agent.run("And 3 + 4?").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayExhaustedError);
    expect((error as ReplayExhaustedError).message).toBe(
      "replay exhausted: the recording holds 1 exchange, all used, and another complete request arrived",
    );
    const streamed = await agent
      .stream("And 5 + 6?")
      .result()
      .catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(ReplayExhaustedError);
    expect(streamed).toMatchObject({ total: 1, operation: "stream" });
    const empty = replayProvider({ exchanges: [] });
    expect(empty.name).toBe("replay");
    await expect(empty.complete(request("x"))).rejects.toThrow("holds 0 exchanges");
  });

  it("fails when the run streams what was recorded as a completion", async () => {
    const path = join(dir, "run.jsonl");
    const def = await recordOne(path, "What is 2 + 3?");
    const error = await defineAgent({ ...def, provider: replayProvider({ path }) })
      .stream("What is 2 + 3?")
      .result()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayMismatchError);
    expect(error).toMatchObject({ path: "operation", expected: "complete", actual: "stream" });
    expect((error as Error).message).toContain("operation differs: expected a complete call but got stream");
  });

  it("compares every field unless told to ignore it or to normalize the requests", async () => {
    const path = join(dir, "run.jsonl");
    const def = await recordOne(path, "What is 2 + 3?", { instructions: "Today is 2024-01-01." });
    const changed = { ...def, temperature: 0.2, instructions: "Today is 2025-06-30." };
    const error = await defineAgent({ ...changed, provider: replayProvider({ path }) })
      .run("What is 2 + 3?")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayMismatchError);
    // canonical (sorted) order: messages before temperature
    expect(error).toMatchObject({ path: "messages[0].content" });
    expect((error as Error).message).toMatch(
      /expected .*2024-01-01.* but got .*2025-06-30.* \(strings differ at character \d+\)$/,
    );

    const noDate = (r: ModelRequest): ModelRequest => ({
      ...r,
      messages: r.messages.map((m) =>
        typeof m.content === "string"
          ? { ...m, content: m.content.replace(/\d{4}-\d\d-\d\d/g, "<date>") }
          : m,
      ),
    });
    const onlyTemperature = await defineAgent({
      ...changed,
      provider: replayProvider({ path, normalize: noDate }),
    })
      .run("What is 2 + 3?")
      .catch((e: unknown) => e);
    expect(onlyTemperature).toMatchObject({ path: "temperature", expected: 0.9, actual: 0.2 });
    expect((onlyTemperature as Error).message).toContain("expected 0.9 but got 0.2");

    const replayed = await defineAgent({
      ...changed,
      provider: replayProvider({ path, normalize: noDate, ignore: ["temperature"] }),
    }).run("What is 2 + 3?");
    expect(replayed.status === "done" && replayed.text).toBe("5");
    const wildcard = await defineAgent({
      ...changed,
      provider: replayProvider({ path, ignore: ["temperature", "messages[*].content"] }),
    }).run("What is 2 + 3?");
    expect(wildcard.status).toBe("done");
  });

  it("reports extra items, absent fields and long values concisely", async () => {
    const sink = memorySink();
    const server = await serve([{ text: "ok" }]);
    const recorder = recordingProvider(formats[0].make(server), { sink });
    const long = { type: "json_schema" as const, name: "output", schema: { description: "x".repeat(200) } };
    await recorder.complete(request("hi", { responseFormat: long }));
    await stop(server);
    const replay = replayProvider({ exchanges: sink.exchanges, name: "replayed" });
    expect(replay.name).toBe("replayed");

    const extra = request("hi", { responseFormat: long });
    const twoMessages = {
      ...extra,
      messages: [...extra.messages, { role: "user" as const, content: "more" }],
    };
    await expect(replay.complete(twoMessages)).rejects.toMatchObject({
      path: "messages[1]",
      expected: undefined,
      message: expect.stringContaining('expected (absent) but got {"role":"user","content":"more"}'),
    });
    const error = await replay.complete(request("hi")).catch((e: unknown) => e);
    expect(error).toMatchObject({ path: "responseFormat", actual: undefined });
    expect((error as Error).message).toMatch(/expected \{.{70,}… but got \(absent\)$/);
    // an undefined field is an absent one
    const withUndefined = { ...request("hi", { responseFormat: long }), temperature: undefined };
    expect(await replay.complete(withUndefined as unknown as ModelRequest)).toMatchObject({
      content: [{ type: "text", text: "ok" }],
      rawStopReason: "stop",
    });
  });
});

describe("the recording file", () => {
  it("is JSONL: one versioned JSON object per line, appended across recorders", async () => {
    const path = join(dir, "run.jsonl");
    const server = await serve([{ text: "one" }, { text: "two" }, { text: "three" }]);
    const provider = formats[1].make(server);
    await recordingProvider(provider, { path }).complete(request("first"));
    await recordingProvider(provider, { path, fsync: true }).stream(request("second")).final();
    const lines = fileText(path).split("\n");
    expect(lines.at(-1)).toBe("");
    const objects = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects).toHaveLength(2);
    for (const o of objects) {
      expect(o).toMatchObject({
        version: RECORDING_VERSION,
        provider: "anthropic",
        request: { model: "gpt-4o" },
      });
    }
    expect(objects.map((o) => o.operation)).toEqual(["complete", "stream"]);
    expect(objects[0]?.response).toMatchObject({ content: [{ type: "text", text: "one" }] });

    // truncate starts the file over
    await recordingProvider(provider, { path, truncate: true, fsync: true }).complete(request("third"));
    expect(readRecording(path)).toHaveLength(1);
  });

  it("records only the request's ModelRequest fields, never a credential", async () => {
    const sink = memorySink();
    const server = await serve([{ text: "ok" }]);
    const sneaky = { ...request("hi"), headers: { authorization: `Bearer ${API_KEY}` } } as ModelRequest;
    await recordingProvider(formats[0].make(server), { sink }).complete(sneaky);
    expect(JSON.stringify(sink.exchanges)).not.toContain(API_KEY);
    expect(Object.keys(sink.exchanges[0]?.request ?? {})).toEqual(["model", "messages"]);
  });

  it("redacts strings a server echoes back, such as a key in an error message", async () => {
    const path = join(dir, "auth.jsonl");
    const leaky = join(dir, "leaky.jsonl");
    const fault = { kind: "authentication" as const, message: `Incorrect API key provided: ${API_KEY}` };
    const server = await serve([{ fault }, { fault }]);
    await recordingProvider(formats[0].make(server), { path: leaky })
      .complete(request("hi"))
      .catch(() => undefined);
    expect(fileText(leaky)).toContain(API_KEY); // the risk redaction exists for
    await recordingProvider(formats[0].make(server), { path, redact: [API_KEY, ""] })
      .complete(request("hi"))
      .catch(() => undefined);
    expect(fileText(path)).not.toContain(API_KEY);
    const error = await replayProvider({ path, redact: [API_KEY] })
      .complete(request("hi"))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "auth", status: 401, message: expect.stringContaining(REDACTED) });
  });

  it("rejects bad lines with their line number", () => {
    const good = JSON.stringify({
      version: 1,
      provider: "openai",
      operation: "countTokens",
      request: request("hi"),
      count: 3,
    });
    expect(parseRecording(`${good}\n\n${good}\n`)).toHaveLength(2);
    const bad = (line: unknown) => () => parseRecording(`${good}\n${JSON.stringify(line)}\n`);
    const base = JSON.parse(good) as Record<string, unknown>;
    const cases: [unknown, string][] = [
      [[1], "not a JSON object"],
      [{ ...base, version: 2 }, "unsupported version 2"],
      [{ ...base, provider: 1 }, "`provider` is not a string"],
      [{ ...base, request: { model: "m" } }, "`request` is not a model request"],
      [{ ...base, operation: "embed" }, 'unknown operation "embed"'],
      [{ ...base, operation: "complete" }, "a `complete` exchange needs `response` or `error`"],
      [{ ...base, operation: "stream" }, "a `stream` exchange needs `events`"],
      [{ ...base, count: "3" }, "a `countTokens` exchange needs `count` or `error`"],
      [{ ...base, error: { kind: "server" } }, "`error` needs a `message`"],
      [{ ...base, error: { message: "m" } }, "`error` needs a `kind`"],
    ];
    for (const [line, reason] of cases) {
      expect(bad(line)).toThrow(RecordingFormatError);
      expect(bad(line)).toThrow(`invalid recording at line 2: ${reason}`);
    }
    expect(() => parseRecording(`${good}\n{"version":1,`)).toThrow(/line 2: not JSON/);
    expect(() => replayProvider({ exchanges: [{} as RecordedExchange] })).toThrow(
      "invalid recording at line 1: unsupported version undefined",
    );
    try {
      parseRecording("nope");
    } catch (error) {
      expect(error).toMatchObject({ line: 1, name: "RecordingFormatError" });
    }
  });
});

describe("token counts, other failures and sinks", () => {
  it("records and replays countTokens where the provider has it", async () => {
    const path = join(dir, "count.jsonl");
    const server = await serve([]);
    const def = { name: "helper", model: "claude-haiku-4-5", tools: [calculator] };
    const recorded = defineAgent({ ...def, provider: recordingProvider(formats[1].make(server), { path }) });
    recorded.memory.add({ role: "user", content: "How many tokens is this?" });
    const count = await recorded.countTokens({ exact: true });
    expect(count).toBeGreaterThan(0);
    await stop(server);
    const replayed = defineAgent({ ...def, provider: replayProvider({ path }) });
    replayed.memory.add({ role: "user", content: "How many tokens is this?" });
    expect(await replayed.countTokens({ exact: true })).toBe(count);
    expect(readRecording(path)[0]).toMatchObject({ operation: "countTokens", count });
    // OpenAI has no count endpoint, and the recorder does not invent one
    expect(recordingProvider(formats[0].make(server), { path }).countTokens).toBeUndefined();
  });

  it("records failures that are not provider errors and replays them as ReplayedError", async () => {
    const sink = memorySink();
    let calls = 0;
    const broken: Provider = {
      name: "broken",
      complete: () => Promise.reject(new TypeError("provider bug")),
      stream: () => {
        throw new RangeError("no stream today");
      },
      countTokens: () => {
        calls++;
        return calls === 1
          ? Promise.reject(new ProviderError({ kind: "invalid_request", provider: "broken", message: "bad" }))
          : Promise.reject("a bare string");
      },
    };
    const recorder = recordingProvider(broken, { sink });
    await expect(recorder.complete(request("a"))).rejects.toThrow(TypeError);
    const original = await recorder
      .stream(request("b"))
      .final()
      .catch((e: unknown) => e);
    expect(original).toMatchObject({ kind: "network", message: "the stream failed: no stream today" });
    await expect(recorder.countTokens?.(request("c"))).rejects.toMatchObject({ kind: "invalid_request" });
    await expect(recorder.countTokens?.(request("d"))).rejects.toBe("a bare string");
    expect(sink.exchanges.map((e) => ("error" in e ? e.error : undefined))).toEqual([
      { name: "TypeError", message: "provider bug" },
      { name: "RangeError", message: "no stream today" },
      { kind: "invalid_request", provider: "broken", message: "bad" },
      { name: "string", message: "a bare string" },
    ]);

    const replay = replayProvider({ exchanges: sink.exchanges });
    const first = await replay.complete(request("a")).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ReplayedError);
    expect(first).toMatchObject({ originalName: "TypeError", message: "provider bug" });
    // a stream wraps the failure as the original stream did
    const streamed = await replay
      .stream(request("b"))
      .final()
      .catch((e: unknown) => e);
    expect(streamed).toMatchObject({ kind: "network", message: (original as Error).message });
    expect((streamed as Error).cause).toMatchObject({ name: "ReplayedError", originalName: "RangeError" });
    await expect(replay.countTokens(request("c"))).rejects.toMatchObject({
      kind: "invalid_request",
      retryable: false,
    });
    await expect(replay.countTokens(request("d"))).rejects.toMatchObject({ originalName: "string" });
  });

  it("fails the call with RecordingWriteError when the exchange cannot be written", async () => {
    const server = await serve([{ text: "one" }, { text: "two" }, { fault: { kind: "server_error" } }]);
    const provider = formats[0].make(server);
    const missing = join(dir, "no-such-dir", "run.jsonl");
    const agent = defineAgent({
      name: "a",
      model: "gpt-4o",
      provider: recordingProvider(provider, { path: missing }),
    });
    const error = await agent.run("hi").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecordingWriteError);
    expect((error as Error).message).toContain("could not write the recording: ENOENT");
    const streamed = await recordingProvider(provider, { path: missing })
      .stream(request("hi"))
      .final()
      .catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(RecordingWriteError);
    const refusing = recordingProvider(provider, {
      sink: {
        write: () => {
          throw "disk full";
        },
      },
    });
    await expect(refusing.complete(request("hi"))).rejects.toThrow(
      "could not write the recording: disk full",
    );
  });

  it("records a stream its consumer left early as aborted, and never-read streams not at all", async () => {
    const sink = memorySink();
    const server = await serve([{ text: "A reply long enough to arrive as several text deltas." }]);
    const recorder = recordingProvider(formats[0].make(server), { sink });
    recorder.stream(request("never read"));
    const stream = recorder.stream(request("read a little"));
    for await (const event of stream) if (event.type === "text_delta") break;
    await expect(stream.final()).rejects.toMatchObject({ kind: "aborted" });
    expect(sink.exchanges).toHaveLength(1);
    const exchange = sink.exchanges[0] as RecordedStream;
    expect(exchange.error).toEqual({
      kind: "aborted",
      provider: "openai",
      message: "the stream was not consumed to its end",
    });
    const types = exchange.events.map((e) => e.type);
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("text_delta");
    expect(types.filter((t) => t === "text_delta")).toHaveLength(1);
  });

  it("writes to a fileSink given as a sink", async () => {
    const path = join(dir, "sink.jsonl");
    writeFileSync(path, "");
    const server = await serve([{ text: "ok" }]);
    await recordingProvider(formats[0].make(server), { sink: fileSink(path) }).complete(request("hi"));
    expect(readRecording(path)).toHaveLength(1);
  });
});

describe("abort signals", () => {
  it("an aborted call is not recorded and, on replay, fails as aborted without using an exchange", async () => {
    const sink = memorySink();
    const server = await serve([{ text: "A reply long enough to arrive as several text deltas." }]);
    const recorder = recordingProvider(formats[1].make(server), { sink });
    const aborted = AbortSignal.abort(new Error("stop"));
    await expect(recorder.complete(request("x"), { signal: aborted })).rejects.toMatchObject({
      kind: "aborted",
    });
    await expect(recorder.stream(request("x"), { signal: aborted }).final()).rejects.toMatchObject({
      kind: "aborted",
    });
    await expect(recorder.countTokens?.(request("x"), { signal: aborted })).rejects.toMatchObject({
      kind: "aborted",
    });
    expect(sink.exchanges).toHaveLength(0);
    await recorder.stream(request("x")).final();
    expect(sink.exchanges).toHaveLength(1);

    const replay = replayProvider({ exchanges: sink.exchanges });
    await expect(replay.complete(request("x"), { signal: aborted })).rejects.toMatchObject({
      kind: "aborted",
      provider: "anthropic",
    });
    await expect(replay.countTokens(request("x"), { signal: aborted })).rejects.toMatchObject({
      kind: "aborted",
    });
    await expect(replay.stream(request("x"), { signal: aborted }).final()).rejects.toMatchObject({
      kind: "aborted",
    });
    expect(replay.used).toBe(0);

    // aborted mid-stream: the next event fails
    const controller = new AbortController();
    const stream = replay.stream(request("x"), { signal: controller.signal });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const event of stream) {
        seen.push(event.type);
        if (event.type === "text_delta") controller.abort(new Error("user pressed stop"));
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "aborted" });
    expect(seen.at(-1)).toBe("text_delta");
    expect(seen.filter((t) => t === "text_delta")).toHaveLength(1);
    expect(replay.used).toBe(1);
  });
});
