// The hierarchical coordinator with real agents over the loopback LLM server (one server per agent): the
// manager plans with structured output, delegates round-robin / broadcast / conditional / as tools, the
// workers run in parallel under a limit, the manager aggregates; typed errors for a failed or plan-less
// manager, unknown workers and a failed aggregation; per-worker time limits; cancellation; telemetry.
import { defineTool, ProviderError } from "@normandy/agents";
import {
  AgentTimeoutError,
  AggregationFailedError,
  CancelledError,
  CoordinationError,
  DelegationPlanSchema,
  HierarchicalCoordinator,
  hierarchicalLogic,
  ManagerFailedError,
  ManagerOutputSchema,
  type Runnable,
  runHierarchical,
  startOrchestration,
  UnknownWorkerError,
  type Worker,
} from "@normandy/coordination";
import { ManualClock, Telemetry } from "@normandy/runtime";
import type { RecordedRequest, ScriptedTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  agentOn,
  counted,
  deferred,
  hanging,
  lastUserText,
  recordOrchestration,
  useFixtures,
} from "./support.js";

const { serve } = useFixtures();

/** A manager planning with the manager schema, answering the scripted turns in order. */
async function manager(...script: ScriptedTurn[]) {
  const server = await serve(script);
  return { server, agent: agentOn(server, "manager", { outputSchema: ManagerOutputSchema }) };
}

/** A manager with the default schema (for agent-as-tool, or a manager that fails to plan). */
async function plainManager(...script: ScriptedTurn[]) {
  const server = await serve(script);
  return { server, agent: agentOn(server, "manager") };
}

async function worker(id: string, ...script: ScriptedTurn[]) {
  const server = await serve(script);
  const agent = agentOn(server, id);
  return { server, agent, worker: { id, agent } satisfies Worker };
}

type WireMessage = { role: string; content: string | null };

function wireMessages(request: RecordedRequest | undefined): WireMessage[] {
  return (request?.body as { messages: WireMessage[] } | undefined)?.messages ?? [];
}

const FAULT: ScriptedTurn = { fault: { kind: "server_error", message: "boom" } };
const plan = (...tasks: Array<{ worker?: string; task: string }>): ScriptedTurn => ({ json: { tasks } });

