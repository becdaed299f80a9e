// `pnpm bench [group]`: runs every benchmark group, or the one named, prints a table and writes
// bench/results/latest.json. Benchmarks are not tests and do not run in CI. They measure the built
// packages (`pnpm bench` builds them first): the code users run, not the sources as a TypeScript loader
// transforms them (tsx wraps every function to keep its name, a cost of its own).

import { agents } from "./agents.js";
import { coordination } from "./coordination.js";
import { type Group, type Metric, report } from "./harness.js";
import { providers } from "./providers.js";
import { runtime } from "./runtime.js";

const groups: Record<string, Group> = { runtime, providers, agents, coordination };

const wanted = process.argv[2];
if (wanted !== undefined && !(wanted in groups)) {
  console.error(`unknown group ${JSON.stringify(wanted)}; groups: ${Object.keys(groups).join(", ")}`);
  process.exit(2);
}
const metrics: Metric[] = [];
for (const [name, group] of Object.entries(groups)) {
  if (wanted !== undefined && name !== wanted) continue;
  console.error(`running ${name}…`);
  metrics.push(...(await group()));
}
console.log(report(metrics));
