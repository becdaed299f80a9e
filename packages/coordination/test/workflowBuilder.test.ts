// The workflow builder (step / parallel / race / when / approval), compiled to XState machines and run
// with real agents against the loopback LLM server: data flow between steps, guards, concurrency, races
// that abort their losers, time limits, retries, approvals, durability, and definition errors.

import { ProviderError } from "@normandy/agents";
import {
  AgentTimeoutError,
  InvalidWorkflowError,
  runWorkflow,
  startWorkflow,
  WorkflowError,
  WorkflowInterruptedError,
  workflow,
} from "@normandy/coordination";
import { ManualClock, MemorySnapshotStore, Telemetry } from "@normandy/runtime";
import type { LoopbackLLMServer, ScriptedTurn, StaticTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { waitFor } from "xstate";
import { agentFactory, deferred, hanging, lastUserText, refOf, useFixtures } from "./support.js";

const { serve, start } = useFixtures({ shutdownTimeout: 0 });

/**
 * A script for concurrent requests: each turn answers by the request's user message (its first word),
 * so the answer does not depend on which request arrived first.
 */
function routed(count: number, routes: Record<string, ScriptedTurn>): ScriptedTurn[] {
  const turn: ScriptedTurn = async (request) => {
    const word = lastUserText(request).split(" ")[0] ?? "";
    const route = routes[word];
    if (route === undefined) throw new Error(`no route for ${word}`);
    return typeof route === "function" ? route(request) : route;
  };
  return Array.from({ length: count }, () => turn);
}

describe("steps", () => {
  it("chain by default, and take literal, `from`, function inputs and transforms; the output is by step", async () => {
    const server = await serve([
      { text: "notes on tides" },
      { text: "I. Moon II. Sun" },
      { text: "hi" },
      { text: "recalled" },
      { text: "12345" },
    ]);
    const agent = agentFactory(server);
    const flow = workflow<string>("chain")
      .step("research", { agent }) // the workflow input
      .step("outline", { agent }) // the previous result
      .step("greet", { agent, input: "say hi" })
      .step("recall", {
        agent,
        input: { from: "research" },
        transform: (notes) => `recall: ${(notes as { chat_message: string }).chat_message}`,
      })
      .step("count", {
        agent,
        input: (ctx) => `${ctx.input} / ${ctx.results.greet?.chat_message} / ${JSON.stringify(ctx.last)}`,
        select: (result) => result.text.length,
      })
      .build();
    const output = await runWorkflow(start(), flow, "tides", { name: "chain" });
    expect(output).toEqual({
      research: { chat_message: "notes on tides" },
      outline: { chat_message: "I. Moon II. Sun" },
      greet: { chat_message: "hi" },
      recall: { chat_message: "recalled" },
      count: 5,
    });
    expect(output.count satisfies number).toBe(5);
    expect(server.requests.map(lastUserText)).toEqual([
      "tides",
      "notes on tides",
      "say hi",
      "recall: notes on tides",
      'tides / hi / {"chat_message":"recalled"}',
    ]);
  });

  it("fail the workflow with a WorkflowError naming the step, its cause the agent's error", async () => {
    const server = await serve([{ text: "fine" }, { fault: { kind: "authentication" } }]);
    const flow = workflow("broken")
      .step("first", { agent: agentFactory(server) })
      .step("second", { agent: agentFactory(server) })
      .build();
    const error = await runWorkflow(start(), flow, "go", { name: "broken" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error).toMatchObject({ code: "workflow_failed", workflow: "broken", step: "second" });
    expect((error as WorkflowError).cause).toBeInstanceOf(ProviderError);
  });

  it("retry a provider fault on the system clock", async () => {
    const server = await serve([{ fault: { kind: "overloaded" } }, { text: "ok" }]);
    const clock = new ManualClock();
    const retrying = deferred();
    const flow = workflow("retry")
      .step("ask", {
        agent: agentFactory(server),
        retry: { maxAttempts: 2, baseDelayMs: 500, jitter: false, onRetry: () => retrying.resolve() },
      })
      .build();
    const pending = runWorkflow(start({ clock }), flow, "hi", { name: "retry" });
    await retrying.promise;
    await clock.advance(500);
    expect(await pending).toEqual({ ask: { chat_message: "ok" } });
    expect(server.requests).toHaveLength(2);
  });

  it("time out: the step fails with an AgentTimeoutError cause and its request is aborted", async () => {
    const slow = hanging();
    const server = await serve(routed(1, { slow: slow.turn }));
    const clock = new ManualClock();
    const flow = workflow("limited")
      .step("slow", { agent: agentFactory(server), input: "slow", timeoutMs: 2_000 })
      .build();
    const outcome = runWorkflow(start({ clock }), flow, undefined, { name: "limited" }).catch(
      (e: unknown) => e,
    );
    await slow.arrived;
    await clock.advance(2_000);
    const error = await outcome;
    expect(error).toMatchObject({
      step: "slow",
      message: "workflow limited: step slow timed out after 2000 ms",
    });
    expect((error as WorkflowError).cause).toBeInstanceOf(AgentTimeoutError);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("report a `from` step that did not run (it was in a skipped branch)", async () => {
    const server = await serve([{ text: "no" }]);
    const agent = agentFactory(server);
    const flow = workflow("gap")
      .step("check", { agent, select: (r) => r.text })
      .when(
        "check",
        (answer) => answer === "yes",
        (w) => w.step("extra", { agent }),
      )
      .step("use", { agent, input: { from: "extra" } })
      .build();
    const error = await runWorkflow(start(), flow, "?", { name: "gap" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error).toMatchObject({
      step: "use",
      message: "workflow gap: step use needs the result of extra, which has not run",
    });
    expect(server.requests).toHaveLength(1);
  });
});

describe("when", () => {
  const triage = (server: LoopbackLLMServer) => {
    const agent = agentFactory(server);
    return workflow<string>("triage")
      .step("classify", { agent, select: (r) => r.text })
      .when(
        "classify",
        (label, ctx) => label === "URGENT" && ctx.input.length > 0,
        (w) => w.step("page", { agent, input: "page on-call" }),
        (w) => w.step("reply", { agent, input: "reply" }).step("close", { agent, input: "close" }),
      )
      .step("log", { agent, input: (ctx) => (ctx.results.page === undefined ? "log replied" : "log paged") })
      .build();
  };

  it("runs the branch whose test holds, and the other branch otherwise", async () => {
    const server = await serve([
      { text: "URGENT" },
      { text: "paged" },
      { text: "logged" },
      { text: "ROUTINE" },
      { text: "answered" },
      { text: "closed" },
      { text: "logged" },
    ]);
    const system = start();
    const urgent = await runWorkflow(system, triage(server), "site down", { name: "t1" });
    expect(urgent).toEqual({
      classify: "URGENT",
      page: { chat_message: "paged" },
      log: { chat_message: "logged" },
    });
    const routine = await runWorkflow(system, triage(server), "password?", { name: "t2" });
    expect(routine).toEqual({
      classify: "ROUTINE",
      reply: { chat_message: "answered" },
      close: { chat_message: "closed" },
      log: { chat_message: "logged" },
    });
    expect(server.requests.map(lastUserText)).toEqual([
      "site down",
      "page on-call",
      "log paged",
      "password?",
      "reply",
      "close",
      "log replied",
    ]);
  });

  it("nests, and reports a failure of any runnable, even one that rejects with a non-Error", async () => {
    const server = await serve([{ text: "7" }]);
    const odd = { name: "odd", run: () => Promise.reject("no way") };
    const flow = workflow("nested")
      .step("n", { agent: agentFactory(server), select: (r) => Number(r.text) })
      .when(
        "n",
        (n) => n > 5,
        (w) =>
          w.when(
            "n",
            (n) => n > 6,
            (inner) => inner.step("odd", { agent: odd }),
          ),
      )
      .build();
    const error = await runWorkflow(start(), flow, "go", { name: "nested" }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      step: "odd",
      message: "workflow nested: step odd failed: no way",
      cause: "no way",
    });
  });

  it("skips a branch without `otherwise` when the test fails", async () => {
    const server = await serve([{ text: "3" }, { text: "done" }]);
    const agent = agentFactory(server);
    const flow = workflow("skip")
      .step("score", { agent, select: (r) => Number(r.text) })
      .when(
        "score",
        (score) => score > 5,
        (w) => w.step("celebrate", { agent }),
      )
      .step("finish", { agent, input: "finish" })
      .build();
    expect(await runWorkflow(start(), flow, "rate", { name: "skip" })).toEqual({
      score: 3,
      finish: { chat_message: "done" },
    });
  });
});

describe("parallel and race", () => {
  it("parallel runs its branches at once; its result is by branch and feeds the next step", async () => {
    const both = deferred();
    let arrived = 0;
    const gate = (text: string) => async (): Promise<StaticTurn> => {
      if (++arrived === 2) both.resolve();
      await both.promise; // answers only once both requests are in flight
      return { text };
    };
    const server = await serve([
      ...routed(2, { facts: gate("facts ok"), style: gate("style ok") }),
      { text: "ship it" },
      ...routed(2, { same: { text: "same" } }),
    ]);
    const agent = agentFactory(server);
    const flow = workflow<string>("checks")
      .parallel("checks", {
        facts: { agent, input: "facts" },
        style: { agent, input: "style", select: (r) => r.text },
      })
      .step("verdict", {
        agent,
        transform: (checks) => {
          const c = checks as { facts: { chat_message: string }; style: string };
          return `verdict ${c.facts.chat_message}, ${c.style}`;
        },
      })
      .parallel("echo", { a: { agent }, b: { agent } }, { input: "same input", transform: (v) => v })
      .build();
    const output = await runWorkflow(start(), flow, "draft", { name: "checks" });
    expect(output).toEqual({
      checks: { facts: { chat_message: "facts ok" }, style: "style ok" },
      verdict: { chat_message: "ship it" },
      echo: { a: { chat_message: "same" }, b: { chat_message: "same" } },
    });
    expect(output.checks.style satisfies string).toBe("style ok");
    expect(lastUserText(server.requests[2])).toBe("verdict facts ok, style ok");
  });

  it("parallel fails as soon as a branch fails, aborting the others", async () => {
    const slow = hanging();
    const server = await serve(
      routed(2, {
        slow: slow.turn,
        bad: async () => {
          await slow.arrived;
          return { fault: { kind: "permission" } };
        },
      }),
    );
    const agent = agentFactory(server);
    const flow = workflow("both")
      .parallel("pair", { slow: { agent, input: "slow" }, bad: { agent, input: "bad" } })
      .build();
    const error = await runWorkflow(start(), flow, undefined, { name: "both" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ step: "pair", message: expect.stringContaining("step pair/bad failed") });
    await server.idle();
    expect(server.requests.find((r) => lastUserText(r) === "slow")?.disconnected).toBe(true);
  });

  it("a group time limit fails the group (parallel or race) and aborts its runs", async () => {
    const slow = hanging();
    const slower = hanging();
    const server = await serve(routed(4, { slow: slow.turn, slower: slower.turn, quick: { text: "quick" } }));
    const clock = new ManualClock();
    const system = start({ clock });
    const agent = agentFactory(server);
    const pair = workflow("grouped")
      .parallel(
        "pair",
        { slow: { agent, input: "slow" }, quick: { agent, input: "quick" } },
        { timeoutMs: 100 },
      )
      .build();
    const outcome = runWorkflow(system, pair, undefined, { name: "grouped" }).catch((e: unknown) => e);
    await slow.arrived;
    await clock.advance(100);
    expect(((await outcome) as WorkflowError).cause).toMatchObject({
      code: "agent_timeout",
      agent: "pair",
      ms: 100,
    });
    const race = workflow("raced")
      .race("r", { a: { agent, input: "slower" }, b: { agent, input: "slower" } }, { timeoutMs: 50 })
      .build();
    const raced = runWorkflow(system, race, undefined, { name: "raced" }).catch((e: unknown) => e);
    await slower.arrived;
    await clock.advance(50);
    expect(await raced).toMatchObject({ step: "r", message: "workflow raced: step r timed out after 50 ms" });
    await server.idle();
    expect(
      server.requests
        .filter((r) => r.disconnected)
        .map(lastUserText)
        .sort(),
    ).toEqual(["slow", "slower", "slower"]);
  });

  it("race takes the first success and aborts the losers; a failed branch does not lose it", async () => {
    const slow = hanging();
    const failed = deferred();
    const server = await serve([
      ...routed(2, { slow: slow.turn, fast: { text: "fast" } }),
      ...routed(2, {
        broken: async () => {
          failed.resolve();
          return { fault: { kind: "authentication" } };
        },
        steady: async () => {
          await failed.promise;
          return { text: "steady" };
        },
      }),
    ]);
    const agent = agentFactory(server);
    const flow = workflow("races")
      .race("first", {
        slow: { agent, input: "slow" },
        fast: { agent, input: "fast", select: (r) => r.text },
      })
      .race("second", { broken: { agent, input: "broken" }, steady: { agent, input: "steady" } })
      .build();
    const output = await runWorkflow(start(), flow, undefined, { name: "races" });
    expect(output).toEqual({ first: "fast", second: { chat_message: "steady" } });
    await server.idle();
    expect(server.requests.find((r) => lastUserText(r) === "slow")?.disconnected).toBe(true);
  });

  it("race fails only when every branch has failed", async () => {
    const server = await serve(
      routed(2, { a: { fault: { kind: "authentication" } }, b: { fault: { kind: "permission" } } }),
    );
    const agent = agentFactory(server);
    const flow = workflow("lost")
      .race("r", { a: { agent, input: "a" }, b: { agent, input: "b" } })
      .build();
    const error = await runWorkflow(start(), flow, undefined, { name: "lost" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ step: "r", message: "workflow lost: every branch of race r failed" });
    expect((error as WorkflowError).cause).toBeInstanceOf(ProviderError);
  });
});

describe("approval", () => {
  const publishing = (server: LoopbackLLMServer, timeoutMs?: number) => {
    const agent = agentFactory(server);
    return workflow<string>("publish")
      .step("draft", { agent })
      .approval("review", timeoutMs === undefined ? {} : { timeoutMs })
      .when(
        "review",
        (decision) => decision.approved,
        (w) => w.step("post", { agent, input: { from: "draft" } }),
      )
      .build();
  };

  it("waits for APPROVE or REJECT and records the decision", async () => {
    const server = await serve([{ text: "v1" }, { text: "posted" }, { text: "v2" }]);
    const system = start();
    const approved = await startWorkflow(system, publishing(server), "post", { name: "a" });
    await waitFor(refOf(system, "a"), (s) => s.matches("review"));
    approved.send({ type: "APPROVE", by: "ana", comment: "ship" });
    expect(await approved.result).toEqual({
      draft: { chat_message: "v1" },
      review: { approved: true, by: "ana", comment: "ship" },
      post: { chat_message: "posted" },
    });
    const rejected = await startWorkflow(system, publishing(server), "post", { name: "r" });
    await waitFor(refOf(system, "r"), (s) => s.matches("review"));
    system.send("r", { type: "REJECT", comment: 7 } as { type: string });
    expect(await rejected.result).toEqual({ draft: { chat_message: "v2" }, review: { approved: false } });
  });

  it("fails without a decision in time", async () => {
    const server = await serve([{ text: "v1" }]);
    const clock = new ManualClock();
    const system = start({ clock });
    const run = await startWorkflow(system, publishing(server, 60_000), "post", { name: "late" });
    const outcome = run.result.catch((e: unknown) => e);
    await waitFor(refOf(system, "late"), (s) => s.matches("review"));
    await clock.advance(60_000);
    expect(await outcome).toMatchObject({
      step: "review",
      message: "workflow publish: no decision on review within 60000 ms",
    });
  });

  it("survives a restart while waiting, and goes on in the new system", async () => {
    const server = await serve([{ text: "v1" }, { text: "posted" }]);
    const store = new MemorySnapshotStore();
    const first = start({ snapshotStore: store });
    const run = await startWorkflow(first, publishing(server), "post", { name: "p", durable: "wf/p" });
    const interrupted = run.result.catch((e: unknown) => e);
    await waitFor(refOf(first, "p"), (s) => s.matches("review"));
    await first.shutdown();
    expect(await interrupted).toBeInstanceOf(WorkflowInterruptedError);

    const second = start({ snapshotStore: store });
    const resumed = await startWorkflow(second, publishing(server), "ignored", {
      name: "p",
      durable: "wf/p",
    });
    resumed.send({ type: "APPROVE", by: "lee" });
    expect(await resumed.result).toEqual({
      draft: { chat_message: "v1" },
      review: { approved: true, by: "lee" },
      post: { chat_message: "posted" },
    });
    expect(server.requests.map(lastUserText)).toEqual(["post", "v1"]); // the draft was not written twice
  });
});

describe("durability", () => {
  it("resumes a parallel group with only its unfinished branch re-run", async () => {
    const slow = hanging();
    let slowCalls = 0;
    const server = await serve([
      ...routed(2, {
        done: { text: "finished" },
        slow: async (request) => (++slowCalls === 1 ? slow.turn(request) : { text: "slow done" }),
      }),
      ...routed(1, { done: { text: "unused" }, slow: async () => ({ text: "slow done" }) }),
      { text: "merged" },
    ]);
    const agent = agentFactory(server);
    const flow = () =>
      workflow("resume")
        .parallel("pair", { done: { agent, input: "done" }, slow: { agent, input: "slow" } })
        .step("merge", { agent, input: "merge" })
        .build();
    const store = new MemorySnapshotStore();
    const first = start({ snapshotStore: store });
    const run = await startWorkflow(first, flow(), undefined, { name: "r", durable: "wf/r" });
    const interrupted = run.result.catch((e: unknown) => e);
    await slow.arrived;
    await waitFor(refOf(first, "r"), (s) => s.matches({ pair: { done: "finished" } }));
    await first.shutdown();
    expect(await interrupted).toBeInstanceOf(WorkflowInterruptedError);

    const second = start({ snapshotStore: store });
    const output = await runWorkflow(second, flow(), undefined, { name: "r", durable: "wf/r" });
    expect(output).toEqual({
      pair: { done: { chat_message: "finished" }, slow: { chat_message: "slow done" } },
      merge: { chat_message: "merged" },
    });
    expect(server.requests.map(lastUserText)).toEqual([
      expect.stringMatching(/^(done|slow)$/),
      expect.stringMatching(/^(done|slow)$/),
      "slow",
      "merge",
    ]);
  });
});

describe("durability of branches", () => {
  it("resumes a step inside a `when` branch (its invoke is found again in the rebuilt machine)", async () => {
    const slow = hanging();
    const server = await serve([
      { text: "yes" },
      ...routed(1, { deep: slow.turn }),
      ...routed(1, { deep: { text: "deep done" } }),
    ]);
    const agent = agentFactory(server);
    const flow = () =>
      workflow("deep")
        .step("gate", { agent, select: (r) => r.text })
        .when(
          "gate",
          (g) => g === "yes",
          (w) => w.step("deep", { agent, input: "deep" }),
        )
        .build();
    const store = new MemorySnapshotStore();
    const telemetry = new Telemetry();
    const starts: unknown[] = [];
    telemetry.attach("t", [["normandy", "orchestration", "workflow", "start"]], (_n, _m, metadata) =>
      starts.push(metadata.resumed),
    );
    const first = start({ snapshotStore: store, telemetry });
    const run = await startWorkflow(first, flow(), "go", { name: "d", durable: "wf/d" });
    const interrupted = run.result.catch((e: unknown) => e);
    await slow.arrived;
    await first.shutdown();
    expect(await interrupted).toBeInstanceOf(WorkflowInterruptedError);
    const second = start({ snapshotStore: store, telemetry });
    expect(await runWorkflow(second, flow(), "go", { name: "d", durable: "wf/d" })).toEqual({
      gate: "yes",
      deep: { chat_message: "deep done" },
    });
    expect(server.requests.map(lastUserText)).toEqual(["go", "deep", "deep"]);
    expect(starts).toEqual([false, true]);
  });
});

describe("definition errors", () => {
  it("are reported when the workflow is defined", async () => {
    const server = await serve([]);
    const agent = agentFactory(server);
    const w = workflow("defs").step("a", { agent });
    const invalid = (f: () => unknown) => expect(f).toThrow(InvalidWorkflowError);
    invalid(() => workflow("bad.name"));
    invalid(() => workflow(""));
    invalid(() => workflow("empty").build());
    invalid(() => w.step("a", { agent }));
    invalid(() => w.step("x.y", { agent }));
    invalid(() => w.step("done", { agent }));
    invalid(() => w.step("b", { agent: undefined as never }));
    invalid(() => w.step("b", { agent, input: { from: "nope" as "a" } }));
    invalid(() => w.step("b", { agent, timeoutMs: -1 }));
    invalid(() => w.parallel("p", {}));
    invalid(() => w.race("p", { "x/y": { agent } }));
    invalid(() => w.parallel("p", { x: { agent } }, { input: { from: "nope" as "a" } }));
    invalid(() => w.parallel("p", { x: { agent } }, { timeoutMs: Number.POSITIVE_INFINITY }));
    invalid(() => w.approval("a"));
    invalid(() => w.approval("b", { timeoutMs: 0 }));
    invalid(() =>
      w.when(
        "nope" as "a",
        () => true,
        (b) => b.step("b", { agent }),
      ),
    );
    invalid(() =>
      w.when(
        "a",
        () => true,
        (b) => b,
      ),
    );
    invalid(() =>
      w.when(
        "a",
        () => true,
        (b) => b.step("b", { agent }),
        (b) => b.step("b", { agent }),
      ),
    );
    invalid(() =>
      w
        .when(
          "a",
          () => true,
          (b) => b.step("b", { agent }),
        )
        .step("b", { agent }),
    );
    expect(w.name).toBe("defs");
    // a builder is immutable: a shared prefix can grow two ways
    const left = w.step("left", { agent }).build();
    const right = w.step("right", { agent }).build();
    expect(Object.keys(left.states)).toEqual(["a", "left", "done"]);
    expect(Object.keys(right.states)).toEqual(["a", "right", "done"]);
  });
});
