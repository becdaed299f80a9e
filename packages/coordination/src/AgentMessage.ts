/**
 * The AgentMessage envelope: what agents send each other. A reply carries its request's id as
 * `correlationId` (and `causationId`), so replies are matched to requests; `deadline` bounds how long a
 * request is worth working on; `metadata` carries the trace context (`traceparent`) across processes.
 */
import { z } from "zod";
import { InvalidMessageError } from "./errors.js";

/** The kinds of message. */
export type MessageType = "request" | "response" | "broadcast" | "error" | "event";

/** An agent message. */
export interface AgentMessage<P = unknown> {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly type: MessageType;
  readonly payload: P;
  /** On a reply: the request's id. */
  readonly correlationId?: string;
  /** The message that caused this one. */
  readonly causationId?: string;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  /** Milliseconds since the epoch after which the request is not worth answering. */
  readonly deadline?: number;
  /** Free-form; `traceparent` / `tracestate` carry the trace context. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** The payload of an `error` message. */
export interface ErrorPayload {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

/** The envelope's schema (the payload is checked by the receiver's own schema). */
export const AgentMessageSchema = z.object({
  id: z.string().min(1),
  from: z.string().min(1),
  to: z.string().min(1),
  type: z.enum(["request", "response", "broadcast", "error", "event"]),
  payload: z.unknown(),
  correlationId: z.string().min(1).optional(),
  causationId: z.string().min(1).optional(),
  timestamp: z.number().finite(),
  deadline: z.number().finite().optional(),
  metadata: z.record(z.string(), z.unknown()),
});

/** What {@link createMessage} needs. */
export interface NewMessage<P> {
  readonly from: string;
  readonly to: string;
  readonly payload: P;
  /** Default `request`. */
  readonly type?: MessageType;
  readonly correlationId?: string;
  readonly causationId?: string;
  /** Milliseconds from now. */
  readonly timeoutMs?: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Default `Date.now()`. */
  readonly now?: number;
}

/**
 * Creates a message with a fresh id.
 *
 * @param fields - sender, receiver, payload and the optional fields.
 * @returns the message.
 * @example
 * ```ts
 * const ask = createMessage({ from: "manager", to: "researcher", payload: { chat_message: "find X" } });
 * ```
 */
export function createMessage<P>(fields: NewMessage<P>): AgentMessage<P> {
  const now = fields.now ?? Date.now();
  return {
    id: crypto.randomUUID(),
    from: fields.from,
    to: fields.to,
    type: fields.type ?? "request",
    payload: fields.payload,
    ...(fields.correlationId !== undefined && { correlationId: fields.correlationId }),
    ...(fields.causationId !== undefined && { causationId: fields.causationId }),
    timestamp: now,
    ...(fields.timeoutMs !== undefined && { deadline: now + fields.timeoutMs }),
    metadata: fields.metadata ?? {},
  };
}

/**
 * The reply to a request: from its receiver to its sender, correlated with it, carrying its trace context.
 *
 * @param request - the request.
 * @param payload - the answer.
 * @param now - the timestamp (default `Date.now()`).
 * @returns the `response` message.
 */
export function replyTo<P>(request: AgentMessage, payload: P, now = Date.now()): AgentMessage<P> {
  return {
    id: crypto.randomUUID(),
    from: request.to,
    to: request.from,
    type: "response",
    payload,
    correlationId: request.id,
    causationId: request.id,
    timestamp: now,
    metadata: request.metadata,
  };
}

/**
 * The error reply to a request.
 *
 * @param request - the request.
 * @param error - code, message and details.
 * @param now - the timestamp.
 * @returns the `error` message.
 */
export function errorReply(
  request: AgentMessage,
  error: ErrorPayload,
  now = Date.now(),
): AgentMessage<ErrorPayload> {
  return { ...replyTo(request, error, now), type: "error" };
}

/**
 * Checks an envelope received from elsewhere (another process, a queue, JSON).
 *
 * @param value - anything.
 * @returns the message.
 * @throws InvalidMessageError listing every problem.
 */
export function parseMessage(value: unknown): AgentMessage {
  const parsed = AgentMessageSchema.safeParse(value);
  if (!parsed.success)
    throw new InvalidMessageError(
      parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`),
      parsed.error,
    );
  return parsed.data as AgentMessage;
}
