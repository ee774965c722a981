/** Log densities of a diagonal Gaussian mixture on the playground's grid. */
import type { MixtureParams } from "@ngem/core";
import type { GridSpec } from "./protocol.js";

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Grid coordinates of cell i of n over [a, b] (cell centres). */
export function axis(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a + ((i + 0.5) / n) * (b - a);
  return out;
}

/** log p(y) of row `row` of `m` at y = (y0[, y1]). */
function logMix(m: MixtureParams, row: number, y: readonly number[]): number {
  const { k: K, d: D } = m;
  let max = -Infinity;
  const terms = new Float64Array(K);
  let lse = -Infinity;
  for (let c = 0; c < K; c++) lse = Math.max(lse, m.logits[row * K + c] as number);
  let z = 0;
  for (let c = 0; c < K; c++) z += Math.exp((m.logits[row * K + c] as number) - lse);
  const logZ = lse + Math.log(z);
  for (let c = 0; c < K; c++) {
    let t = (m.logits[row * K + c] as number) - logZ;
    for (let d = 0; d < D; d++) {
      const i = (row * K + c) * D + d;
      const ls = m.logSigma[i] as number;
      const r = ((y[d] as number) - (m.mu[i] as number)) / Math.exp(ls);
      t += -0.5 * r * r - ls - HALF_LOG_2PI;
    }
    terms[c] = t;
    if (t > max) max = t;
  }
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let c = 0; c < K; c++) s += Math.exp((terms[c] as number) - max);
  return max + Math.log(s);
}

/**
 * Evaluates the grid. joint2d: `m` has one row (a free GMM or an MDN of no
 * input); cond1d: `m` has one row per horizontal cell (x). Returns log
 * densities [nv, nh] and the means (joint2d: [K, 2]; cond1d: [K, nh]).
 */
export function densityGrid(m: MixtureParams, g: GridSpec): { logDensity: Float32Array; means: Float64Array } {
  const hs = axis(g.h0, g.h1, g.nh);
  const vs = axis(g.v0, g.v1, g.nv);
  const out = new Float32Array(g.nh * g.nv);
  if (g.mode === "joint2d") {
    for (let j = 0; j < g.nv; j++) for (let i = 0; i < g.nh; i++) out[j * g.nh + i] = logMix(m, 0, [hs[i] as number, vs[j] as number]);
    return { logDensity: out, means: Float64Array.from(m.mu.subarray(0, m.k * m.d)) };
  }
  const means = new Float64Array(m.k * g.nh);
  for (let i = 0; i < g.nh; i++) {
    for (let j = 0; j < g.nv; j++) out[j * g.nh + i] = logMix(m, i, [vs[j] as number]);
    for (let c = 0; c < m.k; c++) means[c * g.nh + i] = m.mu[(i * m.k + c) * m.d] as number;
  }
  return { logDensity: out, means };
}
