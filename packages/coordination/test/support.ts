// Test helpers shared by the coordination tests (not a test file itself): loopback LLM servers and actor
// systems torn down after each test, agents talking to a loopback server, a turn that stays in flight,
// a deferred promise, a reply inbox, and small probes of recorded requests, runs and processes.
import { type Agent, type AgentDefinition, defineAgent, defineTool, OpenAIProvider } from "@normandy/agents";
import type { AgentReplyEvent, Runnable } from "@normandy/coordination";
import { ActorSystem, type ActorSystemOptions, defineServer, Telemetry } from "@normandy/runtime";
import {
  type LatencyOptions,
  LoopbackLLMServer,
  type RecordedRequest,
  type ScriptedTurn,
  type StaticTurn,
} from "@normandy/testing";
import { afterEach } from "vitest";
import type { AnyActorRef } from "xstate";
import { z } from "zod";

/** What {@link useFixtures} hands a test file: servers and systems that are cleaned up after each test. */
export interface Fixtures {
  /** Starts a loopback LLM server answering `script` in order (more can be appended), with optional latency. */
  serve(script?: ScriptedTurn[], latency?: LatencyOptions): Promise<LoopbackLLMServer>;
  /** Starts an actor system. */
  start(options?: ActorSystemOptions): ActorSystem;
}

/**
 * Registers, in the calling test file (call it once, at module top level), an `afterEach` that shuts down
 * every actor system `start` made, then stops every server `serve` started. vitest runs `afterEach` hooks
 * last-registered first: a file's own hook registered after this call runs before it, one registered
 * before it runs after it.
 *
 * @param options - `shutdownTimeout`: ms each process may take to terminate before it is killed
 *   (default: the system's, no limit).
 */
export function useFixtures(options: { readonly shutdownTimeout?: number } = {}): Fixtures {
  const servers: LoopbackLLMServer[] = [];
  const systems: ActorSystem[] = [];
  const { shutdownTimeout } = options;
  afterEach(async () => {
    for (const s of systems.splice(0)) {
      await s.shutdown(shutdownTimeout === undefined ? {} : { timeout: shutdownTimeout });
    }
    for (const s of servers.splice(0)) await s.stop();
  });
  return {
    async serve(script = [], latency) {
      const server = await new LoopbackLLMServer({ script, ...(latency && { latency }) }).start();
      servers.push(server);
      return server;
    },
    start(systemOptions = {}) {
      const system = ActorSystem.start(systemOptions);
      systems.push(system);
      return system;
    },
  };
}

/** A promise with its `resolve` exposed, for a test to open a gate or hear that something happened. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A turn that reports its arrival (`arrived` resolves with its request) and then keeps its reply in flight
 * far longer than any test runs, so it only ends when the client aborts (or the server stops).
 */
export function hanging(): {
  turn: (request: RecordedRequest) => StaticTurn;
  arrived: Promise<RecordedRequest>;
} {
  const arrival = deferred<RecordedRequest>();
  return {
    turn: (request) => {
      arrival.resolve(request);
      return { text: "too late", latency: { firstByteMs: 60_000 } };
    },
    arrived: arrival.promise,
  };
}

/** The text of a request's last user message (non-string content as JSON; "" when there is none). */
export function lastUserText(request: RecordedRequest | undefined): string {
  const body = request?.body as { messages?: { role: string; content: unknown }[] } | undefined;
  const content = (body?.messages ?? []).filter((m) => m.role === "user").at(-1)?.content;
  if (content === undefined || content === null) return "";
  return typeof content === "string" ? content : JSON.stringify(content);
}

/**
 * An agent named `name` on `server` (OpenAI wire format, model gpt-4o); `extra` adds to the definition
 * (tools, an output schema, ...).
 */
export function agentOn<I = { chat_message: string }, O = { chat_message: string }>(
  server: LoopbackLLMServer,
  name = "agent",
  extra: Partial<AgentDefinition<I, O>> = {},
): Agent<I, O> {
  return defineAgent<I, O>({
    name,
    provider: new OpenAIProvider({ apiKey: "t", baseURL: server.openaiBaseURL }),
    model: "gpt-4o",
    ...extra,
  });
}

/** A factory of fresh {@link agentOn} agents (each run starts from an empty conversation), as workflows take. */
export function agentFactory(server: LoopbackLLMServer, name = "agent"): () => Agent {
  return () => agentOn(server, name);
}

/** A tool (no input) that always needs a human's approval, so a run that calls it pauses. */
export function approvalTool(name = "wire_money") {
  return defineTool({
    name,
    description: "needs a human",
    input: z.object({}),
    needsApproval: true,
    run: () => "done",
  });
}

/** A runnable around an agent that counts its runs in progress in `gauge` (and the most at once). */
export function counted(agent: Agent, gauge: { active: number; max: number }): Runnable<unknown, unknown> {
  return {
    name: agent.name,
    async run(input, options) {
      gauge.active++;
      gauge.max = Math.max(gauge.max, gauge.active);
      try {
        return await agent.run(input as string, options);
      } finally {
        gauge.active--;
      }
    },
  };
}

/** The actor registered at `address` in `system`; throws when there is none. */
export function refOf(system: ActorSystem, address: string): AnyActorRef {
  const ref = system.actorRef(address);
  if (ref === undefined) throw new Error(`no process ${address}`);
  return ref;
}

/**
 * Spawns in `system` a process that hands `onReply` every message sent to it: the replies to casts whose
 * reply-to is its address (which the returned promise resolves with).
 */
export function replyInbox(system: ActorSystem, onReply: (event: AgentReplyEvent) => void) {
  return system.spawn(
    defineServer({
      init: () => null,
      handleInfo: (m: { type: string }, s) => {
        onReply(m as AgentReplyEvent);
        return s;
      },
    }),
  );
}

/** One orchestration event as {@link recordOrchestration} keeps it: its phase, measurements and metadata. */
export interface RecordedEvent {
  /** `start`, `agent`, `stop` or `exception`. */
  readonly event: string;
  readonly measurements: Record<string, number>;
  readonly metadata: Record<string, unknown>;
}

/**
 * A telemetry bus recording the start / agent / stop / exception events of one kind of orchestration.
 *
 * @param kind - `parallel`, `hierarchical`, ...
 * @returns the bus and what it recorded (in order).
 */
export function recordOrchestration(kind: string): { telemetry: Telemetry; seen: RecordedEvent[] } {
  const telemetry = new Telemetry();
  const seen: RecordedEvent[] = [];
  const name = (phase: string) => ["normandy", "orchestration", kind, phase];
  const phases = [name("start"), name("agent"), name("plan"), name("stop"), name("exception")];
  telemetry.attach("t", phases, (event, m, meta) =>
    seen.push({ event: event.at(-1) as string, measurements: m, metadata: meta }),
  );
  return { telemetry, seen };
}
