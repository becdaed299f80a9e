// Tools: definition and JSON Schema from zod, the registry, validated execution that never throws,
// timeouts and cancellation on an injected clock, parallel calls under a limit, the example tools.
import {
  calculator,
  DEFAULT_TOOL_TIMEOUT_MS,
  defineTool,
  executeToolCall,
  executeToolCalls,
  listProcessor,
  stringManipulator,
  type ToolCallBlock,
  type ToolContext,
  ToolNotFoundError,
  ToolRegistry,
} from "@normandy/agents";
import { ManualClock, Telemetry } from "@normandy/runtime";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const call = (name: string, args: unknown, id = `id-${name}`): ToolCallBlock => ({
  type: "tool_call",
  id,
  name,
  arguments: args,
  rawArguments: JSON.stringify(args),
});

describe("defineTool and the registry", () => {
  it("generates the JSON Schema from zod and validates names", () => {
    expect(calculator.definition).toEqual({
      name: "calculator",
      description: expect.stringContaining("arithmetic"),
      inputSchema: {
        type: "object",
        properties: {
          operation: {
            type: "string",
            enum: ["add", "subtract", "multiply", "divide"],
            description: "the operation to perform",
          },
          a: { type: "number", description: "the first operand" },
          b: { type: "number", description: "the second operand" },
        },
        required: ["operation", "a", "b"],
        additionalProperties: false,
      },
    });
    expect(() =>
      defineTool({ name: "bad name", description: "", input: z.object({}), run: () => 1 }),
    ).toThrow(/invalid tool name/);
    expect(() =>
      defineTool({ name: "x", description: "", input: z.string() as never, run: () => 1 }),
    ).toThrow(/object schema/);
    expect(() =>
      defineTool({ name: "x", description: "", input: z.object({}), run: () => 1, timeoutMs: 0 }),
    ).toThrow(/timeoutMs/);
  });

  it("registers, replaces, lists and removes tools", () => {
    const registry = new ToolRegistry([calculator, stringManipulator]);
    expect(registry.names()).toEqual(["calculator", "string_manipulator"]);
    expect(registry.size).toBe(2);
    expect(registry.has("calculator")).toBe(true);
    expect(registry.getOrThrow("calculator")).toBe(calculator);
    expect(() => registry.getOrThrow("nope")).toThrow(ToolNotFoundError);
    const other = defineTool({ name: "calculator", description: "v2", input: z.object({}), run: () => 0 });
    registry.register(other).register(listProcessor);
    expect(registry.get("calculator")?.description).toBe("v2");
    expect(registry.definitions().map((d) => d.name)).toEqual([
      "calculator",
      "string_manipulator",
      "list_processor",
    ]);
    expect(registry.unregister("calculator")).toBe(true);
    expect(registry.unregister("calculator")).toBe(false);
    expect(registry.list()).toHaveLength(2);
  });
});

