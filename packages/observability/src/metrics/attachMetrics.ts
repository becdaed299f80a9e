/**
 * OpenTelemetry metrics attached to a telemetry bus: the GenAI client histograms (token usage, operation
 * duration, time to first chunk) with the conventions' bucket boundaries, counters of restarts, dead
 * letters, mailbox overflows and dollars spent, and, given an actor system, gauges of its live processes
 * and mailbox depths.
 */
import type { ActorSystem, EventName, Measurements, Metadata, Telemetry } from "@normandy/runtime";
import {
  type Attributes,
  type MeterProvider,
  metrics,
  type ObservableCallback,
  type ObservableGauge,
} from "@opentelemetry/api";
import { ERROR_TYPE, GEN_AI, NORMANDY, OPERATION } from "../tracing/attributes.js";
import { errorTypeOf, exitReasonLabel } from "../tracing/errorType.js";
import { GEN_AI_DURATION_BUCKETS, GEN_AI_TOKEN_BUCKETS } from "./buckets.js";

/** Options of {@link attachMetrics}. */
export interface AttachMetricsOptions {
  /** Where measurements go (default the global meter provider, e.g. the one `NodeSDK` registers). */
  readonly meterProvider?: MeterProvider;
  /**
   * An actor system to observe: `normandy.processes` (its live processes) and `normandy.mailbox.depth`
   * (per mailbox, by registered name), read when the metrics are collected.
   */
  readonly system?: ActorSystem;
  /**
   * The registered names whose mailbox depth is observed (default every registered name; give a list
   * when a system registers very many processes, each name being one time series).
   */
  readonly mailboxes?: readonly string[];
  /** The handler's id on the bus (default a unique `normandy.metrics.<n>`). */
  readonly id?: string;
}

/** Attached metrics. */
export interface MetricsHandle {
  /** The handler's id on the bus. */
  readonly id: string;
  /**
   * Stops recording: the handler is detached and the gauges are no longer observed.
   *
   * @returns whether the handler was still attached.
   */
  detach(): boolean;
}

/** The events metrics listen to (no other event reaches the handler). */
export const METERED_EVENTS: readonly EventName[] = [
  ["normandy", "agent", "model_call", "stop"],
  ["normandy", "agent", "model_call", "exception"],
  ["normandy", "agent", "model_call", "first_chunk"],
  ["normandy", "agent", "run", "stop"],
  ["normandy", "agent", "run", "exception"],
  ["normandy", "supervisor", "restart"],
  ["normandy", "dead_letter"],
  ["normandy", "mailbox", "overflow"],
];

const METER_NAME = "@normandy/observability";
const METER_VERSION = "0.1.0";

let attached = 0;

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/**
 * Records metrics from a telemetry bus.
 *
 * Instruments:
 * - `gen_ai.client.token.usage` (histogram, `{token}`): per model call, `input` and output tokens
 *   (`gen_ai.token.type`), with operation, provider, request and response model.
 * - `gen_ai.client.operation.duration` (histogram, `s`): per model call (`chat`) and per run
 *   (`invoke_agent`, with `gen_ai.agent.name`), `error.type` on failures.
 * - `gen_ai.client.operation.time_to_first_chunk` (histogram, `s`): per streamed model call.
 * - `normandy.supervisor.restarts` (`normandy.reason`), `normandy.dead_letters`
 *   (`normandy.dead_letter.reason`), `normandy.mailbox.overflows` (`normandy.mailbox.policy`): counters.
 * - `normandy.agent.cost` (counter, `{USD}`): dollars per finished run of an agent with a price list
 *   (`costOf`), by agent, provider and model.
 * - with `system`: `normandy.processes` and `normandy.mailbox.depth` (`normandy.process.name`) gauges.
 * Durations come from the events' own measurements, so they follow the clock the agent runs on.
 *
 * @param telemetry - the bus (an agent definition's, or an actor system's `system.telemetry`).
 * @param options - meter provider, actor system to observe, handler id.
 * @returns the handle, to detach.
 * @throws the bus's InvalidArgumentError for a taken id.
 * @example
 * ```ts
 * const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() });
 * const handle = attachMetrics(system.telemetry, { meterProvider: new MeterProvider({ readers: [reader] }), system });
 * await agent.run("hi");
 * handle.detach();
 * ```
 */
