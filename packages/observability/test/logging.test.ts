// Structured logging with correlation ids: a manager agent asks a researcher agent process through an
// AgentMessage, and every captured line parses as JSON and carries its run's ids, the researcher's lines
// carrying the manager's trace (propagated through the message); tools log through the helper with the
// same ids; secrets (the API key, the Authorization header) never reach the output; levels per event kind;
// detach; pretty text; the correlation context itself (merge, child units, message metadata); bounded,
// redacted metadata.
import {
  DefaultInputSchema,
  defineAgent,
  defineTool,
  OpenAIProvider,
  type Provider,
  type ToolCallBlock,
} from "@normandy/agents";
import { AgentProcessClient, agentProcessName, defineAgentProcess } from "@normandy/coordination";
import { attachLogger, correlationFields, DEFAULT_EVENT_LEVELS, scrubSecrets } from "@normandy/observability";
import {
  type ActorSystem,
  CORRELATION_METADATA_KEY,
  Correlation,
  type CorrelationIds,
  InvalidArgumentError,
  Telemetry,
} from "@normandy/runtime";
import type { LoopbackLLMServer, ScriptedTurn } from "@normandy/testing";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { describe, expect, it } from "vitest";
import { useFixtures } from "./support.js";

// shaped like a real OpenAI key, so the text scrubber has something to find as well
const API_KEY = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e";
const TRACE = "0af7651916cd43dd8448eb211c80319c";

const { serve, start } = useFixtures();

function startSystem(telemetry?: Telemetry): ActorSystem {
  return start(telemetry === undefined ? {} : { telemetry });
}

const providerOf = (server: LoopbackLLMServer): Provider =>
  new OpenAIProvider({ apiKey: API_KEY, baseURL: server.openaiBaseURL });

type Line = Record<string, unknown> & {
  level: number;
  msg?: string;
  event?: string;
  agent?: string;
  runId?: string;
  conversationId?: string;
  turnId?: string;
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  parentAgent?: string;
  parentRunId?: string;
  processId?: string;
  messageId?: string;
  system?: string;
  metadata?: Record<string, unknown>;
  measurements?: Record<string, number>;
  err?: Record<string, unknown>;
};

/** A destination that keeps what it is given (pino writes to it synchronously). */
function capture() {
  const chunks: string[] = [];
  return {
    stream: { write: (chunk: string) => void chunks.push(chunk) },
    text: () => chunks.join(""),
    lines: (): Line[] =>
      chunks
        .join("")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Line),
    clear: () => void chunks.splice(0),
  };
}

describe("correlation off", () => {
  // must run first: correlation is sticky once on, and this is the cost-free path every bench takes
  it("is off until something turns it on, and a run then opens no context", async () => {
    expect(Correlation.enabled).toBe(false);
    const server = await serve([
      { toolCalls: [{ name: "peek", arguments: { chat_message: "x" } }] },
      { text: "done" },
    ]);
    let seen: CorrelationIds | undefined | "unset" = "unset";
    const peek = defineTool({
      name: "peek",
      description: "looks at the correlation context",
      input: DefaultInputSchema,
      run: () => {
        seen = Correlation.current();
        return "ok";
      },
    });
    const agent = defineAgent({ name: "solo", provider: providerOf(server), model: "gpt-4o", tools: [peek] });
    expect((await agent.run("hi")).status).toBe("done");
    expect(seen).toBeUndefined();
    expect(Correlation.toMetadata()).toEqual({});
  });
});

