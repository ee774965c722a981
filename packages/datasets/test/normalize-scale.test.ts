/**
 * Standardisation does not depend on a column's absolute scale: 1e-30, 1e200
 * and 1e308-sized columns standardise like their unit-scale originals, and a
 * column that cannot be represented is a DataError naming it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyNormalization,
  computeNormalization,
  DataError,
  parseCsv,
  parseJsonl,
  standardize,
  StandardizeError,
  subset,
  unstandardize,
  type Dataset,
} from "../src/index.js";

/** A fixed, clearly non-constant unit-scale column (n = 200). */
const base = Float64Array.from({ length: 200 }, (_, i) => Math.sin(i * 0.37) * 2 + 0.5 + (i % 7) * 0.1);
const baseNorm = computeNormalization(base, base.length, 1);
const baseZ = applyNormalization(base, baseNorm);

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe("scale-invariant standardisation", () => {
  for (const scale of [1e-30, 1e-300, 1e200, 1e300, 5e307]) {
    it(`a column scaled by ${scale} has mean/std scaled by ${scale} and the same z-scores`, () => {
      const col = Float64Array.from(base, (v) => v * scale);
      const norm = computeNormalization(col, col.length, 1);
      expect(Number.isFinite(norm.std[0]!)).toBe(true);
      expect(rel(norm.mean[0]!, baseNorm.mean[0]! * scale)).toBeLessThan(1e-12);
      expect(rel(norm.std[0]!, baseNorm.std[0]! * scale)).toBeLessThan(1e-12);
      const z = applyNormalization(col, norm);
      for (let i = 0; i < z.length; i++) expect(Math.abs(z[i]! - baseZ[i]!)).toBeLessThan(1e-12);
      const back = unstandardize(z, norm);
      for (let i = 0; i < z.length; i++) expect(rel(back[i]!, col[i]!)).toBeLessThan(1e-12);
    });
  }

  it("a column spanning the whole float64 range (-1.7e308 .. 1.7e308) standardises without overflow", () => {
    const col = Float64Array.of(-1.7e308, 1.7e308, 0, 1e308, -1e308);
    const norm = computeNormalization(col, col.length, 1);
    expect(norm.mean[0]).toBeCloseTo(0, 0);
    // population std of (-1.7, 1.7, 0, 1, -1) x 1e308
    const want = Math.sqrt((1.7 ** 2 * 2 + 2) / 5) * 1e308;
    expect(rel(norm.std[0]!, want)).toBeLessThan(1e-12);
    const z = applyNormalization(col, norm);
    expect(z.every(Number.isFinite)).toBe(true);
    const back = unstandardize(z, norm);
    for (let i = 0; i < col.length; i++) expect(Math.abs(back[i]! - col[i]!)).toBeLessThanOrEqual(1e-12 * 1.7e308);
  });

  it("property: scaling a column by 10^k scales mean and std by 10^k and leaves z-scores equal", () => {
    fc.assert(
      fc.property(
        // |v| in [1e-3, 1e3] or 0, so v * 10^k stays a normal float64 for |k| <= 290
        fc.array(
          fc.double({ min: -1e3, max: 1e3, noNaN: true }).map((v) => (Math.abs(v) < 1e-3 ? 0 : v)),
          { minLength: 2, maxLength: 40 },
        ),
        fc.integer({ min: -290, max: 290 }),
        (vals, k) => {
          const a = Float64Array.from(vals);
          const na = computeNormalization(a, a.length, 1);
          const max = Math.max(...vals.map(Math.abs));
          fc.pre(max > 0 && na.std[0]! > 1e-6 * max); // not all zero, not (nearly) constant
          const c = 10 ** k;
          const b = Float64Array.from(a, (v) => v * c);
          const nb = computeNormalization(b, b.length, 1);
          expect(rel(nb.std[0]!, na.std[0]! * c)).toBeLessThan(1e-10);
          expect(Math.abs(nb.mean[0]! - na.mean[0]! * c)).toBeLessThanOrEqual(1e-10 * na.std[0]! * c + 1e-12 * Math.abs(na.mean[0]! * c));
          const za = applyNormalization(a, na);
          const zb = applyNormalization(b, nb);
          for (let i = 0; i < za.length; i++) expect(Math.abs(za[i]! - zb[i]!)).toBeLessThan(1e-8);
        },
      ),
      { numRuns: 300, seed: 13 },
    );
  });

  it("constant columns are detected relative to their magnitude, at any scale", () => {
    for (const c of [1e-30, 1, 1e200, -1e305]) {
      const col = Float64Array.from({ length: 50 }, (_, i) => c * (1 + (i % 3) * 2 ** -52));
      const norm = computeNormalization(col, col.length, 1);
      expect(rel(norm.std[0]!, Math.abs(c) * (1 + 2 * 2 ** -52))).toBeLessThan(1e-15); // std = max |v|
      const z = applyNormalization(col, norm);
      expect(z.every((v) => Math.abs(v) < 1e-12)).toBe(true);
    }
    // a tiny but genuine spread is not constant: 1e-30 +- 1e-31
    const small = Float64Array.from({ length: 50 }, (_, i) => 1e-30 + (i % 2 ? 1e-31 : -1e-31));
    expect(rel(computeNormalization(small, 50, 1).std[0]!, 1e-31)).toBeLessThan(1e-12);
  });

  it("a column whose spread is below the normal float64 range is a StandardizeError naming it", () => {
    const col = Float64Array.of(0, 1e-315, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1e-315);
    const ds: Dataset = { name: "tiny.csv", n: col.length, xDim: 0, yDim: 1, x: new Float64Array(0), y: col, xNames: [], yNames: ["flux"] };
    expect(() => standardize(ds)).toThrow(StandardizeError);
    expect(() => standardize(ds)).toThrow(/tiny\.csv \(column "flux"\): cannot be standardised in float64/);
  });

  it("a non-finite value and a z-score beyond float64 name the column, the row and the file's line", () => {
    const ds = parseCsv("x,y\n1,2\n\n2,3\n3,1e300\n", { file: "d.csv" });
    expect(Array.from(ds.rowLines!)).toEqual([2, 4, 5]);
    const stats = { x: computeNormalization(ds.x, ds.n, 1), y: { mean: Float64Array.of(2), std: Float64Array.of(1e-10) } };
    let err: unknown;
    try {
      standardize({ ...ds, name: "d.csv" }, { stats });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StandardizeError);
    expect(err).toBeInstanceOf(DataError);
    const se = err as StandardizeError;
    expect(se.columnName).toBe("y");
    expect(se.row).toBe(2);
    expect(se.line).toBe(5);
    expect(se.message).toMatch(/^d\.csv:5 \(column "y"\): row 3: the value 1e\+300 is not representable after standardisation/);
    const inf = Float64Array.of(1, Infinity, 3);
    expect(() => computeNormalization(inf, 3, 1, { file: "f.npy", columns: ["t"] })).toThrow(/f\.npy \(column "t"\): row 2: Infinity is not a finite number/);
  });

  it("rows keep their source lines through JSON lines and subsets", () => {
    const ds = parseJsonl('{"x":1,"y":2}\n\n{"x":2,"y":3}\n{"x":3,"y":4}\n');
    expect(Array.from(ds.rowLines!)).toEqual([1, 3, 4]);
    expect(Array.from(subset(ds, [2, 0]).rowLines!)).toEqual([4, 1]);
  });
});
