// Optimizer updates over flat parameter ranges, with core's optim.ts (PyTorch)
// rules evaluated in f32 (sgd and rmsprop in the same operation order, adam in PyTorch's):
//   decoupled weight decay: p = p (1 - lr wd)            (when wd != 0)
//   sgd:     b = first ? g : mom b + g;  p -= lr (nesterov ? g + mom b : b)   (p -= lr g when mom = 0)
//   adam:    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= ((lr / c1) m) / (sqrt(v) (1 / sqrt(c2)) + eps)
//            (PyTorch's arrangement; core's float64 reference divides first, the same value)
//   rmsprop: v = alpha v + (1-alpha) g^2; s = g / (sqrt(v) + eps); mom > 0 ? (b = mom b + s; p -= lr b) : p -= lr s
// Scalar tails use the same f32 operations (Adam's: one-lane vectors, for its madd), so every
// element sees identical arithmetic. In the relaxed build Adam's moment updates are one FMA each.
//
// No subnormals (see simd-math.ts): gradients below 2^-56 are read as 0 (so (1-b2) g^2
// stays a normal float32), the stored p, m and momentum buffers are flushed below 2^-60,
// and the second moment v is flushed below max(c2 eps^2 2^-50, 2^-120), where
// sqrt(v / c2) is under half an ulp of eps and so cannot change sqrt(v / c2) + eps.
import { madd, sflush, vflush } from "./simd-math";

/** Gradients below this magnitude are read as 0 by the updates (2^-56). */
const G_FLUSH: f32 = 1.3877787807814457e-17;

// @ts-ignore: decorator
@inline function vflushG(g: v128): v128 {
  return v128.andnot(g, f32x4.lt(f32x4.abs(g), f32x4.splat(G_FLUSH)));
}

// @ts-ignore: decorator
@inline function sflushG(g: f32): f32 {
  return Mathf.abs(g) < G_FLUSH ? <f32>0 : g;
}

/** Flush threshold of a second moment read as sqrt(v / c2) + eps. */
// @ts-ignore: decorator
@inline function vFloor(eps: f32, c2: f32): f32 {
  const t = <f64>c2 * <f64>eps * <f64>eps * 8.881784197001252e-16; // 2^-50
  return <f32>Math.max(t, 7.52316384526264e-37); // 2^-120
}

/** x with lanes below t set to 0, for x >= 0 (second moments: sums of squares), so no abs is needed; NaN passes. */
// @ts-ignore: decorator
@inline function vflushAt(x: v128, t: v128): v128 {
  return v128.andnot(x, f32x4.lt(x, t));
}

// @ts-ignore: decorator
@inline function decay(pP: usize, len: i32, factor: f32): void {
  const v = len & ~3;
  const fv = f32x4.splat(factor);
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pP + o, vflush(f32x4.mul(v128.load(pP + o), fv)));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    store<f32>(pP + o, sflush(load<f32>(pP + o) * factor));
  }
}

/** SGD (momentum, nesterov). `decayFactor` = 1 - lr wd (1 disables decay). */
export function sgd_update(
  pP: usize, pG: usize, pBuf: usize, len: i32, lr: f32, decayFactor: f32, momentum: f32, nesterov: i32, first: i32,
): void {
  if (decayFactor != 1) decay(pP, len, decayFactor);
  const v = len & ~3;
  const lrv = f32x4.splat(lr);
  let i = 0;
  if (momentum == 0) {
    for (; i < v; i += 4) {
      const o = <usize>i << 2;
      v128.store(pP + o, vflush(f32x4.sub(v128.load(pP + o), f32x4.mul(lrv, vflushG(v128.load(pG + o))))));
    }
    for (; i < len; i++) {
      const o = <usize>i << 2;
      store<f32>(pP + o, sflush(load<f32>(pP + o) - lr * sflushG(load<f32>(pG + o))));
    }
    return;
  }
  const mv = f32x4.splat(momentum);
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    const g = vflushG(v128.load(pG + o));
    const b = vflush(first != 0 ? g : f32x4.add(f32x4.mul(mv, v128.load(pBuf + o)), g));
    v128.store(pBuf + o, b);
    const step = nesterov != 0 ? f32x4.add(g, f32x4.mul(mv, b)) : b;
    v128.store(pP + o, vflush(f32x4.sub(v128.load(pP + o), f32x4.mul(lrv, step))));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    const g = sflushG(load<f32>(pG + o));
    const b = sflush(first != 0 ? g : momentum * load<f32>(pBuf + o) + g);
    store<f32>(pBuf + o, b);
    const step = nesterov != 0 ? g + momentum * b : b;
    store<f32>(pP + o, sflush(load<f32>(pP + o) - lr * step));
  }
}

/**
 * Adam. The caller computes ob1 = 1 - b1, ob2 = 1 - b2 and the bias corrections
 * c1 = 1 - b1^t, c2 = 1 - b2^t in float64 (as PyTorch does in Python) before
 * rounding them to f32: 1 - f32(0.999) would be off by 1.3e-5 relative.
 */
