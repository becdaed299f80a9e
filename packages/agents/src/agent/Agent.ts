/**
 * The agent: a definition (model, instructions, tools, schemas, limits) plus a conversation, whose
 * runs are executions of the turn machine. Runs standalone (`run`, `stream`) or inside a supervised
 * process; a run paused for approval can be persisted (`snapshot`) and resumed in another process.
 */
import {
  type Clock,
  Correlation,
  type CorrelationIds,
  onAbort,
  systemClock,
  type Telemetry,
} from "@normandy/runtime";
import type { AnyActor } from "xstate";
import type { ZodType } from "zod";
import { type BatchOptions, type BatchResult, processBatch } from "../batch/processBatch.js";
import { type ContextStrategy, ContextWindowManager } from "../context/ContextWindowManager.js";
import { ConversationMemory } from "../memory/ConversationMemory.js";
import type {
  Message,
  ModelRequest,
  ModelResponse,
  ToolCallBlock,
  ToolDefinition,
  ToolResultBlock,
  Usage,
} from "../model/messages.js";
import {
  DefaultInputSchema,
  DefaultOutputSchema,
  jsonSchemaOf,
  outputSchemaBlock,
} from "../output/structuredOutput.js";
import { generateSystemPrompt, type PromptSpecification } from "../prompt/systemPrompt.js";
import type { Provider } from "../providers/Provider.js";
import { TokenCounter, type TokenEncoder } from "../tokens/TokenCounter.js";
import { tiktokenEncoder } from "../tokens/tiktokenEncoder.js";
import type { AnyTool } from "../tools/defineTool.js";
import { type ExecuteToolsOptions, executeToolCall } from "../tools/executeTools.js";
import { ToolRegistry } from "../tools/ToolRegistry.js";
import { type AgentEvent, type AgentResult, AgentStateError } from "./events.js";
import {
  createTurnActor,
  type TurnContext,
  type TurnMachine,
  type TurnServices,
  turnMachine,
} from "./turnMachine.js";

/** How to define an agent. Defaults follow Normandy (temperature 0.9, 5 tool iterations). */
export interface AgentDefinition<I, O> {
  readonly name: string;
  readonly provider: Provider;
  readonly model: string;
  /** Identity lines, or a full prompt specification (steps, output instructions, context providers). */
  readonly instructions?: string | PromptSpecification;
  readonly tools?: readonly AnyTool[];
  /** Default `{ chat_message: string }`; a string input is taken as `chat_message`. */
  readonly inputSchema?: ZodType<I>;
  /** Default `{ chat_message: string }`. */
  readonly outputSchema?: ZodType<O>;
  /** Default 5. */
  readonly maxToolIterations?: number;
  /** Default 0.9. */
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Extra request fields (thinking, cache, topP, stop, extras, ...). */
  readonly request?: Partial<
    Omit<ModelRequest, "model" | "messages" | "tools" | "temperature" | "maxTokens">
  >;
  /** Memory bound (messages). */
  readonly maxMessages?: number;
  /** Context management, applied before every model call. */
  readonly context?: {
    readonly strategy?: ContextStrategy;
    readonly reservedTokens?: number;
    readonly maxTokens?: number;
  };
  /** The model's context window (e.g. from the model catalog). */
  readonly contextWindowOf?: (model: string) => number | undefined;
  /** Dollars for a usage record (e.g. the model catalog's costOf). */
  readonly costOf?: (usage: Usage, model: string) => number | undefined;
  /** Tokenizer for context management (default: tiktoken, by model family). */
  readonly tokenEncoder?: TokenEncoder;
  /** Tool calls running at once (default 8). */
  readonly toolConcurrency?: number;
  /** Per tool call (default 30 s). */
  readonly toolTimeoutMs?: number;
  /** `native` sends the output schema as the provider's structured-output format; `prompt` (default) adds the OUTPUT SCHEMA block. */
  readonly structuredOutput?: "native" | "prompt";
  /** Repair attempts after a reply that does not fit the output schema (default 2). */
  readonly repairAttempts?: number;
  readonly clock?: Clock;
  readonly telemetry?: Telemetry;
  /** Shared with every tool as `ctx.services` (e.g. a shared-context namespace, a database client). */
  readonly services?: Readonly<Record<string, unknown>>;
}

