/**
 * The structured logger: one pino JSON line per telemetry event, carrying the correlation ids of the
 * work it belongs to, at a level chosen per event kind, with secrets redacted; pretty text for
 * development. Its logger (and its children) is also the one for user code: tools, providers.
 */
import {
  Correlation,
  type EventFilter,
  type EventName,
  InvalidArgumentError,
  type Measurements,
  type Metadata,
  type Telemetry,
  type TelemetryHandler,
} from "@normandy/runtime";
import pino from "pino";
import PinoPretty from "pino-pretty";
import { correlationFields } from "./correlationFields.js";
import { EventLevelResolver, type EventLevels, type LogLevel } from "./eventLevels.js";
import { type LoggableOptions, toLoggable } from "./loggable.js";
import { normalizeKey, REDACTED, scrubSecrets } from "./redaction.js";

/** Options of {@link attachLogger}. */
export interface AttachLoggerOptions {
  /** The lowest level written (default `info`). */
  readonly level?: LogLevel | "silent";
  /** Where lines go: a pino destination or any `{ write(line) }` stream (default stdout). */
  readonly destination?: pino.DestinationStream;
  /** Human-readable text through pino-pretty instead of JSON, for development (default false). */
  readonly pretty?: boolean;
  /**
   * Fields to redact besides the secrets always redacted (API keys, authorization headers, passwords,
   * tokens, cookies): a pino redact path (`metadata.user.email`, `*.ssn`), or a bare name (`ssn`),
   * which is redacted at any depth.
   */
  readonly redact?: readonly string[];
  /** Secret values (e.g. the API keys in use, 8 characters or more) removed wherever they appear. */
  readonly secrets?: readonly string[];
  /** Levels per event kind, over `DEFAULT_EVENT_LEVELS`; `silent` drops an event. */
  readonly levels?: EventLevels;
  /** A name for this actor system or node, on every line as `system`. */
  readonly system?: string;
  /** The events to log (default every event, `"*"`). */
  readonly events?: EventFilter;
  /** Keep error stacks (default false: name, message, code and the error's own data fields). */
  readonly stacks?: boolean;
  /** The handler's id on the bus (default a unique `normandy.logger.<n>`). */
  readonly id?: string;
  /**
   * Turn the correlation context on (`Correlation.enable()`, default false), so lines your code logs
   * anywhere inside a run (a tool, a provider, code the tool calls) carry the run's ids without passing
   * them. Off, the ids are on every line of the telemetry events, and on your lines when you bind them:
   * `child(ctx.correlation)` in a tool. In Node 20 the context costs every promise of the process an async
   * hook (about 12 % of an agent step's throughput), which is why it is not on by default.
   */
  readonly asyncContext?: boolean;
}

/** An attached logger. */
export interface LoggerHandle {
  /** The pino logger; lines logged through it carry the correlation ids of the context they are logged in. */
  readonly logger: pino.Logger;
  /** The handler's id on the bus. */
  readonly id: string;
  /**
   * A child logger for user code (a tool, a provider): its lines carry the bindings (in a tool, pass
   * `ctx.correlation` for the run's ids) and, with `asyncContext`, the ids of the run they are logged in;
   * they are redacted like the rest.
   *
   * @param bindings - fields on every line of the child (e.g. `{ tool: "search", ...ctx.correlation }`).
   * @returns the child logger.
   */
  child(bindings?: Readonly<Record<string, unknown>>): pino.Logger;
  /**
   * Stops logging telemetry events (the logger itself stays usable).
   *
   * @returns whether the handler was still attached.
   */
  detach(): boolean;
}

/** Metadata fields lifted to the top of a line: the ids a line is found by (those of `CorrelationIds`). */
const ID_KEYS = new Set([
  "system",
  "processId",
  "messageId",
  "agent",
  "runId",
  "conversationId",
  "turnId",
  "traceId",
  "spanId",
  "parentSpanId",
  "parentAgent",
  "parentRunId",
  "toolCallId",
]);
const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);
const MIN_SECRET_LENGTH = 8;
/** Marks a telemetry line (a symbol: pino's mixin merge keeps it, its serializer skips it). */
const EVENT_LINE = Symbol("normandy.eventLine");

let attached = 0;

