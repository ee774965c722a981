/** `ngem train <data>` and `ngem train --resume <dir>`. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BackendUnavailableError } from "@ngem/core";
import type { Dataset } from "@ngem/datasets";
import { ConfigError, resume, save, totalSteps, train, validateConfig, type StepRecord, type TrainConfig, type TrainedModel, type TrainResult } from "@ngem/trainer";
import { readConfigFile, type ConfigFile } from "../config-file.js";
import { loadData, type DataArgs } from "../data-source.js";
import { UsageError } from "../errors.js";
import { KNOWN_BACKENDS, loadBackend } from "../load-backends.js";
import { makeProgress } from "../progress.js";
import { writeRunReport } from "../report.js";
import { CHECKPOINT_FILE, ensureDir, METRICS_FILE, readRun, RUN_FILE, writeJson, type RunRecord } from "../run-dir.js";

export interface TrainFlags extends DataArgs {
  config?: string;
  backend?: string;
  objective?: string;
  fisherCoords?: string;
  optimizer?: string;
  lr?: number;
  k?: number;
  hidden?: string;
  activation?: string;
  layerNorm?: boolean;
  model?: string;
  scale?: string;
  sigmaMin?: number;
  covariance?: string;
  noiseX?: number;
  noiseY?: number;
  noiseSchedule?: string;
  epochs?: number;
  steps?: number;
  batchSize?: number;
  seed?: number;
  valSplit?: number;
  checkpointEvery?: number;
  out?: string;
  resume?: string;
  force?: boolean;
  json?: boolean;
  png?: boolean;
  plots?: boolean;
}

const OBJECTIVES = ["ngem", "ngem-full", "em", "nll"];
const OPTIMIZERS = ["adam", "sgd", "rmsprop", "soap"];

function oneOf(flag: string, v: string | undefined, allowed: readonly string[]): string | undefined {
  if (v !== undefined && !allowed.includes(v)) throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got "${v}"`);
  return v;
}

/** Builds the trainer config from the config file and the flags (flags win). */
export function buildConfig(flags: TrainFlags, data: Dataset, file: ConfigFile | undefined): TrainConfig {
  oneOf("--backend", flags.backend, KNOWN_BACKENDS);
  oneOf("--objective", flags.objective, OBJECTIVES);
  oneOf("--optimizer", flags.optimizer, OPTIMIZERS);
  oneOf("--fisher-coords", flags.fisherCoords, ["log-sigma", "sigma"]);
  oneOf("--activation", flags.activation, ["gelu", "tanh", "relu"]);
  oneOf("--model", flags.model, ["mdn", "gmm"]);
  oneOf("--scale", flags.scale, ["exp", "softplus", "elu+1"]);
  oneOf("--covariance", flags.covariance, ["diag", "isotropic", "shared"]);
  oneOf("--noise-schedule", flags.noiseSchedule, ["constant", "rule-of-thumb"]);
  for (const [flag, v] of [["--sigma-min", flags.sigmaMin], ["--noise-x", flags.noiseX], ["--noise-y", flags.noiseY]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new UsageError(`${flag}: expected a finite number >= 0, got ${v}`);
  }
  if (flags.noiseX !== undefined && flags.noiseX > 0 && data.xDim === 0) {
    throw new UsageError(`--noise-x: "${data.name}" has no input columns to add noise to (use --noise-y)`);
  }
  if (flags.epochs !== undefined && flags.steps !== undefined) throw new UsageError("--epochs and --steps are exclusive; give one");
  let hidden: number[] | undefined;
  if (flags.hidden !== undefined) {
    hidden = flags.hidden === "" ? [] : flags.hidden.split(",").map((s) => Number(s.trim()));
    if (hidden.some((w) => !Number.isInteger(w) || w < 1)) throw new UsageError(`--hidden: expected comma-separated positive integers like 128,128, got "${flags.hidden}"`);
  }
  const kind = (flags.model ?? file?.model?.kind ?? (data.xDim === 0 ? "gmm" : "mdn")) as "mdn" | "gmm";
  if (kind === "mdn" && data.xDim === 0) throw new UsageError(`--model mdn needs input columns, but "${data.name}" has none (use --model gmm or --x-cols)`);
  const k = flags.k ?? file?.model?.k ?? (kind === "gmm" ? 2 : 5);
  const fileOpt = file?.optimizer;
  const optType = (flags.optimizer ?? fileOpt?.type ?? "adam") as "adam" | "sgd" | "rmsprop" | "soap";
  const lr = flags.lr ?? (fileOpt && fileOpt.type === optType ? fileOpt.lr : optType === "sgd" ? 1e-2 : 1e-3);
  const optimizer = { ...(fileOpt && fileOpt.type === optType ? fileOpt : {}), type: optType, lr };
  const fm = file?.model;
  const head = {
    ...((flags.scale ?? fm?.scale) !== undefined ? { scale: (flags.scale ?? fm?.scale) as "exp" | "softplus" | "elu+1" } : {}),
    ...((flags.sigmaMin ?? fm?.sigmaMin) !== undefined ? { sigmaMin: (flags.sigmaMin ?? fm?.sigmaMin) as number } : {}),
    ...((flags.covariance ?? fm?.covariance) !== undefined ? { covariance: (flags.covariance ?? fm?.covariance) as "diag" | "isotropic" | "shared" } : {}),
  };
  const noiseX = flags.noiseX ?? file?.noise?.x;
  const noiseY = flags.noiseY ?? file?.noise?.y;
  const noiseSchedule = (flags.noiseSchedule ?? file?.noise?.schedule) as "constant" | "rule-of-thumb" | undefined;
  const noise =
    noiseX !== undefined || noiseY !== undefined || noiseSchedule !== undefined
      ? { ...(noiseX !== undefined ? { x: noiseX } : {}), ...(noiseY !== undefined ? { y: noiseY } : {}), ...(noiseSchedule !== undefined ? { schedule: noiseSchedule } : {}) }
      : undefined;
  const model =
    kind === "gmm"
      ? { kind, k, ...head }
      : {
          kind,
          k,
          ...head,
          hidden: hidden ?? file?.model?.hidden ?? [128, 128],
          activation: (flags.activation ?? file?.model?.activation ?? "gelu") as "gelu" | "tanh" | "relu",
          layerNorm: flags.layerNorm ?? file?.model?.layerNorm ?? true,
        };
  const steps = flags.steps ?? (flags.epochs === undefined ? file?.steps : undefined);
  const epochs = flags.epochs ?? (steps === undefined ? (file?.epochs ?? 20) : undefined);
  const valSplit = flags.valSplit ?? file?.validationSplit ?? (data.n >= 20 ? 0.1 : 0);
  const config: TrainConfig = {
    model,
    objective: (flags.objective ?? file?.objective ?? "ngem") as TrainConfig["objective"] & string,
    fisherCoords: (flags.fisherCoords ?? file?.fisherCoords ?? "log-sigma") as "log-sigma" | "sigma",
    ...(file?.piFloor !== undefined ? { piFloor: file.piFloor } : {}),
    optimizer: optimizer as TrainConfig["optimizer"] & object,
    ...(file?.schedule ? { schedule: file.schedule } : {}),
    batchSize: flags.batchSize ?? file?.batchSize ?? (kind === "gmm" ? 1 : 32),
    ...(steps !== undefined ? { steps } : { epochs }),
    seed: flags.seed ?? file?.seed ?? 0,
    validationSplit: valSplit,
    ...(file?.evalEvery !== undefined ? { evalEvery: file.evalEvery } : {}),
    ...(file?.earlyStopping ? { earlyStopping: file.earlyStopping } : {}),
    nonFinite: file?.nonFinite ?? "stop",
    backend: flags.backend ?? file?.backend ?? "js",
    ...(noise ? { noise } : {}),
  };
  try {
    validateConfig(config, data);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  return config;
}

export async function trainCommand(source: string | undefined, flags: TrainFlags): Promise<void> {
  const json = flags.json === true;
  const log = (msg: string) => {
    if (!json) process.stderr.write(`${msg}\n`);
  };
  let data: Dataset;
  let config: TrainConfig;
  let runRecord: RunRecord;
  let outDir: string;
  let resumeFrom: string | undefined;

  if (flags.resume !== undefined) {
    if (source !== undefined) throw new UsageError("--resume <dir> continues a run on its own data; do not also give <data>");
    outDir = flags.resume;
    runRecord = readRun(outDir);
    resumeFrom = join(outDir, CHECKPOINT_FILE);
    if (!existsSync(resumeFrom)) throw new UsageError(`--resume ${outDir}: no ${CHECKPOINT_FILE} there`);
    const r = runRecord.data;
    ({ data } = await loadData(r.source, {
      standardize: r.standardize,
      ...(r.xCols !== undefined ? { xCols: r.xCols } : {}),
      ...(r.yCols !== undefined ? { yCols: r.yCols } : {}),
      ...(r.n !== undefined ? { n: r.n } : {}),
      ...(r.dataSeed !== undefined ? { dataSeed: r.dataSeed } : {}),
    }));
    config = runRecord.config as unknown as TrainConfig;
  } else {
    if (source === undefined) throw new UsageError("train: missing <data> (a CSV/NPY/JSONL file or a built-in task name)");
    const file = flags.config !== undefined ? readConfigFile(flags.config) : undefined;
    const loaded = await loadData(source, flags);
    data = loaded.data;
    config = buildConfig(flags, data, file);
    outDir = flags.out ?? join("runs", `${data.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${config.objective}`);
    if (existsSync(join(outDir, CHECKPOINT_FILE)) && !flags.force) {
      throw new UsageError(`--out ${outDir}: already holds a run (${CHECKPOINT_FILE}); use --resume ${outDir}, another --out, or --force to overwrite`);
    }
    runRecord = { version: 1, data: loaded.recipe, config: config as unknown as Record<string, unknown>, createdAt: new Date().toISOString() };
  }

  // Backend: unknown names are usage errors; known-but-unavailable ones are runtime failures with the reason.
  const backendName = config.backend ?? "js";
  try {
    await loadBackend(backendName);
  } catch (err) {
    if (err instanceof BackendUnavailableError) throw new Error(`${err.message}\n(run \`ngem backends\` to see what loads here)`);
    throw err;
  }

  // Everything validated: now, and only now, touch the run directory.
  ensureDir(outDir);
  if (!resumeFrom) writeJson(join(outDir, RUN_FILE), runRecord);
  const checkpointPath = join(outDir, CHECKPOINT_FILE);
  const fullConfig: TrainConfig = {
    ...config,
    metricsFile: join(outDir, METRICS_FILE),
    checkpoint: { path: checkpointPath, ...(flags.checkpointEvery ? { every: flags.checkpointEvery } : {}), atEnd: true },
  };

  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log("\ninterrupt: finishing the current step and saving a checkpoint (Ctrl-C again to quit without saving)");
    controller.abort();
  };
  process.on("SIGINT", onSigint);

  const tracker = new TrajectoryTracker(data);
  let progress: ReturnType<typeof makeProgress> | undefined;
  let floorWarned = false;
  const onStep = async (rec: StepRecord, model: TrainedModel) => {
    progress ??= makeProgress({ total: totalFor(model, data.n), json, label: `${data.name} ${model.config.objective} on ${model.backend}` });
    if (!floorWarned && rec.floorHits !== undefined && rec.floorHits > 0) {
      floorWarned = true;
      const sigmaMin = model.config.model.sigmaMin;
      const message = `sigma floor hit at step ${rec.step}: ${rec.floorHits} scale entries of the minibatch are held at sigmaMin = ${sigmaMin} (a component wants to be narrower than the floor, e.g. on repeated points); hits are counted, total at the end`;
      if (json) process.stdout.write(`${JSON.stringify({ event: "sigma-floor", step: rec.step, floorHits: rec.floorHits, sigmaMin, message })}\n`);
      else process.stderr.write(`warning: ${message}\n`);
    }
    progress.update(rec);
    await tracker.observe(rec.step, model, totalFor(model, data.n));
  };

  let result: TrainResult;
  const started = Date.now();
  try {
    log(`${resumeFrom ? "resuming" : "training"} ${data.name} (n=${data.n}, x ${data.xDim}-d, y ${data.yDim}-d) -> ${outDir}`);
    if (resumeFrom) {
      result = await resume(resumeFrom, data, { onStep, signal: controller.signal, recordSteps: true, backend: backendName });
    } else {
      result = await train(fullConfig, data, { onStep, signal: controller.signal, recordSteps: true });
    }
  } finally {
    process.off("SIGINT", onSigint);
    progress?.stop();
  }
  if (result.history.stopReason === "aborted") {
    await save(result.model, checkpointPath);
  }
  const summary = await writeRunReport(outDir, result, data, tracker, { png: flags.png !== false, plots: flags.plots !== false, seconds: (Date.now() - started) / 1000 });
  const floor = floorSummary(result);
  if (floor) {
    if (json) process.stdout.write(`${JSON.stringify({ event: "sigma-floor-summary", ...floor.stats, sigmaMin: floor.sigmaMin, message: floor.line })}\n`);
    else log(floor.line);
  }
  if (json) process.stdout.write(`${JSON.stringify({ event: "done", outDir, ...summary })}\n`);
  else {
    log(`done: ${result.history.stopReason}${result.history.stopDetail ? ` (${result.history.stopDetail})` : ""}, step ${result.model.state.step}`);
    log(`final NLL: train ${fmt(summary.trainNll)}${summary.valNll !== undefined ? `, validation ${fmt(summary.valNll)}` : ""}`);
    log(`wrote ${summary.files.map((f) => join(outDir, f)).join(", ")}`);
  }
  result.model.dispose();
  if (result.history.stopReason === "aborted") {
    log(`interrupted: checkpoint saved; continue with: ngem train --resume ${outDir}`);
    process.exitCode = 130;
  } else if (result.history.stopReason === "non-finite") {
    process.stderr.write(`ngem: training stopped: non-finite ${result.history.stopDetail ?? "value"}; the last good checkpoint is ${checkpointPath}\n`);
    process.exitCode = 1;
  }
}

const fmt = (v: number | undefined) => (v === undefined ? "n/a" : v.toFixed(4));

/** The end-of-run line about the sigma floor (only when the run has one). */
export function floorSummary(result: TrainResult): { line: string; sigmaMin: number; stats?: { total: number; steps: number; firstStep: number } } | undefined {
  const sigmaMin = result.model.config.model.sigmaMin;
  if (!(sigmaMin > 0)) return undefined;
  const f = result.history.floorHits;
  if (!f) return { line: `sigma floor (sigmaMin = ${sigmaMin}): hits not reported by backend ${result.model.backend}`, sigmaMin };
  const steps = result.model.state.step;
  const line =
    f.total > 0
      ? `sigma floor hit ${f.total} times (scale entries held at sigmaMin = ${sigmaMin}) in ${f.steps} of ${steps} steps, first at step ${f.firstStep}`
      : `sigma floor hit 0 times (sigmaMin = ${sigmaMin}, ${steps} steps)`;
  return { line, sigmaMin, stats: { ...f } };
}

function totalFor(model: TrainedModel, n: number): number {
  return totalSteps(model.config, n - Math.round(n * model.config.validationSplit));
}

/** Records the component means of a free 2-D GMM during training (paper fig. 5). */
export class TrajectoryTracker {
  readonly steps: number[] = [];
  readonly means: Float64Array[] = [];
  constructor(private readonly data: Dataset) {}
  get enabled(): boolean {
    return this.data.xDim === 0 && this.data.yDim === 2;
  }
  async observe(step: number, model: TrainedModel, total: number): Promise<void> {
    if (!this.enabled || model.spec.kind !== "gmm") return;
    const every = Math.max(1, Math.floor((total || 1000) / 200));
    if (step !== 1 && step % every !== 0) return;
    if (this.steps.length === 0 && step > 1) return; // resumed runs: trajectories start with this process
    const w = await model.backendModel.getWeights();
    const mu = w["gmm.mu"];
    if (!mu) return;
    this.steps.push(step);
    this.means.push(Float64Array.from(mu.data));
  }
}
