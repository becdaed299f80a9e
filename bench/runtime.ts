// The runtime group: spawn rate and flatness, idle memory, cast throughput against raw XState, call
// round trips, restart latency, and the cost of an inspector. Baselines are measured in the same run.
import { ActorSystem, defineServer, defineSupervisor, reply, SupervisorClient } from "@normandy/runtime";
import {
  type AnyActor,
  type AnyActorLogic,
  type AnyActorRef,
  assign,
  createActor,
  type InspectionEvent,
  type Observer,
  setup,
} from "xstate";
import { gc, type Metric, median, percentile } from "./harness.js";

const SPAWN_N = 100_000;
const CAST_N = 200_000;
const CALL_N = 100_000;
const ROUNDS = 5;
const CRASHES = 1_000;

const idle = defineServer({ name: "idle", init: () => null });

const counter = defineServer({
  name: "counter",
  init: () => 0,
  handleCast: (_m: { type: "inc" }, n: number) => n + 1,
  handleCall: (_m: { type: "get" }, _f, n: number) => reply(n, n),
});

/** A dynamic supervisor starting SPAWN_N idle servers, one `startChild` call at a time. */
async function spawnRun(): Promise<{ perS: number; flatness: number; bytes: number }> {
  gc();
  const system = ActorSystem.start();
  const sup = await system.spawn(
    defineSupervisor({ strategy: "simple_one_for_one", children: [{ id: "w", start: idle, args: [] }] }),
  );
  const client = new SupervisorClient(system, sup);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const decile = SPAWN_N / 10;
  let firstDecileMs = 0;
  let lastDecileStart = 0;
  const t0 = performance.now();
  for (let i = 0; i < SPAWN_N; i++) {
    if (i === decile) firstDecileMs = performance.now() - t0;
    if (i === SPAWN_N - decile) lastDecileStart = performance.now();
    const r = await client.startChild([]);
    if (!r.ok) throw new Error(`startChild failed: ${JSON.stringify(r)}`);
  }
  const t1 = performance.now();
  gc();
  const bytes = (process.memoryUsage().heapUsed - heap0) / SPAWN_N;
  await system.shutdown();
  return { perS: SPAWN_N / ((t1 - t0) / 1000), flatness: firstDecileMs / (t1 - lastDecileStart), bytes };
}

/** Raw XState: creating and starting SPAWN_N minimal custom-logic actors under one parent, retained. */
function xstateSpawnRun(): number {
  gc();
  const logic = {
    transition: (s: unknown) => s,
    getInitialSnapshot: () => ({ status: "active", output: undefined, error: undefined, context: null }),
    getPersistedSnapshot: (s: unknown) => s,
  } as unknown as AnyActorLogic;
  const parent: AnyActorRef = createActor(logic).start();
  const kept: unknown[] = [];
  const t0 = performance.now();
  for (let i = 0; i < SPAWN_N; i++) kept.push(createActor(logic, { parent }).start());
  const rate = SPAWN_N / ((performance.now() - t0) / 1000);
  kept.length = 0;
  (parent as AnyActor).stop();
  return rate;
}

/** Casts per second to one server (handleCast returns n + 1). */
async function castRun(inspect?: Observer<InspectionEvent>): Promise<number> {
  const system = ActorSystem.start(inspect ? { inspect } : {});
  const pid = await system.spawn(counter);
  const t0 = performance.now();
  for (let i = 0; i < CAST_N; i++) system.cast(pid, { type: "inc" });
  const rate = CAST_N / ((performance.now() - t0) / 1000);
  if ((await system.call(pid, { type: "get" })) !== CAST_N) throw new Error("lost casts");
  await system.shutdown();
  return rate;
}

