/**
 * Head options `damping` (Levenberg-Marquardt lambda) and `precondition` (issue 19):
 * the theory's limits (lambda = 0 is nGEM exactly, lambda -> 0 is continuous,
 * lambda -> infinity is EM / lambda), the defining identity (F + lambda I) g = g_em per
 * block against core's Fisher blocks and against finite differences of -Q, the
 * partial precondition sets, and the validation errors.
 */
import { describe, expect, it } from "vitest";
import {
  categoricalFisher,
  dampedCategorical,
  gaussianFisherDiagonal,
  mixtureHead,
  mixtureHeadRaw,
  negQ,
  resolveHeadOptions,
  responsibilities,
  ShapeError,
  softmax,
  type FisherCoords,
  type HeadOptions,
  type MixtureParams,
} from "../src/index.js";
import { finiteDiff, normRelErr, randomMixture, SHAPES } from "./helpers.js";

const NATURAL = ["ngem", "ngem-full"] as const;
const COORDS: FisherCoords[] = ["log-sigma", "sigma"];
// a floor below every pi of the random cases, so the Fisher is the exact complete-data one
const PI_FLOOR = 1e-9;

describe("damping: the theory's limits", () => {
  for (const variant of ["nll", "em", "ngem", "ngem-full"] as const) {
    for (const fisherCoords of COORDS) {
      it(`${variant}/${fisherCoords}: damping 0 (and precondition = all blocks) is bit-identical to the undamped head`, () => {
        const { m, y } = randomMixture(3, 5, 4, 3);
        const base = mixtureHead(m, y, { variant, fisherCoords });
        const zero = mixtureHead(m, y, { variant, fisherCoords, damping: 0, precondition: ["scale", "mu", "logits"] });
        expect(zero).toEqual(base);
      });
    }
  }

  for (const variant of NATURAL) {
    for (const fisherCoords of COORDS) {
      it(`${variant}/${fisherCoords}: lambda -> 0 converges to nGEM (Fisher identity), lambda -> infinity to EM / lambda`, () => {
        for (const [n, k, d] of SHAPES) {
          const { m, y } = randomMixture(7 + n * k * d, n, k, d);
          const o = { variant, fisherCoords, piFloor: PI_FLOOR } as const;
          const nat = mixtureHead(m, y, o).grads;
          const tiny = mixtureHead(m, y, { ...o, damping: 1e-9 }).grads;
          for (const f of ["logits", "mu", "logSigma"] as const) expect(normRelErr(tiny[f], nat[f]), `${f} [${n},${k},${d}]`).toBeLessThan(1e-6);
          const lambda = 1e9;
          const big = mixtureHead(m, y, { ...o, damping: lambda }).grads;
          const em = mixtureHead(m, y, { variant: "em" }).grads;
          // EM's logits gradient centred (the damped categorical step lies in the Fisher's range)
          const emA = Float64Array.from(em.logits);
          for (let i = 0; i < n; i++) {
            let c = 0;
            for (let j = 0; j < k; j++) c += emA[i * k + j] as number;
            for (let j = 0; j < k; j++) emA[i * k + j] = (emA[i * k + j] as number) - c / k;
          }
          const want = { logits: variant === "ngem-full" ? emA : em.logits.map((v) => v / lambda), mu: em.mu, logSigma: em.logSigma };
          for (const f of ["logits", "mu", "logSigma"] as const) {
            // in both coordinates the scale column tends to the EM log-sigma gradient / lambda
            const w = want[f];
            const scaled = f === "logits" && variant === "ngem" ? big[f] : big[f].map((v) => v * lambda);
            expect(normRelErr(scaled, f === "logits" && variant === "ngem" ? em.logits : w), `${f} [${n},${k},${d}]`).toBeLessThan(1e-6);
          }
        }
      });
    }
  }
});

