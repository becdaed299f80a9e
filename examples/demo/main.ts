// The demo: a supervised team of agents answers a sailing club's question through a workflow state
// machine. A manager plans with structured output and delegates to a researcher (parallel tool calls) and
// an analyst, both durable agent processes under a supervisor; a crash is injected into the researcher
// mid-turn and the supervisor restarts it with its memory restored; a writer streams the brief; the run
// ends with a token and cost summary. Offline by default (a scripted model on the loopback LLM server);
// with ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL set it talks to the real model.
// Run: pnpm demo [--offline] [--inspector[=PORT]]
import { ModelCatalog, withResilience } from "@normandy/agents";
import {
  AgentSupervisor,
  agentProcessName,
  HierarchicalCoordinator,
  type HierarchicalResult,
  startWorkflow,
} from "@normandy/coordination";
import { startInspectorIfRequested } from "@normandy/observability";
import { ActorSystem, crash, MemorySnapshotStore, SupervisorClient, Telemetry } from "@normandy/runtime";
import { assign, fromPromise, setup } from "xstate";
import { Display } from "./display.js";
import { chooseModel } from "./model.js";
import { FOLLOW_UP, REQUEST } from "./scenario.js";
import { makeTeam } from "./team.js";

const chosen = await chooseModel({ offline: process.argv.includes("--offline") });
const catalog = new ModelCatalog();
const display = new Display(process.stdout, (usage) =>
  catalog.costOf({ ...usage, reasoningTokens: 0 }, chosen.model),
);
const bus = new Telemetry();
display.attach(bus);
const system = ActorSystem.start({ snapshotStore: new MemorySnapshotStore(), telemetry: bus });
const inspector = await startInspectorIfRequested(system);

console.log("Normandy demo: a supervised team of agents\n");
console.log(`model: ${chosen.description}`);
if (inspector) console.log(`inspector: open ${inspector.pageUrl} (WebSocket ${inspector.url})`);

const provider = withResilience(chosen.provider, {
  retry: { maxAttempts: 4, baseDelayMs: 250, telemetry: bus },
});
const researcherPid = () => system.whereis(agentProcessName("researcher")) ?? "";
const drill = {
  armed: false,
  crash: () => system.exit(researcherPid(), crash(new Error("injected: the current_atlas tool hit a bug"))),
};
const team = makeTeam({ provider, model: chosen.model, telemetry: bus, catalog, drill, toolLatencyMs: 300 });

display.section("1. The team: durable agent processes under a supervisor");
const agents = await AgentSupervisor.start(system, { name: "agents", intensity: 3, period: 10 });
const researcher = await agents.startAgent({ id: "researcher", definition: team.researcher });
const analyst = await agents.startAgent({ id: "analyst", definition: team.analyst });
for (const child of await new SupervisorClient(system, "agents").whichChildren())
  console.log(`  agents ├─ ${child.id} (${child.kind}) ${child.pid}`);
const coordinator = new HierarchicalCoordinator({
  manager: team.manager,
  workers: [
    { id: "researcher", agent: researcher, description: "looks up tides, forecasts and tidal streams" },
    { id: "analyst", agent: analyst, description: "works figures out with a calculator" },
  ],
  strategy: "conditional",
  telemetry: bus,
});

/** The manager's answer, then what each worker found, one fact per line (the writer's notes). */
const notesOf = (result: HierarchicalResult) =>
  [
    result.answer,
    ...result.tasks.map((t) => (t.ok ? t.text : `${t.worker} failed: ${String(t.error)}`)),
  ].join("\n");

/** What each workflow state does, printed as the workflow enters it. */
const STAGES: Record<string, string> = {
  delegate: "2. The manager plans (structured output) and delegates; the workers run in parallel",
  followUp: "3. A follow-up to the researcher; a crash is injected while its tool runs",
  write: "4. The writer streams the brief",
};

