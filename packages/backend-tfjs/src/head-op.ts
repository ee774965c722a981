/**
 * The mixture head in tfjs ops: E-step, NLL, -Q, and the nGEM variants as a
 * custom gradient (`tf.customGrad`), so that everything before the head is
 * plain tfjs autodiff while the gradient entering the head's outputs is
 * exactly the variant of docs/METHOD.md (same table as core's `mixtureHead`):
 *
 * | variant     | d/da                 | d/dmu                | d/ds ("log-sigma")               | d/ds ("sigma")                  |
 * |-------------|----------------------|----------------------|----------------------------------|---------------------------------|
 * | `nll`       | tfjs autodiff of the NLL (the same values as `em`)                                                   |||
 * | `em`        | pi - rho             | -rho (y-mu)/sigma^2  | -rho ((y-mu)^2/sigma^2 - 1)      | (same)                          |
 * | `ngem`      | pi - rho             | -rho (y-mu)          | -rho ((y-mu)^2/sigma^2 - 1) / 2  | -rho ((y-mu)^2 - sigma^2) / 2   |
 * | `ngem-full` | centred(1 - rho/pi') | -(rho/pi') (y-mu)    | -(rho/pi') (...) / 2             | -(rho/pi') (...) / 2            |
 *
 * with pi' = max(pi, piFloor). With `damping` lambda > 0 or a partial `precondition` set, the
 * natural rows are core's damped table (head.ts): (c F + lambda)^-1 g_em per preconditioned block,
 * EM on the others. The op's value is always the mean NLL and its
 * gradients are averaged over the batch (divided by N) and scaled by the
 * incoming gradient dy.
 *
 * With a non-default head (`spec.head`: scale parameterisation, sigma floor,
 * covariance; core's scale.ts) the op {@link rawHeadLoss} takes the raw scale
 * output r [N, S] instead of log sigma: it expands r to the diagonal mixture
 * (sigma = sigmaMin + f(r), tied entries broadcast), runs the same E-step and
 * the table above in log sigma, and returns the raw-scale gradient of the
 * variant (core's `reduceScaleGrad`): the chain rule for `nll`/`em`,
 * A(g_s) / max(s', SCALE_GRAD_EPS) for the natural variants in "log-sigma"
 * coordinates and A(g_s) * s' in "sigma" coordinates, A being the weighted
 * mean over tied entries.
 */
import * as tf from "@tensorflow/tfjs-core";
import { HALF_LOG_2PI, SCALE_GRAD_EPS, scaleWidth, type Covariance, type HeadOptions, type ScaleOptions } from "@ngem/core";

/** Head outputs as tensors: logits [N, K], mu [N, K, D], logSigma [N, K, D]. */
export interface HeadTensors {
  readonly logits: tf.Tensor;
  readonly mu: tf.Tensor;
  readonly logSigma: tf.Tensor;
}

/** E-step quantities of one batch. */
export interface EStep {
  /** log pi [N, K] */
  readonly logPi: tf.Tensor;
  /** y - mu [N, K, D] */
  readonly diff: tf.Tensor;
  /** exp(-s) [N, K, D] */
  readonly invSigma: tf.Tensor;
  /** log pi + log N, [N, K] */
  readonly logJoint: tf.Tensor;
  /** logsumexp_k of the log-joint, [N, 1] (= -NLL per sample) */
  readonly lse: tf.Tensor;
  /** responsibilities [N, K] */
  readonly rho: tf.Tensor;
}

/**
 * Log-space E-step; `y` is [N, D]. All logsumexps subtract the max.
 * Differentiable (tfjs autodiff) in logits, mu and logSigma.
 */
export function eStep(h: HeadTensors, y: tf.Tensor): EStep {
  const [n, , d] = h.mu.shape as [number, number, number];
  const logPi = tf.sub(h.logits, tf.logSumExp(h.logits, 1, true));
  const diff = tf.sub(tf.reshape(y, [n, 1, d]), h.mu);
  const invSigma = tf.exp(tf.neg(h.logSigma));
  const z = tf.mul(diff, invSigma);
  const logN = tf.sub(tf.add(tf.mul(tf.sum(tf.square(z), 2), -0.5), tf.neg(tf.sum(h.logSigma, 2))), d * HALF_LOG_2PI);
  const logJoint = tf.add(logPi, logN);
  const lse = tf.logSumExp(logJoint, 1, true);
  const rho = tf.exp(tf.sub(logJoint, lse));
  return { logPi, diff, invSigma, logJoint, lse, rho };
}

