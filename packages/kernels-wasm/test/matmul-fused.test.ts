/**
 * The backward products without transposed copies: matmulAT (C = A^T B, A stored [k, m]: the
 * weight gradient X^T G) and matmulBT (C = A B^T, B stored [n, k]: the input gradient G W^T).
 * Checked on odd shapes (m, k, n not multiples of 4 or 8, one row, one column, k = 1, k
 * across several KC = 256 blocks, B large enough to be packed) in every mode: against a
 * float64 reference, bit for bit against transpose + matmul (the same operations per element),
 * bit for bit when computed in pieces as the threads split C (4-aligned row ranges, 8-aligned
 * column ranges) and on 3 threads; bad shapes throw ShapeError.
 */
import { ShapeError } from "@ngem/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelRuntime, MatmulMode, type Region } from "../src/index.js";
import { enableRelaxedSimd } from "../src/node.js";
import { normwiseError, randomF32, refMatmul, sameBits } from "./helpers.js";

enableRelaxedSimd();
const BUILDS = ["simd", "relaxed-simd"] as const;
const MODES = [
  ["overwrite", MatmulMode.overwrite],
  ["accumulate", MatmulMode.accumulate],
  ["bias", MatmulMode.bias],
] as const;

// [m, k, n] of C = op(A) op(B): C [m, n], shared dimension k
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 37, 1], // one row, one column
  [1, 300, 19], // one row of C, 2 k blocks
  [23, 300, 1], // one column of C
  [5, 1, 13], // k = 1
  [7, 5, 7], // n < 8: the narrow kernels (B^T packed into [kc x n])
  [33, 20, 3], // n < 4
  [3, 30, 17], // a strip of 3 rows, shifted last panel
  [13, 300, 300], // m mod 4 = 1, n mod 8 = 4, 2 k blocks
  [10, 64, 90], // the wide config's head width
  [6, 300, 301], // large B, m < 8
  [9, 260, 262], // large B, packed, n mod 8 = 6
  [64, 40, 2001], // many 128-column blocks, n mod 8 = 1
  [8, 257, 264], // a 1-long last k block
  [130, 33, 9], // X^T G of a 9-wide head: n mod 8 = 1
  [33, 9, 130], // G W^T of the same head: k = 9
];

