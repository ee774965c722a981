/**
 * Model-level behaviour beyond the shared parity suite: no tensor leaks,
 * head options at model level, `spec.head` (every scale x covariance, with
 * floor-saturated scales and floorHits), every optimizer option, non-finite
 * handling, and switching tfjs's single engine between tfjs-cpu and
 * tfjs-wasm models.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import {
  COVARIANCES,
  getBackend,
  initWeights,
  paramShapes,
  Rng,
  SCALE_PARAMS,
  VARIANTS,
  type Backend,
  type HeadOptions,
  type ModelSpec,
  type NamedTensors,
  type OptimizerSpec,
  type ScaleOptions,
} from "@ngem/core";
import { assertClose } from "@ngem/core/testing";
import "@ngem/backend-tfjs";

const MDN: ModelSpec = { kind: "mdn", inputDim: 2, hidden: [6, 5], activation: "gelu", layerNorm: true, k: 3, d: 2 };
const GMM: ModelSpec = { kind: "gmm", k: 2, d: 3 };

function batchFor(spec: ModelSpec, n: number, seed: number) {
  const rng = new Rng(seed);
  const y = Float32Array.from({ length: n * spec.d }, () => rng.normal());
  if (spec.kind === "gmm") return { n, y };
  return { n, x: Float32Array.from({ length: n * spec.inputDim }, () => rng.normal()), y };
}

function f32(w: NamedTensors): NamedTensors {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));
}

/** Every scale parameterisation x covariance, with a sigma floor. */
const FLOORED_HEADS: ScaleOptions[] = SCALE_PARAMS.flatMap((scale) => COVARIANCES.map((covariance) => ({ scale, sigmaMin: 0.05, covariance })));

const ALL_HEAD_OPTIONS: HeadOptions[] = [
  ...VARIANTS.map((variant) => ({ variant })),
  { variant: "ngem", fisherCoords: "sigma" },
  { variant: "ngem-full", fisherCoords: "sigma", piFloor: 0.2 },
  { variant: "ngem-full", fisherCoords: "log-sigma", piFloor: 0.5 },
];

/**
 * Reference weights with every other raw scale entry pushed to -10, where the
 * floor dominates (f(r) ~ 4.5e-5 < sigmaMin) and s' ~ 9e-4 < SCALE_GRAD_EPS,
 * so the max(s', eps) of the natural gradient is active. No entry is near the
 * floor boundary, so floorHits is exact in float32.
 */
function flooredWeights(spec: ModelSpec, seed: number): NamedTensors {
  const w = f32(initWeights(spec, seed));
  const headRow = paramShapes(spec).find(([n]) => n === "head.bias");
  if (spec.kind === "gmm") {
    const s = w["gmm.logSigma"]!.data as Float32Array;
    for (let i = 0; i < s.length; i++) s[i] = i % 2 ? -10 : 0.3 * i - 0.5;
  } else if (headRow) {
    const b = w["head.bias"]!.data as Float32Array;
    const start = spec.k + spec.k * spec.d;
    for (let i = start; i < b.length; i++) if ((i - start) % 2) b[i] = -10;
  }
  return w;
}

async function compareWeights(tag: string, a: NamedTensors, b: NamedTensors, rtol: number): Promise<void> {
  for (const [name, t] of Object.entries(b)) assertClose(`${tag} ${name}`, (a[name] as { data: Float32Array }).data, t.data, rtol);
}

