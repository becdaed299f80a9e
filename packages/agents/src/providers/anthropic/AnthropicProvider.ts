/**
 * The Anthropic Messages provider, on the official `@anthropic-ai/sdk`: normalized requests in,
 * normalized responses and streams out, every failure a classified {@link ProviderError}. The SDK never
 * retries (`maxRetries: 0`): retries belong to the resilience layer.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages";
import type { ModelRequest, ModelResponse } from "../../model/messages.js";
import { ModelStream } from "../../model/stream.js";
import type { CallOptions, Provider } from "../Provider.js";
import { ProviderError } from "../ProviderError.js";
import { classifyAnthropicError } from "./anthropicErrors.js";
import { AnthropicStreamTranslator } from "./anthropicStream.js";
import {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  fromAnthropicMessage,
  toAnthropicCountTokensRequest,
  toAnthropicRequest,
} from "./anthropicWire.js";

/** Options of an {@link AnthropicProvider}. */
export interface AnthropicProviderOptions {
  /** The API key; default the `ANTHROPIC_API_KEY` environment variable (required when no `client`). */
  readonly apiKey?: string;
  /** The API's base URL; default `ANTHROPIC_BASE_URL` when set, else the SDK's (`https://api.anthropic.com`). */
  readonly baseURL?: string;
  /** Per-request timeout in ms (failures are kind `timeout`); default the SDK's. */
  readonly timeoutMs?: number;
  /** Headers sent with every request. */
  readonly defaultHeaders?: Readonly<Record<string, string>>;
  /** An existing SDK client to use instead of building one (`apiKey`, `baseURL`, `defaultHeaders` are then ignored). */
  readonly client?: Anthropic;
  /** The provider's name (`gen_ai.provider.name`); default `anthropic`. */
  readonly name?: string;
  /** `max_tokens` for requests without `maxTokens`; default {@link ANTHROPIC_DEFAULT_MAX_TOKENS} (4096). */
  readonly defaultMaxTokens?: number;
}

/**
 * A {@link Provider} for Anthropic's Messages API.
 *
 * Configuration is explicit: `apiKey` and `baseURL` come from the options, else from the
 * `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` environment variables, read once in the constructor; a
 * missing key fails at construction with a `ProviderError` of kind `auth`. Streams consume the raw event
 * stream (`messages.create({..., stream: true})`), so malformed tool JSON becomes a tool call with
 * `argumentsError` rather than a failure.
 *
 * @example
 * ```ts
 * const provider = new AnthropicProvider(); // ANTHROPIC_API_KEY from the environment
 * const request = { model: "claude-haiku-4-5", messages: [{ role: "user", content: "Hi!" }] } as const;
 * const response = await provider.complete(request);
 * textOf(response); // "Hello!"
 * for await (const event of provider.stream(request)) {
 *   if (event.type === "text_delta") process.stdout.write(event.text);
 * }
 * ```
 */
export class AnthropicProvider implements Provider {
  /** The provider's name (default `anthropic`). */
  readonly name: string;
  readonly #client: Anthropic;
  readonly #timeoutMs: number | undefined;
  readonly #defaultMaxTokens: number;