describe("executeToolCall", () => {
  const registry = new ToolRegistry([calculator, stringManipulator, listProcessor]);

  it("runs a tool and serializes its output", async () => {
    expect(await executeToolCall(registry, call("calculator", { operation: "divide", a: 6, b: 3 }))).toEqual({
      type: "tool_result",
      toolCallId: "id-calculator",
      content: "2",
    });
    expect(
      await executeToolCall(registry, call("string_manipulator", { operation: "reverse", text: "abc" })),
    ).toMatchObject({ content: "cba" });
    expect(
      await executeToolCall(registry, call("list_processor", { operation: "sort_desc", items: [1, 3, 2] })),
    ).toMatchObject({ content: "[3,2,1]" });
  });

  it("turns every failure into an error result for the model", async () => {
    const bad = await executeToolCall(registry, call("calculator", { operation: "pow", a: "1" }));
    expect(bad).toMatchObject({
      isError: true,
      content: expect.stringContaining("Invalid arguments for calculator"),
    });
    expect(bad.content).toMatch(/operation/);
    expect(await executeToolCall(registry, call("nope", {}))).toMatchObject({
      isError: true,
      content: "Tool 'nope' not found in registry",
    });
    expect(
      await executeToolCall(registry, {
        ...call("calculator", undefined),
        rawArguments: '{"a":',
        argumentsError: "tool arguments are not valid JSON",
      }),
    ).toMatchObject({
      isError: true,
      content: expect.stringContaining("not valid JSON"),
    });
    expect(
      await executeToolCall(registry, call("calculator", { operation: "divide", a: 1, b: 0 })),
    ).toMatchObject({ isError: true, content: "Tool calculator failed: Division by zero" });
    const weird = new ToolRegistry([
      defineTool({
        name: "throws_value",
        description: "",
        input: z.object({}),
        run: () => {
          throw { code: 7 };
        },
      }),
      defineTool({
        name: "rejects",
        description: "",
        input: z.object({}),
        run: () => Promise.reject("nope"),
      }),
      defineTool({
        name: "circular",
        description: "",
        input: z.object({}),
        run: () => {
          const o: { self?: unknown } = {};
          o.self = o;
          return o;
        },
      }),
      defineTool({ name: "nothing", description: "", input: z.object({}), run: () => undefined }),
    ]);
    expect(await executeToolCall(weird, call("throws_value", {}))).toMatchObject({
      isError: true,
      content: 'Tool throws_value failed: {"code":7}',
    });
    expect(await executeToolCall(weird, call("rejects", {}))).toMatchObject({
      isError: true,
      content: "Tool rejects failed: nope",
    });
    expect(await executeToolCall(weird, call("circular", {}))).toMatchObject({
      isError: true,
      content: expect.stringContaining("cannot be sent as JSON"),
    });
    expect(await executeToolCall(weird, call("nothing", {}))).toMatchObject({ content: "null" });
  });

  it("times out on the clock, aborting the tool's signal, and ignores its late outcome", async () => {
    const clock = new ManualClock();
    let signal: AbortSignal | undefined;
    let finish: (() => void) | undefined;
    const slow = new ToolRegistry([
      defineTool({
        name: "slow",
        description: "",
        input: z.object({}),
        timeoutMs: 100,
        run: (_i, ctx) => {
          signal = ctx.signal;
          return new Promise<string>((resolve) => {
            finish = () => resolve("late");
          });
        },
      }),
    ]);
    const pending = executeToolCall(slow, call("slow", {}), { clock });
    await clock.advance(99);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(await pending).toMatchObject({ isError: true, content: "Tool slow timed out after 100 ms" });
    expect(signal?.aborted).toBe(true);
    finish?.();
    expect(DEFAULT_TOOL_TIMEOUT_MS).toBe(30_000);
  });

  it("gives a tool that reads its signal only after a timeout or a cancel one that is aborted already", async () => {
    const clock = new ManualClock();
    let ctx: ToolContext | undefined;
    const late = new ToolRegistry([
      defineTool({
        name: "late",
        description: "",
        input: z.object({}),
        timeoutMs: 50,
        run: (_i, c) => {
          ctx = c; // the signal is not read yet
          return new Promise<string>(() => {});
        },
      }),
    ]);
    const timedOut = executeToolCall(late, call("late", {}), { clock });
    await clock.advance(50);
    expect(await timedOut).toMatchObject({ content: "Tool late timed out after 50 ms" });
    expect(ctx?.signal.aborted).toBe(true);
    expect(String(ctx?.signal.reason)).toContain("timed out after 50 ms");
    expect(ctx?.signal).toBe(ctx?.signal); // one signal per call

    const caller = new AbortController();
    const cancelled = executeToolCall(late, call("late", {}), { clock, signal: caller.signal });
    caller.abort(new Error("the user left"));
    expect(await cancelled).toMatchObject({ content: "Tool late was cancelled" });
    expect(ctx?.signal.reason).toEqual(new Error("the user left"));
  });

  it("is cancelled by the caller's signal, before or during the call", async () => {
    const clock = new ManualClock();
    const hang = new ToolRegistry([
      defineTool({
        name: "hang",
        description: "",
        input: z.object({}),
        run: (_i, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(new Error("stopped"))),
          ),
      }),
    ]);
    const before = new AbortController();
    before.abort();
    expect(await executeToolCall(hang, call("hang", {}), { signal: before.signal, clock })).toMatchObject({
      isError: true,
      content: expect.stringContaining("not run"),
    });
    const during = new AbortController();
    const pending = executeToolCall(hang, call("hang", {}), { signal: during.signal, clock });
    during.abort();
    expect(await pending).toMatchObject({ isError: true, content: "Tool hang was cancelled" });
    expect(clock.pending).toBe(0);
  });
});

