// The parallel orchestrator with real agents over the loopback LLM server (one server per agent unless a
// test needs one shared): ordered outcomes keyed by id, concurrency limit, a per-agent time limit that
// fails (and aborts) only its agent, failures that never lose a sibling's result, aggregation, the
// as-completed stream, the same-input form, cancellation by signal or actor stop, and telemetry.
import { ProviderError } from "@normandy/agents";
import {
  AgentContext,
  AgentTimeoutError,
  AggregationFailedError,
  CancelledError,
  type ParallelOutcome,
  type ParallelSpec,
  parallelLogic,
  parallelSameInputLogic,
  runParallel,
  runParallelSameInput,
  startOrchestration,
  streamParallel,
} from "@normandy/coordination";
import { ManualClock, Telemetry } from "@normandy/runtime";
import type { ScriptedTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import {
  agentOn,
  counted,
  deferred,
  hanging,
  lastUserText,
  recordOrchestration,
  useFixtures,
} from "./support.js";

const { serve, start } = useFixtures();

/** An agent (on its own server) answering the scripted turns in order. */
async function member(id: string, ...script: ScriptedTurn[]) {
  const server = await serve(script);
  return { server, agent: agentOn(server, id) };
}

/** A turn that answers only once the gate opens. */
function gated(text: string, gate: Promise<void>, arrived?: () => void): ScriptedTurn {
  return async () => {
    arrived?.();
    await gate;
    return { text };
  };
}

const FAULT: ScriptedTurn = { fault: { kind: "server_error", message: "boom" } };

describe("runParallel", () => {
  it("runs every agent on its input and keeps outcomes in spec order, keyed by id", async () => {
    const system = start();
    const shared = await AgentContext.start(system);
    const results = shared.namespace("results");
    const gate = deferred();
    // "slow" finishes after "fast": spec order is kept all the same
    const slow = await member("slow", gated("slow answer", gate.promise));
    const fast = await member("fast", { text: "fast answer" });
    const completed: string[] = [];
    const run = await runParallel(
      [
        { id: "slow", agent: slow.agent, input: "question one" },
        {
          id: "fast",
          agent: fast.agent,
          input: { chat_message: "question two" },
          transform: (output) => (output as { chat_message: string }).chat_message.toUpperCase(),
        },
      ],
      {
        context: results,
        onAgentComplete: (o) => {
          completed.push(o.id);
          gate.resolve();
        },
        aggregate: (successes) => successes.map((s) => s.id).join("+"),
      },
    );
    expect(run.success).toBe(true);
    expect(completed).toEqual(["fast", "slow"]);
    expect(run.outcomes.map((o) => o.id)).toEqual(["slow", "fast"]);
    expect(run.results).toEqual({ slow: { chat_message: "slow answer" }, fast: "FAST ANSWER" });
    expect(run.errors).toEqual({});
    expect(run.aggregated).toBe("slow+fast");
    expect(lastUserText(slow.server.requests[0])).toBe("question one");
    expect(lastUserText(fast.server.requests[0])).toBe("question two");
    expect(results.get("fast")).toBe("FAST ANSWER");
    expect(results.get("slow")).toEqual({ chat_message: "slow answer" });
  });

  it("a failed agent loses no sibling's result (the original's defect A5)", async () => {
    const ok = await member("ok", { text: "fine" });
    const bad = await member("bad", FAULT);
    const run = await runParallel([
      { id: "bad", agent: bad.agent, input: "x" },
      { id: "ok", agent: ok.agent, input: "y" },
    ]);
    expect(run.success).toBe(false);
    expect(run.results).toEqual({ ok: { chat_message: "fine" } });
    expect(run.errors.bad).toBeInstanceOf(ProviderError);
    expect(run.outcomes.map((o) => o.ok)).toEqual([false, true]);
    expect(run.aggregated).toBeUndefined();
  });

  it("a per-agent time limit fails and aborts only that agent", async () => {
    const clock = new ManualClock();
    const slow = hanging();
    const late = await member("late", slow.turn);
    const ok = await member("ok", { text: "in time" });
    const okDone = deferred();
    const pending = runParallel(
      [
        { id: "late", agent: late.agent, input: "x" },
        { id: "ok", agent: ok.agent, input: "y" },
      ],
      { clock, timeoutMs: 1_000, onAgentComplete: (o) => o.id === "ok" && okDone.resolve() },
    );
    await Promise.all([slow.arrived, okDone.promise]);
    await clock.advance(1_000);
    const run = await pending;
    expect(run.results).toEqual({ ok: { chat_message: "in time" } });
    expect(run.errors.late).toBeInstanceOf(AgentTimeoutError);
    expect(run.errors.late).toMatchObject({ agent: "late", ms: 1_000, code: "agent_timeout" });
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
    expect(clock.pending).toBe(0); // the finished agent's timer was cleared
  });

  it("never runs more than maxConcurrency agents at once", async () => {
    const gauge = { active: 0, max: 0 };
    const gate = deferred();
    let arrivals = 0;
    const arrived = () => {
      arrivals++;
      if (arrivals === 2) gate.resolve(); // two are in flight together: let them answer
    };
    const specs: ParallelSpec[] = [];
    for (const id of ["a", "b", "c", "d"]) {
      const m = await member(id, gated(`${id}!`, gate.promise, arrived));
      specs.push({ id, agent: counted(m.agent, gauge), input: id });
    }
    const run = await runParallel(specs, { maxConcurrency: 2 });
    expect(run.success).toBe(true);
    expect(gauge.max).toBe(2);
  });

  it("runs the same agent twice in one batch one run after the other (an agent holds one conversation)", async () => {
    const solo = await member("solo", { text: "first" }, { text: "second" });
    const run = await runParallel([
      { id: "one", agent: solo.agent, input: "1" },
      { id: "two", agent: solo.agent, input: "2" },
    ]);
    expect(run.results).toEqual({ one: { chat_message: "first" }, two: { chat_message: "second" } });
    expect(solo.server.requests).toHaveLength(2);
  });

  it("a runnable that throws instead of rejecting fails only its agent, and frees it", async () => {
    const b = await member("b", { text: "two" });
    const broken = {
      name: "broken",
      run: (): never => {
        throw new Error("sync bug");
      },
    };
    const run = await runParallel([
      { id: "a", agent: broken, input: "x" },
      { id: "b", agent: b.agent, input: "y" },
    ]);
    expect((run.errors.a as Error).message).toBe("sync bug");
    expect(run.results).toEqual({ b: { chat_message: "two" } });
    // its lock was released: a second run gets the same error instead of waiting forever
    const again = await runParallel([{ id: "a", agent: broken, input: "x" }]);
    expect((again.errors.a as Error).message).toBe("sync bug");
  });

  it("a transform's error fails only its agent", async () => {
    const a = await member("a", { text: "one" });
    const b = await member("b", { text: "two" });
    const run = await runParallel([
      {
        id: "a",
        agent: a.agent,
        input: "x",
        transform: () => {
          throw new Error("bad transform");
        },
      },
      { id: "b", agent: b.agent, input: "y" },
    ]);
    expect((run.errors.a as Error).message).toBe("bad transform");
    expect(run.results).toEqual({ b: { chat_message: "two" } });
  });

  it("a failing aggregate rejects with AggregationFailedError holding every outcome", async () => {
    const a = await member("a", { text: "one" });
    const error = await runParallel([{ id: "a", agent: a.agent, input: "x" }], {
      aggregate: () => {
        throw new Error("cannot combine");
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregationFailedError);
    expect((error as AggregationFailedError).message).toBe("aggregation failed: cannot combine");
    expect((error as AggregationFailedError).results).toMatchObject([{ id: "a", ok: true }]);
    expect(new AggregationFailedError([], "not an Error").message).toBe("aggregation failed");
  });

  it("a throwing callback fails the run and stops the siblings still running", async () => {
    const slow = hanging();
    const late = await member("late", slow.turn);
    const ok = await member("ok", { text: "fine" });
    const pending = runParallel(
      [
        { id: "late", agent: late.agent, input: "x" },
        { id: "ok", agent: ok.agent, input: "y" },
      ],
      {
        onAgentComplete: () => {
          throw new Error("callback bug");
        },
      },
    );
    await slow.arrived;
    await expect(pending).rejects.toThrow("callback bug");
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
  });

  it("checks its options and ids before running anything", async () => {
    const a = await member("a", { text: "one" });
    const spec = { id: "a", agent: a.agent, input: "x" };
    await expect(runParallel([spec], { maxConcurrency: 0 })).rejects.toThrow(RangeError);
    await expect(runParallel([spec], { maxConcurrency: 1.5 })).rejects.toThrow(RangeError);
    await expect(runParallel([spec], { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(runParallel([spec, spec])).rejects.toThrow(/duplicate agent id "a"/);
    expect(() => streamParallel([spec], { timeoutMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(a.server.requests).toHaveLength(0);
  });

  it("a signal aborts every agent in flight and rejects with CancelledError", async () => {
    const one = hanging();
    const two = hanging();
    const a = await member("a", one.turn);
    const b = await member("b", two.turn);
    const controller = new AbortController();
    const pending = runParallel(
      [
        { id: "a", agent: a.agent, input: "x" },
        { id: "b", agent: b.agent, input: "y" },
      ],
      { signal: controller.signal },
    );
    await Promise.all([one.arrived, two.arrived]);
    controller.abort(new Error("enough"));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as Error).message).toBe("cancelled: enough");
    await Promise.all([a.server.idle(), b.server.idle()]);
    expect(a.server.requests[0]?.disconnected).toBe(true);
    expect(b.server.requests[0]?.disconnected).toBe(true);
  });

  it("a signal also ends the waits of agents not yet started", async () => {
    const slow = hanging();
    const late = await member("late", slow.turn);
    const queued = await member("queued", { text: "never" });
    const controller = new AbortController();
    const pending = runParallel(
      [
        { id: "late", agent: late.agent, input: "x" },
        { id: "queued", agent: queued.agent, input: "y" },
      ],
      { signal: controller.signal, maxConcurrency: 1 },
    );
    await slow.arrived;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(queued.server.requests).toHaveLength(0);
  });

  it("an aborted signal runs nothing", async () => {
    const a = await member("a", { text: "one" });
    const controller = new AbortController();
    controller.abort();
    await expect(
      runParallel([{ id: "a", agent: a.agent, input: "x" }], { signal: controller.signal }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(a.server.requests).toHaveLength(0);
  });

  it("reports start, one agent event per agent, stop — and exception on cancellation", async () => {
    const { telemetry, seen } = recordOrchestration("parallel");
    const a = await member("a", { text: "one" });
    const b = await member("b", FAULT);
    await runParallel(
      [
        { id: "a", agent: a.agent, input: "x" },
        { id: "b", agent: b.agent, input: "y" },
      ],
      { telemetry, id: "fan-out" },
    );
    expect(seen.map((s) => s.event).sort()).toEqual(["agent", "agent", "start", "stop"]);
    expect(seen[0]).toMatchObject({ event: "start", metadata: { id: "fan-out", agents: ["a", "b"] } });
    expect(seen.at(-1)).toMatchObject({ event: "stop", measurements: { agents: 2, errors: 1 } });
    const agents = seen.filter((s) => s.event === "agent").map((s) => s.metadata);
    expect(agents).toContainEqual(expect.objectContaining({ agentId: "a", ok: true }));
    expect(agents).toContainEqual(
      expect.objectContaining({ agentId: "b", ok: false, error: expect.any(ProviderError) }),
    );

    seen.length = 0;
    const controller = new AbortController();
    controller.abort();
    await runParallel([{ id: "a", agent: a.agent, input: "x" }], {
      telemetry,
      signal: controller.signal,
    }).catch(() => undefined);
    expect(seen.map((s) => s.event)).toEqual(["start", "exception"]);
    expect(seen[1]?.metadata.error).toBeInstanceOf(CancelledError);
  });
});

describe("runParallelSameInput", () => {
  it("gives every agent the one input", async () => {
    const a = await member("a", { text: "yes" });
    const b = await member("b", { text: "no" });
    const run = await runParallelSameInput(
      [
        { id: "a", agent: a.agent },
        { id: "b", agent: b.agent, transform: (o) => (o as { chat_message: string }).chat_message.length },
      ],
      "Is it safe?",
    );
    expect(run.results).toEqual({ a: { chat_message: "yes" }, b: 2 });
    expect(lastUserText(a.server.requests[0])).toBe("Is it safe?");
    expect(lastUserText(b.server.requests[0])).toBe("Is it safe?");
  });
});

describe("streamParallel", () => {
  it("yields outcomes as they complete, failures included", async () => {
    const gate = deferred();
    const slow = await member("slow", gated("slow", gate.promise));
    const bad = await member("bad", FAULT);
    const fast = await member("fast", { text: "fast" });
    const seen: ParallelOutcome[] = [];
    for await (const outcome of streamParallel([
      { id: "slow", agent: slow.agent, input: "x" },
      { id: "bad", agent: bad.agent, input: "y" },
      { id: "fast", agent: fast.agent, input: "z" },
    ])) {
      seen.push(outcome);
      if (seen.length === 2) gate.resolve(); // the slow one answers only once the others are in
    }
    expect(seen.map((o) => o.id).sort()).toEqual(["bad", "fast", "slow"]);
    expect(seen[2]).toMatchObject({ id: "slow", ok: true, output: { chat_message: "slow" } });
    expect(seen.find((o) => o.id === "bad")).toMatchObject({ ok: false, error: expect.any(ProviderError) });
  });

  it("leaving the loop early aborts the agents still running", async () => {
    const telemetry = new Telemetry();
    const stops: Record<string, number>[] = [];
    telemetry.attach("t", [["normandy", "orchestration", "parallel", "stop"]], (_e, m) => stops.push(m));
    const slow = hanging();
    const late = await member("late", slow.turn);
    const fast = await member("fast", { text: "fast" });
    const stream = streamParallel(
      [
        { id: "late", agent: late.agent, input: "x" },
        { id: "fast", agent: fast.agent, input: "y" },
      ],
      { telemetry },
    );
    for await (const outcome of stream) {
      expect(outcome.id).toBe("fast");
      await slow.arrived;
      break;
    }
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
    expect(stops).toEqual([expect.objectContaining({ agents: 1, errors: 0, abandoned: 1 })]);
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toThrow(/only once/);
  });

  it("a signal ends the iteration with CancelledError", async () => {
    const slow = hanging();
    const late = await member("late", slow.turn);
    const controller = new AbortController();
    const iterate = async () => {
      for await (const _ of streamParallel([{ id: "late", agent: late.agent, input: "x" }], {
        signal: controller.signal,
      })) {
        // nothing completes
      }
    };
    const pending = iterate();
    await slow.arrived;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
  });
});

describe("as orchestration actors", () => {
  it("parallelLogic runs the specs given as input; a stop aborts the agents in flight", async () => {
    const a = await member("a", { text: "one" });
    const done = await startOrchestration(parallelLogic({ maxConcurrency: 1 }), [
      { id: "a", agent: a.agent, input: "x" },
    ]).result;
    expect(done.results).toEqual({ a: { chat_message: "one" } });

    const slow = hanging();
    const late = await member("late", slow.turn);
    const run = startOrchestration(parallelLogic(), [{ id: "late", agent: late.agent, input: "x" }]);
    await slow.arrived;
    run.stop();
    const outcome = run.result.catch((e: unknown) => e);
    await late.server.idle();
    expect(late.server.requests[0]?.disconnected).toBe(true);
    expect(await outcome).toBeInstanceOf(CancelledError);
  });

  it("parallelSameInputLogic takes the shared input", async () => {
    const a = await member("a", { text: "one" });
    const b = await member("b", { text: "two" });
    const run = await startOrchestration(
      parallelSameInputLogic([
        { id: "a", agent: a.agent },
        { id: "b", agent: b.agent },
      ]),
      "same",
    ).result;
    expect(run.results).toEqual({ a: { chat_message: "one" }, b: { chat_message: "two" } });
    expect([lastUserText(a.server.requests[0]), lastUserText(b.server.requests[0])]).toEqual([
      "same",
      "same",
    ]);
  });
});
