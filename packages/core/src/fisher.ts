/**
 * The blocks of the complete-data Fisher information of a diagonal-Gaussian
 * mixture, per sample (docs/METHOD.md). Exposed so tests and users can check that
 * each nGEM gradient is (inverse Fisher block) x (EM gradient).
 */
import { checkInt, NonFiniteError, ShapeError } from "./errors.js";
import type { FisherCoords } from "./head.js";

/**
 * Categorical block in logit coordinates: F = diag(pi) - pi pi^T, a K x K
 * row-major matrix of rank K - 1 (its null space is the constant vector).
 */
export function categoricalFisher(pi: ArrayLike<number>, offset = 0, k = pi?.length - offset): Float64Array {
  if (pi == null || typeof pi.length !== "number") throw new ShapeError("pi", `expected an array of mixture weights, got ${String(pi)}`);
  checkInt("offset", offset, 0);
  checkInt("k", k, 1);
  if (offset + k > pi.length) throw new ShapeError("pi", `expected at least ${offset + k} entries, got ${pi.length}`);
  for (let i = offset; i < offset + k; i++) {
    const p = pi[i] as number;
    if (!(p >= 0 && p <= 1)) throw new NonFiniteError("pi", i, p, "expected a probability in [0, 1]");
  }
  const F = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    const pi_i = pi[offset + i] as number;
    for (let j = 0; j < k; j++) F[i * k + j] = (i === j ? pi_i : 0) - pi_i * (pi[offset + j] as number);
  }
  return F;
}

/**
 * Diagonal of the Gaussian block of one component, weight w (pi_k for the
 * complete-data Fisher, 1 for the unweighted block that `ngem` uses), as a
 * length-2D array: D entries for mu, then D for the scale coordinate.
 *
 * - coords "log-sigma" (s = log sigma): mu: w / sigma^2, s: 2 w
 * - coords "sigma":                     mu: w / sigma^2, sigma: 2 w / sigma^2
 */
export function gaussianFisherDiagonal(logSigma: ArrayLike<number>, offset: number, d: number, coords: FisherCoords = "log-sigma", weight = 1): Float64Array {
  if (logSigma == null || typeof logSigma.length !== "number")
    throw new ShapeError("logSigma", `expected an array of log standard deviations, got ${String(logSigma)}`);
  checkInt("offset", offset, 0);
  checkInt("d", d, 1);
  if (offset + d > logSigma.length) throw new ShapeError("logSigma", `expected at least ${offset + d} entries, got ${logSigma.length}`);
  if (coords !== "log-sigma" && coords !== "sigma") throw new ShapeError("coords", `expected "log-sigma" | "sigma", got ${JSON.stringify(coords)}`);
  if (!(Number.isFinite(weight) && weight >= 0)) throw new ShapeError("weight", `expected a finite number >= 0 (pi_k, or 1), got ${String(weight)}`);
  for (let i = offset; i < offset + d; i++) {
    const s = logSigma[i] as number;
    if (!Number.isFinite(s)) throw new NonFiniteError("logSigma", i, s);
  }
  const out = new Float64Array(2 * d);
  for (let i = 0; i < d; i++) {
    const inv2 = Math.exp(-2 * (logSigma[offset + i] as number));
    out[i] = weight * inv2;
    out[d + i] = coords === "log-sigma" ? 2 * weight : 2 * weight * inv2;
  }
  return out;
}
