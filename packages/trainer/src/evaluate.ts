/**
 * Evaluation: mean NLL, RMSE of the mixture mean, calibration of the 1-D
 * marginals (PIT histogram and central-interval coverage) and mode recovery.
 *
 * Calibration: for each row and dimension d, PIT u = F_d(y_d), with F_d the
 * marginal mixture CDF sum_k pi_k Phi((y - mu_kd) / sigma_kd), Phi(z) =
 * erfc(-z / sqrt 2) / 2 (core's special.ts). A calibrated model gives u ~ U(0, 1).
 * The central interval of level a is [F^-1((1-a)/2), F^-1((1+a)/2)], so
 * y is inside it exactly when (1-a)/2 <= u <= (1+a)/2: coverage is read off
 * the PIT values without inverting F.
 */
import {
  crpsMixture,
  logProb,
  mixtureMode,
  mixtureQuantile,
  normalCdf,
  mixtureMean,
  pinballLoss,
  pitUniformity,
  ShapeError,
  softmax,
  type MixtureParams,
  type PitUniformity,
} from "@ngem/core";
import { at } from "./at.js";
import { gatherBatch } from "./data.js";
import { minCostAssignment } from "./hungarian.js";
import type { TrainedModel } from "./model-handle.js";
import type { TrainData } from "./types.js";

export interface EvaluateOptions {
  /** Central-interval levels (default [0.5, 0.8, 0.9, 0.95]). */
  readonly levels?: readonly number[];
  /** PIT histogram bins (default 10). */
  readonly pitBins?: number;
  /** Rows per predict call (default 2048). */
  readonly chunk?: number;
}

export interface Calibration {
  readonly levels: readonly number[];
  /** Observed coverage per level, pooled over dimensions. */
  readonly coverage: number[];
  /** [dim][level] */
  readonly coverageByDim: number[][];
  /** Mean |coverage - level| over levels (pooled). */
  readonly coverageError: number;
  /** PIT histogram counts, pooled over dimensions (bins over [0, 1]). */
  readonly pitCounts: number[];
  /** [dim][bin] */
  readonly pitCountsByDim: number[][];
}

export interface Evaluation {
  readonly n: number;
  /** Mean NLL in the space the model was trained in. */
  readonly nll: number;
  /** Mean NLL in original y units (nll + sum_d log std_d), when y was normalised. */
  readonly nllOriginal?: number;
  /** RMSE of the mixture mean against y, over all rows and dimensions (training space). */
  readonly rmse: number;
  /** RMSE in original y units (per-dimension std applied), when y was normalised. */
  readonly rmseOriginal?: number;
  readonly calibration: Calibration;
}

/** Standard normal CDF (core's, accurate in the lower tail); re-exported for compatibility. */
export { normalCdf };

/** PIT values u[n, d] = F_d(y[n, d]) of each row's marginal mixture. */
export function pitValues(m: MixtureParams, y: ArrayLike<number>): Float64Array {
  const { n: N, k: K, d: D } = m;
  if (y.length !== N * D) throw new ShapeError("y", `expected shape [N, D] = [${N}, ${D}] (length ${N * D}), got length ${y.length}`);
  const pi = softmax(m.logits, N, K);
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const yv = y[n * D + d] as number;
      let f = 0;
      for (let k = 0; k < K; k++) {
        const i = (n * K + k) * D + d;
        f += (pi[n * K + k] as number) * normalCdf((yv - (m.mu[i] as number)) * Math.exp(-(m.logSigma[i] as number)));
      }
      out[n * D + d] = Math.min(1, Math.max(0, f));
    }
  }
  return out;
}

