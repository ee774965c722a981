/**
 * `ngem train <file> --stream` and its `--resume`: out-of-core training on a
 * CSV / JSON-lines file read in batches (`@ngem/trainer`'s trainStream over a
 * `@ngem/datasets/node` row source). Same run directory as `ngem train`
 * (staging, lock, atomic checkpoints, metrics, resume), through train.ts's
 * Session; the data is never held whole. The data is validated (one full
 * statistics pass: every cell parsed, every column standardisable) before
 * anything is written.
 */
import { extname, join, resolve } from "node:path";
import { csvFileSource, DataError, jsonlFileSource, type Dataset, type RowSource } from "@ngem/datasets/node";
import {
  ConfigError,
  DataMismatchError,
  load,
  resumeStream,
  streamStatistics,
  StreamDataError,
  trainStream,
  type StreamInfo,
  type TrainConfig,
  type TrainedModel,
} from "@ngem/trainer";
import { parseCols, type DataRecipe } from "../data-source.js";
import { UsageError } from "../errors.js";
import {
  CHECKPOINT_FILE,
  checkNewRunTarget,
  cleanTemps,
  METRICS_FILE,
  NewRun,
  newRunRecord,
  RUN_FILE,
  writeJson,
  type Lock,
  type RunRecord,
} from "../run-dir.js";
import { buildConfig, defaultLogEvery, ensureBackend, Session, type TrainFlags } from "./train.js";
import { readConfigFile } from "../config-file.js";

/** What run.json records about a streamed run (beside the usual data recipe). */

/** Rows of a streamed run kept for the end-of-run report and plots (the first rows of the file). */
const REPORT_ROWS = 20000;
const DEFAULT_BUFFER = 16384;

/** Flags that make no sense with --stream (they need the data in memory). */
const NOT_STREAMED = ["testSplit", "test", "ensemble", "n", "dataSeed", "missing"] as const;

async function openSource(file: string, xCols?: string, yCols?: string): Promise<RowSource> {
  const x = parseCols("--x-cols", xCols);
  const y = parseCols("--y-cols", yCols);
  const cols = { ...(x ? { x } : {}), ...(y ? { y } : {}) };
  const ext = extname(file).toLowerCase();
  try {
    if (ext === ".csv" || ext === ".tsv" || ext === ".txt") return await csvFileSource(file, cols);
    if (ext === ".jsonl" || ext === ".ndjson" || ext === ".json") return await jsonlFileSource(file, cols);
  } catch (err) {
    if (err instanceof DataError) throw new UsageError(err.message);
    throw err;
  }
  throw new UsageError(
    `--stream: "${file}" is ${ext || "without an extension"}; streaming reads .csv, .tsv, .jsonl or .json files (NPY shards: the library's npyShardSource)`,
  );
}

async function statistics(src: RowSource, seed: number, split: number): Promise<StreamInfo> {
  try {
    return await streamStatistics(src, seed, split);
  } catch (err) {
    if (err instanceof DataError || err instanceof StreamDataError) throw new UsageError(err.message);
    throw err;
  }
}

/** A Dataset of the shape of the source with n rows and no values (config validation, progress). */
function shapeOf(src: RowSource, n: number): Dataset {
  return { name: src.name, n, xDim: src.xDim, yDim: src.yDim, x: new Float64Array(0), y: new Float64Array(0), xNames: src.xNames, yNames: src.yNames };
}

/** The first rows of the file, standardised as the model sees them, for the report. */
async function reportRows(src: RowSource, model: TrainedModel): Promise<Dataset> {
  const xs: number[] = [];
  const ys: number[] = [];
  let n = 0;
  for await (const b of src.open(0)) {
    const take = Math.min(b.n, REPORT_ROWS - n);
    xs.push(...b.x.subarray(0, take * src.xDim));
    ys.push(...b.y.subarray(0, take * src.yDim));
    n += take;
    if (n >= REPORT_ROWS) break;
  }
  const norm = model.normalization;
  const z = (a: number[], dim: number, s?: { mean: Float64Array; std: Float64Array }) =>
    Float64Array.from(a, (v, i) => (s ? (v - (s.mean[i % dim] as number)) / (s.std[i % dim] as number) : v));
  return { ...shapeOf(src, n), x: z(xs, src.xDim, norm?.x), y: z(ys, src.yDim, norm?.y), ...(norm ? { normalization: norm } : {}) };
}

