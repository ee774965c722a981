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
@inline function fwd(kind: i32, x: v128): v128 {
  if (kind == ACT_RELU) return f32x4.max(x, f32x4.splat(0));
  if (kind == ACT_TANH) return vtanh(x);
  // 0.5 x (1 + erf(x / sqrt 2))
  const e = verf(f32x4.mul(x, f32x4.splat(0.70710678118654752)));
  const hx = f32x4.mul(f32x4.splat(0.5), x);
  return madd(hx, e, hx);
}

// @ts-ignore: decorator
@inline function deriv(kind: i32, x: v128): v128 {
  if (kind == ACT_RELU) return v128.and(f32x4.gt(x, f32x4.splat(0)), f32x4.splat(1.0));
  if (kind == ACT_TANH) {
    const t = vtanh(x);
    return f32x4.sub(f32x4.splat(1.0), f32x4.mul(t, t));
  }
  // 0.5 (1 + erf(x / sqrt 2)) + x phi(x)
  const e = verf(f32x4.mul(x, f32x4.splat(0.70710678118654752)));
  const phi = vexp(f32x4.mul(f32x4.mul(x, x), f32x4.splat(-0.5)));
  return madd(f32x4.mul(x, f32x4.splat(0.39894228040143268)), phi, madd(f32x4.splat(0.5), e, f32x4.splat(0.5)));
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
