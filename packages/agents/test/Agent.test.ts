// The agent, end to end through the loopback LLM server and the real SDKs, for both wire formats:
// tool loops (parallel calls overlapping), argument correction, throwing tools, the iteration cap,
// structured output with repair, streaming, abort, approvals persisted across "processes", faults.

import { getEventListeners } from "node:events";
import {
  type Agent,
  AgentAbortedError,
  type AgentDefinition,
  type AgentEvent,
  AgentStateError,
  AnthropicProvider,
  calculator,
  DefaultInputSchema,
  defineAgent,
  defineTool,
  MaxIterationsError,
  ModelCatalog,
  type ModelResponse,
  OpenAIProvider,
  type Provider,
  ProviderError,
  StructuredOutputError,
} from "@normandy/agents";
import { ManualClock, Telemetry } from "@normandy/runtime";
import { LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

const servers: LoopbackLLMServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

const formats = [
  {
    name: "openai",
    model: "gpt-4o",
    make: (s: LoopbackLLMServer): Provider => new OpenAIProvider({ apiKey: "t", baseURL: s.openaiBaseURL }),
  },
  {
    name: "anthropic",
    model: "claude-haiku-4-5",
    make: (s: LoopbackLLMServer): Provider =>
      new AnthropicProvider({ apiKey: "t", baseURL: s.anthropicBaseURL }),
  },
] as const;

async function serve(script: ScriptedTurn[], latency?: { firstByteMs?: number; chunkDelayMs?: number }) {
  const server = await new LoopbackLLMServer({ script, ...(latency && { latency }) }).start();
  servers.push(server);
  return server;
}

const catalog = new ModelCatalog();

for (const format of formats) {
  describe(`the agent over ${format.name}`, () => {
    const agentOn = <O = { chat_message: string }>(
      server: LoopbackLLMServer,
      extra: Partial<AgentDefinition<{ chat_message: string }, O>> = {},
    ) =>
      defineAgent<{ chat_message: string }, O>({
        name: "helper",
        provider: format.make(server),
        model: format.model,
        tools: [calculator],
        costOf: (u, m) => catalog.costOf(u, m),
        ...extra,
      });

    it("runs a multi-step tool loop with the calls of one turn running concurrently", async () => {
      let running = 0;
      let overlap = 0;
      const gates: (() => void)[] = [];
      const slow = defineTool({
        name: "slow_lookup",
        description: "Looks something up slowly.",
        input: z.object({ key: z.string() }),
        run: async ({ key }) => {
          running++;
          overlap = Math.max(overlap, running);
          await new Promise<void>((resolve) => {
            gates.push(resolve);
            if (gates.length === 2) for (const g of gates) g(); // both started before either finishes
          });
          running--;
          return `value of ${key}`;
        },
      });
      const server = await serve([
        {
          toolCalls: [
            { name: "slow_lookup", arguments: { key: "a" } },
            { name: "slow_lookup", arguments: { key: "b" } },
          ],
        },
        { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 2, b: 3 } }] },
        { text: "Done: a, b and 5." },
      ]);
      const agent = agentOn(server, { tools: [slow, calculator] });
      const result = await agent.run("Look up a and b, then add 2 and 3.");
      expect(result.status).toBe("done");
      if (result.status !== "done") return;
      expect(result.output).toEqual({ chat_message: "Done: a, b and 5." });
      expect(overlap).toBe(2);
      expect(result.steps.map((s) => s.toolResults.map((r) => r.content))).toEqual([
        ["value of a", "value of b"],
        ["5"],
        [],
      ]);
      expect(result.usage.inputTokens).toBeGreaterThan(0);
      expect(result.costUsd).toBeGreaterThan(0);
      expect(result.newMessages).toBe(5);
      expect(agent.memory.messages().map((m) => m.role)).toEqual([
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
      ]);
      // the second request carried the first step's calls and results
      const second = JSON.stringify(server.requests[1]?.body);
      expect(second).toContain("value of a");
      expect(second).toContain("value of b");
    });

    it("sends invalid arguments back as an error result, and the model corrects itself", async () => {
      const server = await serve([
        { toolCalls: [{ name: "calculator", arguments: { operation: "power", a: 2, b: 3 } }] },
        { toolCalls: [{ name: "calculator", arguments: { operation: "multiply", a: 2, b: 3 } }] },
        { text: "2 × 3 = 6" },
      ]);
      const result = await agentOn(server).run("2 to the 3?");
      if (result.status !== "done") throw new Error("paused");
      expect(result.steps[0]?.toolResults[0]).toMatchObject({
        isError: true,
        content: expect.stringContaining("Invalid arguments for calculator"),
      });
      expect(result.steps[1]?.toolResults[0]).toMatchObject({ content: "6" });
      expect(result.output.chat_message).toBe("2 × 3 = 6");
    });

    it("turns a throwing tool and malformed JSON arguments into error results, not crashes", async () => {
      const server = await serve([
        {
          toolCalls: [
            { name: "calculator", arguments: { operation: "divide", a: 1, b: 0 } },
            { name: "calculator", rawArguments: '{"operation":' },
          ],
        },
        { text: "I could not divide by zero." },
      ]);
      const result = await agentOn(server).run("1/0?");
      if (result.status !== "done") throw new Error("paused");
      expect(result.steps[0]?.toolResults.map((r) => r.isError)).toEqual([true, true]);
      expect(result.steps[0]?.toolResults[0]?.content).toBe("Tool calculator failed: Division by zero");
    });

    it("fails the run with the error of an event callback that throws", async () => {
      const server = await serve([
        { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 1, b: 2 } }] },
      ]);
      const agent = agentOn(server);
      const failing = (type: string) => (event: AgentEvent) => {
        if (event.type === type) throw new Error(`observer of ${type} failed`);
      };
      await expect(agent.run("1+2", { onEvent: failing("tool_result") })).rejects.toThrow(
        "observer of tool_result failed",
      );
      server.append({ text: "ok" });
      agent.resetMemory();
      await expect(agent.run("again", { onEvent: failing("step_start") })).rejects.toThrow(
        "observer of step_start failed",
      );
    });

    it("after a run failed while its tools ran, drops their late outcomes and closes their calls", async () => {
      let release: ((v: string) => void) | undefined;
      let slowSignal: AbortSignal | undefined;
      const slow = defineTool({
        name: "slow",
        description: "Finishes when released.",
        input: z.object({}),
        run: (_i, ctx) => {
          slowSignal = ctx.signal;
          return new Promise<string>((resolve) => {
            release = resolve;
          });
        },
      });
      const server = await serve([
        {
          toolCalls: [
            { name: "calculator", arguments: { operation: "add", a: 1, b: 2 } },
            { name: "slow", arguments: {} },
          ],
        },
        { text: "second run" },
      ]);
      const agent = agentOn(server, { tools: [calculator, slow] });
      const failing = (event: AgentEvent) => {
        if (event.type === "tool_result") throw new Error("observer failed");
      };
      await expect(agent.run("go", { onEvent: failing })).rejects.toThrow("observer failed");
      expect(slowSignal?.aborted).toBe(true); // the failed run abandoned the call still running
      release?.("too late");
      await new Promise((r) => setImmediate(r));

      const result = await agent.run("again");
      expect(result).toMatchObject({ status: "done", output: { chat_message: "second run" } });
      if (result.status !== "done") return;
      expect(result.steps).toHaveLength(1); // nothing of the failed run leaked into this one
      const tool = agent.memory.messages().find((m) => m.role === "tool");
      expect(tool?.content).toEqual([
        expect.objectContaining({ isError: true, content: expect.stringContaining("Interrupted") }),
        expect.objectContaining({ isError: true, content: expect.stringContaining("Interrupted") }),
      ]);
      expect(JSON.stringify(server.requests[1]?.body)).toContain("Interrupted: the run ended");
    });

    it("hands its services and its name to every tool, and reports each memory write", async () => {
      const server = await serve([{ toolCalls: [{ name: "whoami", arguments: {} }] }, { text: "ok" }]);
      const seen: unknown[] = [];
      const whoami = defineTool({
        name: "whoami",
        description: "Reports its context.",
        input: z.object({}),
        run: (_input, ctx) => {
          seen.push({ agent: ctx.agent, store: ctx.services.store });
          return "noted";
        },
      });
      const agent = agentOn(server, { tools: [whoami], services: { store: "the-store" } });
      const sizes: number[] = [];
      await agent.run("who?", { onCommit: () => sizes.push(agent.memory.size) });
      expect(seen).toEqual([{ agent: "helper", store: "the-store" }]);
      // told after each write: the tool-call reply, its results, the answer
      expect(sizes).toEqual([2, 3, 4]);

      // a commit that fails (e.g. persisting the step) fails the run with its error: the reply's, the results'
      for (const at of [1, 2]) {
        server.reset([{ toolCalls: [{ name: "whoami", arguments: {} }] }, { text: "ok" }]);
        let writes = 0;
        const failing = () => {
          if (++writes === at) throw new Error(`commit ${at} failed`);
        };
        await expect(agent.run("again", { onCommit: failing })).rejects.toThrow(`commit ${at} failed`);
      }
    });

    it("stops calling tools after maxToolIterations: the final call forbids tools", async () => {
      const call = { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 1, b: 1 } }] };
      const server = await serve([call, call, { text: "Fine, it is 2." }]);
      const result = await agentOn(server, { maxToolIterations: 2 }).run("loop");
      if (result.status !== "done") throw new Error("paused");
      expect(result.output.chat_message).toBe("Fine, it is 2.");
      const last = server.requests[2]?.body as { tool_choice?: unknown };
      expect(last.tool_choice).toEqual(format.name === "openai" ? "none" : { type: "none" });
      const stubborn = await serve([call, call]);
      const agent = agentOn(stubborn, { maxToolIterations: 1 });
      await expect(agent.run("loop")).rejects.toBeInstanceOf(MaxIterationsError);
      // memory stays valid: every call has a result
      const ids = agent.memory.messages().flatMap((m) => (typeof m.content === "string" ? [] : m.content));
      const calls = ids.filter((b) => b.type === "tool_call").map((b) => (b as { id: string }).id);
      const results = ids
        .filter((b) => b.type === "tool_result")
        .map((b) => (b as { toolCallId: string }).toolCallId);
      expect(results).toEqual(calls);
    });

    it("enforces the output schema with a repair round, and fails typed after the last attempt", async () => {
      const Weather = z.object({ city: z.string(), celsius: z.number() });
      const server = await serve([
        { text: '{"city":"Paris"}' },
        { text: '```json\n{"city":"Paris","celsius":12}\n```' },
      ]);
      const agent = agentOn(server, { outputSchema: Weather, tools: [] });
      const result = await agent.run("Weather in Paris?");
      if (result.status !== "done") throw new Error("paused");
      expect(result.output).toEqual({ city: "Paris", celsius: 12 });
      const repair = agent.memory.messages()[2];
      expect(repair).toMatchObject({
        role: "user",
        content: expect.stringContaining("did not match the required output schema"),
      });
      expect(JSON.stringify(server.requests[0]?.body)).toContain("# OUTPUT SCHEMA");
      const bad = await serve([{ text: "no" }, { text: "still no" }, { text: "never" }]);
      const error = await agentOn(bad, { outputSchema: Weather, tools: [] })
        .run("?")
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StructuredOutputError);
      expect((error as StructuredOutputError).raw).toBe("never");
    });

    it("streams events in order and stores the response in memory", async () => {
      const server = await serve([
        { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 1, b: 2 } }] },
        { text: "It is 3." },
      ]);
      const agent = agentOn(server);
      const stream = agent.stream("1+2?");
      const events: AgentEvent[] = [];
      for await (const e of stream) events.push(e);
      const types = events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);
      expect(types).toEqual([
        "step_start",
        "tool_call_start",
        "tool_call_arguments",
        "tool_call",
        "step_finish",
        "tool_result",
        "step_start",
        "text_delta",
        "step_finish",
        "done",
      ]);
      const text = events
        .filter((e) => e.type === "text_delta")
        .map((e) => (e as { text: string }).text)
        .join("");
      expect(text).toBe("It is 3.");
      const result = await stream.result();
      expect(result.status === "done" && result.output.chat_message).toBe("It is 3.");
      expect(agent.memory.messages().at(-1)).toEqual({
        role: "assistant",
        content: [{ type: "text", text: "It is 3." }],
      });
    });

    it("continues the conversation when run without input", async () => {
      const server = await serve([{ text: "Hello!" }, { text: "Still here." }]);
      const agent = agentOn(server, { tools: [] });
      await agent.run("Hi");
      const again = await agent.run();
      expect(again.status === "done" && again.output.chat_message).toBe("Still here.");
      expect(agent.memory.messages().map((m) => m.role)).toEqual(["user", "assistant", "assistant"]);
    });

    it("surfaces provider faults as typed errors from run", async () => {
      const server = await serve([{ fault: { kind: "authentication" } }]);
      const error = await agentOn(server)
        .run("x")
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ kind: "auth", retryable: false });
    });

    it("aborts mid-turn: the HTTP request closes and running tools are cancelled", async () => {
      let toolSignal: AbortSignal | undefined;
      const hang = defineTool({
        name: "hang",
        description: "Never finishes.",
        input: z.object({}),
        run: (_i, ctx) => {
          toolSignal = ctx.signal;
          return new Promise(() => {});
        },
      });
      const server = await serve([{ toolCalls: [{ name: "hang", arguments: {} }] }]);
      const agent = agentOn(server, { tools: [hang] });
      const controller = new AbortController();
      const running = agent.run("go", { signal: controller.signal }).catch((e: unknown) => e);
      while (toolSignal === undefined) await new Promise((r) => setTimeout(r, 5));
      controller.abort(new Error("user pressed stop"));
      expect(await running).toBeInstanceOf(AgentAbortedError);
      expect(toolSignal.aborted).toBe(true);

      const slowServer = await serve([{ text: "x".repeat(200) }], { firstByteMs: 5, chunkDelayMs: 20 });
      const streaming = agentOn(slowServer, { tools: [] });
      const c2 = new AbortController();
      const stream = streaming.stream("talk", { signal: c2.signal });
      const seen: string[] = [];
      const consumed = (async () => {
        for await (const e of stream) {
          seen.push(e.type);
          if (e.type === "text_delta") c2.abort();
        }
      })().catch((e: unknown) => e);
      expect(await consumed).toBeInstanceOf(AgentAbortedError);
      await slowServer.idle();
      expect(slowServer.requests[0]?.disconnected).toBe(true);
    });
  });
}

