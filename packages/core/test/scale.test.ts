import { describe, expect, it } from "vitest";
import {
  COVARIANCES,
  expandScale,
  mixtureHead,
  mixtureHeadRaw,
  negQ,
  nll,
  responsibilities,
  Rng,
  SCALE_PARAMS,
  scaleIndex,
  scaleWidth,
  softmax,
  type Covariance,
  type RawHead,
  type ScaleParam,
} from "../src/index.js";
import { logSigmaOf } from "../src/scale.js";
import { normRelErr } from "./helpers.js";

function randomRaw(seed: number, n: number, k: number, d: number, cov: Covariance): { raw: RawHead; y: Float64Array } {
  const rng = new Rng(seed);
  const S = scaleWidth(k, d, cov);
  return {
    raw: {
      n,
      k,
      d,
      logits: new Float64Array(n * k).map(() => rng.normal()),
      mu: new Float64Array(n * k * d).map(() => rng.normal()),
      scale: new Float64Array(n * S).map(() => 2 * rng.uniform() - 1),
    },
    y: new Float64Array(n * d).map(() => 1.3 * rng.normal()),
  };
}

/** Central differences of f w.r.t. the raw scale. */
function fdScale(raw: RawHead, f: (r: RawHead) => number, h = 1e-6): Float64Array {
  const out = new Float64Array(raw.scale.length);
  for (let i = 0; i < out.length; i++) {
    const p = Float64Array.from(raw.scale);
    const m = Float64Array.from(raw.scale);
    p[i] = (p[i] as number) + h;
    m[i] = (m[i] as number) - h;
    out[i] = (f({ ...raw, scale: p }) - f({ ...raw, scale: m })) / (2 * h);
  }
  return out;
}

const SHAPE: [number, number, number] = [3, 3, 2];

