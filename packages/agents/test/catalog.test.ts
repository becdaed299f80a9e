// The model catalog: lookups by id, alias and dated snapshot, registration, and the cost of usage with
// cache reads and writes (additive over records and never negative, as properties).
import { addUsage, type Usage, ZERO_USAGE } from "@normandy/agents";
import { InvalidArgumentError } from "@normandy/runtime";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelCatalog, type ModelEntry, usageCost } from "../src/catalog/ModelCatalog.js";
import { ANTHROPIC_MODELS, BUILTIN_MODELS, OPENAI_MODELS } from "../src/catalog/models.js";

const usage = (u: Partial<Usage>): Usage => ({ ...ZERO_USAGE, ...u });

const custom: ModelEntry = {
  id: "local-llama",
  provider: "ollama",
  contextWindow: 8_192,
  maxOutputTokens: 2_048,
  pricing: { inputPerMTok: 0, outputPerMTok: 0 },
  aliases: ["llama-latest"],
};

describe("ModelCatalog", () => {
  it("knows the current Anthropic and OpenAI models", () => {
    const catalog = new ModelCatalog();
    expect(ANTHROPIC_MODELS.map((m) => m.id)).toEqual([
      "claude-opus-4-1",
      "claude-opus-4",
      "claude-sonnet-4-5",
      "claude-sonnet-4",
      "claude-haiku-4-5",
      "claude-3-7-sonnet",
      "claude-3-5-haiku",
    ]);
    for (const id of ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"])
      expect(OPENAI_MODELS.some((m) => m.id === id)).toBe(true);
    for (const id of ["gpt-4o", "gpt-4o-mini", "o3", "o4-mini"])
      expect(catalog.lookup(id)?.provider).toBe("openai");
    expect(catalog.list().map((m) => m.id)).toEqual(BUILTIN_MODELS.map((m) => m.id));
    for (const m of catalog.list()) {
      expect(m.contextWindow).toBeGreaterThan(m.maxOutputTokens);
      expect(m.pricing.outputPerMTok).toBeGreaterThan(m.pricing.inputPerMTok);
      expect(m.pricing.cacheReadPerMTok ?? m.pricing.inputPerMTok).toBeLessThanOrEqual(
        m.pricing.inputPerMTok,
      );
    }
    expect(catalog.lookup("claude-sonnet-4-5")).toMatchObject({
      provider: "anthropic",
      contextWindow: 200_000,
      maxOutputTokens: 64_000,
      pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
    });
    expect(catalog.lookup("gpt-4.1")).toMatchObject({ contextWindow: 1_047_576, maxOutputTokens: 32_768 });
  });

  it("looks models up by alias and by dated snapshot id", () => {
    const catalog = new ModelCatalog();
    expect(catalog.lookup("claude-sonnet-4-5-20250929")?.id).toBe("claude-sonnet-4-5");
    expect(catalog.lookup("claude-opus-4-1-20250805")?.id).toBe("claude-opus-4-1");
    expect(catalog.lookup("claude-haiku-4-5-20251001")?.id).toBe("claude-haiku-4-5");
    expect(catalog.lookup("claude-sonnet-4-20250514")?.id).toBe("claude-sonnet-4");
    expect(catalog.lookup("claude-sonnet-4-0")?.id).toBe("claude-sonnet-4");
    expect(catalog.lookup("claude-opus-4-0")?.id).toBe("claude-opus-4");
    expect(catalog.lookup("claude-3-7-sonnet-latest")?.id).toBe("claude-3-7-sonnet");
    expect(catalog.lookup("claude-3-7-sonnet-20250219")?.id).toBe("claude-3-7-sonnet");
    expect(catalog.lookup("claude-3-5-haiku-20241022")?.id).toBe("claude-3-5-haiku");
    expect(catalog.lookup("gpt-4o-2024-08-06")?.id).toBe("gpt-4o");
    expect(catalog.lookup("gpt-4o-mini-2024-07-18")?.id).toBe("gpt-4o-mini");
    expect(catalog.lookup("gpt-5-2025-08-07")?.id).toBe("gpt-5");
    expect(catalog.lookup("o3-2025-04-16")?.id).toBe("o3");
    expect(catalog.lookup("gpt-4.1-mini-2025-04-14")?.id).toBe("gpt-4.1-mini");
    // an exact snapshot entry wins over snapshot resolution (it is priced differently)
    expect(catalog.lookup("gpt-4o-2024-05-13")?.pricing).toEqual({ inputPerMTok: 5, outputPerMTok: 15 });
  });

  it("returns undefined for a model it does not know, rather than guessing", () => {
    const catalog = new ModelCatalog();
    for (const unknown of ["gpt-6", "claude-sonnet-9", "claude-sonnet", "gpt-4o-latest-2024", "", "GPT-4O"])
      expect(catalog.lookup(unknown)).toBeUndefined();
    expect(catalog.lookup("gpt-7-2030-01-01")).toBeUndefined(); // a snapshot of an unknown model
    expect(catalog.costOf(usage({ inputTokens: 1 }), "gpt-6")).toBeUndefined();
  });

  it("registers new models and overrides existing ones", () => {
    const catalog = new ModelCatalog();
    catalog.register(custom);
    expect(catalog.lookup("llama-latest")?.id).toBe("local-llama");
    expect(catalog.costOf(usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }), "local-llama")).toBe(0);
    // an override replaces the entry and drops its old aliases
    catalog.register({ ...custom, pricing: { inputPerMTok: 1, outputPerMTok: 2 }, aliases: ["llama-3"] });
    expect(catalog.lookup("llama-latest")).toBeUndefined();
    expect(catalog.lookup("llama-3")?.pricing).toEqual({ inputPerMTok: 1, outputPerMTok: 2 });
    catalog.register({ ...custom, aliases: undefined } as unknown as ModelEntry);
    expect(catalog.lookup("llama-3")).toBeUndefined();
    // overriding a built-in price
    const sonnet = catalog.lookup("claude-sonnet-4-5");
    if (sonnet === undefined) throw new Error("unreachable");
    catalog.register({ ...sonnet, pricing: { ...sonnet.pricing, inputPerMTok: 2 } });
    expect(catalog.lookup("claude-sonnet-4-5-20250929")?.pricing.inputPerMTok).toBe(2);
    // an alias given to another model moves to it; an id always wins over an alias
    catalog.register({ ...custom, id: "other", aliases: ["llama-3", "gpt-4o"] });
    catalog.register({ ...custom, aliases: ["llama-3"] });
    expect(catalog.lookup("llama-3")?.id).toBe("local-llama");
    catalog.register({ ...custom, id: "other", aliases: [] });
    expect(catalog.lookup("llama-3")?.id).toBe("local-llama"); // not taken away by the old owner
    expect(catalog.lookup("gpt-4o")?.provider).toBe("openai");
  });

  it("freezes what it stores and starts empty when asked", () => {
    const catalog = new ModelCatalog([]);
    expect(catalog.list()).toEqual([]);
    const entry = { ...custom, pricing: { ...custom.pricing } };
    catalog.register(entry);
    entry.pricing.inputPerMTok = 99;
    const stored = catalog.lookup("local-llama");
    expect(stored?.pricing.inputPerMTok).toBe(0);
    expect(Object.isFrozen(stored)).toBe(true);
    expect(Object.isFrozen(stored?.pricing)).toBe(true);
  });

  it("rejects invalid entries", () => {
    const catalog = new ModelCatalog([]);
    expect(() => catalog.register({ ...custom, id: "" })).toThrow(InvalidArgumentError);
    expect(() => catalog.register({ ...custom, contextWindow: -1 })).toThrow(InvalidArgumentError);
    expect(() =>
      catalog.register({ ...custom, pricing: { inputPerMTok: Number.NaN, outputPerMTok: 1 } }),
    ).toThrow(/inputPerMTok/);
    expect(() =>
      catalog.register({ ...custom, pricing: { inputPerMTok: 1, outputPerMTok: 1, cacheWritePerMTok: -1 } }),
    ).toThrow(/cacheWritePerMTok/);
  });
});

