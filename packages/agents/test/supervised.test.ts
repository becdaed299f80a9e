// The agent as a process under the runtime's supervisors: runs are handled by a server, a crash of the
// process aborts its in-flight model and tool calls, the caller gets a typed error, and the supervisor
// restarts it ready for the next call. (Durable agent processes, which keep memory across a restart,
// are the coordination package's.)
import { defineAgent, defineTool, OpenAIProvider } from "@normandy/agents";
import { ActorSystem, CallExitError, crash, defineServer, defineSupervisor, reply } from "@normandy/runtime";
import { LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

let llm: LoopbackLLMServer | undefined;
let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  await llm?.stop();
});

let toolSignal: AbortSignal | undefined;
const hang = defineTool({
  name: "hang",
  description: "never returns until aborted",
  input: z.object({}),
  run: (_input, ctx) => {
    toolSignal = ctx.signal;
    return new Promise(() => {});
  },
});

async function start(script: ScriptedTurn[], latency?: { firstByteMs: number }) {
  toolSignal = undefined;
  llm = await new LoopbackLLMServer({ script, ...(latency && { latency }) }).start();
  const baseURL = llm.openaiBaseURL;
  const assistant = defineServer({
    name: "assistant",
    init: () => ({
      agent: defineAgent({
        name: "assistant",
        provider: new OpenAIProvider({ apiKey: "t", baseURL }),
        model: "gpt-4o",
        tools: [hang],
      }),
    }),
    // the process's signal aborts when it exits: the run's HTTP request and tools stop with it
    handleCall: async (m: { type: "ask"; text: string }, _from, state, ctx) => {
      const result = await state.agent.run(m.text, { signal: ctx.signal });
      if (result.status !== "done") throw new Error("paused");
      return reply({ answer: result.output.chat_message, messages: state.agent.memory.size }, state);
    },
  });
  system = ActorSystem.start();
  await system.spawn(
    defineSupervisor({
      strategy: "one_for_one",
      children: [{ id: "assistant", start: assistant, name: "assistant" }],
    }),
  );
  return system;
}

const ask = (sys: ActorSystem, text: string) =>
  sys.call("assistant", { type: "ask", text }, { timeout: 10_000 }) as Promise<unknown>;

describe("an agent under a supervisor", () => {
  it("serves runs as calls and keeps its conversation between them", async () => {
    const sys = await start([{ text: "first answer" }, { text: "second answer" }]);
    expect(await ask(sys, "one")).toEqual({ answer: "first answer", messages: 2 });
    expect(await ask(sys, "two")).toEqual({ answer: "second answer", messages: 4 });
    const second = llm?.requests[1]?.body as { messages: { role: string }[] };
    expect(second.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
  });

  it("a crash mid-tool aborts the tool, fails the caller with a typed error, and restarts the agent", async () => {
    const sys = await start([{ toolCalls: [{ name: "hang", arguments: {} }] }, { text: "back" }]);
    const before = sys.whereis("assistant");
    const pending = ask(sys, "go").catch((e: unknown) => e);
    while (toolSignal === undefined) await new Promise((r) => setTimeout(r, 2));
    sys.exit(before as string, crash(new Error("agent process crashed")));
    expect(await pending).toBeInstanceOf(CallExitError);
    expect(toolSignal.aborted).toBe(true);
    const after = sys.whereis("assistant");
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(await ask(sys, "again")).toEqual({ answer: "back", messages: 2 }); // a fresh, working agent
  });

  it("a crash mid-model-call closes the HTTP request", async () => {
    const sys = await start([{ text: "too late" }], { firstByteMs: 5_000 });
    const pending = ask(sys, "slow").catch((e: unknown) => e);
    while (llm?.requests.length === 0) await new Promise((r) => setTimeout(r, 2));
    sys.exit(sys.whereis("assistant") as string, crash(new Error("agent process crashed")));
    expect(await pending).toBeInstanceOf(CallExitError);
    await llm?.idle();
    expect(llm?.requests[0]?.disconnected).toBe(true);
  });
});