describe("scale parameterisations x covariances x variants (js, float64)", () => {
  for (const scale of SCALE_PARAMS) {
    for (const covariance of COVARIANCES) {
      for (const sigmaMin of [0, 0.05]) {
        const tag = `${scale} ${covariance} sigmaMin=${sigmaMin}`;
        it(`${tag}: nll/em gradients = finite differences; ngem/ngem-full = F^-1 x FD(EM objective), both Fisher coordinates`, () => {
          const [n, k, d] = SHAPE;
          const { raw, y } = randomRaw(SCALE_PARAMS.indexOf(scale) * 10 + COVARIANCES.indexOf(covariance) + (sigmaMin ? 100 : 0), n, k, d, covariance);
          const o = { scale, covariance, sigmaMin };
          const ex = expandScale(raw, o);
          const rho = responsibilities(ex.params, y);
          const fdNll = fdScale(raw, (r) => nll(expandScale(r, o).params, y));
          const fdEm = fdScale(raw, (r) => negQ(expandScale(r, o).params, y, rho));
          const gNll = mixtureHeadRaw(raw, y, { ...o, variant: "nll" }).grads.scale;
          const gEm = mixtureHeadRaw(raw, y, { ...o, variant: "em" }).grads.scale;
          expect(normRelErr(gNll, fdNll)).toBeLessThan(1e-6);
          expect(normRelErr(gEm, fdEm)).toBeLessThan(1e-6);
          const pi = softmax(raw.logits, n, k);
          const S = scaleWidth(k, d, covariance);
          for (const variant of ["ngem", "ngem-full"] as const) {
            // Fisher of each raw scale entry: sum over the (k, d) it feeds of w * (Fisher of log sigma = 2) * s'^2
            const Fr = new Float64Array(n * S);
            const Fsig = new Float64Array(n * S); // the same in sigma coordinates: sum of w * 2 / sigma^2
            const sig = new Float64Array(n * S);
            const ds = new Float64Array(n * S);
            for (let r = 0; r < n; r++) {
              for (let c = 0; c < k; c++) {
                const w = variant === "ngem-full" ? (pi[r * k + c] as number) : 1;
                for (let e = 0; e < d; e++) {
                  const j = r * S + scaleIndex(c, e, d, covariance);
                  const v = logSigmaOf(raw.scale[j] as number, scale, sigmaMin);
                  ds[j] = v.ds;
                  sig[j] = Math.exp(v.s);
                  Fr[j] = (Fr[j] as number) + w * 2 * v.ds * v.ds;
                  Fsig[j] = (Fsig[j] as number) + (w * 2) / Math.exp(2 * v.s);
                }
              }
            }
            const nat = mixtureHeadRaw(raw, y, { ...o, variant, piFloor: 1e-9 }).grads.scale;
            const want = fdEm.map((g, j) => g / (Fr[j] as number));
            expect(normRelErr(nat, want), `${variant} log-sigma`).toBeLessThan(1e-6);
            // sigma coordinates: natural gradient in sigma (g_sigma = g_r / sigma'(r)), chained back to r (x sigma'(r))
            const natS = mixtureHeadRaw(raw, y, { ...o, variant, piFloor: 1e-9, fisherCoords: "sigma" }).grads.scale;
            const wantS = fdEm.map((g, j) => {
              const dsig = (ds[j] as number) * (sig[j] as number);
              return (g / dsig / (Fsig[j] as number)) * dsig;
            });
            expect(normRelErr(natS, wantS), `${variant} sigma`).toBeLessThan(1e-6);
            // logits and means are untouched by the scale choice
            const diag = mixtureHead(ex.params, y, { variant, piFloor: 1e-9 });
            expect(normRelErr(mixtureHeadRaw(raw, y, { ...o, variant, piFloor: 1e-9 }).grads.mu, diag.grads.mu)).toBe(0);
          }
        });
      }
    }
  }

  it("the default head (exp, no floor, diag) is exactly mixtureHead", () => {
    const { raw, y } = randomRaw(5, 4, 3, 2, "diag");
    for (const variant of ["nll", "ngem", "ngem-full"] as const) {
      const a = mixtureHeadRaw(raw, y, { variant });
      const b = mixtureHead({ ...raw, logSigma: raw.scale }, y, { variant });
      expect(Array.from(a.grads.scale)).toEqual(Array.from(b.grads.logSigma));
      expect(a.loss).toBe(b.loss);
    }
  });

  it("the floor keeps sigma >= sigmaMin, counts hits, and keeps gradients finite as the raw scale runs away", () => {
    const raw: RawHead = { n: 1, k: 2, d: 1, logits: new Float64Array(2), mu: new Float64Array([0, 3]), scale: new Float64Array([-60, 0]) };
    const y = new Float64Array([0]);
    for (const scale of SCALE_PARAMS as readonly ScaleParam[]) {
      const ex = expandScale(raw, { scale, sigmaMin: 1e-3 });
      expect(Math.exp(ex.params.logSigma[0] as number)).toBeGreaterThanOrEqual(1e-3);
      expect(Math.exp(ex.params.logSigma[0] as number)).toBeLessThan(1.01e-3);
      expect(ex.floorHits).toBe(1);
      for (const variant of ["nll", "ngem", "ngem-full"] as const) {
        const g = mixtureHeadRaw(raw, y, { scale, sigmaMin: 1e-3, variant }).grads.scale;
        expect(g.every(Number.isFinite), `${scale} ${variant}`).toBe(true);
      }
    }
    // Without a floor, exp(-60) is a sigma of 9e-27: the density is far larger
    expect(nll(expandScale(raw, { sigmaMin: 0 }).params, y)).toBeLessThan(nll(expandScale(raw, { sigmaMin: 1e-3 }).params, y) - 50);
  });

  it("bad options name the field", () => {
    const { raw, y } = randomRaw(1, 2, 2, 2, "diag");
    expect(() => mixtureHeadRaw(raw, y, { scale: "relu" as never })).toThrow(/scale: expected one of exp \| softplus \| elu\+1/);
    expect(() => mixtureHeadRaw(raw, y, { sigmaMin: -1 })).toThrow(/sigmaMin/);
    expect(() => mixtureHeadRaw(raw, y, { covariance: "full" as never })).toThrow(/covariance/);
    expect(() => mixtureHeadRaw(raw, y, { covariance: "isotropic" })).toThrow(/scale: expected shape \[N, S\] = \[2, 2\]/);
  });
});
