/**
 * The correlation fields of a log line: the ids of the current correlation context, with the trace and
 * span ids of the active OpenTelemetry span when there is one (so log lines join their traces).
 */
import { Correlation } from "@normandy/runtime";
import { isSpanContextValid, trace } from "@opentelemetry/api";

/**
 * The correlation fields for a line logged now (pino's `mixin` of the loggers of {@link attachLogger};
 * give it to a pino logger of your own to get the same fields).
 *
 * @returns the defined ids, e.g. `{ agent, runId, conversationId, turnId, traceId, spanId }`.
 * @example
 * ```ts
 * const log = pino({ mixin: correlationFields });
 * ```
 */
export function correlationFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  const ids = Correlation.current();
  if (ids !== undefined)
    for (const [key, value] of Object.entries(ids)) if (typeof value === "string") fields[key] = value;
  const span = trace.getActiveSpan()?.spanContext();
  if (span !== undefined && isSpanContextValid(span)) {
    fields.traceId = span.traceId;
    fields.spanId = span.spanId;
  }
  return fields;
}
