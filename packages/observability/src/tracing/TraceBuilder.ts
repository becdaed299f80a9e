/**
 * Builds OpenTelemetry spans from telemetry events: `invoke_agent` per run, `chat` per model call,
 * `execute_tool` per tool call, `invoke_workflow` per workflow, with the GenAI attributes, and supervisor
 * restarts as span events. Owns the table of open spans and the parent resolution.
 *
 * Parents. Handlers run inside `emit`, in the async context of the work that emits, so the correlation
 * context says where an event belongs: a run's start sees the run's own context, whose `parentRunId` and
 * `toolCallId` name the tool call (or run) that started it — in this process or, through an AgentMessage,
 * in the calling process. A chat or tool span goes under its run's span (by `runId`). A parent not known
 * here (another node, a W3C caller) becomes a remote parent from the context's `traceId`/`parentSpanId`;
 * with no parent at all, the active OpenTelemetry context (e.g. the caller's HTTP server span) is used.
 *
 * Restarts. A `["normandy","supervisor","restart"]` becomes a `normandy.supervisor.restart` event on the
 * nearest open span of the work the restart is reported in. A process that crashes in the middle of
 * traced work (its run, its tool call) is restarted in that work's async context, so the event goes on
 * that work's span if it is still open, else on its nearest open ancestor — across an AgentMessage, the
 * caller's tool call or run. A restart reported outside any traced work has no span to go on and is only
 * counted (`attachMetrics`).
 */
