/**
 * The model and tool calls of one turn actor: started by the machine's actions, answered by events
 * sent to the actor, with the reply or the tool results added to memory first (every outcome keeps
 * them, and the machine's transitions then only update its context). They share one abort controller
 * per run, so a failed run abandons its calls and a stopped actor aborts its HTTP request and tools.
 */
import { defaultMaxListeners, setMaxListeners } from "node:events";
import type { ModelResponse, ToolCallBlock, ToolResultBlock } from "../model/messages.js";
import { errorResult, textOf, toolCallsOf } from "../model/messages.js";
import { type ParseResult, parseStructuredOutput } from "../output/structuredOutput.js";

/** What a turn needs from its agent (bound to each turn actor; never in the machine's context). */
export interface TurnServices {
  readonly maxToolIterations: number;
  readonly repairAttempts: number;
  readonly outputSchema: import("zod").ZodType<unknown>;
  /** Fits the context, builds the system prompt and calls the model (streaming or not) for `step`; `final` forbids tools. */
  callModel(step: number, final: boolean, signal: AbortSignal): Promise<ModelResponse>;
  /** Runs one tool call (never rejects). */
  runTool(call: ToolCallBlock, step: number, signal: AbortSignal): Promise<ToolResultBlock>;
  /**
   * How many abort listeners a run's signal may hold once it has made `modelCalls` model calls: the SDK
   * leaves one per model call (and per summary call before it), and the tool calls in flight share one.
   */
  signalListeners(modelCalls: number): number;
  /** Whether a call waits for human approval. */
  needsApproval(call: ToolCallBlock): boolean;
  /** Appends messages to memory. */
  remember(message: import("../model/messages.js").Message): void;
}

/** A human's decision on a call awaiting approval. */
export interface Decision {
  readonly approved: boolean;
  readonly reason?: string;
}

/** The model call's outcome: the reply, and when it has no tool calls, its parse. */
export interface ModelOutcome {
  readonly response: ModelResponse;
  readonly calls: readonly ToolCallBlock[];
  /** Ids of the calls that need approval. */
  readonly approvals: readonly string[];
  readonly parsed: ParseResult<unknown> | undefined;
}

/** What the calls send to their turn actor. */
export type CallEvent =
  | { readonly type: "MODEL_DONE"; readonly output: ModelOutcome }
  /** Every result of a step's tool calls, in call order. */
  | { readonly type: "TOOLS_DONE"; readonly results: readonly ToolResultBlock[] }
  /** A model call failed, or a tool call threw where it should not (an event callback). */
  | { readonly type: "CALL_ERROR"; readonly error: unknown };

/** Where the answers go: the turn actor. */
export interface CallTarget {
  send(event: CallEvent): void;
}

/** One turn actor's calls. */
export class TurnCalls {
  // a controller per run, not one for the actor's life: the SDK never removes the listener it adds to a
  // call's signal, so a signal shared run after run would collect listeners forever
  #controller = new AbortController();
  /** The current run's model calls. */
  #modelCalls = 0;

  /** The agent's model call, tools and memory. */
  readonly services: TurnServices;

  /** @param services - the agent's model call, tools and memory. */
  constructor(services: TurnServices) {
    this.services = services;
  }

  /**
   * Calls the model and sends `MODEL_DONE` (or `CALL_ERROR`) to `target`.
   *
   * @param first - the run's first call: the run gets a new abort signal.
   */
  model(target: CallTarget, step: number, final: boolean, first: boolean): void {
    if (first) {
      this.#controller = new AbortController();
      this.#modelCalls = 0;
    }
    const signal = this.#controller.signal;
    const services = this.services;
    // Node warns of a leak past 10 listeners: a run's are bounded, and the limit is raised to the bound
    // only when a run gets there (raising it costs ~4 µs, as much as an abort signal; few runs need it)
    const listeners = services.signalListeners(++this.#modelCalls);
    if (listeners > defaultMaxListeners) setMaxListeners(listeners, signal);
    services.callModel(step, final, signal).then(
      (response) => {
        if (signal.aborted) return; // an abandoned run's call: its run has ended already
        let outcome: ModelOutcome;
        try {
          // in memory before the machine hears of it: every outcome of a reply keeps it
          services.remember({ role: "assistant", content: response.content });
          const calls = toolCallsOf(response);
          const approvals = calls.filter((c) => services.needsApproval(c)).map((c) => c.id);
          // parsed here, once: the machine's guards then decide between done, repair and failure
          const parsed =
            calls.length === 0 ? parseStructuredOutput(textOf(response), services.outputSchema) : undefined;
          outcome = { response, calls, approvals, parsed };
        } catch (error) {
          return this.#fail(target, signal, error); // the reply cannot be kept (a commit callback threw)
        }
        target.send({ type: "MODEL_DONE", output: outcome });
      },
      (error: unknown) => this.#fail(target, signal, error),
    );
  }

  /** Fails the run, unless it ended already (then the outcome is its abandoned call's, and dropped). */
  #fail(target: CallTarget, signal: AbortSignal, error: unknown): void {
    if (!signal.aborted) target.send({ type: "CALL_ERROR", error });
  }

  /**
   * Runs a step's tool calls in parallel (a rejected call gets its rejection as result) and sends one
   * `TOOLS_DONE` with every result, in call order (or `CALL_ERROR`).
   */
  tools(
    target: CallTarget,
    calls: readonly ToolCallBlock[],
    decisions: Readonly<Record<string, Decision>>,
    step: number,
  ): void {
    const signal = this.#controller.signal;
    const results = calls.map((call) => {
      const decision = decisions[call.id];
      return decision !== undefined && !decision.approved
        ? errorResult(call, `The user rejected this call${decision.reason ? `: ${decision.reason}` : "."}`)
        : this.services.runTool(call, step, signal);
    });
    Promise.all(results).then(
      (done) => {
        if (signal.aborted) return;
        try {
          this.services.remember({ role: "tool", content: done });
        } catch (error) {
          return this.#fail(target, signal, error);
        }
        target.send({ type: "TOOLS_DONE", results: done });
      },
      (error: unknown) => this.#fail(target, signal, error),
    );
  }

  /** Abandons the run's calls in flight: a failed run (`reason`) or a stopped actor. */
  abort(reason: string): void {
    this.#controller.abort(new Error(reason));
  }
}
