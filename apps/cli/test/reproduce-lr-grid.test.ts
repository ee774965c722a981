/**
 * `ngem reproduce --lr-grid` / `--ablations` (issue 19), run as a user runs them:
 * the built CLI as a subprocess, --quick. Checks that each objective's reported
 * best lr is the argmin of the reported metric over its grid, re-derived here
 * from the per-run records (not from the command's own summary).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../dist/index.js");
const work = mkdtempSync(join(tmpdir(), "ngem-lrgrid-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function ngem(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Run {
  arm?: string;
  optimizer: string;
  objective: string;
  lr: number;
  seed: number;
  final: number;
  stepsToThreshold: number | null;
}
interface Row {
  arm?: string;
  optimizer: string;
  objective: string;
  lr: number;
  finalMean: number;
  reached: number;
  medianStepsCensored: number;
  gradNormEarly?: number;
}
interface Out {
  steps: number;
  rows: Row[];
  best: (Row & { grid: number[]; speedupVsNllBest?: number })[];
  runs: Run[];
}

const med = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const fin = (v: number) => (Number.isFinite(v) ? v : Infinity);

/** The documented rule, re-derived from the per-run records: min censored median steps, then min mean final NLL, then min lr. */
function expectBestIsArgmin(out: Out): void {
  expect(out.best.length).toBeGreaterThan(0);
  for (const b of out.best) {
    const runs = out.runs.filter((r) => (r.arm ?? "") === (b.arm ?? "") && r.optimizer === b.optimizer && r.objective === b.objective);
    const lrs = [...new Set(runs.map((r) => r.lr))].sort((x, y) => x - y);
    expect(lrs).toEqual(b.grid);
    expect(lrs.length).toBeGreaterThanOrEqual(4);
    const score = lrs.map((lr) => {
      const rs = runs.filter((r) => r.lr === lr);
      return { lr, censored: med(rs.map((r) => r.stepsToThreshold ?? out.steps)), final: rs.reduce((s, r) => s + r.final, 0) / rs.length };
    });
    score.sort((x, y) => x.censored - y.censored || fin(x.final) - fin(y.final) || x.lr - y.lr);
    expect(b.lr, `${b.arm ?? ""} ${b.optimizer} ${b.objective}`).toBe(score[0]!.lr);
    expect(b.medianStepsCensored).toBe(score[0]!.censored);
    // and the reported per-lr row agrees with the runs
    const row = out.rows.find((r) => (r.arm ?? "") === (b.arm ?? "") && r.optimizer === b.optimizer && r.objective === b.objective && r.lr === b.lr)!;
    expect(row.medianStepsCensored).toBe(score[0]!.censored);
  }
}

