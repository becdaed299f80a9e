// Agent processes through the loopback LLM server: AgentMessage request/reply with correlation, serialized
// turns, invalid payloads rejected to the sender and dead-lettered, durability across a crash (memory and the
// interrupted turn restored; idempotent redelivery continues it), casts with reply-to, cancellation, deadlines,
// definition updates, approvals, typed failures, and the agent supervisor's management API.
import { type AgentDefinition, ConversationMemory, defineTool, OpenAIProvider } from "@normandy/agents";
import {
  AgentProcessClient,
  type AgentReplyEvent,
  AgentRunError,
  AgentSupervisor,
  AgentSupervisorError,
  AgentTimeoutError,
  agentChildSpec,
  agentProcessName,
  CancelledError,
  createMessage,
  defineAgentProcess,
  defineAgentSupervisor,
  InvalidMessageError,
} from "@normandy/coordination";
import {
  CallExitError,
  crash,
  type DeadLetter,
  defineSupervisor,
  MemorySnapshotStore,
} from "@normandy/runtime";
import type { LoopbackLLMServer } from "@normandy/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { deferred, replyInbox, useFixtures } from "./support.js";

const { serve, start: startSystem } = useFixtures();

let toolStarted: (() => void) | undefined;
let toolSignal: AbortSignal | undefined;
const hang = defineTool({
  name: "hang",
  description: "never returns until aborted",
  input: z.object({}),
  run: (_input, ctx) => {
    toolSignal = ctx.signal;
    toolStarted?.();
    return new Promise(() => {});
  },
});
const approveMe = defineTool({
  name: "transfer",
  description: "moves money",
  input: z.object({ amount: z.number() }),
  needsApproval: true,
  run: ({ amount }) => `moved ${amount}`,
});

const toolRunning = () =>
  new Promise<void>((resolve) => {
    toolStarted = resolve;
  });

function definition<I = { chat_message: string }>(
  server: LoopbackLLMServer,
  extra: Partial<AgentDefinition<unknown, unknown>> = {},
) {
  return {
    name: "assistant",
    provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
    model: "gpt-4o",
    tools: [hang, approveMe],
    ...extra,
  } as AgentDefinition<I, { chat_message: string }>;
}

/** An actor system with a snapshot store (a fresh in-memory one unless given). */
function start(store = new MemorySnapshotStore()) {
  return startSystem({ snapshotStore: store });
}

const roles = (dump: string) =>
  ConversationMemory.load(dump)
    .messages()
    .map((m) => m.role);

