/**
 * The model the demo talks to offline: the loopback LLM server's fallback, answering each Anthropic
 * Messages request from what the request holds — which agent asks (its system prompt), its conversation,
 * and the tool results in it. Its answers are built from the request, so what the demo prints is what
 * really went over the wire: the researcher's follow-up after the crash can only cite its earlier findings
 * if the restarted process restored its memory and sent it.
 */
import type { RecordedRequest, ReplyTurn, StaticTurn } from "@normandy/testing";
import { CROSSING, PORTS } from "./scenario.js";

interface Block {
  readonly type: string;
  readonly text?: string;
  readonly id?: string;
  readonly name?: string;
  readonly tool_use_id?: string;
  readonly content?: string | readonly Block[];
  readonly is_error?: boolean;
}

interface Message {
  readonly role: "user" | "assistant";
  readonly content: string | readonly Block[];
}

interface ToolResult {
  readonly name: string;
  readonly text: string;
  readonly isError: boolean;
}

const blocks = (m: Message): readonly Block[] =>
  typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
const textOf = (content: string | readonly Block[] | undefined): string =>
  typeof content === "string"
    ? content
    : (content ?? []).map((b) => (b.type === "text" ? (b.text ?? "") : textOf(b.content))).join("\n");

/** The tool results of some messages, named after the calls they answer. */
function toolResults(messages: readonly Message[], all: readonly Message[]): ToolResult[] {
  const names = new Map<string, string>();
  for (const m of all)
    for (const b of blocks(m)) if (b.type === "tool_use") names.set(b.id ?? "", b.name ?? "");
  return messages.flatMap((m) =>
    blocks(m)
      .filter((b) => b.type === "tool_result")
      .map((b) => ({
        name: names.get(b.tool_use_id ?? "") ?? "?",
        text: textOf(b.content),
        isError: b.is_error === true,
      })),
  );
}

/** Replies for one request, with a little latency so the progress display has something to show. */
const reply = (turn: ReplyTurn, firstByteMs = 250): StaticTurn => ({ ...turn, latency: { firstByteMs } });

/**
 * Answers one request as the demo's team would.
 *
 * @param request - the recorded request (Anthropic Messages).
 * @returns the turn to answer with.
 * @throws Error for a request no member of the team sends.
 */
export function scriptedTeamModel(request: RecordedRequest): StaticTurn {
  const body = request.body as { system?: string | readonly Block[]; messages: readonly Message[] };
  const system = textOf(body.system);
  const messages = body.messages;
  // the current turn: from the last user message that asks something (not one that only returns tool results)
  const start = messages.findLastIndex((m) => m.role === "user" && blocks(m).some((b) => b.type === "text"));
  const turn = messages.slice(start);
  const asked = textOf(messages[start]?.content);
  const results = toolResults(turn, messages);
  if (system.includes("planning manager")) return manager(asked);
  if (system.includes("researcher")) return researcher(asked, results, toolResults(messages, messages));
  if (system.includes("analyst")) return analyst(results);
  if (system.includes("writer")) return writer(asked);
  throw new Error(`no member of the demo team has this system prompt: ${system.slice(0, 80)}`);
}

function manager(asked: string): StaticTurn {
  if (asked.includes("Reply with a delegation plan"))
    return reply({
      json: {
        tasks: [
          {
            worker: "researcher",
            task: `Get Saturday's tides and marine forecast for ${PORTS.join(" and ")}.`,
          },
          {
            worker: "analyst",
            task: `How many hours does a ${CROSSING.miles}-nautical-mile crossing take at ${CROSSING.knots} knots?`,
          },
        ],
      },
    });
  // aggregation: the recommendation, with the crossing time the analyst worked out
  const hours = /takes ([\d.]+) hours/.exec(asked)?.[1];
  const brest = /forecast Brest: ([^\n]*)/.exec(asked)?.[1];
  return reply({
    json: {
      answer: `Leave from Cherbourg, not Brest${brest ? ` (Brest: ${brest})` : ""}; the crossing takes ${hours ?? "an unknown number of"} hours.`,
    },
  });
}

function researcher(
  asked: string,
  results: readonly ToolResult[],
  history: readonly ToolResult[],
): StaticTurn {
  if (asked.includes("current_atlas")) {
    const atlas = results.filter((r) => r.name === "current_atlas");
    if (!atlas.some((r) => !r.isError))
      // first try, or the try the crash cut off (closed with an error result): call it (again)
      return reply({ toolCalls: [{ name: "current_atlas", arguments: { port: "Cherbourg" } }] });
    const forecasts = history.filter((r) => r.name === "marine_forecast" && !r.isError).map((r) => r.text);
    const current = atlas.filter((r) => !r.isError).at(-1)?.text;
    return reply({
      text:
        forecasts.length === 0
          ? `- ${current}\n- I have no earlier findings to compare the ports with.`
          : `- ${current}\n- Earlier forecasts: ${forecasts.join("; ")}\n- Cherbourg is the better start: leave at slack water.`,
    });
  }
  if (results.length === 0)
    return reply({
      toolCalls: PORTS.flatMap((port) => [
        { name: "tide_table", arguments: { port } },
        { name: "marine_forecast", arguments: { port } },
      ]),
    });
  return reply({
    text: results.map((r) => `- ${r.name === "tide_table" ? "tides" : "forecast"} ${r.text}`).join("\n"),
  });
}

function analyst(results: readonly ToolResult[]): StaticTurn {
  const hours = results.find((r) => r.name === "calculator" && !r.isError)?.text;
  if (hours === undefined)
    return reply({
      toolCalls: [
        { name: "calculator", arguments: { operation: "divide", a: CROSSING.miles, b: CROSSING.knots } },
      ],
    });
  const h = Number(hours);
  return reply({
    text: `${CROSSING.miles} nm at ${CROSSING.knots} kn takes ${Number.isFinite(h) ? h.toFixed(1) : hours} hours, so a morning start arrives by mid-afternoon.`,
  });
}

function writer(asked: string): StaticTurn {
  const lines = asked
    .split("\n")
    .map((l) => l.replace(/^[-•]\s*/, "").trim())
    .filter((l) => l !== "" && !l.endsWith(":"));
  const [recommendation = "", ...facts] = [...new Set(lines)];
  return {
    text: `# Saturday crossing brief\n\n**${recommendation}**\n\n${facts.map((f) => `- ${f}`).join("\n")}\n`,
    latency: { firstByteMs: 200, chunkDelayMs: 12, chunkSize: 6 },
  };
}
