// Chaos: a parallel orchestration of many jobs over supervised, durable agent processes while tools crash,
// the provider fails (500s, retried) and agent processes are killed mid-turn (before or after their tool's
// effect). Every job must complete; restarts show on the telemetry bus; every acknowledged job has exactly
// one effect (at-least-once delivery — idempotent redelivery of a request cut off by a crash — plus an
// effect keyed by the job), exactly one user message and exactly one answer in its agent's conversation.
import { ConversationMemory, defineTool, OpenAIProvider, withResilience } from "@normandy/agents";
import { AgentSupervisor, runParallel } from "@normandy/coordination";
import { crash, MemorySnapshotStore, Telemetry } from "@normandy/runtime";
import type { RecordedRequest, StaticTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { useFixtures } from "./support.js";

const { serve, start } = useFixtures();

/** A small seeded PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type WireMessage = { role: string; content?: string | null };

/** The model: commit the job with the tool until a result says it is committed, then answer. */
function model(random: () => number) {
  return (req: RecordedRequest): StaticTurn => {
    if (random() < 0.15) return { fault: { kind: "server_error" } };
    const messages = (req.body as { messages: WireMessage[] }).messages;
    const lastUser = messages.map((m) => m.role).lastIndexOf("user");
    const job = String(messages[lastUser]?.content).replace("job:", "");
    const committed = messages
      .slice(lastUser)
      .some((m) => m.role === "tool" && m.content === `committed ${job}`);
    return committed ? { text: `done ${job}` } : { toolCalls: [{ name: "commit", arguments: { job } }] };
  };
}

async function chaos(seed: number) {
  const random = prng(seed);
  const llm = await serve();
  llm.append(...Array.from({ length: 3_000 }, () => model(random)));
  const telemetry = new Telemetry();
  const restarts: unknown[] = [];
  telemetry.attach("restarts", [["normandy", "supervisor", "restart"]], (_e, _m, meta) =>
    restarts.push(meta),
  );
  const sys = start({ snapshotStore: new MemorySnapshotStore(), telemetry });
  const agents = await AgentSupervisor.start(sys, { intensity: 1_000, period: 1 });

  const effects = new Map<string, number>(); // job → effects applied (idempotent: at most one)
  const crashedJobs = new Set<string>();
  let toolCrashes = 0;
  let processCrashes = 0;
  const commit = defineTool({
    name: "commit",
    description: "Commits a job's effect.",
    input: z.object({ job: z.string() }),
    run: async ({ job }, ctx) => {
      if (random() < 0.2) {
        toolCrashes++;
        throw new Error("tool crashed");
      }
      const crashNow = !crashedJobs.has(job) && random() < 0.3;
      const effectFirst = random() < 0.5;
      if (!crashNow || effectFirst) effects.set(job, effects.get(job) ?? 1); // keyed: a repeat is a no-op
      if (crashNow) {
        crashedJobs.add(job);
        processCrashes++;
        const pid = agents.findAgent(ctx.agent as string) as string;
        setImmediate(() => sys.exit(pid, crash(new Error("chaos"))));
        return new Promise<string>(() => {}); // the crash cuts the tool off
      }
      return `committed ${job}`;
    },
  });
  const provider = withResilience(new OpenAIProvider({ apiKey: "t", baseURL: llm.openaiBaseURL }), {
    retry: { maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 2, jitter: false },
  });
  const WORKERS = 6;
  const clients = await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      agents.startAgent(
        {
          id: `w${i}`,
          definition: { name: `w${i}`, provider, model: "gpt-4o", tools: [commit], maxToolIterations: 10 },
        },
        { idempotent: true, timeoutMs: 30_000 },
      ),
    ),
  );
  const JOBS = 48;
  const result = await runParallel(
    Array.from({ length: JOBS }, (_, j) => ({
      id: `j${j}`,
      agent: clients[j % WORKERS] as (typeof clients)[0],
      input: `job:j${j}`,
    })),
    { maxConcurrency: WORKERS * 2 },
  );

  expect(result.errors).toEqual({});
  expect(result.success).toBe(true);
  for (let j = 0; j < JOBS; j++) expect(result.results[`j${j}`]).toEqual({ chat_message: `done j${j}` });
  // every acknowledged job: one effect, one user message, one answer in its agent's conversation
  expect([...effects.keys()].sort()).toEqual(Array.from({ length: JOBS }, (_, j) => `j${j}`).sort());
  expect([...effects.values()].every((n) => n === 1)).toBe(true);
  for (const [i, client] of clients.entries()) {
    const messages = ConversationMemory.load(await client.memory()).messages();
    for (let j = i; j < JOBS; j += WORKERS) {
      expect(messages.filter((m) => m.role === "user" && m.content === `job:j${j}`)).toHaveLength(1);
      expect(
        messages.filter(
          (m) =>
            m.role === "assistant" &&
            Array.isArray(m.content) &&
            m.content.some((b) => b.type === "text" && b.text === `done j${j}`),
        ),
      ).toHaveLength(1);
    }
  }
  // the chaos happened, and every process crash was a supervised restart
  expect(processCrashes).toBeGreaterThan(0);
  expect(toolCrashes).toBeGreaterThan(0);
  expect(llm.requests.filter((r) => r.status === 500).length).toBeGreaterThan(0);
  expect(restarts).toHaveLength(processCrashes);
  const restores = (await Promise.all(clients.map((c) => c.stats()))).reduce((n, s) => n + s.restores, 0);
  expect(restores).toBe(processCrashes);
}

describe("chaos", () => {
  for (const seed of [1, 2, 3]) {
    it(`completes every job exactly once through tool crashes, provider faults and process crashes (seed ${seed})`, async () => {
      await chaos(seed);
    });
  }
});