/** Evaluates a model on a data set (in the space it was trained in). */
export async function evaluate(model: TrainedModel, data: TrainData, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const levels = opts.levels ?? [0.5, 0.8, 0.9, 0.95];
  levels.forEach((a, i) => {
    if (!(a > 0 && a < 1)) throw new ShapeError(`opts.levels[${i}]`, `expected a number in (0, 1), got ${a}`);
  });
  const bins = opts.pitBins ?? 10;
  if (!Number.isInteger(bins) || bins < 1) throw new ShapeError("opts.pitBins", `expected an integer >= 1, got ${bins}`);
  const chunk = opts.chunk ?? 2048;
  if (data.yDim !== model.spec.d) throw new ShapeError("data.yDim", `expected ${model.spec.d} (the model's D), got ${data.yDim}`);
  if (model.spec.kind === "mdn" && data.xDim !== model.spec.inputDim)
    throw new ShapeError("data.xDim", `expected ${model.spec.inputDim} (the model's inputDim), got ${data.xDim}`);
  const D = data.yDim;
  const rows = Uint32Array.from({ length: data.n }, (_, i) => i);
  let nllSum = 0;
  let se = 0;
  const seDim = new Float64Array(D);
  const covered = Array.from({ length: D }, () => new Float64Array(levels.length));
  const pit = Array.from({ length: D }, () => new Array<number>(bins).fill(0));
  for (let s = 0; s < data.n; s += chunk) {
    const b = gatherBatch(data, rows, s, Math.min(data.n, s + chunk));
    const m = await model.backendModel.predict(b.x, b.n);
    const lp = logProb(m, b.y);
    for (let i = 0; i < b.n; i++) nllSum -= lp[i] as number;
    const mean = mixtureMean(m);
    for (let i = 0; i < mean.length; i++) {
      const e = (mean[i] as number) - (b.y[i] as number);
      se += e * e;
      seDim[i % D] = (seDim[i % D] as number) + e * e;
    }
    const u = pitValues(m, b.y);
    for (let i = 0; i < u.length; i++) {
      const d = i % D;
      const ui = u[i] as number;
      const pitD = at(pit, d, "pit");
      const bin = Math.min(bins - 1, Math.floor(ui * bins));
      pitD[bin] = (pitD[bin] as number) + 1;
      const coveredD = at(covered, d, "covered");
      levels.forEach((a, j) => {
        if (ui >= (1 - a) / 2 && ui <= (1 + a) / 2) coveredD[j] = (coveredD[j] as number) + 1;
      });
    }
  }
  const nll = nllSum / data.n;
  const coverageByDim = covered.map((c) => [...c].map((v) => v / data.n));
  const coverage = levels.map((_, j) => coverageByDim.reduce((s, c) => s + at(c, j, "coverageByDim[d]"), 0) / D);
  const ny = data.normalization?.y;
  let nllOriginal: number | undefined;
  let rmseOriginal: number | undefined;
  if (ny) {
    let logStd = 0;
    let seo = 0;
    const sMax = Math.max(...ny.std); // squared errors relative to the largest std: std^2 overflows for std > 1e154
    for (let d = 0; d < D; d++) {
      const std = ny.std[d] as number;
      logStd += Math.log(std);
      seo += (seDim[d] as number) * (std / sMax) ** 2;
    }
    nllOriginal = nll + logStd;
    rmseOriginal = sMax * Math.sqrt(seo / (data.n * D));
  }
  return {
    n: data.n,
    nll,
    ...(nllOriginal === undefined ? {} : { nllOriginal }),
    rmse: Math.sqrt(se / (data.n * D)),
    ...(rmseOriginal === undefined ? {} : { rmseOriginal }),
    calibration: {
      levels: [...levels],
      coverage,
      coverageByDim,
      coverageError: levels.reduce((s, a, j) => s + Math.abs(at(coverage, j, "coverage") - a), 0) / levels.length,
      pitCounts: Array.from({ length: bins }, (_, i) => pit.reduce((s, p) => s + at(p, i, "pit[d]"), 0)),
      pitCountsByDim: pit,
    },
  };
}

/** Options of {@link forecastScores}. */
export interface ForecastOptions {
  /** Central-interval levels for coverage and width (default [0.5, 0.8, 0.9, 0.95]). */
  readonly levels?: readonly number[];
  /** Quantile levels of the pinball loss (default [0.1, 0.5, 0.9]). */
  readonly quantiles?: readonly number[];
  /** PIT histogram bins (default 10). */
  readonly pitBins?: number;
  /** Rows per predict call (default 2048). */
  readonly chunk?: number;
  /** Mean-shift refinement steps of the mode (default 50; 0 = best component mean). */
  readonly modeRefineSteps?: number;
}

/** A score pooled over dimensions, and per dimension. */
export interface DimScore {
  readonly value: number;
  readonly byDim: number[];
}

/**
 * What a forecaster expects of a probabilistic prediction, every number in
 * ORIGINAL y units (the stored normalisation inverted) unless named
 * "standardized". Pooled values average over rows and dimensions.
 */
export interface ForecastScores {
  readonly n: number;
  readonly d: number;
  /** Mean NLL per row, original units (sum over the y dimensions of one row). */
  readonly nll: number;
  /** Sum of the per-row NLLs, original units. */
  readonly nllTotal: number;
  /** Mean NLL per row in the standardised space the model was trained in (equals `nll` when y is not standardised). */
  readonly nllStandardized: number;
  /** RMSE and MAE of the mixture mean. */
  readonly rmseMean: DimScore;
  readonly maeMean: DimScore;
  /** RMSE and MAE of the mixture mode (mean-shift refined). */
  readonly rmseMode: DimScore;
  readonly maeMode: DimScore;
  /** Mean CRPS (closed form; for D > 1 the CRPS of each 1-D marginal, averaged). */
  readonly crps: DimScore;
  /** Mean pinball loss of the mixture's q-quantile, per requested q. */
  readonly pinball: { readonly q: number; readonly loss: number; readonly byDim: number[] }[];
  /** Central intervals: observed coverage and mean width (original units). */
  readonly intervals: {
    readonly level: number;
    readonly coverage: number;
    readonly width: number;
    readonly coverageByDim: number[];
    readonly widthByDim: number[];
  }[];
  /** PIT values pooled over dimensions: counts per bin and distance to U(0, 1). */
  readonly pit: PitUniformity & { readonly counts: number[] };
}

