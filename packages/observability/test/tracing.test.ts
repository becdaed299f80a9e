// OpenTelemetry tracing from the telemetry bus, with real agents against the loopback LLM server: a
// manager whose tool asks a researcher agent process (through AgentSupervisor / AgentProcessClient) makes
// one trace with the GenAI span tree and attributes; failures carry error.type; content only when asked;
// streaming's time to first chunk; approvals; correlation ids as span ids; remote and active parents;
// workflows; restarts as span events; detach; and a real OTLP/HTTP export to a loopback receiver.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AnthropicProvider,
  calculator,
  DefaultInputSchema,
  defineAgent,
  defineTool,
  OpenAIProvider,
  type Provider,
} from "@normandy/agents";
import {
  type AgentMessage,
  AgentProcessClient,
  AgentSupervisor,
  agentProcessName,
  HierarchicalCoordinator,
  runWorkflow,
  WorkflowError,
  workflow,
} from "@normandy/coordination";
import { attachTracing, CorrelationIdGenerator, errorTypeOf, TRACED_EVENTS } from "@normandy/observability";
import {
  type ActorSystem,
  Correlation,
  type CorrelationIds,
  MemorySnapshotStore,
  Telemetry,
} from "@normandy/runtime";
import type { LoopbackLLMServer } from "@normandy/testing";
import { type AttributeValue, context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useFixtures } from "./support.js";

const TRACE = "0af7651916cd43dd8448eb211c80319c";
const SPAN = "b7ad6b7169203331";
const CONTENT_KEYS = [
  "gen_ai.input.messages",
  "gen_ai.output.messages",
  "gen_ai.system_instructions",
  "gen_ai.tool.call.arguments",
];

const { serve, start, cleanup } = useFixtures();

const manager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  context.disable();
});

function startSystem(telemetry: Telemetry): ActorSystem {
  const system = start({ telemetry, snapshotStore: new MemorySnapshotStore() });
  return system;
}

const openai = (server: LoopbackLLMServer): Provider =>
  new OpenAIProvider({ apiKey: "test-key", baseURL: server.openaiBaseURL });
const anthropic = (server: LoopbackLLMServer): Provider =>
  new AnthropicProvider({ apiKey: "test-key", baseURL: server.anthropicBaseURL });

/** A bus with tracing into memory. */
function traced(options: { captureContent?: boolean; ids?: boolean } = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(options.ids === true && { idGenerator: new CorrelationIdGenerator() }),
  });
  const telemetry = new Telemetry();
  const handle = attachTracing(telemetry, {
    tracerProvider: provider,
    ...(options.captureContent !== undefined && { captureContent: options.captureContent }),
  });
  cleanup(() => {
    handle.detach();
    return provider.shutdown();
  });
  const spans = () => exporter.getFinishedSpans();
  const named = (name: string) => spans().filter((s) => s.name === name);
  const one = (name: string) => {
    const found = named(name);
    expect(found, name).toHaveLength(1);
    return found[0] as ReadableSpan;
  };
  return { telemetry, provider, handle, spans, named, one };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