describe("an agent process", () => {
  it("answers a request with a correlated reply and keeps the conversation; turns are serialized", async () => {
    const server = await serve([{ text: "first" }, { text: "second" }], { firstByteMs: 5 });
    const system = start();
    const agents = await AgentSupervisor.start(system, { name: "agents" });
    const client = await agents.startAgent({ id: "a1", definition: definition(server) });
    const [one, two] = await Promise.all([client.request("one"), client.request("two")]);
    expect(one.type).toBe("response");
    expect(one.from).toBe("a1");
    expect(one.to).toBe("client");
    expect(one.payload.status === "done" && one.payload.output.chat_message).toBe("first");
    expect(two.payload.status === "done" && two.payload.output.chat_message).toBe("second");
    expect(one.correlationId).not.toBe(two.correlationId);
    // the second turn saw the whole first one: the turns did not interleave
    const second = server.requests[1]?.body as { messages: { role: string }[] };
    expect(second.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    const stats = await client.stats();
    expect(stats).toMatchObject({ id: "a1", runs: 2, failures: 0, queued: 0, running: false, messages: 4 });
    expect(stats.inputTokens).toBeGreaterThan(0);
    expect(stats.lastRunAt).toBeTypeOf("number");
    expect(roles(await client.memory())).toEqual(["user", "assistant", "user", "assistant"]);
  });

  it("rejects an invalid payload with a typed error and a dead letter, and runs nothing", async () => {
    const server = await serve([{ text: "never" }]);
    const system = start();
    const letters: DeadLetter[] = [];
    system.onDeadLetter((l) => letters.push(l));
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent<{ chat_message: number }>({
      id: "v",
      definition: definition<{ chat_message: number }>(server),
    });
    const error = await client.request({ chat_message: 42 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect((error as InvalidMessageError).issues[0]).toMatch(/^payload\.chat_message:/);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ to: agents.findAgent("v"), reason: "invalid" });
    expect(server.requests).toHaveLength(0);
    // a cast is rejected the same way, to its reply-to address
    const received: AgentReplyEvent[] = [];
    const inbox = await replyInbox(system, (e) => received.push(e));
    const sent = client.cast({ chat_message: 7 }, { replyTo: inbox });
    expect(received[0]?.message.type).toBe("error");
    expect(received[0]?.message.correlationId).toBe(sent.id);
    expect(letters).toHaveLength(2);
  });

  it("sends a cast's reply to its reply-to address, correlated", async () => {
    const server = await serve([{ text: "cast answer" }]);
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "c", definition: definition(server) });
    const got = deferred<AgentReplyEvent>();
    const inbox = await replyInbox(system, got.resolve);
    const sent = client.cast("hello", { replyTo: inbox, metadata: { traceparent: "00-abc-def-01" } });
    const event = await got.promise;
    expect(event.message).toMatchObject({
      type: "response",
      correlationId: sent.id,
      causationId: sent.id,
      metadata: { traceparent: "00-abc-def-01" },
    });
    // fire and forget: no reply-to, the run still happens and is counted
    client.cast("again");
    server.append({ text: "second cast" });
    while ((await client.stats()).runs < 2) await new Promise((r) => setImmediate(r));
  });

  it("restores its conversation after a crash mid-turn; the caller gets a typed error", async () => {
    const store = new MemorySnapshotStore();
    const server = await serve([
      { text: "remember 42" },
      { toolCalls: [{ name: "hang", arguments: {} }] },
      { text: "still here" },
    ]);
    const system = start(store);
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "d", definition: definition(server) });
    await client.request("the number is 42");
    const conversation = ConversationMemory.load(await client.memory()).conversationId;
    const running = toolRunning();
    const pending = client.request("use a tool").catch((e: unknown) => e);
    await running;
    const before = agents.findAgent("d") as string;
    system.exit(before, crash(new Error("boom")));
    expect(await pending).toBeInstanceOf(CallExitError);
    expect(toolSignal?.aborted).toBe(true);
    expect(agents.findAgent("d")).not.toBe(before);
    // the answered turn and the completed step of the interrupted one are back; the cut call is closed
    expect(roles(await client.memory())).toEqual(["user", "assistant", "user", "assistant", "tool"]);
    expect(ConversationMemory.load(await client.memory()).conversationId).toBe(conversation); // the same conversation
    const reply = await client.request("what was the number?");
    expect(reply.payload.status === "done" && reply.payload.output.chat_message).toBe("still here");
    const last = server.requests[2]?.body as { messages: { role: string; content: unknown }[] };
    expect(last.messages.map((m) => m.role)).toEqual([
      "system",
      "user",
      "assistant",
      "user",
      "assistant",
      "tool",
      "user",
    ]);
    expect(String(last.messages[5]?.content)).toMatch(/Interrupted/);
    expect((await client.stats()).restores).toBe(1);
  });

  it("redelivers an idempotent request once after a crash, continuing the interrupted turn", async () => {
    const server = await serve([
      { toolCalls: [{ name: "hang", arguments: {} }] },
      { text: "done after restart" },
    ]);
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "i", definition: definition(server) });
    const running = toolRunning();
    const pending = client.request("do it", { idempotent: true });
    await running;
    system.exit(agents.findAgent("i") as string, crash(new Error("boom")));
    const reply = await pending;
    expect(reply.payload.status === "done" && reply.payload.output.chat_message).toBe("done after restart");
    // the user's message is not repeated: the turn went on from its last completed step
    expect(roles(await client.memory())).toEqual(["user", "assistant", "tool", "assistant"]);
  });

  it("cancels a running request (its HTTP request closes) and a queued one", async () => {
    const server = await serve([{ text: "slow" }, { text: "next" }], { firstByteMs: 5_000 });
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "x", definition: definition(server) });
    const controller = new AbortController();
    const queued = new AbortController();
    const first = client.request("one", { signal: controller.signal }).catch((e: unknown) => e);
    const second = client.request("two", { signal: queued.signal }).catch((e: unknown) => e);
    while (server.requests.length === 0) await new Promise((r) => setImmediate(r));
    queued.abort();
    expect(await second).toBeInstanceOf(CancelledError);
    controller.abort();
    expect(await first).toBeInstanceOf(CancelledError);
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
    expect(server.requests).toHaveLength(1);
    expect(
      await client.request("three", { signal: AbortSignal.abort() }).catch((e: unknown) => e),
    ).toBeInstanceOf(CancelledError);
  });

  it("answers a request whose deadline passed in the queue with a timeout error", async () => {
    const server = await serve([{ text: "slow" }], { firstByteMs: 50 });
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "t", definition: definition(server) });
    const first = client.request("one");
    const late = await system
      .call(agentProcessName("t"), {
        type: "request",
        message: createMessage({ from: "me", to: "t", payload: "two", timeoutMs: 1 }),
      })
      .catch((e: unknown) => e);
    await first;
    expect((late as { type: string; payload: { code: string } }).payload.code).toBe("agent_timeout");
    // through the client, a reply later than the timeout is a typed timeout too, and the run is cancelled
    server.append({ text: "too slow" });
    const error = await client.request("three", { timeoutMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentTimeoutError);
    await server.idle();
    expect(server.requests.at(-1)?.disconnected).toBe(true);
  });

  it("updates its definition and keeps the conversation; refuses while running", async () => {
    const server = await serve([{ text: "a" }, { text: "b" }]);
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "u", definition: definition(server) });
    await client.request("one");
    await client.update({ model: "gpt-4o-mini", temperature: 0.1 });
    await client.request("two");
    const body = server.requests[1]?.body as { model: string; temperature: number; messages: unknown[] };
    expect(body).toMatchObject({ model: "gpt-4o-mini", temperature: 0.1 });
    expect(body.messages).toHaveLength(4);
  });

  it("pauses for approval and resumes through the process", async () => {
    const server = await serve([
      { toolCalls: [{ name: "transfer", arguments: { amount: 5 } }] },
      { text: "moved" },
    ]);
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "p", definition: definition(server) });
    const paused = await client.request("pay");
    if (paused.payload.status !== "awaiting_approval") throw new Error("expected a pause");
    const call = paused.payload.calls[0];
    expect(call?.name).toBe("transfer");
    // a paused agent refuses updates; its stats say it is busy
    await expect(client.update({ temperature: 0 })).rejects.toBeInstanceOf(AgentRunError);
    const done = await client.approve(call?.id as string);
    expect(done.status === "done" && done.output.chat_message).toBe("moved");
    await expect(client.approve("nothing")).rejects.toBeInstanceOf(AgentRunError);
  });

  it("surfaces a provider failure as a typed error and counts it", async () => {
    const server = await serve([{ fault: { kind: "authentication" } }]);
    const system = start();
    const agents = await AgentSupervisor.start(system);
    const client = await agents.startAgent({ id: "f", definition: definition(server) });
    const error = (await client.request("hi").catch((e: unknown) => e)) as AgentRunError;
    expect(error).toBeInstanceOf(AgentRunError);
    expect(error.errorName).toBe("ProviderError");
    expect((await client.stats()).failures).toBe(1);
    // as a Runnable, the same client runs like an agent
    server.append({ text: "fine" });
    const run = await client.run("again");
    expect(run.status === "done" && run.output.chat_message).toBe("fine");
  });
});