describe("damping: (F + lambda I) g_damped = g_em per block", () => {
  for (const variant of NATURAL) {
    for (const fisherCoords of COORDS) {
      for (const lambda of [0.01, 0.5, 3]) {
        it(`${variant}/${fisherCoords} lambda ${lambda}: against core's Fisher blocks and finite differences of -Q (rho fixed)`, () => {
          for (const [n, k, d] of SHAPES) {
            const { m, y } = randomMixture(17 + n + 3 * k + 7 * d, n, k, d);
            const g = mixtureHead(m, y, { variant, fisherCoords, piFloor: PI_FLOOR, damping: lambda }).grads;
            const rho = responsibilities(m, y);
            const pi = softmax(m.logits, n, k);
            const fq = (p: MixtureParams) => negQ(p, y, rho);
            const fd = { logits: finiteDiff(m, "logits", fq), mu: finiteDiff(m, "mu", fq), logSigma: finiteDiff(m, "logSigma", fq) };
            const lhs = { logits: new Float64Array(n * k), mu: new Float64Array(n * k * d), logSigma: new Float64Array(n * k * d) };
            for (let i = 0; i < n; i++) {
              // categorical block: ngem leaves the logits alone (lhs = g), ngem-full solves (F_cat + lambda I)
              if (variant === "ngem-full") {
                const F = categoricalFisher(pi, i * k, k);
                for (let a = 0; a < k; a++) {
                  let s = lambda * (g.logits[i * k + a] as number);
                  for (let b = 0; b < k; b++) s += (F[a * k + b] as number) * (g.logits[i * k + b] as number);
                  lhs.logits[i * k + a] = s;
                }
              } else lhs.logits.set(g.logits.subarray(i * k, (i + 1) * k), i * k);
              for (let c = 0; c < k; c++) {
                const base = (i * k + c) * d;
                const w = variant === "ngem-full" ? (pi[i * k + c] as number) : 1;
                const F = gaussianFisherDiagonal(m.logSigma, base, d, fisherCoords, w);
                for (let j = 0; j < d; j++) {
                  lhs.mu[base + j] = ((F[j] as number) + lambda) * (g.mu[base + j] as number);
                  // sigma coords: the column is sigma x the sigma-step g_sigma, and (F_sigma + lambda) g_sigma = g_s / sigma,
                  // so (F_sigma + lambda) x column = g_s in both coordinates
                  lhs.logSigma[base + j] = ((F[d + j] as number) + lambda) * (g.logSigma[base + j] as number);
                }
              }
            }
            const emLogits = variant === "ngem-full" ? fd.logits : g.logits; // ngem: the logits are not preconditioned
            expect(normRelErr(lhs.logits, emLogits), `logits [${n},${k},${d}]`).toBeLessThan(1e-6);
            expect(normRelErr(lhs.mu, fd.mu), `mu [${n},${k},${d}]`).toBeLessThan(1e-6);
            expect(normRelErr(lhs.logSigma, fd.logSigma), `logSigma [${n},${k},${d}]`).toBeLessThan(1e-6);
            if (variant === "ngem") expect(normRelErr(g.logits, fd.logits), "ngem logits = EM").toBeLessThan(1e-6);
          }
        });
      }
    }
  }

  it("dampedCategorical solves (diag(pi) - pi pi^T + lambda I) g = b to 1e-12 and returns a centred g", () => {
    const pi = [0.7, 0.2, 0.0999, 0.0001];
    const b = [0.3, -0.1, -0.15, -0.05];
    for (const lambda of [1e-6, 1e-3, 0.1, 10]) {
      const g = new Float64Array(4);
      dampedCategorical(pi, b, lambda, 4, g);
      const F = categoricalFisher(pi);
      for (let a = 0; a < 4; a++) {
        let s = lambda * (g[a] as number);
        for (let c = 0; c < 4; c++) s += (F[a * 4 + c] as number) * (g[c] as number);
        expect(Math.abs(s - (b[a] as number)), `lambda ${lambda} row ${a}`).toBeLessThan(1e-12 * Math.max(1, 1 / lambda));
      }
      expect(Math.abs(g.reduce((x, v) => x + v, 0))).toBeLessThan(1e-12 / Math.min(1, lambda));
    }
  });

  it("damping bounds the ngem-full step where pi is tiny (no floor needed): |mu step| <= rho |y - mu| / (lambda sigma^2)", () => {
    const m: MixtureParams = {
      n: 1,
      k: 2,
      d: 1,
      logits: Float64Array.of(0, -30),
      mu: Float64Array.of(-8, 0.1),
      logSigma: Float64Array.of(0, 0),
    };
    const y = Float64Array.of(0);
    const lambda = 1;
    const g = mixtureHead(m, y, { variant: "ngem-full", piFloor: 1e-300, damping: lambda }).grads;
    const undamped = mixtureHead(m, y, { variant: "ngem-full", piFloor: 1e-300 }).grads;
    const rho = responsibilities(m, y);
    expect(Math.abs(undamped.mu[1] as number)).toBeGreaterThan(1e10);
    expect(Math.abs(g.mu[1] as number)).toBeLessThanOrEqual(((rho[1] as number) * 0.1) / lambda + 1e-15);
    for (const v of [...g.logits, ...g.mu, ...g.logSigma]) expect(Number.isFinite(v)).toBe(true);
    expect(Math.max(...g.logits.map(Math.abs))).toBeLessThan(1 / lambda + 1e-12);
  });
});

