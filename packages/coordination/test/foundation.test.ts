// The coordination building blocks: the AgentMessage envelope (creation, correlated replies, validation of
// what arrives from elsewhere), the namespaced shared context for agents, and orchestrations as actors
// (stop = cancellation of the agent runs they started; telemetry events).
import {
  AgentContext,
  AgentPausedError,
  CancelledError,
  type ContextChange,
  createMessage,
  errorReply,
  InvalidMessageError,
  orchestrationEvents,
  orchestrationLogic,
  parseMessage,
  replyTo,
  runToResult,
  startOrchestration,
} from "@normandy/coordination";
import { Telemetry } from "@normandy/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { agentOn, approvalTool, useFixtures } from "./support.js";

const { serve, start } = useFixtures();

describe("AgentMessage", () => {
  it("correlates replies and errors with their request and carries the trace context", () => {
    const request = createMessage({
      from: "manager",
      to: "researcher",
      payload: { chat_message: "find X" },
      timeoutMs: 1_000,
      causationId: "earlier",
      correlationId: "conversation-1",
      metadata: { traceparent: "00-aa-bb-01" },
      now: 10_000,
    });
    expect(request).toMatchObject({
      type: "request",
      timestamp: 10_000,
      deadline: 11_000,
      causationId: "earlier",
    });
    const reply = replyTo(request, { chat_message: "found" }, 10_500);
    expect(reply).toMatchObject({
      from: "researcher",
      to: "manager",
      type: "response",
      correlationId: request.id,
      causationId: request.id,
      metadata: { traceparent: "00-aa-bb-01" },
    });
    expect(reply.id).not.toBe(request.id);
    const error = errorReply(request, { code: "agent_failed", message: "no" });
    expect(error).toMatchObject({
      type: "error",
      correlationId: request.id,
      payload: { code: "agent_failed" },
    });
    expect(parseMessage(JSON.parse(JSON.stringify(reply)))).toEqual(reply);
  });

  it("rejects any malformed envelope with a typed error naming every problem", () => {
    const valid = createMessage({ from: "a", to: "b", payload: 1 });
    const fields = ["id", "from", "to", "type", "timestamp", "metadata"] as const;
    fc.assert(
      fc.property(
        fc.subarray([...fields], { minLength: 1 }),
        fc.constantFrom(undefined, "", 42, "bogus", {}),
        (broken, bad) => {
          const value: Record<string, unknown> = { ...valid };
          for (const field of broken) value[field] = bad;
          let error: unknown;
          try {
            parseMessage(value);
          } catch (e) {
            error = e;
          }
          // some replacements are still valid values (a string id, `{}` metadata): only check the invalid ones
          const invalid = broken.filter((f) => {
            if (f === "metadata") return bad === undefined || typeof bad !== "object";
            if (f === "timestamp") return typeof bad !== "number";
            if (f === "type") return true;
            return typeof bad !== "string" || bad === "";
          });
          if (invalid.length === 0) return error === undefined;
          return (
            error instanceof InvalidMessageError &&
            invalid.every((f) => error.issues.some((issue) => issue.startsWith(`${f}:`)))
          );
        },
      ),
    );
    expect(() => parseMessage("nope")).toThrow(InvalidMessageError);
  });
});