import type { ContentBlock, Message } from "@normandy/agents";
import {
  Correlation,
  type CorrelationIds,
  type EventName,
  type Measurements,
  type Metadata,
} from "@normandy/runtime";
import {
  type Attributes,
  type Context,
  context as contexts,
  isValidSpanId,
  isValidTraceId,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { ERROR_TYPE, GEN_AI, NORMANDY, OPERATION } from "./attributes.js";
import { withCorrelatedIds } from "./CorrelationIdGenerator.js";
import { errorTypeOf, exitReasonLabel } from "./errorType.js";
import { inputAttributes, outputAttribute } from "./genAiMessages.js";

/** An open (or recently ended) span and the context its children start in. */
interface Entry {
  readonly span: Span;
  /** The OpenTelemetry context with this span active, for spans started under it. */
  readonly context: Context;
  /** The span it was started under, when that is one of ours. */
  readonly parent: Entry | undefined;
  open: boolean;
}

/** An entry whose context is made only when a span starts under it (most chat and tool spans have none). */
class LazyEntry implements Entry {
  readonly span: Span;
  readonly parent: Entry | undefined;
  open = true;
  readonly #parentContext: Context;
  #context: Context | undefined;

  constructor(span: Span, parentContext: Context, parent: Entry | undefined) {
    this.span = span;
    this.parent = parent;
    this.#parentContext = parentContext;
  }

  get context(): Context {
    this.#context ??= trace.setSpan(this.#parentContext, this.span);
    return this.#context;
  }
}

interface Workflow {
  /** The start event's metadata (the stop event carries the same object). */
  readonly metadata: Metadata;
  readonly entry: Entry;
}

/** Ended run and tool spans kept as parents for late children (a cast answered after its caller ended). */
const RECENT_LIMIT = 1024;
/** Runs whose tool-call arguments are kept for their tool spans (content capture only). */
const ARGUMENT_RUNS_LIMIT = 1024;

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** Turns telemetry events into spans; one per {@link attachTracing}. */
export class TraceBuilder {
  readonly #tracer: Tracer;
  readonly #capture: boolean;
  /** Open spans: `r|run`, `c|run` (its model call), `t|run|call`. */
  readonly #open = new Map<string, Entry>();
  /** Ended run and tool spans, oldest first, bounded. */
  readonly #recent = new Map<string, Entry>();
  readonly #workflows: Workflow[] = [];
  /** Tool-call arguments from model replies, by run then call id, until their tool span starts. */
  readonly #arguments = new Map<string, Map<string, unknown>>();

  /**
   * @param tracer - where spans are started.
   * @param capture - record prompt and response content.
   */
  constructor(tracer: Tracer, capture: boolean) {
    this.#tracer = tracer;
    this.#capture = capture;
  }

  /**
   * Handles one telemetry event (the handler attached to the bus).
   *
   * @param event - the event name (one of the traced ones).
   * @param measurements - its measurements.
   * @param metadata - its metadata.
   */
  handle(event: EventName, measurements: Measurements, metadata: Metadata): void {
    const phase = event[3];
    switch (event[1]) {
      case "agent":
        if (event[2] === "run") this.#run(phase, measurements, metadata);
        else this.#modelCall(phase, measurements, metadata);
        return;
      case "tool":
        this.#tool(phase, metadata);
        return;
      case "orchestration":
        this.#workflow(phase, metadata);
        return;
      case "supervisor":
        this.#restart(metadata);
        return;
    }
  }

  /** Ends every open span, marked `normandy.tracing.detached` (their own end will never be seen). */
  endAll(): void {
    const open = [...this.#open.values(), ...this.#workflows.map((w) => w.entry)];
    this.#open.clear();
    this.#workflows.length = 0;
    this.#recent.clear();
    this.#arguments.clear();
    for (const entry of open) {
      entry.open = false;
      entry.span.setAttribute(NORMANDY.DETACHED, true);
      entry.span.end();
    }
  }

  // ---- runs ---------------------------------------------------------------------------------------

  #run(phase: string | undefined, measurements: Measurements, metadata: Metadata): void {
    const runId = str(metadata.runId);
    if (runId === undefined) return;
    if (phase === "start") {
      this.#startRun(runId, metadata, false, undefined);
      return;
    }
    const key = `r|${runId}`;
    const entry = this.#open.get(key);
    if (entry === undefined) return; // begun before tracing was attached, or already paused
    const span = entry.span;
    if (phase === "stop") {
      setNumber(span, GEN_AI.USAGE_INPUT_TOKENS, measurements.inputTokens);
      setNumber(span, GEN_AI.USAGE_OUTPUT_TOKENS, measurements.outputTokens);
      setNumber(span, NORMANDY.COST_USD, metadata.costUsd);
    } else if (phase === "pause") {
      span.setAttribute(NORMANDY.RUN_STATUS, "awaiting_approval");
      const calls = Array.isArray(metadata.calls) ? metadata.calls.filter((c) => typeof c === "string") : [];
      span.addEvent("normandy.run.pause", { [NORMANDY.TOOLS]: calls });
    } else fail(span, metadata.error);
    this.#end(key, entry);
    if (phase !== "pause") this.#arguments.delete(runId); // a paused run's approved calls still need theirs
  }

  /**
   * Starts a run's span. `resumed`: opened by a model or tool call of a run whose span is not open (the
   * rest of a run after an approval, or a run begun before tracing was attached).
   */
  #startRun(runId: string, metadata: Metadata, resumed: boolean, ownCallId: string | undefined): Entry {
    const ids = idsOf(metadata);
    // inside its own tool call, a run's context names that call: it is not the run's parent
    const callId = ids?.toolCallId === ownCallId ? undefined : ids?.toolCallId;
    const parent = this.#find(ids?.parentRunId, callId);
    const parentContext = parent?.context ?? outerContext(ids?.traceId, ids?.parentSpanId);
    const agent = str(metadata.agent);
    const attributes: Attributes = {
      [GEN_AI.OPERATION_NAME]: OPERATION.INVOKE_AGENT,
      [NORMANDY.RUN_ID]: runId,
    };
    setIf(attributes, GEN_AI.AGENT_NAME, agent);
    setIf(attributes, GEN_AI.PROVIDER_NAME, str(metadata.provider));
    setIf(attributes, GEN_AI.REQUEST_MODEL, str(metadata.model));
    setIf(attributes, GEN_AI.CONVERSATION_ID, str(metadata.conversationId));
    setIf(attributes, NORMANDY.TURN_ID, str(metadata.turnId));
    setIf(attributes, NORMANDY.AGENT_ID, str(ids?.processId));
    // the rest of a paused run links to its first part (which may be in another trace: a resumption
    // outside any context starts a new one)
    const before = resumed ? this.#recent.get(`r|${runId}`) : undefined;
    if (resumed) attributes[NORMANDY.RUN_RESUMED] = true;
    const options: SpanOptions = {
      kind: SpanKind.INTERNAL,
      attributes,
      ...(before !== undefined && { links: [{ context: before.span.spanContext() }] }),
    };
    const name = agent === undefined ? OPERATION.INVOKE_AGENT : `${OPERATION.INVOKE_AGENT} ${agent}`;
    // the run's correlation ids become the span's (with a CorrelationIdGenerator), so logs and messages match
    const span = withCorrelatedIds(ids?.traceId, ids?.spanId, () =>
      this.#tracer.startSpan(name, options, parentContext),
    );
    const entry = new LazyEntry(span, parentContext, parent);
    this.#open.set(`r|${runId}`, entry);
    return entry;
  }

  /** The open span of a run, or a new one for the rest of it. */
  #runEntry(runId: string, metadata: Metadata, ownCallId: string | undefined): Entry {
    return this.#open.get(`r|${runId}`) ?? this.#startRun(runId, metadata, true, ownCallId);
  }

  // ---- model calls --------------------------------------------------------------------------------

  #modelCall(phase: string | undefined, measurements: Measurements, metadata: Metadata): void {
    const runId = str(metadata.runId);
    if (runId === undefined) return;
    const key = `c|${runId}`;
    if (phase === "start") {
      const run = this.#runEntry(runId, metadata, undefined);
      const model = str(metadata.model);
      const attributes: Attributes = { [GEN_AI.OPERATION_NAME]: OPERATION.CHAT };
      setIf(attributes, GEN_AI.PROVIDER_NAME, str(metadata.provider));
      setIf(attributes, GEN_AI.REQUEST_MODEL, model);
      setIf(attributes, GEN_AI.CONVERSATION_ID, str(metadata.conversationId));
      if (typeof metadata.stream === "boolean") attributes[GEN_AI.REQUEST_STREAM] = metadata.stream;
      setIf(attributes, NORMANDY.STEP, num(metadata.step));
      if (this.#capture && Array.isArray(metadata.messages)) {
        const content = inputAttributes(metadata.messages as readonly Message[]);
        setIf(attributes, GEN_AI.SYSTEM_INSTRUCTIONS, content.system);
        attributes[GEN_AI.INPUT_MESSAGES] = content.input;
      }
      const name = model === undefined ? OPERATION.CHAT : `${OPERATION.CHAT} ${model}`;
      const span = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, run.context);
      this.#open.set(key, new LazyEntry(span, run.context, run));
      return;
    }
    const entry = this.#open.get(key);
    if (entry === undefined) return;
    const span = entry.span;
    if (phase === "first_chunk") {
      const ms = num(measurements.duration);
      if (ms !== undefined) span.setAttribute(GEN_AI.RESPONSE_TIME_TO_FIRST_CHUNK, ms / 1000);
      return;
    }
    if (phase === "stop") {
      const finishReason = str(metadata.finishReason);
      const attributes: Attributes = {};
      setIf(attributes, GEN_AI.RESPONSE_ID, str(metadata.responseId));
      setIf(attributes, GEN_AI.RESPONSE_MODEL, str(metadata.responseModel));
      if (finishReason !== undefined) attributes[GEN_AI.RESPONSE_FINISH_REASONS] = [finishReason];
      setIf(attributes, GEN_AI.USAGE_INPUT_TOKENS, num(measurements.inputTokens));
      setIf(attributes, GEN_AI.USAGE_OUTPUT_TOKENS, num(measurements.outputTokens));
      setIf(attributes, GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS, num(measurements.cacheReadTokens));
      setIf(attributes, GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS, num(measurements.cacheWriteTokens));
      setIf(attributes, GEN_AI.USAGE_REASONING_OUTPUT_TOKENS, num(measurements.reasoningTokens));
      if (this.#capture && Array.isArray(metadata.content)) {
        const content = metadata.content as readonly ContentBlock[];
        attributes[GEN_AI.OUTPUT_MESSAGES] = outputAttribute(content, finishReason);
        this.#keepArguments(runId, content);
      }
      span.setAttributes(attributes);
    } else fail(span, metadata.error);
    this.#end(key, entry);
  }

  /** Keeps the arguments of a reply's tool calls for their tool spans (content capture). */
  #keepArguments(runId: string, content: readonly ContentBlock[]): void {
    for (const block of content) {
      if (block.type !== "tool_call") continue;
      let calls = this.#arguments.get(runId);
      if (calls === undefined) {
        calls = new Map();
        this.#arguments.set(runId, calls);
        if (this.#arguments.size > ARGUMENT_RUNS_LIMIT) this.#arguments.delete(firstKey(this.#arguments));
      }
      calls.set(block.id, block.arguments ?? block.rawArguments);
    }
  }

  // ---- tool calls ---------------------------------------------------------------------------------

  #tool(phase: string | undefined, metadata: Metadata): void {
    const runId = str(metadata.runId);
    const callId = str(metadata.toolCallId);
    if (runId === undefined || callId === undefined) return;
    const key = `t|${runId}|${callId}`;
    if (phase === "start") {
      const run = this.#runEntry(runId, metadata, callId);
      const tool = str(metadata.tool);
      const attributes: Attributes = {
        [GEN_AI.OPERATION_NAME]: OPERATION.EXECUTE_TOOL,
        [GEN_AI.TOOL_CALL_ID]: callId,
        [GEN_AI.TOOL_TYPE]: "function",
      };
      setIf(attributes, GEN_AI.TOOL_NAME, tool);
      if (this.#capture) {
        const calls = this.#arguments.get(runId);
        const args = calls?.get(callId);
        if (args !== undefined) {
          calls?.delete(callId);
          attributes[GEN_AI.TOOL_CALL_ARGUMENTS] = typeof args === "string" ? args : JSON.stringify(args);
        }
      }
      const name = tool === undefined ? OPERATION.EXECUTE_TOOL : `${OPERATION.EXECUTE_TOOL} ${tool}`;
      const span = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, run.context);
      this.#open.set(key, new LazyEntry(span, run.context, run));
      return;
    }
    const entry = this.#open.get(key);
    if (entry === undefined) return;
    if (metadata.isError === true) {
      // the tool failed (threw, timed out, invalid arguments, unknown tool): its result told the model so
      entry.span.setAttribute(ERROR_TYPE, "tool_error");
      entry.span.setStatus({ code: SpanStatusCode.ERROR, message: "the tool call returned an error result" });
    }
    this.#end(key, entry);
  }

  // ---- workflows ----------------------------------------------------------------------------------

  #workflow(phase: string | undefined, metadata: Metadata): void {
    if (phase === "start") {
      // the workflow starts in its starter's context: that work (a run, its tool call) is the parent
      const ids = Correlation.current();
      const parent = this.#find(ids?.runId, ids?.toolCallId);
      const parentContext = parent?.context ?? outerContext(ids?.traceId, ids?.spanId);
      const name = str(metadata.workflow) ?? str(metadata.id);
      const attributes: Attributes = { [GEN_AI.OPERATION_NAME]: OPERATION.INVOKE_WORKFLOW };
      setIf(attributes, GEN_AI.WORKFLOW_NAME, name);
      if (typeof metadata.resumed === "boolean") attributes[NORMANDY.WORKFLOW_RESUMED] = metadata.resumed;
      const spanName =
        name === undefined ? OPERATION.INVOKE_WORKFLOW : `${OPERATION.INVOKE_WORKFLOW} ${name}`;
      const span = this.#tracer.startSpan(spanName, { kind: SpanKind.INTERNAL, attributes }, parentContext);
      const entry = new LazyEntry(span, parentContext, parent);
      this.#workflows.push({ metadata, entry });
      return;
    }
    const index = this.#workflowOf(metadata);
    if (index < 0) return;
    const span = (this.#workflows[index] as Workflow).entry.span;
    if (phase === "agent") {
      const attributes: Attributes = { [NORMANDY.STEP_OK]: metadata.ok === true };
      setIf(attributes, NORMANDY.AGENT_ID, str(metadata.agentId));
      if (metadata.error !== undefined) attributes[ERROR_TYPE] = errorTypeOf(metadata.error);
      span.addEvent("normandy.workflow.step", attributes);
      return;
    }
    if (phase === "exception") fail(span, metadata.error);
    const [workflow] = this.#workflows.splice(index, 1);
    (workflow as Workflow).entry.open = false;
    span.end();
  }

  /**
   * The open workflow an event belongs to: the one started with this very metadata object (stop), else
   * the oldest whose start metadata the event repeats (exception and step events copy it).
   */
  #workflowOf(metadata: Metadata): number {
    const same = this.#workflows.findIndex((w) => w.metadata === metadata);
    if (same >= 0) return same;
    return this.#workflows.findIndex((w) =>
      Object.keys(w.metadata).every((key) => w.metadata[key] === metadata[key]),
    );
  }

  // ---- restarts -----------------------------------------------------------------------------------

  #restart(metadata: Metadata): void {
    const ids = Correlation.current();
    let entry = this.#find(ids?.runId, ids?.toolCallId);
    while (entry !== undefined && !entry.open) entry = entry.parent;
    if (entry === undefined) return;
    const attributes: Attributes = { [NORMANDY.REASON]: exitReasonLabel(metadata.reason) };
    setIf(attributes, NORMANDY.SUPERVISOR, str(metadata.supervisor));
    setIf(attributes, NORMANDY.CHILD_ID, str(metadata.childId));
    setIf(attributes, NORMANDY.PID, str(metadata.pid));
    entry.span.addEvent("normandy.supervisor.restart", attributes);
  }

  // ---- the table ----------------------------------------------------------------------------------

  /** The span of a tool call of a run (when `callId` is given and known), else of the run. */
  #find(runId: string | undefined, callId: string | undefined): Entry | undefined {
    if (runId === undefined) return undefined;
    if (callId !== undefined) {
      const key = `t|${runId}|${callId}`;
      const tool = this.#open.get(key) ?? this.#recent.get(key);
      if (tool !== undefined) return tool;
    }
    const key = `r|${runId}`;
    return this.#open.get(key) ?? this.#recent.get(key);
  }

  #end(key: string, entry: Entry): void {
    entry.open = false;
    entry.span.end();
    this.#open.delete(key);
    if (key.startsWith("c|")) return; // nothing starts under a finished model call
    this.#recent.set(key, entry);
    if (this.#recent.size > RECENT_LIMIT) this.#recent.delete(firstKey(this.#recent));
  }
}