/** The span tree as `name(children…)`, children sorted by name (parallel calls end in any order). */
function tree(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map(idOf));
  const render = (span: ReadableSpan): string => {
    const children = spans.filter((s) => parentOf(s) === idOf(span)).map(render);
    children.sort();
    return children.length === 0 ? span.name : `${span.name}(${children.join(", ")})`;
  };
  return spans
    .filter((s) => {
      const parent = parentOf(s);
      return parent === undefined || !ids.has(parent);
    })
    .map(render)
    .sort();
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("attachTracing over a delegated multi-agent run", () => {
  it("puts an agent-as-tool worker's run under the manager's tool call, with no correlation context", async () => {
    expect(Correlation.enabled).toBe(false);
    const managerServer = await serve([
      { toolCalls: [{ name: "researcher", id: "call_delegate", arguments: { task: "find X" } }] },
      { text: "X is 42, says the researcher." },
    ]);
    const workerServer = await serve([{ text: "X is 42." }]);
    const { telemetry, spans } = traced();
    const manager = defineAgent({
      name: "manager",
      provider: openai(managerServer),
      model: "gpt-4o",
      telemetry,
    });
    const researcher = defineAgent({
      name: "researcher",
      provider: openai(workerServer),
      model: "gpt-4o",
      telemetry,
    });
    const team = new HierarchicalCoordinator({
      manager,
      workers: [{ id: "researcher", agent: researcher }],
      strategy: "agent_as_tool",
    });
    expect((await team.run("What is X?")).answer).toBe("X is 42, says the researcher.");
    expect(tree(spans())).toEqual([
      "invoke_agent manager(chat gpt-4o, chat gpt-4o, execute_tool researcher(invoke_agent researcher(chat gpt-4o)))",
    ]);
    expect(Correlation.enabled).toBe(false);
  });

  // first with the ids passed explicitly (the default: no correlation context), then with the context on
  // and a tool that passes nothing (the context carries them); the context stays on once enabled
  it.each([
    ["the tool passes ctx.correlation", false],
    ["the correlation context is on", true],
  ])(
    "makes one trace: invoke_agent → chat, execute_tool → the worker's invoke_agent, with the GenAI attributes (%s)",
    async (_how, context) => {
      expect(Correlation.enabled).toBe(false); // nothing turned it on before
      if (context) Correlation.enable();
      const managerServer = await serve([
        {
          toolCalls: [
            { name: "ask_researcher", id: "toolu_ask", arguments: { chat_message: "what is X?" } },
            { name: "calculator", id: "toolu_calc", arguments: { operation: "add", a: 2, b: 3 } },
          ],
          usage: {
            inputTokens: 100,
            outputTokens: 10,
            cacheReadInputTokens: 30,
            cacheCreationInputTokens: 5,
          },
        },
        { text: "X is 42 and 2 + 3 = 5.", usage: { inputTokens: 200, outputTokens: 20 } },
      ]);
      const researcherServer = await serve([
        { toolCalls: [{ name: "lookup", id: "call_lookup", arguments: { chat_message: "X" } }] },
        { text: "X is 42.", usage: { inputTokens: 50, outputTokens: 5 } },
      ]);
      const { telemetry, spans, one, named } = traced();
      const system = startSystem(telemetry);
      const agents = await AgentSupervisor.start(system, { name: "agents" });
      const lookup = defineTool({
        name: "lookup",
        description: "looks X up",
        input: DefaultInputSchema,
        run: () => "42",
      });
      const researcher = await agents.startAgent({
        id: "researcher",
        definition: {
          name: "researcher",
          provider: openai(researcherServer),
          model: "gpt-4o",
          tools: [lookup],
          telemetry,
        },
      });
      const ask = defineTool({
        name: "ask_researcher",
        description: "asks the researcher",
        input: DefaultInputSchema,
        run: async ({ chat_message }, ctx) => {
          const reply = await researcher.request(
            chat_message,
            context ? {} : { correlation: ctx.correlation },
          );
          return reply.payload.status === "done" ? reply.payload.output.chat_message : "paused";
        },
      });
      const boss = defineAgent({
        name: "manager",
        provider: anthropic(managerServer),
        model: "claude-haiku-4-5",
        tools: [ask, calculator],
        costOf: () => 0.25,
        telemetry,
      });

      const result = await boss.run("Find X and add 2 and 3");
      expect(result.status).toBe("done");

      // one trace, one root, the tree of the GenAI conventions
      const all = spans();
      expect(new Set(all.map((s) => s.spanContext().traceId)).size).toBe(1);
      expect(tree(all)).toEqual([
        "invoke_agent manager(chat claude-haiku-4-5, chat claude-haiku-4-5, execute_tool ask_researcher(" +
          "invoke_agent researcher(chat gpt-4o, chat gpt-4o, execute_tool lookup)), execute_tool calculator)",
      ]);

      const run = one("invoke_agent manager");
      expect(run.kind).toBe(SpanKind.INTERNAL);
      expect(run.parentSpanContext).toBeUndefined();
      expect(run.status.code).toBe(SpanStatusCode.UNSET);
      expect(run.attributes).toMatchObject({
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "manager",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5",
        "gen_ai.conversation.id": boss.memory.conversationId,
        "gen_ai.usage.output_tokens": 30,
        "normandy.cost.usd": 0.25,
      });
      expect(run.attributes["normandy.run.id"]).toMatch(/./);

      // chat spans: CLIENT, required attributes at start, response and usage (cache tokens included)
      const [first, second] = named("chat claude-haiku-4-5").sort(
        (a, b) => Number(a.attributes["normandy.step"]) - Number(b.attributes["normandy.step"]),
      ) as [ReadableSpan, ReadableSpan];
      expect(first.kind).toBe(SpanKind.CLIENT);
      expect(first.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5",
        "gen_ai.request.stream": false,
        "gen_ai.conversation.id": boss.memory.conversationId,
        "gen_ai.response.model": "claude-haiku-4-5",
        "gen_ai.response.finish_reasons": ["tool_use"],
        "gen_ai.usage.input_tokens": 135,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 5,
        "normandy.step": 1,
      });
      expect(first.attributes["gen_ai.response.id"]).toMatch(/./);
      expect(first.attributes["gen_ai.response.time_to_first_chunk"]).toBeUndefined(); // not streamed
      expect(second.attributes["gen_ai.response.finish_reasons"]).toEqual(["end_turn"]);
      expect(run.attributes["gen_ai.usage.input_tokens"]).toBe(
        (first.attributes["gen_ai.usage.input_tokens"] as number) +
          (second.attributes["gen_ai.usage.input_tokens"] as number),
      );

      const tool = one("execute_tool ask_researcher");
      expect(tool.kind).toBe(SpanKind.INTERNAL);
      expect(tool.attributes).toEqual({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "ask_researcher",
        "gen_ai.tool.call.id": "toolu_ask",
        "gen_ai.tool.type": "function",
      });
      expect(one("execute_tool calculator").status.code).toBe(SpanStatusCode.UNSET);

      // the worker's run: its own conversation, under the caller's tool call, across the AgentMessage
      const worker = one("invoke_agent researcher");
      expect(parentOf(worker)).toBe(idOf(tool));
      expect(worker.attributes).toMatchObject({
        "gen_ai.agent.name": "researcher",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
      });
      expect(worker.attributes["gen_ai.conversation.id"]).not.toBe(boss.memory.conversationId);
      expect(worker.attributes["normandy.agent.id"]).toMatch(/./); // the agent process's pid
      const workerChat = named("chat gpt-4o").find(
        (s) => s.attributes["normandy.step"] === 2,
      ) as ReadableSpan;
      expect(workerChat.attributes).toMatchObject({
        "gen_ai.provider.name": "openai",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.output_tokens": 5,
      });

      // no content without captureContent
      for (const span of all) for (const key of CONTENT_KEYS) expect(span.attributes[key]).toBeUndefined();
    },
  );
});

