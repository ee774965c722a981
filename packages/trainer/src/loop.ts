/**
 * The training loop, written once for every backend and both data paths
 * (in memory and streamed), in four parts:
 * - {@link optimizerStep}: one step of the configured optimizer (in the
 *   backend, or SOAP through the model protocol's external-optimizer hook);
 * - {@link Evaluator}: evaluation, best-state tracking and early stopping;
 * - {@link MetricsSink}: the buffered JSON-lines metrics file;
 * - {@link Checkpointer}: atomic checkpoints, only of finite states;
 * and {@link runLoop}, which sequences them and decides when the run ends.
 */
import { type Batch, type ExternalOptimizer, type HeadOptions, NonFiniteError, type OptimizerSpec, Rng, type StepResult } from "@ngem/core";
import { encodeCheckpoint } from "./checkpoint.js";
import { ConfigError, frozenParams, type ResolvedConfig } from "./config.js";
import { defaultIO, type TrainerIO } from "./io.js";
import type { TrainedModel, TrainerState } from "./model-handle.js";
import { effectiveNoise, perturbBatch } from "./noise.js";
import { datasetNll } from "./predict.js";
import { scheduledLr } from "./schedule.js";
import type { EpochRecord, EvalRecord, History, StepRecord, TrainData } from "./types.js";

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
  /** Called once before the first step of this call with the run's plan (for progress bars). */
  onStart?: (plan: RunPlan, model: TrainedModel) => void | Promise<void>;
}

/** What a run will do: its total optimizer steps (of the whole run, including steps before a resume) and its training rows. */
export interface RunPlan {
  readonly totalSteps: number;
  readonly nTrain: number;
}

export interface TrainResult {
  model: TrainedModel;
  history: History;
  /** The run's total optimizer steps (the config's length on its training rows). */
  totalSteps: number;
  /** The training and validation rows the run used (in-memory data; absent for a stream). */
  split?: { readonly train: TrainData; readonly val?: TrainData };
}

/**
 * Where the loop's minibatches and evaluation rows come from: the in-memory
 * split (train.ts) or a stream (stream.ts). @internal
 */
export interface LoopFeed {
  readonly nTrain: number;
  readonly xDim: number;
  readonly yDim: number;
  readonly hasVal: boolean;
  /** The training and validation rows, when they are in memory. */
  readonly split?: { readonly train: TrainData; readonly val?: TrainData };
  /** The next minibatch of at most `B` rows (fresh arrays); `st.batchInEpoch === 0` starts an epoch. */
  nextBatch(st: TrainerState, rng: Rng, B: number): Batch | Promise<Batch>;
  valNll(model: TrainedModel): Promise<number>;
  trainNll(model: TrainedModel): Promise<number>;
}

/** Total optimizer steps of a config on `nTrain` training rows. */
export function totalSteps(config: ResolvedConfig, nTrain: number): number {
  if (config.steps !== undefined) return config.steps;
  return (config.epochs ?? 1) * Math.ceil(nTrain / Math.min(config.batchSize, nTrain));
}

/** The head options of a resolved config (what every step passes to the backend). */
export function headOptionsOf(cfg: ResolvedConfig): HeadOptions {
  return {
    variant: cfg.objective,
    fisherCoords: cfg.fisherCoords,
    piFloor: cfg.piFloor,
    ...(cfg.damping ? { damping: cfg.damping } : {}),
    ...(cfg.precondition ? { precondition: cfg.precondition } : {}),
  };
}

