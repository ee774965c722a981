/**
 * The exported ONNX graph run by onnxruntime-node and by onnxruntime-web
 * (its WebAssembly backend, here in Node) equals the trainer's `predict`
 * (original units, float32 tolerance) for every head option and the GMM, on
 * random inputs, at two batch sizes from one session.
 */
import type { MdnSpec } from "@ngem/core";
import { predict, type TrainConfig } from "@ngem/trainer";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { describe, expect, it } from "vitest";
import { toOnnx } from "../src/index.js";
import { asOutputs, centreRawScale, discrepancy, originalInputs, rawScale, standardise, trainedModel, type Outputs } from "./helpers.js";

/** float32 tolerance: a few hundred float32 ulps after a 2-layer trunk. */
const TOL = 2e-5;

type Ort = typeof ortNode;
ortWeb.env.wasm.numThreads = 1;
const RUNTIMES: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];

async function sessions(bytes: Uint8Array): Promise<[string, Ort, ortNode.InferenceSession][]> {
  return Promise.all(RUNTIMES.map(async ([name, ort]) => [name, ort, await ort.InferenceSession.create(bytes)] as [string, Ort, ortNode.InferenceSession]));
}

async function runOrt(
  ort: Ort,
  session: ortNode.InferenceSession,
  x: Float64Array,
  rows: number,
  xDim: number,
): Promise<Outputs & { dims: Record<string, readonly number[]> }> {
  const feeds = { x: new ort.Tensor("float32", Float32Array.from(x), [rows, xDim]) };
  const r = await session.run(feeds);
  const get = (n: string) => r[n] as ortNode.Tensor;
  return {
    logits: get("logits").data as Float32Array,
    mu: get("mu").data as Float32Array,
    sigma: get("sigma").data as Float32Array,
    pi: get("pi").data as Float32Array,
    dims: Object.fromEntries(["logits", "mu", "sigma", "pi"].map((n) => [n, get(n).dims])),
  };
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
  // two trunks (logits | mu, raw scale) feeding a Concat
  ["separate trunks, exp, diag, gelu + LayerNorm", { kind: "mdn", k: 3, hidden: [16, 8], trunk: "separate" }],
  [
    "separate trunks, softplus, sigmaMin 1e-3, isotropic, tanh, no LayerNorm",
    { kind: "mdn", k: 3, hidden: [12], activation: "tanh", layerNorm: false, scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic", trunk: "separate" },
  ],
];

describe("ONNX export of an MDN: onnxruntime-node and -web equal predict (original units)", () => {
  for (const [label, cfg] of MDN_CASES) {
    it(label, async () => {
      const model = await trainedModel(cfg, 1);
      const spec = model.spec as MdnSpec;
      if (spec.head?.scale === "elu+1") await centreRawScale(model, spec);
      for (const [runtime, ort, session] of await sessions(await toOnnx(model))) {
        expect(session.inputNames).toEqual(["x"]);
        expect(session.outputNames).toEqual(["logits", "mu", "sigma", "pi"]);
        for (const rows of [1, 37]) {
          const x = originalInputs(rows, 100 + rows);
          const got = await runOrt(ort, session, x, rows, 2);
          const want = asOutputs(await predict(model, x, { space: "original" }));
          const { K, D } = { K: spec.k, D: spec.d };
          expect(got.dims).toEqual({ logits: [rows, K], mu: [rows, K, D], sigma: [rows, K, D], pi: [rows, K] });
          const err = discrepancy(got, want);
          for (const [k, v] of Object.entries(err)) expect(v, `${runtime}: ${k} (rows ${rows})`).toBeLessThan(TOL);
        }
        await session.release();
      }
      if (spec.head?.scale === "elu+1") {
        // the test inputs reach both branches of elu+1 (r > 0 and r <= 0)
        const raw = await rawScale(model, spec, originalInputs(37, 137));
        expect(raw.some((r) => r > 0) && raw.some((r) => r <= 0)).toBe(true);
      }
      model.dispose();
    });
  }

  it('space "data" is the trained space: equal to predict without normalisation, and different from original units', async () => {
    const model = await trainedModel({ kind: "mdn", k: 3, hidden: [16, 8], scale: "softplus" }, 2);
    const session = await ortNode.InferenceSession.create(await toOnnx(model, { space: "data" }));
    const z = standardise(originalInputs(9, 5));
    const got = await runOrt(ortNode, session, z, 9, 2);
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

describe("ONNX export of a free GMM: onnxruntime-node and -web equal predict (original units)", () => {
  for (const [label, cfg] of GMM_CASES) {
    it(label, async () => {
      const model = await trainedModel(cfg, 3);
      for (const [runtime, ort, session] of await sessions(await toOnnx(model))) {
        for (const rows of [1, 5]) {
          const got = await runOrt(ort, session, new Float64Array(0), rows, 0);
          const want = asOutputs(await predict(model, undefined, { n: rows, space: "original" }));
          expect(got.dims.mu).toEqual([rows, model.spec.k, 2]);
          const err = discrepancy(got, want);
          for (const [k, v] of Object.entries(err)) expect(v, `${runtime}: ${k} (rows ${rows})`).toBeLessThan(TOL);
        }
        await session.release();
      }
      model.dispose();
    });
  }
});

describe("ONNX export of an ensemble: the equal-weight mixture of its members' graphs equals predict", () => {
  for (const [label, cfg] of [
    ["MDN ensemble of 3 (softplus, sigmaMin, isotropic)", { kind: "mdn", k: 2, hidden: [8], scale: "softplus", sigmaMin: 0.01, covariance: "isotropic" }],
    ["GMM ensemble of 3", { kind: "gmm", k: 2 }],
  ] as [string, ModelCfg][]) {
    it(label, async () => {
      const { ensemble } = await import("@ngem/trainer");
      const model = ensemble([await trainedModel(cfg, 1), await trainedModel(cfg, 2), await trainedModel(cfg, 3)]);
      const K = model.spec.k;
      const D = model.spec.d;
      expect(K).toBe(6);
      const xDim = cfg.kind === "mdn" ? 2 : 0;
      for (const [runtime, ort, session] of await sessions(await toOnnx(model))) {
        for (const rows of [1, 9]) {
          const x = cfg.kind === "mdn" ? originalInputs(rows, 300 + rows) : new Float64Array(0);
          const got = await runOrt(ort, session, x, rows, xDim);
          const want = asOutputs(await predict(model, cfg.kind === "mdn" ? x : undefined, { space: "original", n: rows }));
          expect(got.dims).toEqual({ logits: [rows, K], mu: [rows, K, D], sigma: [rows, K, D], pi: [rows, K] });
          const err = discrepancy(got, want);
          for (const [k, v] of Object.entries(err)) expect(v, `${runtime}: ${k} (rows ${rows})`).toBeLessThan(TOL);
        }
        await session.release();
      }
      model.dispose();
    });
  }
});
