/**
 * The OpenAI provider: the {@link Provider} contract on the official `openai` SDK's Chat Completions API,
 * for OpenAI itself and for any OpenAI-compatible server (vLLM, Ollama, llama.cpp, …). It owns the client
 * configuration (explicit environment fallback, no SDK retries) and wires the translation, the stream
 * translator and the error classification together.
 */

import OpenAI from "openai";
import type { ChatCompletion } from "openai/resources";
import type { ModelRequest, ModelResponse } from "../../model/messages.js";
import { ModelStream } from "../../model/stream.js";
import type { CallOptions, Provider } from "../Provider.js";
import { ProviderError } from "../ProviderError.js";
import { classifyOpenAIError } from "./openaiErrors.js";
import { OpenAIStreamTranslator } from "./openaiStream.js";
import { fromOpenAICompletion, type MaxTokensField, toOpenAIRequest } from "./openaiWire.js";

/** The key sent to a server given by `baseURL` when no key is configured (local servers often need none). */
const PLACEHOLDER_API_KEY = "no-key";

/** Options of an {@link OpenAIProvider}. */
export interface OpenAIProviderOptions {
  /** The API key; default `process.env.OPENAI_API_KEY` (an empty string counts as none). */
  readonly apiKey?: string;
  /**
   * The API's base URL (e.g. `http://localhost:8000/v1` for vLLM); default `process.env.OPENAI_BASE_URL`,
   * else OpenAI's. With a base URL and no key, a placeholder key is sent.
   */
  readonly baseURL?: string;
  /** The OpenAI organization; default as the SDK reads it (`process.env.OPENAI_ORG_ID`). */
  readonly organization?: string;
  /** The SDK's request timeout in ms (time to the response headers); default the SDK's (10 minutes). */
  readonly timeoutMs?: number;
  /** Headers sent with every request. */
  readonly defaultHeaders?: Readonly<Record<string, string>>;
  /**
   * An existing client to use; `apiKey`, `baseURL`, `organization` and `defaultHeaders` are then ignored.
   * Its own retries are overridden per request (`maxRetries: 0`).
   */
  readonly client?: OpenAI;
  /** The provider's name (`gen_ai.provider.name`, and in errors); default `openai`, e.g. `vllm`. */
  readonly name?: string;
  /** The body field for `maxTokens`; default `max_completion_tokens` (`max_tokens` for older servers). */
  readonly maxTokensField?: MaxTokensField;
}

/** A setting: the option if non-empty, else the environment variable if non-empty. */
function setting(option: string | undefined, variable: string): string | undefined {
  if (option !== undefined && option !== "") return option;
  const value = process.env[variable];
  return value === undefined || value === "" ? undefined : value;
}

function isCompletion(value: unknown): value is ChatCompletion {
  return (
    typeof value === "object" && value !== null && Array.isArray((value as { choices?: unknown }).choices)
  );
}

/**
 * A {@link Provider} on OpenAI Chat Completions (or a compatible server). Every failure is a classified
 * {@link ProviderError}; the SDK never retries (`maxRetries: 0`: retries belong to the resilience layer).
 * Token counting is not offered (OpenAI has no endpoint for it), so `countTokens` is undefined.
 *
 * @example
 * ```ts
 * const openai = new OpenAIProvider(); // OPENAI_API_KEY (and OPENAI_BASE_URL) from the environment
 * const response = await openai.complete({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
 * textOf(response);
 *
 * const local = new OpenAIProvider({ name: "vllm", baseURL: "http://localhost:8000/v1", maxTokensField: "max_tokens" });
 * for await (const event of local.stream({ model: "qwen3", messages: [{ role: "user", content: "Hi" }] }))
 *   if (event.type === "text_delta") process.stdout.write(event.text);
 * ```
 */
export class OpenAIProvider implements Provider {
  /** The provider's name (`openai` unless given). */
  readonly name: string;
  readonly #client: OpenAI;
  readonly #timeoutMs: number | undefined;
  readonly #maxTokensField: MaxTokensField;

  /**
   * @param options - credentials, endpoint, timeout, headers or an existing client, and the name.
   * @throws ProviderError (kind `auth`) when no API key is given or in `OPENAI_API_KEY`, and no base URL
   *   either (a compatible server at a given base URL may need no key).
   */
  constructor(options: OpenAIProviderOptions = {}) {
    this.name = options.name ?? "openai";
    this.#timeoutMs = options.timeoutMs;
    this.#maxTokensField = options.maxTokensField ?? "max_completion_tokens";
    if (options.client !== undefined) {
      this.#client = options.client;
      return;
    }
    const apiKey = setting(options.apiKey, "OPENAI_API_KEY");
    const baseURL = setting(options.baseURL, "OPENAI_BASE_URL");
    if (apiKey === undefined && baseURL === undefined) {
      throw new ProviderError({
        kind: "auth",
        provider: this.name,
        message:
          "no OpenAI API key: pass `apiKey` or set OPENAI_API_KEY (a server given by `baseURL` or OPENAI_BASE_URL may need none)",
      });
    }
    this.#client = new OpenAI({
      apiKey: apiKey ?? PLACEHOLDER_API_KEY,
      maxRetries: 0,
      ...(baseURL !== undefined && { baseURL }),
      ...(options.organization !== undefined && { organization: options.organization }),
      ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
      ...(options.defaultHeaders !== undefined && { defaultHeaders: { ...options.defaultHeaders } }),
    });
  }

  /**
   * Sends a request and waits for the whole completion.
   *
   * @param request - the normalized request.
   * @param options - the abort signal (aborting closes the HTTP request).
   * @returns the normalized response.
   * @throws ProviderError for every failure.
   */
  async complete(request: ModelRequest, options: CallOptions = {}): Promise<ModelResponse> {
    const { signal } = options;
    try {
      const body = toOpenAIRequest(request, {
        stream: false,
        maxTokensField: this.#maxTokensField,
        provider: this.name,
      });
      const completion: unknown = await this.#client.chat.completions.create(
        body,
        this.#requestOptions(signal),
      );
      if (!isCompletion(completion)) {
        throw new ProviderError({
          kind: "server",
          provider: this.name,
          message: "the response is not a chat.completion",
        });
      }
      return fromOpenAICompletion(completion, { provider: this.name });
    } catch (error) {
      throw classifyOpenAIError(error, { provider: this.name, ...(signal !== undefined && { signal }) });
    }
  }

  /**
   * Streams a response (the request is sent when the stream is first consumed). The body asks for
   * `stream_options.include_usage`, so the response carries usage.
   *
   * @param request - the normalized request.
   * @param options - the abort signal (aborting closes the HTTP request; the stream fails with `aborted`).
   * @returns the stream; its failures are ProviderErrors with the partial response.
   */
  stream(request: ModelRequest, options: CallOptions = {}): ModelStream {
    return ModelStream.fromChunks(
      this.name,
      (signal) => {
        const body = toOpenAIRequest(request, {
          stream: true,
          maxTokensField: this.#maxTokensField,
          provider: this.name,
        });
        return this.#client.chat.completions.create(body, this.#requestOptions(signal));
      },
      (signal) => new OpenAIStreamTranslator(signal, this.name),
      options.signal,
    );
  }

  #requestOptions(signal: AbortSignal | undefined): {
    maxRetries: number;
    signal?: AbortSignal;
    timeout?: number;
  } {
    return {
      maxRetries: 0,
      ...(signal !== undefined && { signal }),
      ...(this.#timeoutMs !== undefined && { timeout: this.#timeoutMs }),
    };
  }
}