describe("attachTracing: failures, content, streaming, approvals", () => {
  it("sets error.type, an error status and the exception on a failed model call and run; a failed tool is an error too", async () => {
    const server = await serve([
      { toolCalls: [{ name: "nope", id: "call_nope", arguments: {} }] },
      { fault: { kind: "authentication" } },
    ]);
    const { telemetry, one, named } = traced();
    const agent = defineAgent({
      name: "helper",
      provider: openai(server),
      model: "gpt-4o",
      tools: [calculator],
      telemetry,
    });
    await expect(agent.run("hi")).rejects.toMatchObject({ name: "ProviderError", kind: "auth" });

    const tool = one("execute_tool nope");
    expect(tool.attributes["error.type"]).toBe("tool_error");
    expect(tool.status.code).toBe(SpanStatusCode.ERROR);
    const failed = named("chat gpt-4o").find((s) => s.attributes["normandy.step"] === 2) as ReadableSpan;
    expect(failed.attributes["error.type"]).toBe("auth");
    expect(failed.status).toMatchObject({ code: SpanStatusCode.ERROR });
    expect(failed.events.map((e) => e.name)).toContain("exception");
    expect(failed.attributes["gen_ai.response.model"]).toBeUndefined();
    const run = one("invoke_agent helper");
    expect(run.attributes["error.type"]).toBe("auth");
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.events.find((e) => e.name === "exception")?.attributes).toMatchObject({
      "exception.type": "ProviderError",
    });
  });

  it("records prompt, response and tool arguments only with captureContent", async () => {
    const server = await serve([
      {
        toolCalls: [{ name: "calculator", id: "call_calc", arguments: { operation: "add", a: 2, b: 3 } }],
      },
      { text: "2 + 3 = 5" },
    ]);
    const { telemetry, named, one } = traced({ captureContent: true });
    const agent = defineAgent({
      name: "helper",
      provider: openai(server),
      model: "gpt-4o",
      instructions: "You add numbers.",
      tools: [calculator],
      telemetry,
    });
    expect((await agent.run("What is 2 + 3?")).status).toBe("done");

    const [first, second] = named("chat gpt-4o").sort(
      (a, b) => Number(a.attributes["normandy.step"]) - Number(b.attributes["normandy.step"]),
    ) as [ReadableSpan, ReadableSpan];
    const json = (value: AttributeValue | undefined) => JSON.parse(value as string) as unknown;
    const system = json(first.attributes["gen_ai.system_instructions"]) as {
      type: string;
      content: string;
    }[];
    expect(system[0]?.type).toBe("text");
    expect(system[0]?.content).toContain("You add numbers.");
    expect(json(first.attributes["gen_ai.input.messages"])).toEqual([
      { role: "user", parts: [{ type: "text", content: "What is 2 + 3?" }] },
    ]);
    expect(json(first.attributes["gen_ai.output.messages"])).toEqual([
      {
        role: "assistant",
        parts: [
          {
            type: "tool_call",
            id: "call_calc",
            name: "calculator",
            arguments: { operation: "add", a: 2, b: 3 },
          },
        ],
        finish_reason: "tool_calls",
      },
    ]);
    expect(json(one("execute_tool calculator").attributes["gen_ai.tool.call.arguments"])).toEqual({
      operation: "add",
      a: 2,
      b: 3,
    });
    const input = json(second.attributes["gen_ai.input.messages"]) as { role: string; parts: unknown[] }[];
    expect(input.at(-1)).toEqual({
      role: "tool",
      parts: [{ type: "tool_call_response", id: "call_calc", response: "5" }],
    });
    expect(json(second.attributes["gen_ai.output.messages"])).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "2 + 3 = 5" }], finish_reason: "stop" },
    ]);
  });

  it("marks a streamed call and records its time to first chunk", async () => {
    const server = await serve([{ text: "streamed reply" }]);
    const { telemetry, one } = traced();
    const agent = defineAgent({ name: "streamer", provider: openai(server), model: "gpt-4o", telemetry });
    const stream = agent.stream("hi");
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.result()).status).toBe("done");
    const chat = one("chat gpt-4o");
    expect(chat.attributes["gen_ai.request.stream"]).toBe(true);
    const ttfc = chat.attributes["gen_ai.response.time_to_first_chunk"] as number;
    expect(ttfc).toBeGreaterThanOrEqual(0);
    expect(ttfc).toBeLessThan(60);
  });

  it("ends a run's span at a pause for approval and traces the rest of the run in a linked span", async () => {
    const server = await serve([
      { toolCalls: [{ name: "transfer", id: "call_t", arguments: { chat_message: "10" } }] },
      { text: "moved" },
    ]);
    const { telemetry, named } = traced();
    const transfer = defineTool({
      name: "transfer",
      description: "moves money",
      input: DefaultInputSchema,
      needsApproval: true,
      run: () => "done",
    });
    const agent = defineAgent({
      name: "bank",
      provider: openai(server),
      model: "gpt-4o",
      tools: [transfer],
      telemetry,
    });
    const paused = await agent.run("move 10");
    expect(paused.status).toBe("awaiting_approval");
    expect((await agent.approve("call_t")).status).toBe("done");

    const runs = named("invoke_agent bank");
    expect(runs).toHaveLength(2);
    const [before, after] = runs as [ReadableSpan, ReadableSpan];
    expect(before.attributes["normandy.run.status"]).toBe("awaiting_approval");
    expect(before.events.find((e) => e.name === "normandy.run.pause")?.attributes).toEqual({
      "normandy.tools": ["transfer"],
    });
    expect(after.attributes).toMatchObject({
      "normandy.run.resumed": true,
      "normandy.run.id": before.attributes["normandy.run.id"],
    });
    expect(after.links.map((l) => l.context.spanId)).toEqual([idOf(before)]);
    expect(named("execute_tool transfer").map(parentOf)).toEqual([idOf(after)]);
    expect(named("chat gpt-4o").map(parentOf).sort()).toEqual([idOf(before), idOf(after)].sort());
  });
});

