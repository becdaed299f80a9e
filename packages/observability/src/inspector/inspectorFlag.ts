/**
 * The demo flag: a program started with `--inspector` (or `--inspector=PORT`, or the environment
 * variable `NORMANDY_INSPECTOR=1|PORT`) starts the local inspector server; without it, nothing is started.
 */
import type { ActorSystem } from "@normandy/runtime";
import { InspectorError } from "./errors.js";
import { type InspectorOptions, type InspectorServer, startInspector } from "./InspectorServer.js";

/** The command-line flag. */
export const INSPECTOR_FLAG = "--inspector";
/** The environment variable. */
export const INSPECTOR_ENV = "NORMANDY_INSPECTOR";

/** What the flag asks for. */
export interface InspectorRequest {
  /** The port, when one was given. */
  readonly port: number | undefined;
}

/** Where to read the flag from (default: this process's arguments and environment). */
export interface InspectorFlagSource {
  /** The program's arguments (default `process.argv.slice(2)`). */
  readonly argv?: readonly string[];
  /** The environment (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const OFF = new Set(["", "0", "false", "off", "no"]);
const ON = new Set(["1", "true", "on", "yes"]);

/**
 * Reads the demo flag; the command line wins over the environment.
 *
 * @param source - the arguments and environment to read.
 * @returns the request, or undefined when the inspector is not asked for.
 * @throws InspectorError (`invalid_option`) for a malformed port.
 */
export function inspectorRequested(source: InspectorFlagSource = {}): InspectorRequest | undefined {
  const argv = source.argv ?? process.argv.slice(2);
  for (const arg of argv) {
    if (arg === INSPECTOR_FLAG) return { port: undefined };
    if (arg.startsWith(`${INSPECTOR_FLAG}=`))
      return { port: portOf(arg.slice(INSPECTOR_FLAG.length + 1), arg) };
  }
  const value = (source.env ?? process.env)[INSPECTOR_ENV];
  if (value === undefined) return undefined;
  const normalized = value.trim().toLowerCase();
  if (OFF.has(normalized)) return undefined;
  if (ON.has(normalized)) return { port: undefined };
  return { port: portOf(normalized, `${INSPECTOR_ENV}=${value}`) };
}

/**
 * Starts the inspector server when the demo flag asks for it.
 *
 * @param system - the actor system to watch.
 * @param options - the server's options (a port given by the flag wins) and where to read the flag.
 * @returns the running server, or undefined when the flag is absent.
 * @throws InspectorError for a malformed flag or a port that cannot be bound.
 * @example
 * ```ts
 * const system = ActorSystem.start();
 * const inspector = await startInspectorIfRequested(system); // `tsx demo.ts --inspector=8080`
 * if (inspector) console.log(`inspector: ${inspector.pageUrl}`);
 * ```
 */
export async function startInspectorIfRequested(
  system: ActorSystem,
  options: InspectorOptions & InspectorFlagSource = {},
): Promise<InspectorServer | undefined> {
  const { argv, env, ...serverOptions } = options;
  const request = inspectorRequested({
    ...(argv !== undefined && { argv }),
    ...(env !== undefined && { env }),
  });
  if (request === undefined) return undefined;
  return startInspector(
    system,
    request.port === undefined ? serverOptions : { ...serverOptions, port: request.port },
  );
}

function portOf(text: string, source: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65_535))
    throw new InspectorError(
      "invalid_option",
      `${source}: the inspector port must be an integer in 0..65535`,
    );
  return port;
}
