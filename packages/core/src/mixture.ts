/**
 * Float64 reference math for batched diagonal-Gaussian mixtures.
 *
 * Layout (row-major, flat typed arrays):
 * - `logits`   [N, K]      raw mixture logits a; pi = softmax(a)
 * - `mu`       [N, K, D]   component means
 * - `logSigma` [N, K, D]   log standard deviations s; sigma = exp(s)
 * - `y`        [N, D]      targets
 *
 * Everything is computed in log space with max-subtracted log-sum-exp.
 */
import { checkFinite, checkInt, checkLength, NonFiniteError, ShapeError } from "./errors.js";

/** A float array accepted by every function; results are always Float64Array. */
export type FloatArray = Float32Array | Float64Array;

/** A batch of N diagonal-Gaussian mixtures with K components over R^D. */
export interface MixtureParams {
  readonly n: number;
  readonly k: number;
  readonly d: number;
  /** [N, K] */
  readonly logits: FloatArray;
  /** [N, K, D] */
  readonly mu: FloatArray;
  /** [N, K, D] */
  readonly logSigma: FloatArray;
}

/** 0.5 * log(2 pi) */
export const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * Checks shapes (and, unless `finite` is false, finiteness) of a mixture and
 * optional targets. Throws {@link ShapeError} / {@link NonFiniteError} naming
 * the argument and the expected shape.
 */
export function validateMixture(m: MixtureParams, y?: FloatArray | null, finite = true): void {
  if (m == null || typeof m !== "object") throw new ShapeError("params", `expected a MixtureParams object { n, k, d, logits, mu, logSigma }, got ${String(m)}`);
  checkInt("n", m.n, 1);
  checkInt("k", m.k, 1);
  checkInt("d", m.d, 1);
  const N: [string, number] = ["N", m.n];
  const K: [string, number] = ["K", m.k];
  const D: [string, number] = ["D", m.d];
  checkLength("logits", m.logits, [N, K]);
  checkLength("mu", m.mu, [N, K, D]);
  checkLength("logSigma", m.logSigma, [N, K, D]);
  if (y !== undefined && y !== null) checkLength("y", y, [N, D]);
  else if (y === null) throw new ShapeError("y", `expected a typed array of shape [N, D] = [${m.n}, ${m.d}], got null`);
  if (finite) {
    checkFinite("logits", m.logits);
    checkFinite("mu", m.mu);
    checkFinite("logSigma", m.logSigma);
    if (y) checkFinite("y", y);
  }
}

/**
 * Stable log(sum(exp(x[offset .. offset+length)))).
 * Edge cases: empty range -> -Infinity; all -Infinity -> -Infinity; any +Infinity -> +Infinity; NaN propagates.
 */
export function logsumexp(x: ArrayLike<number>, offset = 0, length = x.length - offset): number {
  let m = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = x[offset + i] as number;
    if (v > m || Number.isNaN(v)) m = v;
  }
  if (m === -Infinity || m === Infinity || Number.isNaN(m)) return m;
  let s = 0;
  for (let i = 0; i < length; i++) s += Math.exp((x[offset + i] as number) - m);
  return m + Math.log(s);
}

/** Stable log-softmax of one row, written to `out[outOffset ..]`. Returns the row's log-sum-exp. */
export function logSoftmaxRow(x: ArrayLike<number>, offset: number, length: number, out: Float64Array, outOffset = 0): number {
  const lse = logsumexp(x, offset, length);
  for (let i = 0; i < length; i++) out[outOffset + i] = (x[offset + i] as number) - lse;
  return lse;
}

/** Checks x is an [rows, cols] matrix (rows >= 0, cols >= 1). */
function checkMatrix(x: ArrayLike<number>, rows: number, cols: number): void {
  checkInt("rows", rows, 0);
  checkInt("cols", cols, 1);
  checkLength("x", x, [
    ["rows", rows],
    ["cols", cols],
  ]);
}

/** Row-wise log-softmax of an [rows, cols] matrix. Throws ShapeError unless x.length = rows * cols. NaN propagates to its row. */
export function logSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  checkMatrix(x, rows, cols);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) logSoftmaxRow(x, r * cols, cols, out, r * cols);
  return out;
}