describe("attachLogger over a multi-agent run", () => {
  // first with the ids passed explicitly (tools bind and pass ctx.correlation: the default, no context),
  // then with `asyncContext` (the context carries them into code that passes nothing; it stays on)
  it.each([
    ["the tools pass ctx.correlation", false],
    ["asyncContext", true],
  ])(
    "logs every event as JSON with the run's ids, propagates the caller's trace through the AgentMessage, and never the secrets (%s)",
    async (_how, asyncContext) => {
      expect(Correlation.enabled).toBe(false); // nothing turned it on before
      const server = await serve([
        { toolCalls: [{ name: "ask_researcher", arguments: { chat_message: "what is X?" } }] },
        { toolCalls: [{ name: "lookup", arguments: { chat_message: "X" } }] },
        { text: "X is 42." },
        { text: "The researcher says X is 42." },
      ]);
      const out = capture();
      const telemetry = new Telemetry();
      const { child, detach } = attachLogger(telemetry, {
        level: "debug",
        destination: out.stream,
        system: "node-a",
        asyncContext,
      });
      expect(Correlation.enabled).toBe(asyncContext);
      const system = startSystem();
      const seenInTool: Record<string, CorrelationIds | undefined> = {};

      const lookupLog = child({ component: "lookup" });
      const lookup = defineTool({
        name: "lookup",
        description: "looks X up",
        input: DefaultInputSchema,
        run: ({ chat_message }, ctx) => {
          seenInTool.lookup = asyncContext ? Correlation.current() : ctx.correlation;
          (asyncContext ? lookupLog : lookupLog.child(ctx.correlation)).info(
            { key: chat_message },
            "looking up",
          );
          return "42";
        },
      });
      await system.spawn(
        defineAgentProcess({
          id: "researcher",
          definition: {
            name: "researcher",
            provider: providerOf(server),
            model: "gpt-4o",
            tools: [lookup],
            telemetry,
          },
        }),
        { name: agentProcessName("researcher") },
      );
      const researcher = new AgentProcessClient(system, "researcher", { from: "manager" });

      const askLog = child({ component: "ask_researcher" });
      const ask = defineTool({
        name: "ask_researcher",
        description: "asks the researcher agent",
        input: DefaultInputSchema,
        run: async ({ chat_message }, ctx) => {
          seenInTool.ask = asyncContext ? Correlation.current() : ctx.correlation;
          const log = asyncContext ? askLog : askLog.child(ctx.correlation);
          // a careless tool: the key, the header and the key inside a message, all must be redacted
          log.info(
            { question: chat_message, apiKey: API_KEY, headers: { Authorization: `Bearer ${API_KEY}` } },
            "asking the researcher",
          );
          log.warn(`retrying with key ${API_KEY}`);
          const reply = await researcher.request(
            chat_message,
            asyncContext ? {} : { correlation: ctx.correlation },
          );
          return reply.payload.status === "done" ? reply.payload.output.chat_message : "paused";
        },
      });
      const manager = defineAgent({
        name: "manager",
        provider: providerOf(server),
        model: "gpt-4o",
        tools: [ask],
        telemetry,
      });

      const result = await manager.run("Find X");
      expect(result.status === "done" && result.output.chat_message).toBe("The researcher says X is 42.");

      // the HTTP requests did carry the secret: a careless event with the recorded request must not leak it
      const authorization = server.requests[0]?.headers.authorization;
      expect(authorization).toBe(`Bearer ${API_KEY}`);
      telemetry.emit(
        ["normandy", "custom", "exception"],
        {},
        {
          request: { headers: server.requests[0]?.headers, "x-api-key": API_KEY },
          error: new Error(`401 for key ${API_KEY}`),
        },
      );
      expect(detach()).toBe(true);

      const text = out.text();
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(authorization);
      expect(text).not.toContain("4f9a8b7c6d5e"); // no part of the key either

      const lines = out.lines();
      const custom = lines.pop() as Line;
      expect(custom.event).toBe("normandy.custom.exception");
      expect(custom.level).toBe(50);
      expect(custom.metadata).toEqual({
        request: {
          headers: expect.objectContaining({ authorization: "[Redacted]" }),
          "x-api-key": "[Redacted]",
        },
      });
      expect(custom.err).toEqual({ name: "Error", message: "401 for key sk-[Redacted]" });

      // every line: JSON with the four ids of its run, the trace, the system
      for (const line of lines) {
        expect(typeof line.agent, JSON.stringify(line)).toBe("string");
        expect(typeof line.runId).toBe("string");
        expect(typeof line.conversationId).toBe("string");
        expect(typeof line.turnId).toBe("string");
        expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(line.spanId).toMatch(/^[0-9a-f]{16}$/);
        expect(line.system).toBe("node-a");
      }
      const mine = lines.filter((l) => l.agent === "manager");
      const theirs = lines.filter((l) => l.agent === "researcher");
      const managerRun = mine[0] as Line;
      expect(new Set(mine.map((l) => l.runId)).size).toBe(1);
      expect(new Set(mine.map((l) => l.spanId)).size).toBe(1);
      expect(mine.every((l) => l.parentAgent === undefined && l.processId === undefined)).toBe(true);

      // the researcher: its own run ids, the manager's trace and run as its parent, its process and message
      expect(theirs.length).toBeGreaterThan(0);
      for (const line of theirs) {
        expect(line.runId).not.toBe(managerRun.runId);
        expect(line.conversationId).not.toBe(managerRun.conversationId);
        expect(line.traceId).toBe(managerRun.traceId);
        expect(line.parentAgent, JSON.stringify(line)).toBe("manager");
        expect(line.parentRunId).toBe(managerRun.runId);
        expect(line.parentSpanId).toBe(managerRun.spanId);
        expect(line.processId).toMatch(/./);
        expect(line.messageId).toMatch(/./);
      }

      // one line per event, at its level: a run's stop info, its start, model and tool calls debug
      const events = (agent: string) =>
        lines.filter((l) => l.agent === agent && l.event !== undefined).map((l) => [l.event, l.level]);
      expect(events("researcher")).toEqual([
        ["normandy.agent.run.start", 20],
        ["normandy.agent.model_call.start", 20],
        ["normandy.agent.model_call.stop", 20],
        ["normandy.tool.call.start", 20],
        ["normandy.tool.call.stop", 20],
        ["normandy.agent.model_call.start", 20],
        ["normandy.agent.model_call.stop", 20],
        ["normandy.agent.run.stop", 30],
      ]);
      expect(events("manager")[0]).toEqual(["normandy.agent.run.start", 20]);
      expect(events("manager").at(-1)).toEqual(["normandy.agent.run.stop", 30]);
      const stop = lines.find((l) => l.event === "normandy.agent.model_call.stop") as Line;
      expect(stop.msg).toBe("agent model_call stop");
      expect(stop.measurements).toEqual(
        expect.objectContaining({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) }),
      );
      // message contents are never logged
      expect(stop.metadata).toEqual({
        model: "gpt-4o",
        provider: "openai",
        step: 1,
        stream: false,
        responseId: expect.any(String),
        responseModel: "gpt-4o",
        finishReason: "tool_calls",
        messages: "[omitted]",
        content: "[omitted]",
      });

      // the tools' own lines: the helper's bindings, the ids of the run they ran in, secrets redacted
      const asking = lines.find((l) => l.msg === "asking the researcher") as Line;
      expect(asking).toMatchObject({
        level: 30,
        component: "ask_researcher",
        agent: "manager",
        runId: managerRun.runId,
        turnId: managerRun.turnId,
        question: "what is X?",
        apiKey: "[Redacted]",
        headers: { Authorization: "[Redacted]" },
      });
      expect(lines.find((l) => l.level === 40 && l.component === "ask_researcher")?.msg).toBe(
        "retrying with key sk-[Redacted]",
      );
      const lookingUp = lines.find((l) => l.msg === "looking up") as Line;
      expect(lookingUp).toMatchObject({
        component: "lookup",
        agent: "researcher",
        traceId: managerRun.traceId,
        parentAgent: "manager",
      });

      // tool code sees the ids itself
      expect(seenInTool.ask).toMatchObject({ agent: "manager", runId: managerRun.runId });
      expect(seenInTool.lookup).toMatchObject({
        agent: "researcher",
        parentRunId: managerRun.runId,
        traceId: managerRun.traceId,
      });

      // detached: events go nowhere, the bus is idle again
      out.clear();
      telemetry.emit(["normandy", "agent", "run", "exception"], {}, { agent: "manager" });
      expect(out.text()).toBe("");
      expect(telemetry.active).toBe(false);
      expect(detach()).toBe(false);
    },
  );

  it("keeps the request's correlation across an approval: the resumed run still belongs to the caller's trace", async () => {
    const server = await serve([
      { toolCalls: [{ name: "transfer", arguments: { chat_message: "10" } }] },
      { text: "moved" },
    ]);
    const out = capture();
    const telemetry = new Telemetry();
    attachLogger(telemetry, { level: "debug", destination: out.stream });
    const system = startSystem();
    const transfer = defineTool({
      name: "transfer",
      description: "moves money",
      input: DefaultInputSchema,
      needsApproval: true,
      run: () => "done",
    });
    await system.spawn(
      defineAgentProcess({
        id: "bank",
        definition: {
          name: "bank",
          provider: providerOf(server),
          model: "gpt-4o",
          tools: [transfer],
          telemetry,
        },
      }),
      { name: agentProcessName("bank") },
    );
    const bank = new AgentProcessClient(system, "bank");
    const reply = await Correlation.run(
      { traceId: TRACE, agent: "caller", runId: "run-1", spanId: "b7ad6b7169203331" },
      () => bank.request("move 10", { metadata: { note: "kept" } }),
    );
    expect(reply.metadata).toMatchObject({
      note: "kept",
      [CORRELATION_METADATA_KEY]: { traceId: TRACE, agent: "caller", runId: "run-1" },
    });
    const paused = reply.payload;
    if (paused.status !== "awaiting_approval") throw new Error("the run should await approval");
    const call = paused.calls[0] as ToolCallBlock;
    out.clear();
    // approved from outside any context: the process restores the request's ids
    expect(Correlation.current()).toBeUndefined();
    const done = await bank.approve(call.id);
    expect(done.status).toBe("done");
    const lines = out.lines().filter((l) => l.agent === "bank");
    expect(lines.map((l) => l.event)).toContain("normandy.tool.call.stop");
    for (const line of lines) {
      expect(line.traceId).toBe(TRACE);
      expect(line.parentAgent).toBe("caller");
      expect(line.parentRunId).toBe("run-1");
      expect(line.parentSpanId).toBe("b7ad6b7169203331");
    }

    // a cast carries the caller's ids as well (to nobody: it dead-letters)
    const nobody = new AgentProcessClient(system, "nobody");
    const cast = Correlation.run({ traceId: TRACE }, () => nobody.cast("later"));
    expect(cast.metadata).toEqual({ [CORRELATION_METADATA_KEY]: { traceId: TRACE } });
  });
});

