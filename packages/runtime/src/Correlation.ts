/**
 * The correlation context: the ids of the work in progress (system, process, agent, run, conversation,
 * turn, trace, span), carried through async work by AsyncLocalStorage and across AgentMessages as
 * metadata, so log lines and telemetry handlers can say which work they belong to.
 *
 * Off until something asks for it: in Node 20 a running AsyncLocalStorage makes every promise of the
 * process pay for the async hooks (measured: ~3x on a promise-bound loop, ~12 % of an agent step's
 * throughput), so Normandy carries the ids explicitly where it controls the work (an agent's events and
 * its tools' `ctx.correlation`, a run's `correlation` option, AgentMessage metadata, agent processes) and
 * opens contexts only when {@link Correlation.enabled} is true — after {@link Correlation.enable} or a
 * first explicit {@link Correlation.run} — so that code of yours (a tool that logs, or starts a run
 * without passing its `ctx.correlation`) sees them too. Once on, it stays on for the life of the process
 * (turning it off would silently drop the contexts of the work in flight).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomFillSync } from "node:crypto";

/**
 * Correlation ids. The named ones are the ones Normandy sets; any other string field is carried along
 * (e.g. a tenant id). An explicit `undefined` clears an inherited id.
 */
export interface CorrelationIds {
  /** The actor system or node. */
  readonly system?: string | undefined;
  /** The pid of the process doing the work (an agent process). */
  readonly processId?: string | undefined;
  /** The AgentMessage being worked on. */
  readonly messageId?: string | undefined;
  /** The agent's name. */
  readonly agent?: string | undefined;
  /** The agent run. */
  readonly runId?: string | undefined;
  readonly conversationId?: string | undefined;
  readonly turnId?: string | undefined;
  /** W3C trace id (32 hex digits), kept by every unit of work of one request tree. */
  readonly traceId?: string | undefined;
  /** W3C span id (16 hex digits) of the current unit of work. */
  readonly spanId?: string | undefined;
  /** The span of the unit of work that started this one (e.g. the calling agent's run). */
  readonly parentSpanId?: string | undefined;
  /** The agent whose run started this one (across an AgentMessage, the caller). */
  readonly parentAgent?: string | undefined;
  /** The run that started this one. */
  readonly parentRunId?: string | undefined;
  readonly [key: string]: string | undefined;
}

/** Options of {@link Correlation.run}. */
export interface CorrelationRunOptions {
  /** Merge with the current context (default true); false starts from `ids` alone. */
  readonly inherit?: boolean;
}

/** The metadata key under which {@link Correlation.toMetadata} puts the ids. */
export const CORRELATION_METADATA_KEY = "correlation";

// what a message may bring in: bounded, so a hostile or broken sender cannot bloat every log line
const MAX_IDS = 32;
const MAX_ID_LENGTH = 256;
const KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

const storage = new AsyncLocalStorage<CorrelationIds>();
let enabled = false;

// every run takes a trace and a span id: from a pool of random bytes refilled 4 KiB at a time (measured:
// 0.6 µs for the pair, against 1.4–2.5 µs with a `randomUUID` per id, whose version bits are not random)
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(length: 32 | 16): string {
  const bytes = length / 2;
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString("hex", used, used + bytes);
  used += bytes;
  // an all-zero id is invalid in W3C trace context (one chance in 2^64: draw again)
  return /[^0]/.test(hex) ? hex : randomHex(length);
}

/** Only the string-valued fields (what crosses a message). */
function definedIds(ids: CorrelationIds): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(ids)) if (typeof value === "string") out[key] = value;
  return out;
}

/**
 * The correlation context.
 *
 * @example
 * ```ts
 * Correlation.enable();
 * await Correlation.run({ system: "node-a", tenant: "acme" }, () => agent.run("hi"));
 * // inside the run (tools, providers, telemetry handlers): Correlation.current()
 * //   → { system: "node-a", tenant: "acme", agent, runId, conversationId, turnId, traceId, spanId, ... }
 * ```
 */