describe("approvals", () => {
  it("pauses for approval, persists, resumes in a new agent, and a rejection reaches the model", async () => {
    const transfers: unknown[] = [];
    const transfer = defineTool({
      name: "transfer",
      description: "Moves money.",
      input: z.object({ amount: z.number() }),
      needsApproval: ({ amount }) => amount > 100,
      run: ({ amount }) => {
        transfers.push(amount);
        return `moved ${amount}`;
      },
    });
    const server = await serve([
      {
        toolCalls: [
          { name: "transfer", arguments: { amount: 500 }, id: "big" },
          { name: "transfer", arguments: { amount: 5 }, id: "small" },
        ],
      },
      { toolCalls: [{ name: "transfer", arguments: { amount: 900 }, id: "bigger" }] },
      { text: "Moved 500 and 5; 900 was refused." },
    ]);
    const make = () =>
      defineAgent({
        name: "bank",
        provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
        model: "gpt-4o",
        tools: [transfer],
      });
    const first = make();
    const paused = await first.run("Pay the bills.");
    expect(paused).toEqual({ status: "awaiting_approval", calls: [expect.objectContaining({ id: "big" })] });
    expect(first.awaitingApproval).toBe(true);
    await expect(first.run("again")).rejects.toBeInstanceOf(AgentStateError);
    expect(transfers).toEqual([]);
    const saved = JSON.parse(JSON.stringify(first.snapshot()));

    const second = make(); // "another process"
    second.restore(saved);
    expect(second.awaitingApproval).toBe(true);
    await expect(second.approve("nope")).rejects.toBeInstanceOf(AgentStateError);
    const next = await second.approve("big");
    expect(transfers).toEqual([500, 5]);
    expect(next).toEqual({ status: "awaiting_approval", calls: [expect.objectContaining({ id: "bigger" })] });
    const done = await second.reject("bigger", "over the daily limit");
    expect(done.status === "done" && done.output.chat_message).toBe("Moved 500 and 5; 900 was refused.");
    expect(JSON.stringify(server.requests[2]?.body)).toContain(
      "The user rejected this call: over the daily limit",
    );
    await expect(second.reject("bigger")).rejects.toBeInstanceOf(AgentStateError);
    expect(() => second.snapshot()).not.toThrow();
  });
});

