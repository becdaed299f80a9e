/** A set of tools by name, with the definitions to send to the model. */
import type { ToolDefinition } from "../model/messages.js";
import type { AnyTool } from "./defineTool.js";

/** A tool name the registry does not hold. */
export class ToolNotFoundError extends Error {
  readonly toolName: string;

  /** @param name - the missing tool. */
  constructor(name: string) {
    super(`Tool '${name}' not found in registry`);
    this.name = "ToolNotFoundError";
    this.toolName = name;
  }
}

/**
 * Tools by name. Registering a name again replaces the tool (as Normandy's registry does).
 *
 * @example
 * ```ts
 * const tools = new ToolRegistry([calculator, stringManipulator]);
 * tools.definitions(); // [{ name: "calculator", description, inputSchema }, ...]
 * ```
 */
export class ToolRegistry {
  readonly #tools = new Map<string, AnyTool>();
  #definitions: ToolDefinition[] | undefined;

  /** @param tools - the initial tools. */
  constructor(tools: Iterable<AnyTool> = []) {
    for (const tool of tools) this.register(tool);
  }

  /** Adds (or replaces) a tool; returns the registry. */
  register(tool: AnyTool): this {
    this.#tools.set(tool.name, tool);
    this.#definitions = undefined;
    return this;
  }

  /** Removes a tool; returns whether it was there. */
  unregister(name: string): boolean {
    this.#definitions = undefined;
    return this.#tools.delete(name);
  }

  /** The tool, or undefined. */
  get(name: string): AnyTool | undefined {
    return this.#tools.get(name);
  }

  /**
   * The tool.
   *
   * @throws ToolNotFoundError
   */
  getOrThrow(name: string): AnyTool {
    const tool = this.#tools.get(name);
    if (tool === undefined) throw new ToolNotFoundError(name);
    return tool;
  }

  /** Whether a tool of that name is registered. */
  has(name: string): boolean {
    return this.#tools.has(name);
  }

  /** The tools, in registration order. */
  list(): AnyTool[] {
    return [...this.#tools.values()];
  }

  /** The tool names, in registration order. */
  names(): string[] {
    return [...this.#tools.keys()];
  }

  /** How many tools are registered. */
  get size(): number {
    return this.#tools.size;
  }

  /** The definitions sent to the model (the same array until the registry changes, so counts of it cache). */
  definitions(): readonly ToolDefinition[] {
    this.#definitions ??= this.list().map((t) => t.definition);
    return this.#definitions;
  }
}
