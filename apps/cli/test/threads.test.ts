import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, workDir } from "./helpers.js";

const work = workDir("ngem-threads-");

const ngem = (args: string[]) => runCli(args, { cwd: work });

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