  /**
   * @param options - credentials, endpoint, timeout, headers or an existing client, and the name.
   * @throws ProviderError of kind `auth` when no client is given and no API key is found.
   */
  constructor(options: AnthropicProviderOptions = {}) {
    this.name = options.name ?? "anthropic";
    this.#timeoutMs = options.timeoutMs;
    this.#defaultMaxTokens = options.defaultMaxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS;
    if (options.client !== undefined) {
      this.#client = options.client;
      return;
    }
    const apiKey = options.apiKey ?? nonEmpty(process.env.ANTHROPIC_API_KEY);
    if (apiKey === undefined || apiKey === "") {
      throw new ProviderError({
        kind: "auth",
        provider: this.name,
        message: "no Anthropic API key: pass `apiKey` or set the ANTHROPIC_API_KEY environment variable",
      });
    }
    const baseURL = options.baseURL ?? nonEmpty(process.env.ANTHROPIC_BASE_URL);
    this.#client = new Anthropic({
      apiKey,
      maxRetries: 0,
      ...(baseURL !== undefined && { baseURL }),
      ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
      ...(options.defaultHeaders !== undefined && { defaultHeaders: { ...options.defaultHeaders } }),
    });
  }

  /**
   * Sends a request and waits for the whole message.
   *
   * @param request - the normalized request.
   * @param options - the abort signal.
   * @returns the normalized response.
   * @throws ProviderError classified (see `classifyAnthropicError`).
   */
  async complete(request: ModelRequest, options: CallOptions = {}): Promise<ModelResponse> {
    const body = this.#translate(() =>
      toAnthropicRequest(request, { defaultMaxTokens: this.#defaultMaxTokens }),
    );
    let message: unknown;
    try {
      message = await this.#client.messages.create(body, this.#requestOptions(options.signal));
    } catch (error) {
      throw classifyAnthropicError(error, this.name, options.signal);
    }
    if (!isMessage(message)) {
      throw new ProviderError({
        kind: "server",
        provider: this.name,
        message: "the response is not a message",
      });
    }
    return fromAnthropicMessage(message);
  }

  /**
   * Streams a response; nothing is sent until the stream is consumed, and aborting it (or the signal)
   * closes the HTTP request.
   *
   * @param request - the normalized request.
   * @param options - the abort signal.
   * @returns the normalized stream (iterate it, or await `final()`).
   */
  stream(request: ModelRequest, options: CallOptions = {}): ModelStream {
    // one generator between the SDK and ModelStream: each extra async layer costs per event
    return ModelStream.fromChunks(
      this.name,
      (signal) => this.#open(request, signal),
      (signal) => new AnthropicStreamTranslator(this.name, signal),
      options.signal,
    );
  }

  /**
   * Counts the request's input tokens with `POST /v1/messages/count_tokens`.
   *
   * @param request - the normalized request (its `maxTokens`, sampling parameters and `extras` are not sent).
   * @param options - the abort signal.
   * @returns the input token count.
   * @throws ProviderError classified.
   */
  async countTokens(request: ModelRequest, options: CallOptions = {}): Promise<number> {
    const body = this.#translate(() => toAnthropicCountTokensRequest(request));
    let count: unknown;
    try {
      count = await this.#client.messages.countTokens(body, this.#requestOptions(options.signal));
    } catch (error) {
      throw classifyAnthropicError(error, this.name, options.signal);
    }
    const tokens = (count as { input_tokens?: unknown } | null | undefined)?.input_tokens;
    if (typeof tokens !== "number") {
      throw new ProviderError({ kind: "server", provider: this.name, message: "the token count is missing" });
    }
    return tokens;
  }

  /** Sends the streaming request; `fromAnthropicStream` translates and classifies what comes back. */
  async #open(request: ModelRequest, signal: AbortSignal): Promise<AsyncIterable<RawMessageStreamEvent>> {
    const body = this.#translate(() =>
      toAnthropicRequest(request, { stream: true, defaultMaxTokens: this.#defaultMaxTokens }),
    );
    try {
      return await this.#client.messages.create({ ...body, stream: true }, this.#requestOptions(signal));
    } catch (error) {
      throw classifyAnthropicError(error, this.name, signal);
    }
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

  #translate<T>(translate: () => T): T {
    try {
      return translate();
    } catch (error) {
      throw new ProviderError({
        kind: "invalid_request",
        provider: this.name,
        message: `the request cannot be sent to Anthropic: ${(error as Error).message}`,
        cause: error,
      });
    }
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function isMessage(value: unknown): value is Parameters<typeof fromAnthropicMessage>[0] {
  return (
    typeof value === "object" && value !== null && Array.isArray((value as { content?: unknown }).content)
  );
}
