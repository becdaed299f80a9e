/**
 * A participant that speaks AgentMessage without a model: a function of the payload (a rule-based agent,
 * a router, a gateway to another system). It answers the same `request` calls and casts as an agent
 * process — validated payloads, correlated replies, error replies, dead letters for invalid messages — so
 * an `AgentProcessClient` and the orchestrators talk to it as to any agent. Requests are handled one at a
 * time, in order; a handler's result is the `output` of an agent-shaped reply (`status: "done"`).
 */
import { ZERO_USAGE } from "@normandy/agents";
import { defineServer, reply, type Server, type ServerContext } from "@normandy/runtime";
import type { ZodType } from "zod";
import { type AgentMessage, errorReply, replyTo } from "./AgentMessage.js";
import type { AgentCall, AgentCast, AgentReply, AgentReplyEvent, AgentStats } from "./AgentProcess.js";
import { errorPayload } from "./AgentProcess.js";
import { InvalidMessageError } from "./errors.js";

/** Options of {@link defineHandlerProcess}. */
export interface HandlerProcessOptions<P, R> {
  /** The participant's id (it registers as `agent:<id>` like an agent process). */
  readonly id: string;
  /** Validates payloads before `handle` sees them (default: any payload). */
  readonly input?: ZodType<P>;
  /** Answers a payload; a throw becomes an error reply. */
  readonly handle: (
    payload: P,
    ctx: { readonly signal: AbortSignal; readonly message: AgentMessage },
  ) => R | Promise<R>;
}

/**
 * Defines a model-less AgentMessage participant.
 *
 * @param options - id, payload schema, handler.
 * @returns the server behaviour (spawn it under the name `agentProcessName(id)`).
 * @example
 * ```ts
 * const router = defineHandlerProcess({ id: "router", handle: (p: { topic: string }) => ({ route: p.topic }) });
 * await system.spawn(router, { name: agentProcessName("router") });
 * ```
 */
export function defineHandlerProcess<P, R>(options: HandlerProcessOptions<P, R>): Server<unknown> {
  const answer = async (
    message: AgentMessage,
    ctx: ServerContext,
    counts: Counts,
  ): Promise<[AgentMessage, Counts]> => {
    const started = Date.now();
    const count = (ok: boolean): Counts => ({
      runs: counts.runs + 1,
      failures: counts.failures + (ok ? 0 : 1),
      lastRunAt: Date.now(),
      totalRuntimeMs: counts.totalRuntimeMs + (Date.now() - started),
    });
    let payload = message.payload as P;
    if (options.input !== undefined) {
      const parsed = options.input.safeParse(message.payload);
      if (!parsed.success) {
        ctx.reject(message);
        const error = new InvalidMessageError(
          parsed.error.issues.map((i) => `payload.${i.path.join(".")}: ${i.message}`),
          parsed.error,
        );
        return [errorReply(message, errorPayload(error)), counts];
      }
      payload = parsed.data;
    }
    try {
      const output = await options.handle(payload, { signal: ctx.signal, message });
      return [replyTo(message, done(output)), count(true)];
    } catch (error) {
      return [errorReply(message, errorPayload(error)), count(false)];
    }
  };
  return defineServer<unknown, Counts, AgentCall, unknown, AgentCast, never>({
    name: `handler-process:${options.id}`,
    init: () => ({ runs: 0, failures: 0, lastRunAt: undefined, totalRuntimeMs: 0 }),
    handleCall: async (msg, _from, state, ctx) => {
      if (msg.type === "stats") return reply(statsOf(options.id, state), state);
      if (msg.type !== "request")
        return reply({ ok: false, error: `a handler process does not answer ${msg.type}` }, state);
      const [message, counts] = await answer(msg.message, ctx, state);
      return reply(message, counts);
    },
    handleCast: async (msg, state, ctx) => {
      if (msg.type !== "request") return state; // nothing runs long enough to cancel
      const [message, counts] = await answer(msg.message, ctx, state);
      if (msg.replyTo !== undefined) {
        const event: AgentReplyEvent = {
          type: "agent.reply",
          message: message as AgentReplyEvent["message"],
        };
        ctx.send(msg.replyTo, event);
      }
      return counts;
    },
  });
}

/** A handler's result as an agent's reply, so clients and orchestrators read both the same way. */
function done(output: unknown): AgentReply {
  const chat = (output as { chat_message?: unknown } | null | undefined)?.chat_message;
  const text = typeof output === "string" ? output : typeof chat === "string" ? chat : JSON.stringify(output);
  return { status: "done", output, text, steps: [], usage: ZERO_USAGE, costUsd: 0, newMessages: 0 };
}

interface Counts {
  readonly runs: number;
  readonly failures: number;
  readonly lastRunAt: number | undefined;
  readonly totalRuntimeMs: number;
}

function statsOf(id: string, counts: Counts): AgentStats {
  return {
    id,
    ...counts,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    restores: 0,
    queued: 0,
    running: false,
    messages: 0,
  };
}
