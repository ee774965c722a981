/**
 * The fused mixture head: NLL, -Q and the output gradients of every training
 * variant of docs/METHOD.md, in one pass over the batch (float64 reference).
 *
 * Gradients are w.r.t. the network's raw outputs (logits a, means mu,
 * log-scales s) and are averaged over the batch (divided by N).
 *
 * | variant     | d/da                 | d/dmu                | d/ds (fisherCoords "log-sigma", default) | d/ds (fisherCoords "sigma")     |
 * |-------------|----------------------|----------------------|------------------------------------------|---------------------------------|
 * | `nll`       | pi - rho             | -rho (y-mu)/sigma^2  | -rho ((y-mu)^2/sigma^2 - 1)              | (same)                          |
 * | `em`        | pi - rho             | -rho (y-mu)/sigma^2  | -rho ((y-mu)^2/sigma^2 - 1)              | (same)                          |
 * | `ngem`      | pi - rho             | -rho (y-mu)          | -rho ((y-mu)^2/sigma^2 - 1) / 2          | -rho ((y-mu)^2 - sigma^2) / 2   |
 * | `ngem-full` | centred(1 - rho/pi') | -(rho/pi') (y-mu)    | -(rho/pi') ((y-mu)^2/sigma^2 - 1) / 2    | -(rho/pi') ((y-mu)^2 - sigma^2)/2 |
 *
 * pi' = max(pi, piFloor). `centred` subtracts the mean over k, which makes the
 * logits step the minimum-norm (pseudo-inverse) solution of
 * (diag(pi) - pi pi^T) g = pi - rho.
 *
 * **Damping** (`damping` = lambda >= 0, Levenberg-Marquardt; default 0 = the table
 * above, same code path): each preconditioned block becomes (F + lambda I)^-1 g_em
 * with the Fisher F the variant uses (c = 1 for `ngem`, c = pi' for `ngem-full`):
 *
 * | block                     | lambda = 0 (table above)        | lambda > 0                                        |
 * |---------------------------|---------------------------------|---------------------------------------------------|
 * | d/dmu                     | -(rho/c) (y-mu)                 | -rho (y-mu) / (c + lambda sigma^2)                |
 * | d/ds, "log-sigma" (F = 2c)| -(rho/c) ((y-mu)^2/sigma^2-1)/2 | -rho ((y-mu)^2/sigma^2 - 1) / (2c + lambda)       |
 * | d/ds, "sigma" (F = 2c/sigma^2, then x sigma) | -(rho/c) ((y-mu)^2 - sigma^2)/2 | -rho ((y-mu)^2 - sigma^2) / (2c + lambda sigma^2) |
 * | d/da, `ngem`              | pi - rho                        | pi - rho (not preconditioned)                     |
 * | d/da, `ngem-full`         | centred(1 - rho/pi')            | centred((b_k + pi_k C) / (pi_k + lambda))         |
 *
 * with b = pi - rho and C = (sum_j pi_j b_j / (pi_j + lambda)) / (lambda sum_j pi_j / (pi_j + lambda)):
 * the Sherman-Morrison solution of (diag(pi) - pi pi^T + lambda I) g = b (it is already orthogonal to
 * the constant vector; centring only removes rounding). The categorical block uses pi itself, not
 * pi' (with floored weights diag(pi') - pi' pi'^T can be indefinite; with lambda > 0 none is needed).
 * lambda -> infinity gives (1/lambda) x the EM gradient: damping interpolates between nGEM and a
 * scaled EM step, and bounds every natural step by |g_em| / lambda.
 *
 * **Precondition** (`precondition`, a subset of "logits" | "mu" | "scale", default all three): blocks
 * left out get the EM gradient (the `em` row) instead of the natural one (an ablation knob; for
 * `ngem` "logits" changes nothing). On the raw-scale path (scale.ts) a scale block left out is
 * chained like `em`'s.
 */
