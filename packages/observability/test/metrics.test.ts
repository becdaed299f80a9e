// OpenTelemetry metrics from the telemetry bus: the GenAI client histograms (token usage from the loopback
// server's reported usage, durations on the agent's own clock, time to first chunk) with the conventions'
// bucket boundaries, error.type on failures, the cost counter, and the runtime's restarts, dead letters,
// mailbox overflows, live processes and mailbox depths, exported through an in-memory exporter.
import { calculator, defineAgent, OpenAIProvider, type Provider } from "@normandy/agents";
import { AgentSupervisor, agentProcessName } from "@normandy/coordination";
import {
  attachMetrics,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  METERED_EVENTS,
} from "@normandy/observability";
import { defineServer, ManualClock, MemorySnapshotStore, Telemetry } from "@normandy/runtime";
import type { LoopbackLLMServer } from "@normandy/testing";
import { metrics } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { describe, expect, it } from "vitest";
import { useFixtures } from "./support.js";

const { serve, start, cleanup } = useFixtures();

const openai = (server: LoopbackLLMServer): Provider =>
  new OpenAIProvider({ apiKey: "test-key", baseURL: server.openaiBaseURL });

/** A meter provider read through a periodic reader into memory (flushed by hand, never on a timer). */
function metered() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  cleanup(() => provider.shutdown());
  /** Flushes and returns the newest export's metrics by name. */
  const collect = async (): Promise<Map<string, MetricData>> => {
    await reader.forceFlush();
    const latest = exporter.getMetrics().at(-1);
    const byName = new Map<string, MetricData>();
    for (const scope of latest?.scopeMetrics ?? [])
      for (const m of scope.metrics) byName.set(m.descriptor.name, m);
    return byName;
  };
  return { provider, collect };
}

type Point = { attributes: Record<string, unknown>; value: unknown };
const points = (metric: MetricData | undefined): Point[] =>
  (metric?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value }));
const histogramAt = (metric: MetricData | undefined, match: Record<string, unknown>): Histogram => {
  const found = points(metric).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  expect(found, JSON.stringify(match)).toHaveLength(1);
  return found[0]?.value as Histogram;
};

