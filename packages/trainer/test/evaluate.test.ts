import { Rng, sample as coreSample } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { evaluate, minCostAssignment, modeRecovery, pitValues, sample, train, type TrainData } from "../src/index.js";

function bruteForce(cost: number[], r: number, c: number): number {
  let best = Infinity;
  const rec = (i: number, used: Set<number>, acc: number): void => {
    if (i === r) {
      best = Math.min(best, acc);
      return;
    }
    for (let j = 0; j < c; j++)
      if (!used.has(j)) {
        used.add(j);
        rec(i + 1, used, acc + cost[i * c + j]!);
        used.delete(j);
      }
  };
  rec(0, new Set(), 0);
  return best;
}

describe("minCostAssignment", () => {
  it("matches brute force on random rectangular problems", () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 30; trial++) {
      const r = 1 + rng.int(5);
      const c = r + rng.int(3);
      const cost = Array.from({ length: r * c }, () => rng.uniform());
      const a = minCostAssignment(cost, r, c);
      expect(new Set(a).size).toBe(r);
      const total = [...a].reduce((s, j, i) => s + cost[i * c + j]!, 0);
      expect(total).toBeCloseTo(bruteForce(cost, r, c), 12);
    }
  });
});

describe("modeRecovery", () => {
  it("uses an optimal one-to-one matching, not nearest neighbours", () => {
    // both learned means sit near true mode 0: greedy nearest would reuse it
    const r = modeRecovery(Float64Array.of(0.1, 0, -0.2, 0), 2, Float64Array.of(0, 0, 5, 0), 2, 2);
    expect(new Set(r.matches.map((m) => m.component)).size).toBe(2);
    // optimal total: comp1 -> mode0 (0.2) + comp0 -> mode1 (4.9) = 5.1 < 0.1 + 5.2
    expect(r.matches).toEqual([
      { trueMode: 0, component: 1, distance: expect.closeTo(0.2, 12) },
      { trueMode: 1, component: 0, distance: expect.closeTo(4.9, 12) },
    ]);
    expect(r.maxDistance).toBeCloseTo(4.9, 12);
    const r2 = modeRecovery(Float64Array.of(0, 0), 1, Float64Array.of(0, 0, 5, 0), 2, 2);
    expect(r2.maxDistance).toBe(Infinity);
  });
});

describe("evaluate: calibration of a correct model", () => {
  it("a GMM fit to its own samples has coverage close to the nominal levels and a flat PIT", async () => {
    const truth = { n: 1, k: 2, d: 2, logits: Float64Array.of(0.3, -0.3), mu: Float64Array.of(-1, 2, 1.5, 0), logSigma: Float64Array.of(-0.5, 0, 0.2, -1) };
    const n = 4000;
    const y = coreSample(truth, { count: n, seed: 3 });
    const data: TrainData = { n, xDim: 0, yDim: 2, x: new Float64Array(0), y };
    const { model } = await train({ model: { kind: "gmm", k: 2 }, optimizer: { type: "adam", lr: 0.05 }, batchSize: 500, epochs: 40 }, data);
    const test = coreSample(truth, { count: n, seed: 4 });
    const ev = await evaluate(model, { ...data, y: test });
    ev.calibration.levels.forEach((level, j) => expect(Math.abs(ev.calibration.coverage[j]! - level)).toBeLessThan(0.03));
    const expected = (2 * n) / 10;
    for (const c of ev.calibration.pitCounts) expect(Math.abs(c - expected) / expected).toBeLessThan(0.15);
    // and a mis-specified (too narrow) unimodal model is flagged: y ~ N(0, 1) but sigma = 1/e,
    // so y is inside its central 50% interval only when |y| < 0.674 / e (probability ~0.196)
    const m1 = 2000;
    const g = coreSample({ n: 1, k: 1, d: 1, logits: Float64Array.of(0), mu: Float64Array.of(0), logSigma: Float64Array.of(0) }, { count: m1, seed: 5 });
    const narrow = { n: m1, k: 1, d: 1, logits: new Float64Array(m1), mu: new Float64Array(m1), logSigma: new Float64Array(m1).fill(-1) };
    const u = pitValues(narrow, g);
    let inside = 0;
    for (const v of u) if (v >= 0.25 && v <= 0.75) inside++;
    expect(Math.abs(inside / m1 - 0.196)).toBeLessThan(0.03);
    expect(ev.rmse).toBeGreaterThan(0);
  });

  it("sample is seeded and has the right shape", async () => {
    const data: TrainData = {
      n: 8,
      xDim: 1,
      yDim: 1,
      x: Float64Array.from({ length: 8 }, (_, i) => i / 8),
      y: Float64Array.from({ length: 8 }, (_, i) => i / 8),
    };
    const { model } = await train({ model: { kind: "mdn", k: 2, hidden: [4] }, steps: 2 }, data);
    const a = await sample(model, Float64Array.of(0.1, 0.7), { count: 5, seed: 9 });
    const b = await sample(model, Float64Array.of(0.1, 0.7), { count: 5, seed: 9 });
    const c = await sample(model, Float64Array.of(0.1, 0.7), { count: 5, seed: 10 });
    expect(a).toHaveLength(10);
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual([...c]);
  });
});