describe("precondition: the per-block ablation", () => {
  const { m, y } = randomMixture(41, 6, 3, 2);
  for (const variant of NATURAL) {
    for (const damping of [0, 0.3]) {
      it(`${variant} damping ${damping}: each block is the natural one when listed, EM when not`, () => {
        const all = mixtureHead(m, y, { variant, damping }).grads;
        const em = mixtureHead(m, y, { variant: "em" }).grads;
        const blocks = [["logits"], ["mu"], ["scale"], ["logits", "mu"], ["mu", "scale"], []] as const;
        for (const pre of blocks) {
          const g = mixtureHead(m, y, { variant, damping, precondition: pre }).grads;
          const logitsNatural = pre.includes("logits" as never) && variant === "ngem-full";
          expect(g.logits, `${pre} logits`).toEqual(logitsNatural ? all.logits : em.logits);
          const muWant = pre.includes("mu" as never) ? all.mu : em.mu;
          const sWant = pre.includes("scale" as never) ? all.logSigma : em.logSigma;
          expect(normRelErr(g.mu, muWant), `${pre} mu`).toBeLessThan(1e-14);
          expect(normRelErr(g.logSigma, sWant), `${pre} logSigma`).toBeLessThan(1e-14);
        }
      });
    }
  }

  it("raw-scale path: a scale block left out is chained like em (softplus, isotropic and shared covariance)", () => {
    const n = 4,
      k = 3,
      d = 2;
    const { m: mm, y: yy } = randomMixture(5, n, k, d);
    for (const covariance of ["diag", "isotropic", "shared"] as const) {
      const S = covariance === "diag" ? k * d : covariance === "isotropic" ? k : d;
      const raw = { n, k, d, logits: mm.logits, mu: mm.mu, scale: new Float64Array(n * S).map((_, i) => 0.3 * Math.sin(i)) };
      const head = { scale: "softplus", sigmaMin: 0.01, covariance } as const;
      const em = mixtureHeadRaw(raw, yy, { ...head, variant: "em" });
      for (const variant of NATURAL) {
        const r = mixtureHeadRaw(raw, yy, { ...head, variant, damping: 0.2, precondition: ["logits", "mu"] });
        expect(normRelErr(r.grads.scale, em.grads.scale), `${covariance} ${variant}`).toBeLessThan(1e-14);
      }
    }
  });
});

describe("damping / precondition validation", () => {
  const { m, y } = randomMixture(1, 2, 2, 1);
  const bad: [HeadOptions, RegExp][] = [
    [{ damping: -0.1 }, /damping/],
    [{ damping: Number.NaN }, /damping/],
    [{ damping: Number.POSITIVE_INFINITY }, /damping/],
    [{ damping: "0.1" as unknown as number }, /damping/],
    [{ precondition: ["sigma" as never] }, /precondition/],
    [{ precondition: ["mu", "mu"] }, /precondition/],
    [{ precondition: "mu" as never }, /precondition/],
  ];
  for (const [o, re] of bad) {
    it(`rejects ${JSON.stringify(o)} with a ShapeError naming the option`, () => {
      expect(() => resolveHeadOptions(o)).toThrow(ShapeError);
      expect(() => mixtureHead(m, y, o)).toThrow(re);
    });
  }
  it("resolves the defaults (damping 0, all blocks, canonical order)", () => {
    expect(resolveHeadOptions({})).toMatchObject({ damping: 0, precondition: ["logits", "mu", "scale"] });
    expect(resolveHeadOptions({ precondition: ["scale", "mu"] }).precondition).toEqual(["mu", "scale"]);
  });
});
