/**
 * The mixture head in tfjs ops: E-step, NLL, -Q, and the nGEM variants as a
 * custom gradient (`tf.customGrad`), so that everything before the head is
 * plain tfjs autodiff while the gradient entering the head's outputs is
 * exactly the variant of method.md (same table as core's `mixtureHead`):
 *
 * | variant     | d/da                 | d/dmu                | d/ds ("log-sigma")               | d/ds ("sigma")                  |
 * |-------------|----------------------|----------------------|----------------------------------|---------------------------------|
 * | `nll`       | tfjs autodiff of the NLL (the same values as `em`)                                                   |||
 * | `em`        | pi - rho             | -rho (y-mu)/sigma^2  | -rho ((y-mu)^2/sigma^2 - 1)      | (same)                          |
 * | `ngem`      | pi - rho             | -rho (y-mu)          | -rho ((y-mu)^2/sigma^2 - 1) / 2  | -rho ((y-mu)^2 - sigma^2) / 2   |
 * | `ngem-full` | centred(1 - rho/pi') | -(rho/pi') (y-mu)    | -(rho/pi') (...) / 2             | -(rho/pi') (...) / 2            |
 *
 * with pi' = max(pi, piFloor). The op's value is always the mean NLL and its
 * gradients are averaged over the batch (divided by N) and scaled by the
 * incoming gradient dy.
 */
import * as tf from "@tensorflow/tfjs-core";
import { HALF_LOG_2PI, type HeadOptions } from "@ngem/core";

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
  return tf.div(tf.neg(tf.sum(tf.mul(e.rho, e.logJoint))), n);
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
  const { variant, fisherCoords, piFloor } = opts;
  const full = variant === "ngem-full";
  const natural = variant !== "em";
  const sigmaCoords = fisherCoords === "sigma";
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
        const pi = tf.exp(logPi);
        let gA: tf.Tensor;
        let w: tf.Tensor; // per-component weight of the Gaussian blocks, [N, K]
        if (full) {
          w = tf.div(rho, tf.maximum(pi, piFloor));
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
          gMu = tf.neg(tf.mul(w3, tf.mul(z, invSigma)));
          gS = tf.neg(tf.mul(w3, tf.sub(tf.square(z), 1)));
        } else {
          gMu = tf.neg(tf.mul(w3, diff));
          const inner = sigmaCoords
            ? tf.sub(tf.square(diff), tf.exp(tf.mul(s, 2)))
            : tf.sub(tf.square(tf.mul(diff, invSigma)), 1);
          gS = tf.mul(tf.mul(w3, inner), -0.5);
        }
        return [tf.mul(gA, scale), tf.mul(gMu, scale), tf.mul(gS, scale)];
      },
    };
  });
  return (logits, mu, logSigma) => op(logits, mu, logSigma);
}
