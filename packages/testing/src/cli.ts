#!/usr/bin/env node
/**
 * Executable entry of the loopback LLM server:
 * `pnpm exec tsx --conditions=@normandy/source packages/testing/src/cli.ts --port 8787 --script turns.json`.
 * Everything but process wiring lives in `runCli.ts`.
 */

import { runCli } from "./runCli.js";

try {
  const server = await runCli(process.argv.slice(2), { print: (line) => console.log(line) });
  const stop = () => {
    // Fire-and-forget is right in a signal handler; a failure to stop is reported and sets the exit code.
    void server?.stop().catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
