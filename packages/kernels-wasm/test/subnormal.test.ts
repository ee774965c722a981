/**
 * No subnormal float32 values in the hot path (issue 16, item 1). WebAssembly cannot set
 * flush-to-zero, and on Intel cores every subnormal operand of a matmul costs ~100
 * cycles: on the inverse-MNIST head shape, one Adam step used to leave ~10% of the
 * head's output gradients subnormal (tiny responsibilities times residuals), which
 * made steps 2-5 about 10x slower than the steady state. The kernels now flush values
 * below 2^-60, so none appear in the head's output gradients, in any matmul input
 * (inputs, activations, LayerNorm caches, backward buffers,
 * weights) or in the optimizer state. Deterministic: fixed seeds, a synthetic
 * inverse-MNIST-like batch (one-hot label -> 784 pixels in [0, 1], mostly exact zeros).
 */
import { Rng, initWeights, type HeadOptions, type ModelSpec } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { createWasmBackend } from "../src/index.js";

const K = 10;
const D = 784;
const N = 64;
const spec: ModelSpec = { kind: "mdn", inputDim: 10, hidden: [256], activation: "gelu", layerNorm: true, k: K, d: D };

/** One-hot digit labels and blob images (a template per label plus noise, clipped to [0, 1]). */
function mnistLikeBatch(seed: number): { n: number; x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const templates: Float64Array[] = [];
  for (let l = 0; l < 10; l++) {
    const t = new Float64Array(D);
    for (let b = 0; b < 3; b++) {
      const cx = 7 + 14 * rng.uniform();
      const cy = 7 + 14 * rng.uniform();
      for (let p = 0; p < D; p++) {
        const dx = (p % 28) - cx;
        const dy = Math.floor(p / 28) - cy;
        t[p] = Math.max(t[p] as number, 1.3 * Math.exp(-(dx * dx + dy * dy) / 18) - 0.3);
      }
    }
    templates.push(t);
  }
  const x = new Float32Array(N * 10);
  const y = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    const l = i % 10;
    x[i * 10 + l] = 1;
    const t = templates[l] as Float64Array;
    for (let p = 0; p < D; p++) {
      const v = t[p] as number;
      y[i * D + p] = v > 0 ? Math.min(1, Math.max(0, v + 0.15 * rng.normal())) : 0;
    }
  }
  return { n: N, x, y };
}

describe("no subnormals in the hot path (MNIST-head shape 10-256 GELU+LN, K=10, D=784, batch 64)", () => {
  for (const variant of ["nll", "ngem"] as const) {
    it(`${variant}: six Adam steps leave no subnormal float32 anywhere in the model's memory`, async () => {
      const b = await createWasmBackend();
      const m = await b.createModel(spec, initWeights(spec, 7));
      try {
        const head: HeadOptions = { variant };
        for (let s = 0; s < 6; s++) {
          const r = await m.step(mnistLikeBatch(100 + s), head, { type: "adam", lr: 1e-3 });
          expect(r.nonFinite).toBeUndefined();
          expect(Number.isFinite(r.loss)).toBe(true);
          const counts = m.handler().subnormals();
          // every group the kernels read as a matmul input or write as the head's output gradient
          for (const name of [
            "head output gradients",
            "trunk.0 activation",
            "trunk.0 LayerNorm output",
            "backward buffer 0",
            "parameters",
            "optimizer m",
            "optimizer v",
          ]) {
            expect(counts[name], `${name} present`).toBeTypeOf("number");
          }
          const bad = Object.entries(counts).filter(([, c]) => c !== 0);
          expect(bad, `step ${s + 1}: subnormal values in ${JSON.stringify(bad)}`).toEqual([]);
        }
      } finally {
        m.dispose();
      }
    }, 60_000);
  }
});
