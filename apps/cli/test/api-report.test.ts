/**
 * The committed API reports (api/*.md) match the built packages: an export
 * added to or dropped from a package's entry point fails here until
 * `node scripts/api-report.mjs` is run and api/ committed. It lives in the
 * CLI's tests because the CLI depends on every package, so `pnpm test`
 * (turbo) has built them all before this runs.
 */
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("API report", () => {
  it("api/*.md is current (node scripts/api-report.mjs --check)", () => {
    const r = spawnSync(process.execPath, [join(root, "scripts", "api-report.mjs"), "--check"], { cwd: root, encoding: "utf8", timeout: 120_000 });
    const output = `${r.stdout}${r.stderr}`.trim();
    expect(r.status, output).toBe(0);
    expect(output).toMatch(/api\/ is current/);
  });
});