/**
 * Scores a model on a data set (in its training space) and reports every
 * metric in original units: NLL (mean, total, standardised), RMSE/MAE of the
 * mean and of the mode, CRPS, pinball loss, interval coverage and width, and
 * PIT uniformity. CRPS, pinball loss, errors and widths are scale-equivariant,
 * so they are computed in the standardised space and multiplied by std_d;
 * the NLL shifts by sum_d log std_d.
 */
export async function forecastScores(model: TrainedModel, data: TrainData, opts: ForecastOptions = {}): Promise<ForecastScores> {
  const levels = opts.levels ?? [0.5, 0.8, 0.9, 0.95];
  const quantiles = opts.quantiles ?? [0.1, 0.5, 0.9];
  for (const [name, list] of [
    ["levels", levels],
    ["quantiles", quantiles],
  ] as const) {
    list.forEach((a, i) => {
      if (!(a > 0 && a < 1)) throw new ShapeError(`opts.${name}[${i}]`, `expected a number in (0, 1), got ${a}`);
    });
  }
  const bins = opts.pitBins ?? 10;
  if (!Number.isInteger(bins) || bins < 1) throw new ShapeError("opts.pitBins", `expected an integer >= 1, got ${bins}`);
  const chunk = opts.chunk ?? 2048;
  if (data.yDim !== model.spec.d) throw new ShapeError("data.yDim", `expected ${model.spec.d} (the model's D), got ${data.yDim}`);
  if (model.spec.kind === "mdn" && data.xDim !== model.spec.inputDim)
    throw new ShapeError("data.xDim", `expected ${model.spec.inputDim} (the model's inputDim), got ${data.xDim}`);
  if (data.n < 1) throw new ShapeError("data.n", "expected at least one row");
  const D = data.yDim;
  const N = data.n;
  const ny = data.normalization?.y;
  const std = Float64Array.from({ length: D }, (_, d) => (ny ? (ny.std[d] as number) : 1));
  // squared errors relative to the largest std: std^2 overflows for std > 1e154
  const sMax = Math.max(...std);
  const rel = std.map((s) => s / sMax);
  const rows = Uint32Array.from({ length: N }, (_, i) => i);
  const z = () => new Float64Array(D);
  const seMean = z(),
    aeMean = z(),
    seMode = z(),
    aeMode = z(),
    crps = z();
  const pin = quantiles.map(() => z());
  const width = levels.map(() => z());
  const covered = levels.map(() => z());
  const pit = new Float64Array(N * D);
  let nllSum = 0;
  for (let s = 0; s < N; s += chunk) {
    const b = gatherBatch(data, rows, s, Math.min(N, s + chunk));
    const m = await model.backendModel.predict(b.x, b.n);
    const lp = logProb(m, b.y);
    for (let i = 0; i < b.n; i++) nllSum -= lp[i] as number;
    const mean = mixtureMean(m);
    const mode = mixtureMode(m, { refineSteps: opts.modeRefineSteps ?? 50 });
    const c = crpsMixture(m, b.y);
    for (let i = 0; i < b.y.length; i++) {
      const d = i % D;
      const yi = b.y[i] as number;
      const e1 = (mean[i] as number) - yi;
      const e2 = (mode[i] as number) - yi;
      seMean[d] = (seMean[d] as number) + e1 * e1;
      aeMean[d] = (aeMean[d] as number) + Math.abs(e1);
      seMode[d] = (seMode[d] as number) + e2 * e2;
      aeMode[d] = (aeMode[d] as number) + Math.abs(e2);
      crps[d] = (crps[d] as number) + (c[i] as number);
    }
    const u = pitValues(m, b.y);
    pit.set(u, s * D);
    for (let d = 0; d < D; d++) {
      const yd = Float64Array.from({ length: b.n }, (_, i) => b.y[i * D + d] as number);
      quantiles.forEach((q, j) => {
        const qv = mixtureQuantile(m, d, q);
        const pinJ = at(pin, j, "pin");
        for (let i = 0; i < b.n; i++) pinJ[d] = (pinJ[d] as number) + pinballLoss(yd[i] as number, qv[i] as number, q);
      });
      levels.forEach((a, j) => {
        const lo = mixtureQuantile(m, d, (1 - a) / 2);
        const hi = mixtureQuantile(m, d, (1 + a) / 2);
        const widthJ = at(width, j, "width");
        const coveredJ = at(covered, j, "covered");
        for (let i = 0; i < b.n; i++) {
          widthJ[d] = (widthJ[d] as number) + ((hi[i] as number) - (lo[i] as number));
          const ui = u[i * D + d] as number;
          if (ui >= (1 - a) / 2 && ui <= (1 + a) / 2) coveredJ[d] = (coveredJ[d] as number) + 1;
        }
      });
    }
  }
  let logStd = 0;
  for (const s of std) logStd += Math.log(s);
  const nllStd = nllSum / N;
  const nll = nllStd + logStd;
  const pooled = (byDim: number[]) => byDim.reduce((a, v) => a + v, 0) / D;
  const linear = (acc: Float64Array): DimScore => {
    const byDim = Array.from(acc, (v, d) => (v / N) * (std[d] as number));
    return { value: pooled(byDim), byDim };
  };
  const rms = (acc: Float64Array): DimScore => {
    const byDim = Array.from(acc, (v, d) => Math.sqrt(v / N) * (std[d] as number));
    let t = 0;
    for (let d = 0; d < D; d++) t += (acc[d] as number) * (rel[d] as number) ** 2;
    return { value: sMax * Math.sqrt(t / (N * D)), byDim };
  };
  const u = pitUniformity(pit, bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of pit) {
    const bin = Math.min(bins - 1, Math.floor(v * bins));
    counts[bin] = (counts[bin] as number) + 1;
  }
  return {
    n: N,
    d: D,
    nll,
    nllTotal: nll * N,
    nllStandardized: nllStd,
    rmseMean: rms(seMean),
    maeMean: linear(aeMean),
    rmseMode: rms(seMode),
    maeMode: linear(aeMode),
    crps: linear(crps),
    pinball: quantiles.map((q, j) => {
      const l = linear(at(pin, j, "pin"));
      return { q, loss: l.value, byDim: l.byDim };
    }),
    intervals: levels.map((level, j) => {
      const coverageByDim = Array.from(at(covered, j, "covered"), (v) => v / N);
      const w = linear(at(width, j, "width"));
      return { level, coverage: pooled(coverageByDim), width: w.value, coverageByDim, widthByDim: w.byDim };
    }),
    pit: { ...u, counts },
  };
}