/** Mean -Q at the current parameters (rho from the same parameters, held fixed). */
export function negQOf(e: EStep): tf.Tensor {
  const n = e.rho.shape[0] as number;
  // rho = 0 terms contribute 0 (as in core), also where the log-joint is -inf in float32 (0 * -inf = NaN)
  const terms = tf.where(tf.equal(e.rho, 0), tf.zerosLike(e.rho), tf.mul(e.rho, e.logJoint));
  return tf.div(tf.neg(tf.sum(terms)), n);
}

/** Largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;

/**
 * w * g with exact zeros where w = 0 (w broadcast along the last axis of g): a
 * component with zero weight has zero gradient even where its g overflowed
 * float32 (|y - mu| / sigma past ~1e19 makes g infinite, and 0 * inf = NaN).
 */
function weighted(w3: tf.Tensor, g: tf.Tensor): tf.Tensor {
  // w * g is NaN where 0 * inf, or where g itself is NaN. Recompute those entries with g clamped to
  // the float32 range: 0 * FLT_MAX = 0, while a NaN g stays NaN (and is reported as non-finite).
  // No [N, K, D] copy of w for a mask: this is on the head's hot path.
  const prod = tf.mul(w3, g);
  return tf.where(tf.isNaN(prod), tf.mul(w3, tf.clipByValue(g, -FLT_MAX, FLT_MAX)), prod);
}

/**
 * Output gradients of a variant (per sample, not yet averaged) from the saved
 * E-step: logits, mu and the diagonal log-sigma column (core's head.ts table),
 * plus pi. Shared by the default and the raw-scale head ops.
 */
function variantGradients(
  rho: tf.Tensor,
  logPi: tf.Tensor,
  diff: tf.Tensor,
  invSigma: tf.Tensor,
  s: tf.Tensor,
  opts: Required<HeadOptions>,
): { pi: tf.Tensor; gA: tf.Tensor; gMu: tf.Tensor; gS: tf.Tensor } {
  const full = opts.variant === "ngem-full";
  const natural = opts.variant === "ngem" || full;
  const pi = tf.exp(logPi);
  const lambda = opts.damping;
  const pre = opts.precondition;
  if (natural && (lambda > 0 || pre.length !== 3)) return dampedGradients(rho, pi, diff, invSigma, s, opts);
  let gA: tf.Tensor;
  let w: tf.Tensor; // per-component weight of the Gaussian blocks, [N, K]
  if (full) {
    w = tf.div(rho, tf.maximum(pi, opts.piFloor));
    const g = tf.sub(1, w);
    gA = tf.sub(g, tf.mean(g, 1, true)); // minimum-norm solution: centred over k
  } else {
    w = rho;
    gA = tf.sub(tf.mul(pi, tf.sum(rho, 1, true)), rho); // = pi - rho (rows of rho sum to 1)
  }
  const w3 = tf.expandDims(w, 2);
  let gMu: tf.Tensor;
  let gS: tf.Tensor;
  if (!natural) {
    const z = tf.mul(diff, invSigma);
    gMu = tf.neg(weighted(w3, tf.mul(z, invSigma)));
    gS = tf.neg(weighted(w3, tf.sub(tf.square(z), 1)));
  } else {
    gMu = tf.neg(weighted(w3, diff));
    const inner = opts.fisherCoords === "sigma" ? tf.sub(tf.square(diff), tf.exp(tf.mul(s, 2))) : tf.sub(tf.square(tf.mul(diff, invSigma)), 1);
    gS = tf.mul(weighted(w3, inner), -0.5);
  }
  return { pi, gA, gMu, gS };
}

/**
 * The natural variants with damping lambda > 0 and/or a partial `precondition` set (core's head.ts):
 * (c F + lambda)^-1 g_em on the preconditioned blocks (c = 1 for ngem, pi' for ngem-full), the EM
 * gradient on the others; ngem-full's categorical block by Sherman-Morrison, centred.
 */
