// Workflows as XState machines whose states invoke real agents (agentLogic) against the loopback LLM
// server: guards on agent outputs, parallel states, `after` timeouts, retries on the runtime clock,
// durability across a new ActorSystem (no completed step re-run), supervision, human approval across a
// restart, telemetry and the inspector.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineTool, ProviderError, RetryExhaustedError } from "@normandy/agents";
import {
  AgentPausedError,
  agentLogic,
  CancelledError,
  InvalidWorkflowError,
  runWorkflow,
  startWorkflow,
  WorkflowError,
  WorkflowInterruptedError,
  WorkflowTimeoutError,
  workflowChild,
  workflowLogic,
} from "@normandy/coordination";
import {
  crash,
  defineSupervisor,
  FileSnapshotStore,
  ManualClock,
  MemorySnapshotStore,
  type SnapshotStore,
  Telemetry,
} from "@normandy/runtime";
import type { LoopbackLLMServer, ScriptedTurn } from "@normandy/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AnyActorRef,
  assign,
  createActor,
  type InspectionEvent,
  setup,
  toPromise,
  waitFor,
} from "xstate";
import { z } from "zod";
import { agentFactory, agentOn, deferred, hanging, lastUserText, refOf, useFixtures } from "./support.js";

const dirs: string[] = [];
// registered before useFixtures, so it runs after its hook (vitest runs afterEach hooks last-registered
// first): the systems writing snapshots into these directories are shut down before they are removed
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const { serve, start } = useFixtures({ shutdownTimeout: 0 });

/** research → summarise → title, each step fed the previous output (string srcs, context as JSON). */
function pipeline(server: LoopbackLLMServer) {
  return setup({
    types: {
      context: {} as { topic: string; notes?: string; summary?: string; title?: string },
      input: {} as { topic: string },
      output: {} as { notes: string | undefined; summary: string | undefined; title: string | undefined },
    },
    actors: {
      research: agentLogic(agentFactory(server, "researcher")),
      summarise: agentLogic(agentFactory(server, "summariser")),
      title: agentLogic(agentFactory(server, "titler")),
    },
  }).createMachine({
    id: "pipeline",
    context: ({ input }) => ({ topic: input.topic }),
    initial: "research",
    states: {
      research: {
        invoke: {
          src: "research",
          input: ({ context }) => `research ${context.topic}`,
          onDone: {
            target: "summarise",
            actions: assign({ notes: ({ event }) => event.output.chat_message }),
          },
        },
      },
      summarise: {
        invoke: {
          src: "summarise",
          input: ({ context }) => `summarise ${context.notes}`,
          onDone: { target: "title", actions: assign({ summary: ({ event }) => event.output.chat_message }) },
        },
      },
      title: {
        invoke: {
          src: "title",
          input: ({ context }) => `title ${context.summary}`,
          onDone: { target: "done", actions: assign({ title: ({ event }) => event.output.chat_message }) },
        },
      },
      done: { type: "final" },
    },
    output: ({ context }) => ({ notes: context.notes, summary: context.summary, title: context.title }),
  });
}

