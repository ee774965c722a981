import { mdnForward, Rng, softmax, type FloatArray, type MdnSpec, type MixtureParams } from "@ngem/core";
import { train, type TrainConfig, type TrainData, type TrainedModel } from "@ngem/trainer";

/** Normalisation far from (0, 1), so a graph that skips or misplaces it fails the parity checks. */
export const X_NORM = { mean: Float64Array.of(3, -2), std: Float64Array.of(2, 0.5) };
export const Y_NORM = { mean: Float64Array.of(10, -1), std: Float64Array.of(4, 0.1) };

/** Standardised data (x 2-D, y 2-D, two branches) carrying X_NORM / Y_NORM as its normalisation. */
export function conditionalData(n: number, seed: number): TrainData {
  const r = new Rng(seed);
  const x = new Float64Array(n * 2);
  const y = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    const a = r.normal();
    const b = r.normal();
    const s = r.uniform() < 0.5 ? -1 : 1;
    x.set([a, b], i * 2);
    y.set([s * Math.sin(a) + 0.3 * r.normal(), 0.5 * b * s + 0.2 * r.normal()], i * 2);
  }
  return { n, xDim: 2, yDim: 2, x, y, normalization: { x: X_NORM, y: Y_NORM } };
}

/** Unconditional standardised 2-D data for a GMM, with Y_NORM. */
export function unconditionalData(n: number, seed: number): TrainData {
  const r = new Rng(seed);
  const y = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    const s = r.uniform() < 0.3 ? -1 : 1;
    y.set([s + 0.4 * r.normal(), 0.7 * r.normal() - s * 0.5], i * 2);
  }
  return { n, xDim: 0, yDim: 2, x: new Float64Array(0), y, normalization: { y: Y_NORM } };
}

/** A briefly trained model (weights moved away from the init), on the js backend. */
export async function trainedModel(model: TrainConfig["model"], seed = 0): Promise<TrainedModel> {
  const data = model.kind === "gmm" ? unconditionalData(200, seed) : conditionalData(200, seed);
  const { model: m } = await train({ model, objective: "ngem", optimizer: { type: "adam", lr: 2e-2 }, steps: 15, batchSize: 32, seed, backend: "js" }, data);
  return m;
}

/** Random inputs in original units: x = mean + std * 1.5 z. */
export function originalInputs(n: number, seed: number): Float64Array {
  const r = new Rng(seed);
  const x = new Float64Array(n * 2);
  for (let i = 0; i < n * 2; i++) x[i] = (X_NORM.mean[i % 2] as number) + (X_NORM.std[i % 2] as number) * 1.5 * r.normal();
  return x;
}

export interface Outputs {
  logits: ArrayLike<number>;
  mu: ArrayLike<number>;
  sigma: ArrayLike<number>;
  pi: ArrayLike<number>;
}

/** predict's mixture as the ONNX graph's four outputs. */
export function asOutputs(m: MixtureParams): Outputs {
  return { logits: m.logits, mu: m.mu, sigma: Float64Array.from(m.logSigma, Math.exp), pi: softmax(m.logits, m.n, m.k) };
}

/**
 * Largest float32-scale discrepancy between two output sets: normwise for
 * logits/mu/pi (max|a-e| / max(max|e|, 1)), relative for sigma (|log a - log e|).
 */
export function discrepancy(a: Outputs, e: Outputs): Record<keyof Outputs, number> {
  const normwise = (x: ArrayLike<number>, y: ArrayLike<number>) => {
    if (x.length !== y.length) return Infinity;
    let err = 0;
    let scale = 1;
    for (let i = 0; i < y.length; i++) {
      err = Math.max(err, Math.abs((x[i] as number) - (y[i] as number)));
      scale = Math.max(scale, Math.abs(y[i] as number));
    }
    return err / scale;
  };
  let sig = a.sigma.length === e.sigma.length ? 0 : Infinity;
  for (let i = 0; i < e.sigma.length; i++) {
    const v = Math.abs(Math.log(a.sigma[i] as number) - Math.log(e.sigma[i] as number));
    sig = Number.isNaN(v) ? Infinity : Math.max(sig, v);
  }
  return { logits: normwise(a.logits, e.logits), mu: normwise(a.mu, e.mu), sigma: sig, pi: normwise(a.pi, e.pi) };
}

export function standardise(x: Float64Array): Float64Array {
  return x.map((v, i) => (v - (X_NORM.mean[i % 2] as number)) / (X_NORM.std[i % 2] as number));
}

export async function rawScale(model: TrainedModel, spec: MdnSpec, xOriginal: Float64Array): Promise<FloatArray> {
  return mdnForward(spec, await model.weights(), standardise(xOriginal), xOriginal.length / 2).raw.scale;
}

/** Shifts the head's raw-scale bias so the raw scales of the test inputs straddle 0 (both elu+1 branches). */
export async function centreRawScale(model: TrainedModel, spec: MdnSpec): Promise<void> {
  const raw = Array.from(await rawScale(model, spec, originalInputs(37, 137))).sort((a, b) => a - b);
  const median = raw[raw.length >> 1] as number;
  const w = await model.weights();
  const bias = Float64Array.from(w["head.bias"]!.data);
  for (let j = spec.k + spec.k * spec.d; j < bias.length; j++) bias[j] = (bias[j] as number) - median;
  await model.backendModel.setWeights({ ...w, "head.bias": { shape: [bias.length], data: bias } });
}