describe("attachTracing: trace context", () => {
  it("with a CorrelationIdGenerator, a run's span takes its correlation ids, which messages carry as traceparent", async () => {
    const server = await serve([
      { toolCalls: [{ name: "peek", id: "call_peek", arguments: { chat_message: "x" } }] },
      { text: "done" },
    ]);
    const { telemetry, provider, one } = traced({ ids: true });
    const system = startSystem(telemetry);
    const nobody = new AgentProcessClient(system, "nobody");
    let seen: CorrelationIds | undefined;
    let sent: AgentMessage | undefined;
    const peek = defineTool({
      name: "peek",
      description: "looks at the context and casts a message",
      input: DefaultInputSchema,
      run: (_input, ctx) => {
        seen = ctx.correlation;
        sent = nobody.cast("later", { correlation: ctx.correlation }); // dead-letters: nobody listens
        return "ok";
      },
    });
    const agent = defineAgent({
      name: "peeker",
      provider: openai(server),
      model: "gpt-4o",
      tools: [peek],
      telemetry,
    });
    expect((await agent.run("go")).status).toBe("done");

    const run = one("invoke_agent peeker").spanContext();
    expect(seen?.traceId).toBe(run.traceId);
    expect(seen?.spanId).toBe(run.spanId);
    expect(seen?.toolCallId).toBe("call_peek");
    expect(sent?.metadata?.traceparent).toBe(`00-${run.traceId}-${run.spanId}-01`);
    expect(one("execute_tool peek").spanContext().spanId).not.toBe(run.spanId);
    // spans outside agent runs keep random ids
    const own = provider.getTracer("test").startSpan("own");
    own.end();
    expect(own.spanContext().traceId).not.toBe(run.traceId);
    expect(own.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("continues a W3C caller's trace as a remote parent, else the active OpenTelemetry span", async () => {
    const server = await serve([{ text: "one" }, { text: "two" }]);
    const { telemetry, provider, named } = traced();
    const agent = defineAgent({ name: "helper", provider: openai(server), model: "gpt-4o", telemetry });
    await Correlation.run({ traceId: TRACE, spanId: SPAN }, () => agent.run("one"));
    const user = provider.getTracer("test").startSpan("GET /ask");
    await context.with(trace.setSpan(context.active(), user), () => agent.run("two"));
    user.end();

    const [remote, local] = named("invoke_agent helper") as [ReadableSpan, ReadableSpan];
    expect(remote.spanContext().traceId).toBe(TRACE);
    expect(remote.parentSpanContext).toMatchObject({ traceId: TRACE, spanId: SPAN, isRemote: true });
    expect(local.spanContext().traceId).toBe(user.spanContext().traceId);
    expect(parentOf(local)).toBe(user.spanContext().spanId);
  });

  it("adds traceparent only for a well-formed span of the sender, and the caller's own metadata wins", async () => {
    const telemetry = new Telemetry();
    const system = startSystem(telemetry);
    const nobody = new AgentProcessClient(system, "nobody");
    Correlation.enable();
    const cast = (ids: CorrelationIds, metadata?: Record<string, unknown>) =>
      Correlation.run(ids, () => nobody.cast("x", metadata === undefined ? {} : { metadata })).metadata;
    expect(cast({ traceId: TRACE, spanId: SPAN })?.traceparent).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(cast({ traceId: TRACE })?.traceparent).toBeUndefined();
    expect(cast({ traceId: "not-hex", spanId: SPAN })?.traceparent).toBeUndefined();
    expect(cast({ traceId: TRACE, spanId: "0000000000000000" })?.traceparent).toBeUndefined();
    expect(cast({ traceId: TRACE, spanId: SPAN }, { traceparent: "mine" })?.traceparent).toBe("mine");
  });
});

describe("attachTracing: workflows, detach, the handler", () => {
  it("traces a workflow as invoke_workflow with its steps as events, and a failed one with error.type", async () => {
    const server = await serve([
      { text: "notes" },
      { text: "summary" },
      { fault: { kind: "authentication" } },
    ]);
    const { telemetry, named } = traced();
    const system = startSystem(telemetry);
    const agentOf = () =>
      defineAgent({ name: "writer", provider: openai(server), model: "gpt-4o", telemetry });
    const flow = workflow<string>("pipeline")
      .step("research", { agent: agentOf })
      .step("summarise", { agent: agentOf })
      .build();
    await runWorkflow(system, flow, "tides", { name: "pipe-1" });
    await expect(runWorkflow(system, flow, "waves", { name: "pipe-2" })).rejects.toBeInstanceOf(
      WorkflowError,
    );

    const [ok] = named("invoke_workflow pipe-1") as [ReadableSpan];
    expect(ok.kind).toBe(SpanKind.INTERNAL);
    expect(ok.attributes).toEqual({
      "gen_ai.operation.name": "invoke_workflow",
      "gen_ai.workflow.name": "pipe-1",
      "normandy.workflow.resumed": false,
    });
    const steps = ok.events.filter((e) => e.name === "normandy.workflow.step");
    expect(steps.map((e) => e.attributes?.["normandy.step.ok"])).toEqual([true, true]);
    const [failed] = named("invoke_workflow pipe-2") as [ReadableSpan];
    expect(failed.attributes["error.type"]).toBe("workflow_failed");
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.events.map((e) => e.name)).toEqual(["exception"]); // the failing step throws first
    expect(named("invoke_agent writer")).toHaveLength(3);
  });

  it("detach ends the spans still open, marked, and traces nothing more", async () => {
    const server = await serve([
      { toolCalls: [{ name: "wait", id: "call_wait", arguments: { chat_message: "x" } }] },
      { text: "done" },
    ]);
    const { telemetry, handle, spans } = traced();
    const inside = deferred();
    const release = deferred();
    const wait = defineTool({
      name: "wait",
      description: "waits",
      input: DefaultInputSchema,
      run: async () => {
        inside.resolve();
        await release.promise;
        return "ok";
      },
    });
    const agent = defineAgent({
      name: "slow",
      provider: openai(server),
      model: "gpt-4o",
      tools: [wait],
      telemetry,
    });
    const running = agent.run("go");
    await inside.promise;
    expect(spans().map((s) => s.name)).toEqual(["chat gpt-4o"]);
    expect(handle.detach()).toBe(true);
    expect(handle.detach()).toBe(false);
    const detached = spans().filter((s) => s.attributes["normandy.tracing.detached"] === true);
    expect(detached.map((s) => s.name).sort()).toEqual(["execute_tool wait", "invoke_agent slow"]);
    release.resolve();
    expect((await running).status).toBe("done");
    expect(spans()).toHaveLength(3);
    expect(telemetry.active).toBe(false);
  });

  it("listens to the traced events only, ignores events it cannot place, and names a span without a name", () => {
    const { telemetry, spans } = traced();
    expect(TRACED_EVENTS).toContainEqual(["normandy", "agent", "model_call", "first_chunk"]);
    // stops of work it never saw, events without ids, a restart outside any traced work
    telemetry.emit(["normandy", "agent", "run", "stop"], {}, { runId: "unknown" });
    telemetry.emit(["normandy", "agent", "run", "start"], {}, {});
    telemetry.emit(["normandy", "agent", "model_call", "stop"], {}, { runId: "unknown" });
    telemetry.emit(["normandy", "agent", "model_call", "start"], {}, {});
    telemetry.emit(["normandy", "tool", "call", "stop"], {}, { runId: "unknown", toolCallId: "c" });
    telemetry.emit(["normandy", "tool", "call", "start"], {}, { runId: "r" });
    telemetry.emit(["normandy", "orchestration", "workflow", "stop"], {}, { workflow: "never" });
    telemetry.emit(["normandy", "supervisor", "restart"], {}, { childId: "x", reason: "killed" });
    expect(spans()).toEqual([]);
    // bare events: spans named by the operation alone; a model call opens its run's span
    telemetry.emit(["normandy", "agent", "model_call", "start"], {}, { runId: "r1" });
    telemetry.emit(["normandy", "agent", "model_call", "first_chunk"], {}, { runId: "r1" });
    telemetry.emit(["normandy", "agent", "model_call", "exception"], {}, { runId: "r1", error: "text" });
    telemetry.emit(["normandy", "tool", "call", "start"], {}, { runId: "r1", toolCallId: "c1" });
    telemetry.emit(["normandy", "tool", "call", "stop"], {}, { runId: "r1", toolCallId: "c1" });
    // reported in the finished tool call's context: the event goes to the nearest open span, its run
    Correlation.run({ runId: "r1", toolCallId: "c1" }, () =>
      telemetry.emit(["normandy", "supervisor", "restart"], {}, { reason: { shutdown: 1 } }),
    );
    Correlation.run({ runId: "r1" }, () => {
      telemetry.emit(["normandy", "supervisor", "restart"], {}, { reason: 42 });
      telemetry.emit(["normandy", "supervisor", "restart"], {}, { reason: {} });
    });
    const metadata = { other: 1 };
    telemetry.emit(["normandy", "orchestration", "workflow", "start"], {}, metadata);
    telemetry.emit(["normandy", "orchestration", "workflow", "agent"], {}, { ...metadata, ok: true });
    telemetry.emit(
      ["normandy", "orchestration", "workflow", "agent"],
      {},
      { ...metadata, agentId: "b", ok: false, error: new RangeError("x") },
    );
    telemetry.emit(["normandy", "orchestration", "workflow", "stop"], {}, metadata);
    telemetry.emit(["normandy", "agent", "run", "pause"], {}, { runId: "r1", calls: "not a list" });
    const byName = new Map(spans().map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(["chat", "execute_tool", "invoke_agent", "invoke_workflow"]);
    expect(byName.get("chat")?.attributes).toMatchObject({ "error.type": "_OTHER" });
    expect(byName.get("chat")?.attributes["gen_ai.response.time_to_first_chunk"]).toBeUndefined();
    expect(byName.get("chat")?.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(byName.get("invoke_agent")?.attributes["normandy.run.resumed"]).toBe(true);
    expect(byName.get("invoke_agent")?.events.map((e) => [e.name, e.attributes])).toEqual([
      ["normandy.supervisor.restart", { "normandy.reason": "shutdown" }],
      ["normandy.supervisor.restart", { "normandy.reason": "_OTHER" }],
      ["normandy.supervisor.restart", { "normandy.reason": "_OTHER" }],
      ["normandy.run.pause", { "normandy.tools": [] }],
    ]);
    expect(byName.get("invoke_workflow")?.events.map((e) => e.attributes)).toEqual([
      { "normandy.step.ok": true },
      { "normandy.step.ok": false, "normandy.agent.id": "b", "error.type": "RangeError" },
    ]);
  });

  it("formats every kind of content block, and bounds what it keeps for late children", () => {
    const { telemetry, spans } = traced({ captureContent: true });
    const messages = [
      { role: "system", content: [{ type: "text", text: "be brief" }] },
      {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image", source: { kind: "base64", mediaType: "image/png", data: "iVBO" } },
          { type: "image", source: { kind: "url", url: "https://example.com/a.png" } },
        ],
      },
      {
        role: "assistant",
        content: [{ type: "tool_call", id: "c0", name: "t", arguments: undefined, rawArguments: "{bad" }],
      },
      {
        role: "tool",
        content: [
          { type: "tool_result", toolCallId: "c0", content: [{ type: "text", text: "r" }], isError: true },
        ],
      },
    ];
    const meta = { runId: "r", model: "m" };
    telemetry.emit(
      ["normandy", "agent", "model_call", "start"],
      {},
      { ...meta, messages: messages.slice(1) },
    );
    telemetry.emit(
      ["normandy", "agent", "model_call", "stop"],
      { inputTokens: Number.NaN },
      {
        ...meta,
        content: [
          { type: "thinking", thinking: "hmm" },
          { type: "tool_call", id: "c1", name: "t", arguments: { a: 1 }, rawArguments: '{"a":1}' },
          { type: "tool_call", id: "c2", name: "t", arguments: undefined, rawArguments: "{oops" },
        ],
      },
    );
    telemetry.emit(["normandy", "tool", "call", "start"], {}, { runId: "r", toolCallId: "c2", tool: "t" });
    telemetry.emit(["normandy", "tool", "call", "stop"], {}, { runId: "r", toolCallId: "c2" });
    telemetry.emit(["normandy", "agent", "model_call", "start"], {}, { ...meta, messages });
    telemetry.emit(["normandy", "agent", "model_call", "stop"], {}, meta);
    const [first, second] = spans().filter((s) => s.name === "chat m") as [ReadableSpan, ReadableSpan];
    expect(first.attributes["gen_ai.system_instructions"]).toBeUndefined();
    expect(first.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(JSON.parse(second.attributes["gen_ai.input.messages"] as string)).toEqual([
      {
        role: "user",
        parts: [
          { type: "text", content: "look" },
          { type: "blob", modality: "image", mime_type: "image/png", content: "iVBO" },
          { type: "uri", modality: "image", uri: "https://example.com/a.png" },
        ],
      },
      { role: "assistant", parts: [{ type: "tool_call", id: "c0", name: "t", arguments: "{bad" }] },
      {
        role: "tool",
        parts: [{ type: "tool_call_response", id: "c0", response: [{ type: "text", content: "r" }] }],
      },
    ]);
    expect(JSON.parse(second.attributes["gen_ai.system_instructions"] as string)).toEqual([
      { type: "text", content: "be brief" },
    ]);
    expect(second.attributes["gen_ai.output.messages"]).toBeUndefined(); // a stop without content
    expect(JSON.parse(first.attributes["gen_ai.output.messages"] as string)).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "reasoning", content: "hmm" },
          { type: "tool_call", id: "c1", name: "t", arguments: { a: 1 } },
          { type: "tool_call", id: "c2", name: "t", arguments: "{oops" },
        ],
      },
    ]);
    expect(spans().find((s) => s.name === "execute_tool t")?.attributes["gen_ai.tool.call.arguments"]).toBe(
      "{oops",
    );

    // many runs with pending tool arguments, many ended spans: both tables stay bounded
    for (let i = 0; i < 1100; i++) {
      const run = { runId: `bulk-${i}` };
      telemetry.emit(["normandy", "agent", "model_call", "start"], {}, run);
      telemetry.emit(
        ["normandy", "agent", "model_call", "stop"],
        {},
        { ...run, content: [{ type: "tool_call", id: "x", name: "t", arguments: {}, rawArguments: "{}" }] },
      );
      telemetry.emit(["normandy", "agent", "run", "pause"], {}, run);
    }
    // the oldest run's arguments were dropped; the newest's are still there
    telemetry.emit(["normandy", "tool", "call", "start"], {}, { runId: "bulk-0", toolCallId: "x" });
    telemetry.emit(["normandy", "tool", "call", "start"], {}, { runId: "bulk-1099", toolCallId: "x" });
    const tools = spans().length;
    telemetry.emit(["normandy", "tool", "call", "stop"], {}, { runId: "bulk-0", toolCallId: "x" });
    telemetry.emit(["normandy", "tool", "call", "stop"], {}, { runId: "bulk-1099", toolCallId: "x" });
    const args = spans()
      .slice(tools)
      .map((s) => s.attributes["gen_ai.tool.call.arguments"]);
    expect(args).toEqual([undefined, "{}"]);
  });

  it("uses the global tracer provider by default", async () => {
    const server = await serve([{ text: "hi" }]);
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    cleanup(() => trace.disable());
    const telemetry = new Telemetry();
    const handle = attachTracing(telemetry);
    const agent = defineAgent({ name: "global", provider: openai(server), model: "gpt-4o", telemetry });
    expect((await agent.run("hi")).status).toBe("done");
    handle.detach();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["chat gpt-4o", "invoke_agent global"]);
  });

  it("classifies errors for error.type", () => {
    expect(errorTypeOf(Object.assign(new Error("x"), { code: "agent_timeout" }))).toBe("agent_timeout");
    expect(errorTypeOf({ kind: "rate_limit" })).toBe("rate_limit");
    expect(errorTypeOf(new TypeError("x"))).toBe("TypeError");
    expect(errorTypeOf({ code: "" })).toBe("_OTHER");
    expect(errorTypeOf("text")).toBe("_OTHER");
    expect(errorTypeOf(null)).toBe("_OTHER");
  });
});