/**
 * The correlation ids of an agent's event: the ones it carries (an agent puts its run's in every event),
 * else those of the context it was emitted in (when correlation is on).
 */
function idsOf(metadata: Metadata): CorrelationIds | undefined {
  return typeof metadata.traceId === "string" ? (metadata as CorrelationIds) : Correlation.current();
}

/**
 * The parent context of work whose parent span is not one of ours: a remote parent from valid W3C ids
 * (a caller on another node, a W3C `traceparent`), else the active OpenTelemetry context.
 */
function outerContext(traceId: string | undefined, spanId: string | undefined): Context {
  const active = contexts.active();
  if (traceId === undefined || spanId === undefined || !isValidTraceId(traceId) || !isValidSpanId(spanId))
    return active;
  return trace.setSpanContext(active, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
}

/** Marks a span failed: `error.type`, an error status, and the exception as an event. */
function fail(span: Span, error: unknown): void {
  span.setAttribute(ERROR_TYPE, errorTypeOf(error));
  if (error instanceof Error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.recordException(error);
  } else span.setStatus({ code: SpanStatusCode.ERROR });
}

function setIf(attributes: Attributes, key: string, value: string | number | undefined): void {
  if (value !== undefined) attributes[key] = value;
}

function setNumber(span: Span, key: string, value: unknown): void {
  const n = num(value);
  if (n !== undefined) span.setAttribute(key, n);
}

function firstKey<K>(map: ReadonlyMap<K, unknown>): K {
  return map.keys().next().value as K;
}
