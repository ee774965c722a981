import { crpsMixture, logProb, mixtureMean, mixtureMode, mixtureQuantile, pinballLoss, Rng } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { forecastScores, predict, train, type TrainData } from "../src/index.js";

describe("forecastScores: every metric in original units", () => {
  it("equals the metrics computed directly on the original-units mixture (D = 2, stds 1e3 and 1e-2)", async () => {
    const rng = new Rng(11);
    const n = 200;
    const mean = Float64Array.of(5, -3);
    const std = Float64Array.of(1e3, 1e-2);
    const z = Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 ? -1 : 1) * (rng.uniform() < 0.5 ? 1 : -1) + 0.3 * rng.normal());
    const data: TrainData = { n, xDim: 0, yDim: 2, x: new Float64Array(0), y: z, normalization: { y: { mean, std } } };
    const { model } = await train({ model: { kind: "gmm", k: 2 }, optimizer: { type: "adam", lr: 0.05 }, batchSize: 50, steps: 40 }, data);
    const sc = await forecastScores(model, data, { quantiles: [0.25, 0.9], chunk: 64 });
    const yo = z.map((v, i) => v * std[i % 2]! + mean[i % 2]!);
    const m = await predict(model, undefined, { space: "original", n });
    const lp = logProb(m, yo);
    const nll = -lp.reduce((a, v) => a + v, 0) / n;
    expect(sc.nll).toBeCloseTo(nll, 8);
    expect(sc.nllTotal).toBeCloseTo(nll * n, 6);
    expect(sc.nll - sc.nllStandardized).toBeCloseTo(Math.log(1e3) + Math.log(1e-2), 10);
    const c = crpsMixture(m, yo);
    const mu = mixtureMean(m);
    const mo = mixtureMode(m, { refineSteps: 50 });
    for (let d = 0; d < 2; d++) {
      let crps = 0;
      let ae = 0;
      let se = 0;
      let aeMode = 0;
      for (let i = 0; i < n; i++) {
        crps += c[i * 2 + d]!;
        ae += Math.abs(mu[i * 2 + d]! - yo[i * 2 + d]!);
        se += (mu[i * 2 + d]! - yo[i * 2 + d]!) ** 2;
        aeMode += Math.abs(mo[i * 2 + d]! - yo[i * 2 + d]!);
      }
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      expect(rel(sc.crps.byDim[d]!, crps / n)).toBeLessThan(1e-9);
      expect(rel(sc.maeMean.byDim[d]!, ae / n)).toBeLessThan(1e-9);
      expect(rel(sc.rmseMean.byDim[d]!, Math.sqrt(se / n))).toBeLessThan(1e-9);
      expect(rel(sc.maeMode.byDim[d]!, aeMode / n)).toBeLessThan(1e-6);
      const q = mixtureQuantile(m, d, 0.9);
      let pin = 0;
      for (let i = 0; i < n; i++) pin += pinballLoss(yo[i * 2 + d]!, q[i]!, 0.9);
      expect(rel(sc.pinball[1]!.byDim[d]!, pin / n)).toBeLessThan(1e-8);
      const lo = mixtureQuantile(m, d, 0.05);
      const hi = mixtureQuantile(m, d, 0.95);
      let w = 0;
      let inside = 0;
      for (let i = 0; i < n; i++) {
        w += hi[i]! - lo[i]!;
        if (yo[i * 2 + d]! >= lo[i]! && yo[i * 2 + d]! <= hi[i]!) inside++;
      }
      const i90 = sc.intervals.find((v) => v.level === 0.9)!;
      expect(rel(i90.widthByDim[d]!, w / n)).toBeLessThan(1e-8);
      expect(i90.coverageByDim[d]).toBeCloseTo(inside / n, 10);
    }
    // pooled = mean over the dimensions; the std-1e3 dimension dominates, as it should in original units
    expect(sc.crps.value).toBeCloseTo((sc.crps.byDim[0]! + sc.crps.byDim[1]!) / 2, 8);
    expect(sc.pit.n).toBe(2 * n);
    expect(sc.pit.counts.reduce((a, b) => a + b, 0)).toBe(2 * n);
  });
});
