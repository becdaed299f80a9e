/**
 * tiktoken encoders (WASM) for token counting: `o200k_base` for the GPT-4o / GPT-4.1 / GPT-5 / o-series
 * families, `cl100k_base` for older OpenAI models and as the approximation for other vendors (Anthropic
 * does not publish its tokenizer; use the provider's `countTokens` when exact counts matter). Encoders are
 * created once per encoding, on first use (~200–400 ms of WASM initialisation).
 */
import { get_encoding, type Tiktoken, type TiktokenEncoding } from "tiktoken";
import type { TokenEncoder } from "./TokenCounter.js";

const encoders = new Map<TiktokenEncoding, Tiktoken>();

/**
 * The encoding a model uses.
 *
 * @param model - the model id.
 * @returns `o200k_base` or `cl100k_base`.
 */
export function encodingForModel(model: string): "o200k_base" | "cl100k_base" {
  return /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o)/.test(model) ? "o200k_base" : "cl100k_base";
}

/**
 * A token encoder for a model (exact for OpenAI models, an approximation for others).
 *
 * @param model - the model id.
 * @returns the encoder.
 * @example
 * ```ts
 * const counter = new TokenCounter(tiktokenEncoder("gpt-4o"));
 * ```
 */
export function tiktokenEncoder(model: string): TokenEncoder {
  const name = encodingForModel(model);
  return {
    name,
    count: (text) => {
      if (text.length === 0) return 0;
      let encoder = encoders.get(name);
      if (encoder === undefined) {
        encoder = get_encoding(name);
        encoders.set(name, encoder);
      }
      return encoder.encode_ordinary(text).length;
    },
  };
}