describe.each(["tfjs-cpu", "tfjs-wasm"] as const)("%s model", (name) => {
  const backend = (): Promise<Backend> => getBackend(name);

  it("reports precision float32 and its name", async () => {
    const b = await backend();
    expect(b.precision).toBe("float32");
    expect(b.name).toBe(name);
  });

  it("does not leak tensors across steps, predict, gradients and head calls", async () => {
    const b = await backend();
    const opts: OptimizerSpec[] = [
      { type: "adam", lr: 1e-2, clipNorm: 0.5, weightDecay: 0.1 },
      { type: "sgd", lr: 1e-2, momentum: 0.9 },
      { type: "rmsprop", lr: 1e-3, momentum: 0.3 },
    ];
    for (const spec of [MDN, GMM]) {
      for (const o of opts) {
        const m = await b.createModel(spec, initWeights(spec, 1));
        await m.step(batchFor(spec, 8, 0), {}, o); // creates the optimizer slots
        const before = tf.memory().numTensors;
        for (let i = 0; i < VARIANTS.length; i++) await m.step(batchFor(spec, 8, i + 1), { variant: VARIANTS[i] }, o);
        await m.gradients(batchFor(spec, 5, 9), { variant: "ngem-full" });
        const bt = batchFor(spec, 4, 10);
        const p = await m.predict(bt.x, 4);
        await b.head(p, bt.y, { variant: "em" });
        const skipped = await m.step({ n: 1, ...(spec.kind === "mdn" ? { x: new Float32Array(2) } : {}), y: new Float32Array(spec.d).fill(NaN) }, {}, o);
        expect(skipped.nonFinite).toBe("batch.y");
        expect(tf.memory().numTensors, `${spec.kind} ${o.type}: live tensors after the steps`).toBe(before);
        m.dispose();
      }
    }
  });

  it("dispose releases the model's tensors", async () => {
    const b = await backend();
    const before = tf.memory().numTensors;
    const m = await b.createModel(MDN, initWeights(MDN, 2));
    await m.step(batchFor(MDN, 4, 1), {}, { type: "adam", lr: 1e-3 });
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(m.getWeights()).rejects.toThrow(/disposed/);
  });

  it("model gradients match the js reference for every head option (fisherCoords, piFloor)", async () => {
    const b = await backend();
    const js = await getBackend("js");
    const options: HeadOptions[] = [
      { variant: "ngem", fisherCoords: "sigma" },
      { variant: "ngem-full", fisherCoords: "sigma", piFloor: 0.2 },
      { variant: "ngem-full", fisherCoords: "log-sigma", piFloor: 0.5 },
    ];
    for (const spec of [MDN, GMM]) {
      const w = f32(initWeights(spec, 3));
      const m = await b.createModel(spec, w);
      const r = await js.createModel(spec, w);
      const batch = batchFor(spec, 9, 4);
      for (const o of options) {
        const gm = await m.gradients(batch, o);
        const gr = await r.gradients(batch, o);
        assertClose(`${spec.kind} ${o.variant}/${o.fisherCoords} loss`, [gm.loss], [gr.loss], 2e-3);
        await compareWeights(`${spec.kind} ${o.variant}/${o.fisherCoords}/${o.piFloor} grad`, gm.grads, gr.grads, 2e-3);
      }
      m.dispose();
    }
  });

  it("spec.head: every scale x covariance, floor-saturated scales: predict, gradients of every head option and floorHits match the js reference", async () => {
    const b = await backend();
    const js = await getBackend("js");
    for (const head of FLOORED_HEADS) {
      const specs: ModelSpec[] = [
        { kind: "gmm", k: 3, d: 2, head },
        { kind: "mdn", inputDim: 2, hidden: [5], activation: "tanh", layerNorm: false, k: 2, d: 3, head },
      ];
      for (const spec of specs) {
        const tag = `${spec.kind} ${head.scale}/${head.covariance}`;
        const w = flooredWeights(spec, 13);
        const m = await b.createModel(spec, w);
        const r = await js.createModel(spec, w);
        const batch = batchFor(spec, 7, 14);
        const pm = await m.predict(batch.x, batch.n);
        const pr = await r.predict(batch.x, batch.n);
        expect(pm.logSigma.length, `${tag} predict is the expanded diagonal mixture`).toBe(batch.n * spec.k * spec.d);
        assertClose(`${tag} predict logSigma`, pm.logSigma, pr.logSigma, 2e-3);
        for (const o of ALL_HEAD_OPTIONS) {
          const gm = await m.gradients(batch, o);
          const gr = await r.gradients(batch, o);
          const otag = `${tag} ${o.variant}/${o.fisherCoords ?? "log-sigma"}/${o.piFloor ?? "-"}`;
          assertClose(`${otag} loss`, [gm.loss], [gr.loss], 2e-3);
          await compareWeights(`${otag} grad`, gm.grads, gr.grads, 2e-3);
        }
        for (const variant of ["em", "ngem-full"] as const) {
          const sm = await m.step(batch, { variant }, { type: "sgd", lr: 0.01 });
          const sr = await r.step(batch, { variant }, { type: "sgd", lr: 0.01 });
          expect(sr.floorHits, `${tag}: the reference sees floored entries`).toBeGreaterThan(0);
          expect(sm.floorHits, `${tag} floorHits`).toBe(sr.floorHits);
          assertClose(`${tag} ${variant} grad norm`, [sm.gradNorm], [sr.gradNorm], 2e-3);
        }
        await compareWeights(`${tag} weights after 2 steps`, await m.getWeights(), await r.getWeights(), 2e-3);
        m.dispose();
        r.dispose();
      }
    }
  });

  it("spec.head: floorHits counts the batch's floored raw scale entries and is absent without a floor", async () => {
    const b = await backend();
    // GMM K=2 D=3 isotropic: raw scale [2, 1] = [-10 (floored), 0]; repeated over the n = 5 rows -> 5 hits.
    const spec: ModelSpec = { kind: "gmm", k: 2, d: 3, head: { scale: "softplus", sigmaMin: 0.1, covariance: "isotropic" } };
    const w: NamedTensors = { ...f32(initWeights(spec, 1)), "gmm.logSigma": { shape: [2, 1], data: Float32Array.of(-10, 0) } };
    const m = await b.createModel(spec, w);
    expect((await m.step(batchFor(spec, 5, 1), {}, { type: "sgd", lr: 1e-3 })).floorHits).toBe(5);
    m.dispose();
    for (const head of [undefined, { scale: "softplus", covariance: "shared" } as const]) {
      const s2: ModelSpec = { kind: "gmm", k: 2, d: 3, ...(head ? { head } : {}) };
      const m2 = await b.createModel(s2, initWeights(s2, 1));
      expect((await m2.step(batchFor(s2, 5, 1), {}, { type: "sgd", lr: 1e-3 })).floorHits).toBeUndefined();
      m2.dispose();
    }
  });

  it("spec.head: an explicit default head gives bit-identical results to no head", async () => {
    const b = await backend();
    const plain: ModelSpec = MDN;
    const explicit: ModelSpec = { ...MDN, head: { scale: "exp", sigmaMin: 0, covariance: "diag" } };
    const w = f32(initWeights(MDN, 21));
    const m1 = await b.createModel(plain, w);
    const m2 = await b.createModel(explicit, w);
    for (let i = 0; i < 3; i++) {
      const batch = batchFor(MDN, 6, 30 + i);
      const o: HeadOptions = { variant: VARIANTS[i + 1] };
      expect((await m2.gradients(batch, o)).grads).toEqual((await m1.gradients(batch, o)).grads);
      expect(await m2.step(batch, o, { type: "adam", lr: 0.01 })).toEqual(await m1.step(batch, o, { type: "adam", lr: 0.01 }));
    }
    expect(await m2.getWeights()).toEqual(await m1.getWeights());
    m1.dispose();
    m2.dispose();
  });

  it("spec.head: no tensor leaks across steps (every variant), gradients and predict", async () => {
    const b = await backend();
    const heads: ScaleOptions[] = [
      { scale: "softplus", sigmaMin: 0.01, covariance: "shared" },
      { scale: "elu+1", covariance: "isotropic" },
      { scale: "exp", sigmaMin: 0.02, covariance: "diag" },
    ];
    for (const head of heads) {
      for (const spec of [
        { ...MDN, head },
        { ...GMM, head },
      ] as ModelSpec[]) {
        const m = await b.createModel(spec, flooredWeights(spec, 2));
        const o: OptimizerSpec = { type: "adam", lr: 1e-2, clipNorm: 1 };
        await m.step(batchFor(spec, 8, 0), {}, o); // creates the optimizer slots
        const before = tf.memory().numTensors;
        for (const ho of ALL_HEAD_OPTIONS) await m.step(batchFor(spec, 8, 1), ho, o);
        await m.gradients(batchFor(spec, 5, 2), { variant: "ngem-full", fisherCoords: "sigma" });
        await m.predict(batchFor(spec, 4, 3).x, 4);
        const skipped = await m.step({ n: 1, ...(spec.kind === "mdn" ? { x: new Float32Array(2) } : {}), y: new Float32Array(spec.d).fill(NaN) }, {}, o);
        expect(skipped.nonFinite).toBe("batch.y");
        expect(tf.memory().numTensors, `${spec.kind} ${head.scale}/${head.covariance}: live tensors after the steps`).toBe(before);
        m.dispose();
      }
    }
  });

  it("the em custom gradient equals tfjs autodiff of the NLL (Prop. 3.1)", async () => {
    const b = await backend();
    const m = await b.createModel(MDN, initWeights(MDN, 5));
    const batch = batchFor(MDN, 12, 6);
    const em = await m.gradients(batch, { variant: "em" });
    const nll = await m.gradients(batch, { variant: "nll" });
    expect(em.loss).toBe(nll.loss);
    await compareWeights("em vs nll", em.grads, nll.grads, 1e-4);
    // and ngem differs from them (it is a different direction)
    const ng = await m.gradients(batch, { variant: "ngem" });
    expect(() => assertClose("ngem vs nll", ng.grads["head.weight"]!.data, nll.grads["head.weight"]!.data, 1e-2)).toThrow();
    m.dispose();
  });

  it("every optimizer option matches the js reference over 4 steps", async () => {
    const b = await backend();
    const js = await getBackend("js");
    const opts: OptimizerSpec[] = [
      { type: "sgd", lr: 0.05 },
      { type: "sgd", lr: 0.05, momentum: 0.8, weightDecay: 0.05 },
      { type: "adam", lr: 0.02, beta1: 0.8, beta2: 0.95, eps: 1e-6, clipNorm: 0.3 },
      { type: "rmsprop", lr: 0.005, alpha: 0.9, eps: 1e-6 },
    ];
    for (const o of opts) {
      const w = f32(initWeights(MDN, 7));
      const m = await b.createModel(MDN, w);
      const r = await js.createModel(MDN, w);
      for (let i = 0; i < 4; i++) {
        const batch = batchFor(MDN, 8, 20 + i);
        const sm = await m.step(batch, { variant: "ngem" }, o);
        const sr = await r.step(batch, { variant: "ngem" }, o);
        assertClose(`${o.type} loss step ${i}`, [sm.loss], [sr.loss], 2e-3);
        assertClose(`${o.type} grad norm step ${i}`, [sm.gradNorm], [sr.gradNorm], 2e-3);
      }
      await compareWeights(`${o.type} weights`, await m.getWeights(), await r.getWeights(), 2e-3);
      const sm = await m.getOptimizerState();
      const sr = await r.getOptimizerState();
      expect(Object.keys(sm).sort()).toEqual(Object.keys(sr).sort());
      await compareWeights(`${o.type} state`, sm, sr, 2e-3);
      m.dispose();
    }
  });

  it("a float32 overflow in the loss is reported as nonFinite and the step is skipped", async () => {
    const b = await backend();
    // sigma = e^-60: (y - mu) / sigma overflows float32 when squared, so every component's density is 0.
    const w: NamedTensors = {
      "gmm.logits": { shape: [2], data: new Float32Array(2) },
      "gmm.mu": { shape: [2, 3], data: new Float32Array(6) },
      "gmm.logSigma": { shape: [2, 3], data: new Float32Array(6).fill(-60) },
    };
    const m = await b.createModel(GMM, w);
    const r = await m.step({ n: 1, y: new Float32Array([1, 1, 1]) }, {}, { type: "sgd", lr: 0.1 });
    expect(r.nonFinite).toBe("nll");
    await compareWeights("unchanged", await m.getWeights(), w, 0);
    expect(await m.getOptimizerState()).toEqual({});
    m.dispose();
  });

  /** GMM K=1 D=1 with sigma = e^-46 at mu = 0: a residual y makes z = y / sigma and the mu gradient z / sigma huge. */
  const collapsedGmm = (): NamedTensors => ({
    "gmm.logits": { shape: [1], data: Float32Array.of(0) },
    "gmm.mu": { shape: [1, 1], data: Float32Array.of(0) },
    "gmm.logSigma": { shape: [1, 1], data: Float32Array.of(-46) },
  });
  const GMM11: ModelSpec = { kind: "gmm", k: 1, d: 1 };

  it("a gradient norm whose float32 sum of squares overflows is still exact (scaled norm), and clipping uses it", async () => {
    const b = await backend();
    const js = await getBackend("js");
    // y = 1e-20: z ~ 0.95, the mu gradient ~ 9e19 is finite but its square overflows float32.
    const batch = { n: 2, y: Float32Array.of(1e-20, 1e-20) };
    const o: OptimizerSpec = { type: "sgd", lr: 0.1, clipNorm: 1 };
    const m = await b.createModel(GMM11, collapsedGmm());
    const r = await js.createModel(GMM11, collapsedGmm());
    const sm = await m.step(batch, { variant: "em" }, o);
    const sr = await r.step(batch, { variant: "em" }, o);
    expect(sm.nonFinite).toBeUndefined();
    expect(sr.gradNorm).toBeGreaterThan(1e19);
    assertClose("overflowed grad norm", [sm.gradNorm], [sr.gradNorm], 2e-3);
    await compareWeights("weights after a clipped step", await m.getWeights(), await r.getWeights(), 2e-3);
    m.dispose();
    r.dispose();
  });

  it("a float32 gradient overflow skips the step, names the gradient, and its gradients are released by the next pass and by dispose", async () => {
    const b = await backend();
    const base = tf.memory().numTensors;
    const m = await b.createModel(GMM11, collapsedGmm());
    const held = tf.memory().numTensors;
    // y - mu = 0.15: z = 1.4e19 keeps z^2 (2e38) finite, but z / sigma (1.4e39) overflows float32.
    const r = await m.step({ n: 2, y: Float32Array.of(0.15, 0.15) }, { variant: "em" }, { type: "sgd", lr: 0.1 });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.nonFinite).toBe("grad:gmm.mu");
    await compareWeights("unchanged", await m.getWeights(), collapsedGmm(), 0);
    expect(await m.getOptimizerState()).toEqual({});
    // a finite pass replaces (and releases) the gradients of the skipped one
    await m.gradients({ n: 1, y: Float32Array.of(1e-20) }, {});
    expect(tf.memory().numTensors, "live tensors after the next pass").toBe(held);
    await m.step({ n: 2, y: Float32Array.of(0.15, 0.15) }, { variant: "em" }, { type: "sgd", lr: 0.1 });
    m.dispose();
    expect(tf.memory().numTensors, "live tensors after dispose").toBe(base);
  });

  it("an external optimizer (as the trainer's SOAP) gets the clipped gradients and leaks no tensors", async () => {
    const b = await backend();
    const js = await getBackend("js");
    const w = f32(initWeights(MDN, 8));
    const seen: Record<string, Float64Array>[] = [];
    const ext = (into: Record<string, Float64Array>[]) => ({
      type: "external" as const,
      clipNorm: 0.5,
      update(weights: Record<string, Float64Array>, grads: Record<string, Float64Array>): void {
        into.push(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float64Array.from(g)])));
        for (const [k, p] of Object.entries(weights)) for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) - 0.1 * (grads[k]?.[i] as number);
      },
    });
    const ref: Record<string, Float64Array>[] = [];
    const m = await b.createModel(MDN, w);
    const r = await js.createModel(MDN, w);
    const before = tf.memory().numTensors; // the weights only: an external step keeps no gradients or moments
    for (let i = 0; i < 3; i++) {
      const sm = await m.step(batchFor(MDN, 6, 40 + i), {}, ext(seen));
      const sr = await r.step(batchFor(MDN, 6, 40 + i), {}, ext(ref));
      assertClose(`external step ${i} grad norm`, [sm.gradNorm], [sr.gradNorm], 2e-3);
    }
    expect(tf.memory().numTensors, "live tensors after external steps").toBe(before);
    for (let i = 0; i < 3; i++)
      for (const [k, g] of Object.entries(ref[i] as Record<string, Float64Array>))
        assertClose(`external grads ${i} ${k}`, seen[i]?.[k] as Float64Array, g, 2e-3);
    await compareWeights("weights after external steps", await m.getWeights(), await r.getWeights(), 2e-3);
    expect(await m.getOptimizerState()).toEqual({});
    m.dispose();
    r.dispose();
  });

  it("rejects bad optimizer state with an error naming the entry", async () => {
    const b = await backend();
    const m = await b.createModel(GMM, initWeights(GMM, 1));
    await expect(m.setOptimizerState({ "gmm.mu/m": { shape: [5], data: new Float32Array(5) } })).rejects.toThrow(/gmm\.mu\/m.*length 6/);
    await expect(m.setOptimizerState({ "nope/m": { shape: [1], data: new Float32Array(1) } })).rejects.toThrow(/nope\/m/);
    await expect(m.setOptimizerState({ step: { shape: [1], data: new Float32Array([1.5]) } })).rejects.toThrow(/step/);
    m.dispose();
  });
});

