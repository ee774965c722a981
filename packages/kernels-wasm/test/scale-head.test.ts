/**
 * Non-default heads (spec.head: scale parameterisation, sigma floor, covariance)
 * beyond the parity suite: floorHits, a saturated floor (s' < SCALE_GRAD_EPS),
 * specs the suite does not run, and the no-allocation property of step().
 */
import { assertClose } from "@ngem/core/testing";
import { createJsBackend, initWeights, type HeadOptions, type ModelSpec, type NamedTensors } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { createWasmBackend } from "../src/index.js";
import { batchFor, f32Weights } from "./helpers.js";

const ref = createJsBackend();
const VARIANTS: HeadOptions[] = [
  { variant: "nll" },
  { variant: "em" },
  { variant: "ngem" },
  { variant: "ngem-full" },
  { variant: "ngem", fisherCoords: "sigma" },
  { variant: "ngem-full", fisherCoords: "sigma", piFloor: 0.05 },
];

/** Sets the head bias of the raw scale columns (MDN) to `v`, so the floor saturates. */
function withScaleBias(spec: ModelSpec & { kind: "mdn" }, w: NamedTensors, v: number): NamedTensors {
  const b = Float32Array.from((w["head.bias"] as { data: ArrayLike<number> }).data);
  for (let i = spec.k + spec.k * spec.d; i < b.length; i++) b[i] = v;
  return { ...w, "head.bias": { shape: [b.length], data: b } };
}

describe("non-default heads: floorHits", () => {
  it("a GMM counts every raw scale entry under the floor, once per row, like the reference", async () => {
    const b = await createWasmBackend();
    const spec: ModelSpec = { kind: "gmm", k: 2, d: 2, head: { scale: "softplus", sigmaMin: 0.1 } };
    // softplus(-10) = 4.5e-5 and softplus(-5) = 6.7e-3 are under 0.1; softplus(0) = 0.69 and softplus(3) = 3.05 are not.
    const w: NamedTensors = {
      "gmm.logits": { shape: [2], data: Float32Array.of(0.3, -0.2) },
      "gmm.mu": { shape: [2, 2], data: Float32Array.of(0, 1, -1, 0.5) },
      "gmm.logSigma": { shape: [2, 2], data: Float32Array.of(-10, 0, -5, 3) },
    };
    const m = await b.createModel(spec, w);
    const r = await ref.createModel(spec, w);
    const batch = batchFor(spec, 5, 1);
    const sm = await m.step(batch, { variant: "ngem" }, { type: "sgd", lr: 0.01 });
    const sr = await r.step(batch, { variant: "ngem" }, { type: "sgd", lr: 0.01 });
    expect(sm.floorHits).toBe(10);
    expect(sm.floorHits).toBe(sr.floorHits);
    assertClose("loss", [sm.loss], [sr.loss], 1e-5);
    assertClose("grad norm", [sm.gradNorm], [sr.gradNorm], 1e-5);
    m.dispose();
  });

  it("an MDN reports the reference's floorHits on every step; a head without a floor reports none", async () => {
    const b = await createWasmBackend();
    // sigmaMin = 1 with exp: every raw scale entry r < 0 is a hit (about half of them at this init).
    const spec: ModelSpec = {
      kind: "mdn",
      inputDim: 3,
      hidden: [8],
      activation: "tanh",
      layerNorm: false,
      k: 3,
      d: 2,
      head: { scale: "exp", sigmaMin: 1, covariance: "isotropic" },
    };
    const w = f32Weights(initWeights(spec, 4));
    const m = await b.createModel(spec, w);
    const r = await ref.createModel(spec, w);
    let total = 0;
    for (let s = 0; s < 4; s++) {
      const batch = batchFor(spec, 9 + s, 10 + s);
      const sm = await m.step(batch, { variant: "ngem-full" }, { type: "adam", lr: 0.05 });
      const sr = await r.step(batch, { variant: "ngem-full" }, { type: "adam", lr: 0.05 });
      expect(typeof sm.floorHits).toBe("number");
      expect(sm.floorHits).toBe(sr.floorHits);
      total += sm.floorHits as number;
    }
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(4 * 12 * spec.k);

    const noFloor: ModelSpec = { ...spec, head: { scale: "softplus", covariance: "shared" } };
    const m2 = await b.createModel(noFloor, f32Weights(initWeights(noFloor, 4)));
    const s2 = await m2.step(batchFor(noFloor, 4, 1), {}, { type: "sgd", lr: 0.01 });
    expect("floorHits" in s2).toBe(false);
    m.dispose();
    m2.dispose();
  });
});

