import { describe, expect, it } from "vitest";
import { crpsGaussian, crpsMixture, crpsMixture1d, kolmogorovSf, normalCdf, pinballLoss, pitUniformity, Rng, type MixtureParams } from "../src/index.js";

/** CRPS by numerical integration of (F(z) - 1{z >= y})^2 dz, composite Simpson on each side of y. */
function crpsByIntegration(y: number, pi: number[], mu: number[], sigma: number[]): number {
  const cdf = (z: number) => pi.reduce((s, p, k) => s + p * normalCdf((z - mu[k]!) / sigma[k]!), 0);
  const sf = (z: number) => pi.reduce((s, p, k) => s + p * normalCdf(-(z - mu[k]!) / sigma[k]!), 0);
  const lo = Math.min(y, ...mu.map((m, k) => m - 40 * sigma[k]!));
  const hi = Math.max(y, ...mu.map((m, k) => m + 40 * sigma[k]!));
  const simpson = (f: (z: number) => number, a: number, b: number, n: number) => {
    const h = (b - a) / n;
    let s = f(a) + f(b);
    for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
    return (s * h) / 3;
  };
  return simpson((z) => cdf(z) ** 2, lo, y, 200_000) + simpson((z) => sf(z) ** 2, y, hi, 200_000);
}

describe("CRPS of Gaussian mixtures (closed form, Grimit et al. 2006)", () => {
  const cases: { y: number; pi: number[]; mu: number[]; sigma: number[] }[] = [
    { y: 0.3, pi: [0.2, 0.5, 0.3], mu: [-2, 0.5, 3], sigma: [0.6, 1, 0.3] },
    { y: 5, pi: [0.5, 0.5], mu: [-1, 1], sigma: [0.1, 0.1] },
    { y: -7.5, pi: [0.9, 0.1], mu: [0, 0.2], sigma: [2, 0.01] },
    { y: 1e-3, pi: [1], mu: [0], sigma: [1e-3] },
  ];
  for (const c of cases) {
    it(`matches numerical integration to 1e-6 relative (y = ${c.y}, K = ${c.pi.length})`, () => {
      const closed = crpsMixture1d(c.y, c.pi, c.mu, c.sigma);
      const numeric = crpsByIntegration(c.y, c.pi, c.mu, c.sigma);
      expect(Math.abs(closed - numeric) / numeric).toBeLessThan(1e-6);
    });
  }

  it("equals the single-Gaussian closed form for K = 1 and for K identical components", () => {
    for (const [y, m, s] of [
      [0, 0, 1],
      [2.5, -1, 0.4],
      [-30, 2, 7],
      [1e-8, 0, 1e-6],
    ] as const) {
      const g = crpsGaussian(y, m, s);
      expect(crpsMixture1d(y, [1], [m], [s])).toBeCloseTo(g, 12);
      const three = crpsMixture1d(y, [0.2, 0.3, 0.5], [m, m, m], [s, s, s]);
      expect(Math.abs(three - g) / g).toBeLessThan(1e-12);
    }
    // known value: CRPS of N(0,1) at 0 is 2 phi(0) - 1/sqrt(pi) = (sqrt 2 - 1)/sqrt(pi)
    expect(crpsGaussian(0, 0, 1)).toBeCloseTo((Math.SQRT2 - 1) / Math.sqrt(Math.PI), 14);
  });

  it("is scale-equivariant and works per dimension on the marginals", () => {
    const m: MixtureParams = {
      n: 2,
      k: 2,
      d: 2,
      logits: Float64Array.of(0.3, -0.2, 0, 1),
      mu: Float64Array.of(0, 1, 2, -1, 0.5, 0.5, -3, 4),
      logSigma: Float64Array.of(0, -1, 0.2, 0.1, -0.5, 0, 0.3, -0.3),
    };
    const y = Float64Array.of(0.2, 0.7, -1, 2);
    const c = crpsMixture(m, y);
    const pi0 = [Math.exp(0.3) / (Math.exp(0.3) + Math.exp(-0.2)), Math.exp(-0.2) / (Math.exp(0.3) + Math.exp(-0.2))];
    expect(c[1]).toBeCloseTo(crpsMixture1d(0.7, pi0, [1, -1], [Math.exp(-1), Math.exp(0.1)]), 14);
    const a = 1e6;
    const scaled = crpsMixture(
      { ...m, mu: m.mu.map((v) => v * a), logSigma: m.logSigma.map((v) => v + Math.log(a)) },
      y.map((v) => v * a),
    );
    for (let i = 0; i < 4; i++) expect(scaled[i]! / a).toBeCloseTo(c[i]!, 10);
  });

  it("a point mass gives |y - mu|; a far target gives about the distance", () => {
    expect(crpsMixture1d(3, [1], [1], [0])).toBe(2);
    // far target: E|Y - y| = 1000 exactly by symmetry, minus E|Y - Y'| / 2 with
    // E|Y - Y'| = 1/2 A(0, 0.1 sqrt 2) + 1/2 A(2, 0.1 sqrt 2), A(2, .) = 2 to 1e-40
    const spread = (0.5 * 2 * 0.1 * Math.SQRT2) / Math.sqrt(2 * Math.PI) + 0.5 * 2;
    expect(crpsMixture1d(1e3, [0.5, 0.5], [-1, 1], [0.1, 0.1])).toBeCloseTo(1e3 - spread / 2, 9);
  });
});

describe("pinball loss and PIT uniformity", () => {
  it("pinball loss is tau*(y-q) above the quantile and (1-tau)*(q-y) below", () => {
    expect(pinballLoss(3, 1, 0.9)).toBeCloseTo(1.8, 14);
    expect(pinballLoss(1, 3, 0.9)).toBeCloseTo(0.2, 14);
    expect(pinballLoss(2, 2, 0.5)).toBe(0);
    expect(() => pinballLoss(1, 1, 1)).toThrow(/tau/);
  });

  it("KS distance and chi-square tell uniform PIT values from skewed ones", () => {
    const rng = new Rng(7);
    const u = Float64Array.from({ length: 5000 }, () => rng.uniform());
    const good = pitUniformity(u);
    expect(good.ks).toBeLessThan(0.03);
    expect(good.ksPValue).toBeGreaterThan(0.01);
    expect(good.chiSquare).toBeLessThan(30);
    const bad = pitUniformity(u.map((v) => v * v));
    expect(bad.ks).toBeGreaterThan(0.2);
    expect(bad.ksPValue).toBeLessThan(1e-6);
    expect(bad.chiSquare).toBeGreaterThan(1000);
    expect(pitUniformity([0.5]).ks).toBe(0.5);
    expect(kolmogorovSf(1.36)).toBeCloseTo(0.049, 2);
  });
});
