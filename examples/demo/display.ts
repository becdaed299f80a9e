/**
 * What the demo prints: one timestamped line per fact from the telemetry bus (runs, model calls, tool
 * calls, retries, crashes, restarts), the writer's streamed text, a live status line on a terminal, and the
 * final token and cost summary.
 */
import { type ExitReason, formatReason, type Telemetry } from "@normandy/runtime";

interface AgentTally {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheTokens: number;
  costUsd: number;
  state: string;
}

/** Dollars of a model call's usage (undefined when the model has no price). */
type CostOf = (usage: {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}) => number | undefined;

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/** The demo's console: event lines, streamed text, a status line (on a terminal) and the summary. */
export class Display {
  readonly #out: NodeJS.WriteStream;
  readonly #costOf: CostOf;
  readonly #live: boolean;
  readonly #t0 = performance.now();
  readonly #agents = new Map<string, AgentTally>();
  readonly #labels = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #frame = 0;
  #streaming = false;
  #toolsRunning = 0;
  /** The most tool calls that ran at the same time. */
  maxParallelTools = 0;
  /** Tool calls made. */
  toolCalls = 0;
  /** Supervisor restarts seen. */
  restarts = 0;

  /**
   * @param out - where to print.
   * @param costOf - dollars of a model call's usage (undefined when the model has no price).
   */
  constructor(out: NodeJS.WriteStream, costOf: CostOf) {
    this.#out = out;
    this.#costOf = costOf;
    this.#live = out.isTTY === true && process.env.CI === undefined;
  }