function dampedGradients(
  rho: tf.Tensor,
  pi: tf.Tensor,
  diff: tf.Tensor,
  invSigma: tf.Tensor,
  s: tf.Tensor,
  opts: Required<HeadOptions>,
): { pi: tf.Tensor; gA: tf.Tensor; gMu: tf.Tensor; gS: tf.Tensor } {
  const full = opts.variant === "ngem-full";
  const lambda = opts.damping;
  const pre = opts.precondition;
  const em = tf.sub(tf.mul(pi, tf.sum(rho, 1, true)), rho); // pi - rho
  let gA: tf.Tensor;
  if (full && pre.includes("logits")) {
    if (lambda > 0) {
      // g_k = (b_k + pi_k C) / (pi_k + lambda), C = sum_j q_j b_j / (lambda sum_j q_j), q = pi / (pi + lambda)
      const q = tf.div(pi, tf.add(pi, lambda));
      const c = tf.div(tf.sum(tf.mul(q, em), 1, true), tf.mul(tf.sum(q, 1, true), lambda));
      const g = tf.div(tf.add(em, tf.mul(pi, c)), tf.add(pi, lambda));
      gA = tf.sub(g, tf.mean(g, 1, true));
    } else {
      const g = tf.sub(1, tf.div(rho, tf.maximum(pi, opts.piFloor)));
      gA = tf.sub(g, tf.mean(g, 1, true));
    }
  } else gA = em;
  const cw = tf.expandDims(full ? tf.maximum(pi, opts.piFloor) : tf.onesLike(pi), 2); // [N, K, 1]
  const r3 = tf.expandDims(rho, 2);
  const sigma2 = tf.exp(tf.mul(s, 2));
  const z = tf.mul(diff, invSigma);
  const z2m1 = tf.sub(tf.square(z), 1);
  const gMu = pre.includes("mu") ? tf.neg(weighted(r3, tf.div(diff, tf.add(cw, tf.mul(sigma2, lambda))))) : tf.neg(weighted(r3, tf.mul(z, invSigma)));
  let gS: tf.Tensor;
  if (!pre.includes("scale")) gS = tf.neg(weighted(r3, z2m1));
  else if (opts.fisherCoords === "sigma") gS = tf.neg(weighted(r3, tf.div(tf.sub(tf.square(diff), sigma2), tf.add(tf.mul(cw, 2), tf.mul(sigma2, lambda)))));
  else gS = tf.neg(weighted(r3, tf.div(z2m1, tf.add(tf.mul(cw, 2), lambda))));
  return { pi, gA, gMu, gS };
}

/** A scalar loss of the head outputs whose gradient is the chosen variant's. */
export type HeadLossFn = (logits: tf.Tensor, mu: tf.Tensor, logSigma: tf.Tensor) => tf.Tensor;

/**
 * Builds the head loss for targets `y` [N, D]: its value is the mean NLL; its
 * gradient w.r.t. (logits, mu, logSigma) is the one of `opts.variant`
 * (`nll`: tfjs autodiff; the others: a custom gradient).
 */
export function headLoss(y: tf.Tensor, opts: Required<HeadOptions>): HeadLossFn {
  if (opts.variant === "nll") {
    return (logits, mu, logSigma) => tf.neg(tf.mean(eStep({ logits, mu, logSigma }, y).lse));
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, mu, logSigma, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const e = eStep({ logits, mu, logSigma }, y);
    save([e.rho, e.logPi, e.diff, e.invSigma, logSigma]);
    return {
      value: tf.neg(tf.mean(e.lse)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [rho, logPi, diff, invSigma, s] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const n = rho.shape[0] as number;
        const scale = tf.div(dy, n); // batch mean, times the incoming gradient
        const { gA, gMu, gS } = variantGradients(rho, logPi, diff, invSigma, s, opts);
        return [tf.mul(gA, scale), tf.mul(gMu, scale), tf.mul(gS, scale)];
      },
    };
  });
  return (logits, mu, logSigma) => op(logits, mu, logSigma);
}

/** Raw head outputs: logits [N, K], mu [N, K, D], raw scale r [N, S] (see core's scale.ts). */
export interface RawHeadTensors {
  readonly logits: tf.Tensor;
  readonly mu: tf.Tensor;
  readonly scale: tf.Tensor;
}

/** log sigma, s' = d log sigma / dr and f(r), elementwise on the raw scale (no gradient is taken through these). */
export function scaleOf(r: tf.Tensor, o: Required<ScaleOptions>): { s: tf.Tensor; ds: tf.Tensor; f: tf.Tensor } {
  const m = o.sigmaMin;
  if (o.scale === "exp") {
    const f = tf.exp(r);
    if (m === 0) return { s: r, ds: tf.onesLike(r), f };
    // log(m + e^r) = max(r, log m) + log1p(e^-|r - log m|); s' = sigmoid(r - log m)
    const lm = Math.log(m);
    const t = tf.sub(r, lm);
    const s = tf.add(tf.maximum(r, lm), tf.log1p(tf.exp(tf.neg(tf.abs(t)))));
    return { s, ds: tf.sigmoid(t), f };
  }
  let f: tf.Tensor;
  let df: tf.Tensor;
  if (o.scale === "softplus") {
    // stable log(1 + e^r); below r = -16, e^r itself (log1p(x) = x to float32 precision there,
    // and tfjs-wasm's log1p returns 0 for such x, which made sigma 0 and the NLL NaN)
    f = tf.where(tf.less(r, -16), tf.exp(r), tf.add(tf.relu(r), tf.log1p(tf.exp(tf.neg(tf.abs(r))))));
    df = tf.sigmoid(r);
  } else {
    // elu+1: f = r + 1 (r > 0), e^r (r <= 0)
    const pos = tf.greater(r, 0);
    const e = tf.exp(tf.minimum(r, 0));
    f = tf.where(pos, tf.add(r, 1), e);
    df = tf.where(pos, tf.onesLike(r), e);
    if (m === 0) return { s: tf.where(pos, tf.log1p(r), r), ds: tf.where(pos, tf.reciprocal(tf.add(r, 1)), tf.onesLike(r)), f };
  }
  const sigma = m === 0 ? f : tf.add(f, m);
  return { s: tf.log(sigma), ds: tf.div(df, sigma), f };
}

