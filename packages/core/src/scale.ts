/**
 * Scale parameterisations, sigma floors and covariance choices of the mixture
 * head, and the nGEM gradient in the network's raw scale output r.
 *
 * sigma = sigmaMin + f(r), with
 * - `exp`      f = exp(r)                         (default; with sigmaMin = 0, log sigma = r exactly)
 * - `softplus` f = log(1 + exp(r))
 * - `elu+1`    f = r + 1 (r > 0), exp(r) (r <= 0)
 *
 * Covariance (raw scale entries per sample, S):
 * - `diag`      S = K*D, one sigma per component and dimension (default)
 * - `isotropic` S = K,   one sigma per component, shared by its D dimensions
 * - `shared`    S = D,   one sigma per dimension, shared by the K components
 *
 * Gradients w.r.t. r, from the diagonal head's log-sigma column g_s (see head.ts)
 * and s'(r) = d log sigma / dr = f'(r) / (sigmaMin + f(r)):
 * - `nll`, `em` (chain rule):         g_r = sum over tied (k,d) of g_s * s'
 * - `ngem`, `ngem-full`, fisherCoords "log-sigma" (natural gradient in the
 *   network's output coordinate r): the Fisher of r is sum over tied entries
 *   of w * 2 * s'^2 (w = 1 for ngem, pi_k for ngem-full), so
 *     g_r = A(g_s) / max(s', SCALE_GRAD_EPS)
 *   with A the w-weighted mean of the tied natural log-sigma steps
 *   (diag: the entry itself; isotropic: the mean over d; shared: the mean over
 *   k for ngem, the pi'-weighted mean for ngem-full, pi' = max(pi, piFloor)).
 *   The max(s', eps) bounds the step where the floor saturates the scale
 *   (s' -> 0); it is exact wherever s' >= eps.
 * - natural variants, fisherCoords "sigma": natural gradient in sigma, then the
 *   chain rule to r: g_r = A(g_s) * s'.
 * - damping (head.ts) acts on each entry's block in the Fisher coordinates before
 *   this reduction (A and the division are unchanged); a scale block left out of
 *   `precondition` carries the EM column and is chained like nll / em.
 */
import { checkInt, checkLength, ShapeError } from "./errors.js";
import type { FloatArray, MixtureParams } from "./mixture.js";

export type ScaleParam = "exp" | "softplus" | "elu+1";
export type Covariance = "diag" | "isotropic" | "shared";
export const SCALE_PARAMS: readonly ScaleParam[] = ["exp", "softplus", "elu+1"];
export const COVARIANCES: readonly Covariance[] = ["diag", "isotropic", "shared"];

/** Lower bound on s' used by the natural-gradient division (see the module doc). */
export const SCALE_GRAD_EPS = 1e-3;

export interface ScaleOptions {
  /** Default `"exp"`. */
  readonly scale?: ScaleParam;
  /** Floor added to every sigma (default 0). */
  readonly sigmaMin?: number;
  /** Default `"diag"`. */
  readonly covariance?: Covariance;
}

export function resolveScaleOptions(o: ScaleOptions = {}): Required<ScaleOptions> {
  const scale = o.scale ?? "exp";
  if (!SCALE_PARAMS.includes(scale)) throw new ShapeError("scale", `expected one of ${SCALE_PARAMS.join(" | ")}, got ${String(scale)}`);
  const sigmaMin = o.sigmaMin ?? 0;
  if (!(Number.isFinite(sigmaMin) && sigmaMin >= 0)) throw new ShapeError("sigmaMin", `expected a finite number >= 0, got ${String(sigmaMin)}`);
  const covariance = o.covariance ?? "diag";
  if (!COVARIANCES.includes(covariance)) throw new ShapeError("covariance", `expected one of ${COVARIANCES.join(" | ")}, got ${String(covariance)}`);
  return { scale, sigmaMin, covariance };
}

/** True for the default head (exp, no floor, diag), whose raw scale is log sigma itself. */
export function isDefaultScale(o: ScaleOptions = {}): boolean {
  const r = resolveScaleOptions(o);
  return r.scale === "exp" && r.sigmaMin === 0 && r.covariance === "diag";
}