describe("agentLogic in a hand-written workflow machine", () => {
  function triage(server: LoopbackLLMServer) {
    return setup({
      types: { context: {} as { ticket: string; label?: string; answer?: string }, input: {} as string },
      actors: {
        classify: agentLogic(agentFactory(server, "classifier"), {
          select: (r) => r.output.chat_message.trim(),
        }),
        escalate: agentLogic(agentFactory(server, "escalation")),
        reply: agentLogic(agentFactory(server, "support")),
      },
    }).createMachine({
      id: "triage",
      context: ({ input }) => ({ ticket: input }),
      initial: "classify",
      states: {
        classify: {
          invoke: {
            src: "classify",
            input: ({ context }) => context.ticket,
            onDone: [
              {
                guard: ({ event }) => event.output === "URGENT",
                target: "escalate",
                actions: assign({ label: ({ event }) => event.output }),
              },
              { target: "reply", actions: assign({ label: ({ event }) => event.output }) },
            ],
          },
        },
        escalate: {
          invoke: {
            src: "escalate",
            input: ({ context }) => `page on-call: ${context.ticket}`,
            onDone: { target: "done", actions: assign({ answer: ({ event }) => event.output.chat_message }) },
          },
        },
        reply: {
          invoke: {
            src: "reply",
            input: ({ context }) => `answer: ${context.ticket}`,
            onDone: { target: "done", actions: assign({ answer: ({ event }) => event.output.chat_message }) },
          },
        },
        done: { type: "final" },
      },
      output: ({ context }) => ({ label: context.label, answer: context.answer }),
    });
  }

  it("runs steps in order and routes on a guard over an agent's output", async () => {
    const server = await serve([
      { text: "URGENT" },
      { text: "paged" },
      { text: "ROUTINE" },
      { text: "see FAQ" },
    ]);
    const system = start();
    const machine = triage(server);
    expect(await runWorkflow(system, machine, "site down", { name: "t1" })).toEqual({
      label: "URGENT",
      answer: "paged",
    });
    expect(lastUserText(server.requests[1])).toBe("page on-call: site down");
    expect(await runWorkflow(system, machine, "password?", { name: "t2" })).toEqual({
      label: "ROUTINE",
      answer: "see FAQ",
    });
    expect(lastUserText(server.requests[3])).toBe("answer: password?");
    expect(server.requests).toHaveLength(4);
  });

  it("runs the regions of a parallel state at once and joins them", async () => {
    // each reply waits for both requests: the workflow only finishes if they are in flight together
    const both = deferred();
    let arrived = 0;
    // answers by the request, not by arrival order
    const barrier: ScriptedTurn = async (request) => {
      if (++arrived === 2) both.resolve();
      await both.promise;
      return { text: lastUserText(request) === "argue for" ? "pro" : "con" };
    };
    const server = await serve([barrier, barrier]);
    const machine = setup({
      types: { context: {} as { pro?: string; con?: string } },
      actors: { pro: agentLogic(agentFactory(server, "pro")), con: agentLogic(agentFactory(server, "con")) },
    }).createMachine({
      id: "debate",
      context: {},
      type: "parallel",
      states: {
        pro: {
          initial: "arguing",
          states: {
            arguing: {
              invoke: {
                src: "pro",
                input: "argue for",
                onDone: {
                  target: "rested",
                  actions: assign({ pro: ({ event }) => event.output.chat_message }),
                },
              },
            },
            rested: { type: "final" },
          },
        },
        con: {
          initial: "arguing",
          states: {
            arguing: {
              invoke: {
                src: "con",
                input: "argue against",
                onDone: {
                  target: "rested",
                  actions: assign({ con: ({ event }) => event.output.chat_message }),
                },
              },
            },
            rested: { type: "final" },
          },
        },
      },
      output: ({ context }) => context,
    });
    const output = await runWorkflow(start(), machine, undefined, { name: "debate" });
    expect(output).toEqual({ pro: "pro", con: "con" });
  });

  it("takes an `after` timeout path, aborting the agent's in-flight request", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const clock = new ManualClock();
    const machine = setup({
      types: { context: {} as { onTime?: boolean } },
      actors: { draft: agentLogic(agentFactory(server, "drafter")) },
    }).createMachine({
      id: "deadline",
      context: {},
      initial: "drafting",
      states: {
        drafting: {
          invoke: { src: "draft", input: "write", onDone: "drafted" },
          after: { 5000: "late" },
        },
        drafted: { type: "final", entry: assign({ onTime: true }) },
        late: { type: "final", entry: assign({ onTime: false }) },
      },
      output: ({ context }) => context,
    });
    const run = await startWorkflow(start({ clock }), machine, undefined, { name: "deadline" });
    await slow.arrived;
    await clock.advance(4_999);
    expect(server.requests[0]?.outcome).toBe("in_flight");
    await clock.advance(1);
    expect(await run.result).toEqual({ onTime: false });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("retries a provider fault with backoff on the actor system's clock", async () => {
    const server = await serve([{ fault: { kind: "server_error" } }, { text: "recovered" }]);
    const clock = new ManualClock();
    const retrying = deferred<number>();
    const machine = setup({
      actors: {
        ask: agentLogic(agentFactory(server, "flaky"), {
          retry: {
            maxAttempts: 3,
            baseDelayMs: 1_000,
            jitter: false,
            onRetry: (i) => retrying.resolve(i.delayMs),
          },
        }),
      },
    }).createMachine({
      id: "retrying",
      initial: "asking",
      states: { asking: { invoke: { src: "ask", input: "hello", onDone: "done" } }, done: { type: "final" } },
    });
    const run = await startWorkflow(start({ clock }), machine, undefined, { name: "retrying" });
    expect(await retrying.promise).toBe(1_000);
    await clock.advance(999);
    expect(server.requests).toHaveLength(1); // still waiting on the manual clock
    await clock.advance(1);
    await run.result;
    expect(server.requests).toHaveLength(2);
    expect(server.requests.map((r) => r.status)).toEqual([500, 200]);
  });

  it("does not retry what a retry cannot fix, and reports exhausted retries", async () => {
    const server = await serve([
      { fault: { kind: "authentication" } },
      { fault: { kind: "server_error" } },
      { fault: { kind: "server_error" } },
    ]);
    const system = start();
    const once = (name: string) =>
      setup({
        actors: {
          ask: agentLogic(agentFactory(server, name), {
            retry: { maxAttempts: 2, baseDelayMs: 1, jitter: false },
          }),
        },
      }).createMachine({
        id: name,
        initial: "asking",
        states: { asking: { invoke: { src: "ask", input: "hi", onDone: "done" } }, done: { type: "final" } },
      });
    const auth = await runWorkflow(system, once("auth"), undefined, { name: "auth" }).catch(
      (e: unknown) => e,
    );
    expect(auth).toBeInstanceOf(WorkflowError);
    expect((auth as WorkflowError).cause).toBeInstanceOf(ProviderError);
    expect(((auth as WorkflowError).cause as ProviderError).kind).toBe("auth");
    expect(server.requests).toHaveLength(1);
    const flaky = await runWorkflow(system, once("flaky"), undefined, { name: "flaky" }).catch(
      (e: unknown) => e,
    );
    expect((flaky as WorkflowError).cause).toBeInstanceOf(RetryExhaustedError);
    expect(((flaky as WorkflowError).cause as RetryExhaustedError).attempts).toHaveLength(2);
    expect(server.requests).toHaveLength(3);
  });

  it("fails a step whose run pauses for approval", async () => {
    const wire = defineTool({
      name: "wire_money",
      description: "Sends money.",
      input: z.object({ amount: z.number() }),
      needsApproval: true,
      run: async () => "sent",
    });
    const server = await serve([{ toolCalls: [{ name: "wire_money", arguments: { amount: 5 } }] }]);
    const machine = setup({
      actors: {
        pay: agentLogic(() => agentOn(server, "payer", { tools: [wire] })),
      },
    }).createMachine({
      id: "pay",
      initial: "paying",
      states: { paying: { invoke: { src: "pay", input: "pay", onDone: "done" } }, done: { type: "final" } },
    });
    const error = await runWorkflow(start(), machine, undefined, { name: "pay" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowError);
    expect((error as WorkflowError).cause).toBeInstanceOf(AgentPausedError);
  });

  it("reuses one agent across runs when given the agent itself", async () => {
    const server = await serve([{ text: "one" }, { text: "two" }]);
    const agent = agentFactory(server, "memo")();
    const logic = agentLogic(agent, { select: (r) => r.text });
    const machine = setup({ actors: { ask: logic } }).createMachine({
      id: "twice",
      initial: "first",
      states: {
        first: { invoke: { src: "ask", input: "a", onDone: "second" } },
        second: { invoke: { src: "ask", input: "b", onDone: "done" } },
        done: { type: "final" },
      },
    });
    await runWorkflow(start(), machine, undefined, { name: "twice" });
    expect(agent.memory.size).toBe(4); // the conversation carried over
    const second = server.requests[1]?.body as { messages: unknown[] };
    expect(second.messages).toHaveLength(4); // system, a, one, b
  });
});

describe("durable workflows", () => {
  it("resumes in a new ActorSystem after the last completed step, with the uninterrupted result", async () => {
    const reference = await serve([{ text: "notes" }, { text: "summary" }, { text: "Title" }]);
    const expected = await runWorkflow(start(), pipeline(reference), { topic: "tides" }, { name: "ref" });
    expect(expected).toEqual({ notes: "notes", summary: "summary", title: "Title" });

    const slow = hanging();
    const server = await serve([{ text: "notes" }, slow.turn, { text: "summary" }, { text: "Title" }]);
    const store = new MemorySnapshotStore();
    const first = start({ snapshotStore: store });
    const run = await startWorkflow(
      first,
      pipeline(server),
      { topic: "tides" },
      { name: "p", durable: "wf/p" },
    );
    const interrupted = run.result.catch((e: unknown) => e);
    await slow.arrived; // research is done, summarise is in flight
    await first.shutdown();
    expect(await interrupted).toBeInstanceOf(WorkflowInterruptedError);
    await server.idle();
    expect(server.requests[1]?.disconnected).toBe(true);
    expect(await store.keys()).toEqual(["wf/p"]);

    const second = start({ snapshotStore: store });
    const output = await runWorkflow(
      second,
      pipeline(server),
      { topic: "ignored" },
      { name: "p", durable: "wf/p" },
    );
    expect(output).toEqual(expected);
    // research ran once; the interrupted summarise ran again with the input it was invoked with
    expect(server.requests.map(lastUserText)).toEqual([
      "research tides",
      "summarise notes",
      "summarise notes",
      "title summary",
    ]);
    await second.flushSnapshots();
    expect(await store.keys()).toEqual([]); // a finished workflow's snapshot is deleted
  });

  it("a supervisor restarts a crashed durable workflow from its last snapshot", async () => {
    const slow = hanging();
    const server = await serve([{ text: "notes" }, slow.turn, { text: "summary" }, { text: "Title" }]);
    const system = start({ snapshotStore: new MemorySnapshotStore() });
    const done = deferred<unknown>();
    const errors: unknown[] = [];
    await system.spawn(
      defineSupervisor({
        intensity: 2,
        children: [
          workflowChild(pipeline(server), {
            id: "pipeline",
            name: "pipe",
            durable: "wf/pipe",
            input: { topic: "moons" },
            onDone: (output) => done.resolve(output),
            onError: (error) => errors.push(error),
          }),
        ],
      }),
    );
    await slow.arrived;
    const before = system.whereis("pipe");
    await system.flushSnapshots();
    system.exit("pipe", crash(new Error("node lost")));
    expect(await done.promise).toEqual({ notes: "notes", summary: "summary", title: "Title" });
    expect(system.whereis("pipe")).toBeUndefined(); // transient: not restarted once finished
    expect(before).toBeDefined();
    expect(server.requests.map(lastUserText)).toEqual([
      "research moons",
      "summarise notes",
      "summarise notes",
      "title summary",
    ]);
    expect(errors).toEqual([]); // a kill is not a failure of the workflow itself
  });

  it("a significant workflow child ends its supervisor when it finishes", async () => {
    const server = await serve([{ text: "notes" }, { text: "summary" }, { text: "Title" }]);
    const clock = new ManualClock();
    const telemetry = new Telemetry(clock);
    const seen: string[] = [];
    telemetry.attach("t", "*", (name, _m, metadata) => {
      if (name[1] === "orchestration") seen.push(`${name.at(-1)} ${String(metadata.workflow)}`);
    });
    const system = start({ clock, telemetry });
    const supervisor = await system.spawn(
      defineSupervisor({
        autoShutdown: "any_significant",
        children: [
          workflowChild(pipeline(server), {
            id: "nightly",
            input: { topic: "stars" },
            restart: "transient",
            significant: true,
            shutdown: 1_000,
            telemetry,
            clock,
          }),
        ],
      }),
    );
    const down = new Promise((resolve) => system.monitor(supervisor, resolve));
    expect(await down).toBe("shutdown");
    expect(seen).toEqual([
      "start nightly",
      "agent nightly",
      "agent nightly",
      "agent nightly",
      "stop nightly",
    ]);
  });

  it("a failed durable workflow keeps its snapshot: running it again retries from the failed step", async () => {
    const server = await serve([
      { text: "notes" },
      { fault: { kind: "context_length" } },
      { text: "summary" },
      { text: "Title" },
    ]);
    const store = new MemorySnapshotStore();
    const system = start({ snapshotStore: store });
    const options = { name: "p", durable: "wf/retry" };
    const error = await runWorkflow(system, pipeline(server), { topic: "x" }, options).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowError);
    expect(await store.keys()).toEqual(["wf/retry"]);
    const output = await runWorkflow(system, pipeline(server), { topic: "x" }, options);
    expect(output.title).toBe("Title");
    expect(server.requests.map(lastUserText)).toEqual([
      "research x",
      "summarise notes",
      "summarise notes",
      "title summary",
    ]);
  });

  it("a suspended workflow (stopped with a reason other than normal) keeps its snapshot", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const store = new MemorySnapshotStore();
    const system = start({ snapshotStore: store });
    const run = await startWorkflow(system, pipeline(server), { topic: "x" }, { name: "s", durable: "wf/s" });
    await slow.arrived;
    const outcome = run.result.catch((e: unknown) => e);
    await system.stop("s", { reason: "shutdown" });
    const error = await outcome;
    expect(error).toBeInstanceOf(WorkflowInterruptedError);
    expect((error as WorkflowInterruptedError).reason).toBe("shutdown");
    expect((error as WorkflowInterruptedError).message).toBe("workflow s was interrupted (shutdown)");
    expect(await store.keys()).toEqual(["wf/s"]);
    // a detailed reason is named in the message, even one JSON cannot render
    expect(new WorkflowInterruptedError("s", { shutdown: "maintenance" }).message).toBe(
      'workflow s was interrupted ({"shutdown":"maintenance"})',
    );
    expect(new WorkflowInterruptedError("s", { shutdown: 1n }).message).toBe(
      "workflow s was interrupted ([object Object])",
    );
  });

  function reviewFlow(server: LoopbackLLMServer) {
    return setup({
      types: {
        context: {} as { draft?: string; published?: string; approver?: string },
        events: {} as { type: "APPROVE"; by: string } | { type: "REJECT" },
      },
      actors: {
        draft: agentLogic(agentFactory(server, "writer")),
        publish: agentLogic(agentFactory(server, "publisher")),
      },
    }).createMachine({
      id: "review",
      context: {},
      initial: "drafting",
      states: {
        drafting: {
          invoke: {
            src: "draft",
            input: "write the post",
            onDone: {
              target: "awaiting",
              actions: assign({ draft: ({ event }) => event.output.chat_message }),
            },
          },
        },
        awaiting: {
          on: {
            APPROVE: { target: "publishing", actions: assign({ approver: ({ event }) => event.by }) },
            REJECT: "rejected",
          },
          after: { 86400000: "expired" },
        },
        publishing: {
          invoke: {
            src: "publish",
            input: ({ context }) => `publish: ${context.draft}`,
            onDone: {
              target: "published",
              actions: assign({ published: ({ event }) => event.output.chat_message }),
            },
          },
        },
        published: { type: "final" },
        rejected: { type: "final" },
        expired: { type: "final" },
      },
      output: ({ context }) => context,
    });
  }

  async function awaitingReview(server: LoopbackLLMServer, store: SnapshotStore) {
    const first = start({ snapshotStore: store, clock: new ManualClock() });
    // another machine's pending timer in the same system is not the workflow's to save
    await first.spawn(setup({}).createMachine({ initial: "a", states: { a: { after: { 5: "b" } }, b: {} } }));
    const run = await startWorkflow(first, reviewFlow(server), undefined, {
      name: "review",
      durable: "wf/review",
    });
    const interrupted = run.result.catch((e: unknown) => e);
    await waitFor(refOf(first, "review"), (s) => s.matches("awaiting"));
    await first.shutdown();
    expect(await interrupted).toBeInstanceOf(WorkflowInterruptedError);
  }

  it("waits for a human approval across a restart (file store) and goes on once approved", async () => {
    const dir = await mkdtemp(join(tmpdir(), "normandy-wf-"));
    dirs.push(dir);
    const server = await serve([{ text: "draft v1" }, { text: "live" }]);
    await awaitingReview(server, new FileSnapshotStore(dir));

    const second = start({ snapshotStore: new FileSnapshotStore(dir), clock: new ManualClock() });
    const run = await startWorkflow(second, reviewFlow(server), undefined, {
      name: "review",
      durable: "wf/review",
    });
    expect(second.getSnapshot("review")).toMatchObject({ value: "awaiting", context: { draft: "draft v1" } });
    const approve = { type: "APPROVE", by: "ana" };
    second.send("review", approve); // by name, as any process is addressed
    expect(await run.result).toEqual({ draft: "draft v1", approver: "ana", published: "live" });
    expect(server.requests.map(lastUserText)).toEqual(["write the post", "publish: draft v1"]);
  });

  it("re-arms a pending `after` timer on restore", async () => {
    const server = await serve([{ text: "draft v1" }]);
    const store = new MemorySnapshotStore();
    await awaitingReview(server, store);
    const stored = (await store.get("wf/review"))?.value as Record<string, unknown>;
    expect(stored["normandy.timers"]).toEqual([
      expect.objectContaining({ id: "xstate.after.86400000.review.awaiting", dueAt: expect.any(Number) }),
    ]);

    const clock = new ManualClock();
    const second = start({ snapshotStore: store, clock });
    const run = await startWorkflow(second, reviewFlow(server), undefined, {
      name: "review",
      durable: "wf/review",
    });
    await clock.advance(86_400_000);
    expect(await run.result).toEqual({ draft: "draft v1" });
    expect(second.isAlive("review")).toBe(false);
  });
});