/** `ngem train <file> --stream`. */
export async function trainStreamCommand(
  source: string,
  flags: TrainFlags & { stream?: boolean; shuffleBuffer?: number },
  explicit: ReadonlySet<string>,
  log: (m: string) => void,
): Promise<void> {
  for (const k of NOT_STREAMED)
    if (explicit.has(k))
      throw new UsageError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: not available with --stream (it needs the data in memory)`);
  if (flags.standardize === false)
    throw new UsageError("--no-standardize: not available with --stream (streamed rows are standardised with one-pass statistics)");
  const file = flags.config !== undefined ? readConfigFile(flags.config) : undefined;
  const src = await openSource(source, flags.xCols, flags.yCols);
  // Config from the flags on the shape of the data (row count checked after the statistics pass).
  const config = buildConfig(flags, shapeOf(src, Number.MAX_SAFE_INTEGER), file);
  if (config.model.kind === "gmm" && src.xDim > 0)
    throw new UsageError("--model gmm with --stream: select no input columns (--x-cols with --model gmm is not streamed); use --model mdn");
  const outDir = flags.out ?? join("runs", `${src.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${config.objective}`);
  checkNewRunTarget(outDir, flags.force === true);
  await ensureBackend(config.backend ?? "js");
  const shuffleBuffer = flags.shuffleBuffer ?? DEFAULT_BUFFER;
  log(`--stream: reading ${source} once for statistics and the split...`);
  const info = await statistics(src, config.seed ?? 0, config.validationSplit ?? 0);
  const full = shapeOf(src, info.rows);
  const nTrainSteps = config.steps ?? (config.epochs ?? 20) * Math.ceil(info.nTrain / Math.min(config.batchSize ?? 32, info.nTrain));
  const checkpointEvery = flags.checkpointEvery ?? file?.checkpointEvery;
  const logEvery = flags.logEvery ?? file?.logEvery ?? defaultLogEvery(nTrainSteps);
  const recipe: DataRecipe = {
    source: resolve(source),
    builtin: false,
    standardize: true,
    ...(flags.xCols !== undefined ? { xCols: flags.xCols } : {}),
    ...(flags.yCols !== undefined ? { yCols: flags.yCols } : {}),
    stream: { shuffleBuffer },
  };
  const runRecord = newRunRecord(recipe, config, { checkpointEvery, logEvery });
  log(
    `--stream: ${info.rows} rows (${info.nTrain} training, ${info.nVal} validation by row hash); shuffle buffer ${config.shuffle === false ? "off" : `${shuffleBuffer} rows`}`,
  );
  const run = new NewRun(outDir);
  const session = new Session(run, log, flags.json === true);
  try {
    await writeJson(join(run.dir, RUN_FILE), runRecord);
    const fullConfig: TrainConfig = {
      ...config,
      metricsFile: METRICS_FILE,
      logEvery,
      checkpoint: { path: CHECKPOINT_FILE, ...(checkpointEvery ? { every: checkpointEvery } : {}), atEnd: true },
    };
    const result = await session.run(full, (opts) => trainStream(fullConfig, src, { ...opts, shuffleBuffer, statistics: info }));
    await session.finish(result, await reportRows(src, result.model), flags);
  } finally {
    session.close();
  }
}

/** True when run.json describes a streamed run. */
export function isStreamedRun(r: RunRecord): boolean {
  return r.data.stream !== undefined;
}

/** `ngem train --resume DIR` of a streamed run (the lock is held by the caller). */
export async function resumeStreamCommand(dir: string, runRecord: RunRecord, lock: Lock, flags: TrainFlags, log: (m: string) => void): Promise<void> {
  const session = new Session({ dir, lock }, log, flags.json === true);
  try {
    cleanTemps(dir);
    if (flags.epochs !== undefined && flags.steps !== undefined) throw new UsageError("--epochs and --steps are exclusive; give one");
    const r = runRecord.data;
    const src = await openSource(r.source, r.xCols, r.yCols);
    const stored = runRecord.config;
    await ensureBackend(flags.backend ?? stored.backend ?? "js");
    let model: TrainedModel;
    try {
      model = await load(join(dir, CHECKPOINT_FILE), flags.backend !== undefined ? { backend: flags.backend } : {});
    } catch (err) {
      throw new UsageError(`${join(dir, CHECKPOINT_FILE)}: ${(err as Error).message}`);
    }
    const info = await statistics(src, model.config.seed, model.config.validationSplit);
    if (info.fingerprint !== model.state.dataFingerprint)
      throw new UsageError(
        `${r.source}: the data changed since the run started (fingerprint ${info.fingerprint}, the checkpoint's ${model.state.dataFingerprint})`,
      );
    const checkpointEvery = flags.checkpointEvery ?? runRecord.run?.checkpointEvery;
    const logEvery = flags.logEvery ?? runRecord.run?.logEvery ?? 1;
    const length = flags.steps !== undefined ? { steps: flags.steps } : flags.epochs !== undefined ? { epochs: flags.epochs } : {};
    if (length.steps !== undefined || length.epochs !== undefined) {
      const { steps: _s, epochs: _e, ...rest } = runRecord.config;
      await writeJson(join(dir, RUN_FILE), {
        ...runRecord,
        config: { ...rest, ...length },
        run: { ...runRecord.run, ...(checkpointEvery !== undefined ? { checkpointEvery } : {}), logEvery },
      });
    }
    const result = await session.run(shapeOf(src, info.rows), (opts) =>
      resumeStream(model, src, {
        ...opts,
        ...length,
        metricsFile: METRICS_FILE,
        logEvery,
        checkpoint: { path: CHECKPOINT_FILE, ...(checkpointEvery ? { every: checkpointEvery } : {}), atEnd: true },
      }),
    );
    await session.finish(result, await reportRows(src, result.model), flags);
  } catch (err) {
    if (err instanceof DataMismatchError || err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  } finally {
    session.close();
  }
}
