// The runtime demo: a supervision tree that crashes children, restarts them (restoring a durable
// child's state), escalates a nested supervisor's failure, and shuts down in reverse start order.
// Everything printed comes from the runtime's telemetry bus. Run: pnpm demo
import {
  ActorSystem,
  addressOf,
  defineServer,
  defineSupervisor,
  type ExitReason,
  formatReason,
  MemorySnapshotStore,
  reply,
  SupervisorClient,
} from "@normandy/runtime";
import { createMachine } from "xstate";

const t0 = performance.now();
const labels = new Map<string, string>();
const label = (pid: unknown) => labels.get(String(pid)) ?? String(pid);
const say = (what: string, detail = "") =>
  console.log(`[${String(Math.round(performance.now() - t0)).padStart(4)} ms] ${what.padEnd(9)} ${detail}`);
const reason = (r: unknown) => formatReason(r as ExitReason);

/** A counter that remembers what it counted: durable, so a restart resumes from its last state. */
const ledger = defineServer({
  name: "ledger",
  init: () => ({ entries: 0 }),
  handleCast: (m: { type: "record" } | { type: "corrupt" }, s) => {
    if (m.type === "corrupt") throw new Error("ledger index corrupted");
    return { entries: s.entries + 1 };
  },
  handleCall: (_m: { type: "count" }, _from, s) => reply(s.entries, s),
  terminate: (why) => say("cleanup", `ledger flushes its journal (${formatReason(why)})`),
  trapExit: true,
});

/** A payment worker that fails when its gateway times out. */
const gateway = defineServer({
  name: "gateway",
  init: (region: string) => ({ region }),
  handleCast: (_m: { type: "timeout" }, s: { region: string }): { region: string } => {
    throw new Error(`gateway ${s.region} timed out`);
  },
  terminate: (why, s) => say("cleanup", `gateway ${s.region} closes its connections (${formatReason(why)})`),
  trapExit: true,
});

const payments = defineSupervisor({
  strategy: "one_for_all",
  intensity: 1,
  period: 5,
  children: [
    { id: "gateway-eu", start: gateway, args: "eu", name: "gateway-eu" },
    { id: "gateway-us", start: gateway, args: "us", name: "gateway-us" },
  ],
});

const heartbeat = createMachine({
  id: "heartbeat",
  initial: "beating",
  states: { beating: { after: { 1000: "beating" } } },
});

const app = defineSupervisor({
  strategy: "one_for_one",
  intensity: 5,
  period: 10,
  children: [
    { id: "ledger", start: ledger, name: "ledger", durable: "ledger" },
    { id: "payments", start: payments, name: "payments" },
    { id: "heartbeat", start: heartbeat, name: "heartbeat" },
  ],
});

const system = ActorSystem.start({ snapshotStore: new MemorySnapshotStore() });
system.telemetry.attach("demo", "*", (event, _m, meta) => {
  switch (event.join(".")) {
    case "normandy.process.start":
      labels.set(String(meta.pid), String(meta.name ?? meta.pid));
      say(
        "start",
        `${label(meta.pid)} (${meta.kind})${meta.parent ? ` under ${meta.parentName ?? label(meta.parent)}` : ""}`,
      );
      break;
    case "normandy.process.crash":
      say("crash", `${label(meta.pid)}: ${reason(meta.reason)}`);
      break;
    case "normandy.process.stop":
      say("stop", `${label(meta.pid)}: ${reason(meta.reason)}`);
      break;
    case "normandy.supervisor.restart":
      say("restart", `${label(meta.supervisor)} restarted ${meta.childId} as ${meta.pid}`);
      break;
    case "normandy.supervisor.intensity_exceeded":
      say(
        "escalate",
        `${label(meta.supervisor)} exceeded ${meta.intensity} restart(s) in ${meta.period} s: it gives up and exits shutdown`,
      );
      break;
  }
});

async function tree(address: string, depth = 0): Promise<void> {
  for (const row of (await new SupervisorClient(system, address).whichChildren()).reverse()) {
    console.log(`${"  ".repeat(depth + 1)}├─ ${row.id} (${row.kind}) ${row.pid}`);
    if (row.kind === "supervisor" && typeof row.pid === "string" && row.pid !== "restarting")
      await tree(row.pid, depth + 1);
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const ledgerName = addressOf(ledger, "ledger");

console.log("Normandy runtime demo: OTP supervision on XState actors\n");
const root = await system.spawn(app, { name: "app" });
console.log("\nthe tree (start order):");
console.log(`  app ${root}`);
await tree(root);

console.log(
  "\n1. the ledger records 3 entries, then crashes; one_for_one restarts only it, from its saved state",
);
for (let i = 0; i < 3; i++) system.cast(ledgerName, { type: "record" });
await system.flushSnapshots();
system.cast(ledgerName, { type: "corrupt" });
await settle();
say("check", `ledger after restart: ${await system.call(ledgerName, { type: "count" })} entries`);

console.log("\n2. a gateway times out; payments is one_for_all, so both gateways restart");
system.cast("gateway-eu", { type: "timeout" });
await settle();

console.log(
  "\n3. it times out again within 5 s: payments exceeds its intensity and escalates to app, which restarts it",
);
system.cast("gateway-us", { type: "timeout" });
await settle();
console.log("\nthe tree now:");
console.log(`  app ${root}`);
await tree(root);

console.log("\n4. shutdown: every process stops in reverse start order, after its terminate");
await system.shutdown();
say("done", `${system.processCount} processes left`);
