// Vectorised f32x4 transcendental functions (exp, erf, tanh) and their scalar
// twins, used by the head, activation and layer kernels. Scalar versions run
// the same polynomial so a SIMD body and its scalar tail agree bit for bit.

/**
 * Flush-to-zero threshold of the kernels, 2^-60 (~8.7e-19). WebAssembly cannot set the
 * CPU's FTZ/DAZ modes, and subnormal float32 operands cost ~100 cycles each on Intel
 * cores, so every hot-path kernel writes |x| < 2^-60 as +-0: the stored values are then
 * 0 or >= 2^-60 in magnitude, so the product of any two of them (matmul, elementwise
 * backward) is 0 or >= 2^-120, a normal float32. Values that small are below float32
 * resolution next to the O(1e-8..1) values they are summed with.
 */
export const FLUSH_BELOW: f32 = 8.673617379884035e-19;

/** x with every lane |x| < 2^-60 set to +-0 (NaN and Inf lanes pass through). */
// @ts-ignore: decorator
@inline export function vflush(x: v128): v128 {
  return v128.andnot(x, f32x4.lt(f32x4.abs(x), f32x4.splat(FLUSH_BELOW)));
}

/** Scalar {@link vflush}. */
// @ts-ignore: decorator
@inline export function sflush(x: f32): f32 {
  return Mathf.abs(x) < FLUSH_BELOW ? <f32>0 : x;
}

/**
 * a * b + c per lane. In the relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD) this is
 * f32x4.relaxed_madd, which the engine lowers to one fused multiply-add where the CPU
 * has FMA (so the result may be rounded once instead of twice); in the plain build it
 * is f32x4.mul then f32x4.add. The branch is resolved at compile time.
 */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Broadcast helper. */
// @ts-ignore: decorator
@inline export function splat(x: f32): v128 {
  return f32x4.splat(x);
}

/**
 * x clamped to [lo, hi] per lane with NaN passed through, by the pseudo-min/max (pmin(a, b) =
 * b < a ? b : a, pmax(a, b) = a < b ? b : a: one minps / maxps each on x64), not the IEEE
 * f32x4.min/max, which V8 expands to ~8 instructions each for their NaN and -0 rules.
 */
// @ts-ignore: decorator
@inline function clamp(x: v128, lo: f32, hi: f32): v128 {
  return f32x4.pmax(f32x4.pmin(x, f32x4.splat(hi)), f32x4.splat(lo));
}

/**
 * e^x per lane (Cephes expf: range reduction x = n ln2 + r, degree-6
 * polynomial, 2^n built in the exponent bits). Max relative error ~2 ulp.
 * Inputs are clamped to [-87.33, 88.37]: below, the result is ~1.2e-38 (not 0);
 * above, ~2.4e38 (not +Inf). NaN propagates (the clamp passes it through).
 */
// @ts-ignore: decorator
@inline export function vexp(x0: v128): v128 {
  const x = clamp(x0, -87.33654, 88.3762626647949);
  // n = round(x log2 e) by the 1.5 * 2^23 trick: adding it rounds to the nearest integer (ties to
  // even, as f32x4.nearest) and leaves n in the low mantissa bits, so 2^n needs no float-to-int
  // conversion (V8's saturating i32x4.trunc_sat is ~8 instructions on x64)
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const fx = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = madd(fx, f32x4.splat(-0.693359375), x);
  r = madd(fx, f32x4.splat(2.12194440e-4), r);
  let y = f32x4.splat(1.9875691500e-4);
  y = madd(y, r, f32x4.splat(1.3981999507e-3));
  y = madd(y, r, f32x4.splat(8.3334519073e-3));
  y = madd(y, r, f32x4.splat(4.1665795894e-2));
  y = madd(y, r, f32x4.splat(1.6666665459e-1));
  y = madd(y, r, f32x4.splat(5.0000001201e-1));
  y = f32x4.add(madd(f32x4.mul(y, r), r, r), f32x4.splat(1.0));
  // t's bits are 0x4B400000 + n; (bits + 127) << 23 shifts the constant part out: (n + 127) << 23
  const pow2n = i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2n);
}

/** Scalar e^x with exactly the lane arithmetic of {@link vexp}. */
// @ts-ignore: decorator
@inline export function sexp(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

/**
 * erf(x) per lane: odd/even rational approximation on [-4, 4] (Eigen's
 * generic_fast_erf_float); |erf(x)| = 1 to f32 precision outside. Max abs error ~2e-7.
 */
// @ts-ignore: decorator
@inline export function verf(x0: v128): v128 {
  const x = clamp(x0, -4.0, 4.0);
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(-2.72614225801306e-10);
  p = madd(p, x2, f32x4.splat(2.77068142495902e-08));
  p = madd(p, x2, f32x4.splat(-2.10102402082508e-06));
  p = madd(p, x2, f32x4.splat(-5.69250639462346e-05));
  p = madd(p, x2, f32x4.splat(-7.34990630326855e-04));
  p = madd(p, x2, f32x4.splat(-2.95459980854025e-03));
  p = madd(p, x2, f32x4.splat(-1.60960333262415e-02));
  p = f32x4.mul(p, x);
  let q = f32x4.splat(-1.45660718464996e-05);
  q = madd(q, x2, f32x4.splat(-2.13374055278905e-04));
  q = madd(q, x2, f32x4.splat(-1.68282697438203e-03));
  q = madd(q, x2, f32x4.splat(-7.37332916720468e-03));
  q = madd(q, x2, f32x4.splat(-1.42647390514189e-02));
  return f32x4.div(p, q);
}

/**
 * tanh(x) per lane (Cephes tanhf): an odd polynomial for |x| < 0.625, else
 * sign(x) (1 - 2 / (e^{2|x|} + 1)). Relative error ~2e-7; saturates to +-1.
 */
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  const ax = f32x4.abs(x);
  const e = vexp(f32x4.add(ax, ax));
  const big = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  // copy the sign of x onto the large-|x| branch
  const signMask = i32x4.splat(0x80000000);
  const bigSigned = v128.or(v128.and(x, signMask), v128.andnot(big, signMask));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = madd(p, z, f32x4.splat(2.06390887954e-2));
  p = madd(p, z, f32x4.splat(-5.37397155531e-2));
  p = madd(p, z, f32x4.splat(1.33314422036e-1));
  p = madd(p, z, f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  return v128.bitselect(small, bigSigned, f32x4.lt(ax, f32x4.splat(0.625)));
}
