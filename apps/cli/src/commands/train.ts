/**
 * `ngem train <data>` and `ngem train --resume <dir>`.
 *
 * Order of work: validate everything (data, columns, config, model size,
 * backend, target directory), then build a new run in a staging directory
 * that is swapped in at its first checkpoint (see run-dir.ts), or lock and
 * continue an existing run writing only inside it.
 */
import { existsSync, statSync } from "node:fs";
import { totalmem } from "node:os";
import { isAbsolute, join } from "node:path";
import { ACTIVATIONS, BackendUnavailableError, COVARIANCES, paramCount, PRECONDITION_BLOCKS, SCALE_PARAMS, TRUNKS, VARIANTS } from "@ngem/core";
import type { Dataset } from "@ngem/datasets";
import {
  CheckpointFormatError,
  componentMeans,
  ConfigError,
  DataMismatchError,
  DEFAULT_EPOCHS,
  encodeCheckpoint,
  FISHER_COORDS,
  LR_SCHEDULES,
  NOISE_SCHEDULES,
  OPTIMIZERS,
  trainEnsemble,
  load,
  resume,
  specFor,
  splitSizes,
  totalSteps,
  train,
  validateConfig,
  type ResolvedConfig,
  type RunPlan,
  type StepRecord,
  type TrainConfig,
  type TrainedModel,
  type TrainerIO,
  type TrainOptions,
  type TrainResult,
} from "@ngem/trainer";
import { FileWriteError, nodeIO } from "@ngem/trainer/node";
import { readConfigFile, type ConfigFile } from "../config-file.js";
import { loadData, loadRecipe, type DataArgs } from "../data-source.js";
import { writeTrainingRows } from "../test-split.js";
import { isStreamedRun, resumeStreamCommand, trainStreamCommand } from "./train-stream.js";
import { EXIT_FAILURE, UsageError } from "../errors.js";
import { KNOWN_BACKENDS, loadBackend } from "../load-backends.js";
import { makeProgress } from "../progress.js";
import { writeRunReport } from "../report.js";
import {
  acquireLock,
  checkNewRunTarget,
  CHECKPOINT_FILE,
  cleanTemps,
  LOCK_FILE,
  METRICS_FILE,
  NewRun,
  newRunRecord,
  readRun,
  RUN_FILE,
  writeJson,
  type Lock,
} from "../run-dir.js";

export interface TrainFlags extends DataArgs {
  config?: string;
  backend?: string;
  objective?: string;
  fisherCoords?: string;
  damping?: number;
  precondition?: string;
  /** "trunk" or comma-separated parameter names / prefixes (TrainConfig.freeze). */
  freeze?: string;
  optimizer?: string;
  lr?: number;
  k?: number;
  hidden?: string;
  activation?: string;
  layerNorm?: boolean;
  trunk?: string;
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
  logEvery?: number;
  testSplit?: number;
  test?: string;
  earlyStopping?: number;
  minDelta?: number;
  keep?: string;
  lrSchedule?: string;
  warmup?: number;
  minLrFactor?: number;
  weightDecay?: number;
  clipNorm?: number;
  printConfig?: boolean;
  ensemble?: number;
  out?: string;
  resume?: string;
  force?: boolean;
  json?: boolean;
  png?: boolean;
  plots?: boolean;
}

