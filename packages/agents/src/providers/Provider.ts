/**
 * The provider contract: one normalized request in, a normalized response or stream out, every
 * failure a classified {@link ProviderError}. Implemented on the official SDKs (Anthropic, OpenAI and
 * any OpenAI-compatible server) and by wrappers (retry, circuit breaker, record/replay).
 */
import type { ModelRequest, ModelResponse } from "../model/messages.js";
import type { ModelStream } from "../model/stream.js";

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call: the HTTP request is closed at once and the call fails with kind `aborted`. */
  readonly signal?: AbortSignal;
}

/** A model provider. */
export interface Provider {
  /** The provider's name, as in OpenTelemetry's `gen_ai.provider.name` (`anthropic`, `openai`, ...). */
  readonly name: string;
  /**
   * Sends a request and waits for the whole response.
   *
   * @throws ProviderError
   */
  complete(request: ModelRequest, options?: CallOptions): Promise<ModelResponse>;
  /** Sends a request and streams the response (nothing is sent until the stream is consumed). */
  stream(request: ModelRequest, options?: CallOptions): ModelStream;
  /** Counts the request's input tokens with the provider's own endpoint, where it has one. */
  countTokens?(request: ModelRequest, options?: CallOptions): Promise<number>;
}