describe("planning strategies", () => {
  it("round_robin: cycles the planned tasks over the workers, then the manager aggregates", async () => {
    const boss = await manager(
      plan({ task: "find the facts" }, { task: "draft" }, { task: "check the facts" }),
      { json: { answer: "the final report" } },
    );
    const w1 = await worker("researcher", { text: "facts" }, { text: "checked" });
    const w2 = await worker("writer", { text: "a draft" });
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [{ ...w1.worker, description: "finds facts" }, w2.worker],
      managerPrompt: "Plan the report.",
    });
    expect(team.strategy).toBe("round_robin");
    const run = await team.run("A report on tides");
    expect(run.answer).toBe("the final report");
    expect(run.output).toEqual({ answer: "the final report" });
    expect(run.plan).toEqual({
      tasks: [{ task: "find the facts" }, { task: "draft" }, { task: "check the facts" }],
    });
    expect(run.tasks.map((t) => [t.id, t.worker, t.task, t.ok])).toEqual([
      ["task_0", "researcher", "find the facts", true],
      ["task_1", "writer", "draft", true],
      ["task_2", "researcher", "check the facts", true],
    ]);
    expect(run.tasks.map((t) => (t.ok ? t.text : ""))).toEqual(["facts", "a draft", "checked"]);
    // the researcher got two tasks, one after the other (its conversation holds both)
    expect(w1.server.requests.map(lastUserText)).toEqual(["find the facts", "check the facts"]);
    const planning = lastUserText(boss.server.requests[0]);
    expect(planning).toContain("Plan the report.");
    expect(planning).toContain("- researcher: finds facts\n- writer");
    expect(planning).toContain("Request:\nA report on tides");
    const system = wireMessages(boss.server.requests[0])[0]?.content ?? "";
    expect(system).toContain("# OUTPUT SCHEMA"); // a structured plan, not free text
    const aggregation = lastUserText(boss.server.requests[1]);
    expect(aggregation).toContain("[task_0] worker researcher, task: find the facts\nfacts");
    expect(aggregation).toContain("[task_2] worker researcher, task: check the facts\nchecked");
    expect(run.manager.text).toBe(JSON.stringify({ answer: "the final report" }));
  });

  it("broadcast: every worker gets the original input, with no planning run", async () => {
    const boss = await plainManager({ text: "both agree" });
    const w1 = await worker("a", { text: "yes" });
    const w2 = await worker("b", { text: "yes too" });
    const run = await runHierarchical(
      { manager: boss.agent, workers: [w1.worker, w2.worker], strategy: "broadcast" },
      { chat_message: "Is it safe?" },
    );
    expect(run.answer).toBe("both agree"); // a default-schema manager answers with chat_message
    expect(run.plan).toBeUndefined();
    expect(run.tasks.map((t) => [t.worker, t.task])).toEqual([
      ["a", { chat_message: "Is it safe?" }],
      ["b", { chat_message: "Is it safe?" }],
    ]);
    expect(lastUserText(w1.server.requests[0])).toBe("Is it safe?");
    expect(lastUserText(w2.server.requests[0])).toBe("Is it safe?");
    expect(boss.server.requests).toHaveLength(1);
    expect(lastUserText(boss.server.requests[0])).toContain("Request:\nIs it safe?");
  });

  it("conditional: each task goes to the worker it names, and only those run", async () => {
    const boss = await manager(plan({ worker: "writer", task: "write it" }), { json: { answer: "done" } });
    const w1 = await worker("researcher", { text: "never" });
    const w2 = await worker("writer", { text: "written" });
    const run = await runHierarchical(
      { manager: boss.agent, workers: [w1.worker, w2.worker], strategy: "conditional" },
      "Write it",
    );
    expect(run.answer).toBe("done");
    expect(run.tasks).toMatchObject([{ worker: "writer", task: "write it", ok: true, text: "written" }]);
    expect(w1.server.requests).toHaveLength(0);
    expect(lastUserText(boss.server.requests[0])).toContain('"worker": "<worker id>"');
  });

  it("conditional: a plan naming unknown workers (or none) is an UnknownWorkerError, before any worker runs", async () => {
    const boss = await manager(
      plan({ worker: "ghost", task: "haunt" }, { task: "anyone?" }, { worker: "writer", task: "ok" }),
    );
    const w = await worker("writer", { text: "never" });
    const error = await runHierarchical(
      { manager: boss.agent, workers: [w.worker], strategy: "conditional" },
      "go",
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownWorkerError);
    expect(error).toMatchObject({ code: "not_found", workers: ["ghost", ""] });
    expect((error as Error).message).toBe('unknown workers: "ghost", ""');
    expect(new UnknownWorkerError(["x"]).message).toBe('unknown worker: "x"');
    expect(w.server.requests).toHaveLength(0);
  });

  it("a worker's failure is an outcome the manager is told about; its siblings' results are kept", async () => {
    const boss = await plainManager({ text: "partial answer" });
    const ok = await worker("ok", { text: "fine" });
    const bad = await worker("bad", FAULT);
    const run = await runHierarchical(
      { manager: boss.agent, workers: [ok.worker, bad.worker], strategy: "broadcast" },
      "go",
    );
    expect(run.tasks.map((t) => t.ok)).toEqual([true, false]);
    const failed = run.tasks[1];
    expect(failed?.ok === false && failed.error).toBeInstanceOf(ProviderError);
    expect(lastUserText(boss.server.requests[0])).toMatch(/\[task_1\] worker bad, task: go\nFAILED: /);
    expect(run.answer).toBe("partial answer");
  });

  it("a worker over its time limit fails alone, and its run is aborted", async () => {
    const clock = new ManualClock();
    const telemetry = new Telemetry();
    const fastDone = deferred();
    telemetry.attach("t", [["normandy", "orchestration", "hierarchical", "agent"]], (_e, _m, meta) => {
      if (meta.agentId === "fast") fastDone.resolve();
    });
    const slow = hanging();
    const boss = await plainManager({ text: "answer" });
    const late = await worker("late", slow.turn);
    const fast = await worker("fast", { text: "in time" });
    const pending = runHierarchical(
      {
        manager: boss.agent,
        workers: [late.worker, fast.worker],
        strategy: "broadcast",
        workerTimeoutMs: 500,
        clock,
        telemetry,
      },
      "go",
    );
    await Promise.all([slow.arrived, fastDone.promise]);
    await clock.advance(500);
    const run = await pending;
    const timedOut = run.tasks[0];
    expect(timedOut?.ok === false && timedOut.error).toBeInstanceOf(AgentTimeoutError);
    expect(run.tasks[1]).toMatchObject({ ok: true, text: "in time" });
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
  });

  it("runs at most maxConcurrency workers at once", async () => {
    const gauge = { active: 0, max: 0 };
    const gate = deferred();
    let arrivals = 0;
    const turn =
      (text: string): ScriptedTurn =>
      async () => {
        if (++arrivals === 2) gate.resolve();
        await gate.promise;
        return { text };
      };
    const boss = await plainManager({ text: "answer" });
    const workers: Worker[] = [];
    for (const id of ["a", "b", "c"]) {
      const w = await worker(id, turn(id));
      workers.push({ id, agent: counted(w.agent, gauge) });
    }
    const run = await runHierarchical(
      { manager: boss.agent, workers, strategy: "broadcast", maxConcurrency: 2 },
      "go",
    );
    expect(run.tasks.every((t) => t.ok)).toBe(true);
    expect(gauge.max).toBe(2);
  });
});