describe("correlation under concurrency", () => {
  it("keeps concurrent runs apart, streamed or not", async () => {
    const out = capture();
    const telemetry = new Telemetry();
    const { child } = attachLogger(telemetry, { level: "debug", destination: out.stream });
    const log = child({ tool: "wait" });
    // both runs are inside their tool at once before either goes on
    let arrived = 0;
    let release: () => void = () => {};
    const bothIn = new Promise<void>((resolve) => {
      release = resolve;
    });
    const wait = defineTool({
      name: "wait",
      description: "waits for the other run",
      input: DefaultInputSchema,
      run: async () => {
        if (++arrived === 2) release();
        await bothIn;
        log.info("waited");
        return "ok";
      },
    });
    const script = (): ScriptedTurn[] => [
      { toolCalls: [{ name: "wait", arguments: { chat_message: "x" } }] },
      { text: "done" },
    ];
    const [one, two] = [await serve(script()), await serve(script())];
    const agentOn = (name: string, server: LoopbackLLMServer) =>
      defineAgent({ name, provider: providerOf(server), model: "gpt-4o", tools: [wait], telemetry });
    const streamed = agentOn("streamed", two).stream("go");
    const [plain] = await Promise.all([agentOn("plain", one).run("go"), streamed.result()]);
    expect(plain.status).toBe("done");
    const lines = out.lines();
    for (const name of ["plain", "streamed"]) {
      const own = lines.filter((l) => l.agent === name);
      expect(own.filter((l) => l.msg === "waited")).toHaveLength(1);
      expect(new Set(own.map((l) => l.runId)).size).toBe(1);
      expect(new Set(own.map((l) => l.traceId)).size).toBe(1);
    }
    expect(lines.every((l) => l.agent === "plain" || l.agent === "streamed")).toBe(true);
  });

  it("starts each queued request of a process from its own message's ids, not the previous run's", async () => {
    const server = await serve([{ text: "one" }, { text: "two" }]);
    const out = capture();
    const telemetry = new Telemetry();
    attachLogger(telemetry, { level: "debug", destination: out.stream });
    const system = startSystem();
    await system.spawn(
      defineAgentProcess({
        id: "worker",
        definition: { name: "worker", provider: providerOf(server), model: "gpt-4o", telemetry },
      }),
      { name: agentProcessName("worker") },
    );
    const worker = new AgentProcessClient(system, "worker");
    const first = Correlation.run({ agent: "boss", runId: "boss-run", traceId: TRACE }, () =>
      worker.request("one"),
    );
    const second = worker.request("two"); // no caller context; runs after the first, from its end
    const [a, b] = await Promise.all([first, second]);
    const byMessage = (id: string) => out.lines().filter((l) => l.messageId === id);
    expect(byMessage(a.correlationId as string).every((l) => l.parentAgent === "boss")).toBe(true);
    const secondLines = byMessage(b.correlationId as string);
    expect(secondLines.length).toBeGreaterThan(0);
    for (const line of secondLines) {
      expect(line.parentAgent).toBeUndefined();
      expect(line.parentRunId).toBeUndefined();
      expect(line.traceId).not.toBe(TRACE);
    }
  });
});

