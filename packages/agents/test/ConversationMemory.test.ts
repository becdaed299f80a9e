// Conversation memory: turns, dump/load, and trimming that never separates a tool call from its result
// (property-based), plus Normandy's system prompt format.

import {
  ConversationMemory,
  DEFAULT_BACKGROUND,
  generateSystemPrompt,
  MemoryFormatError,
  type Message,
  NonExistentTurnError,
  safeStart,
} from "@normandy/agents";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

let n = 0;
const ids = () => `t${++n}`;

const user = (text: string): Message => ({ role: "user", content: text });
const calls = (...callIds: string[]): Message => ({
  role: "assistant",
  content: callIds.map((id) => ({ type: "tool_call", id, name: "f", arguments: {}, rawArguments: "{}" })),
});
const results = (...callIds: string[]): Message => ({
  role: "tool",
  content: callIds.map((id) => ({ type: "tool_result", toolCallId: id, content: "ok" })),
});

describe("ConversationMemory", () => {
  it("groups messages in turns, starting one when needed", () => {
    const memory = new ConversationMemory({ newId: ids });
    expect(memory.currentTurnId).toBeUndefined();
    const t1 = memory.add(user("a"));
    expect(memory.currentTurnId).toBe(t1);
    const t2 = memory.initializeTurn();
    memory.add(user("b"), { role: "assistant", content: "c" });
    expect(memory.entries().map((e) => [e.turnId, e.message.content])).toEqual([
      [t1, "a"],
      [t2, "b"],
      [t2, "c"],
    ]);
    expect(memory.size).toBe(3);
    memory.deleteTurn(t1);
    expect(memory.messages()).toEqual([user("b"), { role: "assistant", content: "c" }]);
    expect(() => memory.deleteTurn("nope")).toThrow(NonExistentTurnError);
    memory.clear();
    expect(memory.size).toBe(0);
    expect(memory.currentTurnId).toBeUndefined();
  });

  it("dumps and loads versioned JSON, and rejects what it cannot load", () => {
    const memory = new ConversationMemory({ maxMessages: 10, newId: ids });
    memory.add(user("hi"), calls("c1"), results("c1"), {
      role: "assistant",
      content: [{ type: "text", text: "done" }],
    });
    const copy = ConversationMemory.load(memory.dump());
    expect(copy.entries()).toEqual(memory.entries());
    expect(copy.currentTurnId).toBe(memory.currentTurnId);
    expect(copy.maxMessages).toBe(10);
    expect(JSON.parse(memory.dump()).version).toBe(1);
    expect(() => ConversationMemory.load("{")).toThrow(MemoryFormatError);
    expect(() => ConversationMemory.load('{"version":2,"entries":[]}')).toThrow(/version 2/);
    expect(() => ConversationMemory.load('{"version":1,"entries":[{"turnId":1}]}')).toThrow(/malformed/);
    expect(
      ConversationMemory.load('{"version":1,"maxMessages":null,"currentTurnId":null,"entries":[]}')
        .maxMessages,
    ).toBeUndefined();
    expect(() => new ConversationMemory({ maxMessages: -1 })).toThrow(RangeError);
  });

  it("has a conversation id that survives dump and load and changes when cleared", () => {
    const memory = new ConversationMemory();
    memory.add({ role: "user", content: "hi" });
    const id = memory.conversationId;
    expect(ConversationMemory.load(memory.dump()).conversationId).toBe(id);
    const legacy = JSON.parse(memory.dump()) as Record<string, unknown>;
    delete legacy.conversationId;
    expect(ConversationMemory.load(JSON.stringify(legacy)).conversationId).not.toBe(id);
    const copy = new ConversationMemory();
    copy.copyFrom(ConversationMemory.load(memory.dump()));
    expect([copy.conversationId, copy.currentTurnId, copy.messages()]).toEqual([
      id,
      memory.currentTurnId,
      memory.messages(),
    ]);
    memory.clear();
    expect(memory.conversationId).not.toBe(id);
  });

  it("keeps the newest messages, moving the cut past a tool call's results", () => {
    const memory = new ConversationMemory({ maxMessages: 3, newId: ids });
    memory.add(user("q"), calls("a", "b"), results("a"), results("b"), {
      role: "assistant",
      content: "answer",
    });
    // the newest 3 would start at results("a"): its call would be gone, so the cut moves past both results
    expect(memory.messages()).toEqual([{ role: "assistant", content: "answer" }]);
    const none = new ConversationMemory({ maxMessages: 0 });
    none.add(user("x"));
    expect(none.messages()).toEqual([]);
    const replaced = new ConversationMemory({ maxMessages: 2, newId: ids });
    replaced.replace([
      { turnId: "x", message: user("1") },
      { turnId: "x", message: user("2") },
      { turnId: "x", message: user("3") },
    ]);
    expect(replaced.messages()).toEqual([user("2"), user("3")]);
  });

  it("never leaves a tool result without its call, for any history and bound (property)", () => {
    const message = fc.oneof(
      fc.constant<"user">("user"),
      fc.constant<"text">("text"),
      fc.integer({ min: 1, max: 3 }).map((k) => k),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 40 }), fc.integer({ min: 0, max: 20 }), (plan, max) => {
        // build a well-formed history: each call group is followed by its results
        const history: Message[] = [];
        let next = 0;
        for (const step of plan) {
          if (step === "user") history.push(user("u"));
          else if (step === "text") history.push({ role: "assistant", content: "t" });
          else {
            const group = Array.from({ length: step }, () => `c${next++}`);
            history.push(calls(...group));
            for (const id of group) history.push(results(id));
          }
        }
        const memory = new ConversationMemory({ maxMessages: max, newId: ids });
        for (const m of history) memory.add(m);
        const kept = memory.messages();
        expect(kept.length).toBeLessThanOrEqual(max);
        const seen = new Set<string>();
        for (const m of kept) {
          if (typeof m.content === "string") continue;
          for (const b of m.content) {
            if (b.type === "tool_call") seen.add(b.id);
            if (b.type === "tool_result") expect(seen.has(b.toolCallId)).toBe(true);
          }
        }
        // nothing newer than necessary was dropped: the kept part is a suffix of the history
        expect(history.slice(history.length - kept.length)).toEqual(kept);
      }),
    );
  });

  it("finds a safe start past results whose call is outside the history, and keeps calls in flight", () => {
    expect(safeStart([results("x"), user("a")], 0)).toBe(1);
    expect(safeStart([user("a")], 5)).toBe(1);
    // c1 has no result yet: the cut moves back to keep it
    expect(safeStart([user("q"), calls("c1"), user("later")], 2)).toBe(1);
    const memory = new ConversationMemory({ maxMessages: 1, newId: ids });
    memory.add(user("q"), calls("a", "b"), results("a"));
    expect(memory.messages()).toEqual([calls("a", "b"), results("a")]); // over the bound while b is in flight
    memory.add(results("b"));
    expect(memory.messages()).toEqual([]); // the group is complete: cut as a whole
  });

  it("closes the calls of the last message that have no results, and nothing else", () => {
    const memory = new ConversationMemory({ newId: ids });
    expect(memory.closeDanglingCalls("cut")).toBe(0); // empty
    memory.add(user("q"), { role: "assistant", content: "plain text" });
    expect(memory.closeDanglingCalls("cut")).toBe(0);
    memory.add(calls("a"), results("a"));
    expect(memory.closeDanglingCalls("cut")).toBe(0); // answered already
    memory.add(calls("b", "c"));
    expect(memory.closeDanglingCalls("cut")).toBe(2);
    expect(memory.messages().at(-1)).toEqual({
      role: "tool",
      content: [
        { type: "tool_result", toolCallId: "b", content: "cut", isError: true },
        { type: "tool_result", toolCallId: "c", content: "cut", isError: true },
      ],
    });
    expect(memory.closeDanglingCalls("cut")).toBe(0);
  });
});