describe("running workflows", () => {
  const waiting = (server: LoopbackLLMServer) =>
    setup({ actors: { ask: agentLogic(agentFactory(server, "slow")) } }).createMachine({
      id: "waiting",
      initial: "asking",
      states: { asking: { invoke: { src: "ask", input: "go", onDone: "done" } }, done: { type: "final" } },
    });

  it("a time limit stops the workflow, aborts its request and discards its snapshot", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const clock = new ManualClock();
    const store = new MemorySnapshotStore();
    const system = start({ clock, snapshotStore: store });
    const pending = runWorkflow(system, waiting(server), undefined, {
      name: "w",
      durable: "wf/w",
      timeoutMs: 1_000,
    });
    const outcome = pending.catch((e: unknown) => e);
    await slow.arrived;
    await system.flushSnapshots();
    expect(await store.keys()).toEqual(["wf/w"]);
    await clock.advance(1_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(WorkflowTimeoutError);
    expect(error).toMatchObject({ code: "workflow_timeout", workflow: "w", ms: 1_000 });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
    await system.flushSnapshots();
    expect(await store.keys()).toEqual([]);
  });

  it("a signal or the handle cancels it", async () => {
    const a = hanging();
    const b = hanging();
    const server = await serve([a.turn, b.turn]);
    const system = start();
    const controller = new AbortController();
    const viaSignal = runWorkflow(system, waiting(server), undefined, {
      name: "a",
      signal: controller.signal,
    });
    const outcome = viaSignal.catch((e: unknown) => e);
    await a.arrived;
    controller.abort(new Error("user left"));
    const error = await outcome;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).message).toBe("cancelled: user left");

    const run = await startWorkflow(system, waiting(server), undefined, { name: "b" });
    await b.arrived;
    run.stop();
    run.stop(); // once is enough
    await expect(run.result).rejects.toBeInstanceOf(CancelledError);
    await server.idle();
    expect(server.requests.map((r) => r.disconnected)).toEqual([true, true]);
    expect(system.isAlive("b")).toBe(false);
  });

  it("refuses an aborted signal and a bad time limit before starting anything", async () => {
    const server = await serve([]);
    const system = start();
    await expect(
      runWorkflow(system, waiting(server), undefined, { name: "x", signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(CancelledError);
    await expect(
      runWorkflow(system, waiting(server), undefined, { name: "x", timeoutMs: 0 }),
    ).rejects.toBeInstanceOf(InvalidWorkflowError);
    expect(system.processCount).toBe(0);
  });

  it("reports a machine's own errors as WorkflowError, and a crash of its process too", async () => {
    const system = start();
    const throwing = setup({}).createMachine({
      id: "throwing",
      initial: "a",
      states: {
        a: {
          on: {
            GO: {
              actions: () => {
                throw new TypeError("bad data");
              },
            },
          },
        },
      },
    });
    const run = await startWorkflow(system, throwing, undefined, { name: "throwing" });
    run.send({ type: "GO" });
    const error = await run.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowError);
    expect((error as WorkflowError).cause).toBeInstanceOf(TypeError);
    expect((error as WorkflowError).message).toBe("workflow throwing: bad data");

    const idle = setup({}).createMachine({ id: "idle", initial: "a", states: { a: {} } });
    const other = await startWorkflow(system, idle, undefined, { name: "idle" });
    system.exit("idle", crash("disk gone"));
    const crashed = await other.result.catch((e: unknown) => e);
    expect(crashed).toBeInstanceOf(WorkflowError);
    expect((crashed as WorkflowError).cause).toBe("disk gone");
  });

  it("a workflow that fails stops its other running steps", async () => {
    const slow = hanging();
    // b fails only once a is in flight (answered by the request, not by arrival order)
    const byRequest: ScriptedTurn = async (request) => {
      if (lastUserText(request) === "a") return slow.turn(request);
      await slow.arrived;
      return { fault: { kind: "authentication" } };
    };
    const server = await serve([byRequest, byRequest]);
    const machine = setup({
      actors: { a: agentLogic(agentFactory(server, "a")), b: agentLogic(agentFactory(server, "b")) },
    }).createMachine({
      id: "pair",
      type: "parallel",
      states: {
        a: {
          initial: "run",
          states: { run: { invoke: { src: "a", input: "a", onDone: "ok" } }, ok: { type: "final" } },
        },
        b: {
          initial: "run",
          states: {
            run: {
              invoke: {
                src: "b",
                input: "b",
                onDone: "ok",
                // XState stops no child of an actor whose action throws: the wrapper must
                onError: {
                  actions: ({ event }) => {
                    throw new Error("b gave up", { cause: event.error });
                  },
                },
              },
            },
            ok: { type: "final" },
          },
        },
      },
    });
    const error = await runWorkflow(start(), machine, undefined, { name: "pair" }).catch((e: unknown) => e);
    expect((error as WorkflowError).cause).toMatchObject({ message: "b gave up" });
    await server.idle();
    expect(server.requests[0]?.disconnected).toBe(true);
  });

  it("a workflow that cannot start (bad input, unreadable snapshot) fails its start", async () => {
    const telemetry = new Telemetry();
    const exceptions: unknown[] = [];
    telemetry.attach("t", [["normandy", "orchestration", "workflow", "exception"]], (_n, _m, metadata) =>
      exceptions.push(metadata.error),
    );
    const store = new MemorySnapshotStore();
    const system = start({ telemetry, snapshotStore: store });
    const strict = setup({ types: { input: {} as { n: number } } }).createMachine({
      id: "strict",
      context: ({ input }) => {
        if (typeof input.n !== "number") throw new TypeError("n must be a number");
        return { n: input.n };
      },
      initial: "a",
      states: { a: {} },
    });
    await expect(runWorkflow(system, strict, { n: "1" as never }, { name: "strict" })).rejects.toMatchObject({
      code: "start_failed",
      reason: { error: new TypeError("n must be a number") },
    });
    await store.put("wf/bad", {
      version: 1,
      value: { status: "active", value: "nowhere", context: {}, children: {} },
    });
    await expect(
      runWorkflow(system, strict, { n: 1 }, { name: "bad", durable: "wf/bad" }),
    ).rejects.toMatchObject({
      code: "start_failed",
    });
    expect(exceptions).toHaveLength(2);
  });

  it("settles a workflow that finishes while it starts", async () => {
    const instant = setup({}).createMachine({
      id: "instant",
      initial: "done",
      states: { done: { type: "final" } },
      output: () => 42,
    });
    expect(await runWorkflow(start(), instant, undefined, { name: "instant" })).toBe(42);
  });

  it("reports start, each step, and stop (or exception) on the telemetry bus, and shows in the inspector", async () => {
    const server = await serve([
      { text: "notes" },
      { text: "summary" },
      { text: "Title" },
      { fault: { kind: "authentication" } },
    ]);
    const telemetry = new Telemetry();
    const events: { name: string; metadata: Record<string, unknown> }[] = [];
    telemetry.attach("t", "*", (name, _m, metadata) => {
      if (name[1] === "orchestration")
        events.push({ name: name.slice(2).join("."), metadata: { ...metadata } });
    });
    const inspected: InspectionEvent[] = [];
    const system = start({ telemetry, inspect: (e) => inspected.push(e) });
    await runWorkflow(system, pipeline(server), { topic: "x" }, { name: "seen" });
    expect(events.map((e) => e.name)).toEqual([
      "workflow.start",
      "workflow.agent",
      "workflow.agent",
      "workflow.agent",
      "workflow.stop",
    ]);
    expect(events[0]?.metadata).toMatchObject({ id: "seen", workflow: "seen", resumed: false });
    expect(events[1]?.metadata).toMatchObject({ ok: true });
    const actors = inspected
      .filter((e) => e.type === "@xstate.actor")
      .map((e) => (e.actorRef as AnyActorRef).id);
    expect(actors).toContain("seen");
    expect(actors.filter((id) => id !== "seen" && id !== "normandy")).toHaveLength(3); // one per step

    events.length = 0;
    await expect(
      runWorkflow(system, pipeline(server), { topic: "y" }, { name: "seen" }),
    ).rejects.toBeInstanceOf(WorkflowError);
    expect(events.map((e) => e.name)).toEqual(["workflow.start", "workflow.agent", "workflow.exception"]);
    expect(events[1]?.metadata).toMatchObject({ ok: false });
  });

  it("a taken name refuses the second workflow, which reports no start", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const telemetry = new Telemetry();
    const starts: unknown[] = [];
    telemetry.attach("t", [["normandy", "orchestration", "workflow", "start"]], (_n, _m, metadata) =>
      starts.push(metadata.workflow),
    );
    const system = start({ telemetry });
    const run = await startWorkflow(system, waiting(server), undefined, { name: "only" });
    await expect(startWorkflow(system, waiting(server), undefined, { name: "only" })).rejects.toMatchObject({
      code: "name_taken",
    });
    expect(starts).toEqual(["only"]);
    run.stop();
    await expect(run.result).rejects.toBeInstanceOf(CancelledError);
  });

  it("stopping a workflow that has already ended changes nothing", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const system = start();
    const run = await startWorkflow(system, waiting(server), undefined, { name: "k" });
    const outcome = run.result.catch((e: unknown) => e);
    await slow.arrived;
    system.exit("k", "kill");
    expect(await outcome).toMatchObject({ code: "workflow_interrupted", reason: "killed" });
    run.stop();
    await expect(run.result).rejects.toBeInstanceOf(WorkflowInterruptedError);
  });

  it("a signal aborted while a durable workflow is being restored cancels it", async () => {
    const slow = hanging();
    const server = await serve([slow.turn]);
    const store = new MemorySnapshotStore();
    const system = start({ snapshotStore: store });
    const controller = new AbortController();
    const pending = runWorkflow(system, waiting(server), undefined, {
      name: "r",
      durable: "wf/r",
      signal: controller.signal,
    });
    controller.abort(); // the snapshot read is still under way
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await system.flushSnapshots();
    expect(await store.keys()).toEqual([]);
    expect(system.isAlive("r")).toBe(false);
  });

  it("runs agentLogic outside any ActorSystem, retrying on the real clock", async () => {
    const server = await serve([{ fault: { kind: "server_error" } }, { text: "plain" }]);
    const logic = agentLogic(agentFactory(server, "plain"), {
      retry: { maxAttempts: 2, baseDelayMs: 1, jitter: false },
      select: (r) => r.text,
    });
    const actor = createActor(logic, { input: "hi" });
    actor.start();
    expect(await toPromise(actor)).toBe("plain");
    expect(server.requests).toHaveLength(2);
  });

  it("persists a snapshot it did not make as XState does", () => {
    const machine = setup({}).createMachine({ id: "m", initial: "a", states: { a: {} } });
    const foreign = createActor(machine).getSnapshot();
    expect(workflowLogic(machine, { name: "m" }).getPersistedSnapshot(foreign)).toEqual(
      machine.getPersistedSnapshot(foreign),
    );
  });

  it("workflowLogic wraps a machine for a plain spawn, with telemetry", async () => {
    const server = await serve([{ text: "notes" }, { text: "summary" }, { text: "Title" }]);
    const telemetry = new Telemetry();
    const names: string[] = [];
    telemetry.attach("t", "*", (name) => {
      if (name[1] === "orchestration") names.push(name.slice(3).join("."));
    });
    const system = start({ telemetry });
    const done = deferred<unknown>();
    await system.spawn(
      workflowLogic(pipeline(server), { name: "plain", telemetry, onDone: (o) => done.resolve(o) }),
      { input: { topic: "z" } },
    );
    expect(await done.promise).toEqual({ notes: "notes", summary: "summary", title: "Title" });
    expect(names).toEqual(["start", "agent", "agent", "agent", "stop"]);
  });
});