import { NonFiniteError, ShapeError } from "./errors.js";
import { HALF_LOG_2PI, logsumexp, softmax, validateMixture, type FloatArray, type MixtureParams } from "./mixture.js";
import { expandScale, isDefaultScale, reduceScaleGrad, resolveScaleOptions, type RawHead, type ScaleOptions } from "./scale.js";

/** Which gradient the head returns. The reported loss is the NLL for all of them. */
export type Variant = "nll" | "em" | "ngem" | "ngem-full";
export const VARIANTS: readonly Variant[] = ["nll", "em", "ngem", "ngem-full"];

/** Coordinates in which the Gaussian Fisher block is inverted (see docs/METHOD.md). */
export type FisherCoords = "log-sigma" | "sigma";

/** Output blocks the natural variants can precondition (see {@link HeadOptions.precondition}). */
export type PreconditionBlock = "logits" | "mu" | "scale";
export const PRECONDITION_BLOCKS: readonly PreconditionBlock[] = ["logits", "mu", "scale"];

export interface HeadOptions {
  /** Default `"ngem"`. */
  readonly variant?: Variant;
  /** Default `"log-sigma"`: natural gradient in the network's output coordinate s = log sigma. */
  readonly fisherCoords?: FisherCoords;
  /**
   * `ngem-full` only: pi is floored at this value before dividing (rho/pi), so
   * a component with vanishing weight cannot produce an unbounded step.
   * Default {@link DEFAULT_PI_FLOOR}. Must be in (0, 1].
   */
  readonly piFloor?: number;
  /**
   * `ngem` / `ngem-full`: Levenberg-Marquardt damping lambda >= 0 of every preconditioned Fisher
   * block, (F + lambda I)^-1 g_em (formulas in this file's header). Default 0: undamped, exactly
   * the natural gradient of the table. Ignored by `nll` / `em`.
   */
  readonly damping?: number;
  /**
   * `ngem` / `ngem-full`: the blocks that get the natural-gradient transform; the others get the
   * EM gradient. Default all three, ["logits", "mu", "scale"]. Ignored by `nll` / `em`.
   */
  readonly precondition?: readonly PreconditionBlock[];
}

/** Default floor on pi for `ngem-full` (bounds rho/pi by 100). */
export const DEFAULT_PI_FLOOR = 1e-2;

export interface HeadGradients {
  /** [N, K] */
  readonly logits: Float64Array;
  /** [N, K, D] */
  readonly mu: Float64Array;
  /** [N, K, D] */
  readonly logSigma: Float64Array;
}

export interface HeadResult {
  /** Mean NLL over the batch (the reported loss, whatever the variant). */
  readonly loss: number;
  /** Mean -Q at the current parameters (rho from the same parameters). */
  readonly negQ: number;
  /** Output gradients of the chosen variant, averaged over the batch. */
  readonly grads: HeadGradients;
}

/** Resolves defaults and validates options. */
export function resolveHeadOptions(opts: HeadOptions = {}): Required<HeadOptions> {
  const variant = opts.variant ?? "ngem";
  if (!VARIANTS.includes(variant)) {
    throw new ShapeError("variant", `expected one of ${VARIANTS.join(" | ")}, got ${String(variant)}`);
  }
  const fisherCoords = opts.fisherCoords ?? "log-sigma";
  if (fisherCoords !== "log-sigma" && fisherCoords !== "sigma") {
    throw new ShapeError("fisherCoords", `expected "log-sigma" | "sigma", got ${String(fisherCoords)}`);
  }
  const piFloor = opts.piFloor ?? DEFAULT_PI_FLOOR;
  if (!(piFloor > 0 && piFloor <= 1)) throw new ShapeError("piFloor", `expected a number in (0, 1], got ${piFloor}`);
  const damping = opts.damping ?? 0;
  if (typeof damping !== "number" || !(damping >= 0 && Number.isFinite(damping))) {
    throw new ShapeError("damping", `expected a finite number >= 0 (Levenberg-Marquardt lambda), got ${String(damping)}`);
  }
  const pre = opts.precondition ?? PRECONDITION_BLOCKS;
  if (!Array.isArray(pre) || pre.some((b) => !PRECONDITION_BLOCKS.includes(b)) || new Set(pre).size !== pre.length) {
    throw new ShapeError("precondition", `expected distinct blocks of ${PRECONDITION_BLOCKS.map((b) => `"${b}"`).join(" | ")}, got ${JSON.stringify(pre)}`);
  }
  // canonical order, so equal sets compare (and serialise) equal
  const precondition = PRECONDITION_BLOCKS.filter((b) => pre.includes(b));
  return { variant, fisherCoords, piFloor, damping, precondition };
}