describe("one tfjs engine, two tfjs backends", () => {
  it("interleaved tfjs-cpu and tfjs-wasm models give the same results as each alone", async () => {
    const cpu = await getBackend("tfjs-cpu");
    const wasm = await getBackend("tfjs-wasm");
    const w = f32(initWeights(MDN, 11));
    const o: OptimizerSpec = { type: "adam", lr: 0.01 };
    const solo = await cpu.createModel(MDN, w);
    for (let i = 0; i < 3; i++) await solo.step(batchFor(MDN, 8, i), {}, o);
    const soloW = await solo.getWeights();
    solo.dispose();

    const a = await cpu.createModel(MDN, w);
    const c = await wasm.createModel(MDN, w);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await a.step(batchFor(MDN, 8, i), {}, o);
      seen.add(tf.getBackend());
      await c.step(batchFor(MDN, 8, i), {}, o);
      seen.add(tf.getBackend());
    }
    expect([...seen].sort()).toEqual(["cpu", "wasm"]);
    // tfjs-cpu is deterministic: interleaving must not change a single bit
    const aw = await a.getWeights();
    for (const [name, t] of Object.entries(soloW)) expect(Array.from(aw[name]!.data), name).toEqual(Array.from(t.data));
    await compareWeights("wasm vs cpu", await c.getWeights(), soloW, 1e-4);
    a.dispose();
    c.dispose();
  });
});
