/**
 * Training entry points: `train` (from scratch) and `resume` (exactly where a
 * checkpoint left off) over in-memory data - the seeded split and each
 * epoch's shuffle ({@link memoryFeed}) - or a stream (stream.ts). The loop
 * itself is loop.ts.
 */
import { getBackend, initWeights, Rng } from "@ngem/core";
import { load } from "./checkpoint.js";
import { ConfigError, specFor, splitSizes, validateConfig, type ResolvedConfig } from "./config.js";
import { DataMismatchError, dataFingerprint, deriveSeed, gatherBatch, subset, validateData } from "./data.js";
import { defaultIO, type TrainerIO } from "./io.js";
import { type LoopFeed, runLoop, type TrainOptions, type TrainResult } from "./loop.js";
import { initialState, makeSoap, TrainedModel } from "./model-handle.js";
import { datasetNll } from "./predict.js";
import { isStreamSource, resumeStream, trainStream, type StreamSource } from "./stream.js";
import type { TrainConfig, TrainData } from "./types.js";

export { type LoopFeed, type RunPlan, runLoop, type TrainOptions, type TrainResult, totalSteps } from "./loop.js";

/** The split of a data set that a config implies (deterministic in config.seed). */
export function splitData(config: ResolvedConfig, data: TrainData): { train: TrainData; val?: TrainData } {
  if (config.validationSplit === 0) return { train: data };
  const { nVal } = splitSizes(config.validationSplit, data.n);
  const perm = new Rng(deriveSeed(config.splitSeed ?? config.seed, 1)).shuffle(Uint32Array.from({ length: data.n }, (_, i) => i));
  const val = perm.slice(0, nVal).sort();
  const train = perm.slice(nVal).sort();
  return { train: subset(data, train), val: subset(data, val) };
}

/**
 * Trains a model from scratch. The backend comes from core's registry by
 * name (`config.backend`, default "js"); a backend that cannot load throws
 * BackendUnavailableError. Initial weights: core's `initWeights(spec, config.seed)`.
 */
export async function train(config: TrainConfig, data: TrainData | StreamSource, opts: TrainOptions = {}): Promise<TrainResult> {
  if (isStreamSource(data)) return trainStream(config, data, opts); // out-of-core: stream.ts
  validateData(data);
  const resolved = validateConfig(config, data);
  const spec = specFor(resolved, data);
  const backend = await getBackend(resolved.backend);
  const backendModel = await backend.createModel(spec, initWeights(spec, resolved.seed));
  const state = initialState(resolved.seed, dataFingerprint(data));
  const model = new TrainedModel(resolved, spec, resolved.backend, backendModel, state, data.normalization, makeSoap(resolved, spec));
  if (resolved.metricsFile) await (opts.io ?? (await defaultIO())).writeText(resolved.metricsFile, "");
  return runLoop(model, memoryFeed(resolved, data), opts);
}

export interface ResumeOptions extends TrainOptions {
  /** Replace the total steps (changes a decaying schedule's shape). */
  steps?: number;
  /** Replace the total epochs. */
  epochs?: number;
  /** Backend to load a checkpoint path on (default: the recorded one). */
  backend?: string;
  /**
   * Where this continuation writes checkpoints (paths are never taken from
   * the checkpoint, so a moved or copied checkpoint writes where it is told).
   * Default: `resume(path)` writes its final checkpoint back to `path`
   * (the file it resumed from); `resume(model)` writes none.
   */
  checkpoint?: TrainConfig["checkpoint"];
  /**
   * Metrics file to continue. Lines after the checkpoint's step (written
   * after the checkpoint, before an interruption) are removed first, so the
   * file never holds a step twice.
   */
  metricsFile?: string;
  /** Metrics line interval for this continuation (default: the run's). */
  logEvery?: number;
}

/**
 * Continues a run from a checkpoint file or a {@link TrainedModel} on the same
 * data, up to the config's total steps (or `steps`/`epochs` given here). On
 * the same backend, N steps straight and N/2 + save + load + N/2 give
 * bit-identical weights.
 */