describe("non-default heads: specs outside the parity suite", () => {
  const specs: { spec: ModelSpec; scaleBias?: number; label: string }[] = [
    {
      label: "mdn no hidden layer, exp isotropic (no floor)",
      spec: { kind: "mdn", inputDim: 4, hidden: [], activation: "relu", layerNorm: false, k: 3, d: 5, head: { covariance: "isotropic" } },
    },
    {
      label: "mdn K=4 D=3 softplus shared, floor 0.2",
      spec: {
        kind: "mdn",
        inputDim: 3,
        hidden: [9, 7],
        activation: "gelu",
        layerNorm: true,
        k: 4,
        d: 3,
        head: { scale: "softplus", sigmaMin: 0.2, covariance: "shared" },
      },
    },
    // raw scale bias -9: e^-9 = 1.2e-4 << 0.5, so s' = 1 / (1 + 0.5 e^-r) ~ 2.5e-4 < SCALE_GRAD_EPS (the max(s', eps) branch)
    {
      label: "mdn saturated floor, exp diag",
      scaleBias: -9,
      spec: { kind: "mdn", inputDim: 2, hidden: [6], activation: "tanh", layerNorm: false, k: 2, d: 3, head: { scale: "exp", sigmaMin: 0.5 } },
    },
    { label: "gmm K=5 D=7 elu+1 diag, floor 0.3", spec: { kind: "gmm", k: 5, d: 7, head: { scale: "elu+1", sigmaMin: 0.3 } } },
  ];
  for (const { spec, scaleBias, label } of specs) {
    it(`${label}: predict, gradients of every variant and two steps match the js reference (2e-3)`, async () => {
      const b = await createWasmBackend();
      let w = f32Weights(initWeights(spec, 21));
      if (scaleBias !== undefined && spec.kind === "mdn") w = withScaleBias(spec, w, scaleBias);
      const m = await b.createModel(spec, w);
      const r = await ref.createModel(spec, w);
      const batch = batchFor(spec, 7, 8);
      const pm = await m.predict(batch.x, batch.n);
      const pr = await r.predict(batch.x, batch.n);
      expect(pm.logSigma.length).toBe(batch.n * spec.k * spec.d);
      assertClose(`${label} predict logits`, pm.logits, pr.logits, 2e-3);
      assertClose(`${label} predict mu`, pm.mu, pr.mu, 2e-3);
      assertClose(`${label} predict logSigma`, pm.logSigma, pr.logSigma, 2e-3);
      for (const o of VARIANTS) {
        const tag = `${label} ${o.variant}/${o.fisherCoords ?? "log-sigma"}`;
        const gm = await m.gradients(batch, o);
        const gr = await r.gradients(batch, o);
        assertClose(`${tag} loss`, [gm.loss], [gr.loss], 2e-3);
        for (const [k, t] of Object.entries(gr.grads)) {
          expect((gm.grads[k] as { shape: readonly number[] }).shape).toEqual(t.shape);
          assertClose(`${tag} ${k}`, (gm.grads[k] as { data: Float32Array }).data, t.data, 2e-3);
        }
      }
      for (let s = 0; s < 2; s++) {
        const opt = { type: "adam", lr: 1e-2, clipNorm: 5 } as const;
        const sm = await m.step(batch, { variant: "ngem" }, opt);
        const sr = await r.step(batch, { variant: "ngem" }, opt);
        assertClose(`${label} step ${s} loss`, [sm.loss], [sr.loss], 2e-3);
        assertClose(`${label} step ${s} gradNorm`, [sm.gradNorm], [sr.gradNorm], 2e-3);
        if (scaleBias !== undefined) expect(sm.floorHits).toBe(batch.n * spec.k * spec.d);
        expect(sm.floorHits).toBe(sr.floorHits);
      }
      const wm = await m.getWeights();
      for (const [k, t] of Object.entries(await r.getWeights())) assertClose(`${label} weights ${k}`, (wm[k] as { data: Float32Array }).data, t.data, 2e-3);
      m.dispose();
    });
  }
});

describe("non-default heads: steady-state steps allocate nothing", () => {
  const cases: { label: string; spec: ModelSpec; head: HeadOptions }[] = [
    {
      label: "MDN softplus + floor + shared, ngem-full",
      spec: {
        kind: "mdn",
        inputDim: 8,
        hidden: [32, 32],
        activation: "gelu",
        layerNorm: true,
        k: 3,
        d: 2,
        head: { scale: "softplus", sigmaMin: 0.05, covariance: "shared" },
      },
      head: { variant: "ngem-full" },
    },
    {
      label: "GMM elu+1 + floor + isotropic, nll",
      spec: { kind: "gmm", k: 4, d: 3, head: { scale: "elu+1", sigmaMin: 0.5, covariance: "isotropic" } },
      head: { variant: "nll" },
    },
  ];
  for (const { label, spec, head } of cases) {
    it(`${label}: 300 steps keep wasm memory, the workspace and the typed-array views unchanged`, async () => {
      const b = await createWasmBackend();
      const m = await b.createModel(spec, initWeights(spec, 2));
      const batch = batchFor(spec, 16, 4);
      const small = batchFor(spec, 5, 5);
      const opt = { type: "adam", lr: 1e-3 } as const;
      await m.step(batch, head, opt); // first step lays out the workspace for n = 16
      const s0 = m.handler().stats();
      expect(s0.batchCapacity).toBe(16);
      const ab0 = process.memoryUsage().arrayBuffers;
      let hits = 0;
      for (let i = 0; i < 300; i++) {
        const r = await m.step(i % 10 === 9 ? small : batch, head, opt);
        expect(r.nonFinite).toBeUndefined();
        hits += r.floorHits as number;
      }
      expect(Number.isFinite(hits)).toBe(true);
      const s1 = m.handler().stats();
      expect(s1.memoryBytes).toBe(s0.memoryBytes);
      expect(s1.workspaceLayouts).toBe(s0.workspaceLayouts);
      expect(s1.viewRefreshes).toBe(s0.viewRefreshes);
      expect(s1.allocations).toBe(s0.allocations);
      expect(s1.copiesOut).toBe(s0.copiesOut);
      expect(process.memoryUsage().arrayBuffers - ab0).toBeLessThan(64 * 1024);
      await m.step(batchFor(spec, 40, 6), head, opt);
      await m.step(batchFor(spec, 40, 7), head, opt);
      expect(m.handler().stats().workspaceLayouts).toBe(s0.workspaceLayouts + 1);
      m.dispose();
    });
  }
});
