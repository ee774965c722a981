// LayerNorm over the last dimension (eps 1e-5, PyTorch), forward and backward.
// Row statistics accumulate in f32x4 lanes; the elementwise parts are f32x4
// with a scalar tail for width mod 4. Every stored output is flushed
// (|x| < 2^-60 -> 0, see simd-math.ts).
import { sflush, vflush } from "./simd-math";

const EPS: f32 = 1e-5;

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * For each of `rows` rows of x [rows, width]: xhat = (x - mean) / sqrt(var + eps)
 * (stored in pNormed), invStd in pInvStd[rows], y = xhat gamma + beta in pY.
 */
export function layer_norm_forward(
  pX: usize, pGamma: usize, pBeta: usize, pNormed: usize, pInvStd: usize, pY: usize, rows: i32, width: i32,
): void {
  const w4 = width & ~3;
  const w8 = width & ~7;
  const rb = <usize>width << 2;
  const invW: f32 = <f32>1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const x = pX + <usize>r * rb;
    const xn = pNormed + <usize>r * rb;
    const y = pY + <usize>r * rb;
    // two accumulators per sum (even / odd vectors): half the add-latency chain
    let acc = f32x4.splat(0);
    let acc2 = f32x4.splat(0);
    let j = 0;
    for (; j < w8; j += 8) {
      acc = f32x4.add(acc, v128.load(x + (<usize>j << 2)));
      acc2 = f32x4.add(acc2, v128.load(x + (<usize>j << 2), 16));
    }
    for (; j < w4; j += 4) acc = f32x4.add(acc, v128.load(x + (<usize>j << 2)));
    let s = hsum(f32x4.add(acc, acc2));
    for (; j < width; j++) s += load<f32>(x + (<usize>j << 2));
    const mean = s * invW;
    const mv = f32x4.splat(mean);
    acc = f32x4.splat(0);
    acc2 = f32x4.splat(0);
    j = 0;
    for (; j < w8; j += 8) {
      const c = f32x4.sub(v128.load(x + (<usize>j << 2)), mv);
      const c2 = f32x4.sub(v128.load(x + (<usize>j << 2), 16), mv);
      acc = f32x4.add(acc, f32x4.mul(c, c));
      acc2 = f32x4.add(acc2, f32x4.mul(c2, c2));
    }
    for (; j < w4; j += 4) {
      const c = f32x4.sub(v128.load(x + (<usize>j << 2)), mv);
      acc = f32x4.add(acc, f32x4.mul(c, c));
    }
    let v = hsum(f32x4.add(acc, acc2));
    for (; j < width; j++) {
      const c = load<f32>(x + (<usize>j << 2)) - mean;
      v += c * c;
    }
    const is: f32 = <f32>1.0 / Mathf.sqrt(v * invW + EPS);
    store<f32>(pInvStd + (<usize>r << 2), is);
    const isv = f32x4.splat(is);
    j = 0;
    for (; j < w4; j += 4) {
      const o = <usize>j << 2;
      const xh = vflush(f32x4.mul(f32x4.sub(v128.load(x + o), mv), isv));
      v128.store(xn + o, xh);
      v128.store(y + o, vflush(f32x4.add(f32x4.mul(xh, v128.load(pGamma + o)), v128.load(pBeta + o))));
    }
    for (; j < width; j++) {
      const o = <usize>j << 2;
      const xh = sflush((load<f32>(x + o) - mean) * is);
      store<f32>(xn + o, xh);
      store<f32>(y + o, sflush(xh * load<f32>(pGamma + o) + load<f32>(pBeta + o)));
    }
  }
}

/** gGamma[j] += gy[j] xn[j], gBeta[j] += gy[j] for j < cols (one row; SIMD below c4, scalar after). */
// @ts-ignore: decorator
@inline function accumulateParams(gy: usize, xn: usize, pGGamma: usize, pGBeta: usize, c4: i32, cols: i32): void {
  let j = 0;
  for (; j < c4; j += 4) {
    const o = <usize>j << 2;
    const g = v128.load(gy + o);
    v128.store(pGGamma + o, f32x4.add(v128.load(pGGamma + o), f32x4.mul(g, v128.load(xn + o))));
    v128.store(pGBeta + o, f32x4.add(v128.load(pGBeta + o), g));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    const g = load<f32>(gy + o);
    store<f32>(pGGamma + o, load<f32>(pGGamma + o) + g * load<f32>(xn + o));
    store<f32>(pGBeta + o, load<f32>(pGBeta + o) + g);
  }
}

/** Flushes the gamma / beta gradient sums (they feed the optimizer). */
// @ts-ignore: decorator
@inline function flushParams(pGGamma: usize, pGBeta: usize, c4: i32, cols: i32): void {
  let j = 0;
  for (; j < c4; j += 4) {
    const o = <usize>j << 2;
    v128.store(pGGamma + o, vflush(v128.load(pGGamma + o)));
    v128.store(pGBeta + o, vflush(v128.load(pGBeta + o)));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(pGGamma + o, sflush(load<f32>(pGGamma + o)));
    store<f32>(pGBeta + o, sflush(load<f32>(pGBeta + o)));
  }
}

/**
 * mean(g gamma) and mean(g gamma xhat) of one row, in lanes 0 and 1; with `params` (a constant
 * after inlining) the same pass adds the row into the gamma / beta sums, in the order and with
 * the operations of {@link accumulateParams}.
 */
