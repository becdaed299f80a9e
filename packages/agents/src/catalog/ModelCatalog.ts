/**
 * The model catalog: what a model can take (context window, output limit) and what it costs, looked up
 * by id, alias or dated snapshot id. An unknown model is `undefined`, never a guess, so budgets and
 * context limits are never computed from the wrong model's figures.
 */
import { InvalidArgumentError } from "@normandy/runtime";
import type { Usage } from "../model/messages.js";
import { BUILTIN_MODELS } from "./models.js";

/** List prices in USD per million tokens. */
export interface ModelPricing {
  /** Uncached input tokens. */
  readonly inputPerMTok: number;
  /** Output tokens (reasoning included). */
  readonly outputPerMTok: number;
  /** Input tokens read from the prompt cache (default: the input price). */
  readonly cacheReadPerMTok?: number;
  /** Input tokens written to the prompt cache (default: the input price). */
  readonly cacheWritePerMTok?: number;
}

/** A model of the catalog. */
export interface ModelEntry {
  /** The canonical id (an API alias without a date, e.g. `claude-sonnet-4-5`, `gpt-4o`). */
  readonly id: string;
  /** The provider's name, as in `Provider.name`. */
  readonly provider: "anthropic" | "openai" | (string & {});
  /** The most tokens of input and output together. */
  readonly contextWindow: number;
  /** The most output tokens of one response. */
  readonly maxOutputTokens: number;
  readonly pricing: ModelPricing;
  /** Other ids that name this model (e.g. `claude-3-7-sonnet-latest`). */
  readonly aliases?: readonly string[];
}

/** A dated snapshot suffix: Anthropic's `-20250929`, OpenAI's `-2024-08-06`. */
const SNAPSHOT = /-(?:\d{8}|\d{4}-\d{2}-\d{2})$/;

/**
 * A set of models, built-in ones by default.
 *
 * @example
 * ```ts
 * const catalog = new ModelCatalog();
 * catalog.lookup("claude-sonnet-4-5-20250929")?.contextWindow; // 200000
 * catalog.costOf(response.usage, response.model); // dollars, or undefined for an unknown model
 * catalog.register({ id: "my-model", provider: "local", contextWindow: 8192, maxOutputTokens: 2048,
 *   pricing: { inputPerMTok: 0, outputPerMTok: 0 } });
 * ```
 */
export class ModelCatalog {
  readonly #entries = new Map<string, ModelEntry>();
  readonly #aliases = new Map<string, string>();

  /**
   * @param entries - the models to start with (default: the built-in ones; pass `[]` for none).
   * @throws InvalidArgumentError for an invalid entry.
   */
  constructor(entries: Iterable<ModelEntry> = BUILTIN_MODELS) {
    for (const entry of entries) this.register(entry);
  }

  /**
   * Adds a model, or replaces the one with the same id (its old aliases are dropped). An alias already
   * given to another model moves to this one; an id always wins over an alias.
   *
   * @param entry - the model.
   * @throws InvalidArgumentError when a figure is negative or not finite, or the id is empty.
   */
  register(entry: ModelEntry): void {
    validate(entry);
    const previous = this.#entries.get(entry.id);
    for (const alias of previous?.aliases ?? []) {
      if (this.#aliases.get(alias) === entry.id) this.#aliases.delete(alias);
    }
    const frozen: ModelEntry = Object.freeze({
      ...entry,
      pricing: Object.freeze({ ...entry.pricing }),
      ...(entry.aliases !== undefined && { aliases: Object.freeze([...entry.aliases]) }),
    });
    this.#entries.set(entry.id, frozen);
    for (const alias of frozen.aliases ?? []) this.#aliases.set(alias, entry.id);
  }

  /**
   * Finds a model by id, then alias, then, for a dated snapshot id (`claude-sonnet-4-5-20250929`,
   * `gpt-4o-2024-08-06`), by the id or alias without the date.
   *
   * @param model - the model id as sent to or returned by the API.
   * @returns the entry, or undefined when the catalog does not know the model.
   */
  lookup(model: string): ModelEntry | undefined {
    const found = this.#find(model);
    if (found !== undefined) return found;
    const undated = model.replace(SNAPSHOT, "");
    return undated === model ? undefined : this.#find(undated);
  }

  /** Every model, in registration order. */
  list(): ModelEntry[] {
    return [...this.#entries.values()];
  }

  /**
   * The cost of a usage record in dollars, at the model's list prices (see {@link usageCost}).
   *
   * @param usage - normalized usage (`inputTokens` includes cache reads and writes).
   * @param model - a model id (looked up as {@link ModelCatalog.lookup} does) or an entry.
   * @returns the cost in USD, or undefined when the model is unknown (price it with `register` first).
   * @throws RangeError for a negative or non-finite token count.
   */
  costOf(usage: Usage, model: string | ModelEntry): number | undefined {
    const entry = typeof model === "string" ? this.lookup(model) : model;
    return entry === undefined ? undefined : usageCost(usage, entry.pricing);
  }

  #find(name: string): ModelEntry | undefined {
    const direct = this.#entries.get(name);
    if (direct !== undefined) return direct;
    const target = this.#aliases.get(name);
    return target === undefined ? undefined : this.#entries.get(target);
  }
}

/**
 * The cost of a usage record in dollars: uncached input (`inputTokens − cacheReadTokens −
 * cacheWriteTokens`) at the input price, cache reads at the cache-read price, cache writes at the
 * cache-write price (both defaulting to the input price), and output (reasoning included) at the output
 * price. Linear in the counts, so the cost of a sum of records is the sum of their costs. If a record
 * claims more cached than total input tokens (a provider mapping bug), the uncached part counts as 0.
 *
 * @param usage - normalized usage.
 * @param pricing - list prices per million tokens.
 * @returns the cost in USD (≥ 0).
 * @throws RangeError for a negative or non-finite token count.
 * @example
 * ```ts
 * usageCost(response.usage, { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3 });
 * ```
 */
export function usageCost(usage: Usage, pricing: ModelPricing): number {
  for (const key of ["inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens"] as const) {
    const n = usage[key];
    if (!Number.isFinite(n) || n < 0)
      throw new RangeError(`usage.${key} must be a finite count >= 0, got ${n}`);
  }
  const uncached = Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens);
  const micros =
    uncached * pricing.inputPerMTok +
    usage.cacheReadTokens * (pricing.cacheReadPerMTok ?? pricing.inputPerMTok) +
    usage.cacheWriteTokens * (pricing.cacheWritePerMTok ?? pricing.inputPerMTok) +
    usage.outputTokens * pricing.outputPerMTok;
  return micros / 1_000_000;
}

function validate(entry: ModelEntry): void {
  if (entry.id === "") throw new InvalidArgumentError("model catalog: an entry needs a non-empty id");
  const figures: [string, number | undefined][] = [
    ["contextWindow", entry.contextWindow],
    ["maxOutputTokens", entry.maxOutputTokens],
    ["pricing.inputPerMTok", entry.pricing.inputPerMTok],
    ["pricing.outputPerMTok", entry.pricing.outputPerMTok],
    ["pricing.cacheReadPerMTok", entry.pricing.cacheReadPerMTok],
    ["pricing.cacheWritePerMTok", entry.pricing.cacheWritePerMTok],
  ];
  for (const [name, value] of figures) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0))
      throw new InvalidArgumentError(
        `model catalog: ${entry.id}: ${name} must be a finite number >= 0, got ${value}`,
      );
  }
}
