/**
 * What users do with a predicted mixture: evaluate, sample, summarise.
 * All functions take a {@link MixtureParams} batch (one mixture per row) and
 * return Float64Arrays in row-major layout.
 */
import { checkInt, ShapeError } from "./errors.js";
import { logJoint, logsumexp, softmax, validateMixture, type FloatArray, type MixtureParams } from "./mixture.js";
import { Rng } from "./rng.js";
import { erfc } from "./special.js";

export { logProb } from "./mixture.js";

export interface SampleOptions {
  /** Samples per row (default 1). */
  readonly count?: number;
  /** The random stream; default `new Rng(seed)`. */
  readonly rng?: Rng;
  /** Seed when no `rng` is given (default 0). */
  readonly seed?: number;
  /**
   * Temperature of the component choice (default 1): k ~ softmax(logits / tau).
   * tau -> 0 picks the most probable component (tau = 0 exactly: always the argmax);
   * tau > 1 flattens the weights.
   */
  readonly temperature?: number;
  /** Temperature of the scales (default 1): y = mu_k + sigmaTemperature * sigma_k * eps; 0 returns mu_k. */
  readonly sigmaTemperature?: number;
  /**
   * Most values (N x count x D) one call may return (default
   * {@link MAX_SAMPLE_VALUES}, 2^27 = 1 GiB of float64); more is a ShapeError
   * before anything is allocated. Draw in batches (passing the same `rng`) for more.
   */
  readonly maxValues?: number;
}

/** Default limit on the values one {@link sample} call returns: 2^27 float64 (1 GiB). */
export const MAX_SAMPLE_VALUES = 2 ** 27;

/**
 * Draws `count` samples from each row's mixture: pick k ~ Categorical(pi)
 * (tempered by `temperature`), then y = mu_k + sigmaTemperature * sigma_k * eps.
 * Returns [N, count, D]. The same seed (or the same rng state) gives the same samples.
 */
export function sample(m: MixtureParams, opts: SampleOptions = {}): Float64Array {
  validateMixture(m);
  const count = opts.count ?? 1;
  checkInt("count", count, 1);
  const tau = opts.temperature ?? 1;
  const sigT = opts.sigmaTemperature ?? 1;
  if (!(Number.isFinite(tau) && tau >= 0)) throw new ShapeError("temperature", `expected a finite number >= 0, got ${tau}`);
  if (!(Number.isFinite(sigT) && sigT >= 0)) throw new ShapeError("sigmaTemperature", `expected a finite number >= 0, got ${sigT}`);
  const { n: N, k: K, d: D } = m;
  const maxValues = opts.maxValues ?? MAX_SAMPLE_VALUES;
  if (!(maxValues >= 1)) throw new ShapeError("maxValues", `expected a number >= 1, got ${String(opts.maxValues)}`);
  const total = N * count * D;
  if (total > maxValues) {
    throw new ShapeError(
      "count",
      `${N} rows x ${count} samples x ${D} dims = ${total} values (${((total * 8) / 2 ** 30).toFixed(1)} GiB) exceeds the limit of ${maxValues} values (${((maxValues * 8) / 2 ** 30).toFixed(1)} GiB); draw in smaller batches with the same rng, or raise opts.maxValues`,
    );
  }
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const out = new Float64Array(total);
  const tempered = tau === 1 || tau === 0 ? m.logits : Float64Array.from(m.logits, (a) => a / tau);
  for (let n = 0; n < N; n++) {
    let best = 0;
    if (tau === 0) for (let k = 1; k < K; k++) if ((m.logits[n * K + k] as number) > (m.logits[n * K + best] as number)) best = k;
    for (let c = 0; c < count; c++) {
      const k = tau === 0 ? best : rng.categoricalFromLogits(tempered, n * K, K);
      const base = (n * K + k) * D;
      const o = (n * count + c) * D;
      for (let d = 0; d < D; d++) {
        const eps = sigT === 0 ? 0 : rng.normal();
        out[o + d] = (m.mu[base + d] as number) + sigT * Math.exp(m.logSigma[base + d] as number) * eps;
      }
    }
  }
  return out;
}

