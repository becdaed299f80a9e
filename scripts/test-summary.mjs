// Prints the plain "N passed, N failed" line CI reads, from vitest's JSON report and the number of
// checks (lint, typecheck) that failed before the tests: a red check is never a "0 failed" line.
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2] ?? ".vitest.json";
const checksFailed = Number(process.argv[3] ?? 0);
if (!existsSync(file)) {
  console.log(`0 passed, ${1 + checksFailed} failed`);
  console.error(`no test report at ${file}: the test run did not complete`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, "utf8"));
const failed = report.numFailedTests + (report.numFailedTestSuites ?? 0) + checksFailed;
if (checksFailed > 0) console.error(`${checksFailed} check(s) before the tests failed (lint, typecheck)`);
console.log(`${report.numPassedTests} passed, ${failed} failed`);
process.exit(failed > 0 || report.success === false ? 1 : 0);
