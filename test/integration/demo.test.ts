// The README's demo command runs in CI and exits 0: offline by default (the scripted model on the loopback
// server), and with an API key set it talks to the API at the configured base URL — here a loopback
// server playing the same team, so the real-model path is exercised over the wire too.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LoopbackLLMServer } from "@normandy/testing";
import { afterEach, expect, it } from "vitest";
import { scriptedTeamModel } from "../../examples/demo/scriptedModel.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const NO_KEYS = {
  ANTHROPIC_API_KEY: "",
  OPENAI_API_KEY: "",
  OPENAI_BASE_URL: "",
  NORMANDY_MODEL: "",
  CI: "1",
};

function demo(env: Record<string, string>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--conditions=@normandy/source", "--import", "tsx", "examples/demo/main.ts"],
      { cwd: root, timeout: 90_000, env: { ...process.env, ...NO_KEYS, ...env } },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
}

let server: LoopbackLLMServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** The parts of the story every run tells, whichever endpoint the model is behind. */
function expectTheStory(output: string): void {
  // the manager's structured plan, delegated to both workers
  expect(output).toMatch(/manager {4}planned: researcher ← /);
  expect(output).toMatch(/manager {4}planned: analyst ← /);
  // the researcher's four lookups ran at once
  expect(output).toMatch(/researcher ⚙ \w+ started \([45] running\)/);
  // the crash, the supervisor's restart, and the restored memory the follow-up relies on
  expect(output).toMatch(/💥 crash {3}agent:researcher: crash: Error: injected/);
  expect(output).toMatch(/↻ restart {2}supervisor agents restarted researcher as p:\d+/);
  expect(output).toMatch(/restored from its snapshot 1 time\(s\)/);
  expect(output).toMatch(/Earlier forecasts: Brest: wind W 6 Bft/);
  // the workflow went through its states, the brief was streamed, and the summary adds up
  const states = [...output.matchAll(/crossing-brief → "(\w+)"/g)].map((m) => m[1]);
  expect(states).toEqual(["delegate", "followUp", "write", "done"]);
  expect(output).toMatch(/# Saturday crossing brief\n\n\*\*Leave from Cherbourg/);
  const rows = [
    ...output.matchAll(
      /^ {2}(manager|researcher|analyst|writer|total) +(\d+) +(\d+) +(\d+) +\d+ +\$([\d.]+)$/gm,
    ),
  ];
  expect(rows.map((r) => r[1])).toEqual(["manager", "researcher", "analyst", "writer", "total"]);
  const sum = (column: number) => rows.slice(0, 4).reduce((n, r) => n + Number(r[column]), 0);
  const total = rows[4] as RegExpMatchArray;
  expect([sum(2), sum(3), sum(4)]).toEqual([Number(total[2]), Number(total[3]), Number(total[4])]);
  expect(Number(total[5])).toBeGreaterThan(0);
  expect(output).toMatch(/1 supervisor restart\(s\) · researcher: 2 runs, 1 restore\(s\)/);
  expect(output).toMatch(/shut down: 0 processes left/);
}

it("runs offline by default against the scripted model, and says so", async () => {
  const output = await demo({});
  expect(output).toMatch(/model: a scripted model on the loopback LLM server at http:\/\/127\.0\.0\.1:\d+/);
  expect(output).toMatch(/retry {6}anthropic: rate_limit on attempt 1, retrying in 300 ms/);
  expectTheStory(output);
}, 90_000);

it("talks to the API given by ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL, and names the model", async () => {
  server = await new LoopbackLLMServer({ fallback: scriptedTeamModel }).start();
  const output = await demo({
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: server.anthropicBaseURL,
    NORMANDY_MODEL: "claude-sonnet-4-5",
  });
  expect(output).toMatch(
    `model: claude-sonnet-4-5 through the Anthropic API at ${server.anthropicBaseURL} (ANTHROPIC_API_KEY is set)`,
  );
  expectTheStory(output);
  const models = new Set(server.requests.map((r) => (r.body as { model?: string }).model));
  expect([...models]).toEqual(["claude-sonnet-4-5"]);
  // the key the environment gave (this SDK version sends it as a bearer token)
  const keys = new Set(server.requests.map((r) => r.headers["x-api-key"] ?? r.headers.authorization));
  expect([...keys]).toEqual([expect.stringMatching(/^(Bearer )?sk-ant-test$/)]);
}, 90_000);
