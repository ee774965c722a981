/**
 * The paper's Two-Gaussians experiment (method.md): data
 * 0.5 N((1,1), 0.1^2 I) + 0.5 N((-1,-1), 0.1^2 I) in R^2, 100 points, a K = 2
 * free GMM, batch 1, SGD (no momentum) or Adam at lr 1e-2.
 *
 * Per seed s: the data set is drawn from `new Rng(1000 + s)` (component by a
 * fair coin, then the Gaussian), the GMM is initialised with core's
 * `initWeights(spec, s)` (mu ~ N(0, 1), sigma = 1, equal weights) and the
 * shuffling stream derives from s. Every `evalEvery` steps the full-data NLL
 * (mean over the 100 points) and the component means are checked; a run
 * succeeds at the first evaluation where
 *   NLL <= NLL* + tolNll   and   both true means have a matched component
 *   (optimal matching) within tolMode,
 * with NLL* the expected NLL of the true density, E_p[-log p(y)], estimated
 * by a seeded Monte Carlo ({@link twoGaussiansOptimalNll}).
 */
import { Rng } from "@ngem/core";
import { at } from "../at.js";
import { modeRecovery, componentMeans } from "../evaluate.js";
import { train } from "../train.js";
import type { TrainData } from "../types.js";

export const TWO_GAUSSIANS_MEANS = Float64Array.of(1, 1, -1, -1);
export const TWO_GAUSSIANS_SIGMA = 0.1;

/** n points of the Two-Gaussians mixture (xDim = 0, yDim = 2), seeded. */
export function twoGaussiansData(n = 100, seed = 0): TrainData {
  const rng = new Rng(seed);
  const y = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const c = rng.uniform() < 0.5 ? 0 : 1;
    y[2 * i] = (TWO_GAUSSIANS_MEANS[2 * c] as number) + TWO_GAUSSIANS_SIGMA * rng.normal();
    y[2 * i + 1] = (TWO_GAUSSIANS_MEANS[2 * c + 1] as number) + TWO_GAUSSIANS_SIGMA * rng.normal();
  }
  return { name: "two-gaussians", n, xDim: 0, yDim: 2, x: new Float64Array(0), y };
}

/** log p(y) of the true Two-Gaussians density. */
export function twoGaussiansLogDensity(y0: number, y1: number): number {
  const s2 = TWO_GAUSSIANS_SIGMA * TWO_GAUSSIANS_SIGMA;
  const logNorm = -Math.log(2 * Math.PI * s2);
  const term = (c: number): number => {
    const a = y0 - (TWO_GAUSSIANS_MEANS[2 * c] as number);
    const b = y1 - (TWO_GAUSSIANS_MEANS[2 * c + 1] as number);
    return Math.log(0.5) + logNorm - (a * a + b * b) / (2 * s2);
  };
  const l0 = term(0);
  const l1 = term(1);
  const m = Math.max(l0, l1);
  return m + Math.log(Math.exp(l0 - m) + Math.exp(l1 - m));
}

/**
 * NLL* = E_p[-log p(y)] of the true density by Monte Carlo with `samples`
 * draws from `new Rng(seed)`; returns the estimate and its standard error.
 * (Analytically log 2 + log(2 pi 0.1^2) + 1 = -1.0739 up to the overlap of
 * the components, which is negligible at 28 sigma apart.)
 */
export function twoGaussiansOptimalNll(samples = 200_000, seed = 20240611): { mean: number; stderr: number } {
  const d = twoGaussiansData(samples, seed);
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < samples; i++) {
    const v = -twoGaussiansLogDensity(d.y[2 * i] as number, d.y[2 * i + 1] as number);
    s += v;
    s2 += v * v;
  }
  const mean = s / samples;
  return { mean, stderr: Math.sqrt((s2 / samples - mean * mean) / samples) };
}