/** The precondition set as a bit mask: 1 logits, 2 mu, 4 scale (7 = all, the default). */
export function preconditionMask(precondition: readonly PreconditionBlock[] = PRECONDITION_BLOCKS): number {
  return (precondition.includes("logits") ? 1 : 0) | (precondition.includes("mu") ? 2 : 0) | (precondition.includes("scale") ? 4 : 0);
}

/**
 * Damped natural gradient of the categorical block: the solution g of
 * (diag(pi) - pi pi^T + lambda I) g = b for lambda > 0 (Sherman-Morrison), centred
 * (K entries each).
 */
export function dampedCategorical(pi: ArrayLike<number>, b: ArrayLike<number>, lambda: number, k: number, out: Float64Array): void {
  let num = 0;
  let den = 0;
  for (let j = 0; j < k; j++) {
    const p = pi[j] as number;
    const q = p / (p + lambda);
    num += q * (b[j] as number);
    den += q;
  }
  const c = num / (lambda * den);
  let mean = 0;
  for (let j = 0; j < k; j++) {
    const p = pi[j] as number;
    const g = ((b[j] as number) + p * c) / (p + lambda);
    out[j] = g;
    mean += g;
  }
  mean /= k;
  for (let j = 0; j < k; j++) out[j] = (out[j] as number) - mean;
}

/**
 * NLL, -Q and the output gradients of `opts.variant` for a batch of mixtures.
 * Throws {@link ShapeError} on bad shapes and {@link NonFiniteError} on
 * non-finite inputs or a density that underflows for every component.
 */
