import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { runCli, workDir } from "./helpers.js";

const work = workDir("ngem-stream-");

const ngem = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: work, env });

const data = join(work, "rows.csv");
const rng = new Rng(9);
const lines = ["x,y"];
for (let i = 0; i < 500; i++) {
  const y = rng.uniform();
  lines.push(`${(y + 0.3 * Math.sin(2 * Math.PI * y) + 0.1 * (2 * rng.uniform() - 1)).toFixed(6)},${y.toFixed(6)}`);
}
writeFileSync(data, `${lines.join("\n")}\n`);
const ARGS = [
  "train",
  data,
  "--stream",
  "--k",
  "2",
  "--hidden",
  "8",
  "--batch-size",
  "16",
  "--epochs",
  "3",
  "--checkpoint-every",
  "10",
  "--log-every",
  "1",
  "--no-plots",
];

describe("ngem train --stream", () => {
  it("kill -9 inside a checkpoint write, then --resume: the same final checkpoint and metrics as an uninterrupted run", () => {
    const ref = ngem([...ARGS, "--out", "ref"]);
    expect(ref.code, ref.stderr).toBe(0);
    const killed = ngem([...ARGS, "--out", "cut"], { NGEM_FAULT_KILL_WRITE: "checkpoint.safetensors:4" });
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(work, "cut", "checkpoint.safetensors"))).toBe(true);
    const r = ngem(["train", "--resume", "cut", "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(work, "cut", "checkpoint.safetensors")).equals(readFileSync(join(work, "ref", "checkpoint.safetensors")))).toBe(true);
    const steps = (dir: string) =>
      readFileSync(join(work, dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).step as number);
    expect(steps("cut")).toEqual(steps("ref"));
  });

  it("flags a streamed run cannot honour are exit 2, before anything is written", () => {
    for (const extra of [
      ["--test-split", "0.2"],
      ["--ensemble", "2"],
    ]) {
      const r = ngem([...ARGS, ...extra, "--out", "nope"]);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(existsSync(join(work, "nope"))).toBe(false);
    }
  });
});