/**
 * Attaches a structured JSON logger to a telemetry bus (and, with `asyncContext`, turns correlation on).
 *
 * Each event becomes one line: `event` (the dotted name), `msg` (`agent run stop`), the correlation ids
 * (`agent`, `runId`, `conversationId`, `turnId`, `traceId`, `spanId`, `processId`, …: the event's own,
 * then the current correlation context's), `measurements`, the rest of the metadata under `metadata`
 * (bounded; message contents left out) and an error under `err` (`name`, `message`, `code`, own data
 * fields, `cause`). Default levels: `DEFAULT_EVENT_LEVELS`.
 *
 * @param telemetry - the bus (an agent definition's, or an actor system's `system.telemetry`).
 * @param options - level, destination, pretty, redaction, levels per event kind.
 * @returns the logger, a child-logger helper for user code, and `detach`.
 * @throws InvalidArgumentError for an unknown level or a secret value shorter than 8 characters;
 *   pino's error for an invalid redact path; the bus's for a taken id.
 * @example
 * ```ts
 * const telemetry = new Telemetry();
 * const { logger, child, detach } = attachLogger(telemetry, { level: "debug", secrets: [apiKey] });
 * const log = child({ tool: "search" });
 * const search = defineTool({ name: "search", input, run: async (q) => { log.info({ q }, "searching"); … } });
 * const agent = defineAgent({ name: "helper", provider, model, tools: [search], telemetry });
 * await agent.run("hi"); // {"level":30,"event":"normandy.agent.run.start","agent":"helper","runId":…}
 * detach();
 * ```
 */
export function attachLogger(telemetry: Telemetry, options: AttachLoggerOptions = {}): LoggerHandle {
  const level = options.level ?? "info";
  for (const l of [level, ...Object.values(options.levels ?? {})])
    if (!LEVELS.has(l)) throw new InvalidArgumentError(`unknown log level ${JSON.stringify(l)}`);
  const secrets = options.secrets ?? [];
  if (secrets.some((s) => s.length < MIN_SECRET_LENGTH))
    throw new InvalidArgumentError(`secret values must have at least ${MIN_SECRET_LENGTH} characters`);
  const paths = (options.redact ?? []).filter((p) => /[.[*]/.test(p));
  const redactKeys = new Set((options.redact ?? []).filter((p) => !/[.[*]/.test(p)).map(normalizeKey));
  const loggable: LoggableOptions = { redactKeys, stacks: options.stacks ?? false };
  const system = options.system;

  const logger = pino(
    {
      level,
      mixin: () => (system === undefined ? correlationFields() : { system, ...correlationFields() }),
      formatters: {
        bindings: (bindings) => asFields(toLoggable(bindings, loggable)),
        // one pass over every line: telemetry lines also leave message contents out of their metadata
        log: (object) =>
          asFields(
            toLoggable(
              object,
              (object as Record<PropertyKey, unknown>)[EVENT_LINE] === true ? eventLine : loggable,
            ),
          ),
      },
      // errors are already serialized by the formatter above (pino's own would re-shape them)
      serializers: { err: (value: unknown) => value },
      hooks: { streamWrite: (line) => scrubSecrets(line, secrets) },
      ...(paths.length > 0 && { redact: { paths, censor: REDACTED } }),
    },
    options.pretty === true ? prettyStream(options.destination) : options.destination,
  );

  const levels = new EventLevelResolver(options.levels);
  const eventLine: LoggableOptions = { ...loggable, omitContent: true };
  const handler: TelemetryHandler = (event, measurements, metadata) => {
    const eventLevel = levels.levelOf(event, metadata);
    if (eventLevel === "silent" || !logger.isLevelEnabled(eventLevel)) return;
    logger[eventLevel](lineOf(event, measurements, metadata), messageOf(event));
  };
  const id = options.id ?? `normandy.logger.${++attached}`;
  telemetry.attach(id, options.events ?? "*", handler);
  if (options.asyncContext === true) Correlation.enable();
  return {
    logger,
    id,
    child: (bindings = {}) => logger.child(bindings),
    detach: () => telemetry.detach(id),
  };
}

/** The line of one event (before the correlation ids of the context are mixed in). */
function lineOf(
  event: EventName,
  measurements: Measurements,
  metadata: Metadata,
): Record<PropertyKey, unknown> {
  const line: Record<PropertyKey, unknown> = { [EVENT_LINE]: true, event: event.join(".") };
  let rest: Record<string, unknown> | undefined;
  for (const key of Object.keys(metadata)) {
    const value = metadata[key];
    if (value === undefined) continue;
    if (ID_KEYS.has(key) && typeof value === "string") line[key] = value;
    else if (key === "error") line.err = value;
    else {
      rest ??= {};
      rest[key] = value;
    }
  }
  if (Object.keys(measurements).length > 0) line.measurements = measurements;
  if (rest !== undefined) line.metadata = rest;
  return line;
}

/** `["normandy", "agent", "run", "stop"]` → `agent run stop`. */
function messageOf(event: EventName): string {
  return (event[0] === "normandy" ? event.slice(1) : event).join(" ");
}

function asFields(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : { value };
}

/** pino-pretty as a synchronous destination: one readable block per line, in order. */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  // synchronous: development output, in order with the rest of stdout, nothing lost at exit
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  const format = PinoPretty.prettyFactory({
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,event",
    messageFormat: (log, messageKey) => {
      const agent = typeof log.agent === "string" ? log.agent : undefined;
      const run = typeof log.runId === "string" ? ` ${log.runId.slice(0, 8)}` : "";
      return `${String(log[messageKey] ?? "")}${agent === undefined ? "" : ` [${agent}${run}]`}`;
    },
  });
  return { write: (line: string) => out.write(format(line)) };
}