/** The correlation ids of a run. */
type RunIds = CorrelationIds & {
  readonly agent: string;
  readonly runId: string;
  readonly conversationId: string;
};

/** Options of a run. */
export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Receives the run's events as they happen (the model call is then streamed). */
  readonly onEvent?: (event: AgentEvent) => void;
  /**
   * Called each time the run has added messages to memory (a model reply, a step's tool results), so a
   * durable process can persist the conversation after every completed step.
   */
  readonly onCommit?: () => void;
  /**
   * The ids of the work this run is part of — a calling run's tool (`ctx.correlation`), a message's sender:
   * the run continues that trace, as its child. Default: the current correlation context when correlation
   * is on (`Correlation.enable()`), else the run starts a trace.
   */
  readonly correlation?: CorrelationIds;
}

/** A run that waits for approvals of tool calls. */
export interface PausedRun {
  readonly status: "awaiting_approval";
  readonly calls: readonly ToolCallBlock[];
}

/** What `run`, `approve` and `reject` resolve with. */
export type RunResult<O> = ({ readonly status: "done" } & AgentResult<O>) | PausedRun;

/** A persisted agent: its conversation and, when paused, its run. */
export interface AgentSnapshot {
  readonly version: 1;
  readonly memory: string;
  readonly turn: unknown;
}

/** The run was cancelled. */
export class AgentAbortedError extends Error {
  constructor(reason?: unknown) {
    super(`the agent run was cancelled${reason instanceof Error ? `: ${reason.message}` : ""}`, {
      cause: reason,
    });
    this.name = "AgentAbortedError";
  }
}

/** What a run's correlation ids are made of (see `Agent.#idsFrom`). */
interface IdsSource {
  readonly parent: CorrelationIds | undefined;
  readonly conversationId: string;
  readonly turnId: string | undefined;
}

/** A run waiting for its outcome: how to settle it, and how to stop listening to its signal. */
interface Waiting<O> {
  readonly resolve: (result: RunResult<O>) => void;
  readonly reject: (error: unknown) => void;
  detach: () => void;
}

const NO_DETACH = () => {};

/** The result a tool call gets when its run ended before it finished (see `closeDanglingCalls`). */
const INTERRUPTED_CALL = "Interrupted: the run ended before this call finished.";

/** A counting semaphore for tool concurrency. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  /** Takes a slot: at once (undefined) when one is free, else a promise of the next one released. */
  acquire(): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * An agent.
 *
 * @example
 * ```ts
 * const agent = defineAgent({ name: "helper", provider, model: "claude-haiku-4-5", tools: [calculator] });
 * const result = await agent.run("What is 6 × 7?");
 * if (result.status === "done") console.log(result.output.chat_message, result.usage, result.costUsd);
 * ```
 */
export class Agent<I = { chat_message: string }, O = { chat_message: string }> {
  readonly name: string;
  readonly memory: ConversationMemory;
  readonly tools: ToolRegistry;
  /** The turn machine, shared by all agents (for supervision and inspection). */
  readonly machine: TurnMachine = turnMachine;
  readonly #def: AgentDefinition<I, O>;
  /** The input schema (a process validates message payloads with it before queueing a run). */
  readonly inputSchema: ZodType<unknown>;
  readonly #outputSchema: ZodType<unknown>;
  readonly #windows: ContextWindowManager;
  readonly #counter: TokenCounter;
  readonly #clock: Clock;
  readonly #spec: PromptSpecification;
  #actor: AnyActor | undefined;
  #onEvent: ((event: AgentEvent) => void) | undefined;
  #onCommit: (() => void) | undefined;
  /** The run waiting for its turn to pause or end (runs on an agent never overlap). */
  #waiting: Waiting<O> | undefined;
  #startSize = 0;
  #runStarted = 0;
  #slots: Slots;
  /** The system prompt built for a tool set (when it has no context providers). */
  #system: { readonly definitions: readonly ToolDefinition[]; readonly text: string } | undefined;
  /** The current run's id (an approval resumes the same run), made with its ids. */
  #runId: string | undefined;
  /** What the current run's ids are made of, taken when it starts or resumes (see `#runIds`). */
  #idsSource: IdsSource = { parent: undefined, conversationId: "", turnId: undefined };
  #ids: RunIds | undefined;
  /** The current run's tool-call options (see `#toolOptions`). */
  #toolCallOptions: ExecuteToolsOptions | undefined;
  readonly #services: TurnServices;