/** Raw scale entries per sample. */
export function scaleWidth(k: number, d: number, covariance: Covariance = "diag"): number {
  return covariance === "diag" ? k * d : covariance === "isotropic" ? k : d;
}

/** Index of the raw scale entry (within a sample) that sigma[k, d] uses. */
export function scaleIndex(k: number, d: number, D: number, covariance: Covariance): number {
  return covariance === "diag" ? k * D + d : covariance === "isotropic" ? k : d;
}

/** log sigma and s' = d log sigma / dr for one raw value. */
export function logSigmaOf(r: number, scale: ScaleParam, sigmaMin: number): { s: number; ds: number; floored: boolean } {
  const floored = logSigmaInto(r, scale, sigmaMin, ONE);
  return { s: ONE[0] as number, ds: ONE[1] as number, floored };
}

const ONE = new Float64Array(2);

/**
 * {@link logSigmaOf} without allocating (for per-step loops over a backend's
 * memory): writes log sigma to out[at] and s' to out[at + 1]; returns whether
 * the floor dominates (f(r) < sigmaMin).
 */
export function logSigmaInto(r: number, scale: ScaleParam, sigmaMin: number, out: Float64Array, at = 0): boolean {
  if (scale === "exp") {
    if (sigmaMin === 0) {
      out[at] = r;
      out[at + 1] = 1;
      return false;
    }
    // log(sigmaMin + e^r), stable both ways
    const e = Math.exp(r);
    out[at] = r > Math.log(sigmaMin) ? r + Math.log1p(sigmaMin * Math.exp(-r)) : Math.log(sigmaMin) + Math.log1p(e / sigmaMin);
    out[at + 1] = 1 / (1 + sigmaMin * Math.exp(-r));
    return e < sigmaMin;
  }
  let f: number;
  let df: number;
  if (scale === "softplus") {
    f = r > 0 ? r + Math.log1p(Math.exp(-r)) : Math.log1p(Math.exp(r));
    df = r >= 0 ? 1 / (1 + Math.exp(-r)) : Math.exp(r) / (1 + Math.exp(r));
  } else {
    f = r > 0 ? r + 1 : Math.exp(r);
    df = r > 0 ? 1 : Math.exp(r);
  }
  const sigma = sigmaMin + f;
  out[at] = Math.log(sigma);
  out[at + 1] = df / sigma;
  return sigmaMin > 0 && f < sigmaMin;
}

/** A head's raw outputs: logits [N,K], mu [N,K,D], raw scale [N,S]. */
export interface RawHead {
  readonly n: number;
  readonly k: number;
  readonly d: number;
  readonly logits: FloatArray;
  readonly mu: FloatArray;
  readonly scale: FloatArray;
}

export interface ExpandedHead {
  /** The diagonal mixture the raw outputs describe (logSigma [N,K,D]). */
  readonly params: MixtureParams;
  /** s' per raw scale entry, [N,S]. */
  readonly dsdr: Float64Array;
  /** Raw scale entries where the floor dominates (f(r) < sigmaMin). */
  readonly floorHits: number;
}

/** Maps raw head outputs to the diagonal mixture they describe. */
export function expandScale(raw: RawHead, o: ScaleOptions = {}): ExpandedHead {
  const { scale, sigmaMin, covariance } = resolveScaleOptions(o);
  checkInt("n", raw.n, 1);
  checkInt("k", raw.k, 1);
  checkInt("d", raw.d, 1);
  const { n: N, k: K, d: D } = raw;
  const S = scaleWidth(K, D, covariance);
  checkLength("scale", raw.scale, [
    ["N", N],
    ["S", S],
  ]);
  const sOf = new Float64Array(N * S);
  const dsdr = new Float64Array(N * S);
  let floorHits = 0;
  for (let i = 0; i < N * S; i++) {
    const v = logSigmaOf(raw.scale[i] as number, scale, sigmaMin);
    sOf[i] = v.s;
    dsdr[i] = v.ds;
    if (v.floored) floorHits++;
  }
  let logSigma: Float64Array;
  if (covariance === "diag") logSigma = sOf;
  else {
    logSigma = new Float64Array(N * K * D);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        for (let d = 0; d < D; d++) logSigma[(n * K + k) * D + d] = sOf[n * S + scaleIndex(k, d, D, covariance)] as number;
      }
    }
  }
  return { params: { n: N, k: K, d: D, logits: raw.logits, mu: raw.mu, logSigma }, dsdr, floorHits };
}