export function attachMetrics(telemetry: Telemetry, options: AttachMetricsOptions = {}): MetricsHandle {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(METER_NAME, METER_VERSION);
  const tokens = meter.createHistogram("gen_ai.client.token.usage", {
    unit: "{token}",
    description: "Number of input and output tokens used.",
    advice: { explicitBucketBoundaries: [...GEN_AI_TOKEN_BUCKETS] },
  });
  const duration = meter.createHistogram("gen_ai.client.operation.duration", {
    unit: "s",
    description: "GenAI operation duration.",
    advice: { explicitBucketBoundaries: [...GEN_AI_DURATION_BUCKETS] },
  });
  const firstChunk = meter.createHistogram("gen_ai.client.operation.time_to_first_chunk", {
    unit: "s",
    description: "Time to receive the first chunk of a streamed response.",
    advice: { explicitBucketBoundaries: [...GEN_AI_DURATION_BUCKETS] },
  });
  const restarts = meter.createCounter("normandy.supervisor.restarts", {
    unit: "{restart}",
    description: "Children restarted by supervisors.",
  });
  const deadLetters = meter.createCounter("normandy.dead_letters", {
    unit: "{message}",
    description: "Messages that reached no process.",
  });
  const overflows = meter.createCounter("normandy.mailbox.overflows", {
    unit: "{message}",
    description: "Messages that found a bounded mailbox full.",
  });
  const cost = meter.createCounter("normandy.agent.cost", {
    unit: "{USD}",
    description: "Dollars spent by agent runs (from the agent's price list).",
  });

  const handler = (event: EventName, measurements: Measurements, metadata: Metadata): void => {
    switch (event[1]) {
      case "agent": {
        const attributes: Attributes = {
          [GEN_AI.OPERATION_NAME]: event[2] === "run" ? OPERATION.INVOKE_AGENT : OPERATION.CHAT,
        };
        setIf(attributes, GEN_AI.PROVIDER_NAME, str(metadata.provider));
        setIf(attributes, GEN_AI.REQUEST_MODEL, str(metadata.model));
        const seconds = (num(measurements.duration) ?? 0) / 1000;
        if (event[3] === "first_chunk") {
          firstChunk.record(seconds, attributes);
          return;
        }
        if (event[3] === "exception") {
          attributes[ERROR_TYPE] = errorTypeOf(metadata.error);
          if (event[2] === "run") setIf(attributes, GEN_AI.AGENT_NAME, str(metadata.agent));
          duration.record(seconds, attributes);
          return;
        }
        if (event[2] === "run") {
          setIf(attributes, GEN_AI.AGENT_NAME, str(metadata.agent));
          duration.record(seconds, attributes);
          const dollars = num(metadata.costUsd);
          if (dollars !== undefined && dollars > 0) cost.add(dollars, attributes);
          return;
        }
        setIf(attributes, GEN_AI.RESPONSE_MODEL, str(metadata.responseModel));
        duration.record(seconds, attributes);
        recordTokens(tokens, measurements.inputTokens, "input", attributes);
        recordTokens(tokens, measurements.outputTokens, "output", attributes);
        return;
      }
      case "supervisor":
        restarts.add(1, { [NORMANDY.REASON]: exitReasonLabel(metadata.reason) });
        return;
      case "dead_letter":
        deadLetters.add(1, { [NORMANDY.DEAD_LETTER_REASON]: str(metadata.reason) ?? "_OTHER" });
        return;
      case "mailbox":
        overflows.add(1, { [NORMANDY.MAILBOX_POLICY]: str(metadata.policy) ?? "_OTHER" });
        return;
    }
  };

  const id = options.id ?? `normandy.metrics.${++attached}`;
  telemetry.attach(id, METERED_EVENTS, handler);
  const unobserve =
    options.system === undefined ? () => {} : observe(meter, options.system, options.mailboxes);
  return {
    id,
    detach: () => {
      unobserve();
      return telemetry.detach(id);
    },
  };
}

function recordTokens(
  histogram: { record(value: number, attributes: Attributes): void },
  count: unknown,
  type: "input" | "output",
  attributes: Attributes,
): void {
  const n = num(count);
  if (n !== undefined) histogram.record(n, { ...attributes, [GEN_AI.TOKEN_TYPE]: type });
}

/** Registers the gauges of an actor system; returns what unregisters them. */
function observe(
  meter: ReturnType<MeterProvider["getMeter"]>,
  system: ActorSystem,
  mailboxes: readonly string[] | undefined,
): () => void {
  const processes: ObservableGauge = meter.createObservableGauge("normandy.processes", {
    unit: "{process}",
    description: "Live processes of the actor system.",
  });
  const depth: ObservableGauge = meter.createObservableGauge("normandy.mailbox.depth", {
    unit: "{message}",
    description: "Messages waiting in a process's mailbox.",
  });
  const countProcesses: ObservableCallback = (result) => result.observe(system.processCount);
  const measureDepths: ObservableCallback = (result) => {
    for (const name of mailboxes ?? system.registered()) {
      const waiting = system.mailboxDepth(name);
      if (waiting !== undefined) result.observe(waiting, { [NORMANDY.PROCESS_NAME]: name });
    }
  };
  processes.addCallback(countProcesses);
  depth.addCallback(measureDepths);
  return () => {
    processes.removeCallback(countProcesses);
    depth.removeCallback(measureDepths);
  };
}

function setIf(attributes: Attributes, key: string, value: string | undefined): void {
  if (value !== undefined) attributes[key] = value;
}