export function adam_update(
  pP: usize, pG: usize, pM: usize, pV: usize, len: i32,
  lr: f32, decayFactor: f32, b1: f32, b2: f32, ob1: f32, ob2: f32, eps: f32, c1: f32, c2: f32,
): void {
  if (decayFactor != 1) decay(pP, len, decayFactor);
  const v = len & ~3;
  const b1v = f32x4.splat(b1);
  const b2v = f32x4.splat(b2);
  const ob1v = f32x4.splat(ob1);
  const ob2v = f32x4.splat(ob2);
  // PyTorch's form: p -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps), with lr / c1 and 1 / sqrt(c2)
  // formed once in float64: one sqrt and one division per element instead of one sqrt and three
  const stepv = f32x4.splat(<f32>(<f64>lr / <f64>c1));
  const rc2v = f32x4.splat(<f32>(1 / Math.sqrt(<f64>c2)));
  const epsv = f32x4.splat(eps);
  const vtv = f32x4.splat(vFloor(eps, c2));
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    const g = vflushG(v128.load(pG + o));
    const m = vflush(madd(b1v, v128.load(pM + o), f32x4.mul(ob1v, g)));
    const vv = vflushAt(madd(b2v, v128.load(pV + o), f32x4.mul(f32x4.mul(ob2v, g), g)), vtv);
    v128.store(pM + o, m);
    v128.store(pV + o, vv);
    const den = madd(f32x4.sqrt(vv), rc2v, epsv);
    v128.store(pP + o, vflush(f32x4.sub(v128.load(pP + o), f32x4.div(f32x4.mul(stepv, m), den))));
  }
  // the tail through one-lane vectors: the same operations (madd included) as the body
  for (; i < len; i++) {
    const o = <usize>i << 2;
    const g = vflushG(f32x4.splat(load<f32>(pG + o)));
    const m = vflush(madd(b1v, f32x4.splat(load<f32>(pM + o)), f32x4.mul(ob1v, g)));
    const vv = vflushAt(madd(b2v, f32x4.splat(load<f32>(pV + o)), f32x4.mul(f32x4.mul(ob2v, g), g)), vtv);
    store<f32>(pM + o, f32x4.extract_lane(m, 0));
    store<f32>(pV + o, f32x4.extract_lane(vv, 0));
    const den = madd(f32x4.sqrt(vv), rc2v, epsv);
    store<f32>(pP + o, f32x4.extract_lane(vflush(f32x4.sub(f32x4.splat(load<f32>(pP + o)), f32x4.div(f32x4.mul(stepv, m), den))), 0));
  }
}

/** RMSProp (optionally with momentum on the scaled step); oa = 1 - alpha computed by the caller in float64. */
export function rmsprop_update(
  pP: usize, pG: usize, pV: usize, pBuf: usize, len: i32, lr: f32, decayFactor: f32, alpha: f32, oa: f32, eps: f32, momentum: f32,
): void {
  if (decayFactor != 1) decay(pP, len, decayFactor);
  const v = len & ~3;
  const lrv = f32x4.splat(lr);
  const av = f32x4.splat(alpha);
  const oav = f32x4.splat(oa);
  const epsv = f32x4.splat(eps);
  const mv = f32x4.splat(momentum);
  const useMom = momentum > 0;
  const vt: f32 = vFloor(eps, 1);
  const vtv = f32x4.splat(vt);
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    const g = vflushG(v128.load(pG + o));
    const vv = vflushAt(f32x4.add(f32x4.mul(av, v128.load(pV + o)), f32x4.mul(f32x4.mul(oav, g), g)), vtv);
    v128.store(pV + o, vv);
    const step = f32x4.div(g, f32x4.add(f32x4.sqrt(vv), epsv));
    if (useMom) {
      const b = vflush(f32x4.add(f32x4.mul(mv, v128.load(pBuf + o)), step));
      v128.store(pBuf + o, b);
      v128.store(pP + o, vflush(f32x4.sub(v128.load(pP + o), f32x4.mul(lrv, b))));
    } else {
      v128.store(pP + o, vflush(f32x4.sub(v128.load(pP + o), f32x4.mul(lrv, step))));
    }
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    const g = sflushG(load<f32>(pG + o));
    let vv = alpha * load<f32>(pV + o) + oa * g * g;
    if (vv < vt) vv = 0;
    store<f32>(pV + o, vv);
    const step = g / (Mathf.sqrt(vv) + eps);
    if (useMom) {
      const b = sflush(momentum * load<f32>(pBuf + o) + step);
      store<f32>(pBuf + o, b);
      store<f32>(pP + o, sflush(load<f32>(pP + o) - lr * b));
    } else {
      store<f32>(pP + o, sflush(load<f32>(pP + o) - lr * step));
    }
  }
}