describe("agent telemetry and validation", () => {
  it("emits model and tool call events, and validates input before any call", async () => {
    const server = await serve([
      { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 1, b: 1 } }] },
      { text: "2" },
    ]);
    const telemetry = new Telemetry(new ManualClock());
    const names: string[] = [];
    const ids = new Set<string>();
    telemetry.attach("t", "*", (name, _m, meta) => {
      names.push(name.slice(1).join("."));
      ids.add(JSON.stringify([meta.agent, meta.runId, meta.conversationId, meta.turnId]));
    });
    const agent: Agent<{ question: string }> = defineAgent({
      name: "typed",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      tools: [calculator],
      inputSchema: z.object({ question: z.string() }),
      telemetry,
      instructions: { background: ["You add."], steps: ["Add."] },
    });
    await expect(agent.run({ question: 1 } as never)).rejects.toThrow();
    expect(server.requests).toHaveLength(0);
    await agent.run({ question: "1+1" });
    expect(names).toEqual([
      "agent.run.start",
      "agent.model_call.start",
      "agent.model_call.stop",
      "tool.call.start",
      "tool.call.stop",
      "agent.model_call.start",
      "agent.model_call.stop",
      "agent.run.stop",
    ]);
    // every event of the run carries the same correlation ids
    expect(ids.size).toBe(1);
    const [only] = [...ids].map((s) => JSON.parse(s) as string[]);
    expect(only?.[0]).toBe("typed");
    expect(only?.[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(only?.slice(2)).toEqual([agent.memory.conversationId, agent.memory.currentTurnId]);
    expect(agent.memory.messages()[0]).toEqual({ role: "user", content: '{"question":"1+1"}' });
    agent.resetMemory();
    expect(agent.memory.size).toBe(0);
  });
});

