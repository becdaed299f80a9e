/**
 * Tools: a name, a description, a zod input schema (from which the JSON Schema sent to the model is
 * generated), and a `run` function that gets validated input, an AbortSignal and a timeout.
 */
import type { CorrelationIds } from "@normandy/runtime";
import { type ZodType, z } from "zod";
import type { JsonSchema, ToolDefinition } from "../model/messages.js";

/** What a tool's `run` receives besides its input. */
export interface ToolContext {
  /** Aborted when the call times out or the agent run is cancelled. */
  readonly signal: AbortSignal;
  /** The model's id for this call. */
  readonly toolCallId: string;
  /** The calling agent's name (undefined when run outside an agent). */
  readonly agent?: string;
  /** What the agent's definition shares with its tools (a shared-context namespace, clients, ...). */
  readonly services: Readonly<Record<string, unknown>>;
  /**
   * The ids of the work this call belongs to (the run's agent, run, conversation, turn, trace and span
   * ids, and this call's id). Pass them on — `agent.run(input, { correlation: ctx.correlation })`, a
   * request's `correlation` option, `logger.child(ctx.correlation)` — and that work joins this trace.
   */
  readonly correlation: CorrelationIds;
}

/** A tool definition, as given to {@link defineTool}. */
export interface ToolSpec<I, O> {
  readonly name: string;
  readonly description: string;
  /** The arguments, validated before `run`; a failure goes back to the model as an error result. */
  readonly input: ZodType<I>;
  /** Does the work. A string result is sent as is; anything else as JSON. A throw becomes an error result. */
  readonly run: (input: I, ctx: ToolContext) => O | Promise<O>;
  /** Milliseconds before the call is abandoned (its signal aborts) and an error result is returned (default 30 s). */
  readonly timeoutMs?: number;
  /** Whether a call waits for human approval before running (a predicate decides per input). */
  readonly needsApproval?: boolean | ((input: I) => boolean);
}

/** A tool, ready for a registry. */
export interface Tool<I = unknown, O = unknown> extends ToolSpec<I, O> {
  /** The JSON Schema of the input, generated from the zod schema. */
  readonly inputSchema: JsonSchema;
  /** The definition sent to the model. */
  readonly definition: ToolDefinition;
}

/**
 * Any tool, whatever its input and output types (what registries hold). `Tool<I, O>` takes `I` both in
 * (its `run`) and out (its schema), so no single `Tool<X>` covers them all.
 */
export interface AnyTool {
  readonly name: string;
  readonly description: string;
  readonly input: ZodType<unknown>;
  readonly run: (input: never, ctx: ToolContext) => unknown;
  readonly timeoutMs?: number;
  readonly needsApproval?: boolean | ((input: never) => boolean);
  readonly inputSchema: JsonSchema;
  readonly definition: ToolDefinition;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Defines a tool.
 *
 * @param spec - name (letters, digits, `_`, `-`; at most 64), description, zod input, run.
 * @returns the tool.
 * @throws TypeError for an invalid name or an input schema that is not an object schema.
 * @example
 * ```ts
 * const weather = defineTool({
 *   name: "get_weather",
 *   description: "Current weather for a city.",
 *   input: z.object({ city: z.string() }),
 *   run: async ({ city }, { signal }) => (await fetch(`https://…?q=${city}`, { signal })).json(),
 * });
 * ```
 */
export function defineTool<I, O>(spec: ToolSpec<I, O>): Tool<I, O> {
  if (!NAME.test(spec.name))
    throw new TypeError(
      `invalid tool name ${JSON.stringify(spec.name)}: use [a-zA-Z0-9_-], 1 to 64 characters`,
    );
  if (spec.timeoutMs !== undefined && !(spec.timeoutMs > 0))
    throw new TypeError(`tool ${spec.name}: timeoutMs must be > 0`);
  const { $schema: _, ...inputSchema } = z.toJSONSchema(spec.input) as Record<string, unknown>;
  if (inputSchema.type !== "object")
    throw new TypeError(`tool ${spec.name}: the input must be a zod object schema`);
  return {
    ...spec,
    inputSchema,
    definition: { name: spec.name, description: spec.description, inputSchema },
  };
}