/** Raw XState: events per second through a transition with an assign. */
function xstateSendRun(): number {
  const machine = setup({
    types: { context: {} as { n: number }, events: {} as { type: "T" } },
  }).createMachine({
    context: { n: 0 },
    on: { T: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
  });
  const actor = createActor(machine).start();
  const t0 = performance.now();
  for (let i = 0; i < CAST_N; i++) actor.send({ type: "T" });
  const rate = CAST_N / ((performance.now() - t0) / 1000);
  if (actor.getSnapshot().context.n !== CAST_N) throw new Error("lost events");
  actor.stop();
  return rate;
}

/** Sequential call round trips per second. */
async function callRun(): Promise<number> {
  const system = ActorSystem.start();
  const pid = await system.spawn(counter);
  const t0 = performance.now();
  for (let i = 0; i < CALL_N; i++) await system.call(pid, { type: "get" });
  const rate = CALL_N / ((performance.now() - t0) / 1000);
  await system.shutdown();
  return rate;
}

/** Median µs from a crash (exit kill) to the restarted child's init, with `siblings` children. */
async function restartRun(siblings: number): Promise<{ p50: number; p99: number }> {
  gc();
  const system = ActorSystem.start();
  const pids: string[] = [];
  let startedAt = 0;
  const member = defineServer({
    name: "member",
    init: (slot: number, ctx) => {
      startedAt = performance.now();
      pids[slot] = ctx.self;
      return slot;
    },
  });
  const sup = await system.spawn(
    defineSupervisor({
      strategy: "simple_one_for_one",
      intensity: 1_000_000,
      period: 1,
      children: [{ id: "m", start: member, args: [] }],
    }),
  );
  const client = new SupervisorClient(system, sup);
  for (let i = 0; i < siblings; i++) await client.startChild([i]);
  const latencies: number[] = [];
  for (let i = 0; i < CRASHES; i++) {
    const slot = (i * 7919) % siblings;
    const t0 = performance.now();
    system.exit(pids[slot] as string, "kill");
    if (startedAt < t0) throw new Error("the child was not restarted synchronously");
    latencies.push((startedAt - t0) * 1000);
  }
  await system.shutdown();
  return { p50: median(latencies), p99: percentile(latencies, 99) };
}

/** The runtime benchmark group. */
export async function runtime(): Promise<Metric[]> {
  const spawn = await spawnRun();
  const xstateSpawn = xstateSpawnRun();

  const ours: number[] = [];
  const raw: number[] = [];
  const inspected: number[] = [];
  const noop: Observer<InspectionEvent> = { next: () => {} };
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(xstateSendRun());
    ours.push(await castRun());
    inspected.push(await castRun(noop));
  }
  const calls: number[] = [];
  for (let r = 0; r < 3; r++) calls.push(await callRun());
  const r100 = await restartRun(100);
  const r10k = await restartRun(10_000);

  return [
    { name: "runtime.spawn.per_s", value: spawn.perS, target: ">= 100000", unit: "/s" },
    { name: "runtime.spawn.flatness", value: spawn.flatness, target: ">= 0.7" },
    { name: "runtime.spawn.ratio_vs_xstate", value: spawn.perS / xstateSpawn },
    { name: "xstate.create_actor.per_s", value: xstateSpawn, unit: "/s" },
    { name: "runtime.idle_bytes_per_process", value: spawn.bytes, target: "<= 4096", unit: "B" },
    { name: "runtime.cast.ratio_vs_xstate", value: median(ours) / median(raw), target: ">= 0.6" },
    { name: "runtime.cast.per_s", value: median(ours), unit: "/s" },
    { name: "xstate.send.per_s", value: median(raw), unit: "/s" },
    { name: "runtime.call.per_s", value: median(calls), target: ">= 100000", unit: "/s" },
    { name: "runtime.restart.p50_us.siblings_100", value: r100.p50, target: "<= 50", unit: "µs" },
    { name: "runtime.restart.p99_us.siblings_100", value: r100.p99, unit: "µs" },
    { name: "runtime.restart.p50_us.siblings_10000", value: r10k.p50, target: "<= 100", unit: "µs" },
    { name: "runtime.restart.p99_us.siblings_10000", value: r10k.p99, unit: "µs" },
    { name: "runtime.inspect.ratio", value: median(inspected) / median(ours), target: ">= 0.5" },
  ];
}
