/**
 * The fused head on every SIMD tail length of the flat K*D sweep (K*D = 1..9)
 * and both Fisher coordinates, at a tolerance 50x tighter than the parity
 * suite's float32 default, plus the row-stride ABI the model uses.
 */
import { createJsBackend, Rng, VARIANTS } from "@ngem/core";
import { randomHeadCase } from "@ngem/core/testing";
import { describe, expect, it } from "vitest";
import { createWasmBackend, KernelRuntime, VARIANT_CODES } from "../src/index.js";
import { normwiseError } from "./helpers.js";

const ref = createJsBackend();
const TOL = 2e-5;

describe("fused head: tails of the K*D sweep", () => {
  const shapes: [number, number][] = [
    [1, 1],
    [2, 1],
    [3, 1],
    [1, 4],
    [5, 1],
    [2, 3],
    [7, 1],
    [2, 4],
    [3, 3],
  ];
  for (const [k, d] of shapes) {
    it(`K=${k} D=${d} (K*D = ${k * d}), every variant and fisherCoords`, async () => {
      const b = await createWasmBackend();
      const { params, y } = randomHeadCase(new Rng(k * 10 + d), 6, k, d, (a) => Float32Array.from(a));
      for (const variant of VARIANTS) {
        for (const fisherCoords of ["log-sigma", "sigma"] as const) {
          const o = { variant, fisherCoords, piFloor: 0.05 };
          const got = await b.head(params, y, o);
          const want = await ref.head(params, y, o);
          const tag = `${variant}/${fisherCoords}`;
          expect(normwiseError([got.loss], [want.loss]), `${tag} loss`).toBeLessThan(TOL);
          expect(normwiseError([got.negQ], [want.negQ]), `${tag} negQ`).toBeLessThan(TOL);
          expect(normwiseError(got.grads.logits, want.grads.logits), `${tag} logits`).toBeLessThan(TOL);
          expect(normwiseError(got.grads.mu, want.grads.mu), `${tag} mu`).toBeLessThan(TOL);
          expect(normwiseError(got.grads.logSigma, want.grads.logSigma), `${tag} logSigma`).toBeLessThan(TOL);
        }
      }
      b.dispose();
    });
  }
});

describe("fused head: strided rows", () => {
  it("interleaved [logits | mu | logSigma] rows (the model's layout) give the same result as separate arrays", async () => {
    const rt = await KernelRuntime.create();
    const n = 5,
      k = 3,
      d = 2,
      kd = k * d,
      hw = k + 2 * kd;
    const { params, y } = randomHeadCase(new Rng(9), n, k, d, (a) => Float32Array.from(a));
    const rows = rt.alloc("rows", n * hw);
    for (let r = 0; r < n; r++) {
      rt.write(rows, params.logits.subarray(r * k, (r + 1) * k), r * hw);
      rt.write(rows, params.mu.subarray(r * kd, (r + 1) * kd), r * hw + k);
      rt.write(rows, params.logSigma.subarray(r * kd, (r + 1) * kd), r * hw + k + kd);
    }
    const ry = rt.alloc("y", n * d);
    rt.write(ry, y);
    const g = rt.alloc("g", n * hw);
    const res = rt.alloc("res", 4);
    const scratch = rt.alloc("scratch", rt.headScratchFloats(k, d));
    const bad = rt.mixtureHead(
      {
        n,
        k,
        d,
        logits: rows,
        logitsOff: 0,
        logitsStride: hw,
        mu: rows,
        muOff: k,
        s: rows,
        sOff: k + kd,
        msStride: hw,
        y: ry,
        gLogits: g,
        gLogitsOff: 0,
        gLogitsStride: hw,
        gMu: g,
        gMuOff: k,
        gS: g,
        gSOff: k + kd,
        gMsStride: hw,
      },
      { variant: VARIANT_CODES["ngem-full"], sigmaCoords: false, piFloor: 0.01 },
      scratch,
      res,
    );
    expect(bad).toBe(-1);
    const want = await ref.head(params, y, { variant: "ngem-full" });
    const gv = rt.read(g);
    const col = (off: number, w: number) => Float32Array.from({ length: n * w }, (_, i) => gv[Math.floor(i / w) * hw + off + (i % w)] as number);
    expect(normwiseError([rt.f64[res.ptr >>> 3] as number], [want.loss])).toBeLessThan(TOL);
    expect(normwiseError(col(0, k), want.grads.logits)).toBeLessThan(TOL);
    expect(normwiseError(col(k, kd), want.grads.mu)).toBeLessThan(TOL);
    expect(normwiseError(col(k + kd, kd), want.grads.logSigma)).toBeLessThan(TOL);
  });
});
