// Token counting (incremental), the summarizer (Normandy's prompt and defaults) and the context window
// manager's strategies — none of which may separate a tool call from its result (property-based).
import {
  ContextOverflowError,
  type ContextStrategy,
  ContextWindowManager,
  ConversationMemory,
  compressConversation,
  DEFAULT_SUMMARY_PROMPT,
  EmptySummaryError,
  encodingForModel,
  estimateEncoder,
  estimateSavings,
  formatForSummary,
  type Message,
  type ModelRequest,
  type ModelResponse,
  ModelStream,
  type Provider,
  summarizeMessages,
  TokenCounter,
  tiktokenEncoder,
  ZERO_USAGE,
} from "@normandy/agents";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** A provider that answers every request with `text` and records the requests. */
function fakeProvider(text = "SUMMARY") {
  const requests: ModelRequest[] = [];
  const provider: Provider = {
    name: "fake",
    complete: async (request) => {
      requests.push(request);
      const response: ModelResponse = {
        id: "r",
        model: request.model,
        content: text ? [{ type: "text", text }] : [],
        stopReason: "end_turn",
        rawStopReason: "end_turn",
        usage: ZERO_USAGE,
      };
      return response;
    },
    stream: () => new ModelStream("fake", async function* () {}),
  };
  return { provider, requests };
}

const user = (text: string): Message => ({ role: "user", content: text });
const assistant = (text: string): Message => ({ role: "assistant", content: text });
const calls = (id: string): Message => ({
  role: "assistant",
  content: [{ type: "tool_call", id, name: "lookup", arguments: { q: "x" }, rawArguments: '{"q":"x"}' }],
});
const result = (id: string): Message => ({
  role: "tool",
  content: [{ type: "tool_result", toolCallId: id, content: "found it" }],
});

describe("TokenCounter", () => {
  it("counts every block kind, with framing, and caches per message", () => {
    let calls = 0;
    const counter = new TokenCounter(
      {
        name: "chars",
        count: (t) => {
          calls++;
          return t.length;
        },
      },
      { perMessage: 3, perImage: 100 },
    );
    const msg: Message = {
      role: "user",
      content: [
        { type: "text", text: "abcd" },
        { type: "image", source: { kind: "url", url: "https://x" } },
        { type: "thinking", thinking: "hm" },
        { type: "tool_call", id: "c", name: "ab", arguments: {}, rawArguments: "{}" },
        { type: "tool_result", toolCallId: "c", content: "xyz" },
        {
          type: "tool_result",
          toolCallId: "c",
          content: [
            { type: "text", text: "12" },
            { type: "image", source: { kind: "url", url: "u" } },
          ],
        },
      ],
    };
    expect(counter.countMessage(msg)).toBe(3 + 4 + 100 + 2 + 2 + 2 + 3 + 2 + 100);
    const before = calls;
    counter.countMessage(msg);
    expect(calls).toBe(before);
    expect(counter.countText("hello")).toBe(5);
    const tools = [{ name: "t", description: "d", inputSchema: { type: "object" } }];
    const n = counter.countTools(tools);
    expect(n).toBe(`t\nd\n${JSON.stringify({ type: "object" })}`.length + 3);
    expect(counter.countTools(tools)).toBe(n);
    expect(estimateEncoder.count("")).toBe(0);
    expect(estimateEncoder.count("abc")).toBe(1);
    expect(estimateEncoder.count("a".repeat(40))).toBe(10);
  });

  it("counts a growing conversation in O(new messages) and recounts after a change", () => {
    const seen: string[] = [];
    const spy = (t: string) => {
      seen.push(t);
      return 1;
    };
    const counter = new TokenCounter({ name: "spy", count: spy }, { perMessage: 0 });
    const memory = new ConversationMemory({ newId: () => "t" });
    for (let i = 0; i < 100; i++) memory.add(user(`m${i}`));
    expect(counter.countConversation(memory.messages())).toBe(100);
    seen.length = 0;
    memory.add(user("new"));
    expect(counter.countConversation(memory.messages())).toBe(101);
    expect(seen).toEqual(["new"]); // only the new message was encoded
    memory.deleteTurn("t");
    memory.add(user("fresh"));
    expect(counter.countConversation(memory.messages())).toBe(1);
  });
});

