import { logProb } from "@ngem/core";
import { describe, expect, it } from "vitest";
import {
  INVERSE_SINE_NOISE,
  inverseSineSupport,
  loadBuiltin,
  RING_WIDTH,
  SPIRAL_NOISE,
  syntheticTasks,
  TWO_GAUSSIANS_MEANS,
  TWO_GAUSSIANS_OPTIMAL_NLL,
  TWO_GAUSSIANS_SIGMA,
  TWO_SINUSOIDS_NOISE,
  type SyntheticTaskName,
} from "../src/index.js";
import { heteroscedasticSigma, inverseSineForward, spiralCentre } from "../src/synthetic.js";

const names = Object.keys(syntheticTasks) as SyntheticTaskName[];

function meanStd(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += ((a[i] as number) - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

describe("determinism", () => {
  for (const name of names) {
    it(`${name}: the same seed gives identical data, another seed different data`, () => {
      const task = syntheticTasks[name];
      const a = task.generate({ seed: 7, n: 300 });
      const b = task.generate({ seed: 7, n: 300 });
      const c = task.generate({ seed: 8, n: 300 });
      expect(a.n).toBe(300);
      expect(a.xDim).toBe(task.xDim);
      expect(a.yDim).toBe(task.yDim);
      expect(a.x.length).toBe(300 * task.xDim);
      expect(a.y.length).toBe(300 * task.yDim);
      expect(a.xNames.length).toBe(task.xDim);
      expect(a.yNames.length).toBe(task.yDim);
      expect(Array.from(b.y)).toEqual(Array.from(a.y));
      expect(Array.from(b.x)).toEqual(Array.from(a.x));
      expect(Array.from(c.y)).not.toEqual(Array.from(a.y));
      expect(a.y.every(Number.isFinite) && a.x.every(Number.isFinite)).toBe(true);
      // the default size is the documented one
      expect(task.generate({ seed: 1 }).n).toBe(task.defaultN);
    });

    it(`${name}: logDensity is finite on its own samples and trueMixture (if any) agrees with it`, () => {
      const task = syntheticTasks[name];
      const d = task.generate({ seed: 3, n: 500 });
      const ld = task.logDensity(d.x, d.y, d.n);
      expect(ld.every(Number.isFinite)).toBe(true);
      if (task.trueMixture) {
        const m = task.trueMixture(d.x, d.n);
        const lp = logProb(m, d.y);
        for (let i = 0; i < d.n; i++) expect(lp[i]).toBeCloseTo(ld[i] as number, 9);
      }
    });
  }
});

describe("two-gaussians", () => {
  const n = 20000;
  const d = syntheticTasks["two-gaussians"].generate({ seed: 11, n });
  it("has xDim 0 and the paper's defaults", () => {
    expect(d.xDim).toBe(0);
    expect(d.x.length).toBe(0);
    expect(loadBuiltin("two-gaussians").n).toBe(100);
  });
  it("splits evenly between the two modes with the stated means and scale", () => {
    const comps: number[][][] = [
      [[], []],
      [[], []],
    ];
    for (let i = 0; i < n; i++) {
      const k = (d.y[2 * i] as number) + (d.y[2 * i + 1] as number) > 0 ? 0 : 1;
      comps[k]![0]!.push(d.y[2 * i] as number);
      comps[k]![1]!.push(d.y[2 * i + 1] as number);
    }
    const frac = comps[0]![0]!.length / n;
    expect(Math.abs(frac - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
    for (let k = 0; k < 2; k++) {
      for (let dim = 0; dim < 2; dim++) {
        const { mean, std } = meanStd(comps[k]![dim]!);
        const m = comps[k]![dim]!.length;
        expect(Math.abs(mean - (TWO_GAUSSIANS_MEANS[k]![dim] as number))).toBeLessThan((5 * TWO_GAUSSIANS_SIGMA) / Math.sqrt(m));
        expect(Math.abs(std / TWO_GAUSSIANS_SIGMA - 1)).toBeLessThan(5 / Math.sqrt(2 * m));
      }
    }
  });
  it("optimal NLL matches a seeded 200k-sample Monte Carlo of the true density", () => {
    const big = syntheticTasks["two-gaussians"].generate({ seed: 12345, n: 200000 });
    const ld = syntheticTasks["two-gaussians"].logDensity(big.x, big.y, big.n);
    const { mean, std } = meanStd(ld);
    // -log p has variance 1 here (a chi-square(2)/2 plus a constant); 5 standard errors
    expect(Math.abs(-mean - TWO_GAUSSIANS_OPTIMAL_NLL)).toBeLessThan((5 * std) / Math.sqrt(big.n));
    expect(TWO_GAUSSIANS_OPTIMAL_NLL).toBeLessThan(-1.07);
    expect(TWO_GAUSSIANS_OPTIMAL_NLL).toBeGreaterThan(-1.08);
  });
});

describe("inverse-sine", () => {
  const task = syntheticTasks["inverse-sine"];
  const n = 40000;
  const d = task.generate({ seed: 5, n });
  it("y ~ U(0,1) and x - g(y) ~ U(-0.1, 0.1)", () => {
    const y = meanStd(d.y);
    expect(Math.abs(y.mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(y.std - Math.sqrt(1 / 12))).toBeLessThan(0.005);
    const r = Array.from(d.x, (x, i) => x - inverseSineForward(d.y[i] as number));
    expect(Math.max(...r)).toBeLessThan(INVERSE_SINE_NOISE);
    expect(Math.min(...r)).toBeGreaterThan(-INVERSE_SINE_NOISE);
    const rs = meanStd(r);
    expect(Math.abs(rs.mean)).toBeLessThan((5 * 0.0577) / Math.sqrt(n));
    expect(Math.abs(rs.std - 0.1 / Math.sqrt(3))).toBeLessThan(0.001);
  });
  it("p(y|x) integrates to 1; its support splits in two where documented", () => {
    for (const x of [0.05, 0.3, 0.5, 0.62, 0.9]) {
      const m = 20000;
      const ys = Float64Array.from({ length: m }, (_, i) => (i + 0.5) / m);
      const ld = task.logDensity(new Float64Array(m).fill(x), ys, m);
      let s = 0;
      for (const v of ld) s += Math.exp(v) / m;
      expect(s).toBeCloseTo(1, 2);
    }
    for (const x of [0.32, 0.45, 0.49, 0.51, 0.6, 0.69]) expect(inverseSineSupport(x).length).toBe(2);
    for (const x of [0.05, 0.3, 0.5, 0.7]) expect(inverseSineSupport(x).length).toBe(1);
    expect(inverseSineSupport(0.95).length).toBe(1);
    // outside the support the density is zero
    expect(task.logDensity([0.05], [0.9], 1)[0]).toBe(-Infinity);
  });
  it("the samples with x near 0.6 fall in the two support intervals in proportion to their lengths", () => {
    const sup = inverseSineSupport(0.6);
    expect(sup.length).toBe(2);
    const counts = sup.map(() => 0);
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (Math.abs((d.x[i] as number) - 0.6) > 0.01) continue;
      total++;
      const y = d.y[i] as number;
      sup.forEach(([a, b], k) => {
        if (y > a - 0.02 && y < b + 0.02) counts[k]!++;
      });
    }
    expect(total).toBeGreaterThan(500);
    const len = sup.reduce((s, [a, b]) => s + b - a, 0);
    sup.forEach(([a, b], k) => {
      const p = (b - a) / len;
      expect(Math.abs(counts[k]! / total - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / total) + 0.03);
    });
  });
});

describe("two-sinusoids", () => {
  const n = 20000;
  const d = syntheticTasks["two-sinusoids"].generate({ seed: 9, n });
  it("x ~ U(-pi, pi); y = +-sin(x) with probability 1/2 plus N(0, 0.05^2)", () => {
    const xs = meanStd(d.x);
    expect(Math.min(...d.x)).toBeGreaterThanOrEqual(-Math.PI);
    expect(Math.max(...d.x)).toBeLessThan(Math.PI);
    expect(Math.abs(xs.mean)).toBeLessThan((5 * Math.PI) / Math.sqrt(3 * n));
    expect(Math.abs(xs.std - Math.PI / Math.sqrt(3))).toBeLessThan(0.03);
    const res: number[] = [];
    let plus = 0;
    for (let i = 0; i < n; i++) {
      const s = Math.sin(d.x[i] as number);
      if (Math.abs(s) < 0.5) continue;
      const y = d.y[i] as number;
      const up = Math.abs(y - s) < Math.abs(y + s);
      if (up) plus++;
      res.push(up ? y - s : y + s);
    }
    const r = meanStd(res);
    expect(Math.abs(plus / res.length - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / res.length));
    expect(Math.abs(r.mean)).toBeLessThan((5 * TWO_SINUSOIDS_NOISE) / Math.sqrt(res.length));
    expect(Math.abs(r.std / TWO_SINUSOIDS_NOISE - 1)).toBeLessThan(0.05);
  });
});

describe("ring", () => {
  const n = 20000;
  const d = syntheticTasks.ring.generate({ seed: 4, n });
  it("radius ~ N(1, 0.05^2), angle uniform", () => {
    const r = Array.from({ length: n }, (_, i) => Math.hypot(d.y[2 * i] as number, d.y[2 * i + 1] as number));
    const rs = meanStd(r);
    expect(Math.abs(rs.mean - 1)).toBeLessThan((5 * RING_WIDTH) / Math.sqrt(n));
    expect(Math.abs(rs.std / RING_WIDTH - 1)).toBeLessThan(0.04);
    const c = meanStd(Array.from({ length: n }, (_, i) => d.y[2 * i] as number));
    const s = meanStd(Array.from({ length: n }, (_, i) => d.y[2 * i + 1] as number));
    expect(Math.abs(c.mean)).toBeLessThan(5 * Math.sqrt(0.5 / n));
    expect(Math.abs(s.mean)).toBeLessThan(5 * Math.sqrt(0.5 / n));
    expect(Math.abs(c.std - Math.sqrt(0.5))).toBeLessThan(0.02);
  });
  it("its density integrates to 1 over the plane", () => {
    const m = 600;
    const h = 3 / m;
    const ys = new Float64Array(2 * m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) ys.set([-1.5 + (i + 0.5) * h, -1.5 + (j + 0.5) * h], 2 * (i * m + j));
    const ld = syntheticTasks.ring.logDensity([], ys, m * m);
    let s = 0;
    for (const v of ld) s += Math.exp(v) * h * h;
    expect(s).toBeCloseTo(1, 2);
  });
});

describe("spiral", () => {
  const n = 20000;
  const d = syntheticTasks.spiral.generate({ seed: 2, n });
  it("t ~ U(0,1); y sits on one of two opposite arms with isotropic N(0, 0.05^2) noise", () => {
    expect(Math.min(...d.x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d.x)).toBeLessThan(1);
    expect(Math.abs(meanStd(d.x).mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    const r0: number[] = [];
    const r1: number[] = [];
    let arm0 = 0;
    for (let i = 0; i < n; i++) {
      const [c0, c1] = spiralCentre(d.x[i] as number);
      const a = d.y[2 * i] as number;
      const b = d.y[2 * i + 1] as number;
      const first = (a - c0) ** 2 + (b - c1) ** 2 < (a + c0) ** 2 + (b + c1) ** 2;
      if (first) arm0++;
      r0.push(first ? a - c0 : a + c0);
      r1.push(first ? b - c1 : b + c1);
    }
    expect(Math.abs(arm0 / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
    for (const r of [r0, r1]) {
      const s = meanStd(r);
      expect(Math.abs(s.mean)).toBeLessThan((5 * SPIRAL_NOISE) / Math.sqrt(n));
      expect(Math.abs(s.std / SPIRAL_NOISE - 1)).toBeLessThan(0.04);
    }
  });
  it("the modes of p(y|t) are the two arm centres", () => {
    const t = 0.4;
    const [c0, c1] = spiralCentre(t);
    const at = (a: number, b: number): number => syntheticTasks.spiral.logDensity([t], [a, b], 1)[0] as number;
    const top = at(c0, c1);
    expect(at(-c0, -c1)).toBeCloseTo(top, 9);
    for (const [da, db] of [
      [0.01, 0],
      [-0.01, 0],
      [0, 0.01],
      [0, -0.01],
    ] as const)
      expect(at(c0 + da, c1 + db)).toBeLessThan(top);
  });
});

describe("heteroscedastic", () => {
  const n = 20000;
  const d = syntheticTasks.heteroscedastic.generate({ seed: 6, n });
  it("x ~ U(-3,3); (y - sin x) / sigma(x) is standard normal; noise grows with |x|", () => {
    expect(Math.min(...d.x)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...d.x)).toBeLessThan(3);
    const z = Array.from(d.y, (y, i) => (y - Math.sin(d.x[i] as number)) / heteroscedasticSigma(d.x[i] as number));
    const s = meanStd(z);
    expect(Math.abs(s.mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s.std - 1)).toBeLessThan(0.03);
    const near: number[] = [];
    const far: number[] = [];
    d.x.forEach((x, i) => {
      const r = (d.y[i] as number) - Math.sin(x);
      if (Math.abs(x) < 0.5) near.push(r);
      else if (Math.abs(x) > 2.5) far.push(r);
    });
    expect(meanStd(far).std).toBeGreaterThan(3 * meanStd(near).std);
  });
});