describe("ngem reproduce --lr-grid / --ablations (--quick)", () => {
  it("two-gaussians --lr-grid: every optimizer x objective at its own best lr, the argmin of the reported metric", () => {
    const out = join(work, "grid");
    const r = ngem(["reproduce", "two-gaussians", "--quick", "--lr-grid", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as { kind: string; best: Out["best"] };
    expect(printed.kind).toBe("lr-grid");
    const res = JSON.parse(readFileSync(join(out, "two-gaussians", "lr-grid.json"), "utf8")) as Out;
    expect(printed.best).toEqual(res.best);
    const pairs = res.best.map((b) => `${b.optimizer}/${b.objective}`).sort();
    expect(pairs).toEqual(["adam/ngem", "adam/ngem-full", "adam/nll", "sgd/ngem", "sgd/ngem-full", "sgd/nll"]);
    expectBestIsArgmin(res);
    for (const b of res.best) if (b.objective === "nll") expect(b.speedupVsNllBest).toBe(1);
    const md = readFileSync(join(out, "two-gaussians", "lr-grid.md"), "utf8");
    for (const b of res.best) expect(md).toContain(`| ${b.optimizer} | ${b.objective} | ${b.lr} |`);
  }, 60_000);

  it("two-sinusoids --ablations: fisherCoords, batch and noise arms, nGEM and NLL each at the argmin lr, with grad norms", () => {
    const out = join(work, "abl");
    const r = ngem(["reproduce", "two-sinusoids", "--quick", "--ablations", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, "two-sinusoids", "ablations.json"), "utf8")) as Out & { arms: { name: string; threshold: number }[] };
    const armNames = ["baseline", "fisherCoords sigma", "batch 128", "noise 0.2"];
    const dampingArms = [
      "damping 10",
      "damping 100",
      "damping 1000",
      "ngem-full damping 100",
      "precondition mu only",
      "precondition scale only",
      "head-only (trunk frozen)",
    ];
    expect(res.arms.map((a) => a.name)).toEqual([...armNames, ...armNames.map((a) => `${a}, separate trunks`), ...dampingArms]);
    // the noise arm's threshold is shifted up (a noisier task has a higher optimal NLL)
    expect(res.arms[3]!.threshold).toBeGreaterThan(res.arms[0]!.threshold);
    const bests = ["baseline/ngem", "baseline/nll", "batch 128/ngem", "batch 128/nll", "fisherCoords sigma/ngem", "noise 0.2/ngem", "noise 0.2/nll"];
    const dampingBests = [
      "damping 10/ngem",
      "damping 100/ngem",
      "damping 1000/ngem",
      "ngem-full damping 100/ngem-full",
      "precondition mu only/ngem",
      "precondition scale only/ngem",
      "head-only (trunk frozen)/ngem",
      "head-only (trunk frozen)/nll",
    ];
    expect(res.best.map((b) => `${b.arm}/${b.objective}`).sort()).toEqual(
      [...bests, ...bests.map((b) => b.replace("/", ", separate trunks/")), ...dampingBests].sort(),
    );
    // damping / precondition arms are compared with the baseline's NLL
    for (const b of res.best.filter((x) => x.arm?.startsWith("damping") || x.arm?.startsWith("precondition"))) expect(b.speedupVsNllBest).toBeDefined();
    expectBestIsArgmin(res);
    for (const b of res.best) expect(Number.isFinite(b.gradNormEarly)).toBe(true);
    // per-block head-output gradient norms (logits / mu / log-sigma) on the probe rows
    for (const b of res.best)
      for (const v of Object.values((b as { blockNormsLate?: Record<string, number> }).blockNormsLate ?? {})) expect(v).toBeGreaterThan(0);
    expect(res.best.every((b) => (b as { blockNormsLate?: unknown }).blockNormsLate !== undefined)).toBe(true);
    const md = readFileSync(join(out, "two-sinusoids", "ablations.md"), "utf8");
    expect(md).toMatch(/\| fisherCoords sigma \| adam \| ngem \| [0-9.e-]+ \|/);
    expect(md).toMatch(/\| fisherCoords sigma, separate trunks \| adam \| ngem \| [0-9.e-]+ \|/);
    // --arms: only the head-only arm, in its own files; the full record stays
    const only = ngem(["reproduce", "two-sinusoids", "--quick", "--ablations", "--arms", "head-only", "--out", out, "--no-png", "--json"]);
    expect(only.code, only.stderr).toBe(0);
    const ho = JSON.parse(readFileSync(join(out, "two-sinusoids", "ablations-head-only.json"), "utf8")) as Out & { arms: { name: string }[] };
    expect(ho.arms.map((a) => a.name)).toEqual(["head-only (trunk frozen)"]);
    expect(ho.best.map((b) => b.objective).sort()).toEqual(["ngem", "nll"]);
    expect(readFileSync(join(out, "two-sinusoids", "ablations.md"), "utf8")).toBe(md);
    const none = ngem(["reproduce", "two-sinusoids", "--quick", "--ablations", "--arms", "nope", "--out", out]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--arms: no ablation arm/);
  }, 60_000);

  it("two-sinusoids --lr-grid --damping 100: damped ngem / ngem-full rows in lr-grid-damping100.*, NLL rows as without damping", () => {
    const out = join(work, "grid-damped");
    const plain = ngem(["reproduce", "two-sinusoids", "--quick", "--lr-grid", "--out", out, "--no-png", "--json"]);
    expect(plain.code, plain.stderr).toBe(0);
    const r = ngem(["reproduce", "two-sinusoids", "--quick", "--lr-grid", "--damping", "100", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const a = JSON.parse(readFileSync(join(out, "two-sinusoids", "lr-grid.json"), "utf8")) as Out;
    const d = JSON.parse(readFileSync(join(out, "two-sinusoids", "lr-grid-damping100.json"), "utf8")) as Out & { damping: number };
    // SOAP is in the MDN grids (issue 19), quick runs included
    expect(a.best.map((b) => `${b.optimizer}/${b.objective}`).sort()).toEqual(
      ["adam", "sgd", "soap"].flatMap((o) => ["ngem", "ngem-full", "nll"].map((j) => `${o}/${j}`)).sort(),
    );
    expectBestIsArgmin(a);
    for (const b of a.best.filter((x) => x.optimizer === "soap")) expect(Number.isFinite(b.finalMean)).toBe(true);
    expect(d.damping).toBe(100);
    expectBestIsArgmin(d);
    const finals = (o: Out, objective: string) => o.runs.filter((x) => x.objective === objective).map((x) => x.final);
    expect(finals(d, "nll")).toEqual(finals(a, "nll"));
    expect(finals(d, "ngem")).not.toEqual(finals(a, "ngem"));
    expect(readFileSync(join(out, "two-sinusoids", "lr-grid-damping100.md"), "utf8")).toMatch(/damping lambda = 100/);
    const bad = ngem(["reproduce", "two-sinusoids", "--quick", "--lr-grid", "--damping", "-1", "--out", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--damping/);
  }, 60_000);

  it("inverse-mnist-std (standardised pixels): NLL and nGEM over seeds, finite or stopped at a non-finite step", () => {
    const out = join(work, "mnist-std");
    const r = ngem(["reproduce", "inverse-mnist-std", "--quick", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, "inverse-mnist-std", "results.json"), "utf8")) as {
      notes: string[];
      runs: { objective: string; final: number; stopReason: string }[];
    };
    expect(res.notes.join(" ")).toMatch(/standardi[sz]e/);
    expect([...new Set(res.runs.map((x) => x.objective))].sort()).toEqual(["ngem", "nll"]);
    for (const x of res.runs) expect(Number.isFinite(x.final) || x.stopReason !== "completed").toBe(true);
  }, 60_000);

  it("--ablations on an experiment without ablations is a usage error", () => {
    const r = ngem(["reproduce", "two-gaussians", "--ablations", "--out", join(work, "x")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ablations: available for two-sinusoids, inverse-sine/);
  });
});
