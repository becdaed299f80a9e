// The supervision-tree example runs and tells the whole story: restarts, a restored durable child,
// escalation, and a shutdown in reverse start order that leaves no process behind.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

it("runs the supervision-tree demo to completion", async () => {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--conditions=@normandy/source", "--import", "tsx", "examples/supervision-tree.ts"],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  expect(output).toMatch(/ledger after restart: 3 entries/);
  expect(output).toMatch(/payments restarted gateway-us/);
  expect(output).toMatch(/payments exceeded 1 restart\(s\) in 5 s/);
  expect(output).toMatch(/app restarted payments/);
  const shutdown = output.slice(output.indexOf("4. shutdown"));
  const order = [...shutdown.matchAll(/stop {6}(\S+): shutdown/g)].map((m) => m[1]);
  expect(order).toEqual(["heartbeat", "gateway-us", "gateway-eu", "payments", "ledger", "app"]);
  expect(output).toMatch(/0 processes left/);
}, 60_000);
