/**
 * Proper scoring rules and calibration statistics for predictive mixtures:
 * CRPS (closed form for Gaussian mixtures), pinball (quantile) loss and the
 * uniformity of PIT values.
 *
 * All functions are scale-equivariant where the score is: CRPS and pinball
 * loss are in the units of y, so a score computed on standardised data times
 * the standard deviation of y equals the score in original units.
 *
 * Edge cases: a component with sigma = 0 is a point mass (A(m, 0) = |m|);
 * NaN in any input gives NaN for that row; +-Infinity in y gives Infinity.
 */
import { ShapeError } from "./errors.js";
import { softmax, validateMixture, type MixtureParams } from "./mixture.js";
import { erf } from "./special.js";

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * A(m, s) = E|m + s Z| for Z ~ N(0, 1) = 2 s phi(m/s) + m (2 Phi(m/s) - 1),
 * with `s` the standard deviation (not the variance: callers pass
 * hypot(sigma_j, sigma_k), which does not overflow where sigma^2 would).
 * 2 Phi(z) - 1 is computed as erf(z / sqrt 2), which keeps its relative
 * accuracy near z = 0.
 */
export function crpsA(m: number, s: number): number {
  if (s === 0) return Math.abs(m);
  const z = m / s;
  return 2 * s * INV_SQRT_2PI * Math.exp(-0.5 * z * z) + m * erf(z * Math.SQRT1_2);
}

/**
 * CRPS of a single Gaussian N(mu, sigma^2) at y (Gneiting & Raftery 2007):
 * sigma [ z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi) ], z = (y - mu) / sigma.
 */
export function crpsGaussian(y: number, mu: number, sigma: number): number {
  if (sigma === 0) return Math.abs(y - mu);
  const z = (y - mu) / sigma;
  return sigma * (z * erf(z * Math.SQRT1_2) + 2 * INV_SQRT_2PI * Math.exp(-0.5 * z * z) - INV_SQRT_PI);
}

/**
 * CRPS of a one-dimensional Gaussian mixture sum_k pi_k N(mu_k, sigma_k^2) at y
 * (Grimit et al. 2006):
 *
 *   CRPS = sum_k pi_k A(y - mu_k, sigma_k^2) - 1/2 sum_{j,k} pi_j pi_k A(mu_j - mu_k, sigma_j^2 + sigma_k^2)
 *
 * O(K^2). The result is clamped at 0 (the two terms can differ by rounding
 * when the mixture is a near point mass at y).
 */
export function crpsMixture1d(y: number, pi: ArrayLike<number>, mu: ArrayLike<number>, sigma: ArrayLike<number>): number {
  const K = pi.length;
  if (mu.length !== K || sigma.length !== K) throw new ShapeError("mu/sigma", `expected ${K} components each, got ${mu.length} and ${sigma.length}`);
  let a = 0;
  for (let k = 0; k < K; k++) a += (pi[k] as number) * crpsA(y - (mu[k] as number), sigma[k] as number);
  let b = 0;
  for (let j = 0; j < K; j++) {
    const pj = pi[j] as number;
    // diagonal: A(0, sqrt 2 sigma) = 2 sqrt(2) sigma phi(0)
    b += pj * pj * crpsA(0, Math.SQRT2 * (sigma[j] as number));
    for (let k = j + 1; k < K; k++)
      b += 2 * pj * (pi[k] as number) * crpsA((mu[j] as number) - (mu[k] as number), Math.hypot(sigma[j] as number, sigma[k] as number));
  }
  const c = a - 0.5 * b;
  return Number.isNaN(c) ? c : Math.max(0, c);
}

/**
 * CRPS of every row and dimension [N, D]: for D > 1, the CRPS of each
 * one-dimensional marginal (a mixture with the same weights and the d-th
 * coordinate of each component) at y[n, d]. Average over d for one number.
 */
export function crpsMixture(m: MixtureParams, y: ArrayLike<number>): Float64Array {
  validateMixture(m, undefined, false);
  const { n: N, k: K, d: D } = m;
  if (y.length !== N * D) throw new ShapeError("y", `expected shape [N, D] = [${N}, ${D}] (length ${N * D}), got length ${y.length}`);
  const pi = softmax(m.logits, N, K);
  const out = new Float64Array(N * D);
  const mu = new Float64Array(K);
  const sigma = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    const w = pi.subarray(n * K, (n + 1) * K);
    for (let d = 0; d < D; d++) {
      for (let k = 0; k < K; k++) {
        mu[k] = m.mu[(n * K + k) * D + d] as number;
        sigma[k] = Math.exp(m.logSigma[(n * K + k) * D + d] as number);
      }
      out[n * D + d] = crpsMixture1d(y[n * D + d] as number, w, mu, sigma);
    }
  }
  return out;
}

/** Pinball (quantile) loss of the tau-quantile forecast q at y: (y - q) (tau - 1{y < q}). Non-negative. */
export function pinballLoss(y: number, q: number, tau: number): number {
  if (!(tau > 0 && tau < 1)) throw new ShapeError("tau", `expected a probability in (0, 1), got ${tau}`);
  const e = y - q;
  return e >= 0 ? tau * e : (tau - 1) * e;
}

/** How far PIT values are from U(0, 1). */
export interface PitUniformity {
  readonly n: number;
  /** Kolmogorov-Smirnov distance sup |F_n(u) - u| (0 = uniform, 1 = worst). */
  readonly ks: number;
  /** Asymptotic p-value of the KS distance (Kolmogorov distribution, Stephens' small-n correction). */
  readonly ksPValue: number;
  /** Pearson chi-square of the histogram against equal counts n/bins. */
  readonly chiSquare: number;
  /** Degrees of freedom of the chi-square: bins - 1. */
  readonly df: number;
  readonly bins: number;
}

/** Kolmogorov's survival function Q(lambda) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2). */
export function kolmogorovSf(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 0.2) return 1;
  let s = 0;
  for (let j = 1; j <= 100; j++) {
    const t = Math.exp(-2 * j * j * lambda * lambda);
    s += (j % 2 === 1 ? 1 : -1) * t;
    if (t < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

/**
 * KS distance and chi-square statistic of PIT values `u` (each in [0, 1])
 * against the uniform distribution. Empty input gives NaN statistics.
 */
export function pitUniformity(u: ArrayLike<number>, bins = 10): PitUniformity {
  if (!Number.isInteger(bins) || bins < 1) throw new ShapeError("bins", `expected an integer >= 1, got ${bins}`);
  const n = u.length;
  if (n === 0) return { n, ks: NaN, ksPValue: NaN, chiSquare: NaN, df: bins - 1, bins };
  const s = Float64Array.from(u).sort();
  let ks = 0;
  for (let i = 0; i < n; i++) {
    const v = s[i] as number;
    ks = Math.max(ks, (i + 1) / n - v, v - i / n);
  }
  const counts = new Float64Array(bins);
  for (const v of s) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(v * bins)));
    counts[b] = (counts[b] as number) + 1;
  }
  const e = n / bins;
  let chi = 0;
  for (let b = 0; b < bins; b++) chi += ((counts[b] as number) - e) ** 2 / e;
  const rn = Math.sqrt(n);
  return { n, ks, ksPValue: kolmogorovSf((rn + 0.12 + 0.11 / rn) * ks), chiSquare: chi, df: bins - 1, bins };
}