function oneOf(flag: string, v: string | undefined, allowed: readonly string[]): string | undefined {
  if (v !== undefined && !allowed.includes(v)) throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got "${v}"`);
  return v;
}

/** Builds the trainer config from the config file and the flags (flags win). */
export function buildConfig(flags: TrainFlags, data: Dataset, file: ConfigFile | undefined): TrainConfig {
  oneOf("--backend", flags.backend, KNOWN_BACKENDS);
  if (flags.backend === undefined && file?.backend !== undefined) oneOf(`--config ${flags.config}: backend`, file.backend, KNOWN_BACKENDS);
  if (file?.epochs !== undefined && file?.steps !== undefined) throw new UsageError(`--config ${flags.config}: epochs and steps are exclusive; give one`);
  oneOf("--objective", flags.objective, VARIANTS);
  oneOf("--optimizer", flags.optimizer, OPTIMIZERS);
  oneOf("--fisher-coords", flags.fisherCoords, FISHER_COORDS);
  oneOf("--activation", flags.activation, ACTIVATIONS);
  oneOf("--model", flags.model, ["mdn", "gmm"]);
  oneOf("--scale", flags.scale, SCALE_PARAMS);
  oneOf("--covariance", flags.covariance, COVARIANCES);
  oneOf("--trunk", flags.trunk, TRUNKS);
  oneOf("--noise-schedule", flags.noiseSchedule, NOISE_SCHEDULES);
  for (const [flag, v] of [
    ["--sigma-min", flags.sigmaMin],
    ["--damping", flags.damping],
    ["--noise-x", flags.noiseX],
    ["--noise-y", flags.noiseY],
  ] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new UsageError(`${flag}: expected a finite number >= 0, got ${v}`);
  }
  if (flags.noiseX !== undefined && flags.noiseX > 0 && data.xDim === 0) {
    throw new UsageError(`--noise-x: "${data.name}" has no input columns to add noise to (use --noise-y)`);
  }
  if (flags.epochs !== undefined && flags.steps !== undefined) throw new UsageError("--epochs and --steps are exclusive; give one");
  let precondition: ("logits" | "mu" | "scale")[] | undefined;
  if (flags.precondition !== undefined) {
    const parts = flags.precondition === "none" ? [] : flags.precondition.split(",").map((p) => p.trim());
    for (const p of parts) oneOf("--precondition", p, PRECONDITION_BLOCKS);
    if (new Set(parts).size !== parts.length) throw new UsageError(`--precondition: a block is listed twice in "${flags.precondition}"`);
    precondition = parts as ("logits" | "mu" | "scale")[];
  }
  let freeze: "trunk" | string[] | undefined;
  if (flags.freeze !== undefined) {
    const parts = flags.freeze.split(",").map((p) => p.trim());
    if (parts.some((p) => p === "")) throw new UsageError(`--freeze: expected 'trunk' or comma-separated parameter names, got "${flags.freeze}"`);
    freeze = parts.length === 1 && parts[0] === "trunk" ? "trunk" : parts;
  }
  let hidden: number[] | undefined;
  if (flags.hidden !== undefined) {
    hidden = flags.hidden === "" ? [] : flags.hidden.split(",").map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN));
    if (hidden.some((w) => !Number.isSafeInteger(w) || w < 1))
      throw new UsageError(`--hidden: expected comma-separated positive integers like 128,128, got "${flags.hidden}"`);
  }
  const kind = (flags.model ?? file?.model?.kind ?? (data.xDim === 0 ? "gmm" : "mdn")) as "mdn" | "gmm";
  if (kind === "mdn" && data.xDim === 0) throw new UsageError(`--model mdn needs input columns, but "${data.name}" has none (use --model gmm or --x-cols)`);
  const k = flags.k ?? file?.model?.k ?? (kind === "gmm" ? 2 : 5);
  const fileOpt = file?.optimizer;
  const optType = (flags.optimizer ?? fileOpt?.type ?? "adam") as "adam" | "sgd" | "rmsprop" | "soap";
  const lr = flags.lr ?? (fileOpt && fileOpt.type === optType ? fileOpt.lr : optType === "sgd" ? 1e-2 : 1e-3);
  const optimizer = {
    ...(fileOpt && fileOpt.type === optType ? fileOpt : {}),
    type: optType,
    lr,
    ...(flags.weightDecay !== undefined ? { weightDecay: flags.weightDecay } : {}),
    ...(flags.clipNorm !== undefined ? { clipNorm: flags.clipNorm } : {}),
  };
  oneOf("--lr-schedule", flags.lrSchedule, LR_SCHEDULES);
  oneOf("--keep", flags.keep, ["best", "last"]);
  const schedule =
    flags.lrSchedule !== undefined || flags.warmup !== undefined || flags.minLrFactor !== undefined || file?.schedule
      ? {
          ...file?.schedule,
          type: (flags.lrSchedule ?? file?.schedule?.type ?? "constant") as "constant" | "cosine" | "linear",
          ...(flags.warmup !== undefined ? { warmupSteps: flags.warmup } : {}),
          ...(flags.minLrFactor !== undefined ? { minLrFactor: flags.minLrFactor } : {}),
        }
      : undefined;
  if (flags.minDelta !== undefined && flags.earlyStopping === undefined && !file?.earlyStopping)
    throw new UsageError("--min-delta applies to --early-stopping <patience>; give that too");
  const earlyStopping =
    flags.earlyStopping !== undefined
      ? { ...file?.earlyStopping, patience: flags.earlyStopping, ...(flags.minDelta !== undefined ? { minDelta: flags.minDelta } : {}) }
      : file?.earlyStopping
        ? { ...file.earlyStopping, ...(flags.minDelta !== undefined ? { minDelta: flags.minDelta } : {}) }
        : undefined;
  const keep = (flags.keep ?? file?.keep) as "best" | "last" | undefined;
  const fm = file?.model;
  const head = {
    ...((flags.scale ?? fm?.scale) !== undefined ? { scale: (flags.scale ?? fm?.scale) as "exp" | "softplus" | "elu+1" } : {}),
    ...((flags.sigmaMin ?? fm?.sigmaMin) !== undefined ? { sigmaMin: (flags.sigmaMin ?? fm?.sigmaMin) as number } : {}),
    ...((flags.covariance ?? fm?.covariance) !== undefined ? { covariance: (flags.covariance ?? fm?.covariance) as "diag" | "isotropic" | "shared" } : {}),
    // only when separate (absent = shared); on a GMM, validateConfig names model.trunk
    ...((flags.trunk ?? fm?.trunk) === "separate" ? { trunk: "separate" as const } : {}),
  };
  const noiseX = flags.noiseX ?? file?.noise?.x;
  const noiseY = flags.noiseY ?? file?.noise?.y;
  const noiseSchedule = (flags.noiseSchedule ?? file?.noise?.schedule) as "constant" | "rule-of-thumb" | undefined;
  const noise =
    noiseX !== undefined || noiseY !== undefined || noiseSchedule !== undefined
      ? {
          ...(noiseX !== undefined ? { x: noiseX } : {}),
          ...(noiseY !== undefined ? { y: noiseY } : {}),
          ...(noiseSchedule !== undefined ? { schedule: noiseSchedule } : {}),
        }
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
  const epochs = flags.epochs ?? (steps === undefined ? (file?.epochs ?? DEFAULT_EPOCHS) : undefined);
  const valSplit = flags.valSplit ?? file?.validationSplit ?? (data.n >= 20 ? 0.1 : 0);
  const config: TrainConfig = {
    model,
    objective: (flags.objective ?? file?.objective ?? "ngem") as TrainConfig["objective"] & string,
    fisherCoords: (flags.fisherCoords ?? file?.fisherCoords ?? "log-sigma") as "log-sigma" | "sigma",
    ...(file?.piFloor !== undefined ? { piFloor: file.piFloor } : {}),
    ...((flags.damping ?? file?.damping) !== undefined ? { damping: (flags.damping ?? file?.damping) as number } : {}),
    ...(precondition ? { precondition } : file?.precondition ? { precondition: file.precondition } : {}),
    optimizer: optimizer as TrainConfig["optimizer"] & object,
    ...(freeze ? { freeze } : file?.freeze ? { freeze: file.freeze } : {}),
    ...(schedule ? { schedule } : {}),
    batchSize: flags.batchSize ?? file?.batchSize ?? (kind === "gmm" ? 1 : 32),
    ...(steps !== undefined ? { steps } : { epochs }),
    seed: flags.seed ?? file?.seed ?? 0,
    validationSplit: valSplit,
    ...(file?.evalEvery !== undefined ? { evalEvery: file.evalEvery } : {}),
    ...(earlyStopping ? { earlyStopping } : {}),
    ...(keep !== undefined ? { keep } : {}),
    nonFinite: file?.nonFinite ?? "stop",
    ...(file?.maxSkippedFraction !== undefined ? { maxSkippedFraction: file.maxSkippedFraction } : {}),
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

/** Flags that may be given with --resume (everything else is fixed by the run). */
const RESUME_FLAGS = new Set(["resume", "epochs", "steps", "backend", "checkpointEvery", "logEvery", "json", "png", "plots", "threads"]);
/** Flag names as typed, for messages. */
const NEGATED = new Set(["png", "plots", "layerNorm"]);
const flagName = (key: string) => `--${NEGATED.has(key) ? "no-" : ""}${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Default metrics interval: about 1000 lines per run (eval, non-finite and last steps are always written). */
export function defaultLogEvery(totalSteps: number): number {
  return Math.max(1, Math.floor(totalSteps / 1000));
}

/** A model that would not fit in memory is a usage error, found before anything is written. */
function checkMemory(config: TrainConfig, data: Dataset): void {
  const spec = specFor(validateConfig(config, data), data);
  // float64 weights + gradient + two optimizer moments + a float32 copy, and the batch's activations.
  const params = paramCount(spec);
  const widest = Math.max(data.xDim, data.yDim, ...(spec.kind === "mdn" ? spec.hidden : []), spec.k * (2 * data.yDim + 1));
  const bytes = params * 8 * 5 + (config.batchSize ?? 32) * widest * 8 * 8;
  const limit = totalmem() * 0.8;
  if (bytes > limit) {
    throw new UsageError(
      `the model needs about ${(bytes / 2 ** 30).toFixed(1)} GiB (${params.toExponential(2)} parameters) but this machine has ${(totalmem() / 2 ** 30).toFixed(1)} GiB; use a smaller --k or --hidden`,
    );
  }
}

/** Maps trainer errors found before training to usage errors (exit 2). */
function asUsage(err: unknown): never {
  if (err instanceof ConfigError || err instanceof DataMismatchError || err instanceof CheckpointFormatError) throw new UsageError(err.message);
  if (err instanceof RangeError && /array length|allocation/i.test(err.message))
    throw new UsageError(`the model is too large to allocate (${err.message}); use a smaller --k or --hidden`);
  throw err;
}

export async function trainCommand(source: string | undefined, flags: TrainFlags, explicit: ReadonlySet<string> = new Set()): Promise<void> {
  const json = flags.json === true;
  const log = (msg: string) => {
    if (!json) process.stderr.write(`${msg}\n`);
  };
  if (flags.resume !== undefined) return resumeCommand(source, flags, explicit, log);
  if (source === undefined) throw new UsageError("train: missing <data> (a CSV/NPY/JSONL file or a built-in task name)");
  if ((flags as { stream?: boolean }).stream) return trainStreamCommand(source, flags, explicit, log); // out-of-core: train-stream.ts

  // 1. Validate everything before touching the file system.
  const file = flags.config !== undefined ? readConfigFile(flags.config) : undefined;
  if (flags.testSplit !== undefined && flags.test !== undefined) throw new UsageError("--test-split and --test are exclusive; give one");
  oneOf("--missing", flags.missing, ["error", "skip-row"]);
  const loaded = await loadData(source, flags, {
    ...(flags.testSplit !== undefined ? { split: flags.testSplit, seed: flags.seed ?? file?.seed ?? 0 } : {}),
    ...(flags.test !== undefined ? { file: flags.test } : {}),
  });
  const config = buildConfig(flags, loaded.data, file);
  const data = config.model.kind === "gmm" ? withoutInputs(loaded.data, explicit.has("xCols"), log) : loaded.data;
  try {
    checkMemory(config, data);
  } catch (err) {
    asUsage(err);
  }
  const outDir = flags.out ?? join("runs", `${data.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${config.objective}`);
  if (!flags.printConfig) checkNewRunTarget(outDir, flags.force === true);
  await ensureBackend(config.backend ?? "js");
  const checkpointEvery = flags.checkpointEvery ?? file?.checkpointEvery;
  const nTrain = data.n - splitSizes(config.validationSplit ?? 0, data.n).nVal;
  const logEvery = flags.logEvery ?? file?.logEvery ?? defaultLogEvery(totalSteps(validateConfig(config, data), nTrain));
  const recipe = loaded.recipe;
  if (loaded.test)
    log(
      `holding out ${loaded.test.n} test rows (${flags.test !== undefined ? `--test ${flags.test}` : `--test-split ${flags.testSplit}`}); training on ${data.n} rows`,
    );
  if (data.skippedRows) log(`--missing skip-row: skipped ${data.skippedRows} row(s) with missing values`);
  const runRecord = newRunRecord(recipe, config, { checkpointEvery, logEvery });

  if (flags.printConfig) {
    // `ngem config --print` / `train --print-config`: what would run, nothing written.
    const resolvedConfig = validateConfig(config, data);
    process.stdout.write(
      `${JSON.stringify({ out: outDir, data: recipe, rows: { train: data.n, test: loaded.test?.n ?? 0 }, config: resolvedConfig, run: runRecord.run }, null, 2)}\n`,
    );
    return;
  }

  // 2. Build the run in a staging directory; swap it in at its first checkpoint.
  const run = new NewRun(outDir);
  const session = new Session(run, log, json);
  try {
    await writeJson(join(run.dir, RUN_FILE), runRecord);
    await writeTrainingRows(run.dir, data);
    const fullConfig: TrainConfig = {
      ...config,
      metricsFile: METRICS_FILE,
      logEvery,
      checkpoint: { path: CHECKPOINT_FILE, ...(checkpointEvery ? { every: checkpointEvery } : {}), atEnd: true },
    };
    const members = flags.ensemble;
    const result = await session.run(data, (opts) =>
      members === undefined ? train(fullConfig, data, opts) : trainEnsembleRun(fullConfig, data, members, opts, log),
    );
    await session.finish(result, data, flags);
  } finally {
    session.close();
  }
}

/** `train --resume DIR`: continues in DIR, writing only into DIR. */
async function resumeCommand(source: string | undefined, flags: TrainFlags, explicit: ReadonlySet<string>, log: (m: string) => void): Promise<void> {
  if (source !== undefined) throw new UsageError("--resume <dir> continues a run on its own data; do not also give <data>");
  const fixed = [...explicit].filter((k) => !RESUME_FLAGS.has(k));
  if (fixed.length) {
    throw new UsageError(
      `${fixed.map(flagName).join(", ")}: cannot change on --resume (the run keeps its data, model, optimizer and run directory); ` +
        `--resume takes only ${[...RESUME_FLAGS]
          .filter((f) => f !== "resume")
          .map(flagName)
          .join(", ")}. Start a new run with --out to change them`,
    );
  }
  const dir = flags.resume as string;
  if (!existsSync(dir)) throw new UsageError(`--resume ${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--resume ${dir}: not a directory (give the run directory, not a file in it)`);
  const runRecord = readRun(dir);
  const ckpt = join(dir, CHECKPOINT_FILE);
  if (!existsSync(ckpt)) throw new UsageError(`--resume ${dir}: no ${CHECKPOINT_FILE} there`);
  const lock = acquireLock(join(dir, LOCK_FILE), `--resume ${dir}`);
  if (isStreamedRun(runRecord)) return resumeStreamCommand(dir, runRecord, lock, flags, log); // out-of-core: train-stream.ts
  const session = new Session({ dir, lock }, log, flags.json === true);
  try {
    cleanTemps(dir);
    const src = runRecord.data;
    if (!src.builtin && !existsSync(src.source)) {
      throw new UsageError(
        `--resume ${dir}: the run's data file ${src.source} no longer exists (it is recorded in ${join(dir, RUN_FILE)}); put it back to continue the run`,
      );
    }
    const { data: loadedData } = await loadRecipe(src);
    let model: TrainedModel;
    const backend = flags.backend;
    if (backend !== undefined) oneOf("--backend", backend, KNOWN_BACKENDS);
    const stored = runRecord.config;
    await ensureBackend(backend ?? stored.backend ?? "js");
    try {
      model = await load(ckpt, backend !== undefined ? { backend } : {});
    } catch (err) {
      if (err instanceof CheckpointFormatError) throw new UsageError(`${ckpt}: ${err.message}`);
      throw err;
    }
    const data = model.config.model.kind === "gmm" ? withoutInputs(loadedData, false, () => undefined) : loadedData;
    const length = lengthOnResume(flags, model, data);
    const checkpointEvery = flags.checkpointEvery ?? runRecord.run?.checkpointEvery;
    const logEvery = flags.logEvery ?? runRecord.run?.logEvery ?? 1;
    let recordUpdated = false;
    const updateRecord = async () => {
      if (recordUpdated || (length.steps === undefined && length.epochs === undefined && flags.checkpointEvery === undefined && flags.logEvery === undefined))
        return;
      recordUpdated = true;
      const { steps: _s, epochs: _e, ...rest } = runRecord.config;
      await writeJson(join(dir, RUN_FILE), {
        ...runRecord,
        config: {
          ...rest,
          ...(length.steps !== undefined
            ? { steps: length.steps }
            : length.epochs !== undefined
              ? { epochs: length.epochs }
              : { steps: runRecord.config.steps, epochs: runRecord.config.epochs }),
        },
        run: { ...runRecord.run, ...(checkpointEvery !== undefined ? { checkpointEvery } : {}), logEvery },
      });
    };
    const result = await session.run(
      data,
      (opts) =>
        resume(model, data, {
          ...opts,
          ...length,
          metricsFile: METRICS_FILE,
          logEvery,
          checkpoint: { path: CHECKPOINT_FILE, ...(checkpointEvery ? { every: checkpointEvery } : {}), atEnd: true },
        }),
      updateRecord,
    );
    await session.finish(result, data, flags);
  } catch (err) {
    asUsageIfEarly(err);
  } finally {
    session.close();
  }
}

function asUsageIfEarly(err: unknown): never {
  if (err instanceof DataMismatchError) throw new UsageError(`${err.message} (the data file changed since the run started?)`);
  if (err instanceof ConfigError) throw new UsageError(err.message);
  throw err;
}

/**
 * `--ensemble M`: M members from seeds seed..seed+M-1 (same validation rows),
 * saved as one checkpoint whose prediction is the equal-weight mixture.
 * metrics.jsonl follows member 1; the checkpoint is written once, complete.
 */
async function trainEnsembleRun(config: TrainConfig, data: Dataset, members: number, opts: TrainOptions, log: (m: string) => void): Promise<TrainResult> {
  const { onCheckpoint, io, ...rest } = opts;
  const { checkpoint, metricsFile, ...memberBase } = config;
  const { model, members: results } = await trainEnsemble(memberBase, data, members, {
    ...rest,
    ...(io ? { io } : {}),
    memberConfig: (i, c) => (i === 0 && metricsFile !== undefined ? { ...c, metricsFile } : c),
    onMember: (i, r) => log(`ensemble member ${i + 1}/${members} (seed ${r.model.config.seed}): ${r.history.stopReason} at step ${r.model.state.step}`),
  });
  const bad = results.find((r) => r.history.stopReason === "aborted" || r.history.stopReason === "non-finite");
  if (bad || results.length < members) {
    model.dispose();
    throw new Error(
      `ensemble member ${results.length} of ${members} ${bad?.history.stopReason === "aborted" ? "was interrupted" : `failed: ${bad?.history.stopDetail ?? "non-finite"}`}; an ensemble is saved only complete, so nothing was written`,
    );
  }
  const first = results[0]!;
  const history = { ...first.history };
  const path = checkpoint?.path ?? CHECKPOINT_FILE;
  await (io ?? nodeIO).writeFileAtomic(path, await encodeCheckpoint(model));
  history.checkpointStep = model.state.step;
  if (onCheckpoint) await onCheckpoint({ step: model.state.step, path }, model);
  // every member trains on the same split for the same length
  return { model, history, totalSteps: first.totalSteps, ...(first.split ? { split: first.split } : {}) };
}

/** --epochs / --steps on resume: extend (or change) the run's length; never below the steps done. */
function lengthOnResume(flags: TrainFlags, model: TrainedModel, data: Dataset): { steps?: number; epochs?: number } {
  if (flags.epochs !== undefined && flags.steps !== undefined) throw new UsageError("--epochs and --steps are exclusive; give one");
  if (flags.epochs === undefined && flags.steps === undefined) return {};
  const length = flags.steps !== undefined ? { steps: flags.steps } : { epochs: flags.epochs as number };
  const { steps: _s, epochs: _e, ...rest } = model.config;
  const nTrain = data.n - splitSizes(model.config.validationSplit, data.n).nVal;
  const total = totalSteps({ ...rest, ...length } as ResolvedConfig, nTrain);
  if (total < model.state.step) {
    throw new UsageError(
      `${flags.steps !== undefined ? `--steps ${flags.steps}` : `--epochs ${flags.epochs} (${total} steps)`}: the run is already at step ${model.state.step}; give a larger value to train longer`,
    );
  }
  return length;
}

/** --model gmm on data with inputs: refuse named inputs; drop default ones with a warning. */
function withoutInputs(data: Dataset, xColsGiven: boolean, warn: (m: string) => void): Dataset {
  if (data.xDim === 0) return data;
  if (xColsGiven) throw new UsageError(`--model gmm models y alone, but --x-cols selects ${data.xDim} input column(s); drop --x-cols or use --model mdn`);
  warn(`warning: --model gmm: ignoring the ${data.xDim} input column(s) of ${data.name}; fitting the unconditional density of the target column(s)`);
  const { x: _x, ...normY } = data.normalization ?? {};
  return { ...data, xDim: 0, x: new Float64Array(0), ...(data.normalization ? { normalization: normY } : {}) };
}

export async function ensureBackend(name: string): Promise<void> {
  // Unknown names are usage errors; known-but-unavailable ones are runtime failures with the reason.
  oneOf("backend", name, KNOWN_BACKENDS);
  try {
    await loadBackend(name);
  } catch (err) {
    if (err instanceof BackendUnavailableError) throw new Error(`${err.message}\n(run \`ngem backends\` to see what loads here)`);
    throw err;
  }
}

interface ResumeTarget {
  readonly dir: string;
  readonly lock: Lock;
}

/**
 * One training process on a run directory: signals, progress, the trainer's
 * file access (relative names resolved against the run's current directory),
 * the swap of a new run at its first checkpoint, the report and exit codes.
 */
export class Session {
  private readonly controller = new AbortController();
  private signal: NodeJS.Signals | undefined;
  private progress: ReturnType<typeof makeProgress> | undefined;
  private readonly started = Date.now();
  private readonly handlers: [NodeJS.Signals, () => void][] = [];
  private steps: StepRecord[] = [];
  private tracker: TrajectoryTracker | undefined;

  constructor(
    private readonly target: NewRun | ResumeTarget,
    private readonly log: (m: string) => void,
    private readonly json: boolean,
  ) {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const h = () => this.onSignal(sig);
      this.handlers.push([sig, h]);
      process.on(sig, h);
    }
  }

  get dir(): string {
    return this.target.dir;
  }

  private onSignal(sig: NodeJS.Signals): void {
    if (this.signal === undefined) {
      this.signal = sig;
      this.log(
        `\n${sig === "SIGINT" ? "interrupt" : "SIGTERM"}: finishing the current step and saving a checkpoint (${sig === "SIGINT" ? "Ctrl-C" : "the signal"} again quits without saving)`,
      );
      this.controller.abort();
      return;
    }
    // Second signal: quit now. Atomic writes mean the files on disk are whole: the old checkpoint or the new one.
    const where =
      this.target instanceof NewRun && !this.target.isCommitted
        ? "nothing was saved and no run directory was created"
        : `${this.dir} keeps its last checkpoint (${CHECKPOINT_FILE})`;
    process.stderr.write(`ngem: quit without saving: ${where}\n`);
    cleanTemps(this.dir, true);
    this.close();
    process.exit(EXIT_FAILURE);
  }

  /**
   * Trainer file access: relative names live in the run's current directory.
   * Errors name the file where the user will look for it (`--out`, not the staging directory).
   */
  private io(): TrainerIO {
    const at = (p: string) => (isAbsolute(p) ? p : join(this.dir, p));
    const named = async <T>(p: string, f: (abs: string) => Promise<T>): Promise<T> => {
      const abs = at(p);
      try {
        return await f(abs);
      } catch (err) {
        if (!(err instanceof FileWriteError) || !(this.target instanceof NewRun) || this.target.isCommitted) throw err;
        const shown = join(this.target.out, p);
        throw new FileWriteError(shown, err.code, err.message.split(abs).join(shown));
      }
    };
    return {
      writeFileAtomic: (p, b) => named(p, (a) => nodeIO.writeFileAtomic(a, b)),
      readFile: (p) => nodeIO.readFile(at(p)),
      appendText: (p, t) => named(p, (a) => nodeIO.appendText(a, t)),
      writeText: (p, t) => named(p, (a) => nodeIO.writeText(a, t)),
      readText: (p) => nodeIO.readText!(at(p)),
    };
  }

  async run(data: Dataset, start: (opts: TrainOptions) => Promise<TrainResult>, onFirstCheckpoint?: () => Promise<void>): Promise<TrainResult> {
    const tracker = new TrajectoryTracker(data);
    this.tracker = tracker;
    let floorWarned = false;
    let first = true;
    let total = 0;
    const onStart = (plan: RunPlan, model: TrainedModel) => {
      total = plan.totalSteps;
      this.progress ??= makeProgress({ total, json: this.json, label: `${data.name} ${model.config.objective} on ${model.backend}` });
    };
    const onStep = async (rec: StepRecord, model: TrainedModel) => {
      if (!floorWarned && rec.floorHits !== undefined && rec.floorHits > 0) {
        floorWarned = true;
        const sigmaMin = model.config.model.sigmaMin;
        const message = `sigma floor hit at step ${rec.step}: ${rec.floorHits} scale entries of the minibatch are held at sigmaMin = ${sigmaMin} (a component wants to be narrower than the floor, e.g. on repeated points); hits are counted, total at the end`;
        if (this.json) process.stdout.write(`${JSON.stringify({ event: "sigma-floor", step: rec.step, floorHits: rec.floorHits, sigmaMin, message })}\n`);
        else process.stderr.write(`warning: ${message}\n`);
      }
      if (rec.step % model.config.logEvery === 0 || rec.valNll !== undefined || rec.nonFinite !== undefined) this.steps.push(rec);
      this.progress?.update(rec);
      await tracker.observe(rec.step, model, total);
    };
    const onCheckpoint = async () => {
      if (!first) return;
      first = false;
      if (this.target instanceof NewRun) this.target.commit();
      if (onFirstCheckpoint) await onFirstCheckpoint();
    };
    this.log(
      `${this.target instanceof NewRun ? "training" : "resuming"} ${data.name} (n=${data.n}, x ${data.xDim}-d, y ${data.yDim}-d) -> ${this.target instanceof NewRun ? this.target.out : this.dir}`,
    );
    try {
      return await start({ onStart, onStep, onCheckpoint, signal: this.controller.signal, recordSteps: false, io: this.io() });
    } catch (err) {
      return asUsage(err);
    } finally {
      this.progress?.stop();
    }
  }

  /** Report, summary and exit status after the trainer returned. */
  async finish(result: TrainResult, data: Dataset, flags: TrainFlags): Promise<void> {
    const { history, model } = result;
    history.steps.splice(0, history.steps.length, ...this.steps);
    const saved = history.checkpointStep !== undefined;
    if (this.target instanceof NewRun && !this.target.isCommitted) {
      // No checkpoint could be written (diverged before the first one): nothing to keep.
      model.dispose();
      throw new Error(
        `training stopped at step ${model.state.step}: ${history.stopDetail ?? history.stopReason}; no finite checkpoint was written, so no run directory was created. ` +
          "Try a lower --lr, gradient clipping (optimizer.clipNorm in --config), a sigma floor (--sigma-min 1e-3) or --checkpoint-every",
      );
    }
    const outDir = this.dir;
    // Paths as the user gave them (the run's absolute location after a staged swap).
    const shown = this.target instanceof NewRun ? this.target.out : this.dir;
    const summary = await writeRunReport(outDir, result, data, this.tracker as TrajectoryTracker, {
      png: flags.png !== false,
      plots: flags.plots !== false,
      seconds: (Date.now() - this.started) / 1000,
    });
    const floor = floorSummary(result);
    if (floor) {
      if (this.json)
        process.stdout.write(`${JSON.stringify({ event: "sigma-floor-summary", ...floor.stats, sigmaMin: floor.sigmaMin, message: floor.line })}\n`);
      else this.log(floor.line);
    }
    if (this.json) process.stdout.write(`${JSON.stringify({ event: "done", outDir: shown, checkpointStep: history.checkpointStep ?? null, ...summary })}\n`);
    else {
      this.log(`done: ${history.stopReason}${history.stopDetail ? ` (${history.stopDetail})` : ""}, step ${model.state.step}`);
      if (summary.trainNllOriginal !== undefined) {
        this.log(
          `final NLL per row, original units: train ${fmt(summary.trainNllOriginal)}${summary.valNllOriginal !== undefined ? `, validation ${fmt(summary.valNllOriginal)}` : ""}` +
            ` (standardized: train ${fmt(summary.trainNll)}${summary.valNll !== undefined ? `, validation ${fmt(summary.valNll)}` : ""})`,
        );
      } else this.log(`final NLL: train ${fmt(summary.trainNll)}${summary.valNll !== undefined ? `, validation ${fmt(summary.valNll)}` : ""}`);
      this.log(`wrote ${summary.files.map((f) => join(shown, f)).join(", ")}`);
    }
    model.dispose();
    const ckpt = join(shown, CHECKPOINT_FILE);
    const finite = [summary.trainNll, summary.valNll].every((v) => v === undefined || Number.isFinite(v));
    if (history.stopReason === "aborted" && saved) {
      this.log(`interrupted at step ${history.checkpointStep}: checkpoint saved; continue with: ngem train --resume ${shown}`);
      process.exitCode = this.signal === "SIGTERM" ? 143 : 130;
    } else if (history.stopReason === "non-finite" || !finite) {
      process.stderr.write(
        `ngem: training failed: ${history.stopDetail ?? "the final NLL is not finite"}; ` +
          `${saved ? `the last finite checkpoint (step ${history.checkpointStep}) is ${ckpt}` : `${ckpt} was left as it was (no finite state to save)`}. ` +
          "Try a lower --lr, gradient clipping (optimizer.clipNorm in --config), or a sigma floor (--sigma-min 1e-3)\n",
      );
      process.exitCode = EXIT_FAILURE;
    } else if (history.stopReason === "aborted") {
      process.stderr.write(`ngem: interrupted, but the state was not finite: ${ckpt} keeps its last finite checkpoint\n`);
      process.exitCode = EXIT_FAILURE;
    }
  }

  /** Signal handlers off; locks released; an unfinished new run removed. */
  close(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.length = 0;
    if (this.target instanceof NewRun) this.target.finish();
    else this.target.lock.release();
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
    this.steps.push(step);
    this.means.push(await componentMeans(model));
  }
}