/** Standard normal CDF, accurate in the lower tail (via erfc). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z * Math.SQRT1_2);
}

function checkDim(m: MixtureParams, dim: number): void {
  if (!Number.isInteger(dim) || dim < 0 || dim >= m.d) throw new ShapeError("dim", `expected an integer in [0, ${m.d - 1}], got ${dim}`);
}

/**
 * Marginal CDF of dimension `dim` at y[n] for every row: sum_k pi_k Phi((y - mu_k) / sigma_k).
 * `y` has one value per row ([N]). Accurate relative to the value in the lower tail;
 * use {@link mixtureSf} for the upper tail.
 */
export function mixtureCdf(m: MixtureParams, dim: number, y: ArrayLike<number>): Float64Array {
  return tailProb(m, dim, y, false);
}

/** Survival function 1 - CDF of dimension `dim` at y[n], accurate in the upper tail. */
export function mixtureSf(m: MixtureParams, dim: number, y: ArrayLike<number>): Float64Array {
  return tailProb(m, dim, y, true);
}

function tailProb(m: MixtureParams, dim: number, y: ArrayLike<number>, upper: boolean): Float64Array {
  validateMixture(m);
  checkDim(m, dim);
  if (y.length !== m.n) throw new ShapeError("y", `expected one value per row (length ${m.n}), got ${y.length}`);
  const { n: N, k: K, d: D } = m;
  const pi = softmax(m.logits, N, K);
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let p = 0;
    for (let k = 0; k < K; k++) {
      const i = (n * K + k) * D + dim;
      const z = ((y[n] as number) - (m.mu[i] as number)) * Math.exp(-(m.logSigma[i] as number));
      p += (pi[n * K + k] as number) * normalCdf(upper ? -z : z);
    }
    out[n] = Math.min(1, p);
  }
  return out;
}

/**
 * Quantile (inverse CDF) of dimension `dim` for probability q[n] of each row
 * (a scalar q applies to every row). Bracketing (expanding around the
 * component means) then bisection to full float64 resolution, comparing
 * against the CDF for q <= 1/2 and against the survival function for q > 1/2,
 * so far tails keep their relative accuracy: cdf(ppf(q)) = q to 1e-8
 * relative (tested down to q = 1e-12). With a near-degenerate component the
 * CDF is a near-step and the limit is one float64 ulp of y times its slope
 * (absolute 1e-8 tested with sigma = 1e-7). q must be in (0, 1).
 */
export function mixtureQuantile(m: MixtureParams, dim: number, q: number | ArrayLike<number>): Float64Array {
  validateMixture(m);
  checkDim(m, dim);
  const { n: N, k: K, d: D } = m;
  const qs = typeof q === "number" ? new Float64Array(N).fill(q) : q;
  if (qs.length !== N) throw new ShapeError("q", `expected a number or one probability per row (length ${N}), got ${qs.length}`);
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const qn = qs[n] as number;
    if (!(qn > 0 && qn < 1)) throw new ShapeError("q", `expected probabilities in (0, 1), got ${qn} at row ${n}`);
    const row = marginalRow(m, n, dim, K, D);
    const upper = qn > 0.5;
    const target = upper ? 1 - qn : qn;
    // f(y) increases with y: cdf(y) - q (lower) or q' - sf(y) (upper)
    const f = (v: number) => (upper ? target - probAt(row, v, true) : probAt(row, v, false) - target);
    let lo = Infinity;
    let hi = -Infinity;
    let width = 0;
    for (let k = 0; k < K; k++) {
      lo = Math.min(lo, row.mu[k] as number);
      hi = Math.max(hi, row.mu[k] as number);
      width = Math.max(width, row.sigma[k] as number);
    }
    let step = width;
    while (f(lo) > 0) {
      lo -= step;
      step *= 2;
    }
    step = width;
    while (f(hi) < 0) {
      hi += step;
      step *= 2;
    }
    for (let it = 0; it < 400; it++) {
      const mid = 0.5 * (lo + hi);
      if (mid <= lo || mid >= hi) break;
      if (f(mid) < 0) lo = mid;
      else hi = mid;
    }
    out[n] = 0.5 * (lo + hi);
  }
  return out;
}

interface Row1 {
  pi: Float64Array;
  mu: Float64Array;
  sigma: Float64Array;
}