const brief = setup({
  types: {} as {
    input: string;
    context: { request: string; answer: string; followUp: string; brief: string };
    output: { answer: string; followUp: string; brief: string };
  },
  actors: {
    delegate: fromPromise<HierarchicalResult, string>(async ({ input, signal }) => {
      const result = await coordinator.run(input, { signal });
      display.line("manager", `answer: ${result.answer}`);
      return result;
    }),
    followUp: fromPromise<string>(async ({ signal }) => {
      const before = await researcher.stats();
      display.line("researcher", `${before.messages} messages in memory; asking: ${FOLLOW_UP}`);
      drill.armed = true;
      const reply = await researcher.request(FOLLOW_UP, { idempotent: true, timeoutMs: 120_000, signal });
      const after = await researcher.stats();
      display.line(
        "researcher",
        `restored from its snapshot ${after.restores} time(s); the redelivered request finished with ${after.messages} messages in memory`,
      );
      if (reply.type !== "response" || reply.payload.status !== "done")
        throw new Error(`the follow-up did not finish: ${JSON.stringify(reply.payload)}`);
      for (const line of reply.payload.text.split("\n")) display.line("researcher", line);
      return reply.payload.text;
    }),
    write: fromPromise<string, string>(async ({ input, signal }) => {
      const stream = team.writer.stream(input, { signal });
      for await (const event of stream) if (event.type === "text_delta") display.stream(event.text);
      display.endStream();
      const result = await stream.result();
      if (result.status !== "done") throw new Error("the writer paused for approval");
      return result.text;
    }),
  },
}).createMachine({
  id: "crossing-brief",
  initial: "delegate",
  context: ({ input }) => ({ request: input, answer: "", followUp: "", brief: "" }),
  states: {
    delegate: {
      invoke: {
        src: "delegate",
        input: ({ context }) => context.request,
        onDone: [
          {
            // every worker answered: ask the follow-up; otherwise write the brief with what there is
            guard: ({ event }) => event.output.tasks.every((t) => t.ok),
            target: "followUp",
            actions: assign({ answer: ({ event }) => notesOf(event.output) }),
          },
          {
            target: "write",
            actions: assign({ answer: ({ event }) => notesOf(event.output) }),
          },
        ],
      },
    },
    followUp: {
      invoke: {
        src: "followUp",
        onDone: { target: "write", actions: assign({ followUp: ({ event }) => event.output }) },
      },
    },
    write: {
      invoke: {
        src: "write",
        input: ({ context }) => `Team findings:\n${context.answer}\n${context.followUp}`,
        onDone: { target: "done", actions: assign({ brief: ({ event }) => event.output }) },
      },
    },
    done: { type: "final" },
  },
  output: ({ context }) => ({ answer: context.answer, followUp: context.followUp, brief: context.brief }),
});

display.start();
try {
  const workflow = await startWorkflow(system, brief, REQUEST, {
    name: "crossing-brief",
    timeoutMs: 600_000,
  });
  const stage = (state: unknown) => {
    display.line("workflow", `crossing-brief → ${JSON.stringify(state)}`);
    if (typeof state === "string" && STAGES[state]) display.section(STAGES[state]);
  };
  const ref = system.actorRef(workflow.pid);
  stage(ref?.getSnapshot().value);
  ref?.subscribe((snapshot) => stage(snapshot.value));
  await workflow.result;
  display.stop();
  display.summary(chosen.model);
  const stats = await researcher.stats();
  console.log(
    `\n  ${display.toolCalls} tool calls, at most ${display.maxParallelTools} at once · ${display.restarts} supervisor restart(s) · researcher: ${stats.runs} runs, ${stats.restores} restore(s), ${stats.messages} messages`,
  );
  if (inspector) {
    console.log(`\nthe system stays up for the inspector at ${inspector.pageUrl}: press Ctrl-C to stop`);
    await new Promise((resolve) => process.once("SIGINT", resolve));
  }
} finally {
  display.stop();
  await inspector?.close();
  await system.shutdown();
  await chosen.close();
}
console.log(`\nshut down: ${system.processCount} processes left`);