describe("levels, redaction, detach, pretty", () => {
  it("chooses levels per event kind, with overrides and silence", () => {
    const out = capture();
    const telemetry = new Telemetry();
    attachLogger(telemetry, {
      destination: out.stream,
      levels: {
        "normandy.agent.model_call.*": "info",
        "normandy.process.*": "silent",
        "normandy.tool.call.stop": "info",
      },
    });
    const cases: [string[], Record<string, unknown>, number | undefined][] = [
      [["normandy", "agent", "run", "start"], {}, undefined], // debug < info: a run's line is its end
      [["normandy", "agent", "run", "stop"], {}, 30],
      [["normandy", "agent", "run", "exception"], { error: new Error("boom") }, 50],
      [["normandy", "agent", "model_call", "stop"], {}, 30],
      [["normandy", "supervisor", "restart"], {}, 40],
      [["normandy", "dead_letter"], {}, 40],
      [["normandy", "retry", "attempt_failed"], {}, 40],
      [["normandy", "telemetry", "handler_failed"], {}, 50],
      [["normandy", "supervisor", "intensity_exceeded"], {}, 50],
      [["normandy", "orchestration", "parallel", "start"], {}, undefined],
      [["normandy", "orchestration", "parallel", "stop"], {}, 30],
      [["normandy", "orchestration", "parallel", "agent"], {}, undefined], // debug < info
      [["normandy", "process", "crash"], {}, undefined], // silenced by the user
      [["normandy", "tool", "call", "stop"], { isError: true }, 30], // the user's level wins
      [["normandy", "shared_context", "write"], {}, undefined],
    ];
    for (const [event, metadata, level] of cases) {
      out.clear();
      telemetry.emit(event, {}, metadata);
      const lines = out.lines();
      expect(
        lines.map((l) => l.level),
        event.join("."),
      ).toEqual(level === undefined ? [] : [level]);
    }
    expect(DEFAULT_EVENT_LEVELS["normandy.dead_letter"]).toBe("warn");

    // by default a tool call that returned an error is a warning
    const plain = capture();
    const bus = new Telemetry();
    attachLogger(bus, { destination: plain.stream, level: "debug" });
    bus.emit(["normandy", "tool", "call", "stop"], {}, { isError: true });
    bus.emit(["normandy", "tool", "call", "stop"], {}, { isError: false });
    expect(plain.lines().map((l) => l.level)).toEqual([40, 20]);
  });

  it("logs the runtime's own events, e.g. a dead letter, as warnings", () => {
    const out = capture();
    const telemetry = new Telemetry();
    attachLogger(telemetry, { destination: out.stream, events: [["normandy", "dead_letter"]] });
    const system = startSystem(telemetry);
    system.send("nobody", { type: "hello" });
    const [line, ...rest] = out.lines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      level: 40,
      event: "normandy.dead_letter",
      msg: "dead_letter",
      metadata: { to: "nobody", reason: "noproc", message: { type: "hello" } },
    });
  });

  it("redacts user paths and names, bounds bulky metadata and serializes errors", () => {
    const out = capture();
    const telemetry = new Telemetry();
    const { logger } = attachLogger(telemetry, {
      destination: out.stream,
      level: "debug",
      redact: ["metadata.user.email", "ssn"],
      secrets: ["hunter2-the-password"],
      stacks: true,
    });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const shared = { n: 1 };
    const cause = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const error = Object.assign(new Error("the call failed", { cause }), {
      status: 503,
      kind: "server",
      headers: { a: 1 },
      token: "abc",
    });
    class Thing {}
    telemetry.emit(
      ["other", "thing", "happened"],
      { count: 3 },
      {
        user: { email: "a@b.c", name: "Ann", ssn: "123", nested: { ssn: "456" } },
        long: "x".repeat(3000),
        many: Array.from({ length: 60 }, (_, i) => i),
        deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
        cyclic,
        twice: [shared, shared],
        payload: { chat_message: "private words" },
        when: new Date(0),
        never: new Date(Number.NaN),
        big: 10n,
        sym: Symbol("s"),
        fn: () => 1,
        signal: new AbortController().signal,
        thing: new Thing(),
        bytes: Buffer.from("abc"),
        map: new Map([[1, 2]]),
        wide: Object.fromEntries(Array.from({ length: 55 }, (_, i) => [`k${i}`, i])),
        many_errors: new AggregateError([new Error("one")], "several"),
        text: "the password is hunter2-the-password",
        bearer: "Authorization:\nBearer abcdefghijklmnop",
        clientSecret: "s3",
      },
    );
    telemetry.emit(["normandy", "agent", "run", "exception"], {}, { error });
    logger.info(Object.create(null), "plain");
    const [thing, failure, plain] = out.lines() as [Line, Line, Line];
    expect(thing.msg).toBe("other thing happened");
    expect(thing.level).toBe(20); // an event with no level of its own, not a failure: debug
    const m = thing.metadata as Record<string, unknown>;
    expect(m.user).toEqual({
      email: "[Redacted]",
      name: "Ann",
      ssn: "[Redacted]",
      nested: { ssn: "[Redacted]" },
    });
    expect(m.long).toBe(`${"x".repeat(2048)}…[+952 chars]`);
    expect((m.many as unknown[]).length).toBe(51);
    expect((m.many as unknown[])[50]).toBe("…[+10 items]");
    expect(JSON.stringify(m.deep)).toBe('{"a":{"b":{"c":{"d":"[Object]"}}}}'); // 6 levels from the line
    expect(m.cyclic).toEqual({ name: "loop", self: "[Circular]" });
    expect(m.twice).toEqual([{ n: 1 }, { n: 1 }]);
    expect(m.payload).toBe("[omitted]");
    expect(m.when).toBe("1970-01-01T00:00:00.000Z");
    expect(m.never).toBe("Invalid Date");
    expect(m.big).toBe("10");
    expect(m.sym).toBe("Symbol(s)");
    expect("fn" in m).toBe(false);
    expect(m.signal).toBe("[AbortSignal]");
    expect(m.thing).toBe("[Thing]");
    expect(m.bytes).toBe("[Buffer(3 bytes)]");
    expect(m.map).toBe("[Map(1)]");
    expect(Object.keys(m.wide as object)).toHaveLength(51);
    expect((m.wide as Record<string, unknown>)["…"]).toBe("[+5 keys]");
    expect(m.many_errors).toMatchObject({
      name: "AggregateError",
      errors: [{ name: "Error", message: "one" }],
    });
    expect(m.text).toBe("the password is [Redacted]");
    expect(m.bearer).toBe("Authorization:\nBearer [Redacted]");
    expect(m.clientSecret).toBe("[Redacted]");
    expect(thing.measurements).toEqual({ count: 3 });

    expect(failure.level).toBe(50);
    expect(failure.err).toMatchObject({
      name: "Error",
      message: "the call failed",
      status: 503,
      kind: "server",
      token: "[Redacted]",
      cause: { name: "Error", message: "socket hang up", code: "ECONNRESET" },
    });
    expect(failure.err?.headers).toBeUndefined();
    expect(String(failure.err?.stack)).toContain("the call failed");
    expect(plain.msg).toBe("plain");
  });

  it("turns away unknown levels and short secret values", () => {
    const telemetry = new Telemetry();
    expect(() => attachLogger(telemetry, { level: "loud" as never })).toThrow(InvalidArgumentError);
    expect(() => attachLogger(telemetry, { levels: { "normandy.x": "verbose" as never } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => attachLogger(telemetry, { secrets: ["short"] })).toThrow(InvalidArgumentError);
    expect(telemetry.active).toBe(false);
  });

  it("writes readable text, not JSON, in pretty mode, redacted the same way", () => {
    const out = capture();
    const telemetry = new Telemetry();
    const { child } = attachLogger(telemetry, { destination: out.stream, pretty: true, level: "debug" });
    Correlation.run({ agent: "helper", runId: "0123456789abcdef" }, () => {
      telemetry.emit(
        ["normandy", "agent", "run", "start"],
        {},
        { agent: "helper", runId: "0123456789abcdef" },
      );
      child({ tool: "search" }).warn({ apiKey: API_KEY }, "slow search");
    });
    telemetry.emit(["normandy", "agent", "run", "stop"], { duration: 5 }, {});
    const text = out.text();
    expect(() => JSON.parse(text.split("\n")[0] as string)).toThrow();
    expect(text).toMatch(/DEBUG.*agent run start \[helper 01234567\]/);
    expect(text).toMatch(/WARN.*slow search \[helper 01234567\]/);
    expect(text).toMatch(/INFO.*agent run stop\n/);
    expect(text).toContain('apiKey: "[Redacted]"');
    expect(text).not.toContain(API_KEY);
  });
});

