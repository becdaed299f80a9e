/**
 * Normandy's example tools: a calculator, a string manipulator and a list processor, with its names,
 * operations and error cases (division by zero, empty lists).
 */
import { z } from "zod";
import { defineTool } from "./defineTool.js";

/** `calculator`: add, subtract, multiply, divide two numbers. */
export const calculator = defineTool({
  name: "calculator",
  description: "Performs basic arithmetic on two numbers: add, subtract, multiply or divide.",
  input: z.object({
    operation: z.enum(["add", "subtract", "multiply", "divide"]).describe("the operation to perform"),
    a: z.number().describe("the first operand"),
    b: z.number().describe("the second operand"),
  }),
  run: ({ operation, a, b }) => {
    switch (operation) {
      case "add":
        return a + b;
      case "subtract":
        return a - b;
      case "multiply":
        return a * b;
      case "divide":
        if (b === 0) throw new Error("Division by zero");
        return a / b;
    }
  },
});

/** `string_manipulator`: uppercase, lowercase, reverse, split, truncate, length. */
export const stringManipulator = defineTool({
  name: "string_manipulator",
  description:
    "Transforms text: uppercase, lowercase, reverse, split on a separator, truncate to a length, or count its length.",
  input: z.object({
    operation: z.enum(["uppercase", "lowercase", "reverse", "split", "truncate", "length"]),
    text: z.string(),
    separator: z.string().optional().describe("for split (default a space)"),
    maxLength: z.number().int().nonnegative().optional().describe("for truncate"),
  }),
  run: ({ operation, text, separator, maxLength }) => {
    switch (operation) {
      case "uppercase":
        return text.toUpperCase();
      case "lowercase":
        return text.toLowerCase();
      case "reverse":
        return [...text].reverse().join("");
      case "split":
        return text.split(separator ?? " ");
      case "truncate":
        if (maxLength === undefined) throw new Error("truncate needs maxLength");
        return [...text].slice(0, maxLength).join("");
      case "length":
        return [...text].length;
    }
  },
});

/** `list_processor`: sum, average, min, max, sort ascending or descending, count. */
export const listProcessor = defineTool({
  name: "list_processor",
  description: "Processes a list of numbers: sum, average, min, max, sort_asc, sort_desc or count.",
  input: z.object({
    operation: z.enum(["sum", "average", "min", "max", "sort_asc", "sort_desc", "count"]),
    items: z.array(z.number()),
  }),
  run: ({ operation, items }) => {
    if (items.length === 0 && (operation === "average" || operation === "min" || operation === "max")) {
      throw new Error(`${operation} of an empty list`);
    }
    switch (operation) {
      case "sum":
        return items.reduce((s, x) => s + x, 0);
      case "average":
        return items.reduce((s, x) => s + x, 0) / items.length;
      case "min":
        return Math.min(...items);
      case "max":
        return Math.max(...items);
      case "sort_asc":
        return [...items].sort((x, y) => x - y);
      case "sort_desc":
        return [...items].sort((x, y) => y - x);
      case "count":
        return items.length;
    }
  },
});
