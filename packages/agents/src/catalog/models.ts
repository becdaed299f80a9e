/**
 * The built-in model data: context windows, output limits and list prices (USD per million tokens,
 * standard tier, no batch discount) of current Anthropic and OpenAI models.
 *
 * Sources and dates:
 * - Anthropic, as of 2025-10: the "Model pricing" table of platform.claude.com/docs/en/about-claude/pricing
 *   (checked against a stored copy of that page), and the models overview for context windows and max
 *   output. `cacheWritePerMTok` is the 5-minute cache write (1.25× input); 1-hour writes (2× input) and
 *   Sonnet 4/4.5's long-context (> 200K input, 1M beta) prices are not modelled: `Usage` does not say
 *   which applied. Context windows are the standard 200K.
 * - OpenAI, as of 2025-10: openai.com/api/pricing and the model pages, from the author's knowledge
 *   (the stored documentation confirmed gpt-5-nano, gpt-4o and gpt-4o-mini, and the 1,047,576-token
 *   window and 32,768 max output of gpt-4.1). o3 is at its June 2025 price ($2 / $8, down from $10 / $40).
 *   OpenAI bills no cache writes, so `cacheWritePerMTok` is left to default to the input price (and its
 *   providers report no cache writes anyway).
 *
 * Verify before billing anyone: prices change, and {@link ModelCatalog.register} overrides any entry.
 */
import type { ModelEntry } from "./ModelCatalog.js";

/** Anthropic models (ids are the API aliases; dated snapshot ids resolve to them). */
export const ANTHROPIC_MODELS: readonly ModelEntry[] = [
  {
    id: "claude-opus-4-1",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
    pricing: { inputPerMTok: 15, outputPerMTok: 75, cacheReadPerMTok: 1.5, cacheWritePerMTok: 18.75 },
  },
  {
    id: "claude-opus-4",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
    pricing: { inputPerMTok: 15, outputPerMTok: 75, cacheReadPerMTok: 1.5, cacheWritePerMTok: 18.75 },
    aliases: ["claude-opus-4-0"],
  },
  {
    id: "claude-sonnet-4-5",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
  },
  {
    id: "claude-sonnet-4",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
    aliases: ["claude-sonnet-4-0"],
  },
  {
    id: "claude-haiku-4-5",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMTok: 1, outputPerMTok: 5, cacheReadPerMTok: 0.1, cacheWritePerMTok: 1.25 },
  },
  {
    id: "claude-3-7-sonnet",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
    aliases: ["claude-3-7-sonnet-latest"],
  },
  {
    id: "claude-3-5-haiku",
    provider: "anthropic",
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
    pricing: { inputPerMTok: 0.8, outputPerMTok: 4, cacheReadPerMTok: 0.08, cacheWritePerMTok: 1 },
    aliases: ["claude-3-5-haiku-latest"],
  },
];

/** OpenAI models (dated snapshot ids resolve to them, except where a snapshot is priced differently). */
export const OPENAI_MODELS: readonly ModelEntry[] = [
  {
    id: "gpt-5",
    provider: "openai",
    contextWindow: 400_000,
    maxOutputTokens: 128_000,
    pricing: { inputPerMTok: 1.25, outputPerMTok: 10, cacheReadPerMTok: 0.125 },
  },
  {
    id: "gpt-5-mini",
    provider: "openai",
    contextWindow: 400_000,
    maxOutputTokens: 128_000,
    pricing: { inputPerMTok: 0.25, outputPerMTok: 2, cacheReadPerMTok: 0.025 },
  },
  {
    id: "gpt-5-nano",
    provider: "openai",
    contextWindow: 400_000,
    maxOutputTokens: 128_000,
    pricing: { inputPerMTok: 0.05, outputPerMTok: 0.4, cacheReadPerMTok: 0.005 },
  },
  {
    id: "gpt-4.1",
    provider: "openai",
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    pricing: { inputPerMTok: 2, outputPerMTok: 8, cacheReadPerMTok: 0.5 },
  },
  {
    id: "gpt-4.1-mini",
    provider: "openai",
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    pricing: { inputPerMTok: 0.4, outputPerMTok: 1.6, cacheReadPerMTok: 0.1 },
  },
  {
    id: "gpt-4.1-nano",
    provider: "openai",
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    pricing: { inputPerMTok: 0.1, outputPerMTok: 0.4, cacheReadPerMTok: 0.025 },
  },
  {
    id: "gpt-4o",
    provider: "openai",
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    pricing: { inputPerMTok: 2.5, outputPerMTok: 10, cacheReadPerMTok: 1.25 },
  },
  {
    // the first gpt-4o snapshot kept its launch price; an exact id wins over snapshot resolution
    id: "gpt-4o-2024-05-13",
    provider: "openai",
    contextWindow: 128_000,
    maxOutputTokens: 4_096,
    pricing: { inputPerMTok: 5, outputPerMTok: 15 },
  },
  {
    id: "gpt-4o-mini",
    provider: "openai",
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6, cacheReadPerMTok: 0.075 },
  },
  {
    id: "o3",
    provider: "openai",
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
    pricing: { inputPerMTok: 2, outputPerMTok: 8, cacheReadPerMTok: 0.5 },
  },
  {
    id: "o4-mini",
    provider: "openai",
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
    pricing: { inputPerMTok: 1.1, outputPerMTok: 4.4, cacheReadPerMTok: 0.275 },
  },
];

/** Every built-in model. */
export const BUILTIN_MODELS: readonly ModelEntry[] = [...ANTHROPIC_MODELS, ...OPENAI_MODELS];