export const Correlation = {
  /** Whether correlation is on (agents and processes open contexts only then). */
  get enabled(): boolean {
    return enabled;
  },

  /** Turns correlation on for the rest of the process (idempotent). */
  enable(): void {
    enabled = true;
  },

  /**
   * Runs `fn` in a context holding `ids` merged over the current ones (and turns correlation on).
   *
   * @param ids - the ids to set; `undefined` values clear inherited ones.
   * @param fn - the work; everything it starts, sync or async, sees the context.
   * @param options - `inherit: false` to start from `ids` alone.
   * @returns what `fn` returns.
   */
  run<T>(ids: CorrelationIds, fn: () => T, options: CorrelationRunOptions = {}): T {
    enabled = true;
    const current = options.inherit === false ? undefined : storage.getStore();
    return storage.run(current === undefined ? { ...ids } : { ...current, ...ids }, fn);
  },

  /**
   * Runs `fn` as a child unit of work of the current context: `ids` merged over the current ones, a new
   * span id, the trace id kept (or a new trace started), and the current agent, run and span recorded as
   * `parentAgent`, `parentRunId` and `parentSpanId`.
   *
   * @param ids - the child's own ids (e.g. agent, runId, conversationId, turnId).
   * @param fn - the work.
   * @returns what `fn` returns.
   */
  runChild<T>(ids: CorrelationIds, fn: () => T): T {
    return Correlation.run(Correlation.child(storage.getStore(), ids), fn, { inherit: false });
  },

  /**
   * The ids of a child unit of work of `parent`, without any context: `ids` merged over the parent's, a
   * new span id, the trace id kept (or a new trace started), and the parent's agent, run and span recorded
   * as `parentAgent`, `parentRunId` and `parentSpanId`. What {@link Correlation.runChild} runs in, for
   * work that carries its ids explicitly (an agent run given a caller's ids).
   *
   * @param parent - the parent's ids (undefined: the child starts a trace).
   * @param ids - the child's own ids.
   * @returns the child's ids.
   */
  child(parent: CorrelationIds | undefined, ids: CorrelationIds = {}): CorrelationIds {
    const child: Record<string, string | undefined> = {
      ...parent,
      ...ids,
      traceId: parent?.traceId ?? randomHex(32),
      spanId: randomHex(16),
    };
    // a root has no parent fields at all (an undefined one would still be a key on every event)
    if (parent !== undefined) {
      child.parentSpanId = parent.spanId;
      child.parentAgent = parent.agent;
      child.parentRunId = parent.runId;
    }
    return child;
  },

  /**
   * The current ids.
   *
   * @returns the context's ids, or undefined outside any context.
   */
  current(): CorrelationIds | undefined {
    return enabled ? storage.getStore() : undefined;
  },

  /**
   * The current ids as AgentMessage metadata, under {@link CORRELATION_METADATA_KEY} (only the defined
   * ones; nothing outside a context).
   *
   * @param ids - the ids to carry (default the current ones).
   * @returns e.g. `{ correlation: { agent: "caller", runId: "…", traceId: "…", spanId: "…" } }`, or `{}`.
   */
  toMetadata(ids: CorrelationIds | undefined = Correlation.current()): Record<string, unknown> {
    if (ids === undefined) return {};
    const carried = definedIds(ids);
    return Object.keys(carried).length === 0 ? {} : { [CORRELATION_METADATA_KEY]: carried };
  },

  /**
   * The ids a message carries: its {@link CORRELATION_METADATA_KEY} entry (string fields with sane keys
   * only, bounded in number and length), with the trace and span ids of a W3C `traceparent` when that
   * entry has none.
   *
   * @param metadata - an AgentMessage's metadata (untrusted).
   * @returns the ids (empty when the message carries none).
   */
  fromMetadata(metadata: Readonly<Record<string, unknown>> | undefined): CorrelationIds {
    const ids: Record<string, string> = {};
    const carried = metadata?.[CORRELATION_METADATA_KEY];
    if (typeof carried === "object" && carried !== null && !Array.isArray(carried)) {
      let count = 0;
      for (const [key, value] of Object.entries(carried)) {
        if (count >= MAX_IDS) break;
        if (typeof value !== "string" || value.length > MAX_ID_LENGTH || !KEY.test(key)) continue;
        ids[key] = value;
        count++;
      }
    }
    const parent = metadata?.traceparent;
    const match = typeof parent === "string" ? TRACEPARENT.exec(parent) : null;
    if (match !== null && ids.traceId === undefined) {
      ids.traceId = match[1] as string;
      ids.spanId = match[2] as string;
    }
    return ids;
  },
} as const;