describe("attachTracing over OTLP/HTTP", () => {
  it("exports the spans as OTLP JSON to a collector", async () => {
    const received: { path: string | undefined; type: string | undefined; body: unknown }[] = [];
    const collector: Server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({
          path: req.url,
          type: req.headers["content-type"],
          body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
        });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    cleanup(() => new Promise<void>((resolve) => collector.close(() => resolve())));
    const port = (collector.address() as AddressInfo).port;

    const server = await serve([
      { toolCalls: [{ name: "calculator", id: "call_c", arguments: { operation: "add", a: 1, b: 1 } }] },
      { text: "2" },
    ]);
    const provider = new BasicTracerProvider({
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` })),
      ],
    });
    const telemetry = new Telemetry();
    const handle = attachTracing(telemetry, { tracerProvider: provider, id: "otlp" });
    expect(telemetry.handlers()).toEqual(["otlp"]);
    const agent = defineAgent({
      name: "helper",
      provider: openai(server),
      model: "gpt-4o",
      tools: [calculator],
      telemetry,
    });
    expect((await agent.run("1 + 1?")).status).toBe("done");
    handle.detach();
    await provider.forceFlush();
    await provider.shutdown();

    expect(received.length).toBeGreaterThan(0);
    expect(received.every((r) => r.path === "/v1/traces" && r.type === "application/json")).toBe(true);
    type Otlp = {
      resourceSpans: {
        scopeSpans: {
          scope: { name: string };
          spans: {
            name: string;
            kind: number;
            traceId: string;
            attributes: { key: string; value: unknown }[];
          }[];
        }[];
      }[];
    };
    const exported = received.flatMap((r) =>
      (r.body as Otlp).resourceSpans.flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, scope: ss.scope.name }))),
      ),
    );
    expect(exported.map((s) => s.name).sort()).toEqual([
      "chat gpt-4o",
      "chat gpt-4o",
      "execute_tool calculator",
      "invoke_agent helper",
    ]);
    expect(new Set(exported.map((s) => s.traceId)).size).toBe(1);
    expect(exported.every((s) => s.scope === "@normandy/observability")).toBe(true);
    const chat = exported.find((s) => s.name === "chat gpt-4o");
    expect(chat?.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(chat?.attributes).toContainEqual({ key: "gen_ai.operation.name", value: { stringValue: "chat" } });
    expect(chat?.attributes).toContainEqual({
      key: "gen_ai.provider.name",
      value: { stringValue: "openai" },
    });
  });
});

describe("attachTracing with the correlation context on", () => {
  it("puts a supervisor restart on the span of the work the crash interrupted", async () => {
    // a restart event carries no run ids: the context it is reported in places it
    Correlation.enable();
    const managerServer = await serve([
      { toolCalls: [{ name: "ask_researcher", id: "toolu_ask", arguments: { chat_message: "q" } }] },
      { text: "the researcher crashed" },
    ]);
    const researcherServer = await serve([
      { toolCalls: [{ name: "crash", id: "call_crash", arguments: { chat_message: "now" } }] },
    ]);
    const { telemetry, one, spans: spansOf } = traced();
    const system = startSystem(telemetry);
    const agents = await AgentSupervisor.start(system, { name: "agents" });
    const crash = defineTool({
      name: "crash",
      description: "crashes its own process",
      input: DefaultInputSchema,
      run: () => {
        system.exit(agentProcessName("researcher"), { error: new Error("boom") });
        return "never seen";
      },
    });
    const researcher = await agents.startAgent({
      id: "researcher",
      definition: {
        name: "researcher",
        provider: openai(researcherServer),
        model: "gpt-4o",
        tools: [crash],
        telemetry,
      },
    });
    let failure: unknown;
    const ask = defineTool({
      name: "ask_researcher",
      description: "asks the researcher",
      input: DefaultInputSchema,
      run: async ({ chat_message }) => {
        try {
          await researcher.request(chat_message);
          return "answered";
        } catch (error) {
          failure = error;
          throw error;
        }
      },
    });
    const boss = defineAgent({
      name: "manager",
      provider: openai(managerServer),
      model: "gpt-4o",
      tools: [ask],
      telemetry,
    });
    expect((await boss.run("ask")).status).toBe("done");
    expect(failure).toMatchObject({ name: "CallExitError" });

    const tool = one("execute_tool ask_researcher");
    expect(tool.attributes["error.type"]).toBe("tool_error");
    expect(tool.status.code).toBe(SpanStatusCode.ERROR);
    const worker = one("invoke_agent researcher");
    expect(parentOf(worker)).toBe(idOf(tool));
    expect(worker.status.code).toBe(SpanStatusCode.ERROR);
    const crashed = one("execute_tool crash");
    expect(parentOf(crashed)).toBe(idOf(worker));
    // the restart is reported in the crashed work's context: its event goes on the nearest span of that
    // work still open (here the supervisor restarts the worker after the caller's tool call has failed)
    const path = [crashed, worker, tool, one("invoke_agent manager")];
    const holders = spansOf().filter((s) => s.events.some((e) => e.name === "normandy.supervisor.restart"));
    expect(holders).toHaveLength(1);
    expect(path).toContain(holders[0]);
    const restart = holders[0]?.events.find((e) => e.name === "normandy.supervisor.restart");
    expect(restart?.attributes).toMatchObject({
      "normandy.supervisor": expect.any(String),
      "normandy.child.id": "researcher",
      "normandy.reason": "error",
      "normandy.pid": expect.any(String),
    });
  });
});