describe("the summarizer", () => {
  it("sends Normandy's prompt with Role: content lines at temperature 0.3 and 500 tokens", async () => {
    const { provider, requests } = fakeProvider("They said hello.");
    const summary = await summarizeMessages(
      provider,
      [user("Hello"), assistant('{"chat_message":"Hi there!"}'), calls("c1"), result("c1")],
      { model: "m" },
    );
    expect(summary).toBe("They said hello.");
    expect(requests[0]).toEqual({
      model: "m",
      temperature: 0.3,
      maxTokens: 500,
      messages: [
        {
          role: "user",
          content: `${DEFAULT_SUMMARY_PROMPT}\n\nUser: Hello\n\nAssistant: Hi there!\n\nAssistant: [called lookup with {"q":"x"}]\n\nTool: [result of c1: found it]`,
        },
      ],
    });
    expect(
      DEFAULT_SUMMARY_PROMPT.startsWith(
        "Please provide a concise summary of the following conversation history.\n",
      ),
    ).toBe(true);
    await expect(
      summarizeMessages(fakeProvider("").provider, [user("x")], { model: "m" }),
    ).rejects.toBeInstanceOf(EmptySummaryError);
    expect(
      formatForSummary([
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "..." },
            { type: "text", text: "{not json" },
            { type: "image", source: { kind: "url", url: "u" } },
          ],
        },
      ]),
    ).toBe("Assistant: {not json [image]");
  });

  it("compresses all but the recent messages into a summary message, at a safe boundary", async () => {
    const { provider, requests } = fakeProvider("S");
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("1"), assistant("2"), calls("c"), result("c"), assistant("3"), user("4"));
    expect(await compressConversation(memory, provider, { model: "m", keepRecent: 3 })).toBe(4);
    // the newest 3 would start at result("c"): the cut moves past it
    expect(memory.messages()).toEqual([
      { role: "system", content: "Previous conversation summary: S" },
      assistant("3"),
      user("4"),
    ]);
    expect(requests).toHaveLength(1);
    expect(await compressConversation(memory, provider, { model: "m" })).toBe(0); // at most keepRecent (10) messages
    expect(
      await compressConversation(memory, provider, { model: "m", keepRecent: 2, summaryRole: "user" }),
    ).toBe(1);
    expect(memory.messages()[0]).toEqual({ role: "user", content: "Previous conversation summary: S" });
  });

  it("estimates savings as Normandy did", () => {
    expect(
      estimateSavings([user("a".repeat(400)), assistant("b".repeat(400))], { summaryTokens: 50 }),
    ).toEqual({ original: 220, summary: 50, savings: 170, savingsPercent: 77.3 });
    expect(estimateSavings([])).toEqual({ original: 0, summary: 500, savings: -500, savingsPercent: 0 });
  });
});