describe.each(BUILDS)("matmulAT / matmulBT (%s build)", (build) => {
  let rt: KernelRuntime;
  let rt3: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.create({ build, threads: 1 });
    rt3 = await KernelRuntime.create({ build, threads: 3, splitMinWork: 1 });
    await rt3.startPool();
  });
  afterAll(() => rt3.dispose());

  for (const at of [true, false]) {
    const name = at ? "matmulAT" : "matmulBT";
    for (const [m, k, n] of SHAPES) {
      it(`${name} [${m}x${k}x${n}]: float64 reference in every mode; transpose + matmul, pieces and 3 threads bit-identical`, () => {
        const a = randomF32(m * k, m * 1000 + k + (at ? 1 : 2));
        const b = randomF32(k * n, k * 1000 + n + 3);
        const c0 = randomF32(m * n, 7 + m + n);
        const bias = randomF32(n, 99 + n);
        const tol = 1e-6 * Math.max(1, k / 256);
        const lda = at ? m : k; // stored row lengths
        const ldb = at ? n : k;
        const inits: Record<string, (i: number, j: number) => number> = {
          overwrite: () => 0,
          accumulate: (i, j) => c0[i * n + j] as number,
          bias: (_, j) => bias[j] as number,
        };
        for (const [modeName, mode] of MODES) {
          const run = (r: KernelRuntime, how: "fused" | "transposed" | "rows" | "cols"): Float32Array => {
            const mark = r.mark();
            const put = (label: string, data: Float32Array): Region => {
              const reg = r.alloc(label, data.length);
              r.write(reg, data);
              return reg;
            };
            const ra = put("a", a);
            const rb = put("b", b);
            const rc = put("c", c0);
            const rbias = put("bias", bias);
            const fn = at ? r.raw.matmul_at_strided : r.raw.matmul_bt_strided;
            if (how === "fused") {
              if (at) r.matmulAT(ra, rb, rc, m, k, n, mode, rbias);
              else r.matmulBT(ra, rb, rc, m, k, n, mode, rbias);
            } else if (how === "transposed") {
              // what the model ran before: a transposed copy, then matmul
              const t = r.alloc("t", at ? m * k : k * n);
              if (at) {
                r.transpose(ra, t, k, m);
                r.matmul(t, rb, rc, m, k, n, mode, rbias);
              } else {
                r.transpose(rb, t, n, k);
                r.matmul(ra, t, rc, m, k, n, mode, rbias);
              }
            } else if (how === "rows") {
              for (let i0 = 0; i0 < m; i0 += 4) {
                const a0 = ra.ptr + 4 * i0 * (at ? 1 : k);
                fn(a0, rb.ptr, rc.ptr + 4 * i0 * n, Math.min(4, m - i0), k, n, lda, ldb, n, mode, rbias.ptr);
              }
            } else {
              // 8-aligned column ranges of uneven widths (a last piece narrower than 8 takes the narrow kernels)
              const cuts = [0];
              for (let w = 8; cuts[cuts.length - 1]! < n; w += 8) cuts.push(Math.min(n, cuts[cuts.length - 1]! + w));
              for (let q = 0; q + 1 < cuts.length; q++) {
                const j0 = cuts[q]!;
                const j1 = cuts[q + 1]!;
                fn(ra.ptr, rb.ptr + 4 * j0 * (at ? 1 : k), rc.ptr + 4 * j0, m, k, j1 - j0, lda, ldb, n, mode, rbias.ptr + 4 * j0);
              }
            }
            const out = r.read(rc);
            r.release(mark);
            return out;
          };
          const fused = run(rt, "fused");
          expect(normwiseError(fused, refMatmul(a, b, m, k, n, inits[modeName]!, at ? "at" : "bt")), modeName).toBeLessThan(tol);
          sameBits(`${modeName}, transpose + matmul`, fused, run(rt, "transposed"));
          sameBits(`${modeName}, row blocks of 4`, fused, run(rt, "rows"));
          sameBits(`${modeName}, 8-aligned column ranges`, fused, run(rt, "cols"));
          sameBits(`${modeName}, 3 threads`, fused, run(rt3, "fused"));
        }
      });
    }
  }

  it("flushes tiny results to zero (|c| < 2^-60) like matmul", () => {
    const mark = rt.mark();
    const a = rt.alloc("a", 4 * 16);
    const b = rt.alloc("b", 16 * 9);
    const c = rt.alloc("c", 4 * 9);
    rt.write(a, new Float32Array(64).fill(2 ** -40));
    rt.write(b, new Float32Array(144).fill(2 ** -30));
    rt.matmulAT(a, b, c, 4, 16, 9);
    expect(Array.from(rt.read(c)).every((v) => Object.is(v, 0))).toBe(true);
    rt.matmulBT(a, b, c, 4, 16, 9);
    expect(Array.from(rt.read(c)).every((v) => Object.is(v, 0))).toBe(true);
    rt.release(mark);
  });

  it("bad shapes throw ShapeError naming the argument", () => {
    const mark = rt.mark();
    const a = rt.alloc("a", 6); // [2, 3] or [3, 2]
    const b = rt.alloc("b", 6);
    const c = rt.alloc("c", 4);
    const small = rt.alloc("small", 3);
    expect(() => rt.matmulAT(a, b, c, 2, 3, 2)).not.toThrow();
    expect(() => rt.matmulBT(a, b, c, 2, 3, 2)).not.toThrow();
    for (const f of [rt.matmulAT, rt.matmulBT]) {
      const g = f.bind(rt);
      expect(() => g(small, b, c, 2, 3, 2)).toThrow(ShapeError);
      expect(() => g(small, b, c, 2, 3, 2)).toThrow(/^a: /);
      expect(() => g(a, small, c, 2, 3, 2)).toThrow(/^b: /);
      expect(() => g(a, b, small, 2, 3, 2)).toThrow(/^c: /);
      expect(() => g(a, b, c, 2, 3, 2, MatmulMode.bias)).toThrow(/bias/);
      expect(() => g(a, b, c, 2, 3, 2, MatmulMode.bias, rt.alloc("bias1", 1))).toThrow(ShapeError);
      expect(() => g(a, b, c, -1, 3, 2)).toThrow(ShapeError);
      expect(() => g(a, b, c, 2, 1.5, 2)).toThrow(ShapeError);
    }
    rt.release(mark);
  });
});
