/**
 * The built CLI as a user runs it: a subprocess on dist/index.js.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { CLI, FIX, runCli, workDir } from "./helpers.js";

const work = workDir("ngem-cli-");

const ngem = (args: string[], cwd = work) => runCli(args, { cwd });

function seriesOf(svgPath: string): string[] {
  const svg = readFileSync(svgPath, "utf8");
  expect(XMLValidator.validate(svg), svgPath).toBe(true);
  return [...svg.matchAll(/<g class="series" data-name="([^"]*)"/g)].map((m) => m[1]!);
}

function dirHash(dir: string): string {
  const h = createHash("sha256");
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest("hex");
}

describe("ngem train / eval / predict / sample on a tiny CSV", () => {
  const out = join(work, "csv-run");
  it("trains, writing checkpoint, metrics, summary and valid SVG/PNG plots", () => {
    const r = ngem(["train", join(FIX, "tiny.csv"), "--x-cols", "x", "--y-cols", "y", "--k", "2", "--hidden", "16", "--steps", "40", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of [
      "checkpoint.safetensors",
      "metrics.jsonl",
      "summary.json",
      "run.json",
      "loss.svg",
      "loss.png",
      "density.svg",
      "calibration.svg",
      "pit.svg",
    ]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const lines = readFileSync(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(40);
    expect(lines.at(-1).step).toBe(40);
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(Number.isFinite(summary.trainNll)).toBe(true);
    expect(seriesOf(join(out, "loss.svg"))).toEqual(["train NLL (batch)", "validation NLL"]);
    expect(seriesOf(join(out, "density.svg"))).toEqual(["data"]);
    expect(seriesOf(join(out, "calibration.svg"))).toEqual(["ideal", "model"]);
    expect(readFileSync(join(out, "loss.png")).subarray(1, 4).toString()).toBe("PNG");
  });

  it("eval prints NLL, RMSE and coverage (JSON)", () => {
    const r = ngem(["eval", join(out, "checkpoint.safetensors"), join(FIX, "tiny.csv"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const ev = JSON.parse(r.stdout);
    expect(ev.n).toBe(60);
    expect(Number.isFinite(ev.nll)).toBe(true);
    expect(ev.rmse).toBeGreaterThan(0);
    expect(Object.keys(ev.coverage)).toEqual(["0.5", "0.8", "0.9", "0.95"]);
  });

  it("predict writes one CSV row per input with mean, mode and mixture parameters", () => {
    const r = ngem(["predict", join(out, "checkpoint.safetensors"), join(FIX, "tiny.csv")]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n");
    expect(rows[0]).toBe("row,mean_y,mode_y,pi_0,pi_1,mu_0_y,mu_1_y,sigma_0_y,sigma_1_y");
    expect(rows).toHaveLength(61);
    const cells = rows[1]!.split(",").map(Number);
    expect(cells.every(Number.isFinite)).toBe(true);
    expect(cells[3]! + cells[4]!).toBeCloseTo(1, 6);
    const j = ngem(["predict", join(out, "checkpoint.safetensors"), join(FIX, "tiny.csv"), "--format", "json"]);
    expect(JSON.parse(j.stdout)[0].sigma[0][0]).toBeGreaterThan(0);
  });

  it("sample draws n samples per x row, seeded", () => {
    const a = ngem(["sample", join(out, "checkpoint.safetensors"), "--x", "0.5;-1", "-n", "7", "--seed", "3"]);
    expect(a.code, a.stderr).toBe(0);
    const rows = a.stdout.trim().split("\n");
    expect(rows).toHaveLength(1 + 2 * 7);
    const b = ngem(["sample", join(out, "checkpoint.safetensors"), "--x", "0.5;-1", "-n", "7", "--seed", "3"]);
    expect(b.stdout).toBe(a.stdout);
  });
});

describe("ngem train on a built-in task", () => {
  it("two-gaussians GMM: density heatmap with true means and component-mean trajectories", () => {
    const out = join(work, "tg");
    const r = ngem(["train", "two-gaussians", "--steps", "300", "--optimizer", "sgd", "--lr", "0.05", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(done.event).toBe("done");
    expect(seriesOf(join(out, "density.svg"))).toEqual(["data", "true means", "initial means", "component 1 mean", "component 2 mean"]);
    expect(existsSync(join(out, "density.png"))).toBe(false);
    const s = ngem(["sample", join(out, "checkpoint.safetensors"), "-n", "5", "--json"]);
    expect(JSON.parse(s.stdout)[0].samples).toHaveLength(5);
  });
});

describe("bad usage: exit code 2, one line naming the problem, nothing corrupted", () => {
  const out = join(work, "guarded");
  it("a good run to guard", () => {
    expect(ngem(["train", "two-gaussians", "--steps", "20", "--out", out, "--no-plots"]).code).toBe(0);
  });
  const cases: [string, string[], RegExp][] = [
    [
      "unknown backend",
      ["train", "two-gaussians", "--backend", "cuda"],
      /--backend: expected one of js, wasm, tfjs-cpu, tfjs-wasm, tfjs-gpu, tfjs-webgl, tfjs-webgpu, got "cuda"/,
    ],
    ["K = 0", ["train", "two-gaussians", "--k", "0"], /--k must be an integer >= 1/],
    ["missing file", ["train", "nope.csv"], /data "nope.csv": no such file/],
    ["unreadable CSV", ["train", join(FIX, "bad-cell.csv")], /bad-cell\.csv:3:\d+ .*"y".*expected a number/],
    ["column that does not exist", ["train", join(FIX, "tiny.csv"), "--y-cols", "price"], /price/],
    ["unknown flag", ["train", "two-gaussians", "--frobnicate"], /unknown option '--frobnicate'/],
    ["bad lr", ["train", "two-gaussians", "--lr", "-1"], /--lr must be a positive finite number/],
    ["epochs and steps", ["train", "two-gaussians", "--epochs", "2", "--steps", "3"], /exclusive/],
    ["mdn on data without inputs", ["train", "two-gaussians", "--model", "mdn"], /needs input columns/],
    ["unknown experiment", ["reproduce", "cifar"], /unknown experiment "cifar"/],
    ["bad --scale", ["train", "two-gaussians", "--scale", "gauss"], /^ngem: --scale: expected one of exp, softplus, elu\+1, got "gauss"$/],
    ["negative --sigma-min", ["train", "two-gaussians", "--sigma-min", "-1e-3"], /--sigma-min must be a finite number >= 0/],
    ["non-numeric --sigma-min", ["train", "two-gaussians", "--sigma-min", "tiny"], /--sigma-min must be a finite number >= 0/],
    ["bad --covariance", ["train", "two-gaussians", "--covariance", "full"], /^ngem: --covariance: expected one of diag, isotropic, shared, got "full"$/],
    ["bad --noise-x", ["train", "two-gaussians", "--noise-x", "abc"], /--noise-x must be a finite number >= 0/],
    ["negative --noise-y", ["train", "two-gaussians", "--noise-y", "-0.5"], /--noise-y must be a finite number >= 0/],
    [
      "bad --noise-schedule",
      ["train", "two-gaussians", "--noise-y", "0.1", "--noise-schedule", "silverman"],
      /^ngem: --noise-schedule: expected one of constant, rule-of-thumb, got "silverman"$/,
    ],
    ["--noise-x without inputs", ["train", "two-gaussians", "--noise-x", "0.1"], /^ngem: --noise-x: "two-gaussians" has no input columns/],
    ["missing checkpoint", ["eval", "nope.safetensors", "two-gaussians"], /checkpoint "nope.safetensors": no such file/],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, () => {
      const before = dirHash(out);
      const r = ngem([...args, ...(args[0] === "train" ? ["--out", out] : [])]);
      expect(r.code, r.stderr).toBe(2);
      const firstLine = r.stderr.trim().split("\n")[0]!;
      expect(firstLine).toMatch(pattern);
      expect(firstLine.startsWith("ngem: ")).toBe(true);
      expect(dirHash(out)).toBe(before);
    });
  }
  it("a config file with a typo names the file and the field", () => {
    const cfg = join(work, "bad-config.json");
    writeFileSync(cfg, JSON.stringify({ model: { k: 2 }, optimiser: { type: "adam", lr: 0.01 } }));
    const before = dirHash(out);
    const r = ngem(["train", "two-gaussians", "--config", cfg, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(/--config .*bad-config\.json: .*optimiser/);
    expect(dirHash(out)).toBe(before);
    writeFileSync(cfg, JSON.stringify({ model: { k: 0 } }));
    expect(ngem(["train", "two-gaussians", "--config", cfg, "--out", out]).stderr).toMatch(/model\.k/);
    for (const [bad, field] of [
      [{ model: { covariance: "full" } }, /model\.covariance/],
      [{ model: { sigmaMin: -1 } }, /model\.sigmaMin/],
      [{ model: { scale: "relu" } }, /model\.scale/],
      [{ noise: { y: -0.1 } }, /noise\.y/],
      [{ noise: { sigma: 0.1 } }, /noise.*sigma/],
    ] as const) {
      writeFileSync(cfg, JSON.stringify(bad));
      const b = ngem(["train", "two-gaussians", "--config", cfg, "--out", out]);
      expect(b.code).toBe(2);
      expect(b.stderr.trim().split("\n")).toHaveLength(1);
      expect(b.stderr).toMatch(field);
    }
    expect(dirHash(out)).toBe(before);
  });

  it("head and noise options from the config file and the flags (flags win) reach the trainer config and the checkpoint", () => {
    const cfg = join(work, "head-config.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        model: { kind: "mdn", k: 2, hidden: [8], scale: "softplus", sigmaMin: 0.01, covariance: "isotropic" },
        noise: { x: 0.05, y: 0.2, schedule: "rule-of-thumb" },
        steps: 20,
      }),
    );
    const dir = join(work, "head-config-run");
    const r = ngem([
      "train",
      join(FIX, "tiny.csv"),
      "--x-cols",
      "x",
      "--y-cols",
      "y",
      "--config",
      cfg,
      "--sigma-min",
      "0.002",
      "--covariance",
      "shared",
      "--noise-y",
      "0.3",
      "--out",
      dir,
      "--no-plots",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { config: { model: Record<string, unknown>; noise: Record<string, unknown> } };
    expect(run.config.model).toMatchObject({ scale: "softplus", sigmaMin: 0.002, covariance: "shared" });
    expect(run.config.noise).toEqual({ x: 0.05, y: 0.3, schedule: "rule-of-thumb" });
    // the checkpoint (version 2) stores the head and the noise
    const bytes = readFileSync(join(dir, "checkpoint.safetensors"));
    const n = Number(bytes.readBigUInt64LE(0));
    const meta = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")).__metadata__ as Record<string, string>;
    expect(meta.version).toBe("2");
    expect(JSON.parse(meta.head!)).toEqual({ scale: "softplus", sigmaMin: 0.002, covariance: "shared" });
    expect(JSON.parse(meta.noise!)).toEqual({ x: 0.05, y: 0.3, schedule: "rule-of-thumb" });
    // and the model it wrote predicts with sigmas >= the floor (original units: >= 0.002 * std(y))
    const p = ngem(["predict", join(dir, "checkpoint.safetensors"), join(FIX, "tiny.csv"), "--format", "json"]);
    expect(p.code, p.stderr).toBe(0);
    const rows = JSON.parse(p.stdout) as { sigma: number[][] }[];
    for (const row of rows) {
      expect(row.sigma[0]![0]).toBe(row.sigma[1]![0]); // shared: one sigma for both components
      expect(row.sigma[0]![0]).toBeGreaterThan(0);
    }
  });

  it("a valid config file is used, and flags override it", () => {
    const cfg = join(work, "good-config.json");
    writeFileSync(cfg, JSON.stringify({ model: { kind: "gmm", k: 3 }, optimizer: { type: "sgd", lr: 0.05 }, steps: 30, validationSplit: 0 }));
    const dir = join(work, "from-config");
    const r = ngem(["train", "two-gaussians", "--config", cfg, "--k", "2", "--out", dir, "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as {
      config: { model: { k: number }; optimizer: { type: string; lr: number }; steps: number };
    };
    expect(run.config.model.k).toBe(2);
    expect(run.config.optimizer).toEqual({ type: "sgd", lr: 0.05 });
    expect(run.config.steps).toBe(30);
  });

  it("a second run into an existing run directory is refused without --force", () => {
    const before = dirHash(out);
    const r = ngem(["train", "two-gaussians", "--steps", "20", "--out", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a run/);
    expect(dirHash(out)).toBe(before);
  });
});

describe("sigma floor on a duplicated point (free GMM, K=2)", () => {
  // 15 copies of 0.7 and 15 other values: with seed 1 one component collapses onto 0.7.
  const csv = join(work, "dup.csv");
  let a = 1;
  const rows = [
    "y",
    ...Array.from({ length: 15 }, () => "0.7"),
    ...Array.from({ length: 15 }, () => {
      a = (a * 48271) % 2147483647;
      return ((a / 2147483647) * 4 - 2).toFixed(4);
    }),
  ];
  writeFileSync(csv, `${rows.join("\n")}\n`);
  const args = (out: string, ...more: string[]) => [
    "train",
    csv,
    "--model",
    "gmm",
    "--k",
    "2",
    "--steps",
    "600",
    "--batch-size",
    "30",
    "--lr",
    "0.05",
    "--val-split",
    "0",
    "--seed",
    "1",
    "--out",
    join(work, out),
    "--no-plots",
    ...more,
  ];

  it("with --sigma-min the log warns once when the floor is first hit and counts the hits at the end", () => {
    const r = ngem(args("floor", "--sigma-min", "1e-3"));
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning: sigma floor hit at step"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: sigma floor hit at step \d+: 30 scale entries of the minibatch are held at sigmaMin = 0\.001/);
    const m = /sigma floor hit (\d+) times \(scale entries held at sigmaMin = 0\.001\) in (\d+) of 600 steps, first at step (\d+)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const total = Number(m![1]);
    expect(total).toBeGreaterThan(0);
    expect(Number(m![3])).toBe(Number(/at step (\d+)/.exec(warnings[0]!)![1]));
    const summary = JSON.parse(readFileSync(join(work, "floor", "summary.json"), "utf8")) as { sigmaFloor: { total: number }; trainNll: number };
    expect(summary.sigmaFloor.total).toBe(total);
    expect(Number.isFinite(summary.trainNll)).toBe(true);
    const lines = readFileSync(join(work, "floor", "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { floorHits: number });
    expect(lines.reduce((s, l) => s + l.floorHits, 0)).toBe(total);
  });

  it("--json: a sigma-floor event the first time and a summary event", () => {
    const r = ngem(args("floor-json", "--sigma-min", "1e-3", "--json"));
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; floorHits?: number; total?: number; sigmaFloor?: { total: number } });
    const first = events.filter((e) => e.event === "sigma-floor");
    expect(first).toHaveLength(1);
    expect(first[0]!.floorHits).toBe(30);
    const sum = events.find((e) => e.event === "sigma-floor-summary")!;
    expect(sum.total).toBeGreaterThan(0);
    expect(events.at(-1)!.event).toBe("done");
    expect(events.at(-1)!.sigmaFloor!.total).toBe(sum.total);
  });

  it("the same run without the floor collapses: no floor lines, and a far lower (unbounded) NLL", () => {
    const r = ngem(args("no-floor"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/sigma floor/);
    const withFloor = JSON.parse(readFileSync(join(work, "floor", "summary.json"), "utf8")) as { trainNll: number };
    const without = JSON.parse(readFileSync(join(work, "no-floor", "summary.json"), "utf8")) as { trainNll: number };
    // observed: about -1.47 with the floor, about -13.7 without (and still falling)
    expect(withFloor.trainNll).toBeGreaterThan(-3);
    expect(without.trainNll).toBeLessThan(-10);
  });
});

describe("Ctrl-C and --resume", () => {
  it("SIGINT saves a checkpoint and exits 130; --resume finishes the run", async () => {
    const out = join(work, "interrupt");
    const child = spawn(process.execPath, [CLI, "train", "inverse-sine", "--backend", "js", "--steps", "4000", "--hidden", "8", "--out", out, "--no-plots"], {
      cwd: work,
    });
    let err = "";
    const code = await new Promise<number | null>((resolveExit) => {
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        if (/step \d+\/4000/.test(err) && !child.killed) child.kill("SIGINT");
      });
      child.on("exit", (c) => resolveExit(c));
    });
    expect(code, err).toBe(130);
    expect(err).toMatch(/checkpoint saved; continue with: ngem train --resume/);
    expect(existsSync(join(out, "checkpoint.safetensors"))).toBe(true);
    const steps = (JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { steps: number }).steps;
    expect(steps).toBeLessThan(4000);
    const r = ngem(["train", "--resume", out, "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/done: completed, step 4000/);
    const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number });
    expect(metrics.at(-1)!.step).toBe(4000);
    const e = ngem(["eval", join(out, "checkpoint.safetensors"), "inverse-sine", "--json"]);
    expect(e.code, e.stderr).toBe(0);
  }, 120_000);
});

describe("help and backends", () => {
  it("--help documents commands, examples and exit codes", () => {
    const r = ngem(["train", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toMatch(/2 {4}usage error/);
    for (const flag of ["--scale <f>", "--sigma-min <x>", "--covariance <kind>", "--noise-x <std>", "--noise-y <std>"]) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/Why the NLL can be negative/);
    expect(r.stdout).toMatch(/sum log std/);
  });
  it("backends lists js as loadable and says why tfjs-gpu is not", () => {
    const r = ngem(["backends", "--json"]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; ok: boolean; reason?: string }[];
    expect(rows.find((b) => b.name === "js")?.ok).toBe(true);
    const gpu = rows.find((b) => b.name === "tfjs-gpu")!;
    if (!gpu.ok) expect(gpu.reason).toMatch(/tfjs-node-gpu/);
  });
});

describe("ngem reproduce --quick: every experiment still runs end to end", () => {
  for (const exp of ["two-gaussians", "inverse-sine", "two-sinusoids", "inverse-mnist"]) {
    it(exp, () => {
      const out = join(work, "repro");
      const r = ngem(["reproduce", exp, "--quick", "--seeds", "1", "--out", out, "--no-png", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(readFileSync(join(out, exp, "results.json"), "utf8")) as { table: { objective: string; finalMean: number }[] };
      expect(res.table.some((row) => row.objective === "ngem")).toBe(true);
      expect(res.table.some((row) => row.objective === "nll")).toBe(true);
      expect(res.table.every((row) => Number.isFinite(row.finalMean))).toBe(true);
      expect(readFileSync(join(out, exp, "results.md"), "utf8")).toMatch(/\| optimizer \| lr \| objective \|/);
      const figs = readdirSync(join(out, exp)).filter((f) => f.endsWith(".svg"));
      expect(figs.some((f) => f.startsWith("nll-"))).toBe(true);
      for (const f of figs) expect(XMLValidator.validate(readFileSync(join(out, exp, f), "utf8")), f).toBe(true);
      if (exp === "inverse-mnist") expect(figs).toContain("samples-ngem.svg");
    }, 300_000);
  }
});

describe("ngem reproduce --steps: another step budget", () => {
  it("every run gets the budget, the notes say so; with --quick it is exit 2", () => {
    const out = join(work, "repro-steps");
    const r = ngem(["reproduce", "two-gaussians", "--steps", "120", "--seeds", "1", "--backend", "js", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, "two-gaussians", "results.json"), "utf8")) as { notes: string[]; runs: { curveSteps: number[] }[] };
    expect(res.notes.join("\n")).toMatch(/step budget set by --steps: 120 steps/);
    for (const run of res.runs) expect(run.curveSteps.at(-1)).toBe(120);
    const bad = ngem(["reproduce", "two-gaussians", "--steps", "120", "--quick", "--out", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--steps and --quick are exclusive/);
  }, 300_000);

  it("--optimizers runs only those; an unknown one is exit 2", () => {
    const out = join(work, "repro-opt");
    const r = ngem(["reproduce", "two-gaussians", "--quick", "--optimizers", "adam", "--seeds", "1", "--backend", "js", "--out", out, "--no-png", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, "two-gaussians", "results.json"), "utf8")) as { table: { optimizer: string }[] };
    expect(new Set(res.table.map((row) => row.optimizer))).toEqual(new Set(["adam"]));
    const bad = ngem(["reproduce", "two-gaussians", "--optimizers", "lbfgs", "--out", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--optimizers: expected one of sgd, adam, rmsprop, soap, got "lbfgs"/);
  }, 300_000);
});

describe("sampling temperature and prediction intervals", () => {
  it("sample --temperature 0 --sigma-temperature 0 returns the most probable component's mean for every draw", () => {
    const out = join(work, "temp-run");
    expect(
      ngem(["train", join(FIX, "tiny.csv"), "--x-cols", "x", "--y-cols", "y", "--k", "2", "--hidden", "8", "--steps", "30", "--out", out, "--no-plots"]).code,
    ).toBe(0);
    const ckpt = join(out, "checkpoint.safetensors");
    const s = ngem(["sample", ckpt, "--x", "0.5", "-n", "20", "--temperature", "0", "--sigma-temperature", "0", "--json"]);
    expect(s.code, s.stderr).toBe(0);
    const draws = (JSON.parse(s.stdout) as { samples: number[][] }[])[0]!.samples.map((v) => v[0]!);
    expect(new Set(draws).size).toBe(1);
    // the draw equals the mean of the argmax-weight component at x = 0.5
    const single = join(work, "x05.csv");
    writeFileSync(single, "x,noise,y\n0.5,0,0\n");
    const q = (JSON.parse(ngem(["predict", ckpt, single, "--format", "json"]).stdout) as { pi: number[]; mu: number[][] }[])[0]!;
    const best = q.pi.indexOf(Math.max(...q.pi));
    expect(draws[0]).toBeCloseTo(q.mu[best]![0]!, 10);
    expect(ngem(["sample", ckpt, "--x", "0.5", "--temperature", "-1"]).code).toBe(2);
  });

  it("predict --interval adds lo/hi columns that bracket the mean-ish centre", () => {
    const ckpt = join(work, "temp-run", "checkpoint.safetensors");
    const r = ngem(["predict", ckpt, join(FIX, "tiny.csv"), "--interval", "0.9", "--no-params"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n");
    expect(rows[0]).toBe("row,mean_y,mode_y,lo_y,hi_y");
    for (const row of rows.slice(1)) {
      const [, , , lo, hi] = row.split(",").map(Number);
      expect(lo!).toBeLessThan(hi!);
    }
    expect(ngem(["predict", ckpt, join(FIX, "tiny.csv"), "--interval", "1.5"]).code).toBe(2);
  });
});
