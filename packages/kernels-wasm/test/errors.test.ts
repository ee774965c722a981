/**
 * Out-of-range sizes and memory exhaustion give NgemError / ShapeError naming
 * the argument, never a WebAssembly trap ("memory access out of bounds").
 */
import { initWeights, NgemError, ShapeError, type ModelSpec } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { createWasmBackend, KernelRuntime, MatmulMode } from "../src/index.js";

describe("sizes out of range", () => {
  it("kernel calls with regions too small, or bad counts, throw ShapeError naming the argument", async () => {
    const rt = await KernelRuntime.create();
    const a = rt.alloc("a", 6);
    const b = rt.alloc("b", 6);
    const c = rt.alloc("c", 3);
    expect(() => rt.matmul(a, b, c, 2, 3, 2)).toThrow(ShapeError);
    expect(() => rt.matmul(a, b, c, 2, 3, 2)).toThrow(/^c: region "c" holds 3 floats, but shape \[m, n\] = \[2, 2\] needs 4/);
    expect(() => rt.matmul(a, b, rt.alloc("c4", 4), 2, 3, 2, MatmulMode.bias)).toThrow(/^bias:/);
    expect(() => rt.matmul(a, b, c, -1, 3, 2)).toThrow(/^m: expected an integer/);
    expect(() => rt.matmul(a, b, c, 1.5, 3, 2)).toThrow(/^m: expected an integer/);
    expect(() => rt.transpose(a, c, 2, 3)).toThrow(/^dst:/);
    expect(() => rt.activation("gelu", a, c, 6)).toThrow(/^out:/);
    expect(() => rt.layerNorm(a, c, c, a, rt.alloc("one", 1), a, 2, 3)).toThrow(/^invStd: region "one" holds 1 floats/);
    expect(() => rt.sgd(a, b, c, 6, 0.1, 1, 0, false, false)).toThrow(/^state:/);
    expect(() => rt.colsum(a, 3, 2, c, 5)).toThrow(/^x:/);
    expect(() => rt.write(c, new Float32Array(4))).toThrow(/^c: cannot write 4 values/);
    expect(() => rt.matmul(a, b, c, 65536, 65536, 1)).toThrow(/exceeds the wasm32 limit/);
  });

  it("the head rejects a wrong scratch region and sizes past the wasm32 limit", async () => {
    const rt = await KernelRuntime.create();
    const r = rt.alloc("x", 16);
    const res = rt.alloc("res", 4);
    expect(() =>
      rt.mixtureHead(
        {
          n: 2,
          k: 2,
          d: 2,
          logits: r,
          logitsOff: 0,
          logitsStride: 2,
          mu: r,
          muOff: 4,
          s: r,
          sOff: 8,
          msStride: 4,
          y: r,
          gLogits: r,
          gLogitsOff: 0,
          gLogitsStride: 2,
          gMu: r,
          gMuOff: 4,
          gS: r,
          gSOff: 8,
          gMsStride: 4,
        },
        { variant: 2, sigmaCoords: false, piFloor: 0.01 },
        rt.alloc("tiny", 1),
        res,
      ),
    ).toThrow(/^scratch:/);
    expect(() => rt.headScratchFloats(100000, 100000)).toThrow(/^head scratch: size/);
  });

  it("a batch larger than the memory limit fails with NgemError naming the buffer", async () => {
    const b = await createWasmBackend({ maxMemoryBytes: 16 << 20 });
    const spec: ModelSpec = { kind: "gmm", k: 2, d: 1000 };
    const m = await b.createModel(spec, initWeights(spec, 1));
    const n = 5000; // y alone is 20 MB > the 16 MiB limit; checked before any allocation
    await expect(m.step({ n, y: new Float32Array(n * 1000) }, {}, { type: "sgd", lr: 0.1 })).rejects.toThrow(/wasm memory exhausted: "batch\.y" needs/);
    // the model still works afterwards
    const ok = await m.step({ n: 2, y: new Float32Array(2000) }, {}, { type: "sgd", lr: 0.1 });
    expect(Number.isFinite(ok.loss)).toBe(true);
  });

  it("a model larger than maxMemoryBytes fails with NgemError naming the region", async () => {
    const b = await createWasmBackend({ maxMemoryBytes: 1 << 20 });
    const spec: ModelSpec = { kind: "mdn", inputDim: 784, hidden: [512], activation: "relu", layerNorm: false, k: 2, d: 1 };
    const err = await b.createModel(spec, initWeights(spec, 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NgemError);
    expect(String((err as Error).message)).toMatch(
      /^wasm memory exhausted: "(parameters|gradients|optimizer state [mv])" needs \d+ bytes .* limit is 1048576 bytes \(maxMemoryBytes\)/,
    );
    expect(String((err as Error).message)).not.toMatch(/out of bounds|unreachable/);
  });

  it("maxMemoryBytes is validated", async () => {
    await expect(createWasmBackend({ maxMemoryBytes: 0 })).rejects.toThrow(/^maxMemoryBytes:/);
    await expect(createWasmBackend({ maxMemoryBytes: 2 ** 33 })).rejects.toThrow(/^maxMemoryBytes:/);
  });

  it("a disposed model or backend fails clearly", async () => {
    const b = await createWasmBackend();
    const spec: ModelSpec = { kind: "gmm", k: 1, d: 1 };
    const m = await b.createModel(spec, initWeights(spec, 1));
    m.dispose();
    await expect(m.getWeights()).rejects.toThrow(/disposed/);
    b.dispose();
    await expect(
      b.head({ n: 1, k: 1, d: 1, logits: [0] as unknown as Float32Array, mu: Float32Array.of(0), logSigma: Float32Array.of(0) }, Float32Array.of(0), {}),
    ).rejects.toThrow(/disposed/);
  });

  it("invalid head options and optimizer specs get core's errors", async () => {
    const b = await createWasmBackend();
    const spec: ModelSpec = { kind: "gmm", k: 1, d: 1 };
    const m = await b.createModel(spec, initWeights(spec, 1));
    const batch = { n: 1, y: Float32Array.of(0) };
    await expect(m.step(batch, { variant: "bogus" as "em" }, { type: "sgd", lr: 0.1 })).rejects.toThrow(/^variant:/);
    await expect(m.step(batch, { piFloor: 0 }, { type: "sgd", lr: 0.1 })).rejects.toThrow(/^piFloor:/);
    await expect(m.step(batch, {}, { type: "sgd", lr: -1 })).rejects.toThrow(/^optimizer\.lr:/);
    await expect(m.setOptimizerState({ "gmm.mu/m": { shape: [2], data: new Float32Array(2) } })).rejects.toThrow(/gmm\.mu\/m.*expected length 1/);
    await expect(m.setOptimizerState({ "nope/m": { shape: [1], data: new Float32Array(1) } })).rejects.toThrow(/nope\/m.*for a parameter of this model/);
  });
});