export interface TwoGaussiansOptions {
  readonly objectives?: readonly ("nll" | "em" | "ngem" | "ngem-full")[];
  readonly optimizers?: readonly ("sgd" | "adam")[];
  readonly seeds?: readonly number[];
  readonly lr?: number;
  /** Step budget per run (default 20000 = 200 epochs of 100 points). */
  readonly maxSteps?: number;
  readonly evalEvery?: number;
  readonly tolNll?: number;
  readonly tolMode?: number;
  readonly backend?: string;
  readonly fisherCoords?: "log-sigma" | "sigma";
}

export interface TwoGaussiansRun {
  readonly objective: string;
  readonly optimizer: string;
  readonly seed: number;
  readonly success: boolean;
  /** Steps to the first successful evaluation (null when it never succeeded). */
  readonly steps: number | null;
  /** Full-data NLL at the last evaluation. */
  readonly nll: number;
  /** Largest matched distance to a true mean at the last evaluation. */
  readonly modeDistance: number;
  readonly stopReason: string;
}

export interface TwoGaussiansSummary {
  readonly objective: string;
  readonly optimizer: string;
  readonly successes: number;
  readonly seeds: number;
  /** Median steps over successful seeds (null when none). */
  readonly medianSteps: number | null;
  /** Median steps counting failures as the budget (for comparisons). */
  readonly medianStepsCensored: number;
}

/** Runs the grid objectives x optimizers x seeds. */
export async function runTwoGaussians(
  opts: TwoGaussiansOptions = {},
): Promise<{ optimalNll: number; runs: TwoGaussiansRun[]; summary: TwoGaussiansSummary[] }> {
  const objectives = opts.objectives ?? ["nll", "ngem"];
  const optimizers = opts.optimizers ?? ["sgd", "adam"];
  const seeds = opts.seeds ?? [0, 1, 2, 3, 4];
  const lr = opts.lr ?? 1e-2;
  const maxSteps = opts.maxSteps ?? 20_000;
  const evalEvery = opts.evalEvery ?? 50;
  const tolNll = opts.tolNll ?? 0.05;
  const tolMode = opts.tolMode ?? 0.1;
  const optimalNll = twoGaussiansOptimalNll().mean;
  const runs: TwoGaussiansRun[] = [];
  for (const optimizer of optimizers) {
    for (const objective of objectives) {
      for (const seed of seeds) {
        const data = twoGaussiansData(100, 1000 + seed);
        const ctl = new AbortController();
        let success = false;
        let steps: number | null = null;
        let nll = NaN;
        let modeDistance = NaN;
        const { history } = await train(
          {
            model: { kind: "gmm", k: 2 },
            objective,
            ...(opts.fisherCoords ? { fisherCoords: opts.fisherCoords } : {}),
            optimizer: { type: optimizer, lr },
            batchSize: 1,
            steps: maxSteps,
            seed,
            evalEvery,
            evalTrain: true,
            nonFinite: "stop",
            backend: opts.backend ?? "js",
          },
          data,
          {
            recordSteps: false,
            signal: ctl.signal,
            onEval: async (rec, model) => {
              nll = rec.trainNll ?? NaN;
              modeDistance = modeRecovery(await componentMeans(model), 2, TWO_GAUSSIANS_MEANS, 2, 2).maxDistance;
              if (nll <= optimalNll + tolNll && modeDistance <= tolMode) {
                success = true;
                steps = rec.step;
                ctl.abort();
              }
            },
          },
        );
        runs.push({ objective, optimizer, seed, success, steps, nll, modeDistance, stopReason: history.stopReason });
      }
    }
  }
  const summary: TwoGaussiansSummary[] = [];
  for (const optimizer of optimizers) {
    for (const objective of objectives) {
      const rs = runs.filter((r) => r.objective === objective && r.optimizer === optimizer);
      const ok = rs.filter((r) => r.success).map((r) => r.steps as number);
      summary.push({
        objective,
        optimizer,
        successes: ok.length,
        seeds: rs.length,
        medianSteps: ok.length ? median(ok) : null,
        medianStepsCensored: median(rs.map((r) => (r.success ? (r.steps as number) : maxSteps))),
      });
    }
  }
  return { optimalNll, runs, summary };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const h = s.length >> 1;
  return s.length % 2 ? at(s, h, "median") : (at(s, h - 1, "median") + at(s, h, "median")) / 2;
}
