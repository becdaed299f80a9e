/**
 * Structured output: the agent's input and output schemas (zod; default `{ chat_message: string }`),
 * the `# OUTPUT SCHEMA` prompt block with the real JSON Schema (the original sent its internal type
 * tuples, §2.11-7), and parsing a reply into the schema — fences stripped, Normandy's
 * `response|message|text → chat_message` renaming, validation errors worded for a repair prompt.
 */
import { type ZodType, z } from "zod";
import type { JsonSchema } from "../model/messages.js";

/** The default input schema: `{ chat_message: string }`. */
export const DefaultInputSchema = z
  .object({ chat_message: z.string().describe("an input chat message from user") })
  .describe("base input");

/** The default output schema: `{ chat_message: string }`. */
export const DefaultOutputSchema = z
  .object({ chat_message: z.string().describe("a result chat message") })
  .describe("base output");

/** The shape of the default schemas. */
export type ChatMessage = z.infer<typeof DefaultOutputSchema>;

/** A reply that does not fit the output schema, after every repair attempt. */
export class StructuredOutputError extends Error {
  /** The model's last reply, unparsed. */
  readonly raw: string;
  /** What was wrong with it. */
  readonly issues: string;

  /**
   * @param raw - the model's text.
   * @param issues - the parse or validation problem.
   */
  constructor(raw: string, issues: string) {
    super(`the model's reply does not match the output schema: ${issues}`);
    this.name = "StructuredOutputError";
    this.raw = raw;
    this.issues = issues;
  }
}

/**
 * The JSON Schema of a zod schema, as sent to models (without `$schema`).
 *
 * @param schema - a zod schema.
 * @returns its JSON Schema.
 */
export function jsonSchemaOf(schema: ZodType<unknown>): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema) as Record<string, unknown>;
  return rest;
}

/**
 * Normandy's output-schema block for the system prompt.
 *
 * @param schema - the output schema.
 * @returns the block.
 */
export function outputSchemaBlock(schema: ZodType<unknown>): string {
  return [
    "# OUTPUT SCHEMA",
    "You MUST respond with valid JSON that exactly matches this schema, with no other text:",
    JSON.stringify(jsonSchemaOf(schema), null, 2),
  ].join("\n");
}

/** The result of {@link parseStructuredOutput}. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: string };

const FENCE = /^\s*```[a-zA-Z0-9_-]*\s*\n?([\s\S]*?)\n?\s*```\s*$/;
const ALIASES = ["response", "message", "text"] as const;

/**
 * Parses a model's reply into the output schema.
 *
 * - A reply in a Markdown code fence is unwrapped.
 * - For a schema with a `chat_message` field, a reply that is not a JSON object becomes `{ chat_message: text }`,
 *   and a JSON object with `response`, `message` or `text` instead has it renamed (Normandy's rule).
 *
 * @param text - the model's text.
 * @param schema - the output schema.
 * @returns the value, or the issues (worded to be sent back to the model).
 */
export function parseStructuredOutput<T>(text: string, schema: ZodType<T>): ParseResult<T> {
  const body = FENCE.exec(text)?.[1] ?? text;
  const wantsChatMessage = hasChatMessage(schema);
  let value: unknown;
  // for a chat schema, a reply that is not a JSON object ("2", "true", "[1]", prose) is just text; a
  // JSON text starting with "{" is an object, so the (throwing, costly) parse of prose is skipped
  if (wantsChatMessage && !body.trimStart().startsWith("{")) {
    value = { chat_message: text };
    // the default schema is exactly this shape: nothing to check (most replies of most agents)
    if ((schema as ZodType<unknown>) === DefaultOutputSchema) return { ok: true, value: value as T };
  } else
    try {
      value = JSON.parse(body);
    } catch (error) {
      if (!wantsChatMessage)
        return { ok: false, issues: `the reply is not valid JSON (${(error as Error).message})` };
      value = { chat_message: text };
    }
  if (wantsChatMessage && !("chat_message" in (value as object))) {
    const record = value as Record<string, unknown>;
    const alias = ALIASES.find((k) => typeof record[k] === "string");
    if (alias !== undefined) {
      const { [alias]: chat, ...rest } = record;
      value = { ...rest, chat_message: chat };
    }
  }
  const parsed = schema.safeParse(value);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, issues: z.prettifyError(parsed.error) };
}

/**
 * The message sent back to the model when its reply did not fit the schema.
 *
 * @param issues - what was wrong.
 * @returns the repair prompt.
 */
export function repairPrompt(issues: string): string {
  return `Your previous reply did not match the required output schema:\n${issues}\nReply again with only valid JSON that matches the schema.`;
}

const chatSchemas = new WeakMap<ZodType<unknown>, boolean>();

function hasChatMessage(schema: ZodType<unknown>): boolean {
  let yes = chatSchemas.get(schema);
  if (yes === undefined) {
    const json = jsonSchemaOf(schema) as { properties?: Record<string, unknown> };
    yes = json.properties !== undefined && "chat_message" in json.properties;
    chatSchemas.set(schema, yes);
  }
  return yes;
}
