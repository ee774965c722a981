// Elementwise activations and their backward passes (f32x4, scalar tail).
// GELU is the exact erf form, as core's reference.
// Outputs are flushed (|x| < 2^-60 -> 0, see simd-math.ts); so is act'(x) before the
// product, so gOut * act' never forms a subnormal.
import { madd, verf, vexp, vflush, vtanh } from "./simd-math";

/** Activation codes of the ABI. */
export const ACT_GELU: i32 = 0;
export const ACT_TANH: i32 = 1;
export const ACT_RELU: i32 = 2;

// @ts-ignore: decorator
@inline function geluE(x: v128): v128 {
  return verf(f32x4.mul(x, f32x4.splat(0.70710678118654752)));
}

// @ts-ignore: decorator
@inline function geluY(x: v128, e: v128): v128 {
  // 0.5 x (1 + erf(x / sqrt 2))
  const hx = f32x4.mul(f32x4.splat(0.5), x);
  return madd(hx, e, hx);
}

// @ts-ignore: decorator
@inline function geluD(x: v128, e: v128): v128 {
  // 0.5 (1 + erf(x / sqrt 2)) + x phi(x)
  const phi = vexp(f32x4.mul(f32x4.mul(x, x), f32x4.splat(-0.5)));
  return madd(f32x4.mul(x, f32x4.splat(0.39894228040143268)), phi, madd(f32x4.splat(0.5), e, f32x4.splat(0.5)));
}

/** The shared part of act(x) and act'(x): erf(x / sqrt 2) for GELU, tanh(x) for tanh, x for ReLU. */
// @ts-ignore: decorator
@inline function shared(kind: i32, x: v128): v128 {
  if (kind == ACT_RELU) return x;
  if (kind == ACT_TANH) return vtanh(x);
  return geluE(x);
}

/** act(x) from {@link shared}. */
// @ts-ignore: decorator
@inline function yOf(kind: i32, x: v128, e: v128): v128 {
  if (kind == ACT_RELU) return f32x4.max(x, f32x4.splat(0));
  if (kind == ACT_TANH) return e;
  return geluY(x, e);
}

/** act'(x) from {@link shared}. */
// @ts-ignore: decorator
@inline function dOf(kind: i32, x: v128, e: v128): v128 {
  if (kind == ACT_RELU) return v128.and(f32x4.gt(x, f32x4.splat(0)), f32x4.splat(1.0));
  if (kind == ACT_TANH) return f32x4.sub(f32x4.splat(1.0), f32x4.mul(e, e));
  return geluD(x, e);
}

/** act(x). */
// @ts-ignore: decorator
@inline function fwd(kind: i32, x: v128): v128 {
  return yOf(kind, x, shared(kind, x));
}

/** act'(x). */
// @ts-ignore: decorator
@inline function deriv(kind: i32, x: v128): v128 {
  return dOf(kind, x, shared(kind, x));
}

/** out[i] = act(x[i]) for i < len (in place allowed). */
export function act_forward(kind: i32, pX: usize, pOut: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pOut + o, vflush(fwd(kind, v128.load(pX + o))));
  }
  // scalar tail through a one-lane vector, so tails match the SIMD body bit for bit
  for (; i < len; i++) {
    const o = <usize>i << 2;
    store<f32>(pOut + o, f32x4.extract_lane(vflush(fwd(kind, f32x4.splat(load<f32>(pX + o)))), 0));
  }
}

/** gIn[i] = gOut[i] * act'(pre[i]) for i < len (gIn may alias gOut). */
export function act_backward(kind: i32, pPre: usize, pGOut: usize, pGIn: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pGIn + o, vflush(f32x4.mul(v128.load(pGOut + o), vflush(deriv(kind, v128.load(pPre + o))))));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    const g = f32x4.mul(f32x4.splat(load<f32>(pGOut + o)), vflush(deriv(kind, f32x4.splat(load<f32>(pPre + o)))));
    store<f32>(pGIn + o, f32x4.extract_lane(vflush(g), 0));
  }
}

/**
 * Training forward: out[i] = act(x[i]) and deriv[i] = act'(x[i]) (flushed), so the backward is
 * one product ({@link mul_flush}) instead of evaluating act' again: for GELU the erf is shared
 * and only exp is added here. deriv may alias x (each element is read before it is written).
 * Values are those of {@link act_forward} and of the act' in {@link act_backward}, bit for bit.
 */
export function act_forward_train(kind: i32, pX: usize, pOut: usize, pDeriv: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(pX + o);
    const e = shared(kind, x);
    v128.store(pOut + o, vflush(yOf(kind, x, e)));
    v128.store(pDeriv + o, vflush(dOf(kind, x, e)));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    const x = f32x4.splat(load<f32>(pX + o));
    const e = shared(kind, x);
    store<f32>(pOut + o, f32x4.extract_lane(vflush(yOf(kind, x, e)), 0));
    store<f32>(pDeriv + o, f32x4.extract_lane(vflush(dOf(kind, x, e)), 0));
  }
}

/** out[i] = a[i] * b[i], flushed (out may alias a or b): the activation backward from a stored act'. */
export function mul_flush(pA: usize, pB: usize, pOut: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pOut + o, vflush(f32x4.mul(v128.load(pA + o), v128.load(pB + o))));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    store<f32>(pOut + o, f32x4.extract_lane(vflush(f32x4.mul(f32x4.splat(load<f32>(pA + o)), f32x4.splat(load<f32>(pB + o)))), 0));
  }
}
