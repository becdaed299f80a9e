/**
 * The demo's team: a manager that plans with structured output, a researcher with three data tools, an
 * analyst with the calculator, and a writer that streams the brief. The researcher's and the analyst's
 * definitions become supervised, durable agent processes; the manager and the writer run in place.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Agent,
  type AgentDefinition,
  calculator,
  defineAgent,
  defineTool,
  type ModelCatalog,
  type Provider,
} from "@normandy/agents";
import { ManagerOutputSchema } from "@normandy/coordination";
import type { Telemetry } from "@normandy/runtime";
import { z } from "zod";
import { PORTS, SAMPLE_DATA } from "./scenario.js";

/** A crash to inject into the researcher's process the next time one of its tools runs. */
export interface CrashDrill {
  /** Whether the next `current_atlas` call crashes the process. */
  armed: boolean;
  /** Kills the researcher's process (a crash, as a bug in a tool would). */
  readonly crash: () => void;
}

/** What every agent of the team is built with. */
export interface TeamOptions {
  readonly provider: Provider;
  readonly model: string;
  readonly telemetry: Telemetry;
  readonly catalog: ModelCatalog;
  readonly drill: CrashDrill;
  /** How long a data tool takes (a real lookup would be a network call). */
  readonly toolLatencyMs: number;
}

/** The team's agents and agent definitions. */
export interface Team {
  readonly manager: Agent<unknown, z.infer<typeof ManagerOutputSchema>>;
  readonly researcher: AgentDefinition<unknown, unknown>;
  readonly analyst: AgentDefinition<unknown, unknown>;
  readonly writer: Agent<unknown, unknown>;
}

const port = z.object({ port: z.enum(PORTS).describe("the port") });

/**
 * Builds the team.
 *
 * @param options - model, telemetry, the crash drill and the tools' latency.
 * @returns the manager, the writer, and the definitions of the researcher and the analyst.
 */
export function makeTeam(options: TeamOptions): Team {
  const { provider, model, telemetry, catalog, drill, toolLatencyMs } = options;
  const lookup = (name: string, description: string, table: Record<string, string>) =>
    defineTool({
      name,
      description: `${description} Reads the club's bundled sample data.`,
      input: port,
      run: async ({ port }, { signal }) => {
        await sleep(toolLatencyMs, undefined, { signal });
        return `${port}: ${table[port]}`;
      },
    });
  const currentAtlas = defineTool({
    name: "current_atlas",
    description: "Tidal streams near a port on Saturday. Reads the club's bundled sample data.",
    input: port,
    run: async ({ port }, { signal }) => {
      if (drill.armed) {
        drill.armed = false;
        setImmediate(drill.crash);
        // the crash cuts this call off: it never answers
        return new Promise<string>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      }
      await sleep(toolLatencyMs, undefined, { signal });
      return `${port}: ${SAMPLE_DATA.currents[port]}`;
    },
  });
  const common = { provider, model, telemetry, costOf: catalog.costOf.bind(catalog), maxTokens: 1024 };
  return {
    manager: defineAgent({
      ...common,
      name: "manager",
      instructions:
        "You are the planning manager of a sailing club's passage-planning team. You split questions into tasks for your workers and combine their answers into one recommendation.",
      outputSchema: ManagerOutputSchema,
    }),
    researcher: {
      ...common,
      name: "researcher",
      instructions:
        "You are the researcher of a sailing club. Gather facts with your tools (call every lookup you need at once) and answer in short bullet points, quoting the figures.",
      tools: [
        lookup("tide_table", "Saturday's high and low water at a port.", SAMPLE_DATA.tides),
        lookup("marine_forecast", "Saturday morning's marine forecast for a port.", SAMPLE_DATA.forecast),
        currentAtlas,
      ],
    },
    analyst: {
      ...common,
      name: "analyst",
      instructions:
        "You are the analyst of a sailing club. Work figures out with the calculator (never in your head) and answer in one or two sentences.",
      tools: [calculator],
    },
    writer: defineAgent({
      ...common,
      name: "writer",
      instructions:
        "You are the writer of a sailing club. Turn the team's findings into a short brief for the skippers: a title, the recommendation, then three to five bullet points.",
    }),
  };
}
