/**
 * The training loop, written once for every backend: seeded split and
 * shuffling, minibatches, schedules, the optimizer step (in the backend, or
 * SOAP in the trainer), NaN/Inf guard, evaluation, early stopping, events,
 * JSON-lines metrics and atomic checkpoints; `resume` continues exactly.
 */
import {
  getBackend,
  initWeights,
  NonFiniteError,
  Rng,
  type Batch,
  type ExternalOptimizer,
  type HeadOptions,
  type OptimizerSpec,
  type StepResult,
} from "@ngem/core";
import { encodeCheckpoint, load } from "./checkpoint.js";
import { ConfigError, specFor, splitSizes, validateConfig, type ResolvedConfig } from "./config.js";
import { DataMismatchError, dataFingerprint, deriveSeed, gatherBatch, subset, validateData } from "./data.js";
import { defaultIO, type TrainerIO } from "./io.js";
import { initialState, makeSoap, TrainedModel, type TrainerState } from "./model-handle.js";
import { effectiveNoise, perturbBatch } from "./noise.js";
import { datasetNll } from "./predict.js";
import { scheduledLr } from "./schedule.js";
import { isStreamSource, resumeStream, trainStream, type StreamSource } from "./stream.js";
import type { EpochRecord, EvalRecord, History, StepRecord, TrainConfig, TrainData } from "./types.js";

/** Callbacks and run controls (not part of the config, not stored in checkpoints). */
export interface TrainOptions {
  onStep?: (record: StepRecord, model: TrainedModel) => void | Promise<void>;
  onEpoch?: (record: EpochRecord, model: TrainedModel) => void | Promise<void>;
  onEval?: (record: EvalRecord, model: TrainedModel) => void | Promise<void>;
  /** Abort to stop after the current step (stopReason "aborted"). */
  signal?: AbortSignal;
  /** Stop (and checkpoint, when configured) once this many total steps are done, without changing the schedule. */
  stopAtStep?: number;
  /** File access for metrics and checkpoints (default: Node fs, loaded lazily). */
  io?: TrainerIO;
  /** Keep every step in `history.steps` (default true; eval steps are always kept). */
  recordSteps?: boolean;
  /** Called after each checkpoint file is written (the file is complete and durable). */
  onCheckpoint?: (info: { step: number; path: string }, model: TrainedModel) => void | Promise<void>;
}

export interface TrainResult {
  model: TrainedModel;
  history: History;
}

/** The split of a data set that a config implies (deterministic in config.seed). */
export function splitData(config: ResolvedConfig, data: TrainData): { train: TrainData; val?: TrainData } {
  if (config.validationSplit === 0) return { train: data };
  const { nVal } = splitSizes(config.validationSplit, data.n);
  const perm = new Rng(deriveSeed(config.splitSeed ?? config.seed, 1)).shuffle(Uint32Array.from({ length: data.n }, (_, i) => i));
  const val = perm.slice(0, nVal).sort();
  const train = perm.slice(nVal).sort();
  return { train: subset(data, train), val: subset(data, val) };
}

/** Total optimizer steps of a config on `nTrain` training rows. */
export function totalSteps(config: ResolvedConfig, nTrain: number): number {
  if (config.steps !== undefined) return config.steps;
  return (config.epochs ?? 1) * Math.ceil(nTrain / Math.min(config.batchSize, nTrain));
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

/** True when every weight is finite and the model's NLL on `batch` is finite. */
async function stateIsFinite(model: TrainedModel, batch: TrainData | undefined): Promise<boolean> {
  const w = await model.weights();
  for (const t of Object.values(w)) for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) return false;
  if (!batch) return true;
  try {
    return Number.isFinite(await datasetNll(model, batch));
  } catch (err) {
    if (err instanceof NonFiniteError) return false;
    throw err;
  }
}

async function optimizerStep(model: TrainedModel, batch: Batch, head: HeadOptions, lr: number): Promise<StepResult> {
  const o = model.config.optimizer;
  if (o.type !== "soap") return model.backendModel.step(batch, head, { ...o, lr } as OptimizerSpec);
  const soap = model.soap;
  if (!soap) throw new ConfigError("optimizer.type", "soap state missing from the model handle");
  // SOAP runs on float64 copies through the model protocol's external-optimizer hook (core's ModelFacade).
  const external: ExternalOptimizer = {
    type: "external",
    update: (w, g) => soap.update(w, g, lr),
    ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
  };
  return model.backendModel.step(batch, head, external);
}

/**
 * Where the loop's minibatches and evaluation rows come from: the in-memory
 * split ({@link memoryFeed}) or a stream (stream.ts). @internal
 */
