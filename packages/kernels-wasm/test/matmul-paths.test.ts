/**
 * The matmul's paths (issue 16): B read in place or packed into [KC x 8] panels, a packed or
 * in-place 4-row strip of A, the shifted last 8-column panel (n mod 8), strips that repeat
 * their last row (m mod 4), the narrow kernels (n < 8), and the threads build's pack slots.
 * Every element must come out of the same operations whichever path computed it, so:
 * the float64 reference within float32 accumulation error, and bit-identical results when
 * the same product is computed in pieces (row blocks of 4, 8-aligned column ranges, as the
 * threads split it) or split across 3 threads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelRuntime, MatmulMode, type Region } from "../src/index.js";
import { enableRelaxedSimd } from "../src/node.js";
import { normwiseError, randomF32, refMatmul, sameBits } from "./helpers.js";

enableRelaxedSimd();
const BUILDS = ["simd", "relaxed-simd"] as const;

// [m, k, n]: which path each takes (KC = 256; B is packed when a [kc x n] block of B exceeds 256 KiB and m >= 8)
const SHAPES: [number, number, number][] = [
  [13, 300, 300], // packed B (2 k blocks, accumulate), n mod 8 = 4 (shifted panel), m mod 4 = 1
  [64, 40, 2001], // packed B, several 128-column blocks, n mod 8 = 1
  [8, 257, 264], // packed B, n mod 8 = 0, a 1-long last k block
  [6, 300, 301], // large B but m < 8: 8-column panels outer, B in place, shifted panel, m mod 4 = 2
  [10, 64, 90], // B in place, rows outer: packed A strips, shifted panel (the wide config's head width)
  [3, 30, 17], // one strip of 3 rows (repeats its last row), shifted panel
  [7, 5, 7], // n < 8: 4-wide, then one-column kernels
  [33, 20, 3], // n < 4
  [4, 1, 8], // k = 1
  // every width of the shifted last panel (n mod 8 = 1..7), B in place and packed
  ...[1, 2, 3, 4, 5, 6, 7].map((w): [number, number, number] => [5 + w, 3 + w, 8 + w]),
  ...[2, 3, 5, 6, 7].map((w): [number, number, number] => [9, 260, 256 + w]),
];

describe.each(BUILDS)("matmul paths (%s build)", (build) => {
  let rt: KernelRuntime;
  let rt3: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.create({ build, threads: 1 });
    rt3 = await KernelRuntime.create({ build, threads: 3, splitMinWork: 1 });
    await rt3.startPool();
  });
  afterAll(() => rt3.dispose());

  for (const [m, k, n] of SHAPES) {
    it(`[${m}x${k}] x [${k}x${n}]: float64 reference in every mode, pieces and 3 threads bit-identical`, () => {
      const a = randomF32(m * k, m * 1000 + k);
      const b = randomF32(k * n, k * 1000 + n);
      const c0 = randomF32(m * n, 7 + m + n);
      const bias = randomF32(n, 99 + n);
      const tol = 1e-6 * Math.max(1, k / 256);
      const inits: Record<string, (i: number, j: number) => number> = {
        overwrite: () => 0,
        accumulate: (i, j) => c0[i * n + j] as number,
        bias: (_, j) => bias[j] as number,
      };
      for (const [modeName, mode] of [
        ["overwrite", MatmulMode.overwrite],
        ["accumulate", MatmulMode.accumulate],
        ["bias", MatmulMode.bias],
      ] as const) {
        const run = (r: KernelRuntime, pieces: "whole" | "rows" | "cols"): Float32Array => {
          const mark = r.mark();
          const put = (name: string, data: Float32Array): Region => {
            const reg = r.alloc(name, data.length);
            r.write(reg, data);
            return reg;
          };
          const ra = put("a", a);
          const rb = put("b", b);
          const rc = put("c", c0);
          const rbias = put("bias", bias);
          if (pieces === "whole") r.matmul(ra, rb, rc, m, k, n, mode, rbias);
          else if (pieces === "rows") {
            // row blocks of 4 (a 4-row piece never packs B: m < 8)
            for (let i0 = 0; i0 < m; i0 += 4) {
              const rows = Math.min(4, m - i0);
              r.raw.matmul_strided(ra.ptr + 4 * i0 * k, rb.ptr, rc.ptr + 4 * i0 * n, rows, k, n, k, n, n, mode, rbias.ptr);
            }
          } else {
            // 8-aligned column ranges of uneven widths (a last piece narrower than 8 takes the narrow kernels)
            const cuts = [0];
            for (let w = 8; cuts[cuts.length - 1]! < n; w += 8) cuts.push(Math.min(n, cuts[cuts.length - 1]! + w));
            for (let q = 0; q + 1 < cuts.length; q++) {
              const j0 = cuts[q]!;
              const j1 = cuts[q + 1]!;
              r.raw.matmul_strided(ra.ptr, rb.ptr + 4 * j0, rc.ptr + 4 * j0, m, k, j1 - j0, k, n, n, mode, rbias.ptr + 4 * j0);
            }
          }
          const out = r.read(rc);
          r.release(mark);
          return out;
        };
        const whole = run(rt, "whole");
        expect(normwiseError(whole, refMatmul(a, b, m, k, n, inits[modeName]!)), `${modeName}`).toBeLessThan(tol);
        sameBits(`${modeName}, row blocks of 4`, whole, run(rt, "rows"));
        sameBits(`${modeName}, 8-aligned column ranges`, whole, run(rt, "cols"));
        sameBits(`${modeName}, 3 threads`, whole, run(rt3, "whole"));
      }
    });
  }
});