  /** @param definition - the agent's definition. */
  constructor(definition: AgentDefinition<I, O>) {
    this.#def = definition;
    this.name = definition.name;
    this.memory = new ConversationMemory(
      definition.maxMessages === undefined ? {} : { maxMessages: definition.maxMessages },
    );
    this.tools = new ToolRegistry(definition.tools ?? []);
    this.inputSchema = definition.inputSchema ?? DefaultInputSchema;
    this.#outputSchema = definition.outputSchema ?? DefaultOutputSchema;
    this.#clock = definition.clock ?? systemClock;
    const instructions = definition.instructions;
    this.#spec = typeof instructions === "string" ? { background: [instructions] } : (instructions ?? {});
    this.#counter = new TokenCounter(definition.tokenEncoder ?? tiktokenEncoder(definition.model));
    const ctx = definition.context ?? {};
    this.#windows = new ContextWindowManager({
      counter: this.#counter,
      ...(ctx.strategy !== undefined && { strategy: ctx.strategy }),
      ...(ctx.reservedTokens !== undefined && { reservedTokens: ctx.reservedTokens }),
      ...(ctx.maxTokens !== undefined && { maxTokens: ctx.maxTokens }),
      ...(definition.contextWindowOf !== undefined && { contextWindowOf: definition.contextWindowOf }),
      summarizer: { provider: definition.provider, model: definition.model },
    });
    const maxToolIterations = definition.maxToolIterations ?? 5;
    const repairAttempts = definition.repairAttempts ?? 2;
    const toolConcurrency = definition.toolConcurrency ?? 8;
    this.#slots = new Slots(toolConcurrency);
    this.#services = {
      maxToolIterations,
      repairAttempts,
      outputSchema: this.#outputSchema,
      callModel: (step, final, signal) => this.#callModel(step, final, signal),
      runTool: (call, step, signal) => this.#runTool(call, step, signal),
      needsApproval: (call) => this.#needsApproval(call),
      // each model call may be preceded by a summary call on the same signal; tool calls share one
      signalListeners: (modelCalls) => 2 * modelCalls + (this.tools.size > 0 ? 1 : 0),
      remember: (message) => {
        this.memory.add(message);
        this.#onCommit?.();
      },
    };
  }

  /** Whether a run is in progress or paused for approvals. */
  get #busy(): boolean {
    const state = this.#actor?.getSnapshot().value;
    return state !== undefined && state !== "idle" && state !== "done" && state !== "failed";
  }

  /** Whether a run is paused for approvals. */
  get awaitingApproval(): boolean {
    return this.#actor?.getSnapshot().value === "awaiting_approval";
  }

  /**
   * Runs the agent: adds the input (if any) to the conversation and runs the turn to its end.
   * Calling it with no input continues the conversation.
   *
   * @param input - a string (for the default schema) or an object of the input schema.
   * @param options - signal, and an event callback (which makes the model calls stream).
   * @returns the result, or the paused run when a tool call needs approval.
   * @throws ZodError for invalid input; ProviderError; StructuredOutputError; MaxIterationsError; AgentAbortedError.
   */
  run(input?: I | string, options: RunOptions = {}): Promise<RunResult<O>> {
    if (this.#busy)
      return Promise.reject(
        new AgentStateError(
          this.awaitingApproval
            ? "a run awaits approval: approve or reject its calls first"
            : "a run is already in progress",
        ),
      );
    let text: string | undefined;
    // a string for the default schema is its chat_message as is (no parse: it fits by construction)
    if (typeof input === "string" && this.inputSchema === DefaultInputSchema) text = input;
    else if (input !== undefined) {
      const parsed = this.inputSchema.safeParse(typeof input === "string" ? { chat_message: input } : input);
      if (!parsed.success) return Promise.reject(parsed.error); // before any call, and never a sync throw
      text = userText(parsed.data);
    }
    // a run that failed or was aborted while its tools ran left their calls without results
    this.memory.closeDanglingCalls(INTERRUPTED_CALL);
    if (text !== undefined) {
      this.memory.initializeTurn();
      this.memory.add({ role: "user", content: text });
    }
    this.#startSize = this.memory.size;
    this.#runStarted = this.#clock.now();
    this.#runId = undefined;
    this.#idsFrom(options.correlation);
    const start = () => {
      this.#telemetry("start", {}, {});
      // one turn actor per agent, reused run after run (a new one only after an abort or a restore)
      let actor = this.#actor;
      if (actor === undefined) {
        actor = this.#startActor();
        this.#actor = actor;
      }
      const result = this.#settle(actor, options);
      if (this.#actor === actor) actor.send({ type: "RUN" }); // not when the signal was already aborted
      return result;
    };
    return this.#correlated(start);
  }

  /**
   * Streams a run: its events as an async iterable; `result()` gives the outcome.
   *
   * @param input - as for `run`.
   * @param options - the signal.
   * @returns the stream.
   */
  stream(input?: I | string, options: Omit<RunOptions, "onEvent"> = {}): AgentStream<O> {
    return new AgentStream<O>((onEvent) => this.run(input, { ...options, onEvent }));
  }

  /**
   * Approves a call of the paused run and resumes it once every pending call is decided.
   *
   * @param callId - the tool call.
   * @param options - signal and event callback for the rest of the run.
   * @returns the run's outcome (it may pause again).
   */
  approve(callId: string, options: RunOptions = {}): Promise<RunResult<O>> {
    return this.#decide({ type: "APPROVE", callId }, options);
  }

  /**
   * Rejects a call of the paused run: the model gets an error result with the reason.
   *
   * @param callId - the tool call.
   * @param reason - why, for the model.
   * @param options - signal and event callback for the rest of the run.
   * @returns the run's outcome.
   */
  reject(callId: string, reason?: string, options: RunOptions = {}): Promise<RunResult<O>> {
    return this.#decide({ type: "REJECT", callId, ...(reason !== undefined && { reason }) }, options);
  }

  /** The conversation and, when paused, the run — JSON, to resume in another process with `restore`. */
  snapshot(): AgentSnapshot {
    const paused = this.awaitingApproval;
    if (this.#busy && !paused)
      throw new AgentStateError("a running agent cannot be snapshotted; wait for it to finish or pause");
    return {
      version: 1,
      memory: this.memory.dump(),
      turn: paused ? this.#actor?.getPersistedSnapshot() : undefined,
    };
  }

  /**
   * Restores a snapshot into this (fresh) agent.
   *
   * @param snapshot - from `snapshot()`.
   */
  restore(snapshot: AgentSnapshot): void {
    if (snapshot.version !== 1)
      throw new AgentStateError(`unsupported agent snapshot version ${String(snapshot.version)}`);
    this.memory.copyFrom(ConversationMemory.load(snapshot.memory));
    this.#actor = snapshot.turn === undefined ? undefined : this.#startActor(snapshot.turn);
  }

  /**
   * The tokens the next model call would send: system prompt, tool definitions and conversation,
   * counted locally (incrementally), or by the provider's count endpoint with `exact`.
   *
   * @param options - `exact` asks the provider (where it has an endpoint).
   * @returns the count.
   */
  async countTokens(
    options: { readonly exact?: boolean; readonly signal?: AbortSignal } = {},
  ): Promise<number> {
    const definitions = this.tools.definitions();
    const system = await this.#systemPrompt(definitions); // the one the next call sends
    const provider = this.#def.provider;
    if (options.exact === true && provider.countTokens !== undefined) {
      return provider.countTokens(
        {
          model: this.#def.model,
          messages: [{ role: "system", content: system }, ...this.memory.messages()],
          tools: definitions,
        },
        options.signal === undefined ? {} : { signal: options.signal },
      );
    }
    return this.#windows.count(this.memory.messages(), { system, tools: definitions });
  }

  /**
   * Runs many inputs, each from this agent's current conversation (a copy per item; this agent's own
   * memory is untouched), with Normandy's batch defaults (10 at once, in order, a per-item timeout that
   * fails only its item).
   *
   * @param inputs - the inputs.
   * @param options - concurrency, timeout, callbacks, signal.
   * @returns every item's outcome, in input order.
   */
  processBatch(
    inputs: readonly (I | string)[],
    options: BatchOptions<I | string> = {},
  ): Promise<BatchResult<RunResult<O>>> {
    const dump = this.memory.dump();
    return processBatch(
      inputs,
      (input, { signal }) => {
        const copy = new Agent<I, O>(this.#def);
        copy.memory.replace(ConversationMemory.load(dump).entries());
        return copy.run(input, { signal });
      },
      { clock: this.#clock, ...options },
    );
  }

  /** Forgets the conversation. */
  resetMemory(): void {
    this.memory.clear();
  }

  #decide(
    event: { type: "APPROVE"; callId: string } | { type: "REJECT"; callId: string; reason?: string },
    options: RunOptions,
  ): Promise<RunResult<O>> {
    const actor = this.#actor;
    if (actor === undefined || !this.awaitingApproval)
      return Promise.reject(new AgentStateError("no run awaits approval"));
    const pending = (actor.getSnapshot().context as TurnContext).pending;
    if (!pending.some((c) => c.id === event.callId))
      return Promise.reject(new AgentStateError(`no call ${event.callId} awaits approval`));
    // the rest of the run is a new unit of work, under whoever resumes it
    this.#idsFrom(options.correlation);
    return this.#correlated(() => {
      const result = this.#settle(actor, options);
      actor.send(event);
      return result;
    });
  }

  /**
   * Runs the start of a run's work in the run's correlation context, when correlation is on: the model
   * and tool calls (and the telemetry handlers, tools and providers they run) continue from it, so one
   * context per run or resumption carries its ids through all its async work. (The run's events and its
   * tools' `ctx.correlation` carry the ids whether correlation is on or not.)
   */
  #correlated<T>(work: () => T): T {
    return Correlation.enabled ? Correlation.run(this.#runIds, work, { inherit: false }) : work();
  }

  /**
   * Starts a turn actor (restoring a paused run's snapshot), with one observer for its life that
   * settles the waiting run (a subscription per run cost more than the run's own work around it).
   */
  #startActor(snapshot?: unknown): AnyActor {
    const actor = createTurnActor(this.#services, snapshot);
    actor.subscribe({
      next: (state) => this.#observe(state),
      error: (error) => {
        if (this.#actor === actor) this.#actor = undefined;
        const waiting = this.#finish();
        waiting?.reject(error);
      },
    });
    return actor.start();
  }

  /** Waits for the run (or resumption) the next event starts to pause or end; the signal aborts it. */
  #settle(actor: AnyActor, options: RunOptions): Promise<RunResult<O>> {
    this.#onEvent = options.onEvent;
    this.#onCommit = options.onCommit;
    return new Promise<RunResult<O>>((resolve, reject) => {
      const signal = options.signal;
      const abort = () => {
        this.#telemetry("exception", {}, { error: new AgentAbortedError(signal?.reason) });
        this.#finish();
        this.#actor = undefined;
        actor.stop();
        reject(new AgentAbortedError(signal?.reason));
      };
      const waiting: Waiting<O> = { resolve, reject, detach: NO_DETACH };
      this.#waiting = waiting;
      if (signal !== undefined) waiting.detach = onAbort(signal, abort); // may abort at once
    });
  }

  /** Ends the wait of the run that waits (if any): its callbacks and abort listener go. */
  #finish(): Waiting<O> | undefined {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.detach();
    this.#onEvent = undefined;
    this.#onCommit = undefined;
    return waiting;
  }

  /** Settles the waiting run when the turn pauses for approval, is done or failed. */
  #observe(snapshot: { readonly value: unknown; readonly context: unknown }): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return; // a new or restored actor's first snapshot
    const ctx = snapshot.context as TurnContext;
    if (snapshot.value === "awaiting_approval") {
      const calls = ctx.pending.filter(
        (c) => ctx.approvals.includes(c.id) && ctx.decisions[c.id] === undefined,
      );
      this.#emit({ type: "awaiting_approval", step: ctx.step, calls }); // before the callback is detached
      this.#telemetry("pause", {}, { calls: calls.map((c) => c.name) });
      this.#finish();
      waiting.resolve({ status: "awaiting_approval", calls });
    } else if (snapshot.value === "failed") {
      this.#telemetry("exception", {}, { error: ctx.error });
      this.#finish();
      waiting.reject(ctx.error);
    } else if (snapshot.value === "done") {
      const result = this.#result(ctx);
      this.#telemetry(
        "stop",
        {
          inputTokens: result.usage.inputTokens,
          outputTokens: result.usage.outputTokens,
          steps: result.steps.length,
        },
        { costUsd: result.costUsd },
      );
      this.#emit({ type: "done", result }); // before the callback is detached
      this.#finish();
      waiting.resolve({ status: "done", ...result });
    }
  }

  #result(ctx: TurnContext): AgentResult<O> {
    const costUsd = this.#def.costOf?.(ctx.usage, this.#def.model);
    return {
      output: ctx.output as O,
      text: ctx.text,
      steps: ctx.steps,
      usage: ctx.usage,
      costUsd,
      newMessages: this.memory.size - this.#startSize,
    };
  }

  #telemetry(
    phase: "start" | "stop" | "exception" | "pause",
    measurements: Record<string, number>,
    metadata: Record<string, unknown>,
  ): void {
    const telemetry = this.#def.telemetry;
    if (!telemetry?.active) return;
    const duration = phase === "start" ? {} : { duration: this.#clock.now() - this.#runStarted };
    telemetry.emit(
      ["normandy", "agent", "run", phase],
      { ...duration, ...measurements },
      { ...this.#runIds, model: this.#def.model, provider: this.#def.provider.name, ...metadata },
    );
  }

  /**
   * Starts the ids of a run or a resumption: a child of the given work, else of the current correlation
   * context (when on), else the root of a new trace. What they are made of is taken now; they are made
   * when first read (a run without telemetry, tools or correlation never reads them, and its trace and
   * span ids cost a few microseconds a run).
   */
  #idsFrom(parent: CorrelationIds | undefined): void {
    this.#idsSource = {
      parent: parent ?? (Correlation.enabled ? Correlation.current() : undefined),
      conversationId: this.memory.conversationId,
      turnId: this.memory.currentTurnId,
    };
    this.#ids = undefined;
  }

  /**
   * The ids of the current run, on every telemetry event it emits: its caller's, its trace and span, its
   * agent, run, conversation and turn.
   */
  get #runIds(): RunIds {
    if (this.#ids === undefined) {
      const { parent, conversationId, turnId } = this.#idsSource;
      this.#runId ??= crypto.randomUUID();
      this.#ids = Correlation.child(parent, {
        agent: this.name,
        runId: this.#runId,
        conversationId,
        turnId,
      }) as RunIds;
    }
    return this.#ids;
  }

  #emit(event: AgentEvent): void {
    this.#onEvent?.(event);
  }

  /**
   * Builds the system prompt and fits the context for the next call (before every call): without a
   * promise when the prompt is cached and the conversation surely fits, as it mostly is.
   */
  #prepare(signal: AbortSignal): string | Promise<string> {
    const definitions = this.tools.definitions();
    const prompt = this.#systemPrompt(definitions);
    return typeof prompt === "string"
      ? this.#fit(prompt, definitions, signal)
      : prompt.then((system) => this.#fit(system, definitions, signal));
  }

  #fit(system: string, tools: readonly ToolDefinition[], signal: AbortSignal): string | Promise<string> {
    const frame = {
      model: this.#def.model,
      system,
      tools,
      ...(this.#def.maxTokens !== undefined && { maxTokens: this.#def.maxTokens }),
      signal,
    };
    return this.#windows.surelyFits(this.memory, frame)
      ? system
      : this.#windows.fit(this.memory, frame).then(() => system);
  }

  /**
   * The system prompt. Without context providers it depends only on the tools (whose definitions array
   * changes when they do), so it is built once per tool set and then returned at once, not as a promise
   * (this runs before every model call).
   */
  #systemPrompt(definitions: readonly ToolDefinition[]): string | Promise<string> {
    const cached = this.#system;
    return cached?.definitions === definitions ? cached.text : this.#buildSystemPrompt(definitions);
  }

  async #buildSystemPrompt(definitions: readonly ToolDefinition[]): Promise<string> {
    let text = await generateSystemPrompt(this.#spec, definitions);
    if (this.#outputSchema !== DefaultOutputSchema && this.#def.structuredOutput !== "native")
      text += `\n${outputSchemaBlock(this.#outputSchema)}`;
    if (!this.#spec.contextProviders?.length) this.#system = { definitions, text };
    return text;
  }

  /** The next model request: the definition's settings, the system prompt and the conversation. */
  #request(system: string, final: boolean): ModelRequest {
    const def = this.#def;
    const definitions = this.tools.definitions();
    const messages: Message[] = [{ role: "system", content: system }, ...this.memory.messages()];
    // optional fields set one by one: one object, no intermediate spreads (this runs on every step)
    const request: { -readonly [K in keyof ModelRequest]: ModelRequest[K] } =
      def.request === undefined
        ? { model: def.model, messages, temperature: def.temperature ?? 0.9 }
        : { ...def.request, model: def.model, messages, temperature: def.temperature ?? 0.9 };
    if (def.maxTokens !== undefined) request.maxTokens = def.maxTokens;
    if (definitions.length > 0) {
      request.tools = definitions;
      if (final) request.toolChoice = "none";
    }
    if (def.structuredOutput === "native" && this.#outputSchema !== DefaultOutputSchema)
      request.responseFormat = {
        type: "json_schema",
        name: "output",
        schema: jsonSchemaOf(this.#outputSchema),
        strict: false,
      };
    return request;
  }

  async #callModel(step: number, final: boolean, signal: AbortSignal): Promise<ModelResponse> {
    const prepared = this.#prepare(signal);
    const system = typeof prepared === "string" ? prepared : await prepared;
    const request = this.#request(system, final);
    this.#emit({ type: "step_start", step });
    const def = this.#def;
    const telemetry = def.telemetry?.active ? def.telemetry : undefined;
    const stream = this.#onEvent !== undefined;
    // built only for a listening bus or a stream (its first chunk is reported); `messages` (a reference,
    // never copied) is content: loggers leave it out, tracing records it on request
    const meta =
      telemetry !== undefined || stream
        ? {
            ...this.#runIds,
            model: def.model,
            provider: def.provider.name,
            step,
            stream,
            messages: request.messages,
          }
        : undefined;
    const started = this.#clock.now();
    if (meta !== undefined) telemetry?.emit(["normandy", "agent", "model_call", "start"], {}, meta);
    let response: ModelResponse;
    try {
      response =
        meta !== undefined && stream
          ? await this.#streamModel(request, step, signal, meta, started)
          : await def.provider.complete(request, { signal });
    } catch (error) {
      telemetry?.emit(
        ["normandy", "agent", "model_call", "exception"],
        { duration: this.#clock.now() - started },
        { ...meta, error },
      );
      throw error;
    }
    if (telemetry !== undefined) {
      const usage = response.usage;
      telemetry.emit(
        ["normandy", "agent", "model_call", "stop"],
        {
          duration: this.#clock.now() - started,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          cacheReadTokens: usage.cacheReadTokens,
          cacheWriteTokens: usage.cacheWriteTokens,
          reasoningTokens: usage.reasoningTokens,
        },
        {
          ...meta,
          responseId: response.id,
          responseModel: response.model,
          // the provider's own reason (`stop`, `tool_calls`, `end_turn`, ...), as OpenTelemetry wants it
          finishReason: response.rawStopReason ?? response.stopReason,
          content: response.content,
        },
      );
    }
    this.#emit({ type: "step_finish", step, stopReason: response.stopReason, usage: response.usage });
    return response;
  }

  async #streamModel(
    request: ModelRequest,
    step: number,
    signal: AbortSignal,
    meta: Readonly<Record<string, unknown>>,
    started: number,
  ): Promise<ModelResponse> {
    const stream = this.#def.provider.stream(request, { signal });
    let first = true;
    for await (const event of stream) {
      if (first) {
        first = false;
        const telemetry = this.#def.telemetry;
        if (telemetry?.active)
          telemetry.emit(
            ["normandy", "agent", "model_call", "first_chunk"],
            { duration: this.#clock.now() - started },
            meta,
          );
      }
      if (event.type === "text_delta") this.#emit({ type: "text_delta", step, text: event.text });
      else if (event.type === "thinking_delta" && event.thinking !== "")
        this.#emit({ type: "thinking_delta", step, thinking: event.thinking });
      else if (event.type === "tool_call_start")
        this.#emit({ type: "tool_call_start", step, id: event.id, name: event.name });
      else if (event.type === "tool_call_delta")
        this.#emit({ type: "tool_call_arguments", step, id: event.id, delta: event.delta });
      else if (event.type === "tool_call_end") this.#emit({ type: "tool_call", step, call: event.call });
    }
    return stream.final();
  }

  async #runTool(call: ToolCallBlock, step: number, signal: AbortSignal): Promise<ToolResultBlock> {
    const waiting = this.#slots.acquire();
    if (waiting !== undefined) await waiting;
    try {
      const options = this.#toolOptions(signal);
      // the call's id in the context (as in `ctx.correlation`): a run the tool starts (agent as tool, a
      // request to another process) knows which call it belongs to, so a trace can put it under that call
      const result = await (Correlation.enabled
        ? Correlation.run({ toolCallId: call.id }, () => executeToolCall(this.tools, call, options))
        : executeToolCall(this.tools, call, options));
      this.#emit({ type: "tool_result", step, result });
      return result;
    } finally {
      this.#slots.release();
    }
  }

  /** The options of a run's tool calls, built once per run (its signal and ids) and shared by its calls. */
  #toolOptions(signal: AbortSignal): ExecuteToolsOptions {
    const cached = this.#toolCallOptions;
    if (cached?.signal === signal && cached.correlation === this.#runIds) return cached;
    const def = this.#def;
    const ids = this.#runIds;
    const options: ExecuteToolsOptions = {
      signal,
      clock: this.#clock,
      ...(def.toolTimeoutMs !== undefined && { timeoutMs: def.toolTimeoutMs }),
      ...(def.telemetry !== undefined && { telemetry: def.telemetry }),
      metadata: ids,
      correlation: ids,
      agent: this.name,
      ...(def.services !== undefined && { services: def.services }),
    };
    this.#toolCallOptions = options;
    return options;
  }

  #needsApproval(call: ToolCallBlock): boolean {
    const flag = this.tools.get(call.name)?.needsApproval;
    if (typeof flag !== "function") return flag === true;
    try {
      return flag(call.arguments as never);
    } catch {
      return true; // a predicate that cannot decide errs on the side of asking a human
    }
  }
}

