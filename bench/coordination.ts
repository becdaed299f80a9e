// The coordination group: a parallel orchestration over 1,000 agents against Promise.all of the same
// 1,000 raw SDK calls (loopback server, 20 ms latency, same run); AgentMessage request/reply between two
// processes with a trivial handler; and the recovery time of a durable agent process after a crash.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineAgent, generateSystemPrompt, OpenAIProvider } from "@normandy/agents";
import {
  AgentProcessClient,
  AgentSupervisor,
  agentProcessName,
  defineHandlerProcess,
  runParallel,
} from "@normandy/coordination";
import { ActorSystem, crash, FileSnapshotStore, NoProcError } from "@normandy/runtime";
import { LoopbackLLMServer } from "@normandy/testing";
import OpenAI from "openai";
import { alternatingRatio, type Metric, median } from "./harness.js";

const system = await generateSystemPrompt({}, []);

async function fanoutRatio(): Promise<number> {
  const AGENTS = 1000;
  const server = await new LoopbackLLMServer({ latency: { firstByteMs: 20 } }).start();
  const turns = () => Array.from({ length: AGENTS }, () => ({ text: "done" }));
  const sdk = new OpenAI({ apiKey: "bench", baseURL: server.openaiBaseURL, maxRetries: 0 });
  const provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const specs = Array.from({ length: AGENTS }, (_, i) => ({
    id: `a${i}`,
    agent: defineAgent({ name: `a${i}`, provider, model: "gpt-4o" }),
    input: "go",
  }));
  const raw = () =>
    Promise.all(
      Array.from({ length: AGENTS }, () =>
        sdk.chat.completions.create({
          model: "gpt-4o",
          messages: [
            { role: "system", content: system },
            { role: "user", content: "go" },
          ],
          temperature: 0.9,
        }),
      ),
    );
  const orchestrated = async () => {
    for (const s of specs) (s.agent as ReturnType<typeof defineAgent>).resetMemory();
    const result = await runParallel(specs, { maxConcurrency: AGENTS });
    if (!result.success) throw new Error("a fan-out agent failed");
  };
  const ratio = await alternatingRatio(raw, orchestrated, () => server.reset(turns()));
  await server.stop();
  return ratio;
}

async function messagesPerSecond(): Promise<number> {
  const sys = ActorSystem.start();
  await sys.spawn(defineHandlerProcess({ id: "pong", handle: (p: number) => p + 1 }), {
    name: agentProcessName("pong"),
  });
  const pong = new AgentProcessClient<number, number>(sys, "pong", { from: "ping" });
  // "ping" is itself a process: each of its requests is one request/reply with "pong"
  const N = 20_000;
  await sys.spawn(
    defineHandlerProcess({
      id: "ping",
      handle: async (n: number) => {
        const window = 64;
        for (let i = 0; i < n; i += window)
          await Promise.all(Array.from({ length: Math.min(window, n - i) }, (_, k) => pong.request(i + k)));
        return n;
      },
    }),
    { name: agentProcessName("ping") },
  );
  const ping = new AgentProcessClient<number, number>(sys, "ping");
  await ping.request(2_000, { timeoutMs: 60_000 }); // warm-up
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    await ping.request(N, { timeoutMs: 60_000 });
    rates.push(N / ((performance.now() - t) / 1000));
  }
  await sys.shutdown();
  return median(rates);
}

async function recoveryMillis(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "normandy-bench-"));
  const server = await new LoopbackLLMServer().start();
  const sys = ActorSystem.start({ snapshotStore: new FileSnapshotStore(dir) });
  const agents = await AgentSupervisor.start(sys, { intensity: 1_000, period: 1 });
  const provider = new OpenAIProvider({ apiKey: "bench", baseURL: server.openaiBaseURL });
  const client = await agents.startAgent({ id: "r", definition: { name: "r", provider, model: "gpt-4o" } });
  // a conversation of 20 turns (40 messages) to restore
  server.append(...Array.from({ length: 20 }, (_, i) => ({ text: `answer ${i}` })));
  for (let i = 0; i < 20; i++) await client.request(`question ${i}`);
  await sys.flushSnapshots();
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    const pid = agents.findAgent("r") as string;
    const t = performance.now();
    sys.exit(pid, crash(new Error("chaos")));
    let stats = await client.stats().catch((e: unknown) => e);
    // the supervisor restarts it asynchronously: until then the name is not registered
    while (stats instanceof NoProcError) {
      await new Promise((resolve) => setImmediate(resolve));
      stats = await client.stats().catch((e: unknown) => e);
    }
    if (!(typeof stats === "object" && stats !== null && "messages" in stats)) throw stats;
    samples.push(performance.now() - t);
    if (stats.messages !== 40) throw new Error(`restored ${stats.messages} messages, expected 40`);
  }
  await sys.shutdown();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  return median(samples);
}

/** The coordination benchmark group. */
export async function coordination(): Promise<Metric[]> {
  const fanout = await fanoutRatio();
  const perSecond = await messagesPerSecond();
  const recovery = await recoveryMillis();
  return [
    { name: "coordination.fanout.ratio_vs_sdk", value: fanout, target: "<= 1.20" },
    { name: "coordination.message.per_s", value: perSecond, target: ">= 50000", unit: "/s" },
    { name: "coordination.recovery_ms_p50", value: recovery, target: "<= 5", unit: "ms" },
  ];
}