describe("ContextWindowManager", () => {
  const counter = new TokenCounter({ name: "chars", count: (t) => t.length }, { perMessage: 0 });

  it("computes the budget from the catalog window and the reserve", () => {
    const windows = new ContextWindowManager({
      counter,
      maxTokens: 1000,
      reservedTokens: 100,
      contextWindowOf: (m) => (m === "big" ? 5000 : undefined),
    });
    expect(windows.budget("big")).toBe(4900);
    expect(windows.budget("small")).toBe(900);
    expect(windows.budget("small", 300)).toBe(700);
    expect(windows.strategy).toBe("oldest_first");
    expect(windows.count([user("abc")], { system: "sys", tools: [] })).toBe(6);
  });

  it("does nothing when the prompt fits; drops the oldest otherwise", async () => {
    const windows = new ContextWindowManager({ counter, maxTokens: 30, reservedTokens: 0 });
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("aaaaaaaaaa"), assistant("bbbbbbbbbb"));
    expect(await windows.fit(memory, { model: "m", system: "s" })).toEqual({
      budget: 30,
      before: 21,
      after: 21,
      removed: 0,
      summarized: false,
    });
    memory.add(user("cccccccccc"));
    const r = await windows.fit(memory, { model: "m", system: "s" });
    expect(r).toMatchObject({ before: 31, after: 21, removed: 1, summarized: false });
    expect(memory.messages()).toEqual([assistant("bbbbbbbbbb"), user("cccccccccc")]);
  });

  it("skips exact counting when a cheap upper bound already fits", async () => {
    const encoded: string[] = [];
    const spy = new TokenCounter(
      {
        name: "spy",
        count: (t) => {
          encoded.push(t);
          return t.length;
        },
      },
      { perMessage: 0 },
    );
    const windows = new ContextWindowManager({ counter: spy, maxTokens: 1000, reservedTokens: 0 });
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("short question"), assistant("short answer"));
    const r = await windows.fit(memory, {
      model: "m",
      system: "be brief",
      tools: [{ name: "t", description: "d", inputSchema: {} }],
    });
    expect(r).toMatchObject({ removed: 0, summarized: false });
    expect(r.before).toBeGreaterThanOrEqual(3 * "short questionshort answerbe brief".length); // the bound, not a count
    expect(encoded).toEqual([]); // the tokenizer was never called
    expect(windows.surelyFits(memory, { model: "m", system: "be brief" })).toBe(true);
    expect(encoded).toEqual([]);
  });

  it("surelyFits says false when only an exact count can tell, and fit then counts", async () => {
    // the bound (3 per char, with framing) of 2 messages of 10 chars exceeds 40; the exact count (20) fits
    const windows = new ContextWindowManager({ counter, maxTokens: 40, reservedTokens: 0 });
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("aaaaaaaaaa"), assistant("bbbbbbbbbb"));
    expect(windows.surelyFits(memory, { model: "m" })).toBe(false);
    expect(await windows.fit(memory, { model: "m" })).toMatchObject({ before: 20, removed: 0 });
    expect(windows.surelyFits(memory, { model: "m", maxTokens: 1 })).toBe(false);
    expect(
      new ContextWindowManager({ counter, maxTokens: 200, reservedTokens: 0 }).surelyFits(memory, {
        model: "m",
      }),
    ).toBe(true);
  });

  it("sliding_window keeps the opening task message", async () => {
    const windows = new ContextWindowManager({
      counter,
      maxTokens: 30,
      reservedTokens: 0,
      strategy: "sliding_window",
    });
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("task......"), assistant("bbbbbbbbbb"), user("cccccccccc"), assistant("dddddddddd"));
    await windows.fit(memory, { model: "m" }); // 40 > 30: the task stays, the oldest after it goes
    expect(memory.messages()).toEqual([user("task......"), user("cccccccccc"), assistant("dddddddddd")]);
  });

  it("summarize keeps about half the budget (at least 5 messages) and summarizes the rest", async () => {
    const { provider, requests } = fakeProvider("short");
    const windows = new ContextWindowManager({
      counter,
      maxTokens: 120,
      reservedTokens: 0,
      strategy: "summarize",
      summarizer: { provider, model: "cheap" },
    });
    const memory = new ConversationMemory({ newId: () => "t" });
    for (let i = 0; i < 13; i++) memory.add(user(`message ${String(i).padStart(2, "0")}`)); // 130 > 120
    const r = await windows.fit(memory, { model: "m" });
    expect(r.summarized).toBe(true);
    expect(requests[0]?.model).toBe("cheap");
    expect(memory.messages()[0]).toEqual({ role: "system", content: "Previous conversation summary: short" });
    expect(memory.size).toBe(7); // the summary and the 6 newest (60 tokens, half the budget)
    expect(r.after).toBeLessThanOrEqual(120);
  });

  it("summarize without a summarizer falls back to oldest_first; an oversized newest message is a typed error", async () => {
    const windows = new ContextWindowManager({
      counter,
      maxTokens: 10,
      reservedTokens: 0,
      strategy: "summarize",
    });
    const memory = new ConversationMemory({ newId: () => "t" });
    memory.add(user("aaaa"), user("bbbb"), user("cccc"));
    await windows.fit(memory, { model: "m" });
    expect(memory.messages()).toEqual([user("bbbb"), user("cccc")]);
    memory.add(user("x".repeat(50)));
    await expect(windows.fit(memory, { model: "m" })).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(
      windows.fit(new ConversationMemory(), { model: "m", system: "y".repeat(20) }),
    ).rejects.toMatchObject({ name: "ContextOverflowError", budget: 10 });
  });

  it("never separates a tool call from its result, under every strategy (property)", async () => {
    const { provider } = fakeProvider("sum");
    const step = fc.oneof(fc.constant<"u">("u"), fc.constant<"a">("a"), fc.integer({ min: 1, max: 3 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 30 }),
        fc.constantFrom<ContextStrategy>("oldest_first", "sliding_window", "summarize"),
        fc.integer({ min: 40, max: 200 }),
        async (plan, strategy, budget) => {
          const memory = new ConversationMemory({ newId: () => "t" });
          let n = 0;
          for (const s of plan) {
            if (s === "u") memory.add(user("question"));
            else if (s === "a") memory.add(assistant("answer"));
            else {
              const ids = Array.from({ length: s }, () => `c${n++}`);
              memory.add({
                role: "assistant",
                content: ids.map((id) => ({
                  type: "tool_call" as const,
                  id,
                  name: "f",
                  arguments: {},
                  rawArguments: "{}",
                })),
              });
              memory.add({
                role: "tool",
                content: ids.map((id) => ({ type: "tool_result" as const, toolCallId: id, content: "r" })),
              });
            }
          }
          const windows = new ContextWindowManager({
            counter,
            maxTokens: budget,
            reservedTokens: 0,
            strategy,
            summarizer: { provider, model: "m" },
          });
          try {
            await windows.fit(memory, { model: "m" });
          } catch (error) {
            if (!(error instanceof ContextOverflowError)) throw error;
          }
          const seen = new Set<string>();
          for (const m of memory.messages()) {
            if (typeof m.content === "string") continue;
            for (const b of m.content) {
              if (b.type === "tool_call") seen.add(b.id);
              if (b.type === "tool_result") expect(seen.has(b.toolCallId)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("tiktoken", () => {
  it("picks the encoding by model family and counts exactly", () => {
    expect(encodingForModel("gpt-4o-mini")).toBe("o200k_base");
    expect(encodingForModel("o3")).toBe("o200k_base");
    expect(encodingForModel("gpt-4-turbo")).toBe("cl100k_base");
    expect(encodingForModel("claude-sonnet-4-5")).toBe("cl100k_base");
    const o200k = tiktokenEncoder("gpt-4o");
    expect(o200k.name).toBe("o200k_base");
    expect(o200k.count("hello world")).toBe(2);
    expect(o200k.count("")).toBe(0);
    expect(tiktokenEncoder("gpt-3.5-turbo").count("hello world")).toBe(2);
    const counter = new TokenCounter(o200k);
    expect(counter.countMessage({ role: "user", content: "hello world" })).toBe(2 + 4);
  });
});
