// The loopback LLM server as the benchmarks use it: a tool loop of N steps, in this process or in a
// process of its own (so that its CPU work, and the process-wide cost of anything the benchmark turns on,
// such as async hooks, stays out of the measured process — as a real model server would).
import { fork } from "node:child_process";
import { LoopbackLLMServer, type RecordedRequest, type TurnFunction } from "@normandy/testing";

/** Answers a tool call until the conversation holds `steps` tool results, then text. */
export function toolLoop(steps: number): TurnFunction {
  return (req: RecordedRequest) => {
    const messages = (req.body as { messages: { role: string }[] }).messages;
    const results = messages.filter((m) => m.role === "tool").length;
    return results < steps
      ? { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: results, b: 1 } }] }
      : { text: "done" };
  };
}

/** A server in this process answering `turns` tool loops of `steps` steps. */
export async function serve(steps: number, firstByteMs: number, turns: number): Promise<LoopbackLLMServer> {
  const server = await new LoopbackLLMServer({ latency: { firstByteMs } }).start();
  server.append(...Array.from({ length: turns }, () => toolLoop(steps)));
  return server;
}

/** A server in a child process answering tool loops of `steps` steps for as long as it runs. */
export interface ServerProcess {
  /** The OpenAI base URL. */
  readonly openaiBaseURL: string;
  /** Forgets the recorded requests (they pile up otherwise). */
  forget(): void;
  stop(): Promise<void>;
}

/** The execArgv that runs a TypeScript child (on the built packages, as the benchmark itself). */
const TS_CHILD = ["--import", "tsx"];

/** Starts a server in a child process (see `loopbackProcess.ts`). */
export async function serveInProcess(steps: number): Promise<ServerProcess> {
  const child = fork(new URL("./loopbackProcess.ts", import.meta.url), [String(steps)], {
    execArgv: TS_CHILD,
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("message", (m) => resolve(String(m)));
    child.once("exit", (code) => reject(new Error(`the loopback server process exited (${code})`)));
  });
  return {
    openaiBaseURL: url,
    forget: () => child.send("forget"),
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.disconnect();
      await exited;
    },
  };
}