function marginalRow(m: MixtureParams, n: number, dim: number, K: number, D: number): Row1 {
  const pi = softmax(m.logits.subarray(n * K, (n + 1) * K), 1, K);
  const mu = new Float64Array(K);
  const sigma = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    mu[k] = m.mu[(n * K + k) * D + dim] as number;
    sigma[k] = Math.exp(m.logSigma[(n * K + k) * D + dim] as number);
  }
  return { pi, mu, sigma };
}

function probAt(row: Row1, y: number, upper: boolean): number {
  let p = 0;
  for (let k = 0; k < row.pi.length; k++) {
    const z = (y - (row.mu[k] as number)) / (row.sigma[k] as number);
    p += (row.pi[k] as number) * normalCdf(upper ? -z : z);
  }
  return p;
}

/** Central prediction interval of probability `level` per row and dimension: lo, hi [N, D]. */
export function predictionInterval(m: MixtureParams, level: number): { lo: Float64Array; hi: Float64Array } {
  if (!(level > 0 && level < 1)) throw new ShapeError("level", `expected a number in (0, 1), got ${level}`);
  const lo = new Float64Array(m.n * m.d);
  const hi = new Float64Array(m.n * m.d);
  for (let d = 0; d < m.d; d++) {
    const a = mixtureQuantile(m, d, (1 - level) / 2);
    const b = mixtureQuantile(m, d, (1 + level) / 2);
    for (let n = 0; n < m.n; n++) {
      lo[n * m.d + d] = a[n] as number;
      hi[n * m.d + d] = b[n] as number;
    }
  }
  return { lo, hi };
}

/** Mixture mean E[y] = sum_k pi_k mu_k. Shape [N, D]. */
export function mixtureMean(m: MixtureParams): Float64Array {
  validateMixture(m);
  const { n: N, k: K, d: D } = m;
  const pi = softmax(m.logits, N, K);
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const p = pi[n * K + k] as number;
      const base = (n * K + k) * D;
      for (let d = 0; d < D; d++) out[n * D + d] = (out[n * D + d] as number) + p * (m.mu[base + d] as number);
    }
  }
  return out;
}

/**
 * Per-dimension variance Var[y_d] = sum_k pi_k (sigma_kd^2 + mu_kd^2) - E[y_d]^2
 * (the diagonal of the mixture covariance), computed around the mean for
 * accuracy. Shape [N, D].
 */
export function mixtureVariance(m: MixtureParams): Float64Array {
  const mean = mixtureMean(m);
  const { n: N, k: K, d: D } = m;
  const pi = softmax(m.logits, N, K);
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const p = pi[n * K + k] as number;
      const base = (n * K + k) * D;
      for (let d = 0; d < D; d++) {
        const dm = (m.mu[base + d] as number) - (mean[n * D + d] as number);
        const s2 = Math.exp(2 * (m.logSigma[base + d] as number));
        out[n * D + d] = (out[n * D + d] as number) + p * (s2 + dm * dm);
      }
    }
  }
  return out;
}

export interface ModeOptions {
  /**
   * Fixed-point (mean-shift) refinement steps started from the best component
   * mean; 0 (default) returns that component mean unchanged.
   */
  readonly refineSteps?: number;
  /**
   * Stop refining when no coordinate moves more than this many of its
   * dimension's smallest component sigma (default 1e-10; relative, so the
   * result does not depend on the data's scale).
   */
  readonly tolerance?: number;
}

/**
 * Mode estimate per row, shape [N, D].
 *
 * Start: the component mean with the highest *mixture* density
 * (argmax_k p(mu_k)), which is the exact mode when components are well
 * separated. Refinement (`refineSteps` > 0): the Gaussian-mixture mean-shift
 * fixed point of Carreira-Perpinan (2000),
 *   y_d <- sum_k w_k(y) mu_kd / sigma_kd^2  /  sum_k w_k(y) / sigma_kd^2,
 * with w_k(y) the responsibilities at y. Each step never decreases the
 * density, and it converges to a local maximum (a true mode) near the start.
 */
