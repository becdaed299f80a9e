/**
 * OpenTelemetry tracing attached to a telemetry bus: spans after the GenAI semantic conventions
 * (`invoke_agent {agent}`, `chat {model}`, `execute_tool {tool}`, `invoke_workflow {workflow}`), built
 * from the events the core emits, parented across agents and agent processes through the correlation ids
 * the events carry (and, for work started in code of yours, the correlation context when it is on).
 */
import type { EventName, Telemetry } from "@normandy/runtime";
import { type TracerProvider, trace } from "@opentelemetry/api";
import { TraceBuilder } from "./TraceBuilder.js";

/** Options of {@link attachTracing}. */
export interface AttachTracingOptions {
  /** Where spans go (default the global tracer provider, e.g. the one `NodeSDK` registers). */
  readonly tracerProvider?: TracerProvider;
  /**
   * Record prompt and response content (default false): `gen_ai.system_instructions`,
   * `gen_ai.input.messages` and `gen_ai.output.messages` on chat spans, `gen_ai.tool.call.arguments` on
   * tool spans. Content may hold personal data and secrets; the conventions advise against it in
   * production.
   */
  readonly captureContent?: boolean;
  /** The handler's id on the bus (default a unique `normandy.tracing.<n>`). */
  readonly id?: string;
}

/** Attached tracing. */
export interface TracingHandle {
  /** The handler's id on the bus. */
  readonly id: string;
  /**
   * Stops tracing: the handler is detached and the spans still open are ended, marked
   * `normandy.tracing.detached`.
   *
   * @returns whether the handler was still attached.
   */
  detach(): boolean;
}

/** The events tracing listens to (no other event reaches its handler). */
export const TRACED_EVENTS: readonly EventName[] = [
  ...["start", "stop", "exception", "pause"].map((p) => ["normandy", "agent", "run", p]),
  ...["start", "stop", "exception", "first_chunk"].map((p) => ["normandy", "agent", "model_call", p]),
  ["normandy", "tool", "call", "start"],
  ["normandy", "tool", "call", "stop"],
  ...["start", "agent", "stop", "exception"].map((p) => ["normandy", "orchestration", "workflow", p]),
  ["normandy", "supervisor", "restart"],
];

const TRACER_NAME = "@normandy/observability";
const TRACER_VERSION = "0.1.0";

let attached = 0;

/**
 * Traces agent runs, model calls, tool calls and workflows from a telemetry bus. A run's span finds its
 * parent (a calling run's tool call, a remote caller) through the correlation ids its events carry; a
 * workflow's and a restart's, through the correlation context when it is on.
 *
 * Spans and their attributes:
 * - `invoke_agent {agent}` (INTERNAL), one per run: `gen_ai.operation.name`, `gen_ai.agent.name`,
 *   `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.conversation.id`, the run's total
 *   `gen_ai.usage.*_tokens`, `normandy.run.id`, `normandy.cost.usd`. A pause for approval ends it
 *   (`normandy.run.status` = `awaiting_approval`); the rest of the run gets a new span
 *   (`normandy.run.resumed`).
 * - `chat {model}` (CLIENT), one per model call, under its run: request model and stream flag at start;
 *   response id and model, `gen_ai.response.finish_reasons`, token usage with cache read/creation and
 *   reasoning tokens, `gen_ai.response.time_to_first_chunk` when streamed.
 * - `execute_tool {tool}` (INTERNAL), under its run: `gen_ai.tool.name`, `gen_ai.tool.call.id`,
 *   `gen_ai.tool.type`; a run started by the tool (an agent as a tool, a request to an agent process)
 *   goes under it, also across an AgentMessage.
 * - `invoke_workflow {workflow}` (INTERNAL), one per workflow run, its steps as `normandy.workflow.step`
 *   events.
 * Failures set `error.type`, an error status and an exception event. A supervisor restart becomes a
 * `normandy.supervisor.restart` event on the nearest open span of the work it interrupted.
 *
 * Give the tracer provider a {@link CorrelationIdGenerator} to make run spans take their correlation
 * ids (log lines and `traceparent` headers then name real spans).
 *
 * @param telemetry - the bus (an agent definition's, or an actor system's `system.telemetry`).
 * @param options - tracer provider, content capture, handler id.
 * @returns the handle, to detach.
 * @throws the bus's InvalidArgumentError for a taken id.
 * @example
 * ```ts
 * const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
 * const tracing = attachTracing(system.telemetry, { tracerProvider: provider });
 * await agent.run("hi"); // invoke_agent helper → chat gpt-4o, execute_tool search, chat gpt-4o
 * tracing.detach();
 * ```
 */
export function attachTracing(telemetry: Telemetry, options: AttachTracingOptions = {}): TracingHandle {
  const provider = options.tracerProvider ?? trace.getTracerProvider();
  const builder = new TraceBuilder(
    provider.getTracer(TRACER_NAME, TRACER_VERSION),
    options.captureContent === true,
  );
  const id = options.id ?? `normandy.tracing.${++attached}`;
  telemetry.attach(id, TRACED_EVENTS, (event, measurements, metadata) =>
    builder.handle(event, measurements, metadata),
  );
  return {
    id,
    detach: () => {
      const was = telemetry.detach(id);
      builder.endAll();
      return was;
    },
  };
}