describe("the agent supervisor", () => {
  it("starts, lists, counts, finds, terminates agents; ids are unique", async () => {
    const server = await serve([]);
    const system = start();
    const agents = await AgentSupervisor.start(system, { name: "team" });
    await agents.startAgent({ id: "a", definition: definition(server) });
    await agents.startAgent({
      id: "b",
      definition: definition(server),
      durable: false,
      restart: "permanent",
    });
    expect(await agents.countAgents()).toBe(2);
    expect((await agents.listAgents()).map((a) => a.id).sort()).toEqual(["a", "b"]);
    expect(agents.findAgent("a")).toBe(system.whereis("agent:a"));
    const dup = await agents.startAgent({ id: "a", definition: definition(server) }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(AgentSupervisorError);
    await agents.terminateAgent("a");
    expect(agents.findAgent("a")).toBeUndefined();
    await expect(agents.terminateAgent("a")).rejects.toBeInstanceOf(AgentSupervisorError);
    await agents.terminateAll();
    expect(await agents.countAgents()).toBe(0);
    expect(agents.client("z")).toBeInstanceOf(AgentProcessClient);
  });

  it("nests under any runtime supervisor, and agents can be static children too", async () => {
    const server = await serve([{ text: "static" }]);
    const system = start();
    await system.spawn(
      defineSupervisor({
        strategy: "one_for_one",
        children: [
          { id: "agents", start: defineAgentSupervisor({ intensity: 5 }), name: "nested" },
          agentChildSpec({ id: "s", definition: definition(server) }),
        ],
      }),
    );
    const nested = new AgentSupervisor(system, "nested");
    expect(await nested.countAgents()).toBe(0);
    const reply = await new AgentProcessClient(system, "s").request("hi");
    expect(reply.payload.status).toBe("done");
    // a stand-alone process works without a supervisor too
    await system.spawn(defineAgentProcess({ id: "solo", definition: definition(server) }), {
      name: agentProcessName("solo"),
    });
    expect((await new AgentProcessClient(system, "solo").stats()).runs).toBe(0);
  });
});
