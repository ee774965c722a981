/**
 * Bad arguments to the public math are named errors (ShapeError /
 * NonFiniteError naming the argument and the expected shape), never a NaN
 * result, a TypeError from deep inside, or a 16 GB allocation.
 */
import { describe, expect, it } from "vitest";
import {
  categoricalFisher,
  createJsBackend,
  gaussianFisherDiagonal,
  initWeights,
  logProb,
  logSoftmax,
  MAX_SAMPLE_VALUES,
  mdnForward,
  mixtureMode,
  modelForwardParams,
  NonFiniteError,
  sample,
  ShapeError,
  softmax,
  type MdnSpec,
  type MixtureParams,
} from "../src/index.js";

const m: MixtureParams = { n: 2, k: 2, d: 1, logits: Float64Array.of(0, 1, 2, 0), mu: Float64Array.of(-1, 1, 0, 2), logSigma: Float64Array.of(0, 0, -1, 0) };

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("softmax / logSoftmax", () => {
  it("a length that is not rows * cols is a ShapeError naming x and the shape", () => {
    const e = thrown(() => softmax(Float64Array.of(1, 2, 3), 2, 2));
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).argument).toBe("x");
    expect((e as Error).message).toMatch(/x: expected shape \[rows, cols\] = \[2, 2\] \(length 4\), got length 3/);
    expect(() => logSoftmax(Float64Array.of(1, 2), 1, 0)).toThrow(/cols: expected an integer >= 1, got 0/);
    expect(() => softmax(Float64Array.of(1, 2), 1.5, 2)).toThrow(ShapeError);
    // the right length still works, rows = 0 is an empty result
    expect(Array.from(softmax(Float64Array.of(0, 0), 1, 2))).toEqual([0.5, 0.5]);
    expect(softmax(new Float64Array(0), 0, 3).length).toBe(0);
  });
});

describe("logProb with missing targets", () => {
  it("logProb(m, undefined) / null is a ShapeError naming y and its shape", () => {
    for (const y of [undefined, null]) {
      const e = thrown(() => logProb(m, y as unknown as Float64Array));
      expect(e).toBeInstanceOf(ShapeError);
      expect((e as ShapeError).argument).toBe("y");
      expect((e as Error).message).toMatch(/y: expected a typed array of shape \[N, D\] = \[2, 1\]/);
    }
    expect(() => logProb(undefined as unknown as MixtureParams, Float64Array.of(0))).toThrow(ShapeError);
  });
});

describe("Fisher helpers", () => {
  it("bad coords, weight, offset and non-finite entries are named errors", () => {
    const ls = Float64Array.of(0, 0.5);
    expect(() => gaussianFisherDiagonal(ls, 0, 2, "sigma2" as never)).toThrow(/coords: expected "log-sigma" \| "sigma", got "sigma2"/);
    for (const w of [NaN, -1, Infinity]) expect(() => gaussianFisherDiagonal(ls, 0, 2, "log-sigma", w)).toThrow(/weight: expected a finite number >= 0/);
    expect(() => gaussianFisherDiagonal(ls, -1, 2)).toThrow(/offset: expected an integer >= 0/);
    const nan = thrown(() => gaussianFisherDiagonal(Float64Array.of(0, NaN), 0, 2));
    expect(nan).toBeInstanceOf(NonFiniteError);
    expect((nan as NonFiniteError).tensor).toBe("logSigma");
    expect(() => gaussianFisherDiagonal(undefined as never, 0, 1)).toThrow(/logSigma: expected an array/);
    expect(() => categoricalFisher(Float64Array.of(0.5, NaN))).toThrow(NonFiniteError);
    expect(() => categoricalFisher(Float64Array.of(0.5, 0.5), 0.5)).toThrow(/offset: expected an integer >= 0/);
    expect(() => categoricalFisher(undefined as never)).toThrow(/pi: expected an array/);
    // valid calls unchanged
    expect(Array.from(gaussianFisherDiagonal(ls, 0, 2, "log-sigma", 0.5))).toEqual([0.5, 0.5 * Math.exp(-1), 1, 1]);
    expect(Array.from(categoricalFisher(Float64Array.of(0.25, 0.75)))).toEqual([0.25 - 0.0625, -0.1875, -0.1875, 0.75 - 0.5625]);
  });
});

describe("sample size", () => {
  it("a huge count fails fast with a ShapeError naming count and the size, before allocating", () => {
    const t0 = performance.now();
    const e = thrown(() => sample(m, { count: 1e9 }));
    expect(performance.now() - t0).toBeLessThan(200);
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).argument).toBe("count");
    expect((e as Error).message).toMatch(/2 rows x 1000000000 samples x 1 dims = 2000000000 values \(14\.9 GiB\) exceeds the limit of 134217728 values/);
    expect(MAX_SAMPLE_VALUES).toBe(2 ** 27);
    expect(() => sample(m, { count: 6, maxValues: 10 })).toThrow(/exceeds the limit of 10 values/);
    expect(sample(m, { count: 5, maxValues: 10 }).length).toBe(10);
  });
});

describe("NaN inputs to a forward pass", () => {
  const spec: MdnSpec = { kind: "mdn", inputDim: 2, hidden: [4], activation: "tanh", layerNorm: false, k: 2, d: 1 };
  const w = initWeights(spec, 1);

  it("mdnForward and modelForwardParams name the tensor and the row instead of returning a NaN mixture", () => {
    const x = Float64Array.of(0.1, 0.2, 0.3, NaN, 0.5, 0.6);
    for (const f of [() => mdnForward(spec, w, x, 3), () => modelForwardParams(spec, w, x, 3)]) {
      const e = thrown(f);
      expect(e).toBeInstanceOf(NonFiniteError);
      expect((e as NonFiniteError).row).toBe(1);
      expect((e as Error).message).toMatch(/row 1: input x\[1, 1\] = NaN/);
    }
  });

  it("a NaN that relu swallows is still an error naming x's row and column", () => {
    const relu: MdnSpec = { ...spec, activation: "relu" };
    const e = thrown(() => mdnForward(relu, initWeights(relu, 1), Float64Array.of(0.1, 0.2, NaN, 0.4), 2));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect((e as NonFiniteError).tensor).toMatch(/^(x|logits|mu|logSigma)$/);
    expect((e as NonFiniteError).row).toBe(1);
  });

  it("the js backend's predict rejects NaN inputs with the row", async () => {
    const model = await createJsBackend().createModel(spec, w);
    await expect(model.predict(Float64Array.of(NaN, 0, 0, 0), 2)).rejects.toMatchObject({ name: "NonFiniteError", row: 0 });
    const ok = await model.predict(Float64Array.of(0, 0, 1, 1), 2);
    expect(Array.from(ok.logits).every(Number.isFinite)).toBe(true);
  });
});

describe("mode at extreme scales", () => {
  it("mixtureMode with refinement is scale-equivariant (sigma ~ 1e200 was 0/0 = NaN)", () => {
    const base = mixtureMode(m, { refineSteps: 50 });
    for (const c of [1e-200, 1e200]) {
      const scaled: MixtureParams = { ...m, mu: Float64Array.from(m.mu, (v) => v * c), logSigma: Float64Array.from(m.logSigma, (s) => s + Math.log(c)) };
      const mode = mixtureMode(scaled, { refineSteps: 50 });
      for (let i = 0; i < base.length; i++) expect(Math.abs((mode[i] as number) / c - (base[i] as number))).toBeLessThan(1e-9);
    }
  });
});