// @ts-ignore: decorator
@inline function rowMeans(gy: usize, xn: usize, pGamma: usize, w4: i32, width: i32, invW: f32, params: bool, pGGamma: usize, pGBeta: usize): v128 {
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let j = 0;
  for (; j < w4; j += 4) {
    const o = <usize>j << 2;
    const g = v128.load(gy + o);
    const xh = v128.load(xn + o);
    if (params) {
      v128.store(pGGamma + o, f32x4.add(v128.load(pGGamma + o), f32x4.mul(g, xh)));
      v128.store(pGBeta + o, f32x4.add(v128.load(pGBeta + o), g));
    }
    const gxh = f32x4.mul(g, v128.load(pGamma + o));
    a1 = f32x4.add(a1, gxh);
    a2 = f32x4.add(a2, f32x4.mul(gxh, xh));
  }
  let m1 = hsum(a1);
  let m2 = hsum(a2);
  for (; j < width; j++) {
    const o = <usize>j << 2;
    const g = load<f32>(gy + o);
    const xh = load<f32>(xn + o);
    if (params) {
      store<f32>(pGGamma + o, load<f32>(pGGamma + o) + g * xh);
      store<f32>(pGBeta + o, load<f32>(pGBeta + o) + g);
    }
    const gxh = g * load<f32>(pGamma + o);
    m1 += gxh;
    m2 += gxh * xh;
  }
  return f32x4.replace_lane(f32x4.splat(m1 * invW), 1, m2 * invW);
}

/** gX of one row from its means (lanes 0, 1 of `m`): is (g gamma - m1 - xhat m2), flushed (gx may be gy). */
// @ts-ignore: decorator
@inline function rowGX(gy: usize, xn: usize, gx: usize, pGamma: usize, is: f32, m: v128, w4: i32, width: i32): void {
  const m1 = f32x4.extract_lane(m, 0);
  const m2 = f32x4.extract_lane(m, 1);
  const isv = f32x4.splat(is);
  const m1v = f32x4.splat(m1);
  const m2v = f32x4.splat(m2);
  let j = 0;
  for (; j < w4; j += 4) {
    const o = <usize>j << 2;
    const gxh = f32x4.mul(v128.load(gy + o), v128.load(pGamma + o));
    v128.store(gx + o, vflush(f32x4.mul(isv, f32x4.sub(f32x4.sub(gxh, m1v), f32x4.mul(v128.load(xn + o), m2v)))));
  }
  for (; j < width; j++) {
    const o = <usize>j << 2;
    const gxh = load<f32>(gy + o) * load<f32>(pGamma + o);
    store<f32>(gx + o, sflush(is * (gxh - m1 - load<f32>(xn + o) * m2)));
  }
}

/**
 * Backward of {@link layer_norm_forward}: from gY [rows, width] writes gX
 * [rows, width] and overwrites gGamma / gBeta [width] with their sums over rows.
 * Per row: the gamma / beta sums read gY, then gX (which may be gY) is written.
 */
export function layer_norm_backward(
  pGY: usize, pNormed: usize, pInvStd: usize, pGamma: usize, pGX: usize, pGGamma: usize, pGBeta: usize, rows: i32, width: i32,
): void {
  const w4 = width & ~3;
  const rb = <usize>width << 2;
  const invW: f32 = <f32>1.0 / <f32>width;
  memory.fill(pGGamma, 0, rb);
  memory.fill(pGBeta, 0, rb);
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * rb;
    const m = rowMeans(pGY + o, pNormed + o, pGamma, w4, width, invW, true, pGGamma, pGBeta);
    rowGX(pGY + o, pNormed + o, pGX + o, pGamma, load<f32>(pInvStd + (<usize>r << 2)), m, w4, width);
  }
  flushParams(pGGamma, pGBeta, w4, width);
}

/**
 * The gX part of {@link layer_norm_backward} for `rows` rows (the same arithmetic, bit for bit):
 * the threads split rows. gX may alias gY only after {@link layer_norm_param_grads} has read gY.
 */
export function layer_norm_backward_rows(
  pGY: usize, pNormed: usize, pInvStd: usize, pGamma: usize, pGX: usize, rows: i32, width: i32,
): void {
  const w4 = width & ~3;
  const rb = <usize>width << 2;
  const invW: f32 = <f32>1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * rb;
    const m = rowMeans(pGY + o, pNormed + o, pGamma, w4, width, invW, false, 0, 0);
    rowGX(pGY + o, pNormed + o, pGX + o, pGamma, load<f32>(pInvStd + (<usize>r << 2)), m, w4, width);
  }
}

/**
 * The gGamma / gBeta part of {@link layer_norm_backward} for `cols` columns of rows `stride`
 * floats apart (pointers offset to the first column; the threads split columns at multiples of
 * 4): sums over all rows in row order, flushed, bit for bit as the fused kernel.
 */
export function layer_norm_param_grads(pGY: usize, pNormed: usize, pGGamma: usize, pGBeta: usize, rows: i32, cols: i32, stride: i32): void {
  const c4 = cols & ~3;
  const rb = <usize>stride << 2;
  memory.fill(pGGamma, 0, <usize>cols << 2);
  memory.fill(pGBeta, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) accumulateParams(pGY + <usize>r * rb, pNormed + <usize>r * rb, pGGamma, pGBeta, c4, cols);
  flushParams(pGGamma, pGBeta, c4, cols);
}
