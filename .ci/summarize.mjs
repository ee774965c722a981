// Sums the vitest JSON reports written by each package into one line:
// `N passed, N failed`. A package that has a test script but wrote no report
// (it crashed before vitest could report) counts as one failure. Skipped
// tests are printed separately and never counted as passes.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const seen = new Set();
for (const file of existsSync(dir) ? readdirSync(dir) : []) {
  if (!file.endsWith(".json")) continue;
  const r = JSON.parse(readFileSync(join(dir, file), "utf8"));
  seen.add(basename(file, ".json"));
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A test file that failed to load has no tests in it but is a failure.
  for (const suite of r.testResults ?? []) {
    if (suite.status === "failed" && (suite.assertionResults ?? []).every((a) => a.status !== "failed")) {
      failed += 1;
      console.error(`suite failed outside any test: ${suite.name}: ${(suite.message ?? "").split("\n")[0]}`);
    }
  }
}
for (const root of ["packages", "apps", "tests"]) {
  for (const name of existsSync(root) ? readdirSync(root) : []) {
    const pj = join(root, name, "package.json");
    if (!existsSync(pj)) continue;
    const pkg = JSON.parse(readFileSync(pj, "utf8"));
    if (pkg.scripts?.test && !seen.has(basename(pkg.name))) {
      console.error(`no test report from ${pkg.name}: its test run did not complete`);
      failed += 1;
    }
  }
}
if (skipped > 0) console.log(`${skipped} skipped (each prints its reason in the log above)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
