/**
 * Optimizer updates in tfjs ops with exactly the rules of core's
 * `optimizerUpdate` (PyTorch's SGD / Adam / RMSprop, decoupled weight decay).
 * tf.train's optimizers are not used: their Adam puts eps inside the bias
 * correction differently, their RMSProp adds eps under the square root and
 * their momentum SGD starts the buffer at zero, so they would not match.
 *
 * Moments: `<param>/m` (momentum or first moment) and `<param>/v` (second
 * moment), as tensors; the step count t and the names of the optimizer state
 * are core's ModelFacade's.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { OptimizerSpec } from "@ngem/core";

/** Result of one update: the new parameters and the slots that were written. */
export type UpdateResult = {
  readonly params: Record<string, tf.Tensor>;
  readonly slots: Record<string, tf.Tensor>;
};

/**
 * Computes one update from (already clipped) `grads`. Must run inside
 * `tf.tidy`; returns new tensors for every parameter and for every slot it
 * wrote, leaving the old ones for the caller to dispose. `t` is the step
 * being taken (>= 1); a missing slot is zero.
 */
export function optimizerUpdate(
  o: OptimizerSpec,
  names: readonly string[],
  params: readonly tf.Tensor[],
  grads: readonly tf.Tensor[],
  slots: ReadonlyMap<string, tf.Tensor>,
  t: number,
): UpdateResult {
  const lr = o.lr;
  const wd = o.weightDecay ?? 0;
  const newParams: Record<string, tf.Tensor> = {};
  const newSlots: Record<string, tf.Tensor> = {};
  names.forEach((name, i) => {
    let p = params[i] as tf.Tensor;
    const g = grads[i] as tf.Tensor;
    const slot = (suffix: "m" | "v"): tf.Tensor => slots.get(`${name}/${suffix}`) ?? tf.zerosLike(p);
    if (wd !== 0) p = tf.mul(p, 1 - lr * wd);
    switch (o.type) {
      case "sgd": {
        const mom = o.momentum ?? 0;
        if (mom === 0) {
          p = tf.sub(p, tf.mul(g, lr));
          break;
        }
        const b = t === 1 ? g : tf.add(tf.mul(slot("m"), mom), g);
        newSlots[`${name}/m`] = t === 1 ? tf.clone(g) : b;
        p = tf.sub(p, tf.mul(o.nesterov ? tf.add(g, tf.mul(b, mom)) : b, lr));
        break;
      }
      case "adam": {
        const b1 = o.beta1 ?? 0.9;
        const b2 = o.beta2 ?? 0.999;
        const eps = o.eps ?? 1e-8;
        const c1 = 1 - b1 ** t;
        const c2 = 1 - b2 ** t;
        const m = tf.add(tf.mul(slot("m"), b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(slot("v"), b2), tf.mul(tf.square(g), 1 - b2));
        newSlots[`${name}/m`] = m;
        newSlots[`${name}/v`] = v;
        p = tf.sub(p, tf.div(tf.mul(tf.div(m, c1), lr), tf.add(tf.sqrt(tf.div(v, c2)), eps)));
        break;
      }
      case "rmsprop": {
        const alpha = o.alpha ?? 0.99;
        const eps = o.eps ?? 1e-8;
        const mom = o.momentum ?? 0;
        const v = tf.add(tf.mul(slot("v"), alpha), tf.mul(tf.square(g), 1 - alpha));
        newSlots[`${name}/v`] = v;
        const step = tf.div(g, tf.add(tf.sqrt(v), eps));
        if (mom > 0) {
          const b = tf.add(tf.mul(slot("m"), mom), step);
          newSlots[`${name}/m`] = b;
          p = tf.sub(p, tf.mul(b, lr));
        } else {
          p = tf.sub(p, tf.mul(step, lr));
        }
        break;
      }
    }
    // A parameter that did not change (lr = 0, no decay) must still be a new tensor the caller owns.
    newParams[name] = p === params[i] ? tf.clone(p) : p;
  });
  return { params: newParams, slots: newSlots };
}
