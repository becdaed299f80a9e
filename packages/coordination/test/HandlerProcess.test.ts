// Model-less participants: the same AgentMessage protocol as agent processes (validated payloads, correlated
// replies, typed error replies, dead letters, casts with reply-to, stats), so clients and orchestrators use
// them like agents.
import {
  AgentProcessClient,
  type AgentReplyEvent,
  AgentRunError,
  agentProcessName,
  defineHandlerProcess,
  InvalidMessageError,
  runParallel,
} from "@normandy/coordination";
import type { DeadLetter } from "@normandy/runtime";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { replyInbox, useFixtures } from "./support.js";

const fixtures = useFixtures();

async function start() {
  const sys = fixtures.start();
  await sys.spawn(
    defineHandlerProcess({
      id: "adder",
      input: z.object({ a: z.number(), b: z.number() }),
      handle: ({ a, b }, { message }) => {
        if (a < 0) throw new RangeError(`no negatives (request ${message.id})`);
        return { chat_message: String(a + b) };
      },
    }),
    { name: agentProcessName("adder") },
  );
  return sys;
}

describe("a handler process", () => {
  it("answers requests with correlated replies and counts them", async () => {
    const sys = await start();
    const client = new AgentProcessClient<{ a: number; b: number }>(sys, "adder");
    const reply = await client.request({ a: 2, b: 3 });
    expect(reply).toMatchObject({
      type: "response",
      from: "adder",
      payload: { status: "done", output: { chat_message: "5" }, text: "5", steps: [] },
    });
    const error = (await client.request({ a: -1, b: 0 }).catch((e: unknown) => e)) as AgentRunError;
    expect(error).toBeInstanceOf(AgentRunError);
    expect(error.errorName).toBe("RangeError");
    expect(await client.stats()).toMatchObject({ id: "adder", runs: 2, failures: 1, messages: 0 });
    // what it does not keep, it says so
    await expect(client.memory()).rejects.toBeInstanceOf(AgentRunError);
    await expect(client.update({ temperature: 0 })).rejects.toBeInstanceOf(AgentRunError);
    await expect(client.approve("x")).rejects.toBeInstanceOf(AgentRunError);
  });

  it("rejects invalid payloads with a typed error and a dead letter, for calls and casts", async () => {
    const sys = await start();
    const letters: DeadLetter[] = [];
    sys.onDeadLetter((l) => letters.push(l));
    const client = new AgentProcessClient<unknown>(sys, "adder");
    const error = (await client.request({ a: "two" }).catch((e: unknown) => e)) as InvalidMessageError;
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect(error.issues.map((i) => i.split(":")[0])).toEqual(["payload.a", "payload.b"]);
    const got: AgentReplyEvent[] = [];
    const inbox = await replyInbox(sys, (e) => got.push(e));
    const bad = client.cast({ a: 1 }, { replyTo: inbox });
    const good = client.cast({ a: 1, b: 1 }, { replyTo: inbox });
    client.cast({ a: 5, b: 5 }); // no reply-to: handled, nothing sent
    client.cancel(good.id); // nothing runs long enough to cancel: ignored
    await client.stats(); // the casts before it are handled by now (one mailbox, in order)
    expect(got.map((e) => [e.message.type, e.message.correlationId])).toEqual([
      ["error", bad.id],
      ["response", good.id],
    ]);
    expect(letters.map((l) => l.reason)).toEqual(["invalid", "invalid"]);
    expect((await client.stats()).runs).toBe(2);
  });

  it("serves as a Runnable for orchestrators", async () => {
    const sys = await start();
    const client = new AgentProcessClient<{ a: number; b: number }>(sys, "adder");
    const result = await runParallel(
      [1, 2, 3].map((n) => ({ id: `n${n}`, agent: client as never, input: { a: n, b: n } })),
      { maxConcurrency: 3 },
    );
    await sys.spawn(defineHandlerProcess({ id: "echo", handle: (p: unknown) => p }), {
      name: agentProcessName("echo"),
    });
    const echo = new AgentProcessClient<unknown, unknown>(sys, "echo");
    const texts = await Promise.all(
      ["hi", { n: 1 }].map(async (p) => (await echo.run(p as never)) as { text: string }),
    );
    expect(texts.map((t) => t.text)).toEqual(["hi", '{"n":1}']);
    expect(result.results).toEqual({
      n1: { chat_message: "2" },
      n2: { chat_message: "4" },
      n3: { chat_message: "6" },
    });
  });
});