export async function resume(source: TrainedModel | string, data: TrainData | StreamSource, opts: ResumeOptions = {}): Promise<TrainResult> {
  if (isStreamSource(data)) return resumeStream(source, data, opts); // out-of-core: stream.ts
  validateData(data);
  let model =
    typeof source === "string" ? await load(source, { ...(opts.io ? { io: opts.io } : {}), ...(opts.backend ? { backend: opts.backend } : {}) }) : source;
  if (model.config.ensemble !== undefined) {
    throw new ConfigError("ensemble", `an ensemble (${model.config.ensemble} members) cannot be resumed: train a new ensemble with a longer run`);
  }
  const fp = dataFingerprint(data);
  if (fp !== model.state.dataFingerprint) {
    throw new DataMismatchError(
      `data: fingerprint ${fp} differs from the checkpoint's ${model.state.dataFingerprint}; resume needs the data the run was trained on`,
    );
  }
  if (opts.checkpoint === undefined && typeof source === "string") opts = { ...opts, checkpoint: { path: source } };
  model = withResumeOptions(model, opts, data);
  if (model.config.metricsFile) await trimMetrics(opts.io ?? (await defaultIO()), model.config.metricsFile, model.state.step);
  return runLoop(model, memoryFeed(model.config, data), opts);
}

/**
 * The model with a resume's options applied to its config: a new length
 * (`steps` / `epochs`) and the run-time locations (checkpoint, metrics file,
 * metrics interval), validated against `data`'s shape. @internal
 */
export function withResumeOptions(model: TrainedModel, opts: ResumeOptions, data: TrainData): TrainedModel {
  const runtime = opts.checkpoint !== undefined || opts.metricsFile !== undefined || opts.logEvery !== undefined;
  if (opts.steps === undefined && opts.epochs === undefined && !runtime) return model;
  const { steps: _s, epochs: _e, metricsFile: _m, checkpoint: _c, ...rest } = model.config;
  const length =
    opts.steps !== undefined
      ? { steps: opts.steps }
      : opts.epochs !== undefined
        ? { epochs: opts.epochs }
        : model.config.steps !== undefined
          ? { steps: model.config.steps }
          : { epochs: model.config.epochs };
  const cfg = validateConfig(
    {
      ...rest,
      ...length,
      ...(opts.metricsFile !== undefined ? { metricsFile: opts.metricsFile } : {}),
      ...(opts.checkpoint !== undefined ? { checkpoint: opts.checkpoint } : {}),
      ...(opts.logEvery !== undefined ? { logEvery: opts.logEvery } : {}),
    } as TrainConfig,
    data,
  );
  return new TrainedModel(cfg, model.spec, model.backend, model.backendModel, model.state, model.normalization, model.soap);
}

/**
 * Keeps the lines of a JSON-lines metrics file whose step is <= `step` (and
 * drops a torn last line), so a resumed run appends without duplicates.
 */
export async function trimMetrics(io: TrainerIO, file: string, step: number): Promise<void> {
  const text = io.readText ? await io.readText(file) : undefined;
  if (text === undefined) {
    await io.writeText(file, "");
    return;
  }
  const kept: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const rec = JSON.parse(line) as { step?: unknown };
      if (typeof rec.step === "number" && rec.step <= step) kept.push(`${line}\n`);
    } catch {
      // a line torn by a kill mid-append
    }
  }
  const out = kept.join("");
  if (out !== text) await io.writeText(file, out);
}

/** The in-memory feed: the seeded split, and each epoch a Fisher-Yates permutation of the training rows. */
function memoryFeed(cfg: ResolvedConfig, data: TrainData): LoopFeed {
  const { train: trainData, val } = splitData(cfg, data);
  const nTrain = trainData.n;
  return {
    nTrain,
    xDim: trainData.xDim,
    yDim: trainData.yDim,
    hasVal: val !== undefined,
    split: val ? { train: trainData, val } : { train: trainData },
    nextBatch(st, rng, B) {
      if (st.batchInEpoch === 0 || !st.perm) {
        const p = Uint32Array.from({ length: nTrain }, (_, i) => i);
        st.perm = cfg.shuffle ? rng.shuffle(p) : p;
        st.batchInEpoch = 0;
      }
      const from = st.batchInEpoch * B;
      return gatherBatch(trainData, st.perm, from, Math.min(nTrain, from + B));
    },
    valNll: (model) => datasetNll(model, val as TrainData),
    trainNll: (model) => datasetNll(model, trainData),
  };
}
