import { describe, expect, it } from "vitest";
import { mixtureCdf, mixtureQuantile, mixtureSf, predictionInterval, Rng, sample, softmax, type MixtureParams } from "../src/index.js";

function randomMixture(seed: number, n: number, k: number, d: number, degenerate = false): MixtureParams {
  const rng = new Rng(seed);
  return {
    n,
    k,
    d,
    logits: new Float64Array(n * k).map(() => 2 * rng.normal()),
    mu: new Float64Array(n * k * d).map(() => 3 * rng.normal()),
    logSigma: new Float64Array(n * k * d).map((_, i) => (degenerate && i % 3 === 0 ? Math.log(1e-7) : -1 + 1.5 * rng.uniform())),
  };
}

describe("CDF and quantiles", () => {
  const qs = [1e-12, 1e-8, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-4, 1 - 1e-8, 1 - 1e-12];
  for (const degenerate of [false, true]) {
    // Relative accuracy in the tail for smooth mixtures; absolute 1e-8 when a component is
    // near-degenerate (sigma 1e-7): there the CDF rises by pi_k over ~1e-7, so one float64
    // ulp of y (~4e-16 at |y| ~ 3) moves it by ~2e-9 and no y can do better.
    it(`cdf(ppf(q)) = q to 1e-8 (${degenerate ? "absolute; near-degenerate components, sigma 1e-7" : "relative, in the tail it lives in"})`, () => {
      for (let seed = 0; seed < 20; seed++) {
        const m = randomMixture(seed, 3, 1 + (seed % 5), 2, degenerate);
        for (const q of qs) {
          for (let dim = 0; dim < 2; dim++) {
            const y = mixtureQuantile(m, dim, q);
            if (q <= 0.5) {
              const c = mixtureCdf(m, dim, y);
              for (let n = 0; n < m.n; n++) expect(Math.abs((c[n] as number) - q) / (degenerate ? 1 : q), `seed ${seed} q ${q}`).toBeLessThan(1e-8);
            } else {
              const s = mixtureSf(m, dim, y);
              for (let n = 0; n < m.n; n++) expect(Math.abs((s[n] as number) - (1 - q)) / (degenerate ? 1 : 1 - q), `seed ${seed} q ${q}`).toBeLessThan(1e-8);
            }
          }
        }
      }
    });
  }

  it("a single standard normal gives the textbook quantiles", () => {
    const m: MixtureParams = { n: 1, k: 1, d: 1, logits: new Float64Array(1), mu: new Float64Array(1), logSigma: new Float64Array(1) };
    expect(mixtureQuantile(m, 0, 0.975)[0]).toBeCloseTo(1.959963984540054, 12);
    expect(mixtureQuantile(m, 0, 0.5)[0]).toBeCloseTo(0, 12);
    expect(mixtureCdf(m, 0, [-1])[0]).toBeCloseTo(0.15865525393145707, 14);
    const iv = predictionInterval(m, 0.9);
    expect(iv.lo[0]).toBeCloseTo(-1.6448536269514722, 11);
    expect(iv.hi[0]).toBeCloseTo(1.6448536269514722, 11);
  });

  it("central intervals contain their level of samples", () => {
    const m = randomMixture(3, 2, 3, 2);
    const S = 40_000;
    const s = sample(m, { count: S, seed: 9 });
    const iv = predictionInterval(m, 0.8);
    for (let n = 0; n < m.n; n++) {
      for (let d = 0; d < m.d; d++) {
        let inside = 0;
        for (let c = 0; c < S; c++) {
          const v = s[(n * S + c) * m.d + d] as number;
          if (v >= (iv.lo[n * m.d + d] as number) && v <= (iv.hi[n * m.d + d] as number)) inside++;
        }
        expect(Math.abs(inside / S - 0.8)).toBeLessThan(5 * Math.sqrt((0.8 * 0.2) / S));
      }
    }
  });

  it("bad arguments name the field", () => {
    const m = randomMixture(1, 2, 2, 2);
    expect(() => mixtureQuantile(m, 0, 1)).toThrow(/q: expected probabilities in \(0, 1\)/);
    expect(() => mixtureQuantile(m, 2, 0.5)).toThrow(/dim/);
    expect(() => mixtureCdf(m, 0, [1])).toThrow(/y: expected one value per row \(length 2\)/);
    expect(() => predictionInterval(m, 1.5)).toThrow(/level/);
  });
});

describe("sampling temperature", () => {
  const m: MixtureParams = {
    n: 1,
    k: 3,
    d: 2,
    logits: new Float64Array([0.3, 1.1, -0.4]),
    mu: new Float64Array([-5, 5, 0, 0, 5, -5]),
    logSigma: new Float64Array([-1, -1, -1, -1, -1, -1]),
  };
  const S = 30_000;
  const counts = (s: Float64Array) => {
    const c = [0, 0, 0];
    for (let i = 0; i < S; i++) {
      const x = s[2 * i] as number;
      c[x < -2.5 ? 0 : x > 2.5 ? 2 : 1]! += 1;
    }
    return c.map((v) => v / S);
  };

  it("tau = 1 matches the model's weights (5 standard errors)", () => {
    const pi = softmax(m.logits, 1, 3);
    const f = counts(sample(m, { count: S, seed: 1 }));
    f.forEach((v, k) => expect(Math.abs(v - (pi[k] as number))).toBeLessThan(5 * Math.sqrt(((pi[k] as number) * (1 - (pi[k] as number))) / S)));
  });

  it("tau = 0.5 samples components with weights proportional to pi^2", () => {
    const p2 = softmax(
      Float64Array.from(m.logits, (a) => 2 * a),
      1,
      3,
    );
    const f = counts(sample(m, { count: S, seed: 2, temperature: 0.5 }));
    f.forEach((v, k) => expect(Math.abs(v - (p2[k] as number))).toBeLessThan(5 * Math.sqrt(((p2[k] as number) * (1 - (p2[k] as number))) / S) + 1e-9));
  });

  it("tau -> 0 returns the mode component; with sigma temperature 0 exactly its mean", () => {
    const f = counts(sample(m, { count: S, seed: 3, temperature: 0.01 }));
    expect(f[1]).toBe(1);
    const g = sample(m, { count: 50, seed: 4, temperature: 0, sigmaTemperature: 0 });
    for (let i = 0; i < 50; i++) expect([g[2 * i], g[2 * i + 1]]).toEqual([0, 0]);
    // sigma temperature scales the spread around the chosen mean
    const h = sample(m, { count: S, seed: 5, temperature: 0, sigmaTemperature: 0.5 });
    let v = 0;
    for (let i = 0; i < S; i++) v += (h[2 * i] as number) ** 2;
    const sd = Math.sqrt(v / S);
    expect(Math.abs(sd - 0.5 * Math.exp(-1))).toBeLessThan(0.01);
  });

  it("bad temperatures are rejected", () => {
    expect(() => sample(m, { temperature: -1 })).toThrow(/temperature/);
    expect(() => sample(m, { sigmaTemperature: NaN })).toThrow(/sigmaTemperature/);
  });
});