describe("agent correlation ids", () => {
  it("puts its trace ids on every event and in ctx.correlation; a run given them continues the trace as a child", async () => {
    const server = await serve([
      { toolCalls: [{ name: "delegate", id: "call_d", arguments: { chat_message: "sub" } }] },
      { text: "inner done" },
      { text: "outer done" },
    ]);
    const telemetry = new Telemetry();
    const events: Record<string, unknown>[] = [];
    telemetry.attach("t", "*", (name, _m, meta) => events.push({ event: name.join("."), ...meta }));
    const provider = new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL });
    const inner = defineAgent({ name: "inner", provider, model: "gpt-4o", telemetry });
    let seen: Record<string, unknown> | undefined;
    const delegate = defineTool({
      name: "delegate",
      description: "runs the inner agent",
      input: DefaultInputSchema,
      run: async ({ chat_message }, ctx) => {
        seen = { ...ctx.correlation };
        const result = await inner.run(chat_message, { correlation: ctx.correlation });
        return result.status === "done" ? result.text : "paused";
      },
    });
    const outer = defineAgent({ name: "outer", provider, model: "gpt-4o", tools: [delegate], telemetry });
    expect((await outer.run("go")).status).toBe("done");

    const of = (agent: string) => events.filter((e) => e.agent === agent);
    const [outerStart] = of("outer");
    expect(outerStart).toMatchObject({
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(outerStart?.parentSpanId).toBeUndefined();
    // every event of a run carries the same trace and span
    for (const agent of ["outer", "inner"])
      expect(new Set(of(agent).map((e) => `${e.traceId}/${e.spanId}/${e.runId}`)).size).toBe(1);
    expect(seen).toMatchObject({
      agent: "outer",
      runId: outerStart?.runId,
      conversationId: outer.memory.conversationId,
      traceId: outerStart?.traceId,
      spanId: outerStart?.spanId,
      toolCallId: "call_d",
    });
    // the inner run: same trace, a span of its own, the outer run and its tool call as parents
    const [innerStart] = of("inner");
    expect(innerStart).toMatchObject({
      traceId: outerStart?.traceId,
      parentSpanId: outerStart?.spanId,
      parentAgent: "outer",
      parentRunId: outerStart?.runId,
      toolCallId: "call_d",
      conversationId: inner.memory.conversationId,
    });
    expect(innerStart?.spanId).not.toBe(outerStart?.spanId);
    expect(innerStart?.runId).not.toBe(outerStart?.runId);
    // a run with no correlation starts a new trace
    server.append({ text: "again" });
    events.length = 0;
    await inner.run("alone");
    expect(of("inner")[0]?.traceId).not.toBe(outerStart?.traceId);
    expect(of("inner")[0]?.parentRunId).toBeUndefined();
  });
});