describe("attachMetrics over agent runs", () => {
  it("records token usage, durations and cost with the GenAI bucket boundaries", async () => {
    const server = await serve([
      {
        toolCalls: [{ name: "calculator", arguments: { operation: "add", a: 2, b: 3 } }],
        usage: { inputTokens: 100, outputTokens: 10 },
      },
      { text: "5", usage: { inputTokens: 120, outputTokens: 7 } },
    ]);
    const { provider, collect } = metered();
    const telemetry = new Telemetry();
    const handle = attachMetrics(telemetry, { meterProvider: provider });
    const agent = defineAgent({
      name: "adder",
      provider: openai(server),
      model: "gpt-4o",
      tools: [calculator],
      clock: new ManualClock(), // durations on the agent's clock: exactly 0 here
      costOf: () => 0.125,
      telemetry,
    });
    expect((await agent.run("2 + 3?")).status).toBe("done");
    handle.detach();

    const byName = await collect();
    const tokens = byName.get("gen_ai.client.token.usage");
    expect(tokens?.descriptor).toMatchObject({ unit: "{token}" });
    expect(tokens?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const chat = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.response.model": "gpt-4o",
    };
    const input = histogramAt(tokens, { ...chat, "gen_ai.token.type": "input" });
    expect(input).toMatchObject({ count: 2, sum: 220, min: 100, max: 120 });
    expect(input.buckets.boundaries).toEqual(GEN_AI_TOKEN_BUCKETS);
    expect(histogramAt(tokens, { "gen_ai.token.type": "output" })).toMatchObject({ count: 2, sum: 17 });

    const duration = byName.get("gen_ai.client.operation.duration");
    expect(duration?.descriptor.unit).toBe("s");
    const calls = histogramAt(duration, chat);
    expect(calls).toMatchObject({ count: 2, sum: 0 });
    expect(calls.buckets.boundaries).toEqual(GEN_AI_DURATION_BUCKETS);
    expect(
      histogramAt(duration, {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "adder",
        "gen_ai.provider.name": "openai",
      }),
    ).toMatchObject({ count: 1, sum: 0 });

    const cost = byName.get("normandy.agent.cost");
    expect(cost?.descriptor.unit).toBe("{USD}");
    expect(points(cost)).toEqual([
      {
        attributes: {
          "gen_ai.operation.name": "invoke_agent",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o",
          "gen_ai.agent.name": "adder",
        },
        value: 0.125,
      },
    ]);
    expect(points(byName.get("gen_ai.client.operation.time_to_first_chunk"))).toEqual([]); // not streamed
  });

  it("records time to first chunk of streamed calls, and durations of failures with error.type", async () => {
    const server = await serve([
      { text: "streamed", latency: { firstByteMs: 5 } },
      { fault: { kind: "authentication" } },
    ]);
    const { provider, collect } = metered();
    const telemetry = new Telemetry();
    attachMetrics(telemetry, { meterProvider: provider });
    const agent = defineAgent({ name: "streamer", provider: openai(server), model: "gpt-4o", telemetry });
    const stream = agent.stream("hi");
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.result()).status).toBe("done");
    await expect(agent.run("again")).rejects.toMatchObject({ kind: "auth" });

    const byName = await collect();
    const ttfc = byName.get("gen_ai.client.operation.time_to_first_chunk");
    expect(ttfc?.descriptor.unit).toBe("s");
    const first = histogramAt(ttfc, { "gen_ai.operation.name": "chat" });
    expect(first.count).toBe(1);
    expect(first.sum).toBeGreaterThan(0); // the first byte waited 5 ms, on the real clock
    expect(first.buckets.boundaries).toEqual(GEN_AI_DURATION_BUCKETS);
    const duration = byName.get("gen_ai.client.operation.duration");
    expect(histogramAt(duration, { "gen_ai.operation.name": "chat", "error.type": "auth" }).count).toBe(1);
    expect(
      histogramAt(duration, {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "streamer",
        "error.type": "auth",
      }).count,
    ).toBe(1);
    // no token usage for the failed call, nor cost without a price list
    expect(histogramAt(byName.get("gen_ai.client.token.usage"), { "gen_ai.token.type": "input" }).count).toBe(
      1,
    );
    expect(points(byName.get("normandy.agent.cost"))).toEqual([]);
  });
});