/**
 * Turns the diagonal head's log-sigma gradient gS [N,K,D] into the gradient
 * w.r.t. the raw scale [N,S] for the given variant (see the module doc).
 * `pi` [N,K] is needed for `ngem-full` with shared sigmas.
 */
export function reduceScaleGrad(
  gS: Float64Array,
  dsdr: Float64Array,
  dims: { n: number; k: number; d: number },
  o: ScaleOptions & { variant: string; fisherCoords: string; piFloor: number; precondition?: readonly string[] },
  pi?: ArrayLike<number>,
): Float64Array {
  const { covariance } = resolveScaleOptions(o);
  const { n: N, k: K, d: D } = dims;
  const S = scaleWidth(K, D, covariance);
  const out = new Float64Array(N * S);
  // a scale block left out of `precondition` carries the EM gradient: chained like nll / em
  const natural = (o.variant === "ngem" || o.variant === "ngem-full") && (o.precondition?.includes("scale") ?? true);
  const weighted = natural && o.variant === "ngem-full" && covariance === "shared";
  if (weighted && !pi) throw new ShapeError("pi", "ngem-full with shared sigmas needs the mixture weights pi [N, K]");
  for (let n = 0; n < N; n++) {
    reduceScaleRow(gS, n * K * D, dsdr, n * S, out, n * S, K, D, covariance, natural, o.fisherCoords === "sigma", weighted ? pi : undefined, n * K, o.piFloor);
  }
  return out;
}

/**
 * {@link reduceScaleGrad}'s rule for one sample, on flat arrays at offsets and
 * without allocating (sums in float64 whatever `out` holds): the log-sigma
 * gradient gS[g0 + k*D + d] and s' at ds[d0 + j] give out[o0 + j], j < S.
 * `natural`: the natural-gradient rule of ngem / ngem-full (false: the chain
 * rule of nll / em); `sigmaCoords`: fisherCoords "sigma". `pi` (at p0, length K):
 * ngem-full with shared sigmas weighs component k by max(pi_k, piFloor);
 * undefined weighs every tied entry 1.
 */
export function reduceScaleRow(
  gS: ArrayLike<number>,
  g0: number,
  ds: ArrayLike<number>,
  d0: number,
  out: FloatArray,
  o0: number,
  K: number,
  D: number,
  covariance: Covariance,
  natural: boolean,
  sigmaCoords: boolean,
  pi?: ArrayLike<number>,
  p0 = 0,
  piFloor = 0,
): void {
  const S = scaleWidth(K, D, covariance);
  // tied entries per raw entry j: diag the entry itself, isotropic (k = j, every d), shared (every k, d = j)
  const tied = covariance === "diag" ? 1 : covariance === "isotropic" ? D : K;
  const w = covariance === "shared" ? pi : undefined;
  let wsum = tied;
  if (natural && w) {
    wsum = 0;
    for (let k = 0; k < K; k++) wsum += Math.max(w[p0 + k] as number, piFloor);
  }
  for (let j = 0; j < S; j++) {
    const dsv = ds[d0 + j] as number;
    let sum = 0;
    for (let t = 0; t < tied; t++) {
      const g = gS[g0 + (covariance === "diag" ? j : covariance === "isotropic" ? j * D + t : t * D + j)] as number;
      sum += natural ? (w ? Math.max(w[p0 + t] as number, piFloor) : 1) * g : g * dsv;
    }
    if (!natural) out[o0 + j] = sum;
    else {
      const a = sum / wsum;
      out[o0 + j] = sigmaCoords ? a * dsv : a / Math.max(dsv, SCALE_GRAD_EPS);
    }
  }
}
