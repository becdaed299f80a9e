/**
 * An OpenTelemetry id generator that gives an agent run's span the trace and span ids of the run's
 * correlation context, so the ids on log lines, in AgentMessage metadata and in `traceparent` headers are
 * the ids of real spans (a receiver on another node continues the very trace, a log line finds its span).
 * Every other span gets random ids, as with the SDK's own generator.
 */
import { type IdGenerator, RandomIdGenerator } from "@opentelemetry/sdk-trace-base";

const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/** The ids the next span start should take (set only for the duration of one synchronous start). */
let wanted: { traceId: string | undefined; spanId: string | undefined } | undefined;

/**
 * Runs `start` (a synchronous span start) so that a {@link CorrelationIdGenerator} hands out the given
 * ids: the span id, and the trace id when the span starts a trace. Ids that are not valid W3C ids are
 * ignored.
 *
 * @param traceId - the trace id to use when the span is a root.
 * @param spanId - the span id to use.
 * @param start - the span start.
 * @returns what `start` returns.
 */
export function withCorrelatedIds<T>(
  traceId: string | undefined,
  spanId: string | undefined,
  start: () => T,
): T {
  wanted = {
    traceId: traceId !== undefined && TRACE_ID.test(traceId) ? traceId : undefined,
    spanId: spanId !== undefined && SPAN_ID.test(spanId) ? spanId : undefined,
  };
  try {
    return start();
  } finally {
    wanted = undefined;
  }
}

/**
 * An id generator for a tracer provider (`idGenerator` of `BasicTracerProvider`, `NodeTracerProvider` or
 * `NodeSDK`): the spans of agent runs traced by {@link attachTracing} take their correlation ids; all
 * other spans random ones.
 *
 * @example
 * ```ts
 * const provider = new NodeTracerProvider({ idGenerator: new CorrelationIdGenerator(), spanProcessors });
 * attachTracing(telemetry, { tracerProvider: provider });
 * ```
 */
export class CorrelationIdGenerator implements IdGenerator {
  readonly #random = new RandomIdGenerator();

  /** @returns the wanted trace id (once), else a random one. */
  generateTraceId(): string {
    const id = wanted?.traceId;
    if (id === undefined) return this.#random.generateTraceId();
    (wanted as { traceId: string | undefined }).traceId = undefined;
    return id;
  }

  /** @returns the wanted span id (once), else a random one. */
  generateSpanId(): string {
    const id = wanted?.spanId;
    if (id === undefined) return this.#random.generateSpanId();
    (wanted as { spanId: string | undefined }).spanId = undefined;
    return id;
  }
}