export function mixtureHead(m: MixtureParams, y: FloatArray, opts: HeadOptions = {}): HeadResult {
  validateMixture(m, y);
  const { variant, fisherCoords, piFloor, damping, precondition } = resolveHeadOptions(opts);
  const { n: N, k: K, d: D, logits, mu, logSigma } = m;
  const gA = new Float64Array(N * K);
  const gMu = new Float64Array(N * K * D);
  const gS = new Float64Array(N * K * D);
  const l = new Float64Array(K); // log-joint l[k]
  const rho = new Float64Array(K);
  const lp = new Float64Array(K); // log pi
  const invN = 1 / N;
  let lossSum = 0;
  let negQSum = 0;
  const natural = variant === "ngem" || variant === "ngem-full";
  const full = variant === "ngem-full";
  const sigmaCoords = fisherCoords === "sigma";
  const mask = natural ? preconditionMask(precondition) : 0;
  // today's code path (the table) unless damping or a partial precondition set asks otherwise
  const plain = !natural || (damping === 0 && mask === 7);
  const fullLogits = full && (mask & 1) !== 0;
  const preMu = (mask & 2) !== 0;
  const preScale = (mask & 4) !== 0;
  const piRow = new Float64Array(K);
  const bRow = new Float64Array(K);
  const gRow = new Float64Array(K);

  for (let n = 0; n < N; n++) {
    // log pi
    const lseA = logsumexp(logits, n * K, K);
    for (let k = 0; k < K; k++) lp[k] = (logits[n * K + k] as number) - lseA;
    // l[k] = log pi_k + log N_k
    for (let k = 0; k < K; k++) {
      const base = (n * K + k) * D;
      let acc = (lp[k] as number) - D * HALF_LOG_2PI;
      for (let d = 0; d < D; d++) {
        const s = logSigma[base + d] as number;
        const z = ((y[n * D + d] as number) - (mu[base + d] as number)) * Math.exp(-s);
        acc -= 0.5 * z * z + s;
      }
      l[k] = acc;
    }
    const lse = logsumexp(l, 0, K);
    if (!Number.isFinite(lse)) {
      throw new NonFiniteError("nll", n, -lse, "density of sample n underflowed for every component");
    }
    lossSum -= lse;

    // rho, pi; logits gradient
    let rhoSum = 0;
    for (let k = 0; k < K; k++) {
      const r = Math.exp((l[k] as number) - lse);
      rho[k] = r;
      rhoSum += r;
      if (r !== 0) negQSum -= r * (l[k] as number);
    }
    if (fullLogits && damping > 0) {
      for (let k = 0; k < K; k++) {
        const pi = Math.exp(lp[k] as number);
        piRow[k] = pi;
        bRow[k] = pi * rhoSum - (rho[k] as number);
      }
      dampedCategorical(piRow, bRow, damping, K, gRow);
      for (let k = 0; k < K; k++) gA[n * K + k] = (gRow[k] as number) * invN;
    } else {
      let centre = 0;
      for (let k = 0; k < K; k++) {
        const r = rho[k] as number;
        const pi = Math.exp(lp[k] as number);
        let g: number;
        if (fullLogits) {
          g = 1 - r / Math.max(pi, piFloor);
          centre += g;
        } else {
          // d NLL / d a_k = sum_j (-rho_j) (delta_jk - pi_k) = pi_k * sum(rho) - rho_k
          g = pi * rhoSum - r;
        }
        gA[n * K + k] = g;
      }
      if (fullLogits) {
        centre /= K;
        for (let k = 0; k < K; k++) gA[n * K + k] = (gA[n * K + k] as number) - centre;
      }
      for (let k = 0; k < K; k++) gA[n * K + k] = (gA[n * K + k] as number) * invN;
    }

    // Gaussian blocks
    for (let k = 0; k < K; k++) {
      const r = rho[k] as number;
      const pi = Math.exp(lp[k] as number);
      const base = (n * K + k) * D;
      if (!plain) {
        // damped and/or partial: (c F + lambda)^-1 on the preconditioned blocks, EM on the others
        if (r === 0) continue;
        const c = full ? Math.max(pi, piFloor) : 1;
        const w = r * invN;
        for (let d = 0; d < D; d++) {
          const s = logSigma[base + d] as number;
          const diff = (y[n * D + d] as number) - (mu[base + d] as number);
          const invSigma = Math.exp(-s);
          const z = diff * invSigma;
          const z2 = z * z;
          const sigma2 = Math.exp(2 * s);
          gMu[base + d] = preMu ? (-w * diff) / (c + damping * sigma2) : -w * z * invSigma;
          if (!preScale) gS[base + d] = -w * (z2 - 1);
          else if (sigmaCoords) gS[base + d] = (-w * (diff * diff - sigma2)) / (2 * c + damping * sigma2);
          else gS[base + d] = (-w * (z2 - 1)) / (2 * c + damping);
        }
        continue;
      }
      const w = (full ? r / Math.max(pi, piFloor) : r) * invN;
      if (w === 0) continue; // gradients stay 0
      for (let d = 0; d < D; d++) {
        const s = logSigma[base + d] as number;
        const diff = (y[n * D + d] as number) - (mu[base + d] as number);
        const invSigma = Math.exp(-s);
        const z = diff * invSigma;
        const z2 = z * z;
        if (!natural) {
          gMu[base + d] = -w * z * invSigma;
          gS[base + d] = -w * (z2 - 1);
        } else {
          gMu[base + d] = -w * diff;
          if (sigmaCoords) {
            const sigma = Math.exp(s);
            gS[base + d] = -0.5 * w * (diff * diff - sigma * sigma);
          } else {
            gS[base + d] = -0.5 * w * (z2 - 1);
          }
        }
      }
    }
  }
  return { loss: lossSum * invN, negQ: negQSum * invN, grads: { logits: gA, mu: gMu, logSigma: gS } };
}

