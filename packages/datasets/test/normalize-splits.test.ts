import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyFold,
  applyNormalization,
  computeNormalization,
  kFold,
  loadBuiltin,
  splitIndices,
  standardize,
  subset,
  trainValTestSplit,
  uciSplits,
  unstandardize,
  unstandardizeDataset,
  type Dataset,
} from "../src/index.js";

const ds = loadBuiltin("heteroscedastic", { seed: 1, n: 1000 });

function colStats(a: Float64Array, n: number, dim: number, d: number): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i * dim + d] as number;
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += ((a[i * dim + d] as number) - mean) ** 2;
  return { mean, std: Math.sqrt(v / n) };
}

describe("standardisation", () => {
  it("gives zero-mean unit-std columns and stores the statistics", () => {
    const z = standardize(ds);
    expect(z.normalization?.x?.mean.length).toBe(1);
    for (const [a, dim] of [
      [z.x, z.xDim],
      [z.y, z.yDim],
    ] as const) {
      const s = colStats(a, z.n, dim, 0);
      expect(Math.abs(s.mean)).toBeLessThan(1e-12);
      expect(s.std).toBeCloseTo(1, 12);
    }
    const raw = colStats(ds.y, ds.n, 1, 0);
    expect(z.normalization?.y?.mean[0]).toBeCloseTo(raw.mean, 12);
    expect(z.normalization?.y?.std[0]).toBeCloseTo(raw.std, 12);
    // the original is untouched
    expect(ds.normalization).toBeUndefined();
  });

  it("unstandardize inverts it (property over random matrices)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((dim) =>
          fc.tuple(
            fc.constant(dim),
            fc.array(
              // values below 1e-300 flushed to 0: a column whose spread is subnormal is refused (tested below)
              fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => (Math.abs(v) < 1e-300 ? 0 : v)),
              { minLength: dim, maxLength: dim * 30 },
            ),
          ),
        ),
        ([dim, vals]) => {
          const n = Math.floor(vals.length / dim);
          const data = Float64Array.from(vals.slice(0, n * dim));
          const norm = computeNormalization(data, n, dim);
          const back = unstandardize(applyNormalization(data, norm), norm);
          for (let i = 0; i < data.length; i++)
            expect(Math.abs((back[i] as number) - (data[i] as number))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(data[i] as number)));
        },
      ),
      { numRuns: 200, seed: 5 },
    );
    const back = unstandardizeDataset(standardize(ds));
    expect(back.normalization).toBeUndefined();
    for (let i = 0; i < ds.n; i++) expect(back.y[i]).toBeCloseTo(ds.y[i] as number, 10);
  });

  it("a constant column stores std = its magnitude (no division by zero, no NaN); an all-zero column std 1", () => {
    const c: Dataset = { ...ds, xDim: 1, x: new Float64Array(ds.n).fill(3) };
    const z = standardize(c);
    expect(z.normalization?.x?.std[0]).toBe(3);
    expect(z.x.every((v) => v === 0)).toBe(true);
    const zero = standardize({ ...ds, xDim: 1, x: new Float64Array(ds.n) });
    expect(zero.normalization?.x?.std[0]).toBe(1);
    expect(zero.x.every((v) => v === 0)).toBe(true);
  });

  it("applies a training set's statistics to the test set and refuses to standardise twice", () => {
    const { train, test } = trainValTestSplit(ds, { seed: 3 });
    const zt = standardize(train);
    const zs = standardize(test, { stats: zt.normalization ?? {} });
    expect(zs.normalization?.y).toBe(zt.normalization?.y);
    for (let i = 0; i < test.n; i++) {
      expect(zs.y[i]).toBeCloseTo(((test.y[i] as number) - (zt.normalization!.y!.mean[0] as number)) / (zt.normalization!.y!.std[0] as number), 12);
    }
    expect(() => standardize(zt)).toThrow(/already standardised/);
    expect(standardize(standardize(ds, { x: false }), { y: false }).normalization?.x).toBeDefined();
  });
});

describe("splits", () => {
  const isPartition = (parts: Uint32Array[], n: number): void => {
    const seen = new Uint8Array(n);
    for (const p of parts) for (const i of p) seen[i]!++;
    expect(seen.every((v) => v === 1)).toBe(true);
  };

  it("train/val/test: disjoint, covering, sized by the fractions, seeded", () => {
    const s = splitIndices(1000, { seed: 1, val: 0.15, test: 0.1 });
    expect([s.train.length, s.val.length, s.test.length]).toEqual([750, 150, 100]);
    isPartition([s.train, s.val, s.test], 1000);
    const again = splitIndices(1000, { seed: 1, val: 0.15, test: 0.1 });
    expect(Array.from(again.test)).toEqual(Array.from(s.test));
    expect(Array.from(splitIndices(1000, { seed: 2, val: 0.15, test: 0.1 }).test)).not.toEqual(Array.from(s.test));
    const d = trainValTestSplit(ds, { seed: 1, val: 0.15, test: 0.1 });
    expect(d.test.n).toBe(100);
    expect(d.test.x[0]).toBe(ds.x[s.test[0] as number]);
    expect(d.test.y[5]).toBe(ds.y[s.test[5] as number]);
    expect(() => splitIndices(10, { val: 0.6, test: 0.5 })).toThrow(/val \+ test < 1/);
  });

  it("K-fold: test folds partition the rows, sizes differ by at most one, train is the complement", () => {
    const folds = kFold(103, 5, 9);
    expect(folds.length).toBe(5);
    isPartition(
      folds.map((f) => f.test),
      103,
    );
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const f of folds) isPartition([f.train, f.test], 103);
  });

  it("UCI protocol: 20 random 90/10 splits, each a partition, distinct across splits, reproducible", () => {
    const s = uciSplits(768, { seed: 0 });
    expect(s.length).toBe(20);
    for (const f of s) {
      expect(f.test.length).toBe(77);
      isPartition([f.train, f.test], 768);
    }
    expect(new Set(s.map((f) => Array.from(f.test).join(","))).size).toBe(20);
    expect(Array.from(uciSplits(768, { seed: 0 })[7]!.test)).toEqual(Array.from(s[7]!.test));
    const { train, test } = applyFold(ds, uciSplits(ds.n)[0]!);
    expect(train.n + test.n).toBe(ds.n);
  });

  it("subset copies the rows asked for and rejects bad indices", () => {
    const s = subset(ds, [5, 0, 5]);
    expect(Array.from(s.x)).toEqual([ds.x[5], ds.x[0], ds.x[5]]);
    expect(() => subset(ds, [ds.n])).toThrow(/expected row indices in \[0, 999\]/);
  });
});
