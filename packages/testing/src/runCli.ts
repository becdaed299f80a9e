/**
 * The command line of the loopback LLM server: parses the arguments, loads a JSON script file, starts the
 * server and prints the base URLs to point the SDKs at. `cli.ts` is the executable wrapper around it.
 */

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { LoopbackLLMServer } from "./LoopbackLLMServer.js";
import type { LatencyOptions, StaticTurn } from "./script.js";
import { parseScript } from "./validateTurn.js";

/** The usage text printed by `--help`. */
export const cliUsage = `Usage: loopback-llm [--port N] [--script FILE.json] [--first-byte-ms N] [--chunk-delay-ms N] [--chunk-size N]

Starts the loopback LLM server on 127.0.0.1 (port 0 = any free port). FILE.json holds a JSON array of turns,
e.g. [{"text": "Hello!"}, {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
{"fault": {"kind": "rate_limit", "retryAfterSeconds": 2}}]. Stop it with Ctrl-C.`;

/** Where the command line writes and reads. */
export interface CliIo {
  /** Prints one line of output. */
  readonly print: (line: string) => void;
  /** Reads a text file (default `fs.readFile`). */
  readonly readText?: (path: string) => Promise<string>;
}

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be an integer ≥ 0, got "${value}"`);
  return n;
}

/**
 * Runs the command line: starts a server from the arguments and prints where it listens.
 *
 * @param argv - the arguments after the script name (`process.argv.slice(2)`).
 * @param io - output and file reading.
 * @returns the started server (the caller stops it), or `undefined` after `--help`.
 * @throws an `Error` for a bad argument, or a `ScriptError` for a malformed script file.
 * @example
 * ```ts
 * const server = await runCli(["--port", "8787", "--script", "turns.json"], { print: console.log });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<LoopbackLLMServer | undefined> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: "string" },
      script: { type: "string" },
      "first-byte-ms": { type: "string" },
      "chunk-delay-ms": { type: "string" },
      "chunk-size": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    io.print(cliUsage);
    return undefined;
  }
  let script: StaticTurn[] = [];
  if (values.script !== undefined) {
    const text = await (io.readText ?? ((path: string) => readFile(path, "utf8")))(values.script);
    script = parseScript(JSON.parse(text));
  }
  const latency: { -readonly [K in keyof LatencyOptions]: number } = {};
  const firstByteMs = count("first-byte-ms", values["first-byte-ms"]);
  const chunkDelayMs = count("chunk-delay-ms", values["chunk-delay-ms"]);
  const chunkSize = count("chunk-size", values["chunk-size"]);
  if (firstByteMs !== undefined) latency.firstByteMs = firstByteMs;
  if (chunkDelayMs !== undefined) latency.chunkDelayMs = chunkDelayMs;
  if (chunkSize !== undefined) latency.chunkSize = Math.max(1, chunkSize);
  const server = await new LoopbackLLMServer({
    script,
    port: count("port", values.port) ?? 0,
    latency,
  }).start();
  io.print(`loopback LLM server listening on ${server.url} (${script.length} scripted turns)`);
  io.print(`  OpenAI    baseURL: ${server.openaiBaseURL}`);
  io.print(`  Anthropic baseURL: ${server.anthropicBaseURL}`);
  return server;
}