describe("agent options and edge cases", () => {
  it("gives every run its own signal, so listeners left on it by an SDK never pile up", async () => {
    const server = await serve(Array.from({ length: 30 }, () => ({ text: "ok" })));
    const inner = new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL });
    const counts: number[] = [];
    const signals = new Set<AbortSignal>();
    const provider: Provider = {
      name: inner.name,
      complete: (request, options = {}) => {
        const signal = options.signal as AbortSignal;
        signals.add(signal);
        counts.push(getEventListeners(signal, "abort").length);
        signal.addEventListener("abort", () => {}); // as the SDK does, never removed
        return inner.complete(request, options);
      },
      stream: (request, options) => inner.stream(request, options),
    };
    const agent = defineAgent({ name: "long-lived", provider, model: "gpt-4o" });
    for (let i = 0; i < 30; i++) await agent.run(`question ${i}`);
    expect(signals.size).toBe(30);
    expect(Math.max(...counts)).toBeLessThanOrEqual(1);
  });

  it("runs many steps of many tool calls without Node's listener-leak warning on its signal", async () => {
    // the SDK leaves a listener per model call on the run's signal: 13 calls pass Node's limit of 10
    const calls = Array.from({ length: 9 }, (_, i) => ({
      name: "calculator",
      arguments: { operation: "add", a: i, b: 1 },
    }));
    const server = await serve([...Array.from({ length: 12 }, () => ({ toolCalls: calls })), { text: "ok" }]);
    const agent = defineAgent({
      name: "busy",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      tools: [calculator],
      toolConcurrency: 9,
      maxToolIterations: 12,
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      expect((await agent.run("go")).status).toBe("done");
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("MaxListenersExceededWarning");
  });

  it("keeps a reply that arrives after its run was aborted out of memory and out of the next run", async () => {
    const server = await serve([{ text: "fresh" }]);
    const inner = new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL });
    let late: ((r: ModelResponse) => void) | undefined;
    const provider: Provider = {
      name: inner.name,
      // the first call ignores its signal (a provider that cannot cancel) and answers when told
      complete: (request, options) =>
        late === undefined ? new Promise((resolve) => (late = resolve)) : inner.complete(request, options),
      stream: (request, options) => inner.stream(request, options),
    };
    const agent = defineAgent({ name: "stubborn", provider, model: "gpt-4o" });
    const controller = new AbortController();
    const first = agent.run("one", { signal: controller.signal }).catch((e: unknown) => e);
    while (late === undefined) await new Promise((r) => setImmediate(r));
    controller.abort();
    expect(await first).toBeInstanceOf(AgentAbortedError);
    const stale: ModelResponse = {
      id: "stale",
      model: "gpt-4o",
      content: [{ type: "text", text: "stale" }],
      stopReason: "end_turn",
      rawStopReason: "stop",
      usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    };
    late?.(stale);
    await new Promise((r) => setImmediate(r));
    expect(agent.memory.messages()).toEqual([{ role: "user", content: "one" }]);
    const second = await agent.run("two");
    expect(second).toMatchObject({ status: "done", output: { chat_message: "fresh" } });
    expect(JSON.stringify(agent.memory.messages())).not.toContain("stale");
  });

  it("honours its options: string instructions, memory bound, max tokens, tool limits, native structured output", async () => {
    const server = await serve([
      {
        toolCalls: [
          { name: "calculator", arguments: { operation: "add", a: 1, b: 2 } },
          { name: "calculator", arguments: { operation: "add", a: 3, b: 4 } },
        ],
      },
      { text: '{"total":10}' },
    ]);
    const agent = defineAgent({
      name: "opts",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      instructions: "You are terse.",
      tools: [calculator],
      maxMessages: 50,
      maxTokens: 300,
      toolConcurrency: 1,
      toolTimeoutMs: 1000,
      structuredOutput: "native",
      outputSchema: z.object({ total: z.number() }),
      context: { strategy: "sliding_window", reservedTokens: 100, maxTokens: 100_000 },
      contextWindowOf: () => 200_000,
      request: { topP: 0.5 },
    });
    const result = await agent.run("Add things.");
    expect(result.status === "done" && result.output).toEqual({ total: 10 });
    const body = server.requests[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({
      max_completion_tokens: 300,
      top_p: 0.5,
      response_format: { type: "json_schema" },
    });
    expect(JSON.stringify(body.messages)).toContain("- You are terse.");
    expect(JSON.stringify(body.messages)).not.toContain("# OUTPUT SCHEMA");
  });

  it("refuses overlapping runs and snapshots of a running agent; restore checks the version", async () => {
    const server = await serve([{ text: "slow" }], { firstByteMs: 30 });
    const agent = defineAgent({
      name: "busy",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
    });
    const first = agent.run("one");
    await expect(agent.run("two")).rejects.toThrow(/already in progress/);
    expect(() => agent.snapshot()).toThrow(AgentStateError);
    await first;
    expect(() => agent.restore({ version: 2 } as never)).toThrow(/version 2/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(agent.run("three", { signal: aborted.signal })).rejects.toBeInstanceOf(AgentAbortedError);
    expect(new AgentAbortedError("plain").message).toBe("the agent run was cancelled");
  });

  it("fails the run when preparing fails (a context provider throws)", async () => {
    const server = await serve([]);
    const agent = defineAgent({
      name: "ctx",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      instructions: {
        contextProviders: [{ title: "Broken", getInfo: () => Promise.reject(new Error("db down")) }],
      },
    });
    await expect(agent.run("hi")).rejects.toThrow("db down");
    expect(server.requests).toHaveLength(0);
  });

  it("asks a human when an approval predicate throws, and words a rejection without a reason", async () => {
    const risky = defineTool({
      name: "risky",
      description: "",
      input: z.object({}),
      needsApproval: () => {
        throw new Error("cannot decide");
      },
      run: () => "ran",
    });
    const server = await serve([{ toolCalls: [{ name: "risky", arguments: {}, id: "r1" }] }, { text: "ok" }]);
    const agent = defineAgent({
      name: "a",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      tools: [risky],
    });
    expect((await agent.run("go")).status).toBe("awaiting_approval");
    await agent.reject("r1");
    expect(JSON.stringify(server.requests[1]?.body)).toContain("The user rejected this call.");
  });

  it("streams thinking deltas (Anthropic)", async () => {
    const server = await serve([{ thinking: "Let me think.", text: "Answer." }]);
    const agent = defineAgent({
      name: "thinker",
      provider: new AnthropicProvider({ apiKey: "t", baseURL: server.anthropicBaseURL }),
      model: "claude-haiku-4-5",
      request: { thinking: { budgetTokens: 1024 } },
    });
    const thinking: string[] = [];
    for await (const e of agent.stream("?")) if (e.type === "thinking_delta") thinking.push(e.thinking);
    expect(thinking.join("")).toBe("Let me think.");
  });
});

