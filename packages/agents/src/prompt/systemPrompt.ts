/**
 * Normandy's system prompt, in its exact format (the atomic-agents layout plus a tools section), built
 * fresh for every model call so context providers stay current.
 */

/** Something that contributes a titled block of context to every model call (may be async). */
export interface ContextProvider {
  readonly title: string;
  getInfo(): string | Promise<string>;
}

/** What the system prompt says about the agent. */
export interface PromptSpecification {
  /** Identity and purpose lines. */
  readonly background?: readonly string[];
  /** Internal steps the assistant follows. */
  readonly steps?: readonly string[];
  /** Output instructions (two fixed lines are always appended). */
  readonly outputInstructions?: readonly string[];
  /** Context providers, queried on every call, in order. */
  readonly contextProviders?: readonly ContextProvider[];
}

/** The default identity line when no background is given. */
export const DEFAULT_BACKGROUND = "This is a conversation with a helpful and friendly AI assistant.";

/** The two output instructions Normandy always appends. */
export const FIXED_OUTPUT_INSTRUCTIONS: readonly string[] = [
  "Always respond using the proper JSON schema.",
  "Always use the available additional information and context to enhance the response.",
];

/**
 * Builds the system prompt:
 *
 * ```text
 * # IDENTITY and PURPOSE
 * - <background, or the default line>
 * # INTERNAL ASSISTANT STEPS          (only with steps)
 * - <step>
 * # OUTPUT INSTRUCTIONS
 * - <instruction>
 * - Always respond using the proper JSON schema.
 * - Always use the available additional information and context to enhance the response.
 * # EXTRA INFORMATION AND CONTEXT     (only with context providers)
 * ## <title>
 * <info>
 * # AVAILABLE TOOLS                   (only with tools)
 * You have access to the following tools:
 * ## <name>
 * <description>
 * ```
 *
 * @param spec - the prompt specification.
 * @param tools - the tools' names and descriptions.
 * @returns the prompt (context providers are awaited, in order; a throwing provider rejects).
 * @example
 * ```ts
 * await generateSystemPrompt({ background: ["You are a travel agent."] }, [{ name: "search", description: "Searches flights." }]);
 * ```
 */
export async function generateSystemPrompt(
  spec: PromptSpecification,
  tools: readonly { readonly name: string; readonly description: string }[] = [],
): Promise<string> {
  const lines: string[] = ["# IDENTITY and PURPOSE"];
  const background = spec.background?.length ? spec.background : [DEFAULT_BACKGROUND];
  for (const item of background) lines.push(`- ${item}`);
  if (spec.steps?.length) {
    lines.push("# INTERNAL ASSISTANT STEPS");
    for (const step of spec.steps) lines.push(`- ${step}`);
  }
  lines.push("# OUTPUT INSTRUCTIONS");
  for (const item of [...(spec.outputInstructions ?? []), ...FIXED_OUTPUT_INSTRUCTIONS])
    lines.push(`- ${item}`);
  const providers = spec.contextProviders ?? [];
  if (providers.length > 0) {
    const infos = await Promise.all(providers.map((p) => p.getInfo()));
    lines.push("# EXTRA INFORMATION AND CONTEXT");
    for (const [i, p] of providers.entries()) lines.push(`## ${p.title}`, infos[i] as string);
  }
  if (tools.length > 0) {
    lines.push("# AVAILABLE TOOLS", "You have access to the following tools:");
    for (const tool of tools) lines.push(`## ${tool.name}`, tool.description);
  }
  return lines.join("\n");
}
