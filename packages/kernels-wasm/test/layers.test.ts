/**
 * Dense (matmul, transpose, column sums) and LayerNorm kernels vs float64
 * references, on shapes that exercise every blocked path and tail
 * (rows mod 4, columns mod 8 and mod 4, 1-wide, 784-wide).
 */
import { LAYER_NORM_EPS } from "@ngem/core";
import { beforeAll, describe, expect, it } from "vitest";
import { KernelRuntime, MatmulMode, type Region } from "../src/index.js";
import { normwiseError, randomF32 } from "./helpers.js";

let rt: KernelRuntime;
beforeAll(async () => {
  rt = await KernelRuntime.create();
});

function put(name: string, data: Float32Array): Region {
  const r = rt.alloc(name, data.length);
  rt.write(r, data);
  return r;
}

function refMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, init?: (i: number, j: number) => number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = init ? init(i, j) : 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] as number) * (b[p * n + j] as number);
      c[i * n + j] = s;
    }
  }
  return c;
}

describe("matmul (every blocked path and tail)", () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 3, 2],
    [2, 5, 3],
    [3, 2, 4],
    [4, 4, 4],
    [5, 7, 9],
    [6, 1, 8],
    [7, 9, 13],
    [8, 16, 17],
    [9, 3, 12],
    [13, 784, 10],
    [5, 10, 784],
    [17, 128, 128],
    // shared dimension > 512 (several K blocks, accumulate across them) on both loop orders:
    [9, 1100, 37], // [512 x 37] B block fits L2: rows outer
    [6, 600, 203], // [512 x 203] B block (416 KB) does not: 8-column panels outer
  ];
  for (const [m, k, n] of shapes) {
    it(`[${m}x${k}] x [${k}x${n}] in every mode`, () => {
      const mark = rt.mark();
      const a = randomF32(m * k, m * 1000 + k);
      const b = randomF32(k * n, k * 1000 + n);
      const c0 = randomF32(m * n, 7 + m + n);
      const bias = randomF32(n, 99 + n);
      const ra = put("a", a);
      const rb = put("b", b);
      const rc = put("c", c0);
      const rbias = put("bias", bias);
      const tol = 1e-6 * Math.max(1, k / 256); // float32 accumulation over k terms
      rt.matmul(ra, rb, rc, m, k, n, MatmulMode.overwrite);
      expect(normwiseError(rt.read(rc), refMatmul(a, b, m, k, n))).toBeLessThan(tol);
      rt.write(rc, c0);
      rt.matmul(ra, rb, rc, m, k, n, MatmulMode.accumulate);
      expect(
        normwiseError(
          rt.read(rc),
          refMatmul(a, b, m, k, n, (i, j) => c0[i * n + j] as number),
        ),
      ).toBeLessThan(tol);
      rt.matmul(ra, rb, rc, m, k, n, MatmulMode.bias, rbias);
      expect(
        normwiseError(
          rt.read(rc),
          refMatmul(a, b, m, k, n, (_, j) => bias[j] as number),
        ),
      ).toBeLessThan(tol);
      rt.release(mark);
    });
  }
});

describe("transpose and column sums", () => {
  for (const [rows, cols] of [
    [1, 1],
    [1, 7],
    [3, 5],
    [4, 4],
    [5, 9],
    [8, 12],
    [13, 6],
  ] as const) {
    it(`transpose [${rows}x${cols}] is exact`, () => {
      const mark = rt.mark();
      const x = randomF32(rows * cols, rows * 31 + cols);
      const src = put("src", x);
      const dst = rt.alloc("dst", rows * cols);
      rt.transpose(src, dst, rows, cols);
      const t = rt.read(dst);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(t[c * rows + r]).toBe(x[r * cols + c]);
      rt.release(mark);
    });
  }

  it("colsum with strides and offsets (the GMM reduction) for widths 1..9", () => {
    for (let cols = 1; cols <= 9; cols++) {
      const mark = rt.mark();
      const rows = 5;
      const stride = cols + 3;
      const col0 = 2;
      const x = randomF32(col0 + rows * stride, cols);
      const rx = put("x", x);
      const out = rt.alloc("out", cols);
      rt.colsum(rx, rows, cols, out, stride, col0);
      const want = Array.from({ length: cols }, (_, c) => {
        let s = 0;
        for (let r = 0; r < rows; r++) s += x[col0 + r * stride + c] as number;
        return s;
      });
      expect(normwiseError(rt.read(out), want)).toBeLessThan(1e-6);
      rt.release(mark);
    }
  });
});

