// The sequential orchestrator with real agents over the loopback LLM server (one server per agent, so
// each agent's requests are its own): outputs flow through transforms into the next agent, results go to
// the shared context, a failure stops the pipeline or is passed on as a typed StepFailure, the message
// form threads correlated replies, and a cancellation (signal or actor stop) aborts the agent in flight.
import { ProviderError } from "@normandy/agents";
import {
  AgentContext,
  type AgentMessage,
  AgentPausedError,
  CancelledError,
  createMessage,
  runSequential,
  runSequentialMessages,
  type SequentialStep,
  StepFailure,
  sequentialLogic,
  sequentialMessagesLogic,
  startOrchestration,
} from "@normandy/coordination";
import { Telemetry } from "@normandy/runtime";
import type { ScriptedTurn } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { agentOn, approvalTool, hanging, lastUserText, useFixtures } from "./support.js";

const { serve, start } = useFixtures();

/** A step whose agent answers each scripted turn in order. */
async function step(id: string, ...script: ScriptedTurn[]) {
  const server = await serve(script);
  return { server, step: { id, agent: agentOn(server, id) } satisfies SequentialStep };
}

const FAULT: ScriptedTurn = { fault: { kind: "server_error", message: "boom" } };

describe("runSequential", () => {
  it("feeds each output, through its transform, into the next agent and stores every value", async () => {
    const system = start();
    const shared = await AgentContext.start(system);
    const results = shared.namespace("results");
    const a = await step("research", { text: "tides are tidal" });
    const b = await step("write", { text: "a poem about tides" });
    const completed: Array<[string, unknown]> = [];
    const run = await runSequential(
      [
        {
          ...a.step,
          transform: (output) => ({
            chat_message: (output as { chat_message: string }).chat_message.toUpperCase(),
          }),
        },
        b.step,
      ],
      "tides",
      { context: results, onStepComplete: (id, output) => completed.push([id, output]) },
    );
    expect(run.success).toBe(true);
    expect(run.errors).toEqual([]);
    expect(run.results.map((r) => [r.id, r.output])).toEqual([
      ["research", { chat_message: "TIDES ARE TIDAL" }],
      ["write", { chat_message: "a poem about tides" }],
    ]);
    expect(run.results[1]?.result.text).toBe("a poem about tides");
    expect(run.output).toEqual({ chat_message: "a poem about tides" });
    expect(lastUserText(a.server.requests[0])).toBe("tides");
    expect(lastUserText(b.server.requests[0])).toBe("TIDES ARE TIDAL");
    expect(results.get("research")).toEqual({ chat_message: "TIDES ARE TIDAL" });
    expect(results.get("write")).toEqual({ chat_message: "a poem about tides" });
    expect(completed.map(([id]) => id)).toEqual(["research", "write"]);
  });

  it("stops at the first failure by default, keeping what ran before it", async () => {
    const a = await step("a", { text: "one" });
    const b = await step("b", FAULT);
    const c = await step("c", { text: "never" });
    const run = await runSequential([a.step, b.step, c.step], "go");
    expect(run.success).toBe(false);
    expect(run.results.map((r) => r.id)).toEqual(["a"]);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatchObject({ id: "b", input: { chat_message: "one" } });
    expect(run.errors[0]?.error).toBeInstanceOf(ProviderError);
    expect(c.server.requests).toHaveLength(0);
    expect(run.output).toEqual({ chat_message: "one" });
  });

  it("continues past a failure with a typed StepFailure, which the next agent reads as text", async () => {
    const a = await step("a", FAULT);
    const b = await step("b", { text: "recovered" });
    const c = await step("c", FAULT);
    const run = await runSequential([a.step, b.step, c.step], "go", { onError: "continue" });
    expect(run.success).toBe(false);
    expect(run.errors.map((e) => e.id)).toEqual(["a", "c"]);
    expect(run.errors[1]?.input).toEqual({ chat_message: "recovered" });
    expect(run.results.map((r) => r.id)).toEqual(["b"]);
    expect(lastUserText(b.server.requests[0])).toMatch(/^step a failed: /);
    // the last step failed: the pipeline's value is its failure
    expect(run.output).toBeInstanceOf(StepFailure);
    const failure = run.output as StepFailure;
    expect(failure.id).toBe("c");
    expect(failure.error).toBeInstanceOf(ProviderError);
    expect(failure.input).toEqual({ chat_message: "recovered" });
    expect(String(new StepFailure("x", "plain reason", 1))).toBe("step x failed: plain reason");
  });

  it("records a transform's error and a paused run as that step's failure", async () => {
    const a = await step("a", { text: "one" });
    const server = await serve([{ toolCalls: [{ name: "deploy", arguments: {} }] }]);
    const gated = agentOn(server, "gated", { tools: [approvalTool("deploy")] });
    const run = await runSequential(
      [
        {
          ...a.step,
          transform: () => {
            throw new Error("bad transform");
          },
        },
        { id: "gated", agent: gated },
      ],
      "go",
      { onError: "continue" },
    );
    expect(run.errors.map((e) => (e.error as Error).message)).toEqual([
      "bad transform",
      "agent gated paused for approval of deploy",
    ]);
    expect(run.errors[1]?.error).toBeInstanceOf(AgentPausedError);
  });

  it("rejects duplicate step ids before running anything", async () => {
    const a = await step("a", { text: "one" });
    await expect(runSequential([a.step, a.step], "go")).rejects.toThrow(RangeError);
    expect(a.server.requests).toHaveLength(0);
  });

  it("reports start, one agent event per step, and stop on the telemetry bus", async () => {
    const telemetry = new Telemetry();
    const seen: Array<{ event: string; measurements: unknown; metadata: Record<string, unknown> }> = [];
    const name = (phase: string) => ["normandy", "orchestration", "sequential", phase];
    telemetry.attach("t", [name("start"), name("agent"), name("stop"), name("exception")], (event, m, meta) =>
      seen.push({ event: event.join("."), measurements: m, metadata: meta }),
    );
    const a = await step("a", { text: "one" });
    const b = await step("b", FAULT);
    await runSequential([a.step, b.step], "go", { telemetry, id: "pipe-1" });
    expect(seen.map((s) => s.event)).toEqual([
      "normandy.orchestration.sequential.start",
      "normandy.orchestration.sequential.agent",
      "normandy.orchestration.sequential.agent",
      "normandy.orchestration.sequential.stop",
    ]);
    expect(seen[0]?.metadata).toEqual({ id: "pipe-1", agents: ["a", "b"] });
    expect(seen[1]?.metadata).toMatchObject({ agentId: "a", ok: true });
    expect(seen[2]?.metadata).toMatchObject({ agentId: "b", ok: false, error: expect.any(ProviderError) });
    expect(seen[3]?.measurements).toMatchObject({ steps: 2, errors: 1 });
  });

  it("a signal aborts the agent in flight (its HTTP request disconnects) and rejects with CancelledError", async () => {
    const slow = hanging();
    const a = await step("a", { text: "one" });
    const b = await step("b", slow.turn);
    const c = await step("c", { text: "never" });
    const controller = new AbortController();
    const telemetry = new Telemetry();
    const exceptions: unknown[] = [];
    telemetry.attach("t", [["normandy", "orchestration", "sequential", "exception"]], (_e, _m, meta) =>
      exceptions.push(meta.error),
    );
    const pending = runSequential([a.step, b.step, c.step], "go", { signal: controller.signal, telemetry });
    await slow.arrived;
    controller.abort(new Error("user left"));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).message).toBe("cancelled: user left");
    await b.server.idle();
    expect(b.server.requests[0]?.disconnected).toBe(true);
    expect(c.server.requests).toHaveLength(0);
    expect(exceptions).toEqual([error]);
  });

  it("an aborted signal runs nothing", async () => {
    const a = await step("a", { text: "one" });
    const controller = new AbortController();
    controller.abort();
    await expect(runSequential([a.step], "go", { signal: controller.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(a.server.requests).toHaveLength(0);
  });

  it("runs as an actor: the result resolves, and a stop aborts the agent in flight", async () => {
    const a = await step("a", { text: "one" }, { text: "two" });
    const done = await startOrchestration(sequentialLogic([a.step]), "hi").result;
    expect(done.output).toEqual({ chat_message: "one" });

    const slow = hanging();
    const b = await step("b", slow.turn);
    const run = startOrchestration(sequentialLogic([a.step, b.step]), "again");
    await slow.arrived;
    run.stop();
    const outcome = run.result.catch((e: unknown) => e);
    await b.server.idle();
    expect(b.server.requests[0]?.disconnected).toBe(true);
    expect(run.actor.getSnapshot().status).toBe("stopped");
    expect(await outcome).toBeInstanceOf(CancelledError);
  });
});

describe("runSequentialMessages", () => {
  const initial = () =>
    createMessage({
      from: "user",
      to: "pipeline",
      payload: { chat_message: "tides" },
      metadata: { traceparent: "00-abc-def-01" },
    });

  it("gives each agent the previous payload and answers with correlated replies", async () => {
    const a = await step("research", { text: "facts" });
    const b = await step("write", { text: "poem" });
    const first = initial();
    const messages = await runSequentialMessages(
      [
        {
          ...a.step,
          transform: (output) => ({ chat_message: `${(output as { chat_message: string }).chat_message}!` }),
        },
        b.step,
      ],
      first,
    );
    expect(messages).toHaveLength(3);
    const [m0, m1, m2] = messages as [AgentMessage, AgentMessage, AgentMessage];
    expect(m0).toBe(first);
    expect(m1).toMatchObject({
      type: "response",
      from: "research",
      to: "user",
      payload: { chat_message: "facts!" },
      correlationId: first.id,
      causationId: first.id,
      metadata: { traceparent: "00-abc-def-01" },
    });
    expect(m2).toMatchObject({
      type: "response",
      from: "write",
      to: "research",
      payload: { chat_message: "poem" },
      correlationId: first.id,
      causationId: m1.id,
    });
    expect(new Set(messages.map((m) => m.id)).size).toBe(3);
    expect(lastUserText(a.server.requests[0])).toBe("tides");
    expect(lastUserText(b.server.requests[0])).toBe("facts!");
  });

  it("answers a failure with an error reply, and stops there by default", async () => {
    const a = await step("a", FAULT);
    const b = await step("b", { text: "never" });
    const first = { ...initial(), correlationId: "conversation-7" };
    const messages = await runSequentialMessages([a.step, b.step], first);
    expect(messages).toHaveLength(2);
    expect(messages[1]).toMatchObject({
      type: "error",
      from: "a",
      to: "user",
      payload: { code: "server", details: { name: "ProviderError" } },
      correlationId: "conversation-7",
      causationId: first.id,
    });
    expect(b.server.requests).toHaveLength(0);
  });

  it("continues past an error reply: the next agent reads the error as text", async () => {
    const a = await step("a", { text: "one" });
    const b = await step("b", { text: "fixed" });
    const messages = await runSequentialMessages(
      [
        {
          ...a.step,
          transform: () => {
            throw "not an Error";
          },
        },
        b.step,
      ],
      initial(),
      { onError: "continue" },
    );
    expect(messages.map((m) => m.type)).toEqual(["request", "error", "response"]);
    expect(messages[1]?.payload).toEqual({
      code: "error",
      message: "not an Error",
      details: { name: "error" },
    });
    expect(lastUserText(b.server.requests[0])).toBe("the previous step failed (error): not an Error");
    expect(messages[2]?.causationId).toBe(messages[1]?.id);
  });

  it("uses a coordination error's code, and runs as an actor", async () => {
    const server = await serve([{ toolCalls: [{ name: "deploy", arguments: {} }] }]);
    const gated = agentOn(server, "gated", { tools: [approvalTool("deploy")] });
    const messages = await startOrchestration(
      sequentialMessagesLogic([{ id: "gated", agent: gated }]),
      initial(),
    ).result;
    expect(messages[1]?.payload).toMatchObject({ code: "agent_paused" });
  });

  it("a stop aborts the agent in flight", async () => {
    const slow = hanging();
    const a = await step("a", slow.turn);
    const run = startOrchestration(sequentialMessagesLogic([a.step]), initial());
    await slow.arrived;
    run.stop();
    const outcome = run.result.catch((e: unknown) => e);
    await a.server.idle();
    expect(a.server.requests[0]?.disconnected).toBe(true);
    expect(await outcome).toBeInstanceOf(CancelledError);
  });
});