describe("Correlation", () => {
  it("merges contexts, starts clean ones and child units of work", () => {
    Correlation.run({ system: "a", tenant: "acme" }, () => {
      expect(Correlation.current()).toEqual({ system: "a", tenant: "acme" });
      Correlation.run({ agent: "x", tenant: undefined }, () => {
        expect(Correlation.current()).toEqual({ system: "a", tenant: undefined, agent: "x" });
        expect(Correlation.toMetadata()).toEqual({ [CORRELATION_METADATA_KEY]: { system: "a", agent: "x" } });
      });
      Correlation.run({ agent: "y" }, () => expect(Correlation.current()).toEqual({ agent: "y" }), {
        inherit: false,
      });
      Correlation.runChild({ agent: "outer", runId: "r1" }, () => {
        const outer = Correlation.current() as CorrelationIds;
        expect(outer.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(outer.parentAgent).toBeUndefined();
        Correlation.runChild({ agent: "inner", runId: "r2" }, () => {
          expect(Correlation.current()).toMatchObject({
            system: "a",
            agent: "inner",
            traceId: outer.traceId,
            parentAgent: "outer",
            parentRunId: "r1",
            parentSpanId: outer.spanId,
          });
        });
      });
    });
    expect(Correlation.current()).toBeUndefined();
    expect(Correlation.toMetadata({ agent: undefined })).toEqual({});
  });

  it("follows async work", async () => {
    const seen = await Correlation.run({ runId: "r" }, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return Correlation.current()?.runId;
    });
    expect(seen).toBe("r");
  });

  it("reads ids from message metadata, bounded, with a traceparent as fallback", () => {
    expect(Correlation.fromMetadata(undefined)).toEqual({});
    expect(Correlation.fromMetadata({ [CORRELATION_METADATA_KEY]: ["a"] })).toEqual({});
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v"]));
    expect(Object.keys(Correlation.fromMetadata({ [CORRELATION_METADATA_KEY]: many }))).toHaveLength(32);
    expect(
      Correlation.fromMetadata({
        [CORRELATION_METADATA_KEY]: { agent: "a", n: 1, "bad key": "x", long: "y".repeat(300) },
        traceparent: `00-${TRACE}-b7ad6b7169203331-01`,
      }),
    ).toEqual({ agent: "a", traceId: TRACE, spanId: "b7ad6b7169203331" });
    expect(
      Correlation.fromMetadata({
        [CORRELATION_METADATA_KEY]: { traceId: "mine" },
        traceparent: `00-${TRACE}-b7ad6b7169203331-01`,
      }),
    ).toEqual({ traceId: "mine" });
    expect(Correlation.fromMetadata({ traceparent: "garbage" })).toEqual({});
  });

  it("gives a line the active OpenTelemetry span's ids over its own", () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const span = trace.wrapSpanContext({ traceId: TRACE, spanId: "00f067aa0ba902b7", traceFlags: 1 });
      const fields = Correlation.run({ agent: "a", traceId: "other", spanId: "other" }, () =>
        context.with(trace.setSpan(context.active(), span), () => correlationFields()),
      );
      expect(fields).toEqual({ agent: "a", traceId: TRACE, spanId: "00f067aa0ba902b7" });
    } finally {
      context.disable();
    }
  });

  it("scrubs secrets in text and keeps JSON valid", () => {
    const line = JSON.stringify({
      a: `x\nsk-${"a".repeat(20)}`,
      b: "task-0123456789abcdefghij",
      c: "Basic dXNlcjpwYXNz",
    });
    const scrubbed = scrubSecrets(line);
    expect(JSON.parse(scrubbed)).toEqual({
      a: "x\nsk-[Redacted]",
      b: "task-0123456789abcdefghij",
      c: "Basic [Redacted]",
    });
    expect(scrubSecrets("k=secret-value-1", ["", "secret-value-1"])).toBe("k=[Redacted]");
  });
});
