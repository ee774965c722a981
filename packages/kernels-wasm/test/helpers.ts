/** Shared helpers for the kernel tests. */
import { Rng, type ModelSpec, type NamedTensors } from "@ngem/core";
import { expect } from "vitest";

/** max_i |a_i - e_i| / max(max_i |e_i|, floor): the parity suite's normwise error. */
export function normwiseError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-30): number {
  expect(actual.length).toBe(expected.length);
  let scale = floor;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    if (!Number.isFinite(a)) return Infinity;
    worst = Math.max(worst, Math.abs(a - (expected[i] as number)));
  }
  return worst / scale;
}

/** Elementwise: |a - e| <= atol + rtol |e| for every i (reports the first failure). */
export function expectElementwise(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const ok = Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) expect.fail(`${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Deterministic pseudo-random values in [lo, hi) rounded to float32. */
export function randomF32(n: number, seed: number, lo = -3, hi = 3): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/** Weights rounded to float32 (what the wasm backend holds). */
export function f32Weights(w: NamedTensors): NamedTensors {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));
}

/** A seeded random float32 batch for a spec (no x for a GMM). */
export function batchFor(spec: ModelSpec, n: number, seed: number) {
  const rng = new Rng(seed);
  const y = Float32Array.from({ length: n * spec.d }, () => rng.normal());
  if (spec.kind === "gmm") return { n, y };
  return { n, x: Float32Array.from({ length: n * spec.inputDim }, () => rng.normal()), y };
}

/**
 * C = op(A) op(B) + init in float64, C [m, n], shared dimension k: "none" A [m, k] and B [k, n];
 * "at" A stored [k, m] (A^T B); "bt" B stored [n, k] (A B^T).
 */
export function refMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  init: (i: number, j: number) => number,
  trans: "none" | "at" | "bt" = "none",
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = init(i, j);
      for (let p = 0; p < k; p++) {
        const x = trans === "at" ? a[p * m + i] : a[i * k + p];
        const y = trans === "bt" ? b[j * k + p] : b[p * n + j];
        s += (x as number) * (y as number);
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Asserts that y holds exactly x's float32 values (Object.is per element), naming the first difference. */
export function sameBits(what: string, x: Float32Array, y: Float32Array): void {
  expect(y.length, `${what}: length`).toBe(x.length);
  let differ = 0;
  let first = -1;
  for (let i = 0; i < x.length; i++) {
    if (!Object.is(x[i], y[i])) {
      differ++;
      if (first < 0) first = i;
    }
  }
  expect(differ, `${what}: ${differ} of ${x.length} values differ (first at ${first})`).toBe(0);
}