describe("typed failures", () => {
  it("ManagerFailedError when the planning run fails", async () => {
    const boss = await manager(FAULT);
    const w = await worker("w", { text: "never" });
    const error = await runHierarchical({ manager: boss.agent, workers: [w.worker] }, "go").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ManagerFailedError);
    expect(error).toMatchObject({ code: "manager_failed", manager: "manager" });
    expect((error as Error).message).toMatch(/^manager manager failed: its planning run failed: /);
    expect((error as Error).cause).toBeInstanceOf(ProviderError);
    expect(w.server.requests).toHaveLength(0);
  });

  it("ManagerFailedError when the manager's output is not a plan", async () => {
    const boss = await plainManager({ text: "I would ask the writer to write." });
    const w = await worker("w", { text: "never" });
    const error = await runHierarchical({ manager: boss.agent, workers: [w.worker] }, "go").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ManagerFailedError);
    expect((error as Error).message).toContain("its output is not a delegation plan: tasks:");
    expect(w.server.requests).toHaveLength(0);
    expect(DelegationPlanSchema.safeParse({ tasks: [{ task: "x" }] }).success).toBe(true);
  });

  it("AggregationFailedError, holding every worker outcome, when the aggregation run fails", async () => {
    const boss = await manager(plan({ task: "one" }), FAULT);
    const w = await worker("w", { text: "done" });
    const error = await runHierarchical({ manager: boss.agent, workers: [w.worker] }, "go").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregationFailedError);
    expect((error as AggregationFailedError).results).toMatchObject([
      { id: "task_0", worker: "w", ok: true, text: "done" },
    ]);
    expect((error as Error).cause).toBeInstanceOf(ProviderError);
  });

  it("a team without workers fails before the manager runs", async () => {
    const boss = await manager(plan({ task: "one" }));
    const error = await runHierarchical({ manager: boss.agent }, "go").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinationError);
    expect(error).toMatchObject({ code: "not_found", message: "the team has no workers" });
    expect(boss.server.requests).toHaveLength(0);
  });
});

