// Structured output: schema block, fence stripping, Normandy's renaming, validation issues for repair.
import {
  DefaultInputSchema,
  DefaultOutputSchema,
  jsonSchemaOf,
  outputSchemaBlock,
  parseStructuredOutput,
  repairPrompt,
  StructuredOutputError,
} from "@normandy/agents";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const Weather = z
  .object({ city: z.string(), celsius: z.number().describe("temperature") })
  .describe("a forecast");

describe("structured output", () => {
  it("describes the real JSON Schema in Normandy's block", () => {
    expect(jsonSchemaOf(DefaultOutputSchema)).toEqual({
      type: "object",
      description: "base output",
      properties: { chat_message: { type: "string", description: "a result chat message" } },
      required: ["chat_message"],
      additionalProperties: false,
    });
    expect(jsonSchemaOf(DefaultInputSchema)).toMatchObject({ description: "base input" });
    const block = outputSchemaBlock(Weather);
    expect(block.split("\n").slice(0, 2)).toEqual([
      "# OUTPUT SCHEMA",
      "You MUST respond with valid JSON that exactly matches this schema, with no other text:",
    ]);
    expect(JSON.parse(block.split("\n").slice(2).join("\n"))).toEqual(jsonSchemaOf(Weather));
  });

  it("parses JSON, fenced JSON, and reports issues for the repair loop", () => {
    expect(parseStructuredOutput('{"city":"Paris","celsius":12}', Weather)).toEqual({
      ok: true,
      value: { city: "Paris", celsius: 12 },
    });
    expect(parseStructuredOutput('```json\n{"city":"Oslo","celsius":-3}\n```', Weather)).toEqual({
      ok: true,
      value: { city: "Oslo", celsius: -3 },
    });
    expect(parseStructuredOutput('```\n{"city":"Rome","celsius":20}```', Weather)).toMatchObject({
      ok: true,
    });
    const bad = parseStructuredOutput('{"city":"Paris","celsius":"warm"}', Weather);
    expect(bad).toMatchObject({ ok: false, issues: expect.stringContaining("celsius") });
    expect(parseStructuredOutput("sunny", Weather)).toMatchObject({
      ok: false,
      issues: expect.stringMatching(/not valid JSON/),
    });
    expect(repairPrompt("✖ bad")).toMatch(/did not match the required output schema:\n✖ bad\n/);
  });

  it("applies Normandy's chat_message rules to the default schema", () => {
    expect(parseStructuredOutput("Just text.", DefaultOutputSchema)).toEqual({
      ok: true,
      value: { chat_message: "Just text." },
    });
    for (const key of ["response", "message", "text"]) {
      expect(parseStructuredOutput(JSON.stringify({ [key]: "hi" }), DefaultOutputSchema)).toEqual({
        ok: true,
        value: { chat_message: "hi" },
      });
    }
    expect(parseStructuredOutput('{"chat_message":"direct"}', DefaultOutputSchema)).toEqual({
      ok: true,
      value: { chat_message: "direct" },
    });
    expect(parseStructuredOutput('{"other":1}', DefaultOutputSchema)).toMatchObject({ ok: false });
    expect(parseStructuredOutput("[1,2]", DefaultOutputSchema)).toEqual({
      ok: true,
      value: { chat_message: "[1,2]" },
    });
    expect(parseStructuredOutput("42", DefaultOutputSchema)).toEqual({
      ok: true,
      value: { chat_message: "42" },
    });
    expect(parseStructuredOutput("null", DefaultOutputSchema)).toEqual({
      ok: true,
      value: { chat_message: "null" },
    });
  });

  it("gives the default schema's prose replies exactly what validating them would (property)", () => {
    // the default schema skips validation of the object it builds from a reply that is not a JSON object
    const sameShape = z.object({ chat_message: z.string() });
    fc.assert(
      fc.property(fc.string(), (text) => {
        const parsed = parseStructuredOutput(text, DefaultOutputSchema);
        const reference = parseStructuredOutput(text, sameShape);
        expect(parsed).toEqual(reference);
      }),
    );
  });

  it("carries the raw text in its typed error", () => {
    const error = new StructuredOutputError("raw reply", "✖ missing city");
    expect(error).toMatchObject({
      name: "StructuredOutputError",
      raw: "raw reply",
      issues: "✖ missing city",
    });
    expect(error.message).toMatch(/missing city/);
  });
});
