import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { runCli } from "@normandy/testing";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";

type Server = NonNullable<Awaited<ReturnType<typeof runCli>>>;
let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function run(argv: string[], files: Record<string, string> = {}) {
  const lines: string[] = [];
  const server = await runCli(argv, {
    print: (line) => lines.push(line),
    readText: async (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: ${path}`);
      return text;
    },
  });
  if (server) servers.push(server);
  return { server, lines };
}

describe("the command line", () => {
  it("starts a server from a JSON script file and prints the base URLs", async () => {
    const script = JSON.stringify([{ text: "from the file" }, { fault: { kind: "rate_limit" } }]);
    const { server, lines } = await run(["--script", "turns.json", "--chunk-size", "4"], {
      "turns.json": script,
    });
    if (!server) throw new Error("no server");
    expect(lines).toEqual([
      `loopback LLM server listening on ${server.url} (2 scripted turns)`,
      `  OpenAI    baseURL: ${server.openaiBaseURL}`,
      `  Anthropic baseURL: ${server.anthropicBaseURL}`,
    ]);
    const client = new OpenAI({ apiKey: "test", baseURL: server.openaiBaseURL, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: "m", messages: [] });
    expect(completion.choices[0]?.message.content).toBe("from the file");
    await expect(client.chat.completions.create({ model: "m", messages: [] })).rejects.toBeInstanceOf(
      OpenAI.RateLimitError,
    );
  });

  it("takes a port and latency settings", async () => {
    const { server: probe } = await run([]);
    if (!probe) throw new Error("no server");
    const port = probe.port;
    await probe.stop();
    const { server } = await run(["--port", String(port), "--first-byte-ms", "1", "--chunk-delay-ms", "0"]);
    expect(server?.port).toBe(port);
    expect(server?.remainingTurns).toBe(0);
  });

  it("prints the usage for --help and starts nothing", async () => {
    const { server, lines } = await run(["--help"]);
    expect(server).toBeUndefined();
    expect(lines[0]).toMatch(/^Usage: loopback-llm/);
  });

  it("rejects bad arguments and malformed scripts", async () => {
    await expect(run(["--port", "eighty"])).rejects.toThrow('--port must be an integer ≥ 0, got "eighty"');
    await expect(run(["--chunk-size=-1"])).rejects.toThrow("--chunk-size must be an integer ≥ 0");
    await expect(run(["--verbose"])).rejects.toThrow(/Unknown option/);
    await expect(run(["--script", "missing.json"])).rejects.toThrow("ENOENT: missing.json");
    await expect(run(["--script", "bad.json"], { "bad.json": '[{"txt": 1}]' })).rejects.toThrow(
      'turn 0: unknown key "txt"',
    );
  });

  it("reads the script from disk by default", async () => {
    const lines: string[] = [];
    await expect(
      runCli(["--script", "/nonexistent/loopback-script.json"], { print: (l) => lines.push(l) }),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe("the executable (src/cli.ts)", () => {
  it("runs under tsx, prints the base URLs, serves, and exits cleanly on SIGINT", async () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--conditions=@normandy/source", "--import", "tsx", cli, "--port", "0"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let output = "";
      child.stdout.setEncoding("utf8");
      while (!output.includes("Anthropic baseURL")) {
        const [chunk] = (await once(child.stdout, "data")) as [string];
        output += chunk;
      }
      const baseURL = /OpenAI {4}baseURL: (\S+)/.exec(output)?.[1] ?? "";
      const client = new OpenAI({ apiKey: "test", baseURL, maxRetries: 0 });
      const error = await client.chat.completions
        .create({ model: "m", messages: [] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.InternalServerError);
      const exited = once(child, "exit");
      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("exits with status 1 and a message for a bad argument", async () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--conditions=@normandy/source", "--import", "tsx", cli, "--port", "x"],
      {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
    });
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toContain('--port must be an integer ≥ 0, got "x"');
  });
});