/**
 * Exact gradient of {@link negQ} w.r.t. (logits, mu, logSigma) for an
 * arbitrary fixed `rho` [N, K] (rows need not sum to 1), averaged over N.
 * At rho = responsibilities(params) this equals the NLL gradient (Prop. 3.1).
 */
export function negQGradients(m: MixtureParams, y: FloatArray, rho: FloatArray): HeadGradients {
  validateMixture(m, y);
  const { n: N, k: K, d: D, logits, mu, logSigma } = m;
  const gA = new Float64Array(N * K);
  const gMu = new Float64Array(N * K * D);
  const gS = new Float64Array(N * K * D);
  for (let n = 0; n < N; n++) {
    const lse = logsumexp(logits, n * K, K);
    let rs = 0;
    for (let k = 0; k < K; k++) rs += rho[n * K + k] as number;
    for (let k = 0; k < K; k++) {
      const r = rho[n * K + k] as number;
      const pi = Math.exp((logits[n * K + k] as number) - lse);
      // -d/da_k sum_j r_j log softmax(a)_j = -(r_k - pi_k sum_j r_j)
      gA[n * K + k] = (pi * rs - r) / N;
      const base = (n * K + k) * D;
      for (let d = 0; d < D; d++) {
        const sigma2 = Math.exp(2 * (logSigma[base + d] as number));
        const diff = (y[n * D + d] as number) - (mu[base + d] as number);
        gMu[base + d] = (-r * diff) / sigma2 / N;
        gS[base + d] = (-r * ((diff * diff) / sigma2 - 1)) / N;
      }
    }
  }
  return { logits: gA, mu: gMu, logSigma: gS };
}

/** Output gradients w.r.t. a raw head (see scale.ts): scale is [N, S]. */
export interface RawHeadGradients {
  readonly logits: Float64Array;
  readonly mu: Float64Array;
  readonly scale: Float64Array;
}

export interface RawHeadResult {
  readonly loss: number;
  readonly negQ: number;
  readonly grads: RawHeadGradients;
  /** Raw scale entries where the sigma floor dominates (f(r) < sigmaMin). */
  readonly floorHits: number;
  /** The diagonal mixture the raw outputs describe. */
  readonly params: MixtureParams;
}

/**
 * The fused head on raw outputs with a scale parameterisation, sigma floor and
 * covariance choice (scale.ts): expands to the diagonal mixture, runs
 * {@link mixtureHead}, and maps the log-sigma gradient to the raw scale.
 * For the defaults (exp, sigmaMin 0, diag) it equals {@link mixtureHead}.
 */
export function mixtureHeadRaw(raw: RawHead, y: FloatArray, opts: HeadOptions & ScaleOptions = {}): RawHeadResult {
  const head = resolveHeadOptions(opts);
  const ex = expandScale(raw, opts);
  const r = mixtureHead(ex.params, y, head);
  const cov = resolveScaleOptions(opts).covariance;
  const pi = head.variant === "ngem-full" && cov === "shared" ? softmax(raw.logits, raw.n, raw.k) : undefined;
  const scale = isDefaultScale(opts) ? r.grads.logSigma : reduceScaleGrad(r.grads.logSigma, ex.dsdr, raw, { ...opts, ...head }, pi);
  return { loss: r.loss, negQ: r.negQ, grads: { logits: r.grads.logits, mu: r.grads.mu, scale }, floorHits: ex.floorHits, params: ex.params };
}
