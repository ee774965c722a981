// Small kernels used only by tests and the benchmark: the vector exp / erf on
// arrays (accuracy checks, tails) and a peak-throughput probe.
import { madd, verf, vexp } from "./simd-math";

/** out[i] = e^x[i] (f32x4 body, one-lane tail). */
export function vexp_array(pX: usize, pOut: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) v128.store(pOut + (<usize>i << 2), vexp(v128.load(pX + (<usize>i << 2))));
  for (; i < len; i++) store<f32>(pOut + (<usize>i << 2), f32x4.extract_lane(vexp(f32x4.splat(load<f32>(pX + (<usize>i << 2)))), 0));
}

/** out[i] = erf(x[i]) (f32x4 body, one-lane tail). */
export function verf_array(pX: usize, pOut: usize, len: i32): void {
  const v = len & ~3;
  let i = 0;
  for (; i < v; i += 4) v128.store(pOut + (<usize>i << 2), verf(v128.load(pX + (<usize>i << 2))));
  for (; i < len; i++) store<f32>(pOut + (<usize>i << 2), f32x4.extract_lane(verf(f32x4.splat(load<f32>(pX + (<usize>i << 2)))), 0));
}

/**
 * Peak probe: `iters` rounds of 12 independent f32x4 multiply-add chains (`madd`:
 * mul + add in the plain build, relaxed_madd = FMA in the relaxed build), 96 flops per round. Twelve chains
 * cover the 4-cycle mul and add latencies at two vector ops per cycle.
 * Returns a lane sum so the work cannot be optimised away.
 */
export function bench_peak(iters: i32): f32 {
  const m = f32x4.splat(0.999999);
  const a = f32x4.splat(1e-7);
  let x0 = f32x4.splat(1.0);
  let x1 = f32x4.splat(1.1);
  let x2 = f32x4.splat(1.2);
  let x3 = f32x4.splat(1.3);
  let x4 = f32x4.splat(1.4);
  let x5 = f32x4.splat(1.5);
  let x6 = f32x4.splat(1.6);
  let x7 = f32x4.splat(1.7);
  let x8 = f32x4.splat(1.8);
  let x9 = f32x4.splat(1.9);
  let x10 = f32x4.splat(2.0);
  let x11 = f32x4.splat(2.1);
  for (let i = 0; i < iters; i++) {
    x0 = madd(x0, m, a);
    x1 = madd(x1, m, a);
    x2 = madd(x2, m, a);
    x3 = madd(x3, m, a);
    x4 = madd(x4, m, a);
    x5 = madd(x5, m, a);
    x6 = madd(x6, m, a);
    x7 = madd(x7, m, a);
    x8 = madd(x8, m, a);
    x9 = madd(x9, m, a);
    x10 = madd(x10, m, a);
    x11 = madd(x11, m, a);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)), f32x4.add(f32x4.add(x4, x5), f32x4.add(x6, x7))),
    f32x4.add(f32x4.add(x8, x9), f32x4.add(x10, x11)),
  );
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
