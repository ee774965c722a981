/**
 * `--threads` through the built CLI: results never depend on the thread count
 * (outputs are partitioned, reductions are not), so the checkpoint of a run
 * with 2 threads is byte-identical to one with 1; a bad count is exit 2.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../dist/index.js");
const work = mkdtempSync(join(tmpdir(), "ngem-threads-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function ngem(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Large enough that kernel calls pass the threads' size threshold.
const RUN = ["train", "inverse-sine", "--n", "512", "--hidden", "256,256", "--batch-size", "256", "--steps", "6", "--backend", "wasm", "--no-plots"];

describe("ngem train --threads", () => {
  it("1 and 2 threads give byte-identical checkpoints; --resume accepts --threads", () => {
    const one = ngem([...RUN, "--threads", "1", "--out", "t1"]);
    expect(one.code, one.stderr).toBe(0);
    const two = ngem([...RUN, "--threads", "2", "--out", "t2"]);
    expect(two.code, two.stderr).toBe(0);
    expect(readFileSync(join(work, "t2", "checkpoint.safetensors")).equals(readFileSync(join(work, "t1", "checkpoint.safetensors")))).toBe(true);
    const more = ngem(["train", "--resume", "t2", "--steps", "8", "--threads", "1", "--no-plots"]);
    expect(more.code, more.stderr).toBe(0);
  });

  it("--threads 0 is a usage error before anything is written", () => {
    const r = ngem([...RUN, "--threads", "0", "--out", "t0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--threads");
    expect(existsSync(join(work, "t0"))).toBe(false);
  });
});
