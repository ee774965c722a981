/**
 * What users do with a predicted mixture: evaluate, sample, summarise.
 * All functions take a {@link MixtureParams} batch (one mixture per row) and
 * return Float64Arrays in row-major layout.
 */
import { checkInt, ShapeError } from "./errors.js";
import { logJoint, logsumexp, softmax, validateMixture, type FloatArray, type MixtureParams } from "./mixture.js";
import { Rng } from "./rng.js";

export { logProb } from "./mixture.js";

export interface SampleOptions {
  /** Samples per row (default 1). */
  readonly count?: number;
  /** The random stream; default `new Rng(seed)`. */
  readonly rng?: Rng;
  /** Seed when no `rng` is given (default 0). */
  readonly seed?: number;
}

/**
 * Draws `count` samples from each row's mixture: pick k ~ Categorical(pi),
 * then y = mu_k + sigma_k * eps. Returns [N, count, D].
 * The same seed (or the same rng state) gives the same samples.
 */
export function sample(m: MixtureParams, opts: SampleOptions = {}): Float64Array {
  validateMixture(m);
  const count = opts.count ?? 1;
  checkInt("count", count, 1);
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const { n: N, k: K, d: D } = m;
  const out = new Float64Array(N * count * D);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < count; c++) {
      const k = rng.categoricalFromLogits(m.logits, n * K, K);
      const base = (n * K + k) * D;
      const o = (n * count + c) * D;
      for (let d = 0; d < D; d++) {
        out[o + d] = (m.mu[base + d] as number) + Math.exp(m.logSigma[base + d] as number) * rng.normal();
      }
    }
  }
  return out;
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
  /** Stop refining when no coordinate moves more than this (default 1e-10). */
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
        let num = 0;
        let den = 0;
        for (let k = 0; k < K; k++) {
          const w = Math.exp((lj[k] as number) - lse);
          const inv2 = Math.exp(-2 * (row.logSigma[k * D + d] as number));
          num += w * inv2 * (row.mu[k * D + d] as number);
          den += w * inv2;
        }
        const next = num / den;
        moved = Math.max(moved, Math.abs(next - (y[d] as number)));
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