/** Broadcasts per-entry values [N, S] to the diagonal layout [N, K, D]. */
export function expandToDiag(v: tf.Tensor, k: number, d: number, covariance: Covariance): tf.Tensor {
  const n = v.shape[0] as number;
  if (covariance === "diag") return tf.reshape(v, [n, k, d]);
  if (covariance === "isotropic") return tf.broadcastTo(tf.reshape(v, [n, k, 1]), [n, k, d]);
  return tf.broadcastTo(tf.reshape(v, [n, 1, d]), [n, k, d]);
}

/** The diagonal log sigma [N, K, D] that the raw scale r [N, S] describes. */
export function expandLogSigma(r: tf.Tensor, k: number, d: number, o: Required<ScaleOptions>): tf.Tensor {
  return expandToDiag(scaleOf(r, o).s, k, d, o.covariance);
}

/** Number of raw scale entries with f(r) < sigmaMin (an int32 scalar; 0 when sigmaMin = 0). */
export function floorHitsOf(r: tf.Tensor, o: Required<ScaleOptions>): tf.Tensor {
  if (o.sigmaMin === 0) return tf.scalar(0, "int32");
  return tf.sum(tf.cast(tf.less(scaleOf(r, o).f, o.sigmaMin), "int32"));
}

/**
 * Head loss on raw outputs (logits [N,K], mu [N,K,D], raw scale r [N,S]) for
 * targets `y` [N, D] and a non-default head: its value is the mean NLL; its
 * gradient w.r.t. (logits, mu, r) is the one of `opts.variant` reduced to the
 * raw scale (core's `mixtureHeadRaw`). Every variant, `nll` included, is a
 * custom gradient here (for `nll` and `em` it is the chain rule).
 */
export function rawHeadLoss(y: tf.Tensor, opts: Required<HeadOptions>, scale: Required<ScaleOptions>, k: number, d: number): HeadLossFn {
  const { variant, fisherCoords, piFloor } = opts;
  const full = variant === "ngem-full";
  // a scale block left out of `precondition` carries the EM column: chained like nll / em
  const natural = (variant === "ngem" || full) && opts.precondition.includes("scale");
  const sigmaCoords = fisherCoords === "sigma";
  const cov = scale.covariance;
  const S = scaleWidth(k, d, cov);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, mu, r, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const n = logits.shape[0] as number;
    const sc = scaleOf(tf.reshape(r, [n, S]), scale);
    const logSigma = expandToDiag(sc.s, k, d, cov);
    const e = eStep({ logits, mu, logSigma }, y);
    save([e.rho, e.logPi, e.diff, e.invSigma, logSigma, sc.ds]);
    return {
      value: tf.neg(tf.mean(e.lse)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [rho, logPi, diff, invSigma, s, ds] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const scaleBy = tf.div(dy, n);
        // gS: the log-sigma column of the diagonal head, [N, K, D]
        const { pi, gA, gMu, gS } = variantGradients(rho, logPi, diff, invSigma, s, opts);
        let gR: tf.Tensor; // [N, S]
        if (!natural) {
          // chain rule: sum over the tied entries of g_s * s'
          const tied = cov === "diag" ? tf.reshape(gS, [n, S]) : cov === "isotropic" ? tf.sum(gS, 2) : tf.sum(gS, 1);
          gR = tf.mul(tied, ds);
        } else {
          // A: (weighted) mean of the tied natural log-sigma steps
          let a: tf.Tensor;
          if (cov === "diag") a = tf.reshape(gS, [n, S]);
          else if (cov === "isotropic") a = tf.mean(gS, 2);
          else if (full) {
            const wk = tf.maximum(pi, piFloor); // [N, K]
            a = tf.div(tf.sum(tf.mul(gS, tf.expandDims(wk, 2)), 1), tf.sum(wk, 1, true));
          } else a = tf.mean(gS, 1);
          gR = sigmaCoords ? tf.mul(a, ds) : tf.div(a, tf.maximum(ds, SCALE_GRAD_EPS));
        }
        return [tf.mul(gA, scaleBy), tf.mul(gMu, scaleBy), tf.reshape(tf.mul(gR, scaleBy), r.shape)];
      },
    };
  });
  return (logits, mu, r) => op(logits, mu, r);
}