describe("the team", () => {
  it("adds and removes workers; checks ids, the manager and limits", async () => {
    const boss = await manager(plan({ task: "one" }, { task: "two" }), { json: { answer: "ok" } });
    const a = await worker("a", { text: "never" });
    const b = await worker("b", { text: "b1" }, { text: "b2" });
    const team = new HierarchicalCoordinator({ manager: boss.agent, workers: [a.worker] });
    expect(team.addWorker(b.worker)).toBe(team);
    expect(() => team.addWorker(b.worker)).toThrow(/duplicate worker id "b"/);
    expect(() => team.addWorker({ id: "boss", agent: boss.agent })).toThrow(/its own workers/);
    expect(team.removeWorker("a")).toBe(true);
    expect(team.removeWorker("a")).toBe(false);
    expect(team.workers.map((w) => w.id)).toEqual(["b"]);
    const run = await team.run("go");
    expect(run.tasks.map((t) => t.worker)).toEqual(["b", "b"]);
    expect(a.server.requests).toHaveLength(0);
    expect(() => new HierarchicalCoordinator({ manager: boss.agent, maxConcurrency: 0 })).toThrow(RangeError);
    expect(() => new HierarchicalCoordinator({ manager: boss.agent, workerTimeoutMs: 0 })).toThrow(
      /workerTimeoutMs/,
    );
  });

  it("runWithTasks skips planning; unknown workers are rejected before anything runs", async () => {
    const boss = await manager({ json: { answer: "combined" } });
    const a = await worker("a", { text: "A" });
    const b = await worker("b", { text: "B" });
    const team = new HierarchicalCoordinator({ manager: boss.agent, workers: [a.worker, b.worker] });
    await expect(team.runWithTasks([{ worker: "zed", task: "x" }])).rejects.toBeInstanceOf(
      UnknownWorkerError,
    );
    const run = await team.runWithTasks([
      { worker: "b", task: "do B" },
      { worker: "a", task: { chat_message: "do A" } },
    ]);
    expect(run.plan).toBeUndefined();
    expect(run.answer).toBe("combined");
    expect(run.tasks.map((t) => [t.id, t.worker, t.ok])).toEqual([
      ["task_0", "b", true],
      ["task_1", "a", true],
    ]);
    expect(lastUserText(a.server.requests[0])).toBe("do A");
    expect(boss.server.requests).toHaveLength(1);
    expect(lastUserText(boss.server.requests[0])).toContain("Request:\nb: do B\na: do A");
  });

  it("runs one request at a time: a second run waits for the first", async () => {
    const boss = await plainManager({ text: "first" }, { text: "second" });
    const w = await worker("w", { text: "w1" }, { text: "w2" });
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [w.worker],
      strategy: "broadcast",
    });
    const [one, two] = await Promise.all([team.run("one"), team.run("two")]);
    expect([one.answer, two.answer]).toEqual(["first", "second"]);
    expect(w.server.requests.map(lastUserText)).toEqual(["one", "two"]);
  });

  it("reports start, an agent event per manager and worker run, the plan, and stop on the telemetry bus", async () => {
    const { telemetry, seen } = recordOrchestration("hierarchical");
    const boss = await manager(plan({ task: "one" }, { task: "two" }), { json: { answer: "ok" } });
    const good = await worker("good", { text: "fine" });
    const bad = await worker("bad", FAULT);
    await runHierarchical(
      { manager: boss.agent, workers: [good.worker, bad.worker], telemetry, id: "team-1" },
      "go",
    );
    expect(seen.map((s) => s.event)).toEqual(["start", "agent", "plan", "agent", "agent", "agent", "stop"]);
    expect(seen[0]?.metadata).toEqual({
      id: "team-1",
      strategy: "round_robin",
      manager: "manager",
      agents: ["good", "bad"],
    });
    expect(seen[1]?.metadata).toMatchObject({ agentId: "manager", ok: true });
    // the plan as soon as it is made, before any worker runs
    expect(seen[2]?.metadata).toEqual({
      ...seen[0]?.metadata,
      tasks: [{ task: "one" }, { task: "two" }],
    });
    const workers = seen.slice(3, 5).map((s) => [s.metadata.agentId, s.metadata.ok]);
    expect(workers).toContainEqual(["good", true]);
    expect(workers).toContainEqual(["bad", false]);
    expect(seen[5]?.metadata).toMatchObject({ agentId: "manager", ok: true });
    expect(seen[6]?.measurements).toMatchObject({ tasks: 2, errors: 1 });

    seen.length = 0;
    const failing = await manager(FAULT);
    await runHierarchical({ manager: failing.agent, workers: [good.worker], telemetry }, "go").catch(
      () => undefined,
    );
    expect(seen.map((s) => s.event)).toEqual(["start", "agent", "exception"]);
    expect(seen[2]?.metadata.error).toBeInstanceOf(ManagerFailedError);
  });
});