describe("executeToolCalls", () => {
  it("runs the calls of a turn concurrently (overlapping), under the limit, results in call order", async () => {
    const clock = new ManualClock();
    let running = 0;
    let peak = 0;
    const sleepy = new ToolRegistry([
      defineTool({
        name: "sleepy",
        description: "",
        input: z.object({ ms: z.number(), tag: z.string() }),
        run: async ({ ms, tag }) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise<void>((r) => clock.setTimeout(r, ms));
          running--;
          return tag;
        },
      }),
    ]);
    const calls = [30, 10, 20, 10, 5].map((ms, i) => call("sleepy", { ms, tag: `t${i}` }, `c${i}`));
    const telemetry = new Telemetry(clock);
    const events: string[] = [];
    telemetry.attach("t", "*", (name, m, meta) =>
      events.push(`${name.at(-1)} ${meta.toolCallId}${m.duration !== undefined ? ` ${m.duration}` : ""}`),
    );
    const pending = executeToolCalls(sleepy, calls, {
      concurrency: 3,
      clock,
      telemetry,
      metadata: { agent: "a" },
    });
    await clock.advance(60);
    const results = await pending;
    expect(results.map((r) => r.content)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
    expect(peak).toBe(3);
    expect(events.slice(0, 3)).toEqual(["start c0", "start c1", "start c2"]);
    expect(events).toContain("stop c1 10");
    expect(await executeToolCalls(sleepy, [])).toEqual([]);
    await expect(executeToolCalls(sleepy, calls, { concurrency: 0 })).rejects.toThrow(RangeError);
  });
});

describe("the example tools", () => {
  it("match Normandy's operations and errors", async () => {
    const run = (tool: { run: (i: never, ctx: never) => unknown }, input: unknown) =>
      tool.run(input as never, {} as never);
    expect(
      ["add", "subtract", "multiply"].map((operation) => run(calculator, { operation, a: 6, b: 3 })),
    ).toEqual([9, 3, 18]);
    expect(
      ["uppercase", "lowercase", "length"].map((operation) =>
        run(stringManipulator, { operation, text: "AbC" }),
      ),
    ).toEqual(["ABC", "abc", 3]);
    expect(run(stringManipulator, { operation: "split", text: "a b" })).toEqual(["a", "b"]);
    expect(run(stringManipulator, { operation: "split", text: "a,b", separator: "," })).toEqual(["a", "b"]);
    expect(run(stringManipulator, { operation: "truncate", text: "hello", maxLength: 2 })).toBe("he");
    expect(() => run(stringManipulator, { operation: "truncate", text: "hello" })).toThrow(/maxLength/);
    const items = [3, 1, 2];
    expect(
      ["sum", "average", "min", "max", "sort_asc", "count"].map((operation) =>
        run(listProcessor, { operation, items }),
      ),
    ).toEqual([6, 2, 1, 3, [1, 2, 3], 3]);
    expect(() => run(listProcessor, { operation: "average", items: [] })).toThrow(/empty list/);
    expect(run(listProcessor, { operation: "sum", items: [] })).toBe(0);
  });
});
