/** Predictions of a trained model: mixture parameters, samples, dataset NLL. */
import { checkFiniteRows, logProb, sample as coreSample, ShapeError, type FloatArray, type MixtureParams } from "@ngem/core";
import { gatherBatch } from "./data.js";
import type { TrainedModel } from "./model-handle.js";
import type { TrainData } from "./types.js";

export interface PredictOptions {
  /** Rows to predict for a free GMM (default 1; ignored by an MDN, which takes n from x). */
  readonly n?: number;
  /**
   * "data" (default): x and the returned mixture are in the (normalised) space
   * the model was trained in. "original": x is in original units and is
   * standardised with the stored normalisation; the mixture is mapped back to
   * original y units (mu * std + mean, logSigma + log std).
   */
  readonly space?: "data" | "original";
}

/** Mixture parameters (logits, mu, logSigma) for inputs x [n, xDim] (omit x for a GMM). */
export async function predict(model: TrainedModel, x?: FloatArray, opts: PredictOptions = {}): Promise<MixtureParams> {
  const spec = model.spec;
  const space = opts.space ?? "data";
  if (space !== "data" && space !== "original") throw new ShapeError("opts.space", `expected "data" | "original", got ${String(space)}`);
  let n: number;
  let input: FloatArray | undefined;
  if (spec.kind === "gmm") {
    n = opts.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new ShapeError("opts.n", `expected an integer >= 1, got ${String(opts.n)}`);
  } else {
    if (!x || x.length % spec.inputDim !== 0 || x.length === 0) {
      throw new ShapeError(
        "x",
        `expected a float array of shape [n, ${spec.inputDim}] (length a positive multiple of ${spec.inputDim}), got length ${String(x?.length)}`,
      );
    }
    n = x.length / spec.inputDim;
    checkFiniteRows("x", x, spec.inputDim); // every backend: a NaN input is an error naming its row, never a NaN mixture
    input = x;
    const nx = model.normalization?.x;
    if (space === "original" && nx) {
      const z = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) z[i] = ((x[i] as number) - (nx.mean[i % spec.inputDim] as number)) / (nx.std[i % spec.inputDim] as number);
      input = z;
    }
  }
  const m = await model.backendModel.predict(input, n);
  const ny = model.normalization?.y;
  if (space === "data" || !ny) return m;
  const D = m.d;
  const mu = new Float64Array(m.mu.length);
  const logSigma = new Float64Array(m.logSigma.length);
  for (let i = 0; i < mu.length; i++) {
    const d = i % D;
    const std = ny.std[d] as number;
    mu[i] = (m.mu[i] as number) * std + (ny.mean[d] as number);
    logSigma[i] = (m.logSigma[i] as number) + Math.log(std);
  }
  return { n: m.n, k: m.k, d: D, logits: Float64Array.from(m.logits), mu, logSigma };
}

export interface SampleOptions extends PredictOptions {
  /** Samples per input row (default 1). */
  readonly count?: number;
  /** Seed of the sampling stream (default 0). */
  readonly seed?: number;
  /** Temperature of the component choice (core's `sample`; default 1, 0 = most probable component). */
  readonly temperature?: number;
  /** Scale temperature (default 1; 0 returns the component mean). */
  readonly sigmaTemperature?: number;
}

/** Draws samples y ~ p(y | x): [n, count, D], seeded, optionally tempered. */
export async function sample(model: TrainedModel, x?: FloatArray, opts: SampleOptions = {}): Promise<Float64Array> {
  const m = await predict(model, x, opts);
  return coreSample(m, {
    count: opts.count ?? 1,
    seed: opts.seed ?? 0,
    ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
    ...(opts.sigmaTemperature !== undefined ? { sigmaTemperature: opts.sigmaTemperature } : {}),
  });
}

/** Per-row log p(y | x) over a whole data set, predicted in chunks of `chunk` rows. */
export async function logLikelihoods(model: TrainedModel, data: TrainData, chunk = 2048): Promise<Float64Array> {
  const out = new Float64Array(data.n);
  const rows = new Uint32Array(data.n).map((_, i) => i);
  for (let s = 0; s < data.n; s += chunk) {
    const e = Math.min(data.n, s + chunk);
    const b = gatherBatch(data, rows, s, e);
    const m = await model.backendModel.predict(b.x, b.n);
    out.set(logProb(m, b.y), s);
  }
  return out;
}

/** Mean NLL of a data set (in the space the model was trained in). */
export async function datasetNll(model: TrainedModel, data: TrainData): Promise<number> {
  const lp = await logLikelihoods(model, data);
  let s = 0;
  for (const v of lp) s -= v;
  return s / lp.length;
}
