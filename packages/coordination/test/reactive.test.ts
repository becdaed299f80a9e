// The reactive combinators with real agents over the loopback LLM server (one server per agent, so each
// agent's requests are its own): race aborts its losers, all collects or fails fast, some stops at its
// quorum or as soon as it is out of reach, map transforms an outcome; timeouts fail only their agent;
// the actor forms stop with their actor; telemetry reports each combinator.
import { ProviderError } from "@normandy/agents";
import {
  AgentFailedError,
  AgentPausedError,
  AgentTimeoutError,
  AllAgentsFailedError,
  all,
  allLogic,
  CancelledError,
  map,
  mapLogic,
  QuorumNotReachedError,
  race,
  raceLogic,
  some,
  someLogic,
  startOrchestration,
} from "@normandy/coordination";
import { ManualClock, Telemetry } from "@normandy/runtime";
import type { LoopbackLLMServer, ScriptedTurn, StaticTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { agentOn, approvalTool, deferred, hanging, useFixtures } from "./support.js";

const { serve } = useFixtures();

/** An agent with its own loopback server. */
async function agentServed(name: string, script: ScriptedTurn[]) {
  const server = await serve(script);
  return { agent: agentOn(server, name, { tools: [approvalTool()] }), server };
}

/** A reply given only once `gate` opens. */
function after(gate: Promise<unknown>, text: string): ScriptedTurn {
  return async () => {
    await gate;
    return { text };
  };
}

const fail: ScriptedTurn = { fault: { kind: "authentication" } };

/** A non-retryable failure given only once `gate` opens. */
function failAfter(gate: Promise<unknown>): ScriptedTurn {
  return async (): Promise<StaticTurn> => {
    await gate;
    return { fault: { kind: "authentication" } };
  };
}

async function disconnected(server: LoopbackLLMServer): Promise<boolean | undefined> {
  await server.idle();
  return server.requests[0]?.disconnected;
}

describe("race", () => {
  it("returns the first success and aborts the losers' runs (their HTTP requests disconnect)", async () => {
    const { turn, arrived } = hanging();
    const fast = await agentServed("fast", [after(arrived, "fast answer")]);
    const slow = await agentServed("slow", [turn]);
    const winner = await race([slow.agent, fast.agent], "question");
    expect(winner).toMatchObject({ ok: true, agent: "fast", index: 1 });
    expect(winner.result.output.chat_message).toBe("fast answer");
    expect(await disconnected(slow.server)).toBe(true);
    expect(fast.server.requests[0]?.disconnected).toBe(false);
    const body = fast.server.requests[0]?.body as { messages: { content: string }[] };
    expect(body.messages.at(-1)?.content).toBe("question");
  });

  it("ignores failures while a success may still come", async () => {
    const failed = await agentServed("broken", [fail]);
    const ok = await agentServed("ok", [{ text: "fine" }]);
    const winner = await race([failed.agent, ok.agent], "q");
    expect(winner.agent).toBe("ok");
  });

  it("rejects with every failure, in agent order, when all fail", async () => {
    const a = await agentServed("a", [fail]);
    const b = await agentServed("b", [fail]);
    const error = await race([a.agent, b.agent], "q").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AllAgentsFailedError);
    const all = error as AllAgentsFailedError;
    expect(all.code).toBe("all_failed");
    expect(all.failures.map((f) => [f.agent, f.index])).toEqual([
      ["a", 0],
      ["b", 1],
    ]);
    expect(all.failures[0]?.error).toBeInstanceOf(ProviderError);
    expect(all.cause).toBe(all.failures[0]?.error);
  });

  it("a run past its timeout fails with AgentTimeoutError and is aborted; all timing out loses the race", async () => {
    const clock = new ManualClock();
    const first = hanging();
    const second = hanging();
    const a = await agentServed("a", [first.turn]);
    const b = await agentServed("b", [second.turn]);
    const outcomes: string[] = [];
    const pending = race([a.agent, b.agent], "q", {
      timeoutMs: 1000,
      clock,
      onComplete: (o) => outcomes.push(`${o.agent}:${o.ok ? "ok" : (o.error as Error).name}`),
    }).catch((e: unknown) => e);
    await Promise.all([first.arrived, second.arrived]);
    await clock.advance(999);
    expect(outcomes).toEqual([]);
    await clock.advance(1);
    const error = await pending;
    expect(outcomes).toEqual(["a:AgentTimeoutError", "b:AgentTimeoutError"]);
    expect(error).toBeInstanceOf(AllAgentsFailedError);
    const failures = (error as AllAgentsFailedError).failures;
    expect(failures[0]?.error).toBeInstanceOf(AgentTimeoutError);
    expect(failures[0]).toMatchObject({ agent: "a", durationMs: 1000 });
    expect(failures[1]?.error).toMatchObject({ code: "agent_timeout", agent: "b", ms: 1000 });
    expect(await disconnected(a.server)).toBe(true);
    expect(await disconnected(b.server)).toBe(true);
  });

  it("a run that answers before its timeout wins and clears its timer", async () => {
    const clock = new ManualClock();
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const quick = await agentServed("quick", [after(arrived, "quick")]);
    const winner = await race([slow.agent, quick.agent], "q", { timeoutMs: 1000, clock });
    expect(winner.agent).toBe("quick");
    expect(clock.pending).toBe(0); // the winner's timer cleared, the loser's with its abort
    expect(await disconnected(slow.server)).toBe(true);
  });

  it("is cancelled by its signal (aborting every run), or refuses to start on an aborted one", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const controller = new AbortController();
    const pending = race([slow.agent], "q", { signal: controller.signal });
    await arrived;
    controller.abort(new Error("user left"));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).message).toBe("cancelled: user left");
    expect(await disconnected(slow.server)).toBe(true);

    const idle = await agentServed("idle", [{ text: "never asked" }]);
    await expect(race([idle.agent], "q", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(idle.server.requests).toHaveLength(0);
  });

  it("needs at least one agent", async () => {
    await expect(race([], "q")).rejects.toBeInstanceOf(RangeError);
  });

  it("runs as an actor: stopping it aborts every run", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const run = startOrchestration(raceLogic([slow.agent]), "q");
    const settled = run.result.then(
      () => "resolved",
      () => "rejected",
    );
    await arrived;
    run.stop();
    expect(await disconnected(slow.server)).toBe(true);
    await settled; // how a stopped orchestration's result settles is startOrchestration's own contract

    const ok = await agentServed("ok", [{ text: "from the actor" }]);
    const done = await startOrchestration(raceLogic([ok.agent]), "q").result;
    expect(done.result.text).toBe("from the actor");
  });

  it("reports start, each agent, and stop or exception on the bus", async () => {
    const telemetry = new Telemetry();
    const seen: { name: string; meta: Record<string, unknown>; m: Record<string, number> }[] = [];
    telemetry.attach("t", "*", (name, m, meta) => seen.push({ name: name.join("."), meta, m }));
    const broken = await agentServed("broken", [fail]);
    const ok = await agentServed("ok", [{ text: "fine" }]);
    await race([broken.agent, ok.agent], "q", { telemetry, id: "r1" });
    expect(seen.map((e) => e.name)).toEqual([
      "normandy.orchestration.reactive.start",
      "normandy.orchestration.reactive.agent",
      "normandy.orchestration.reactive.agent",
      "normandy.orchestration.reactive.stop",
    ]);
    expect(seen[0]?.meta).toEqual({ op: "race", id: "r1", agents: ["broken", "ok"] });
    expect(seen.filter((e) => e.name.endsWith("agent")).map((e) => [e.meta.agentId, e.meta.ok])).toEqual([
      ["broken", false],
      ["ok", true],
    ]);
    expect(seen[3]?.m).toMatchObject({ succeeded: 1, failed: 1, aborted: 0 });

    seen.length = 0;
    const lone = await agentServed("lone", [fail]);
    await expect(race([lone.agent], "q", { telemetry })).rejects.toBeInstanceOf(AllAgentsFailedError);
    expect(seen.at(-1)?.name).toBe("normandy.orchestration.reactive.exception");
    expect(seen.at(-1)?.meta.error).toBeInstanceOf(AllAgentsFailedError);
  });

  it("a throwing onComplete fails the race with its error and aborts the other runs", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const quick = await agentServed("quick", [after(arrived, "quick")]);
    const boom = new Error("callback bug");
    await expect(
      race([slow.agent, quick.agent], "q", {
        onComplete: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(await disconnected(slow.server)).toBe(true);
  });
});