describe("generateSystemPrompt", () => {
  it("follows Normandy's format with every section", async () => {
    const prompt = await generateSystemPrompt(
      {
        background: ["You are a travel agent.", "You are concise."],
        steps: ["Understand the request.", "Search."],
        outputInstructions: ["Answer in French."],
        contextProviders: [
          { title: "Date", getInfo: () => "2026-11-24" },
          { title: "User", getInfo: async () => "Ada, Paris" },
        ],
      },
      [{ name: "search", description: "Searches flights." }],
    );
    expect(prompt).toBe(
      [
        "# IDENTITY and PURPOSE",
        "- You are a travel agent.",
        "- You are concise.",
        "# INTERNAL ASSISTANT STEPS",
        "- Understand the request.",
        "- Search.",
        "# OUTPUT INSTRUCTIONS",
        "- Answer in French.",
        "- Always respond using the proper JSON schema.",
        "- Always use the available additional information and context to enhance the response.",
        "# EXTRA INFORMATION AND CONTEXT",
        "## Date",
        "2026-11-24",
        "## User",
        "Ada, Paris",
        "# AVAILABLE TOOLS",
        "You have access to the following tools:",
        "## search",
        "Searches flights.",
      ].join("\n"),
    );
  });

  it("uses the default identity and omits empty sections; re-queries providers each time", async () => {
    let calls = 0;
    const spec = { contextProviders: [{ title: "Counter", getInfo: () => String(++calls) }] };
    const first = await generateSystemPrompt({});
    expect(first).toBe(
      `# IDENTITY and PURPOSE\n- ${DEFAULT_BACKGROUND}\n# OUTPUT INSTRUCTIONS\n- Always respond using the proper JSON schema.\n- Always use the available additional information and context to enhance the response.`,
    );
    expect(await generateSystemPrompt(spec)).toMatch(/## Counter\n1$/);
    expect(await generateSystemPrompt(spec)).toMatch(/## Counter\n2$/);
    await expect(
      generateSystemPrompt({
        contextProviders: [{ title: "x", getInfo: () => Promise.reject(new Error("down")) }],
      }),
    ).rejects.toThrow("down");
  });
});
