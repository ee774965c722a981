import { describe, expect, it } from "vitest";
import {
  categoricalFisher,
  gaussianFisherDiagonal,
  mixtureHead,
  negQ,
  negQGradients,
  nll,
  responsibilities,
  softmax,
  type MixtureParams,
} from "../src/index.js";
import { finiteDiff, normRelErr, randomMixture, SHAPES, solve } from "./helpers.js";

describe("NLL gradients vs finite differences (float64)", () => {
  for (const [n, k, d] of SHAPES) {
    it(`N=${n} K=${k} D=${d}: logits, mu, logSigma within 1e-6`, () => {
      const { m, y } = randomMixture(11 + n * k * d, n, k, d);
      const g = mixtureHead(m, y, { variant: "nll" }).grads;
      const f = (p: MixtureParams) => nll(p, y);
      for (const field of ["logits", "mu", "logSigma"] as const) {
        const fd = finiteDiff(m, field, f);
        expect(normRelErr(g[field], fd), field).toBeLessThan(1e-6);
      }
    });
  }

  it("the reported loss equals nll() and -Q equals negQ() at the current rho for every variant", () => {
    const { m, y } = randomMixture(5, 6, 3, 2);
    const rho = responsibilities(m, y);
    for (const variant of ["nll", "em", "ngem", "ngem-full"] as const) {
      const r = mixtureHead(m, y, { variant });
      expect(r.loss).toBeCloseTo(nll(m, y), 12);
      expect(r.negQ).toBeCloseTo(negQ(m, y, rho), 12);
    }
  });
});

describe("EM objective (Prop. 3.1)", () => {
  it("the gradient of -Q with rho fixed matches its finite differences", () => {
    const { m, y } = randomMixture(21, 4, 3, 2);
    const rho = responsibilities(randomMixture(99, 4, 3, 2).m, y); // any fixed rho
    const g = negQGradients(m, y, rho);
    for (const field of ["logits", "mu", "logSigma"] as const) {
      const fd = finiteDiff(m, field, (p) => negQ(p, y, rho));
      expect(normRelErr(g[field], fd), field).toBeLessThan(1e-6);
    }
  });

  for (const [n, k, d] of SHAPES) {
    it(`N=${n} K=${k} D=${d}: em gradient (grad of -Q at rho_t) equals the NLL gradient to 1e-10`, () => {
      const { m, y } = randomMixture(31 + n + k + d, n, k, d);
      const gNll = mixtureHead(m, y, { variant: "nll" }).grads;
      const gQ = negQGradients(m, y, responsibilities(m, y));
      const gEm = mixtureHead(m, y, { variant: "em" }).grads;
      for (const field of ["logits", "mu", "logSigma"] as const) {
        expect(normRelErr(gQ[field], gNll[field]), field).toBeLessThan(1e-10);
        expect(normRelErr(gEm[field], gNll[field]), field).toBeLessThan(1e-10);
      }
    });
  }

  it("the identity needs rho from the current parameters: stale rho gives a different gradient", () => {
    const { m, y } = randomMixture(41, 5, 3, 2);
    const stale = responsibilities(randomMixture(42, 5, 3, 2).m, y);
    const gNll = mixtureHead(m, y, { variant: "nll" }).grads;
    const gQ = negQGradients(m, y, stale);
    expect(normRelErr(gQ.mu, gNll.mu)).toBeGreaterThan(1e-3);
  });
});

/** Applies a D x D diagonal (given as an array) to a vector. */
const mulDiag = (diag: ArrayLike<number>, v: ArrayLike<number>) => Float64Array.from(v, (x, i) => x * (diag[i] as number));

