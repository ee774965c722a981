// Reductions and elementwise helpers over flat ranges: sum of squares (f64
// accumulation), scaling (gradient clipping), non-finite search, and the
// subnormal flush / count used on inputs and by the no-subnormal tests.
import { sflush, vflush } from "./simd-math";

/** Smallest normal float32, 2^-126. */
const FLT_MIN: f32 = 1.1754943508222875e-38;

/** x[i] = 0 where |x[i]| < 2^-60 (see simd-math.ts), in place. */
export function flush_array(pX: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pX + o, vflush(v128.load(pX + o)));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    store<f32>(pX + o, sflush(load<f32>(pX + o)));
  }
}

/** Number of subnormal float32 values (0 < |x| < 2^-126) among x[0..len). */
export function count_subnormal(pX: usize, len: i32): i32 {
  let n = 0;
  for (let i = 0; i < len; i++) {
    const a = Mathf.abs(load<f32>(pX + (<usize>i << 2)));
    if (a != 0 && a < FLT_MIN) n++;
  }
  return n;
}

/** sum_i x[i]^2 accumulated in f64x2 lanes (exact squares of f32 values). NaN/Inf propagate. */
export function sum_squares(pX: usize, len: i32): f64 {
  const v = len & ~3;
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let i = 0;
  for (; i < v; i += 4) {
    const x = v128.load(pX + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(x);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
    a0 = f64x2.add(a0, f64x2.mul(lo, lo));
    a1 = f64x2.add(a1, f64x2.mul(hi, hi));
  }
  const a = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < len; i++) {
    const x = <f64>load<f32>(pX + (<usize>i << 2));
    s += x * x;
  }
  return s;
}

/**
 * Sums of squares of consecutive blocks of `block` elements of x[0..len) (the last one may be
 * shorter): out[b] = sum_squares over block b, as f64. The caller adds them in block order, so a
 * sum split by blocks across threads does not depend on the thread count.
 */
export function sum_squares_blocks(pX: usize, len: i32, block: i32, pOut: usize): void {
  for (let b = 0, i = 0; i < len; b++, i += block) {
    store<f64>(pOut + (<usize>b << 3), sum_squares(pX + (<usize>i << 2), min(block, len - i)));
  }
}

/** x[i] *= c for i < len. */
export function scale(pX: usize, len: i32, c: f32): void {
  const v = len & ~3;
  const cv = f32x4.splat(c);
  let i = 0;
  for (; i < v; i += 4) {
    const o = <usize>i << 2;
    v128.store(pX + o, f32x4.mul(v128.load(pX + o), cv));
  }
  for (; i < len; i++) {
    const o = <usize>i << 2;
    store<f32>(pX + o, load<f32>(pX + o) * c);
  }
}

/**
 * First flat index (r * cols + c) of a non-finite value in a [rows, cols]
 * block whose rows are `stride` floats apart, or -1. x - x is 0 exactly when x is finite.
 */
export function first_nonfinite(pX: usize, rows: i32, cols: i32, stride: i32): i32 {
  const c4 = cols & ~3;
  const zero = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const row = pX + (<usize>(r * stride) << 2);
    let c = 0;
    for (; c < c4; c += 4) {
      const x = v128.load(row + (<usize>c << 2));
      if (v128.any_true(f32x4.ne(f32x4.sub(x, x), zero))) break;
    }
    for (; c < cols; c++) {
      const x = load<f32>(row + (<usize>c << 2));
      if (x - x != 0) return r * cols + c;
    }
  }
  return -1;
}
