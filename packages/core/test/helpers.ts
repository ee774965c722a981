import { Rng, type MixtureParams } from "../src/index.js";

export function randomMixture(seed: number, n: number, k: number, d: number) {
  const rng = new Rng(seed);
  const logits = new Float64Array(n * k).map(() => rng.normal());
  const mu = new Float64Array(n * k * d).map(() => rng.normal());
  const logSigma = new Float64Array(n * k * d).map(() => -0.7 + rng.uniform());
  const y = new Float64Array(n * d).map(() => 1.2 * rng.normal());
  const m: MixtureParams = { n, k, d, logits, mu, logSigma };
  return { m, y, rng };
}

type Field = "logits" | "mu" | "logSigma";

/** Central finite differences of f w.r.t. every entry of m[field]. */
export function finiteDiff(m: MixtureParams, field: Field, f: (m: MixtureParams) => number, h = 1e-5): Float64Array {
  const base = Float64Array.from(m[field]);
  const out = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const plus = Float64Array.from(base);
    const minus = Float64Array.from(base);
    plus[i] = (base[i] as number) + h;
    minus[i] = (base[i] as number) - h;
    out[i] = (f({ ...m, [field]: plus }) - f({ ...m, [field]: minus })) / (2 * h);
  }
  return out;
}

/** max |a - b| / max(max |b|, tiny) */
export function normRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-300;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
}

/** Solves A x = b (n x n, row-major) by Gaussian elimination with partial pivoting. */
export function solve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c] as number) > Math.abs(M[p * n + c] as number)) p = r;
    if (p !== c) {
      for (let j = 0; j < n; j++) {
        const t = M[c * n + j] as number;
        M[c * n + j] = M[p * n + j] as number;
        M[p * n + j] = t;
      }
      const t = x[c] as number;
      x[c] = x[p] as number;
      x[p] = t;
    }
    for (let r = c + 1; r < n; r++) {
      const f = (M[r * n + c] as number) / (M[c * n + c] as number);
      for (let j = c; j < n; j++) M[r * n + j] = (M[r * n + j] as number) - f * (M[c * n + j] as number);
      x[r] = (x[r] as number) - f * (x[c] as number);
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r] as number;
    for (let j = r + 1; j < n; j++) s -= (M[r * n + j] as number) * (x[j] as number);
    x[r] = s / (M[r * n + r] as number);
  }
  return x;
}

/** Mixture shapes [N, K, D] of the gradient and damping checks (K = 1, D = 1 and uneven sizes included). */
export const SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 1, 1],
  [3, 2, 2],
  [5, 4, 3],
  [2, 6, 1],
];