describe("agent as tool", () => {
  it("offers the workers to the manager as tools for the run; the manager's answer is the result", async () => {
    const boss = await plainManager(
      {
        toolCalls: [
          { name: "researcher", arguments: { task: "find facts" } },
          { name: "writer", arguments: { task: "write" } },
        ],
      },
      { text: "the combined answer" },
    );
    const r = await worker("researcher", { text: "facts" });
    const w = await worker("writer", FAULT);
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [{ ...r.worker, description: "Finds facts." }, w.worker],
      strategy: "agent_as_tool",
    });
    const run = await team.run("Report on tides");
    expect(run.answer).toBe("the combined answer");
    expect(run.plan).toBeUndefined();
    expect(run.tasks.map((t) => [t.id, t.worker, t.task, t.ok])).toEqual([
      ["task_0", "researcher", "find facts", true],
      ["task_1", "writer", "write", false],
    ]);
    const first = boss.server.requests[0]?.body as {
      tools: Array<{ function: { name: string; description: string } }>;
    };
    expect(first.tools.map((t) => [t.function.name, t.function.description])).toEqual([
      ["researcher", "Finds facts."],
      ["writer", "Delegates a task to the worker writer and returns its answer."],
    ]);
    const toolResults = wireMessages(boss.server.requests[1]).filter((m) => m.role === "tool");
    expect(toolResults[0]?.content).toBe("facts");
    expect(toolResults[1]?.content).toMatch(/boom|error/i); // the manager is told the worker failed
    expect(lastUserText(r.server.requests[0])).toBe("find facts");
    expect(boss.agent.tools.has("researcher")).toBe(false); // the tools were the run's only
  });

  it("needs a manager with tools, valid tool names, and no clash with the manager's own tools", async () => {
    const boss = await plainManager({ text: "never" });
    const w = await worker("w", { text: "never" });
    const bare: Runnable<unknown, unknown> = {
      name: "bare",
      run: (input, options) => boss.agent.run(input as string, options),
    };
    expect(
      () => new HierarchicalCoordinator({ manager: bare, workers: [w.worker], strategy: "agent_as_tool" }),
    ).toThrow(TypeError);
    expect(
      () =>
        new HierarchicalCoordinator({
          manager: boss.agent,
          workers: [{ id: "not a tool name", agent: w.agent }],
          strategy: "agent_as_tool",
        }),
    ).toThrow(/not a valid tool name/);
    boss.agent.tools.register(
      defineTool({ name: "w", description: "mine", input: z.object({}), run: () => "x" }),
    );
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [w.worker],
      strategy: "agent_as_tool",
    });
    await expect(team.run("go")).rejects.toThrow(/already has tools named "w"/);
    expect(boss.server.requests).toHaveLength(0);
  });

  it("ManagerFailedError when the manager's run fails", async () => {
    const boss = await plainManager(FAULT);
    const w = await worker("w", { text: "never" });
    const error = await runHierarchical(
      { manager: boss.agent, workers: [w.worker], strategy: "agent_as_tool" },
      "go",
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManagerFailedError);
    expect((error as Error).message).toMatch(/its run failed/);
    expect(boss.agent.tools.has("w")).toBe(false);
  });

  it("a worker call over its time limit is a failed task and a tool error; the manager goes on", async () => {
    const slow = hanging();
    const boss = await plainManager(
      { toolCalls: [{ name: "w", arguments: { task: "dig" } }] },
      { text: "gave up" },
    );
    const w = await worker("w", slow.turn);
    const run = await runHierarchical(
      { manager: boss.agent, workers: [w.worker], strategy: "agent_as_tool", workerTimeoutMs: 50 },
      "go",
    );
    expect(run.answer).toBe("gave up");
    const task = run.tasks[0];
    expect(task?.ok === false && task.error).toBeInstanceOf(AgentTimeoutError);
    expect(wireMessages(boss.server.requests[1]).filter((m) => m.role === "tool")[0]?.content).toMatch(
      /timed out/,
    );
    await w.server.idle();
    expect(w.server.requests[0]?.disconnected).toBe(true);
  });

  it("a stop while a worker runs through its tool aborts the worker's request", async () => {
    const slow = hanging();
    const boss = await plainManager({ toolCalls: [{ name: "w", arguments: { task: "dig" } }] });
    const w = await worker("w", slow.turn);
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [w.worker],
      strategy: "agent_as_tool",
    });
    const controller = new AbortController();
    const pending = team.run("go", { signal: controller.signal });
    await slow.arrived;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await w.server.idle();
    expect(w.server.requests[0]?.disconnected).toBe(true);
    expect(boss.agent.tools.has("w")).toBe(false);
  });
});

