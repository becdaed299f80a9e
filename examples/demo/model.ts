/**
 * Which model the demo talks to: a real one when an API key (or an OpenAI-compatible base URL) is set,
 * else a scripted model on the loopback LLM server, with no network. `--offline` forces the latter.
 */
import { AnthropicProvider, OpenAIProvider, type Provider } from "@normandy/agents";
import { LoopbackLLMServer } from "@normandy/testing";
import { scriptedTeamModel } from "./scriptedModel.js";

/** The model the demo uses, and how to say which it is. */
export interface DemoModel {
  readonly provider: Provider;
  readonly model: string;
  /** One sentence: which model, where. */
  readonly description: string;
  /** Whether it is the offline scripted model. */
  readonly offline: boolean;
  /** Stops the loopback server, if any. */
  close(): Promise<void>;
}

/**
 * Picks the model from the environment.
 *
 * @param options - `offline` forces the loopback server; `env` is read for keys (default `process.env`).
 * @returns the provider and model.
 */
export async function chooseModel(options: {
  readonly offline: boolean;
  readonly env?: NodeJS.ProcessEnv;
}): Promise<DemoModel> {
  const env = options.env ?? process.env;
  const chosen = env.NORMANDY_MODEL;
  const none = async () => {};
  if (!options.offline && env.ANTHROPIC_API_KEY) {
    const model = chosen ?? "claude-haiku-4-5";
    return {
      provider: new AnthropicProvider(),
      model,
      description: `${model} through the Anthropic API${env.ANTHROPIC_BASE_URL ? ` at ${env.ANTHROPIC_BASE_URL}` : ""} (ANTHROPIC_API_KEY is set)`,
      offline: false,
      close: none,
    };
  }
  if (!options.offline && (env.OPENAI_API_KEY || env.OPENAI_BASE_URL)) {
    const model = chosen ?? "gpt-4o-mini";
    return {
      provider: new OpenAIProvider(),
      model,
      description: `${model} through ${env.OPENAI_BASE_URL ? `the OpenAI-compatible server at ${env.OPENAI_BASE_URL}` : "the OpenAI API (OPENAI_API_KEY is set)"}`,
      offline: false,
      close: none,
    };
  }
  // the first request meets a rate limit, so the retry layer has something to show
  const server = await new LoopbackLLMServer({
    script: [{ fault: { kind: "rate_limit", retryAfterSeconds: null, retryAfterMs: 300 } }],
    fallback: scriptedTeamModel,
  }).start();
  const model = "claude-haiku-4-5";
  return {
    provider: new AnthropicProvider({ apiKey: "offline-demo", baseURL: server.anthropicBaseURL }),
    model,
    description: `a scripted model on the loopback LLM server at ${server.url} (Anthropic Messages wire format, no network; priced as ${model}). Set ANTHROPIC_API_KEY or OPENAI_API_KEY (or OPENAI_BASE_URL) to use a real model.`,
    offline: true,
    close: () => server.stop(),
  };
}