/**
 * Defines an agent.
 *
 * @param definition - the agent's definition.
 * @returns the agent.
 */
export function defineAgent<I = { chat_message: string }, O = { chat_message: string }>(
  definition: AgentDefinition<I, O>,
): Agent<I, O> {
  return new Agent(definition);
}

/** A streamed run: iterate its events; `result()` resolves with the outcome. */
export class AgentStream<O> implements AsyncIterable<AgentEvent> {
  readonly #result: Promise<RunResult<O>>;
  readonly #queue: AgentEvent[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  /** @param start - starts the run with an event callback. */
  constructor(start: (onEvent: (event: AgentEvent) => void) => Promise<RunResult<O>>) {
    this.#result = start((event) => {
      this.#queue.push(event);
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    this.#result.then(end, end);
  }

  /** The run's outcome. */
  result(): Promise<RunResult<O>> {
    return this.#result;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AgentEvent> {
    for (;;) {
      const event = this.#queue.shift();
      if (event !== undefined) {
        yield event;
        continue;
      }
      if (this.#ended) {
        await this.#result; // a failed run throws here
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}

function userText(input: unknown): string {
  const record = input as { chat_message?: unknown };
  return typeof record.chat_message === "string" && Object.keys(record).length === 1
    ? record.chat_message
    : JSON.stringify(input);
}
