/**
 * Running the tool calls of one model turn: arguments validated before `run`, each call with its own
 * timeout and AbortSignal, several calls in parallel under a concurrency limit, results in call order.
 * Nothing here throws: an unknown tool, invalid arguments, a throw, a rejection or a timeout becomes an
 * error tool result that goes back to the model, so it can correct itself.
 */
import { type Clock, type CorrelationIds, onAbort, systemClock, type Telemetry } from "@normandy/runtime";
import { z } from "zod";
import { errorResult, type ToolCallBlock, type ToolResultBlock } from "../model/messages.js";
import type { ToolContext } from "./defineTool.js";
import type { ToolRegistry } from "./ToolRegistry.js";

/** Options of {@link executeToolCalls}. */
export interface ExecuteToolsOptions {
  /** Cancels every running call (their signals abort; they end as error results). */
  readonly signal?: AbortSignal;
  /** Default per-call timeout in ms (a tool's own `timeoutMs` wins); default 30,000. */
  readonly timeoutMs?: number;
  /** The most calls running at once (default 8). */
  readonly concurrency?: number;
  /** The clock timeouts run on (default the real one). */
  readonly clock?: Clock;
  /** Emits `["normandy","tool","call","start"|"stop"]` for each call. */
  readonly telemetry?: Telemetry;
  /** Added to telemetry metadata (e.g. the agent's name). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The calling agent's name, for the tool's context. */
  readonly agent?: string;
  /** Handed to every tool as `ctx.services`. */
  readonly services?: Readonly<Record<string, unknown>>;
  /** The ids of the work the calls belong to; each tool gets them, with its call's id, as `ctx.correlation`. */
  readonly correlation?: CorrelationIds;
}

const NO_SERVICES: Readonly<Record<string, unknown>> = Object.freeze({});

/** The default per-call timeout. */
export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/**
 * Runs one tool call.
 *
 * @param registry - the tools.
 * @param call - the model's call.
 * @param options - signal, timeout, clock, telemetry.
 * @returns the result block (an error result for every failure).
 */
export async function executeToolCall(
  registry: ToolRegistry,
  call: ToolCallBlock,
  options: ExecuteToolsOptions = {},
): Promise<ToolResultBlock> {
  const telemetry = options.telemetry;
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  // built only for a bus that listens (most calls have none)
  const meta = () => ({ ...options.metadata, tool: call.name, toolCallId: call.id });
  if (telemetry?.active) telemetry.emit(["normandy", "tool", "call", "start"], {}, meta());
  const result = await runCall(registry, call, options, clock);
  if (telemetry?.active) {
    telemetry.emit(
      ["normandy", "tool", "call", "stop"],
      { duration: clock.now() - started },
      { ...meta(), isError: result.isError === true },
    );
  }
  return result;
}

async function runCall(
  registry: ToolRegistry,
  call: ToolCallBlock,
  options: ExecuteToolsOptions,
  clock: Clock,
): Promise<ToolResultBlock> {
  const tool = registry.get(call.name);
  if (tool === undefined) return errorResult(call, `Tool '${call.name}' not found in registry`);
  if (call.argumentsError !== undefined) {
    return errorResult(
      call,
      `Invalid arguments for ${call.name}: ${call.argumentsError}. Send a JSON object that matches the tool's input schema.`,
    );
  }
  const parsed = tool.input.safeParse(call.arguments);
  if (!parsed.success)
    return errorResult(call, `Invalid arguments for ${call.name}:\n${z.prettifyError(parsed.error)}`);
  if (options.signal?.aborted)
    return errorResult(call, `Tool ${call.name} was not run: the run was cancelled`);

  const timeoutMs = tool.timeoutMs ?? options.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  return new Promise<ToolResultBlock>((resolve) => {
    let settled = false;
    let detach = () => {};
    // the call's signal is made when the tool first reads it (most tools never do, and a signal costs
    // more than the rest of the call): a cancel or timeout before then leaves one that is aborted already
    let controller: AbortController | undefined;
    let abortReason: unknown;
    let aborted = false;
    const abort = (reason: unknown) => {
      aborted = true;
      abortReason = reason;
      controller?.abort(reason);
    };
    const finish = (result: ToolResultBlock) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      detach();
      resolve(result);
    };
    const timer = clock.setTimeout(() => {
      abort(new Error(`timed out after ${timeoutMs} ms`));
      finish(errorResult(call, `Tool ${call.name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    // the run's tool calls in flight share one listener on its signal
    const signal = options.signal;
    if (signal !== undefined)
      detach = onAbort(signal, () => {
        abort(signal.reason);
        finish(errorResult(call, `Tool ${call.name} was cancelled`));
      });
    let running: unknown;
    try {
      const ctx: ToolContext = {
        get signal() {
          if (controller === undefined) {
            controller = new AbortController();
            if (aborted) controller.abort(abortReason);
          }
          return controller.signal;
        },
        toolCallId: call.id,
        services: options.services ?? NO_SERVICES,
        correlation: { ...options.correlation, toolCallId: call.id },
        ...(options.agent !== undefined && { agent: options.agent }),
      };
      running = tool.run(parsed.data as never, ctx);
    } catch (error) {
      finish(errorResult(call, `Tool ${call.name} failed: ${describe(error)}`));
      return;
    }
    // a tool that outlives its timeout may still settle later: that outcome is handled here and dropped
    Promise.resolve(running).then(
      (output) => finish(serialize(call, output)),
      (error: unknown) => finish(errorResult(call, `Tool ${call.name} failed: ${describe(error)}`)),
    );
  });
}

/**
 * Runs the tool calls of one turn in parallel (at most `concurrency` at once).
 *
 * @param registry - the tools.
 * @param calls - the model's calls, in order.
 * @param options - signal, timeout, concurrency, clock, telemetry.
 * @returns one result per call, in call order.
 * @example
 * ```ts
 * const results = await executeToolCalls(registry, toolCallsOf(response), { signal, concurrency: 4 });
 * memory.add({ role: "tool", content: results });
 * ```
 */
export async function executeToolCalls(
  registry: ToolRegistry,
  calls: readonly ToolCallBlock[],
  options: ExecuteToolsOptions = {},
): Promise<ToolResultBlock[]> {
  const limit = options.concurrency ?? 8;
  if (!(limit >= 1)) throw new RangeError(`concurrency must be >= 1, got ${limit}`);
  const results: ToolResultBlock[] = new Array(calls.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < calls.length; i = next++)
      results[i] = await executeToolCall(registry, calls[i] as ToolCallBlock, options);
  };
  await Promise.all(Array.from({ length: Math.min(limit, calls.length) }, worker));
  return results;
}

function serialize(call: ToolCallBlock, output: unknown): ToolResultBlock {
  if (typeof output === "string") return { type: "tool_result", toolCallId: call.id, content: output };
  try {
    const text = JSON.stringify(output);
    return { type: "tool_result", toolCallId: call.id, content: text ?? "null" };
  } catch (error) {
    return errorResult(
      call,
      `Tool ${call.name} returned a value that cannot be sent as JSON: ${describe(error)}`,
    );
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error); // not JSON-able (e.g. circular): the string form still says what was thrown
  }
}