describe("all", () => {
  it("collects every outcome in agent order: successes, failures, a paused run", async () => {
    const a = await agentServed("a", [{ text: "A" }]);
    const b = await agentServed("b", [fail]);
    const c = await agentServed("c", [{ toolCalls: [{ name: "wire_money", arguments: {} }] }]);
    const outcomes = await all([a.agent, b.agent, c.agent], "q");
    expect(outcomes.map((o) => [o.agent, o.index, o.ok])).toEqual([
      ["a", 0, true],
      ["b", 1, false],
      ["c", 2, false],
    ]);
    const [first, second, third] = outcomes;
    expect(first?.ok && first.result.text).toBe("A");
    expect(!second?.ok && second?.error).toBeInstanceOf(ProviderError);
    expect(!third?.ok && third?.error).toBeInstanceOf(AgentPausedError);
  });

  it("runs at most maxConcurrency agents at once", async () => {
    const log: string[] = [];
    const turn =
      (name: string): ScriptedTurn =>
      () => {
        log.push(`start ${name}`);
        return { text: name };
      };
    const agents = [];
    for (const name of ["x", "y", "z"]) agents.push((await agentServed(name, [turn(name)])).agent);
    const outcomes = await all(agents, "q", {
      maxConcurrency: 1,
      onComplete: (o) => log.push(`done ${o.agent}`),
    });
    expect(log).toEqual(["start x", "done x", "start y", "done y", "start z", "done z"]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  it("with failFast, the first failure rejects, aborts the runs in flight and starts no more", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const broken = await agentServed("broken", [failAfter(arrived)]);
    const never = await agentServed("never", [{ text: "never asked" }]);
    const error = await all([slow.agent, broken.agent, never.agent], "q", {
      failFast: true,
      maxConcurrency: 2,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentFailedError);
    const failed = error as AgentFailedError;
    expect([failed.code, failed.agent, failed.index]).toEqual(["agent_failed", "broken", 1]);
    expect(failed.cause).toBeInstanceOf(ProviderError);
    expect(await disconnected(slow.server)).toBe(true);
    expect(never.server.requests).toHaveLength(0);
  });

  it("a timeout fails only its agent; the others' results are kept", async () => {
    const clock = new ManualClock();
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const ok = await agentServed("ok", [{ text: "kept" }]);
    const okDone = deferred();
    const pending = all([ok.agent, slow.agent], "q", {
      timeoutMs: 500,
      clock,
      onComplete: (o) => o.agent === "ok" && okDone.resolve(),
    });
    await Promise.all([arrived, okDone.promise]);
    await clock.advance(500);
    const outcomes = await pending;
    expect(outcomes[0]?.ok).toBe(true);
    expect(outcomes[1]).toMatchObject({ ok: false, agent: "slow", durationMs: 500 });
    expect(!outcomes[1]?.ok && outcomes[1]?.error).toBeInstanceOf(AgentTimeoutError);
    expect(await disconnected(slow.server)).toBe(true);
  });

  it("is empty for no agents and refuses a bad maxConcurrency", async () => {
    expect(await all([], "q")).toEqual([]);
    await expect(all([], "q", { maxConcurrency: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(all([], "q", { maxConcurrency: 1.5 })).rejects.toBeInstanceOf(RangeError);
  });

  it("runs as an actor", async () => {
    const a = await agentServed("a", [{ text: "A" }]);
    const outcomes = await startOrchestration(allLogic([a.agent], { maxConcurrency: 1 }), "q").result;
    expect(outcomes.map((o) => o.ok)).toEqual([true]);
  });
});

describe("some", () => {
  it("stops at its quorum, aborting the rest, and returns the successes in agent order", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const second = await agentServed("second", [after(arrived, "2")]);
    const third = await agentServed("third", [after(arrived, "3")]);
    const quorum = await some([third.agent, slow.agent, second.agent], "q", { count: 2 });
    expect(quorum.map((s) => [s.agent, s.index, s.result.text])).toEqual([
      ["third", 0, "3"],
      ["second", 2, "2"],
    ]);
    expect(await disconnected(slow.server)).toBe(true);
  });

  it("rejects as soon as the quorum is out of reach, aborting the runs still going", async () => {
    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const okDone = deferred();
    // b1 fails last, once the slow run is in flight and ok has succeeded
    const b1 = await agentServed("b1", [failAfter(Promise.all([arrived, okDone.promise]))]);
    const b2 = await agentServed("b2", [fail]);
    const ok = await agentServed("ok", [{ text: "yes" }]);
    const error = await some([ok.agent, b1.agent, b2.agent, slow.agent], "q", {
      count: 3,
      onComplete: (o) => o.agent === "ok" && okDone.resolve(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotReachedError);
    const q = error as QuorumNotReachedError;
    expect([q.code, q.needed, q.succeeded]).toEqual(["quorum_not_reached", 3, 1]);
    expect(q.failures.map((f) => f.agent).sort()).toEqual(["b1", "b2"]);
    expect(await disconnected(slow.server)).toBe(true);
  });

  it("refuses a quorum larger than the agents without running any, and a bad count", async () => {
    const a = await agentServed("a", [{ text: "A" }]);
    const error = await some([a.agent], "q", { count: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotReachedError);
    expect((error as QuorumNotReachedError).message).toBe(
      "quorum of 2 not reachable: 0 succeeded, 0 failed of 1 agents",
    );
    expect(a.server.requests).toHaveLength(0);
    await expect(some([a.agent], "q", { count: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it("runs as an actor", async () => {
    const a = await agentServed("a", [{ text: "A" }]);
    const b = await agentServed("b", [{ text: "B" }]);
    const quorum = await startOrchestration(someLogic([a.agent, b.agent], { count: 2 }), "q").result;
    expect(quorum.map((s) => s.agent)).toEqual(["a", "b"]);
  });
});

describe("map", () => {
  it("hands the outcome, success or failure, to the transform", async () => {
    const ok = await agentServed("ok", [{ text: "0.9" }]);
    const grade = await map(ok.agent, "rate", (o) => (o.ok && Number(o.result.text) > 0.8 ? "high" : "low"));
    expect(grade).toBe("high");

    const broken = await agentServed("broken", [fail]);
    const fallback = await map(broken.agent, "rate", async (o) =>
      o.ok ? "unexpected" : `fallback after ${(o.error as Error).name}`,
    );
    expect(fallback).toBe("fallback after ProviderError");
  });

  it("rejects with what the transform throws, and when cancelled", async () => {
    const ok = await agentServed("ok", [{ text: "x" }]);
    const bug = new Error("transform bug");
    await expect(
      map(ok.agent, "q", () => {
        throw bug;
      }),
    ).rejects.toBe(bug);

    const { turn, arrived } = hanging();
    const slow = await agentServed("slow", [turn]);
    const controller = new AbortController();
    const pending = map(slow.agent, "q", (o) => o.ok, { signal: controller.signal });
    await arrived;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(await disconnected(slow.server)).toBe(true);
  });

  it("runs as an actor", async () => {
    const ok = await agentServed("ok", [{ text: "via actor" }]);
    const text = await startOrchestration(
      mapLogic(ok.agent, (o) => (o.ok ? o.result.text : "")),
      "q",
    ).result;
    expect(text).toBe("via actor");
  });
});