describe("nGEM = inverse Fisher x EM gradient", () => {
  const n = 4,
    k = 3,
    d = 2;
  const { m, y } = randomMixture(77, n, k, d);
  const em = mixtureHead(m, y, { variant: "em" }).grads;
  const pi = softmax(m.logits, n, k);

  for (const coords of ["log-sigma", "sigma"] as const) {
    for (const variant of ["ngem", "ngem-full"] as const) {
      it(`${variant} (${coords}): F_gauss x natural grad = EM grad, per component`, () => {
        const g = mixtureHead(m, y, { variant, fisherCoords: coords, piFloor: 1e-6 }).grads;
        for (let r = 0; r < n; r++) {
          for (let c = 0; c < k; c++) {
            const base = (r * k + c) * d;
            const weight = variant === "ngem-full" ? (pi[r * k + c] as number) : 1;
            const F = gaussianFisherDiagonal(m.logSigma, base, d, coords, weight);
            const nat = [...g.mu.subarray(base, base + d), ...g.logSigma.subarray(base, base + d)];
            // In "sigma" coordinates the scale entries are in sigma: convert s-grads by 1/sigma.
            const sig = Array.from(m.logSigma.subarray(base, base + d), (s) => Math.exp(s));
            const emVec = [...em.mu.subarray(base, base + d), ...em.logSigma.subarray(base, base + d)];
            let natC = nat;
            let emC = emVec;
            if (coords === "sigma") {
              // natural grad in sigma = (s-column) / sigma; EM grad in sigma = EM s-grad / sigma
              natC = [...nat.slice(0, d), ...nat.slice(d).map((v, i) => v / (sig[i] as number))];
              emC = [...emVec.slice(0, d), ...emVec.slice(d).map((v, i) => v / (sig[i] as number))];
            }
            const lhs = mulDiag(F, natC);
            expect(normRelErr(lhs, emC)).toBeLessThan(1e-12);
          }
        }
      });
    }
  }

  it("ngem logits gradient is the EM one (categorical block not preconditioned)", () => {
    const g = mixtureHead(m, y, { variant: "ngem" }).grads;
    expect(normRelErr(g.logits, em.logits)).toBeLessThan(1e-14);
  });

  it("ngem-full logits: F_cat g = EM grad, and g is the pseudo-inverse solution (orthogonal to the constant null direction)", () => {
    const g = mixtureHead(m, y, { variant: "ngem-full", piFloor: 1e-6 }).grads;
    for (let r = 0; r < n; r++) {
      const F = categoricalFisher(pi, r * k, k);
      const gr = g.logits.subarray(r * k, r * k + k);
      const Fg = new Float64Array(k);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) Fg[i] = (Fg[i] as number) + (F[i * k + j] as number) * (gr[j] as number);
      expect(normRelErr(Fg, em.logits.subarray(r * k, r * k + k))).toBeLessThan(1e-12);
      expect(Math.abs(gr.reduce((s, v) => s + v, 0))).toBeLessThan(1e-14);
      // Explicit pseudo-inverse: F+ = (F + J/k)^-1 - J/k, J the all-ones matrix.
      const FJ = Float64Array.from(F, (v) => v + 1 / k);
      const rhs = em.logits.subarray(r * k, r * k + k);
      const sol = solve(FJ, Float64Array.from(rhs), k);
      const mean = rhs.reduce((s, v) => s + v, 0) / k; // J/k applied to rhs (= 0 up to rounding)
      const pinv = sol.map((v) => v - mean);
      expect(normRelErr(gr, pinv)).toBeLessThan(1e-10);
    }
  });

  it("ngem-full floors pi: a component with pi below the floor gets rho/floor, bounded", () => {
    const mm: MixtureParams = { n: 1, k: 2, d: 1, logits: new Float64Array([0, -20]), mu: new Float64Array([0, 3]), logSigma: new Float64Array([0, 0]) };
    const yy = new Float64Array([3]);
    const floor = 0.01;
    const g = mixtureHead(mm, yy, { variant: "ngem-full", piFloor: floor }).grads;
    const rho = responsibilities(mm, yy);
    expect(g.mu[1]).toBeCloseTo(-((rho[1] as number) / floor) * 0, 12); // y == mu_1: zero step on mu_1
    const raw = [1 - (rho[0] as number) / Math.max(softmax(mm.logits, 1, 2)[0] as number, floor), 1 - (rho[1] as number) / floor];
    const c = (raw[0]! + raw[1]!) / 2;
    expect(g.logits[0]).toBeCloseTo(raw[0]! - c, 12);
    expect(g.logits[1]).toBeCloseTo(raw[1]! - c, 12);
    expect(Math.abs(g.logits[1] as number)).toBeLessThanOrEqual(1 / floor);
  });

  it("the two fisherCoords differ exactly by the sigma^2 factor on the scale step", () => {
    const a = mixtureHead(m, y, { variant: "ngem", fisherCoords: "log-sigma" }).grads;
    const b = mixtureHead(m, y, { variant: "ngem", fisherCoords: "sigma" }).grads;
    const scaled = a.logSigma.map((v, i) => v * Math.exp(2 * (m.logSigma[i] as number)));
    expect(normRelErr(b.logSigma, scaled)).toBeLessThan(1e-13);
    expect(normRelErr(b.mu, a.mu)).toBe(0);
  });
});