/** True when every weight is finite and the model's NLL on `batch` is finite. */
export async function stateIsFinite(model: TrainedModel, batch: TrainData | undefined): Promise<boolean> {
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

const frozenByConfig = new WeakMap<ResolvedConfig, readonly string[] | undefined>();
/** The frozen parameter names of a config (config.freeze resolved once per config object). */
function frozenOf(config: ResolvedConfig): readonly string[] | undefined {
  if (config.freeze === undefined) return undefined;
  if (!frozenByConfig.has(config)) frozenByConfig.set(config, frozenParams(config));
  return frozenByConfig.get(config);
}

/** One step of the configured optimizer at learning rate `lr` (with config.freeze's parameters frozen). */
export async function optimizerStep(model: TrainedModel, batch: Batch, head: HeadOptions, lr: number): Promise<StepResult> {
  const o = model.config.optimizer;
  if (o.type !== "soap") {
    const freeze = frozenOf(model.config);
    return model.backendModel.step(batch, head, (freeze ? { ...o, lr, freeze } : { ...o, lr }) as OptimizerSpec);
  }
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

function jsonNum(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** The JSON-lines metrics file: lines buffered and appended in blocks (nothing without a file). */
export class MetricsSink {
  private lines: string[] = [];
  constructor(
    private readonly io: TrainerIO | undefined,
    private readonly file: string | undefined,
  ) {}

  /** Buffers one step record (non-finite numbers are written as strings). */
  async add(rec: StepRecord): Promise<void> {
    if (!this.file) return;
    this.lines.push(`${JSON.stringify({ ...rec, loss: jsonNum(rec.loss), gradNorm: jsonNum(rec.gradNorm) })}\n`);
    if (this.lines.length >= 256) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.io && this.file && this.lines.length) {
      const text = this.lines.join("");
      this.lines = [];
      await this.io.appendText(this.file, text);
    }
  }
}

/** Atomic checkpoints of finite states (a diverged state never replaces the last finite checkpoint). */
export class Checkpointer {
  constructor(
    private readonly model: TrainedModel,
    private readonly io: TrainerIO | undefined,
    private readonly metrics: MetricsSink,
    private readonly history: History,
    private readonly opts: TrainOptions,
  ) {}

  /**
   * Writes the checkpoint (when one is configured) if the state is finite on
   * `probe` (the last minibatch); `saveRngs` stores the generators' state first.
   */
  async save(probe: TrainData | undefined, saveRngs: () => void): Promise<void> {
    const cfg = this.model.config;
    if (!this.io || !cfg.checkpoint) return;
    if (!(await stateIsFinite(this.model, probe))) {
      this.history.checkpointsSkipped = (this.history.checkpointsSkipped ?? 0) + 1;
      await this.metrics.flush();
      return;
    }
    saveRngs();
    await this.metrics.flush();
    await this.io.writeFileAtomic(cfg.checkpoint.path, await encodeCheckpoint(this.model));
    const st = this.model.state;
    this.history.checkpointStep = st.step;
    if (this.opts.onCheckpoint) await this.opts.onCheckpoint({ step: st.step, path: cfg.checkpoint.path }, this.model);
  }
}

/** Evaluation on the validation (and optionally training) rows, best-state tracking and early stopping. */
export class Evaluator {
  constructor(
    private readonly model: TrainedModel,
    private readonly feed: LoopFeed,
    private readonly total: number,
    private readonly history: History,
    private readonly t0: number,
  ) {}

  private due(step: number, epochEnd: boolean): boolean {
    const every = this.model.config.evalEvery;
    return every !== undefined ? step % every === 0 || step === this.total : epochEnd || step === this.total;
  }

  /** Evaluates when due (and the step was finite); updates the best state. */
  async afterStep(epochEnd: boolean, stepFinite: boolean): Promise<EvalRecord | undefined> {
    const { model, feed } = this;
    const cfg = model.config;
    const st = model.state;
    if (!stepFinite || !this.due(st.step, epochEnd) || !(feed.hasVal || cfg.evalTrain)) return undefined;
    const valNll = feed.hasVal ? await feed.valNll(model) : undefined;
    const trainNll = cfg.evalTrain ? await feed.trainNll(model) : undefined;
    const rec: EvalRecord = {
      step: st.step,
      epoch: st.epoch,
      ...(valNll === undefined ? {} : { valNll }),
      ...(trainNll === undefined ? {} : { trainNll }),
      time: (performance.now() - this.t0) / 1000,
    };
    this.history.evals.push(rec);
    if (valNll !== undefined) {
      if (valNll < st.bestValNll - (cfg.earlyStopping?.minDelta ?? 0)) {
        st.bestValNll = valNll;
        st.bestStep = st.step;
        st.badEvals = 0;
        if (cfg.keep === "best") st.bestWeights = await model.weights();
      } else {
        st.badEvals += 1;
      }
    }
    return rec;
  }

  /** The early-stopping verdict, or undefined to go on. */
  stopDetail(): string | undefined {
    const es = this.model.config.earlyStopping;
    const st = this.model.state;
    if (!es || st.badEvals < es.patience) return undefined;
    return `no val NLL improvement > ${es.minDelta} in ${st.badEvals} evaluations (best ${st.bestValNll} at step ${st.bestStep})`;
  }
}

/** Counts a step's loss, non-finite result and sigma-floor hits into the trainer state and history. */
function tally(st: TrainerState, history: History, r: StepResult): void {
  if (r.nonFinite === undefined) {
    st.epochLossSum += r.loss;
    st.epochLossCount += 1;
  } else {
    history.nonFinite.push({ step: st.step, tensor: r.nonFinite });
  }
  if (r.floorHits !== undefined && r.floorHits > 0) {
    st.floorHits.total += r.floorHits;
    st.floorHits.steps += 1;
    if (st.floorHits.firstStep < 0) st.floorHits.firstStep = st.step;
  }
}

/**
 * The end-of-run verdict: a run must not report success from a state that is
 * not finite, nor from one that skipped more than maxSkippedFraction of its steps.
 */
function finalVerdict(cfg: ResolvedConfig, history: History, st: TrainerState, finite: boolean, stepsThisCall: number): void {
  if (!finite && history.stopReason !== "non-finite") {
    history.stopReason = "non-finite";
    history.stopDetail = `step ${st.step}: the weights or their NLL on the last minibatch are not finite (training diverged)`;
    st.finished = true;
  }
  const skipped = history.nonFinite;
  const first = skipped[0];
  if (finite && first && cfg.nonFinite === "skip" && history.stopReason !== "aborted" && skipped.length > cfg.maxSkippedFraction * Math.max(1, stepsThisCall)) {
    history.stopReason = "non-finite";
    history.stopDetail = `${skipped.length} of the ${stepsThisCall} steps of this call were skipped as non-finite (more than maxSkippedFraction = ${cfg.maxSkippedFraction}); first at step ${first.step} (${first.tensor})`;
  }
}

/** The training loop over a {@link LoopFeed}. @internal */
export async function runLoop(model: TrainedModel, feed: LoopFeed, opts: TrainOptions): Promise<TrainResult> {
  const cfg = model.config;
  const st = model.state;
  const B = Math.min(cfg.batchSize, feed.nTrain);
  const perEpoch = Math.ceil(feed.nTrain / B);
  const total = totalSteps(cfg, feed.nTrain);
  const head = headOptionsOf(cfg);
  const io = cfg.metricsFile !== undefined || cfg.checkpoint !== undefined ? (opts.io ?? (await defaultIO())) : undefined;
  const recordSteps = opts.recordSteps ?? true;
  const rng = Rng.fromState(st.rng);
  const noiseRng = Rng.fromState(st.noiseRng);
  const noiseStd = effectiveNoise(cfg, feed.nTrain, feed.xDim, feed.yDim);
  const noisy = noiseStd.x > 0 || noiseStd.y > 0;
  const history: History = { steps: [], evals: [], epochs: [], nonFinite: [], stopReason: "completed" };
  const t0 = performance.now();
  const metrics = new MetricsSink(io, cfg.metricsFile);
  const checkpointer = new Checkpointer(model, io, metrics, history, opts);
  const evaluator = new Evaluator(model, feed, total, history, t0);
  const saveRngs = (): void => {
    st.rng = rng.getState();
    st.noiseRng = noiseRng.getState();
  };
  if (opts.onStart) await opts.onStart({ totalSteps: total, nTrain: feed.nTrain }, model);
  let stepsThisCall = 0;
  let floorReported = false;
  // The last minibatch (unperturbed rows), to check that a state is worth saving.
  let lastRows: TrainData | undefined;

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
    tally(st, history, r);
    if (r.floorHits !== undefined) floorReported = true;
    const epochEnd = st.batchInEpoch === perEpoch;
    if (epochEnd) {
      st.epoch += 1;
      st.batchInEpoch = 0;
    }
    const evalRec = await evaluator.afterStep(epochEnd, r.nonFinite === undefined);
    const rec: StepRecord = {
      step: st.step,
      epoch: st.epoch,
      loss: r.loss,
      gradNorm: r.gradNorm,
      lr,
      time: (performance.now() - t0) / 1000,
      ...(evalRec?.valNll === undefined ? {} : { valNll: evalRec.valNll }),
      ...(evalRec?.trainNll === undefined ? {} : { trainNll: evalRec.trainNll }),
      ...(r.nonFinite === undefined ? {} : { nonFinite: r.nonFinite }),
      ...(r.floorHits === undefined ? {} : { floorHits: r.floorHits }),
    };
    if (recordSteps || evalRec || r.nonFinite) history.steps.push(rec);
    if (st.step % cfg.logEvery === 0 || evalRec || r.nonFinite || st.step === total) await metrics.add(rec);
    if (opts.onStep) await opts.onStep(rec, model);
    if (evalRec && opts.onEval) await opts.onEval(evalRec, model);
    if (epochEnd) {
      const er: EpochRecord = {
        epoch: st.epoch,
        step: st.step,
        meanLoss: st.epochLossCount ? st.epochLossSum / st.epochLossCount : NaN,
        time: (performance.now() - t0) / 1000,
      };
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
    const early = evaluator.stopDetail();
    if (early) {
      history.stopReason = "early-stopping";
      history.stopDetail = early;
      st.finished = true;
      break;
    }
    if (cfg.checkpoint?.every !== undefined && st.step % cfg.checkpoint.every === 0 && st.step < total) await checkpointer.save(lastRows, saveRngs);
  }
  if (st.step >= total && history.stopReason === "completed") st.finished = true;
  if (st.finished && cfg.keep === "best" && st.bestWeights) await model.backendModel.setWeights(st.bestWeights);
  finalVerdict(cfg, history, st, await stateIsFinite(model, lastRows), stepsThisCall);
  saveRngs();
  // Only when the backend reports hits (a backend that does not would otherwise read as "never hit").
  if (cfg.model.sigmaMin > 0 && (floorReported || st.floorHits.steps > 0)) history.floorHits = { ...st.floorHits };
  if (Number.isFinite(st.bestValNll)) {
    history.bestValNll = st.bestValNll;
    history.bestStep = st.bestStep;
  }
  if (cfg.checkpoint?.atEnd) await checkpointer.save(lastRows, saveRngs);
  await metrics.flush();
  return { model, history, totalSteps: total, ...(feed.split ? { split: feed.split } : {}) };
}