describe("cancellation", () => {
  it("a signal during planning aborts the manager's request", async () => {
    const slow = hanging();
    const boss = await manager(slow.turn);
    const w = await worker("w", { text: "never" });
    const controller = new AbortController();
    const pending = runHierarchical({ manager: boss.agent, workers: [w.worker] }, "go", {
      signal: controller.signal,
    });
    await slow.arrived;
    controller.abort(new Error("no longer needed"));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as Error).message).toBe("cancelled: no longer needed");
    await boss.server.idle();
    expect(boss.server.requests[0]?.disconnected).toBe(true);
    expect(w.server.requests).toHaveLength(0);
  });

  it("a signal during aggregation aborts the manager's request", async () => {
    const slow = hanging();
    const boss = await plainManager(slow.turn);
    const w = await worker("w", { text: "done" });
    const controller = new AbortController();
    const pending = runHierarchical(
      { manager: boss.agent, workers: [w.worker], strategy: "broadcast" },
      "go",
      {
        signal: controller.signal,
      },
    );
    await slow.arrived;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await boss.server.idle();
    expect(boss.server.requests[0]?.disconnected).toBe(true);
  });

  it("as an actor: the result resolves, and a stop while the workers run aborts their requests", async () => {
    const boss = await plainManager({ text: "all done" });
    const w = await worker("w", { text: "done" });
    const done = await startOrchestration(
      hierarchicalLogic({ manager: boss.agent, workers: [w.worker], strategy: "broadcast" }),
      "go",
    ).result;
    expect(done.answer).toBe("all done");

    const one = hanging();
    const two = hanging();
    const a = await worker("a", one.turn);
    const b = await worker("b", two.turn);
    const team = new HierarchicalCoordinator({
      manager: boss.agent,
      workers: [a.worker, b.worker],
      strategy: "broadcast",
    });
    const run = startOrchestration(hierarchicalLogic(team), "go");
    await Promise.all([one.arrived, two.arrived]);
    run.stop();
    const outcome = run.result.catch((e: unknown) => e);
    await Promise.all([a.server.idle(), b.server.idle()]);
    expect(a.server.requests[0]?.disconnected).toBe(true);
    expect(b.server.requests[0]?.disconnected).toBe(true);
    expect(await outcome).toBeInstanceOf(CancelledError);
  });

  it("an aborted signal runs nothing", async () => {
    const boss = await manager(plan({ task: "x" }));
    const w = await worker("w", { text: "never" });
    const controller = new AbortController();
    controller.abort();
    await expect(
      runHierarchical({ manager: boss.agent, workers: [w.worker] }, "go", { signal: controller.signal }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(boss.server.requests).toHaveLength(0);
  });
});