describe("cost of usage", () => {
  it("prices uncached input, cache reads, cache writes and output separately", () => {
    const catalog = new ModelCatalog();
    // Sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 cache write, per million tokens
    const u = usage({
      inputTokens: 1_000_000 + 2_000_000 + 400_000,
      cacheReadTokens: 2_000_000,
      cacheWriteTokens: 400_000,
      outputTokens: 100_000,
      reasoningTokens: 50_000, // part of outputTokens: not priced twice
    });
    expect(catalog.costOf(u, "claude-sonnet-4-5-20250929")).toBeCloseTo(3 + 0.6 + 1.5 + 1.5, 10);
    // OpenAI: cache writes are not billed separately, so they default to the input price
    const o = usage({
      inputTokens: 1_000_000,
      cacheReadTokens: 500_000,
      cacheWriteTokens: 100_000,
      outputTokens: 0,
    });
    expect(catalog.costOf(o, "gpt-4.1")).toBeCloseTo(0.4 * 2 + 0.5 * 0.5 + 0.1 * 2, 10);
    // an entry can be priced directly
    const entry = catalog.lookup("gpt-4o-2024-05-13");
    if (entry === undefined) throw new Error("unreachable");
    expect(catalog.costOf(usage({ inputTokens: 1_000, cacheReadTokens: 1_000 }), entry)).toBeCloseTo(
      0.005,
      12,
    );
  });

  it("counts no negative uncached input when a record claims more cached than total input", () => {
    expect(
      usageCost(usage({ inputTokens: 10, cacheReadTokens: 20 }), { inputPerMTok: 1, outputPerMTok: 1 }),
    ).toBe(20 / 1_000_000);
  });

  it("rejects negative or non-finite counts", () => {
    const pricing = { inputPerMTok: 1, outputPerMTok: 1 };
    expect(() => usageCost(usage({ outputTokens: -1 }), pricing)).toThrow(RangeError);
    expect(() => usageCost(usage({ cacheWriteTokens: Number.POSITIVE_INFINITY }), pricing)).toThrow(
      /cacheWriteTokens/,
    );
  });

  const count = fc.integer({ min: 0, max: 50_000_000 });
  const validUsage = fc
    .record({ uncached: count, cacheRead: count, cacheWrite: count, output: count })
    .chain((r) =>
      fc.integer({ min: 0, max: r.output }).map(
        (reasoning): Usage => ({
          inputTokens: r.uncached + r.cacheRead + r.cacheWrite,
          cacheReadTokens: r.cacheRead,
          cacheWriteTokens: r.cacheWrite,
          outputTokens: r.output,
          reasoningTokens: reasoning,
        }),
      ),
    );
  const model = fc.constantFrom(...BUILTIN_MODELS.map((m) => m.id));

  it("is additive over usage records (property)", () => {
    const catalog = new ModelCatalog();
    fc.assert(
      fc.property(fc.array(validUsage, { maxLength: 8 }), model, (records, id) => {
        const total = records.reduce(addUsage, ZERO_USAGE);
        const whole = catalog.costOf(total, id) ?? Number.NaN;
        const parts = records.reduce((sum, r) => sum + (catalog.costOf(r, id) ?? Number.NaN), 0);
        return Math.abs(whole - parts) <= 1e-9 * Math.max(1, whole);
      }),
    );
  });

  it("is never negative (property)", () => {
    const catalog = new ModelCatalog();
    fc.assert(
      fc.property(validUsage, model, (u, id) => {
        const cost = catalog.costOf(u, id);
        return cost !== undefined && cost >= 0;
      }),
    );
  });
});
