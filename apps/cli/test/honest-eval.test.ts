import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "@ngem/trainer";
import { describe, expect, it } from "vitest";
import { runTestData, trainingOverlap } from "../src/test-split.js";
import { loadData } from "../src/data-source.js";
import { FIX, runCli, workDir } from "./helpers.js";

const TINY = join(FIX, "tiny.csv");
const work = workDir("ngem-honest-");

const ngem = (args: string[]) => runCli(args, { cwd: work });

const SMALL = ["--x-cols", "x", "--y-cols", "y", "--k", "2", "--hidden", "16", "--no-plots"];

describe("--test-split: rows that training never sees", () => {
  it("holds out seeded test rows, records them, and the training rows exclude them", async () => {
    const r = ngem(["train", TINY, ...SMALL, "--test-split", "0.25", "--steps", "30", "--out", "split"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/holding out 15 test rows \(--test-split 0.25\); training on 45 rows/);
    const run = JSON.parse(readFileSync(join(work, "split", "run.json"), "utf8"));
    expect(run.data.test).toEqual({ split: 0.25, seed: 0 });
    const t = await runTestData(join(work, "split"));
    expect(t?.data.n).toBe(15);
    expect(t?.description).toMatch(/15 held out by --test-split 0.25 \(seed 0\)/);
    // None of the test rows is a training row; every training row is.
    expect(trainingOverlap(join(work, "split"), t!.data)).toBe(0);
    const all = await loadData(TINY, { xCols: "x", yCols: "y" });
    expect(trainingOverlap(join(work, "split"), all.data)).toBe(45);
    // The model's standardisation comes from the 45 training rows only.
    const m = await load(join(work, "split", "checkpoint.safetensors"));
    const full = all.data.normalization!.y!;
    expect(m.normalization!.y!.mean[0]).not.toBeCloseTo(full.mean[0] as number, 10);
    m.dispose();
    // The split is reproducible: resume reloads exactly the same training rows.
    const again = ngem(["train", "--resume", "split", "--steps", "35"]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("a separate --test file is recorded; --test-split and --test are exclusive", async () => {
    const r = ngem(["train", TINY, ...SMALL, "--test", TINY, "--steps", "10", "--out", "testfile"]);
    expect(r.code, r.stderr).toBe(0);
    const t = await runTestData(join(work, "testfile"));
    expect(t?.data.n).toBe(60);
    expect(t?.description).toContain("tiny.csv");
    const both = ngem(["train", TINY, ...SMALL, "--test", TINY, "--test-split", "0.2", "--out", "both"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exclusive/);
    const tooBig = ngem(["train", TINY, ...SMALL, "--test-split", "0.95", "--out", "big"]);
    expect(tooBig.code).toBe(2);
  });
});

describe("model selection flags", () => {
  it("--early-stopping stops, --keep best keeps the best validation weights, schedule/decay/clip reach the config", async () => {
    const r = ngem([
      "train",
      TINY,
      "--x-cols",
      "x",
      "--y-cols",
      "y",
      "--k",
      "3",
      "--hidden",
      "64,64",
      "--no-plots",
      "--optimizer",
      "adam",
      "--lr",
      "0.03",
      "--steps",
      "400",
      "--val-split",
      "0.3",
      "--early-stopping",
      "5",
      "--keep",
      "best",
      "--lr-schedule",
      "cosine",
      "--warmup",
      "3",
      "--weight-decay",
      "0.001",
      "--clip-norm",
      "5",
      "--out",
      "es",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = await load(join(work, "es", "checkpoint.safetensors"));
    expect(m.config.schedule).toEqual({ type: "cosine", warmupSteps: 3, minLrFactor: 0 });
    expect(m.config.optimizer).toMatchObject({ type: "adam", lr: 0.03, weightDecay: 0.001, clipNorm: 5 });
    expect(m.config.earlyStopping).toMatchObject({ patience: 5 });
    expect(m.config.keep).toBe("best");
    expect(m.state.step).toBeLessThan(400); // stopped early
    const lines = readFileSync(join(work, "es", "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const vals = lines.filter((l) => typeof l.valNll === "number").map((l) => l.valNll as number);
    const best = Math.min(...vals);
    expect(vals.at(-1)).toBeGreaterThan(best); // validation NLL rose after its best
    const summary = JSON.parse(readFileSync(join(work, "es", "summary.json"), "utf8"));
    expect(summary.valNll).toBeCloseTo(best, 8); // ...and the kept model is the best one
    m.dispose();
  });

  it("--keep best without a validation set, and bad values, are exit 2", () => {
    for (const args of [
      ["--keep", "best", "--val-split", "0"],
      ["--keep", "first"],
      ["--lr-schedule", "step"],
      ["--min-delta", "0.1"],
    ]) {
      const r = ngem(["train", TINY, ...SMALL, "--steps", "5", ...args, "--out", "bad"]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(existsSync(join(work, "bad"))).toBe(false);
    }
  });
});

describe("--missing", () => {
  it("error (default) names the line and column; skip-row trains and says how many rows it skipped", () => {
    const bad = ngem(["train", join(FIX, "with-na.csv"), "--steps", "5", "--out", "na"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/with-na\.csv:5/);
    const ok = ngem(["train", join(FIX, "with-na.csv"), "--missing", "skip-row", "--k", "2", "--hidden", "8", "--steps", "5", "--no-plots", "--out", "na"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/skipped 3 row\(s\) with missing values/);
    expect(JSON.parse(readFileSync(join(work, "na", "run.json"), "utf8")).data.missing).toBe("skip-row");
    expect(JSON.parse(readFileSync(join(work, "na", "summary.json"), "utf8")).skippedRows).toBe(3);
  });
});

describe("ngem cv", () => {
  it("--folds 3 prints mean +- std test NLL and RMSE in original units; --json has every split", () => {
    const r = ngem(["cv", TINY, ...SMALL.filter((a) => a !== "--no-plots"), "--folds", "3", "--steps", "20"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3-fold cross-validation, 3 splits/);
    expect(r.stdout).toMatch(/test NLL\s+-?\d+\.\d+ \+- \d+\.\d+/);
    const j = ngem(["cv", TINY, ...SMALL.filter((a) => a !== "--no-plots"), "--folds", "3", "--steps", "20", "--json"]);
    const res = JSON.parse(j.stdout);
    expect(res.splits.map((s: { nTest: number }) => s.nTest)).toEqual([20, 20, 20]);
    for (const s of res.splits) expect(Number.isFinite(s.nll) && Number.isFinite(s.rmse)).toBe(true);
    const mean = res.splits.reduce((a: number, s: { nll: number }) => a + s.nll, 0) / 3;
    expect(res.nll.mean).toBeCloseTo(mean, 12);
    expect(readdirSync(work).filter((f) => f.startsWith("runs"))).toEqual([]);
  });
});

describe("ngem config", () => {
  it("--schema is JSON Schema of the config file; --print shows the resolved config and writes nothing", () => {
    const s = ngem(["config", "--schema"]);
    expect(s.code).toBe(0);
    const schema = JSON.parse(s.stdout);
    expect(schema.type).toBe("object");
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["model", "optimizer", "earlyStopping", "keep", "checkpointEvery", "logEvery"]));
    const p = ngem(["config", "--print", TINY, "--k", "3", "--lr-schedule", "cosine", "--out", "printed"]);
    expect(p.code, p.stderr).toBe(0);
    const cfg = JSON.parse(p.stdout);
    expect(cfg.config.model.k).toBe(3);
    expect(cfg.config.schedule.type).toBe("cosine");
    expect(cfg.config.epochs).toBe(20);
    expect(existsSync(join(work, "printed"))).toBe(false);
  });
});

describe("--ensemble", () => {
  it("trains M members saved as one M x K mixture that predict, eval and sample use; resume is exit 2", async () => {
    const r = ngem(["train", TINY, ...SMALL, "--steps", "20", "--ensemble", "3", "--out", "ens"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ensemble member 3\/3 \(seed 2\)/);
    const m = await load(join(work, "ens", "checkpoint.safetensors"));
    expect(m.config.ensemble).toBe(3);
    expect(m.spec.k).toBe(6);
    m.dispose();
    const p = ngem(["predict", join(work, "ens", "checkpoint.safetensors"), TINY, "--x-cols", "x", "--y-cols", "y", "--format", "json"]);
    expect(p.code, p.stderr).toBe(0);
    const rows = JSON.parse(p.stdout) as { pi: number[] }[];
    expect(rows[0]!.pi).toHaveLength(6);
    expect(rows[0]!.pi.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const s = ngem(["sample", join(work, "ens", "checkpoint.safetensors"), "--x", "0.5", "-n", "5", "--json"]);
    expect(s.code, s.stderr).toBe(0);
    const ev = ngem(["eval", join(work, "ens", "checkpoint.safetensors"), TINY, "--x-cols", "x", "--y-cols", "y", "--json"]);
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.ensemble.count).toBe(3);
    expect(e.ensemble.nll).toHaveLength(3);
    expect(e.nll).toBeLessThanOrEqual(e.ensemble.meanNll + 1e-12);
    const onnx = ngem(["export", join(work, "ens", "checkpoint.safetensors"), "--format", "onnx", "-o", join(work, "ens.onnx")]);
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(existsSync(join(work, "ens.onnx"))).toBe(true);
    const again = ngem(["train", "--resume", "ens", "--steps", "30"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/ensemble .*cannot be resumed/);
  });
});
