/**
 * Where a recorder writes its exchanges: a JSONL file, written synchronously one whole line per
 * exchange, or any caller-supplied sink (an in-memory one is provided).
 *
 * Why synchronous appends: each exchange is one `write(2)` of one complete line on a file opened for
 * appending, issued before the call that produced it returns to the caller, so a process that crashes
 * later (or exits without cleanup) loses no line, and two recorders appending to one file never
 * interleave within a line. The data is then in the OS's page cache; `fsync: true` also flushes it to
 * the disk before the call returns, for recordings that must survive a machine crash. Model calls take
 * milliseconds to seconds, so the cost of a synchronous append per call does not matter.
 */
import { appendFileSync, closeSync, fsyncSync, openSync, writeFileSync, writeSync } from "node:fs";
import type { RecordedExchange } from "./exchange.js";

/** Receives each recorded exchange once it is complete. A throw or rejection fails the recorded call. */
export interface RecordingSink {
  /** Stores one exchange (a plain JSON object). */
  write(exchange: RecordedExchange): void | Promise<void>;
}

/** Options of {@link fileSink}. */
export interface FileSinkOptions {
  /** Flush each line to the disk (`fsync`) before the call returns (default false: the page cache). */
  readonly fsync?: boolean;
  /** Empty the file now, before anything is recorded (default false: append to what is there). */
  readonly truncate?: boolean;
}

/**
 * A sink appending one JSON line per exchange to a file (created if absent; its directory must exist).
 *
 * @param path - the JSONL file.
 * @param options - fsync and truncation.
 * @returns the sink.
 * @example
 * ```ts
 * const provider = recordingProvider(openai, { sink: fileSink("run.jsonl", { fsync: true }) });
 * ```
 */
export function fileSink(path: string, options: FileSinkOptions = {}): RecordingSink {
  if (options.truncate === true) writeFileSync(path, "");
  const durable = options.fsync === true;
  return {
    write(exchange) {
      const line = `${JSON.stringify(exchange)}\n`;
      if (!durable) {
        appendFileSync(path, line);
        return;
      }
      const fd = openSync(path, "a");
      try {
        writeSync(fd, line);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** A sink that keeps the exchanges in memory, to replay with `replayProvider({ exchanges })`. */
export interface MemorySink extends RecordingSink {
  /** The exchanges recorded so far, in order. */
  readonly exchanges: readonly RecordedExchange[];
}

/**
 * A sink keeping the exchanges in an array.
 *
 * @returns the sink.
 * @example
 * ```ts
 * const sink = memorySink();
 * await defineAgent({ name: "a", provider: recordingProvider(openai, { sink }), model }).run("hi");
 * const replay = replayProvider({ exchanges: sink.exchanges });
 * ```
 */
export function memorySink(): MemorySink {
  const exchanges: RecordedExchange[] = [];
  return {
    exchanges,
    write(exchange) {
      exchanges.push(exchange);
    },
  };
}
