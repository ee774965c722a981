/**
 * Model-level checks beyond the shared parity suite: specs it does not cover
 * (no hidden layer, wide layers, D = 784), float32 gradient overflow skipping
 * a step, non-finite inputs, and the steady-state memory behaviour of step().
 */
import { assertClose } from "@ngem/core/testing";
import { createJsBackend, initWeights, NonFiniteError, type ModelSpec, type NamedTensors } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { createWasmBackend } from "../src/index.js";
import { batchFor, f32Weights } from "./helpers.js";

const ref = createJsBackend();

describe("specs outside the parity suite", () => {
  const specs: ModelSpec[] = [
    { kind: "mdn", inputDim: 5, hidden: [], activation: "relu", layerNorm: false, k: 3, d: 2 },
    { kind: "mdn", inputDim: 9, hidden: [128, 128], activation: "gelu", layerNorm: true, k: 3, d: 1 },
    { kind: "mdn", inputDim: 10, hidden: [13], activation: "tanh", layerNorm: true, k: 10, d: 784 },
    { kind: "gmm", k: 5, d: 7 },
  ];
  for (const spec of specs) {
    const name = spec.kind === "gmm" ? `gmm K=${spec.k} D=${spec.d}` : `mdn ${spec.inputDim}-[${spec.hidden.join(",")}] K=${spec.k} D=${spec.d}`;
    it(`${name}: gradients and two Adam steps match the js reference (float32 tolerance 2e-3)`, async () => {
      const b = await createWasmBackend();
      const w = f32Weights(initWeights(spec, 11));
      const m = await b.createModel(spec, w);
      const r = await ref.createModel(spec, w);
      const batch = batchFor(spec, 6, 3);
      for (const variant of ["nll", "ngem", "ngem-full"] as const) {
        const gm = await m.gradients(batch, { variant });
        const gr = await r.gradients(batch, { variant });
        assertClose(`${name} ${variant} loss`, [gm.loss], [gr.loss], 2e-3);
        for (const [k, t] of Object.entries(gr.grads)) assertClose(`${name} ${variant} ${k}`, (gm.grads[k] as { data: Float32Array }).data, t.data, 2e-3);
      }
      for (let s = 0; s < 2; s++) {
        const opt = { type: "adam", lr: 1e-3, clipNorm: 5 } as const;
        const sm = await m.step(batch, {}, opt);
        const sr = await r.step(batch, {}, opt);
        assertClose(`${name} step ${s} loss`, [sm.loss], [sr.loss], 2e-3);
        assertClose(`${name} step ${s} gradNorm`, [sm.gradNorm], [sr.gradNorm], 2e-3);
      }
      const wm = await m.getWeights();
      for (const [k, t] of Object.entries(await r.getWeights())) assertClose(`${name} weights ${k}`, (wm[k] as { data: Float32Array }).data, t.data, 2e-3);
      m.dispose();
      b.dispose();
    });
  }
});

describe("non-finite handling", () => {
  it("a float32 gradient overflow skips the step and names the gradient", async () => {
    const b = await createWasmBackend();
    const spec: ModelSpec = { kind: "gmm", k: 1, d: 1 };
    // sigma = e^-46, y - mu = 0.15: z = 1.4e19 keeps z^2 (2e38) finite, but z / sigma (1.4e39) overflows float32.
    // (A residual below 2^-60 is flushed to 0 by the head, so the overflow needs sigma this small and y - mu this large.)
    const w: NamedTensors = {
      "gmm.logits": { shape: [1], data: Float32Array.of(0) },
      "gmm.mu": { shape: [1, 1], data: Float32Array.of(0) },
      "gmm.logSigma": { shape: [1, 1], data: Float32Array.of(-46) },
    };
    const m = await b.createModel(spec, w);
    const r = await m.step({ n: 2, y: Float32Array.of(0.15, 0.15) }, { variant: "em" }, { type: "sgd", lr: 0.1 });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.nonFinite).toBe("grad:gmm.mu");
    const after = await m.getWeights();
    expect(Array.from((after["gmm.logSigma"] as { data: Float32Array }).data)).toEqual([-46]);
    expect(Array.from((after["gmm.mu"] as { data: Float32Array }).data)).toEqual([0]);
    expect(await m.getOptimizerState()).toEqual({});
  });

  it("a NaN input is reported by name (batch.x), as by the reference; gradients() throws NonFiniteError", async () => {
    const b = await createWasmBackend();
    const spec: ModelSpec = { kind: "mdn", inputDim: 2, hidden: [4], activation: "tanh", layerNorm: false, k: 2, d: 1 };
    const m = await b.createModel(spec, initWeights(spec, 1));
    const batch = { n: 2, x: Float32Array.of(0.1, NaN, 0.3, 0.4), y: Float32Array.of(0, 1) };
    const rs = await m.step(batch, {}, { type: "sgd", lr: 0.1 });
    const rr = await (await ref.createModel(spec, initWeights(spec, 1))).step(batch, {}, { type: "sgd", lr: 0.1 });
    expect(rs.nonFinite).toBe(rr.nonFinite);
    expect(rs.nonFinite).toBe("batch.x");
    await expect(m.gradients(batch, {})).rejects.toBeInstanceOf(NonFiniteError);
    await expect(
      b.head({ n: 1, k: 1, d: 1, logits: Float32Array.of(0), mu: Float32Array.of(Infinity), logSigma: Float32Array.of(0) }, Float32Array.of(0), {}),
    ).rejects.toThrow(/^mu: non-finite value Infinity at flat index 0/);
  });
});

describe("memory: steady-state steps allocate nothing", () => {
  for (const trunk of ["shared", "separate"] as const)
    it(`300 steps keep wasm memory, the workspace and the typed-array views unchanged (${trunk} trunk)`, async () => {
      const b = await createWasmBackend();
      const spec: ModelSpec = { kind: "mdn", inputDim: 8, hidden: [32, 32], activation: "gelu", layerNorm: true, k: 3, d: 2, trunk };
      const m = await b.createModel(spec, initWeights(spec, 2));
      const batch = batchFor(spec, 16, 4);
      const small = batchFor(spec, 5, 5);
      const opt = { type: "adam", lr: 1e-3 } as const;
      await m.step(batch, {}, opt); // first step lays out the workspace for n = 16
      const s0 = m.handler().stats();
      expect(s0.batchCapacity).toBe(16);
      const ab0 = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < 300; i++) await m.step(i % 10 === 9 ? small : batch, {}, opt); // a smaller batch reuses the layout
      const s1 = m.handler().stats();
      expect(s1.memoryBytes).toBe(s0.memoryBytes);
      expect(s1.workspaceLayouts).toBe(s0.workspaceLayouts);
      expect(s1.viewRefreshes).toBe(s0.viewRefreshes);
      expect(s1.allocations).toBe(s0.allocations);
      expect(s1.copiesOut).toBe(s0.copiesOut);
      // No ArrayBuffer-backed array per step: a per-step copy of the batch (>= 5 * 8 * 4 bytes of x, off-heap
      // above V8's 64-byte on-heap limit for the 16-row batch) or of any gradient would add >= 300 * 512 bytes.
      const grown = process.memoryUsage().arrayBuffers - ab0;
      expect(grown).toBeLessThan(64 * 1024);
      // A larger batch re-lays the workspace exactly once.
      await m.step(batchFor(spec, 40, 6), {}, opt);
      await m.step(batchFor(spec, 40, 7), {}, opt);
      expect(m.handler().stats().workspaceLayouts).toBe(s0.workspaceLayouts + 1);
      expect(m.handler().stats().batchCapacity).toBe(40);
    });
});