describe("AgentContext", () => {
  it("keeps namespaces apart, updates atomically, and notifies subscribers of their namespace", async () => {
    const system = start();
    const shared = await AgentContext.start(system);
    const research = shared.namespace("research");
    const writing = shared.namespace("writing");
    const changes: ContextChange[] = [];
    const unsubscribe = research.subscribe((c) => changes.push(c));
    await research.put("topic", "tides");
    await writing.put("topic", "poems");
    expect(research.get("topic")).toBe("tides");
    expect(writing.get("topic")).toBe("poems");
    await Promise.all(
      Array.from({ length: 20 }, () => research.update<number>("count", (n) => (n ?? 0) + 1)),
    );
    expect(research.get("count")).toBe(20);
    expect(research.has("count")).toBe(true);
    expect(research.keys().sort()).toEqual(["count", "topic"]);
    expect(Object.fromEntries(writing.entries())).toEqual({ topic: "poems" });
    await research.put("topic", "waves");
    expect(await research.delete("topic")).toBe(true);
    expect(await research.delete("topic")).toBe(false);
    unsubscribe();
    await research.put("after", 1);
    expect(changes.map((c) => `${c.kind}:${c.key}`)).toEqual([
      "insert:topic",
      "insert:count",
      ...Array.from({ length: 19 }, () => "update:count"),
      "update:topic",
      "delete:topic",
    ]);
    expect(changes.at(-2)).toEqual({ key: "topic", kind: "update", old: "tides", value: "waves" });
    await shared.stop();
  });
});

describe("orchestrations as actors", () => {
  it("resolves with the logic's result; a stop cancels the agent runs it started (the HTTP request closes)", async () => {
    const llm = await serve([{ text: "quick" }, { text: "slow" }]);
    const agent = agentOn(llm, "a");
    const logic = orchestrationLogic(
      async (input: string, signal) => (await runToResult(agent, input, signal)).text,
    );
    expect(await startOrchestration(logic, "hi").result).toBe("quick");

    llm.reset([{ text: "slow" }]);
    const slow = await serve([{ text: "slow" }], { firstByteMs: 5_000 });
    const slowAgent = agentOn(slow, "b");
    const running = startOrchestration(
      orchestrationLogic((input: string, signal) => runToResult(slowAgent, input, signal)),
      "hi",
    );
    while (slow.requests.length === 0) await new Promise((r) => setImmediate(r));
    running.stop();
    running.stop(); // twice is harmless
    await expect(running.result).rejects.toBeInstanceOf(CancelledError);
    await slow.idle();
    expect(slow.requests[0]?.disconnected).toBe(true);
    await slow.stop();

    const aborted = startOrchestration(logic, "x", { signal: AbortSignal.abort() });
    await expect(aborted.result).rejects.toBeInstanceOf(CancelledError);
  });

  it("turns a paused run into a typed error", async () => {
    const llm = await serve([{ toolCalls: [{ name: "pay", arguments: {} }] }]);
    const agent = agentOn(llm, "payer", { tools: [approvalTool("pay")] });
    const error = await runToResult(agent, "pay").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentPausedError);
    expect((error as AgentPausedError).calls).toEqual(["pay"]);
  });

  it("reports start, per-agent results, stop and exceptions on the bus, and nothing when detached", () => {
    const telemetry = new Telemetry();
    expect(orchestrationEvents(telemetry, "parallel", {}).agent).toBeTypeOf("function"); // no handler: no-op
    const seen: string[] = [];
    telemetry.attach("t", "*", (event, measurements, metadata) =>
      seen.push(
        `${event.join(".")} ${JSON.stringify(measurements)} ${String(metadata.agentId ?? metadata.id)}`,
      ),
    );
    let now = 100;
    const events = orchestrationEvents(telemetry, "parallel", { id: "o1" }, () => now);
    now = 130;
    events.agent("a", { ok: true, durationMs: 20 });
    events.agent("b", { ok: false, durationMs: 5, error: new Error("x") });
    events.stop({ agents: 2 });
    events.exception(new Error("late"));
    expect(seen).toEqual([
      "normandy.orchestration.parallel.start {} o1",
      'normandy.orchestration.parallel.agent {"duration":20} a',
      'normandy.orchestration.parallel.agent {"duration":5} b',
      'normandy.orchestration.parallel.stop {"duration":30,"agents":2} o1',
      'normandy.orchestration.parallel.exception {"duration":30} o1',
    ]);
    expect(orchestrationEvents(undefined, "x", {})).toBe(orchestrationEvents(undefined, "y", {}));
  });
});
