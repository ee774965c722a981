import { describe, expect, it } from "vitest";
import { logProb, marginal, mixtureMean, mixtureMode, mixtureVariance, Rng, sample, type MixtureParams } from "../src/index.js";

const mix: MixtureParams = {
  n: 2,
  k: 3,
  d: 2,
  logits: new Float64Array([0.2, -0.5, 1.0, 0, 0, 0]),
  mu: new Float64Array([-2, 1, 0.5, 0.5, 3, -1, 0, 0, 1, 1, -1, 2]),
  logSigma: new Float64Array([-0.5, 0, 0.2, -1, -0.3, 0.1, 0, 0, -1, -1, 0.5, -0.2]),
};

describe("sampling", () => {
  it("1e5 seeded samples match the mixture mean and variance within 5 standard errors", () => {
    const S = 100_000;
    const s = sample(mix, { count: S, seed: 42 });
    const mean = mixtureMean(mix);
    const variance = mixtureVariance(mix);
    for (let n = 0; n < mix.n; n++) {
      for (let d = 0; d < mix.d; d++) {
        let m1 = 0;
        let m2 = 0;
        for (let c = 0; c < S; c++) {
          const v = s[(n * S + c) * mix.d + d] as number;
          m1 += v;
          m2 += v * v;
        }
        m1 /= S;
        const v = m2 / S - m1 * m1;
        const sv = variance[n * mix.d + d] as number;
        expect(Math.abs(m1 - (mean[n * mix.d + d] as number))).toBeLessThan(5 * Math.sqrt(sv / S));
        // variance of the sample variance ~ (mu4 - sigma^4)/S; bound mu4 <= 10 sigma^4 for these mixtures
        expect(Math.abs(v - sv)).toBeLessThan(5 * Math.sqrt((9 * sv * sv) / S));
      }
    }
  });

  it("the same seed gives the same samples; another seed does not; an Rng continues the stream", () => {
    const a = sample(mix, { count: 50, seed: 7 });
    const b = sample(mix, { count: 50, seed: 7 });
    const c = sample(mix, { count: 50, seed: 8 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const rng = new Rng(7);
    const first = sample(mix, { count: 25, rng });
    const second = sample(mix, { count: 25, rng });
    expect(Array.from(first)).not.toEqual(Array.from(second));
  });

  it("component frequencies follow pi (chi-square-style bound)", () => {
    const one: MixtureParams = {
      n: 1,
      k: 2,
      d: 1,
      logits: new Float64Array([0, Math.log(3)]),
      mu: new Float64Array([-100, 100]),
      logSigma: new Float64Array([0, 0]),
    };
    const S = 40_000;
    const s = sample(one, { count: S, seed: 3 });
    const right = s.filter((v) => v > 0).length / S;
    expect(Math.abs(right - 0.75)).toBeLessThan(5 * Math.sqrt((0.75 * 0.25) / S));
  });
});

describe("summaries", () => {
  it("mean and variance of a one-component mixture are its mu and sigma^2", () => {
    const one: MixtureParams = { n: 1, k: 1, d: 2, logits: new Float64Array([3]), mu: new Float64Array([1, -2]), logSigma: new Float64Array([Math.log(2), 0]) };
    expect(Array.from(mixtureMean(one))).toEqual([1, -2]);
    const v = mixtureVariance(one);
    expect(v[0]).toBeCloseTo(4, 12);
    expect(v[1]).toBeCloseTo(1, 12);
  });

  it("mode: picks the highest-density component mean, and refinement climbs to the true mode", () => {
    // Two overlapping components: the mode lies between their means.
    const two: MixtureParams = { n: 1, k: 2, d: 1, logits: new Float64Array([0, 0]), mu: new Float64Array([0, 1]), logSigma: new Float64Array([0, 0]) };
    const start = mixtureMode(two);
    expect([0, 1]).toContain(start[0]);
    const refined = mixtureMode(two, { refineSteps: 200 });
    expect(refined[0]).toBeCloseTo(0.5, 8); // symmetric: the mode is the midpoint
    const y = (v: number) => logProb(two, new Float64Array([v]))[0] as number;
    expect(y(refined[0] as number)).toBeGreaterThan(y(start[0] as number));
    // Well separated: the heavier component's mean
    const sep: MixtureParams = { n: 1, k: 2, d: 1, logits: new Float64Array([0, 1]), mu: new Float64Array([-5, 5]), logSigma: new Float64Array([-1, -1]) };
    expect(mixtureMode(sep)[0]).toBe(5);
    expect(mixtureMode(sep, { refineSteps: 50 })[0]).toBeCloseTo(5, 8);
  });

  it("marginal keeps the weights and the chosen dimension, and its log-density integrates to 1", () => {
    const mg = marginal(mix, 1);
    expect(mg.d).toBe(1);
    expect(mg.mu[0]).toBe(1);
    expect(mg.mu[1]).toBe(0.5);
    // Trapezoid integral of the 1-D marginal of row 0
    const row0: MixtureParams = { n: 1, k: 3, d: 1, logits: mg.logits.subarray(0, 3), mu: mg.mu.subarray(0, 3), logSigma: mg.logSigma.subarray(0, 3) };
    let integral = 0;
    const h = 0.005;
    for (let v = -15; v < 15; v += h) integral += Math.exp(logProb(row0, new Float64Array([v]))[0] as number) * h;
    expect(integral).toBeCloseTo(1, 4);
    expect(() => marginal(mix, 2)).toThrow(/dim: expected an integer in \[0, 1\]/);
  });
});