export function mixtureMode(m: MixtureParams, opts: ModeOptions = {}): Float64Array {
  validateMixture(m);
  const steps = opts.refineSteps ?? 0;
  checkInt("refineSteps", steps, 0);
  const tol = opts.tolerance ?? 1e-10;
  const { n: N, k: K, d: D } = m;
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const row = rowMixture(m, n);
    // Evaluate the mixture at each component mean.
    const ys = new Float64Array(K * D);
    for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) ys[k * D + d] = row.mu[k * D + d] as number;
    const rep = repeatRow(row, K);
    const l = logJoint(rep, ys);
    let best = 0;
    let bestVal = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = logsumexp(l, k * K, K);
      if (v > bestVal) {
        bestVal = v;
        best = k;
      }
    }
    const y = ys.slice(best * D, best * D + D);
    for (let it = 0; it < steps; it++) {
      const lj = logJoint(row, y);
      const lse = logsumexp(lj, 0, K);
      let moved = 0;
      for (let d = 0; d < D; d++) {
        // 1/sigma^2 relative to the smallest sigma of this dimension: the
        // common factor cancels in num/den, and sigma ~ 1e200 or 1e-200
        // neither underflows nor overflows (0/0 = NaN before).
        let sMin = Infinity;
        for (let k = 0; k < K; k++) sMin = Math.min(sMin, row.logSigma[k * D + d] as number);
        const a = new Float64Array(K);
        let den = 0;
        for (let k = 0; k < K; k++) {
          const w = Math.exp((lj[k] as number) - lse);
          a[k] = w * Math.exp(-2 * ((row.logSigma[k * D + d] as number) - sMin));
          den += a[k] as number;
        }
        // a convex combination of the means: cannot overflow even for |mu| near 1.8e308
        let next = 0;
        for (let k = 0; k < K; k++) next += ((a[k] as number) / den) * (row.mu[k * D + d] as number);
        // movement in units of the smallest sigma: the same stopping point at any scale
        moved = Math.max(moved, Math.abs(next - (y[d] as number)) * Math.exp(-sMin));
        y[d] = next;
      }
      if (moved <= tol) break;
    }
    out.set(y, n * D);
  }
  return out;
}

/** The 1-D marginal mixture of dimension `dim` for every row (same weights, d = 1). */
export function marginal(m: MixtureParams, dim: number): MixtureParams {
  validateMixture(m, undefined, false);
  if (!Number.isInteger(dim) || dim < 0 || dim >= m.d) {
    throw new ShapeError("dim", `expected an integer in [0, ${m.d - 1}], got ${dim}`);
  }
  const { n: N, k: K, d: D } = m;
  const mu = new Float64Array(N * K);
  const logSigma = new Float64Array(N * K);
  for (let i = 0; i < N * K; i++) {
    mu[i] = m.mu[i * D + dim] as number;
    logSigma[i] = m.logSigma[i * D + dim] as number;
  }
  return { n: N, k: K, d: 1, logits: Float64Array.from(m.logits), mu, logSigma };
}

/** Row `n` of a batch as a batch of one. */
export function rowMixture(m: MixtureParams, n: number): MixtureParams {
  const { k: K, d: D } = m;
  return {
    n: 1,
    k: K,
    d: D,
    logits: Float64Array.from(m.logits.subarray(n * K, n * K + K)),
    mu: Float64Array.from(m.mu.subarray(n * K * D, (n + 1) * K * D)),
    logSigma: Float64Array.from(m.logSigma.subarray(n * K * D, (n + 1) * K * D)),
  };
}

/** A batch of one repeated `times` times (e.g. a free GMM broadcast over a batch). */
export function repeatRow(m: MixtureParams, times: number): MixtureParams {
  if (m.n !== 1) throw new ShapeError("params", `expected a batch of one (n = 1), got n = ${m.n}`);
  checkInt("times", times, 1);
  const { k: K, d: D } = m;
  const logits = new Float64Array(times * K);
  const mu = new Float64Array(times * K * D);
  const logSigma = new Float64Array(times * K * D);
  for (let t = 0; t < times; t++) {
    logits.set(m.logits, t * K);
    mu.set(m.mu, t * K * D);
    logSigma.set(m.logSigma, t * K * D);
  }
  return { n: times, k: K, d: D, logits, mu, logSigma };
}

/** Convenience: a float array as Float64Array without copying when it already is one. */
export function asFloat64(a: FloatArray): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}