describe("tokens, batches and run telemetry", () => {
  it("counts the next call's tokens locally (tiktoken) or with the provider's endpoint", async () => {
    const server = await serve([{ text: "Hello!" }]);
    const agent = defineAgent({
      name: "c",
      provider: new AnthropicProvider({ apiKey: "t", baseURL: server.anthropicBaseURL }),
      model: "claude-haiku-4-5",
      tools: [calculator],
    });
    await agent.run("Hi there");
    const local = await agent.countTokens();
    expect(local).toBeGreaterThan(50);
    expect(await agent.countTokens()).toBe(local); // cached, unchanged
    const exact = await agent.countTokens({ exact: true });
    expect(exact).toBeGreaterThan(0);
    expect(server.requests.at(-1)?.path).toBe("/v1/messages/count_tokens");
    const noEndpoint = defineAgent({
      name: "o",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
    });
    expect(await noEndpoint.countTokens({ exact: true })).toBeGreaterThan(0); // falls back to counting locally
    // the system prompt counted is the one sent: with an output schema, it carries the schema's block
    const withSchema = defineAgent({
      name: "o",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      outputSchema: z.object({ answer: z.string(), confidence: z.number() }),
    });
    expect(await withSchema.countTokens()).toBeGreaterThan((await noEndpoint.countTokens()) + 10);
  });

  it("runs a batch from the same conversation; one slow item times out alone", async () => {
    const server = await serve([]);
    server.append(
      ...Array.from({ length: 3 }, () => (req: { body: unknown }) => {
        const text = JSON.stringify(req.body);
        return text.includes("slow")
          ? { text: "late", latency: { firstByteMs: 2000 } }
          : { text: `answer to ${text.includes("one") ? "one" : "two"}` };
      }),
    );
    const agent = defineAgent({
      name: "b",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
    });
    agent.memory.add({ role: "user", content: "context" }, { role: "assistant", content: "ok" });
    const progress: number[] = [];
    const result = await agent.processBatch(["one", "slow", "two"], {
      timeoutMs: 300,
      onProgress: (d) => progress.push(d),
    });
    expect(
      result.items.map((i) =>
        i.ok ? (i.value.status === "done" ? i.value.output.chat_message : "paused") : (i.error as Error).name,
      ),
    ).toEqual(["answer to one", "BatchItemTimeoutError", "answer to two"]);
    expect(progress).toEqual([1, 2, 3]);
    expect(agent.memory.size).toBe(2); // the agent's own conversation is untouched
    expect(JSON.stringify(server.requests[0]?.body)).toContain("context");
  });

  it("reports failed, paused and aborted runs on the bus", async () => {
    const server = await serve([{ fault: { kind: "server_error" } }]);
    const telemetry = new Telemetry(new ManualClock());
    const seen: string[] = [];
    telemetry.attach(
      "t",
      [
        ["normandy", "agent", "run", "exception"],
        ["normandy", "agent", "run", "pause"],
      ],
      (name, _m, meta) =>
        seen.push(`${name.at(-1)} ${(meta.error as Error | undefined)?.name ?? meta.calls}`),
    );
    const agent = defineAgent({
      name: "f",
      provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
      model: "gpt-4o",
      telemetry,
    });
    await expect(agent.run("x")).rejects.toBeInstanceOf(ProviderError);
    const aborted = new AbortController();
    aborted.abort();
    await expect(agent.run("y", { signal: aborted.signal })).rejects.toBeInstanceOf(AgentAbortedError);
    expect(seen).toEqual(["exception ProviderError", "exception AgentAbortedError"]);
  });
});