/** Row-wise softmax of an [rows, cols] matrix (mixture weights pi from logits). Throws ShapeError unless x.length = rows * cols. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = logSoftmax(x, rows, cols);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i] as number);
  return out;
}

/**
 * Diagonal-Gaussian log-density of every component, log N[n,k] =
 * sum_d ( -0.5 ((y_d - mu_kd)/sigma_kd)^2 - s_kd - 0.5 log(2 pi) ). Shape [N, K].
 * Uses (y - mu) * exp(-s), so sigma in [1e-300, 1e300] stays finite.
 */
export function componentLogDensity(m: MixtureParams, y: FloatArray): Float64Array {
  if (y == null) throw new ShapeError("y", `expected a typed array of shape [N, D] = [${m?.n}, ${m?.d}] (the targets), got ${String(y)}`);
  validateMixture(m, y);
  const { n: N, k: K, d: D, mu, logSigma } = m;
  const out = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let acc = -D * HALF_LOG_2PI;
      const base = (n * K + k) * D;
      for (let d = 0; d < D; d++) {
        const s = logSigma[base + d] as number;
        const z = ((y[n * D + d] as number) - (mu[base + d] as number)) * Math.exp(-s);
        acc -= 0.5 * z * z + s;
      }
      out[n * K + k] = acc;
    }
  }
  return out;
}

/** Per-component log-joint l[n,k] = log pi[n,k] + log N[n,k]. Shape [N, K]. */
export function logJoint(m: MixtureParams, y: FloatArray): Float64Array {
  const l = componentLogDensity(m, y);
  const { n: N, k: K } = m;
  const lp = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    logSoftmaxRow(m.logits, n * K, K, lp);
    for (let k = 0; k < K; k++) l[n * K + k] = (l[n * K + k] as number) + (lp[k] as number);
  }
  return l;
}

/** log p(y_n | params_n) for each row: logsumexp_k l[n,k]. Shape [N]. */
export function logProb(m: MixtureParams, y: FloatArray): Float64Array {
  const l = logJoint(m, y);
  const out = new Float64Array(m.n);
  for (let n = 0; n < m.n; n++) out[n] = logsumexp(l, n * m.k, m.k);
  return out;
}

/** E-step: responsibilities rho[n,k] = softmax_k l[n,k] = p(z = k | x_n, y_n). Shape [N, K]. */
export function responsibilities(m: MixtureParams, y: FloatArray): Float64Array {
  const l = logJoint(m, y);
  const { n: N, k: K } = m;
  for (let n = 0; n < N; n++) {
    const lse = logsumexp(l, n * K, K);
    for (let k = 0; k < K; k++) l[n * K + k] = Math.exp((l[n * K + k] as number) - lse);
  }
  return l;
}

/**
 * Mean negative log-likelihood over the batch, -(1/N) sum_n logsumexp_k l[n,k].
 * Throws {@link NonFiniteError} if a row's density underflows to zero for every
 * component (only when |y - mu| / sigma exceeds ~1e154).
 */
export function nll(m: MixtureParams, y: FloatArray): number {
  const lp = logProb(m, y);
  let s = 0;
  for (let n = 0; n < m.n; n++) {
    const v = lp[n] as number;
    if (!Number.isFinite(v)) throw new NonFiniteError("nll", n, -v, "density of sample n underflowed for every component");
    s -= v;
  }
  return s / m.n;
}

/**
 * The EM objective as a loss: -(1/N) sum_n sum_k rho[n,k] l[n,k](params), with
 * `rho` held fixed (the E-step of some earlier params; pass
 * `responsibilities(m, y)` for the current ones). Terms with rho = 0 contribute 0.
 */
export function negQ(m: MixtureParams, y: FloatArray, rho: FloatArray): number {
  const l = logJoint(m, y);
  checkLength("rho", rho, [
    ["N", m.n],
    ["K", m.k],
  ]);
  let s = 0;
  for (let i = 0; i < l.length; i++) {
    const r = rho[i] as number;
    if (r !== 0) s -= r * (l[i] as number);
  }
  return s / m.n;
}