describe("attachMetrics over the runtime", () => {
  it("counts restarts, dead letters and overflows, and observes live processes and mailbox depths", async () => {
    const { provider, collect } = metered();
    const telemetry = new Telemetry();
    const system = start({ telemetry, snapshotStore: new MemorySnapshotStore() });
    const handle = attachMetrics(telemetry, { meterProvider: provider, system });

    // a restart: an agent process crashes and its supervisor starts it again
    const server = await serve([]);
    const agents = await AgentSupervisor.start(system, { name: "agents" });
    await agents.startAgent({
      id: "a",
      definition: { name: "a", provider: openai(server), model: "gpt-4o", telemetry },
    });
    const crashed = system.whereis(agentProcessName("a"));
    const back = new Promise<void>((resolve) => {
      const detach = () => telemetry.detach("wait-restart");
      telemetry.attach("wait-restart", [["normandy", "supervisor", "restart"]], () => {
        detach();
        resolve();
      });
    });
    system.exit(agentProcessName("a"), { error: new Error("boom") });
    await back;
    expect(system.whereis(agentProcessName("a"))).not.toBe(crashed);

    // a dead letter: a message to nobody
    system.send("nobody", { type: "hello" });

    // a busy server with a mailbox of 2: two wait, a third drops the oldest (an overflow and a dead letter)
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    cleanup(() => release()); // before the system's shutdown, even when an assertion fails
    const busy = defineServer<undefined, number, never, never, { type: "work" }>({
      init: () => 0,
      handleCast: async (_msg, n) => {
        await gate;
        return n + 1;
      },
    });
    await system.spawn(busy, { name: "busy", mailbox: { capacity: 2, overflow: "drop-oldest" } });
    for (let i = 0; i < 4; i++) system.cast("busy", { type: "work" });

    const byName = await collect();
    expect(points(byName.get("normandy.supervisor.restarts"))).toEqual([
      { attributes: { "normandy.reason": "error" }, value: 1 },
    ]);
    expect(points(byName.get("normandy.dead_letters"))).toEqual(
      expect.arrayContaining([
        { attributes: { "normandy.dead_letter.reason": "noproc" }, value: 1 },
        { attributes: { "normandy.dead_letter.reason": "overflow" }, value: 1 },
      ]),
    );
    expect(points(byName.get("normandy.mailbox.overflows"))).toEqual([
      { attributes: { "normandy.mailbox.policy": "drop-oldest" }, value: 1 },
    ]);
    expect(points(byName.get("normandy.processes"))).toEqual([
      { attributes: {}, value: system.processCount },
    ]);
    const depths = points(byName.get("normandy.mailbox.depth"));
    expect(depths).toContainEqual({ attributes: { "normandy.process.name": "busy" }, value: 2 });
    expect(depths).toContainEqual({ attributes: { "normandy.process.name": "agents" }, value: 0 });

    // detached: no more counts, and the gauges are no longer read (the last observation stays)
    handle.detach();
    system.send("nobody", { type: "hello" });
    const before = system.processCount;
    await system.spawn(busy, { name: "later" });
    expect(system.processCount).toBe(before + 1);
    const after = await collect();
    expect(points(after.get("normandy.dead_letters"))).toEqual(points(byName.get("normandy.dead_letters")));
    expect(points(after.get("normandy.processes"))).toEqual([{ attributes: {}, value: before }]);
  });

  it("observes only the mailboxes it is given, and uses the global meter provider by default", async () => {
    const { provider, collect } = metered();
    metrics.setGlobalMeterProvider(provider);
    cleanup(() => metrics.disable());
    const telemetry = new Telemetry();
    const system = start({ telemetry });
    const echo = defineServer<undefined, number>({ init: () => 0 });
    await system.spawn(echo, { name: "one" });
    await system.spawn(echo, { name: "two" });
    const handle = attachMetrics(telemetry, { system, mailboxes: ["two", "gone"], id: "m" });
    expect(telemetry.handlers()).toEqual(["m"]);
    expect(METERED_EVENTS).toContainEqual(["normandy", "dead_letter"]);
    // events without the usual fields still count, with placeholders
    telemetry.emit(["normandy", "dead_letter"], {}, {});
    telemetry.emit(["normandy", "mailbox", "overflow"], {}, {});
    telemetry.emit(["normandy", "supervisor", "restart"], {}, { reason: null });
    telemetry.emit(["normandy", "agent", "model_call", "stop"], {}, {});
    const byName = await collect();
    expect(points(byName.get("normandy.mailbox.depth"))).toEqual([
      { attributes: { "normandy.process.name": "two" }, value: 0 },
    ]);
    expect(points(byName.get("normandy.dead_letters"))).toEqual([
      { attributes: { "normandy.dead_letter.reason": "_OTHER" }, value: 1 },
    ]);
    expect(points(byName.get("normandy.mailbox.overflows"))[0]?.attributes).toEqual({
      "normandy.mailbox.policy": "_OTHER",
    });
    expect(points(byName.get("normandy.supervisor.restarts"))[0]?.attributes).toEqual({
      "normandy.reason": "_OTHER",
    });
    expect(histogramAt(byName.get("gen_ai.client.operation.duration"), {}).count).toBe(1);
    expect(points(byName.get("gen_ai.client.token.usage"))).toEqual([]);
    expect(handle.detach()).toBe(true);
    expect(handle.detach()).toBe(false);
  });
});