export interface LoopFeed {
  readonly nTrain: number;
  readonly xDim: number;
  readonly yDim: number;
  readonly hasVal: boolean;
  /** The next minibatch of at most `B` rows (fresh arrays); `st.batchInEpoch === 0` starts an epoch. */
  nextBatch(st: TrainerState, rng: Rng, B: number): Batch | Promise<Batch>;
  valNll(model: TrainedModel): Promise<number>;
  trainNll(model: TrainedModel): Promise<number>;
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

/** The training loop over a {@link LoopFeed}. @internal */
export async function runLoop(model: TrainedModel, feed: LoopFeed, opts: TrainOptions): Promise<TrainResult> {
  const cfg = model.config;
  const st = model.state;
  const nTrain = feed.nTrain;
  const B = Math.min(cfg.batchSize, nTrain);
  const perEpoch = Math.ceil(nTrain / B);
  const total = totalSteps(cfg, nTrain);
  const head: HeadOptions = {
    variant: cfg.objective,
    fisherCoords: cfg.fisherCoords,
    piFloor: cfg.piFloor,
    ...(cfg.damping ? { damping: cfg.damping } : {}),
    ...(cfg.precondition ? { precondition: cfg.precondition } : {}),
  };
  const needIo = cfg.metricsFile !== undefined || cfg.checkpoint !== undefined;
  const io = needIo ? (opts.io ?? (await defaultIO())) : undefined;
  const recordSteps = opts.recordSteps ?? true;
  let stepsThisCall = 0;
  const rng = Rng.fromState(st.rng);
  const noiseRng = Rng.fromState(st.noiseRng);
  const noiseStd = effectiveNoise(cfg, nTrain, feed.xDim, feed.yDim);
  const noisy = noiseStd.x > 0 || noiseStd.y > 0;
  const floorOn = cfg.model.sigmaMin > 0;
  let floorReported = false;
  const history: History = { steps: [], evals: [], epochs: [], nonFinite: [], stopReason: "completed" };
  const t0 = performance.now();
  const now = (): number => (performance.now() - t0) / 1000;
  let lines: string[] = [];
  const flush = async (): Promise<void> => {
    if (io && cfg.metricsFile && lines.length) {
      const text = lines.join("");
      lines = [];
      await io.appendText(cfg.metricsFile, text);
    }
  };
  // The last minibatch (unperturbed rows), to check that a state is worth saving.
  let lastRows: TrainData | undefined;
  let finalFinite = true;
  const checkpoint = async (): Promise<void> => {
    if (!io || !cfg.checkpoint) return;
    if (!(await stateIsFinite(model, lastRows))) {
      // Never replace a good checkpoint with a diverged state: keep the last finite one.
      history.checkpointsSkipped = (history.checkpointsSkipped ?? 0) + 1;
      await flush();
      return;
    }
    st.rng = rng.getState();
    st.noiseRng = noiseRng.getState();
    await flush();
    await io.writeFileAtomic(cfg.checkpoint.path, await encodeCheckpoint(model));
    history.checkpointStep = st.step;
    if (opts.onCheckpoint) await opts.onCheckpoint({ step: st.step, path: cfg.checkpoint.path }, model);
  };

  while (st.step < total) {
    if (opts.signal?.aborted) {
      history.stopReason = "aborted";
      break;
    }
    if (opts.stopAtStep !== undefined && st.step >= opts.stopAtStep) {
      history.stopReason = "stop-at-step";
      break;
    }
    const batch = await feed.nextBatch(st, rng, B);
    lastRows = { n: batch.n, xDim: feed.xDim, yDim: feed.yDim, x: batch.x ? Float64Array.from(batch.x) : new Float64Array(0), y: Float64Array.from(batch.y) };
    if (noisy) perturbBatch(batch, noiseStd, noiseRng);
    const lr = scheduledLr(cfg.optimizer.lr, cfg.schedule, st.step, total);
    const r = await optimizerStep(model, batch, head, lr);
    st.step += 1;
    stepsThisCall += 1;
    st.batchInEpoch += 1;
    if (r.nonFinite === undefined) {
      st.epochLossSum += r.loss;
      st.epochLossCount += 1;
    } else {
      history.nonFinite.push({ step: st.step, tensor: r.nonFinite });
    }
    if (r.floorHits !== undefined) floorReported = true;
    if (r.floorHits !== undefined && r.floorHits > 0) {
      st.floorHits.total += r.floorHits;
      st.floorHits.steps += 1;
      if (st.floorHits.firstStep < 0) st.floorHits.firstStep = st.step;
    }
    const epochEnd = st.batchInEpoch === perEpoch;
    if (epochEnd) {
      st.epoch += 1;
      st.batchInEpoch = 0;
    }
    // Evaluation
    let evalRec: EvalRecord | undefined;
    const evalDue = cfg.evalEvery !== undefined ? st.step % cfg.evalEvery === 0 || st.step === total : epochEnd || st.step === total;
    if (evalDue && r.nonFinite === undefined && (feed.hasVal || cfg.evalTrain)) {
      const valNll = feed.hasVal ? await feed.valNll(model) : undefined;
      const trainNll = cfg.evalTrain ? await feed.trainNll(model) : undefined;
      evalRec = {
        step: st.step,
        epoch: st.epoch,
        ...(valNll === undefined ? {} : { valNll }),
        ...(trainNll === undefined ? {} : { trainNll }),
        time: now(),
      };
      history.evals.push(evalRec);
      if (valNll !== undefined) {
        const es = cfg.earlyStopping;
        if (valNll < st.bestValNll - (es?.minDelta ?? 0)) {
          st.bestValNll = valNll;
          st.bestStep = st.step;
          st.badEvals = 0;
          if (cfg.keep === "best") st.bestWeights = await model.weights();
        } else {
          st.badEvals += 1;
        }
      }
    }
    const rec: StepRecord = {
      step: st.step,
      epoch: st.epoch,
      loss: r.loss,
      gradNorm: r.gradNorm,
      lr,
      time: now(),
      ...(evalRec?.valNll === undefined ? {} : { valNll: evalRec.valNll }),
      ...(evalRec?.trainNll === undefined ? {} : { trainNll: evalRec.trainNll }),
      ...(r.nonFinite === undefined ? {} : { nonFinite: r.nonFinite }),
      ...(r.floorHits === undefined ? {} : { floorHits: r.floorHits }),
    };
    if (recordSteps || evalRec || r.nonFinite) history.steps.push(rec);
    if (cfg.metricsFile && (st.step % cfg.logEvery === 0 || evalRec || r.nonFinite || st.step === total)) {
      lines.push(`${JSON.stringify({ ...rec, loss: jsonNum(rec.loss), gradNorm: jsonNum(rec.gradNorm) })}\n`);
      if (lines.length >= 256) await flush();
    }
    if (opts.onStep) await opts.onStep(rec, model);
    if (evalRec && opts.onEval) await opts.onEval(evalRec, model);
    if (epochEnd) {
      const er: EpochRecord = { epoch: st.epoch, step: st.step, meanLoss: st.epochLossCount ? st.epochLossSum / st.epochLossCount : NaN, time: now() };
      history.epochs.push(er);
      st.epochLossSum = 0;
      st.epochLossCount = 0;
      if (opts.onEpoch) await opts.onEpoch(er, model);
    }
    if (r.nonFinite !== undefined && cfg.nonFinite === "stop") {
      history.stopReason = "non-finite";
      history.stopDetail = `step ${st.step}: ${r.nonFinite} went non-finite; the update was not applied`;
      st.finished = true;
      break;
    }
    if (cfg.earlyStopping && st.badEvals >= cfg.earlyStopping.patience) {
      history.stopReason = "early-stopping";
      history.stopDetail = `no val NLL improvement > ${cfg.earlyStopping.minDelta} in ${st.badEvals} evaluations (best ${st.bestValNll} at step ${st.bestStep})`;
      st.finished = true;
      break;
    }
    if (cfg.checkpoint?.every !== undefined && st.step % cfg.checkpoint.every === 0 && st.step < total) await checkpoint();
  }
  if (st.step >= total && history.stopReason === "completed") st.finished = true;
  if (st.finished && cfg.keep === "best" && st.bestWeights) await model.backendModel.setWeights(st.bestWeights);
  // A run must not report success from a state that is not finite, nor from one that skipped most of its updates.
  finalFinite = await stateIsFinite(model, lastRows);
  if (!finalFinite && history.stopReason !== "non-finite") {
    history.stopReason = "non-finite";
    history.stopDetail = `step ${st.step}: the weights or their NLL on the last minibatch are not finite (training diverged)`;
    st.finished = true;
  }
  const skipped = history.nonFinite.length;
  if (
    finalFinite &&
    cfg.nonFinite === "skip" &&
    skipped > 0 &&
    history.stopReason !== "aborted" &&
    skipped > cfg.maxSkippedFraction * Math.max(1, stepsThisCall)
  ) {
    history.stopReason = "non-finite";
    history.stopDetail = `${skipped} of the ${stepsThisCall} steps of this call were skipped as non-finite (more than maxSkippedFraction = ${cfg.maxSkippedFraction}); first at step ${history.nonFinite[0]!.step} (${history.nonFinite[0]!.tensor})`;
  }
  st.rng = rng.getState();
  st.noiseRng = noiseRng.getState();
  // Only when the backend reports hits (a backend that does not would otherwise read as "never hit").
  if (floorOn && (floorReported || st.floorHits.steps > 0)) history.floorHits = { ...st.floorHits };
  if (Number.isFinite(st.bestValNll)) {
    history.bestValNll = st.bestValNll;
    history.bestStep = st.bestStep;
  }
  if (cfg.checkpoint?.atEnd) await checkpoint();
  await flush();
  return { model, history };
}

function jsonNum(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}