  /** Starts the status line (on a terminal only). */
  start(): void {
    if (this.#live) this.#timer = setInterval(() => this.#status(), 80);
  }

  /** Removes the status line. */
  stop(): void {
    clearInterval(this.#timer);
    this.#clearStatus();
  }

  /** Prints a section heading. */
  section(title: string): void {
    this.#clearStatus();
    this.#out.write(`\n${title}\n`);
  }

  /** Prints one timestamped line. */
  line(tag: string, text: string): void {
    this.#clearStatus();
    const ms = String(Math.round(performance.now() - this.#t0)).padStart(5);
    this.#out.write(`[${ms} ms] ${tag.padEnd(10)} ${text}\n`);
  }

  /** Prints streamed text as it arrives (the status line waits until {@link endStream}). */
  stream(text: string): void {
    if (!this.#streaming) {
      this.#clearStatus();
      this.#streaming = true;
    }
    this.#out.write(text);
  }

  /** Ends a stream of text. */
  endStream(): void {
    if (this.#streaming) this.#out.write("\n");
    this.#streaming = false;
  }

  /**
   * Prints the facts of a telemetry bus as they happen.
   *
   * @param bus - the system's bus (agents emit on it too).
   */
  attach(bus: Telemetry): void {
    bus.attach("demo-display", "*", (event, m, meta) => {
      const agent = String(meta.agent ?? "");
      switch (event.join(".")) {
        case "normandy.process.start":
          this.#labels.set(String(meta.pid), String(meta.name ?? meta.pid));
          break;
        case "normandy.agent.run.start":
          this.#tally(agent).state = "thinking";
          break;
        case "normandy.agent.model_call.start":
          this.#tally(agent).state = `calling ${meta.model}`;
          break;
        case "normandy.agent.model_call.stop": {
          const usage = {
            inputTokens: m.inputTokens ?? 0,
            outputTokens: m.outputTokens ?? 0,
            cacheReadTokens: m.cacheReadTokens ?? 0,
            cacheWriteTokens: m.cacheWriteTokens ?? 0,
          };
          const tally = this.#tally(agent);
          tally.calls += 1;
          tally.inputTokens += usage.inputTokens;
          tally.outputTokens += usage.outputTokens;
          tally.cacheTokens += usage.cacheReadTokens + usage.cacheWriteTokens;
          tally.costUsd += this.#costOf(usage) ?? 0;
          tally.state = "thinking";
          this.line(
            agent,
            `model replied in ${Math.round(m.duration ?? 0)} ms (${meta.finishReason}, ${usage.inputTokens} in / ${usage.outputTokens} out tokens)`,
          );
          break;
        }
        case "normandy.tool.call.start":
          this.toolCalls += 1;
          this.#toolsRunning += 1;
          this.maxParallelTools = Math.max(this.maxParallelTools, this.#toolsRunning);
          this.#tally(agent).state = `running tools (${this.#toolsRunning})`;
          this.line(agent, `⚙ ${meta.tool} started (${this.#toolsRunning} running)`);
          break;
        case "normandy.tool.call.stop":
          this.#toolsRunning -= 1;
          this.line(
            agent,
            `⚙ ${meta.tool} ${meta.isError ? "failed" : "done"} in ${Math.round(m.duration ?? 0)} ms`,
          );
          break;
        case "normandy.agent.run.stop":
        case "normandy.agent.run.exception":
          this.#tally(agent).state = "idle";
          break;
        case "normandy.orchestration.hierarchical.plan":
          for (const t of (meta.tasks ?? []) as { worker?: string; task: string }[])
            this.line(String(meta.manager), `planned: ${t.worker ?? "?"} ← ${t.task}`);
          break;
        case "normandy.retry.attempt_failed":
          this.line(
            "retry",
            `${meta.provider}: ${meta.kind} on attempt ${m.attempt}${meta.retrying ? `, retrying in ${m.delayMs} ms` : ", giving up"}`,
          );
          break;
        case "normandy.process.crash":
          this.line("💥 crash", `${this.#label(meta.pid)}: ${formatReason(meta.reason as ExitReason)}`);
          break;
        case "normandy.supervisor.restart":
          this.restarts += 1;
          this.line(
            "↻ restart",
            `supervisor ${this.#label(meta.supervisor)} restarted ${meta.childId} as ${meta.pid}`,
          );
          break;
      }
    });
  }

  /** Prints the token and cost table. */
  summary(model: string): void {
    this.section(`Tokens and cost (${model})`);
    const rows = [...this.#agents].filter(([, t]) => t.calls > 0);
    const total = rows.reduce(
      (sum, [, t]) => ({
        calls: sum.calls + t.calls,
        inputTokens: sum.inputTokens + t.inputTokens,
        outputTokens: sum.outputTokens + t.outputTokens,
        cacheTokens: sum.cacheTokens + t.cacheTokens,
        costUsd: sum.costUsd + t.costUsd,
      }),
      { calls: 0, inputTokens: 0, outputTokens: 0, cacheTokens: 0, costUsd: 0 },
    );
    const row = (name: string, t: Omit<AgentTally, "state">) =>
      `  ${name.padEnd(11)} ${String(t.calls).padStart(5)} ${String(t.inputTokens).padStart(9)} ${String(t.outputTokens).padStart(9)} ${String(t.cacheTokens).padStart(9)}   $${t.costUsd.toFixed(5)}`;
    this.#out.write(
      `  ${"agent".padEnd(11)} ${"calls".padStart(5)} ${"input".padStart(9)} ${"output".padStart(9)} ${"cached".padStart(9)}   cost\n`,
    );
    for (const [name, tally] of rows) this.#out.write(`${row(name, tally)}\n`);
    this.#out.write(`${row("total", total)}\n`);
  }

  #tally(agent: string): AgentTally {
    let tally = this.#agents.get(agent);
    if (tally === undefined) {
      tally = { calls: 0, inputTokens: 0, outputTokens: 0, cacheTokens: 0, costUsd: 0, state: "idle" };
      this.#agents.set(agent, tally);
    }
    return tally;
  }

  #label(pid: unknown): string {
    return this.#labels.get(String(pid)) ?? String(pid);
  }

  #status(): void {
    if (this.#streaming) return;
    this.#frame = (this.#frame + 1) % SPINNER.length;
    const seconds = ((performance.now() - this.#t0) / 1000).toFixed(1);
    const busy = [...this.#agents].filter(([, t]) => t.state !== "idle").map(([a, t]) => `${a}: ${t.state}`);
    const text = `${SPINNER[this.#frame]} ${seconds} s · ${busy.length === 0 ? "waiting" : busy.join(" · ")}`;
    this.#out.write(`\r\x1b[2K\x1b[2m${text.slice(0, (this.#out.columns ?? 100) - 1)}\x1b[0m`);
  }

  #clearStatus(): void {
    if (this.#live && !this.#streaming) this.#out.write("\r\x1b[2K");
  }
}