export interface ModeRecovery {
  /** For each true mode: the matched component and the Euclidean distance. */
  readonly matches: { trueMode: number; component: number; distance: number }[];
  readonly maxDistance: number;
  readonly meanDistance: number;
}

/**
 * Distance from learned component means to the true modes with an optimal
 * one-to-one matching (Hungarian algorithm, minimising the summed Euclidean
 * distance). `means` [K, D], `trueModes` [M, D]; with M > K, the unmatched
 * true modes get distance Infinity.
 */
export function modeRecovery(means: ArrayLike<number>, k: number, trueModes: ArrayLike<number>, m: number, d: number): ModeRecovery {
  if (means.length !== k * d) throw new ShapeError("means", `expected shape [K, D] = [${k}, ${d}], got length ${means.length}`);
  if (trueModes.length !== m * d) throw new ShapeError("trueModes", `expected shape [M, D] = [${m}, ${d}], got length ${trueModes.length}`);
  const r = Math.min(m, k);
  const c = Math.max(m, k);
  const cost = new Float64Array(r * c);
  const dist = (t: number, j: number): number => {
    let s = 0;
    for (let q = 0; q < d; q++) s += ((trueModes[t * d + q] as number) - (means[j * d + q] as number)) ** 2;
    return Math.sqrt(s);
  };
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) cost[i * c + j] = m <= k ? dist(i, j) : dist(j, i);
  const a = minCostAssignment(cost, r, c);
  const matches: ModeRecovery["matches"] = [];
  if (m <= k)
    for (let t = 0; t < m; t++) {
      const j = at(a, t, "assignment");
      matches.push({ trueMode: t, component: j, distance: dist(t, j) });
    }
  else {
    const byTrue = new Int32Array(m).fill(-1);
    for (let j = 0; j < k; j++) byTrue[at(a, j, "assignment")] = j;
    for (let t = 0; t < m; t++) {
      const j = at(byTrue, t, "byTrue");
      matches.push({ trueMode: t, component: j, distance: j < 0 ? Infinity : dist(t, j) });
    }
  }
  const ds = matches.map((x) => x.distance);
  return { matches, maxDistance: Math.max(...ds), meanDistance: ds.reduce((s, v) => s + v, 0) / ds.length };
}

/** The component means [K, D] of a free GMM (or of an MDN at one input row x). */
export async function componentMeans(model: TrainedModel, x?: Float64Array): Promise<Float64Array> {
  const m = await model.backendModel.predict(model.spec.kind === "mdn" ? x : undefined, 1);
  return Float64Array.from(m.mu.subarray(0, m.k * m.d));
}