describe("LayerNorm", () => {
  function refForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, rows: number, w: number) {
    const normed = new Float64Array(rows * w);
    const invStd = new Float64Array(rows);
    const y = new Float64Array(rows * w);
    for (let r = 0; r < rows; r++) {
      let mean = 0;
      for (let j = 0; j < w; j++) mean += x[r * w + j] as number;
      mean /= w;
      let v = 0;
      for (let j = 0; j < w; j++) v += ((x[r * w + j] as number) - mean) ** 2;
      const is = 1 / Math.sqrt(v / w + LAYER_NORM_EPS);
      invStd[r] = is;
      for (let j = 0; j < w; j++) {
        const xh = ((x[r * w + j] as number) - mean) * is;
        normed[r * w + j] = xh;
        y[r * w + j] = xh * (gamma[j] as number) + (beta[j] as number);
      }
    }
    return { normed, invStd, y };
  }

  for (const w of [1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 128]) {
    it(`forward and backward, width ${w}`, () => {
      const mark = rt.mark();
      const rows = 6;
      const x = randomF32(rows * w, w * 17, -2, 5);
      const gamma = randomF32(w, w + 1, 0.5, 1.5);
      const beta = randomF32(w, w + 2);
      const gy = randomF32(rows * w, w + 3);
      const rx = put("x", x);
      const rg = put("gamma", gamma);
      const rbeta = put("beta", beta);
      const normed = rt.alloc("normed", rows * w);
      const invStd = rt.alloc("invStd", rows);
      const ry = rt.alloc("y", rows * w);
      rt.layerNorm(rx, rg, rbeta, normed, invStd, ry, rows, w);
      const ref = refForward(x, gamma, beta, rows, w);
      const tol = w === 1 ? 1e-30 : 1e-5; // width 1: xhat = 0 exactly
      expect(normwiseError(rt.read(ry), ref.y)).toBeLessThan(Math.max(tol, 1e-6));
      expect(normwiseError(rt.read(invStd), ref.invStd)).toBeLessThan(1e-6);

      // backward, against the same formulas as core's mdnBackward, in float64 from the float32 caches
      const rgy = put("gy", gy);
      const gx = rt.alloc("gx", rows * w);
      const gGamma = rt.alloc("gGamma", w);
      const gBeta = rt.alloc("gBeta", w);
      rt.layerNormBackward(rgy, normed, invStd, rg, gx, gGamma, gBeta, rows, w);
      const nf = rt.read(normed);
      const isf = rt.read(invStd);
      const wantGx = new Float64Array(rows * w);
      const wantGG = new Float64Array(w);
      const wantGB = new Float64Array(w);
      for (let r = 0; r < rows; r++) {
        let m1 = 0;
        let m2 = 0;
        for (let j = 0; j < w; j++) {
          const g = gy[r * w + j] as number;
          const xh = nf[r * w + j] as number;
          wantGG[j] = (wantGG[j] as number) + g * xh;
          wantGB[j] = (wantGB[j] as number) + g;
          m1 += g * (gamma[j] as number);
          m2 += g * (gamma[j] as number) * xh;
        }
        m1 /= w;
        m2 /= w;
        for (let j = 0; j < w; j++) {
          wantGx[r * w + j] = (isf[r] as number) * ((gy[r * w + j] as number) * (gamma[j] as number) - m1 - (nf[r * w + j] as number) * m2);
        }
      }
      expect(normwiseError(rt.read(gGamma), wantGG, 1e-6)).toBeLessThan(1e-5);
      expect(normwiseError(rt.read(gBeta), wantGB)).toBeLessThan(1e-6);
      // gx is a difference of terms of size invStd |gy gamma| (it cancels to ~0 for width 2): measure against that size
      let termScale = 0;
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < w; j++) termScale = Math.max(termScale, (isf[r] as number) * Math.abs((gy[r * w + j] as number) * (gamma[j] as number)));
      expect(normwiseError(rt.read(gx), wantGx, termScale)).toBeLessThan(1e-5);
      rt.release(mark);
    });
  }
});
