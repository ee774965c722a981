/**
 * The exported ONNX graph run by onnxruntime-node equals the trainer's
 * `predict` (original units, float32 tolerance) for every head option and
 * the GMM, on random inputs, at two batch sizes from one session.
 */
import { mdnForward, type FloatArray, type MdnSpec } from "@ngem/core";
import { predict, type TrainConfig, type TrainedModel } from "@ngem/trainer";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { toOnnx } from "../src/index.js";
import { asOutputs, discrepancy, originalInputs, trainedModel, X_NORM, type Outputs } from "./helpers.js";

/** float32 tolerance: a few hundred float32 ulps after a 2-layer trunk. */
const TOL = 2e-5;

async function runOrt(session: ort.InferenceSession, x: Float64Array, rows: number, xDim: number): Promise<Outputs & { dims: Record<string, readonly number[]> }> {
  const feeds = { x: new ort.Tensor("float32", Float32Array.from(x), [rows, xDim]) };
  const r = await session.run(feeds);
  const get = (n: string) => r[n] as ort.Tensor;
  return {
    logits: get("logits").data as Float32Array,
    mu: get("mu").data as Float32Array,
    sigma: get("sigma").data as Float32Array,
    pi: get("pi").data as Float32Array,
    dims: Object.fromEntries(["logits", "mu", "sigma", "pi"].map((n) => [n, get(n).dims])),
  };
}

function standardise(x: Float64Array): Float64Array {
  return x.map((v, i) => (v - (X_NORM.mean[i % 2] as number)) / (X_NORM.std[i % 2] as number));
}

async function rawScale(model: TrainedModel, spec: MdnSpec, xOriginal: Float64Array): Promise<FloatArray> {
  return mdnForward(spec, await model.weights(), standardise(xOriginal), xOriginal.length / 2).raw.scale;
}

/** Shifts the head's raw-scale bias so the raw scales of the test inputs straddle 0 (both elu+1 branches). */
async function centreRawScale(model: TrainedModel, spec: MdnSpec): Promise<void> {
  const raw = Array.from(await rawScale(model, spec, originalInputs(37, 137))).sort((a, b) => a - b);
  const median = raw[raw.length >> 1] as number;
  const w = await model.weights();
  const bias = Float64Array.from(w["head.bias"]!.data);
  for (let j = spec.k + spec.k * spec.d; j < bias.length; j++) bias[j] = (bias[j] as number) - median;
  await model.backendModel.setWeights({ ...w, "head.bias": { shape: [bias.length], data: bias } });
}

type ModelCfg = TrainConfig["model"];
const MDN_CASES: [string, ModelCfg][] = [
  ["exp, no floor, diag (default head), gelu + LayerNorm", { kind: "mdn", k: 3, hidden: [16, 8] }],
  ["exp, sigmaMin 0.05, diag", { kind: "mdn", k: 3, hidden: [16, 8], sigmaMin: 0.05 }],
  ["softplus, diag, tanh", { kind: "mdn", k: 3, hidden: [16, 8], activation: "tanh", scale: "softplus" }],
  ["softplus, sigmaMin 1e-3, isotropic", { kind: "mdn", k: 3, hidden: [16, 8], scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" }],
  ["elu+1, diag, relu, no LayerNorm", { kind: "mdn", k: 3, hidden: [16, 8], activation: "relu", layerNorm: false, scale: "elu+1" }],
  ["elu+1, sigmaMin 0.01, shared", { kind: "mdn", k: 4, hidden: [12], scale: "elu+1", sigmaMin: 0.01, covariance: "shared" }],
  ["exp, isotropic, no hidden layer", { kind: "mdn", k: 2, hidden: [], covariance: "isotropic" }],
  ["exp, sigmaMin 0.1, shared", { kind: "mdn", k: 2, hidden: [8], sigmaMin: 0.1, covariance: "shared" }],
];

describe("ONNX export of an MDN: onnxruntime-node equals predict (original units)", () => {
  for (const [label, cfg] of MDN_CASES) {
    it(label, async () => {
      const model = await trainedModel(cfg, 1);
      const spec = model.spec as MdnSpec;
      if (spec.head?.scale === "elu+1") await centreRawScale(model, spec);
      const session = await ort.InferenceSession.create(await toOnnx(model));
      expect(session.inputNames).toEqual(["x"]);
      expect(session.outputNames).toEqual(["logits", "mu", "sigma", "pi"]);
      for (const rows of [1, 37]) {
        const x = originalInputs(rows, 100 + rows);
        const got = await runOrt(session, x, rows, 2);
        const want = asOutputs(await predict(model, x, { space: "original" }));
        const { K, D } = { K: spec.k, D: spec.d };
        expect(got.dims).toEqual({ logits: [rows, K], mu: [rows, K, D], sigma: [rows, K, D], pi: [rows, K] });
        const err = discrepancy(got, want);
        for (const [k, v] of Object.entries(err)) expect(v, `${k} (rows ${rows})`).toBeLessThan(TOL);
      }
      if (spec.head?.scale === "elu+1") {
        // the test inputs reach both branches of elu+1 (r > 0 and r <= 0)
        const raw = await rawScale(model, spec, originalInputs(37, 137));
        expect(raw.some((r) => r > 0) && raw.some((r) => r <= 0)).toBe(true);
      }
      await session.release();
      model.dispose();
    });
  }

  it('space "data" is the trained space: equal to predict without normalisation, and different from original units', async () => {
    const model = await trainedModel({ kind: "mdn", k: 3, hidden: [16, 8], scale: "softplus" }, 2);
    const session = await ort.InferenceSession.create(await toOnnx(model, { space: "data" }));
    const z = standardise(originalInputs(9, 5));
    const got = await runOrt(session, z, 9, 2);
    const err = discrepancy(got, asOutputs(await predict(model, z)));
    for (const [k, v] of Object.entries(err)) expect(v, k).toBeLessThan(TOL);
    const orig = discrepancy(got, asOutputs(await predict(model, z, { space: "original" })));
    expect(orig.mu).toBeGreaterThan(0.1);
    model.dispose();
  });
});

const GMM_CASES: [string, ModelCfg][] = [
  ["exp, diag", { kind: "gmm", k: 3 }],
  ["softplus, sigmaMin 1e-3, isotropic", { kind: "gmm", k: 3, scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" }],
  ["elu+1, shared", { kind: "gmm", k: 2, scale: "elu+1", covariance: "shared" }],
];

describe("ONNX export of a free GMM: onnxruntime-node equals predict (original units)", () => {
  for (const [label, cfg] of GMM_CASES) {
    it(label, async () => {
      const model = await trainedModel(cfg, 3);
      const session = await ort.InferenceSession.create(await toOnnx(model));
      for (const rows of [1, 5]) {
        const got = await runOrt(session, new Float64Array(0), rows, 0);
        const want = asOutputs(await predict(model, undefined, { n: rows, space: "original" }));
        expect(got.dims.mu).toEqual([rows, model.spec.k, 2]);
        const err = discrepancy(got, want);
        for (const [k, v] of Object.entries(err)) expect(v, `${k} (rows ${rows})`).toBeLessThan(TOL);
      }
      await session.release();
      model.dispose();
    });
  }
});
