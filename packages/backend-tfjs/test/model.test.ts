/**
 * Model-level behaviour beyond the shared parity suite: no tensor leaks,
 * head options at model level, every optimizer option, non-finite handling,
 * and switching tfjs's single engine between tfjs-cpu and tfjs-wasm models.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { getBackend, initWeights, Rng, VARIANTS, type Backend, type HeadOptions, type ModelSpec, type NamedTensors, type OptimizerSpec } from "@ngem/core";
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
