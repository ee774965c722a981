/** `ngem eval`, `ngem predict`, `ngem sample`: commands that use a saved checkpoint. */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { MAX_SAMPLE_VALUES, mixtureMean, mixtureMode, mixtureQuantile, NonFiniteError, predictionInterval, softmax, type MixtureParams } from "@ngem/core";
import type { Dataset } from "@ngem/datasets";
import { ensembleMembers, forecastScores, isEnsemble, load, logLikelihoods, predict, sample, type TrainedModel } from "@ngem/trainer";
import { checkStandardizable, isBuiltin, loadDataLike, type DataArgs } from "../data-source.js";
import { UsageError } from "../errors.js";
import { loadBackend, registerAllBackends } from "../load-backends.js";
import { writeAtomic } from "../plot/files.js";
import { CHECKPOINT_FILE, runBesideCheckpoint } from "../run-dir.js";
import { runTestData, trainingOverlap } from "../test-split.js";
import {
  columnIndex,
  encodeColumns,
  jsonCell,
  numberAt,
  outputFormat,
  readTable,
  rowLabel as rowLabelOf,
  type Cell,
  type OutColumn,
  type Table,
} from "./predict-io.js";

export interface ModelFlags extends DataArgs {
  backend?: string;
  json?: boolean;
  format?: string;
  output?: string;
  params?: boolean;
  x?: string;
  count?: number;
  seed?: number;
  temperature?: number;
  sigmaTemperature?: number;
  interval?: number;
  quantiles?: string;
  idCol?: string;
  keepCols?: string;
}

async function openCheckpoint(path: string, backend?: string): Promise<TrainedModel> {
  if (!existsSync(path)) throw new UsageError(`checkpoint "${path}": no such file`);
  await registerAllBackends();
  if (backend) await loadBackend(backend);
  try {
    return await load(path, backend ? { backend } : {});
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UsageError(`checkpoint "${path}": ${msg}`);
  }
}

function emit(body: string | Uint8Array, output: string | undefined): void {
  if (output) writeAtomic(output, body);
  else process.stdout.write(body);
}

/** A run directory stands for its checkpoint. */
export function checkpointPath(p: string): string {
  try {
    if (statSync(p).isDirectory()) return join(p, CHECKPOINT_FILE);
  } catch {
    // not there: openCheckpoint says so
  }
  return p;
}

/**
 * `ngem eval RUN_DIR` (the run's held-out test rows), `ngem eval RUN_DIR FILE`
 * or `ngem eval CKPT FILE`: every forecast metric in original units, saying
 * which rows were scored and warning when they overlap the training rows.
 */
export async function evalCommand(target: string, source: string | undefined, flags: ModelFlags): Promise<void> {
  const quantiles = parseQuantiles(flags.quantiles) ?? [0.1, 0.5, 0.9];
  const ckpt = checkpointPath(target);
  const runDir = dirname(ckpt);
  let isDir = false;
  try {
    isDir = statSync(target).isDirectory();
  } catch {
    // openCheckpoint names the missing file
  }
  if (isDir && !existsSync(ckpt)) throw new UsageError(`${target}: no ${CHECKPOINT_FILE} there (not an ngem run directory)`);
  if (source === undefined && !existsSync(target)) throw new UsageError(`eval ${target}: no such run directory or checkpoint file`);
  if (source === undefined && !isDir)
    throw new UsageError(`eval ${target}: give a data file (ngem eval CHECKPOINT DATA), or a run directory to score its held-out test rows`);
  const model = await openCheckpoint(ckpt, flags.backend);
  let data: Dataset;
  let label: string;
  let description: string;
  let overlap = 0;
  if (source === undefined) {
    const test = await runTestData(runDir);
    if (!test)
      throw new UsageError(
        `eval ${target}: this run has no held-out test rows (train with --test-split 0.2 or --test FILE), so give data to score: ngem eval ${target} DATA`,
      );
    data = test.data;
    label = `${target} (test rows)`;
    description = test.description;
  } else {
    data = await loadDataLike(source, runBesideCheckpoint(ckpt)?.data, model.normalization, flags);
    label = source;
    overlap = trainingOverlap(runDir, data);
    description = `data: ${source} (${data.n} rows)${overlap > 0 ? `; ${overlap} of them are training rows of this run` : ""}`;
    if (overlap > 0) {
      process.stderr.write(
        `ngem: warning: ${overlap} of the ${data.n} rows of ${source} are training rows of this run; these metrics are not a held-out estimate${existsSync(join(runDir, "run.json")) ? ` (ngem eval ${runDir} scores the run's test rows, when it has some)` : ""}\n`,
      );
    }
  }
  checkDims(model, data.xDim, data.yDim, label);
  const sc = await forecastScores(model, data, { quantiles });
  const checks: [string, number][] = [
    ["NLL", sc.nll],
    ["RMSE", sc.rmseMean.value],
    ["CRPS", sc.crps.value],
  ];
  const bad = checks.find(([, v]) => !Number.isFinite(v));
  if (bad) throw new Error(await explainNonFiniteMetric(model, data, label, bad[0], bad[1]));
  const coverageError = sc.intervals.reduce((s, i) => s + Math.abs(i.coverage - i.level), 0) / sc.intervals.length;
  // An ensemble is also reported against its members: the mean member is the baseline it should beat.
  let members: { count: number; nll: number[]; crps: number[]; meanNll: number; meanCrps: number } | undefined;
  if (isEnsemble(model)) {
    const scores = [];
    for (const m of ensembleMembers(model)) scores.push(await forecastScores(m, data, { quantiles }));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const nll = scores.map((x) => x.nll);
    const crps = scores.map((x) => x.crps.value);
    members = { count: scores.length, nll, crps, meanNll: mean(nll), meanCrps: mean(crps) };
  }
  const yNames = [...data.yNames];
  const out = {
    checkpoint: ckpt,
    data: source ?? null,
    rows: source === undefined ? "test" : "file",
    description,
    trainingOverlap: overlap,
    n: sc.n,
    targets: yNames,
    units: "original units of the target columns; NLL in nats per row (summed over target dimensions)",
    nll: sc.nll,
    nllTotal: sc.nllTotal,
    nllStandardized: sc.nllStandardized,
    rmse: sc.rmseMean.value,
    mae: sc.maeMean.value,
    rmseMode: sc.rmseMode.value,
    maeMode: sc.maeMode.value,
    crps: sc.crps.value,
    pinball: Object.fromEntries(sc.pinball.map((p) => [String(p.q), p.loss])),
    coverage: Object.fromEntries(sc.intervals.map((i) => [String(i.level), i.coverage])),
    intervalWidth: Object.fromEntries(sc.intervals.map((i) => [String(i.level), i.width])),
    coverageError,
    pitCounts: sc.pit.counts,
    pit: { ks: sc.pit.ks, ksPValue: sc.pit.ksPValue, chiSquare: sc.pit.chiSquare, df: sc.pit.df, bins: sc.pit.bins },
    ...(members ? { ensemble: members } : {}),
    ...(sc.d > 1
      ? {
          byTarget: Object.fromEntries(
            yNames.map((y, d) => [
              y,
              {
                rmse: sc.rmseMean.byDim[d],
                mae: sc.maeMean.byDim[d],
                rmseMode: sc.rmseMode.byDim[d],
                maeMode: sc.maeMode.byDim[d],
                crps: sc.crps.byDim[d],
                pinball: Object.fromEntries(sc.pinball.map((p) => [String(p.q), p.byDim[d]])),
                coverage: Object.fromEntries(sc.intervals.map((i) => [String(i.level), i.coverageByDim[d]])),
                intervalWidth: Object.fromEntries(sc.intervals.map((i) => [String(i.level), i.widthByDim[d]])),
              },
            ]),
          ),
        }
      : {}),
  };
  if (flags.json) emit(`${JSON.stringify(out)}\n`, flags.output);
  else {
    const u = yNames.length === 1 ? `units of ${yNames[0]}` : `units of each target (${yNames.join(", ")}), averaged over them`;
    const lines = [
      description,
      `rows scored          ${sc.n}`,
      `NLL                  ${fmt(sc.nll)} nats per row, original units  (total ${fmt(sc.nllTotal)}; standardized space: ${fmt(sc.nllStandardized)})`,
      `RMSE / MAE of mean   ${fmt(sc.rmseMean.value)} / ${fmt(sc.maeMean.value)}  (${u})`,
      `RMSE / MAE of mode   ${fmt(sc.rmseMode.value)} / ${fmt(sc.maeMode.value)}  (${u})`,
      `CRPS                 ${fmt(sc.crps.value)}  (${u}; lower is better${sc.d > 1 ? "; each target's marginal" : ""})`,
      `pinball loss         ${sc.pinball.map((p) => `q${p.q}: ${fmt(p.loss)}`).join("  ")}  (${u})`,
      `interval coverage    ${sc.intervals.map((i) => `${Math.round(i.level * 100)}%: ${(100 * i.coverage).toFixed(1)}%`).join("  ")}`,
      `interval width       ${sc.intervals.map((i) => `${Math.round(i.level * 100)}%: ${fmt(i.width)}`).join("  ")}  (${u})`,
      `PIT uniformity       KS ${fmt(sc.pit.ks)} (p = ${sc.pit.ksPValue.toPrecision(3)}), chi-square ${fmt(sc.pit.chiSquare)} on ${sc.pit.df} df  (n = ${sc.pit.n} values)`,
      `PIT counts           ${sc.pit.counts.join(" ")}`,
      ...(members
        ? [
            `ensemble of ${members.count}  NLL ${fmt(sc.nll)} vs mean member ${fmt(members.meanNll)} (members ${members.nll.map(fmt).join(", ")}); CRPS ${fmt(sc.crps.value)} vs mean member ${fmt(members.meanCrps)}`,
          ]
        : []),
    ];
    emit(`${lines.join("\n")}\n`, flags.output);
  }
  model.dispose();
}

/** 4 decimals for ordinary magnitudes; 5 significant digits otherwise (an RMSE of 3e-31 is not "0.0000"). */
export function fmt(v: number): string {
  const a = Math.abs(v);
  return a === 0 || (a >= 1e-3 && a < 1e7) ? v.toFixed(4) : v.toPrecision(5);
}

/** "data.csv:57 (row 55)" - the file's line when the loader kept it, and the 1-based data row. */
function rowLabel(source: string, data: Pick<Dataset, "rowLines">, row: number): string {
  const line = data.rowLines?.[row];
  return line ? `${source}:${line} (data row ${row + 1})` : `${source} row ${row + 1}`;
}

function rowValues(a: ArrayLike<number>, row: number, dim: number): string {
  const v = Array.from({ length: dim }, (_, j) => String(a[row * dim + j]));
  return dim === 1 ? (v[0] as string) : `[${v.join(", ")}]`;
}

/**
 * A metric came out non-finite: find the first row whose log-likelihood is
 * not finite (or, for the RMSE, whose squared error overflows) and say which
 * row of which file it is, with its values in original units.
 */
async function explainNonFiniteMetric(model: TrainedModel, data: Dataset, source: string, metric: string, value: number): Promise<string> {
  const head = `eval: the ${metric} is ${value}, not a finite number`;
  const ny = data.normalization?.y;
  const nx = data.normalization?.x;
  const origY = (r: number) =>
    rowValues(ny ? Float64Array.from({ length: data.yDim }, (_, j) => data.y[r * data.yDim + j]! * ny.std[j]! + ny.mean[j]!) : data.y, ny ? 0 : r, data.yDim);
  const origX = (r: number) =>
    rowValues(nx ? Float64Array.from({ length: data.xDim }, (_, j) => data.x[r * data.xDim + j]! * nx.std[j]! + nx.mean[j]!) : data.x, nx ? 0 : r, data.xDim);
  const where = (r: number) => `${rowLabel(source, data, r)}${data.xDim ? `, x = ${origX(r)}` : ""}, y = ${origY(r)}`;
  const lp = await logLikelihoods(model, data);
  for (let r = 0; r < data.n; r++) {
    if (!Number.isFinite(lp[r]!))
      return `${head}: ${where(r)} has log p(y | x) = ${lp[r]} (the target is too far from every mixture component to have a representable density)`;
  }
  if (metric === "RMSE") {
    const m = await predict(model, data.xDim ? data.x : undefined, { n: data.n });
    const mean = mixtureMean(m);
    for (let r = 0; r < data.n; r++) {
      for (let j = 0; j < data.yDim; j++) {
        const e = (mean[r * data.yDim + j]! - data.y[r * data.yDim + j]!) * (ny ? ny.std[j]! : 1);
        if (!Number.isFinite(e * e)) return `${head}: ${where(r)} has a prediction error ${e} whose square overflows float64`;
      }
    }
  }
  return `${head} (every row's log-likelihood is finite; the sum over ${data.n} rows overflows)`;
}

/**
 * Runs a prediction, turning a non-finite result into an error that names
 * the input row (file line) rather than a tensor's flat index.
 */
async function predictRows(model: TrainedModel, x: Float64Array | undefined, n: number, label: (row: number) => string, xDim: number): Promise<MixtureParams> {
  let m: MixtureParams;
  try {
    m = await predict(model, x, { space: "original", ...(x ? {} : { n }) } as { space: "original"; n?: number });
  } catch (err) {
    if (err instanceof NonFiniteError && err.row !== undefined) {
      throw new Error(`the prediction for ${label(err.row)}${x ? `, x = ${rowValues(x, err.row, xDim)},` : ""} is not finite: ${err.message}`);
    }
    throw err;
  }
  checkMixtureRows(m, x, xDim, label);
  return m;
}

/** Every row's mixture (and so its mean, mode, weights and scales) is finite, or an error naming the first bad row. */
function checkMixtureRows(m: MixtureParams, x: Float64Array | undefined, xDim: number, label: (row: number) => string): void {
  const { k: K, d: D } = m;
  for (const [name, a, w] of [
    ["logits", m.logits, K],
    ["mu", m.mu, K * D],
    ["logSigma", m.logSigma, K * D],
  ] as const) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i] as number;
      const sigmaOverflow = name === "logSigma" && !Number.isFinite(Math.exp(v));
      if (Number.isFinite(v) && !sigmaOverflow) continue;
      const row = Math.floor(i / w);
      const what = sigmaOverflow ? `sigma = exp(${v}) overflows float64` : `${name} = ${v}`;
      throw new Error(
        `the prediction for ${label(row)}${x ? `, x = ${rowValues(x, row, xDim)},` : ""} is not finite (${what}); the input is likely far outside the training data`,
      );
    }
  }
}

function checkDims(model: TrainedModel, xDim: number, yDim: number, source: string): void {
  const spec = model.spec;
  const wantX = spec.kind === "mdn" ? spec.inputDim : 0;
  if (xDim !== wantX || (yDim !== 0 && yDim !== spec.d)) {
    throw new UsageError(
      `${source}: has ${xDim} input and ${yDim} target columns; the checkpoint expects ${wantX} and ${spec.d} (choose columns with --x-cols/--y-cols)`,
    );
  }
}

function rowsOf(m: MixtureParams): { mean: Float64Array; mode: Float64Array; pi: Float64Array } {
  return { mean: mixtureMean(m), mode: mixtureMode(m, { refineSteps: 50 }), pi: softmax(m.logits, m.n, m.k) };
}

/** Parses `--quantiles 0.1,0.5,0.9` (each in (0, 1)). */
export function parseQuantiles(v: string | undefined, flag = "--quantiles"): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`${flag}: expected probabilities in (0, 1), comma separated, e.g. 0.1,0.5,0.9`);
  return parts.map((p) => {
    const q = Number(p);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(p) || !(q > 0 && q < 1)) throw new UsageError(`${flag}: "${p}" is not a probability in (0, 1)`);
    return q;
  });
}

/** The input columns the run was trained on, as the user named them (undefined when unknown). */
async function trainingInputNames(checkpoint: string): Promise<string[] | undefined> {
  const run = runBesideCheckpoint(checkpoint);
  const recipe = run?.data;
  if (!recipe || recipe.builtin) return undefined;
  if (recipe.xCols !== undefined)
    return recipe.xCols
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  if (!existsSync(recipe.source)) return undefined;
  try {
    return [...(await loadDataLike(recipe.source, recipe, undefined, {})).xNames];
  } catch {
    return undefined;
  }
}

/** A built-in task's rows as a table (inputs then targets). */
function tableOfDataset(data: Dataset, label: string): Table {
  const rows: Cell[][] = [];
  for (let i = 0; i < data.n; i++) rows.push([...data.x.subarray(i * data.xDim, (i + 1) * data.xDim), ...data.y.subarray(i * data.yDim, (i + 1) * data.yDim)]);
  return { label, kind: "npy", names: [...data.xNames, ...data.yNames], named: true, rows };
}

/**
 * Which columns of `t` are the model's inputs, in the model's order:
 * --x-cols, else the run's recorded input columns (by name), else - for a
 * file without names - its columns by position (all of them, or the first
 * inputDim when the targets follow).
 */
function selectInputs(t: Table, inputDim: number, d: number, explicit: string | undefined, trained: string[] | undefined, skip: number | undefined): number[] {
  if (inputDim === 0) return [];
  const flagRefs = explicit
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (flagRefs) {
    const cols = flagRefs.map((r) => columnIndex(t, r, "--x-cols"));
    if (cols.length !== inputDim) throw new UsageError(`--x-cols: selects ${cols.length} columns; the model takes ${inputDim} inputs`);
    return cols;
  }
  if (trained && trained.length === inputDim && (t.named || trained.every((r) => t.names.includes(r)))) {
    const missing = trained.filter((r) => !t.names.includes(r) && !(/^\d+$/.test(r) && Number(r) < t.names.length));
    if (missing.length) {
      throw new UsageError(
        `${t.label}: has no input column ${missing.map((m) => JSON.stringify(m)).join(", ")} (the model was trained on ${trained.join(", ")}); its columns are ${t.names.map((s) => JSON.stringify(s)).join(", ")} - choose with --x-cols`,
      );
    }
    return trained.map((r) => columnIndex(t, r, "--x-cols"));
  }
  const candidates = t.names.map((_, i) => i).filter((i) => i !== skip);
  if (candidates.length === inputDim) return candidates;
  if (candidates.length === inputDim + d) return candidates.slice(0, inputDim);
  throw new UsageError(
    `${t.label}: cannot tell which ${inputDim} of its ${candidates.length} columns (${candidates.map((i) => t.names[i]).join(", ")}) are the model's inputs${trained ? ` (trained on ${trained.join(", ")})` : ""}; choose with --x-cols`,
  );
}

export async function predictCommand(checkpoint: string, source: string, flags: ModelFlags): Promise<void> {
  const format = outputFormat(flags.format, flags.json, flags.output);
  const quantiles = parseQuantiles(flags.quantiles);
  const level = flags.interval;
  if (level !== undefined && !(level > 0 && level < 1)) throw new UsageError(`--interval: expected a level in (0, 1), got ${level}`);
  if (flags.output === "-") flags = { ...flags, output: undefined };
  const ckpt = checkpointPath(checkpoint);
  const model = await openCheckpoint(ckpt, flags.backend);
  const spec = model.spec;
  const inputDim = spec.kind === "mdn" ? spec.inputDim : 0;
  const D = spec.d;
  const t = isBuiltin(source) ? tableOfDataset(await loadDataLike(source, undefined, undefined, flags), source) : await readTable(source);
  const n = t.rows.length;
  const idCol = flags.idCol !== undefined ? columnIndex(t, flags.idCol, "--id-col") : undefined;
  const keep =
    flags.keepCols === undefined
      ? []
      : flags.keepCols === "*"
        ? t.names.map((_, i) => i).filter((i) => i !== idCol)
        : flags.keepCols
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
            .map((r) => columnIndex(t, r, "--keep-cols"));
  const xCols = selectInputs(t, inputDim, D, flags.xCols, await trainingInputNames(ckpt), idCol);
  const x = new Float64Array(n * inputDim);
  for (let r = 0; r < n; r++) for (let j = 0; j < inputDim; j++) x[r * inputDim + j] = numberAt(t, r, xCols[j]!);
  const xNames = xCols.map((c) => t.names[c]!);
  const lines = t.lines ? { rowLines: Uint32Array.from(t.lines) } : {};
  // an x that cannot be standardised with the model's statistics is a usage error naming row and column
  if (inputDim && model.normalization?.x) checkStandardizable(t.label, { x, n, xDim: inputDim, xNames, ...lines }, { x: model.normalization.x });
  const label = (r: number) => tableRowLabel(t, r);
  const m = await predictRows(model, inputDim ? x : undefined, n, label, inputDim);
  const { mean, mode, pi } = rowsOf(m);
  for (const [name, a] of [
    ["mean", mean],
    ["mode", mode],
  ] as const) {
    const i = a.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new Error(`the predicted ${name} for ${label(Math.floor(i / D))} is ${a[i]}: not representable in float64`);
  }
  const K = m.k;
  const iv = level !== undefined ? predictionInterval(m, level) : undefined;
  if (iv) {
    const i = [...iv.lo, ...iv.hi].findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new Error(`the ${level} prediction interval for ${label(Math.floor((i % iv.lo.length) / D))} is not finite`);
  }
  const qv = (quantiles ?? []).map((q) => Array.from({ length: D }, (_, d) => mixtureQuantile(m, d, q)));
  const run = runBesideCheckpoint(ckpt);
  const yNames = trainedTargetNames(run?.data.yCols, D, t, xCols);
  const params = flags.params !== false;
  const idName = idCol !== undefined ? t.names[idCol]! : "row";
  const idValues: Cell[] = idCol !== undefined ? t.rows.map((r) => r[idCol]!) : Array.from({ length: n }, (_, i) => i);
  if (idCol !== undefined) {
    const seen = new Set<string>();
    for (let r = 0; r < n; r++) {
      const k = String(idValues[r]);
      if (seen.has(k)) {
        process.stderr.write(
          `ngem: warning: --id-col ${idName}: value ${JSON.stringify(idValues[r])} appears more than once (first repeat at ${label(r)}); predictions cannot be joined back by it alone\n`,
        );
        break;
      }
      seen.add(k);
    }
  }
  const qName = (q: number) => `q${q}`;
  const sub = (a: Float64Array, r: number, w: number) => Array.from(a.subarray(r * w, (r + 1) * w));
  if (format === "json" || format === "jsonl") {
    const rowObj = (r: number): Record<string, unknown> => {
      const o: Record<string, unknown> = { [idName]: idCol !== undefined ? jsonCell(idValues[r]!) : r };
      for (const c of keep) o[t.names[c]!] = jsonCell(t.rows[r]![c]!);
      o.mean = sub(mean, r, D);
      o.mode = sub(mode, r, D);
      if (iv) o.interval = { level, lo: sub(iv.lo, r, D), hi: sub(iv.hi, r, D) };
      if (quantiles) o.quantiles = Object.fromEntries(quantiles.map((q, j) => [String(q), qv[j]!.map((a) => a[r]!)]));
      if (params) {
        o.pi = sub(pi, r, K);
        o.mu = Array.from({ length: K }, (_, k) => Array.from(m.mu.subarray((r * K + k) * D, (r * K + k + 1) * D)));
        o.sigma = Array.from({ length: K }, (_, k) => Array.from(m.logSigma.subarray((r * K + k) * D, (r * K + k + 1) * D), Math.exp));
      }
      return o;
    };
    const reserved = new Set(["mean", "mode", "interval", "quantiles", "pi", "mu", "sigma", idName]);
    const clash = keep.find((c) => reserved.has(t.names[c]!) && c !== idCol);
    if (clash !== undefined) throw new UsageError(`--keep-cols: column ${JSON.stringify(t.names[clash])} would overwrite an output field of the same name`);
    const objs = Array.from({ length: n }, (_, r) => JSON.stringify(rowObj(r)));
    emit(format === "json" ? `[${objs.join(",\n")}]\n` : `${objs.join("\n")}\n`, flags.output);
  } else {
    const cols: OutColumn[] = [{ name: idName, values: idValues }];
    for (const c of keep) cols.push({ name: t.names[c]!, values: t.rows.map((row) => row[c]!) });
    const per = (name: string, a: Float64Array, w: number, j: number) => cols.push({ name, values: Float64Array.from({ length: n }, (_, r) => a[r * w + j]!) });
    yNames.forEach((y, d) => per(`mean_${y}`, mean, D, d));
    yNames.forEach((y, d) => per(`mode_${y}`, mode, D, d));
    if (iv) {
      yNames.forEach((y, d) => per(`lo_${y}`, iv.lo, D, d));
      yNames.forEach((y, d) => per(`hi_${y}`, iv.hi, D, d));
    }
    (quantiles ?? []).forEach((q, j) => yNames.forEach((y, d) => cols.push({ name: `${qName(q)}_${y}`, values: qv[j]![d]! })));
    if (params) {
      for (let k = 0; k < K; k++) per(`pi_${k}`, pi, K, k);
      for (let k = 0; k < K; k++)
        yNames.forEach((y, d) => per(`mu_${k}_${y}`, m.mu instanceof Float64Array ? m.mu : Float64Array.from(m.mu), K * D, k * D + d));
      const sigma = Float64Array.from(m.logSigma, Math.exp);
      for (let k = 0; k < K; k++) yNames.forEach((y, d) => per(`sigma_${k}_${y}`, sigma, K * D, k * D + d));
    }
    const names = new Set<string>();
    for (const c of cols) {
      if (names.has(c.name)) throw new UsageError(`--keep-cols/--id-col: output column ${JSON.stringify(c.name)} would appear twice`);
      names.add(c.name);
    }
    const body = encodeColumns(cols, n, format);
    emit(body, flags.output);
    if (format === "npy") {
      const list = cols.map((c) => c.name);
      if (flags.output) writeAtomic(`${flags.output}.columns.json`, `${JSON.stringify(list)}\n`);
      else process.stderr.write(`ngem: npy columns: ${list.join(",")}\n`);
    }
  }
  model.dispose();
}

/** Target names for output columns: the run's --y-cols, else y0, y1, ... ("y" for one target). */
function trainedTargetNames(yCols: string | undefined, D: number, t: Table, xCols: number[]): string[] {
  const names = yCols
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && !/^\d+$/.test(s));
  if (names && names.length === D) return names;
  // a file with exactly the inputs plus D more named columns: those are the targets
  if (t.named) {
    const rest = t.names.filter((_, i) => !xCols.includes(i));
    if (rest.length === D && D > 0) return rest;
  }
  return D === 1 ? ["y"] : Array.from({ length: D }, (_, d) => `y${d}`);
}

function tableRowLabel(t: Table, r: number): string {
  return rowLabelOf(t, r);
}

/** Parses `--x "0.1,0.2;0.3,0.4"`: rows separated by ';', values by ','. */
export function parseXRows(v: string, dim: number): Float64Array {
  const rows = v
    .split(";")
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  const out: number[] = [];
  rows.forEach((r, i) => {
    const vals = r.split(",").map((s) => s.trim());
    if (vals.length !== dim) throw new UsageError(`--x: row ${i + 1} has ${vals.length} values; the model takes ${dim} inputs per row (rows separated by ';')`);
    for (const s of vals) {
      const num = Number(s);
      if (s === "" || !Number.isFinite(num)) throw new UsageError(`--x: row ${i + 1}: "${s}" is not a finite number`);
      out.push(num);
    }
  });
  if (out.length === 0) throw new UsageError("--x: no rows given");
  return Float64Array.from(out);
}

export async function sampleCommand(checkpoint: string, flags: ModelFlags): Promise<void> {
  const count = flags.count ?? 10;
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`-n/--count: expected an integer >= 1, got ${String(flags.count)}`);
  const model = await openCheckpoint(checkpoint, flags.backend);
  const spec = model.spec;
  let x: Float64Array | undefined;
  if (spec.kind === "mdn") {
    if (flags.x === undefined) throw new UsageError(`--x is required: this model is conditional on ${spec.inputDim} input(s), e.g. --x "0.5"`);
    x = parseXRows(flags.x, spec.inputDim);
  } else if (flags.x !== undefined) {
    throw new UsageError("--x: this checkpoint is a free mixture (GMM) with no inputs");
  }
  const rows = x ? x.length / (spec.kind === "mdn" ? spec.inputDim : 1) : 1;
  const xDim = spec.kind === "mdn" ? spec.inputDim : 0;
  const xLabel = (r: number) => `--x row ${r + 1}`;
  if (x && model.normalization?.x)
    checkStandardizable("--x", { x, n: rows, xDim, xNames: Array.from({ length: xDim }, (_, j) => `x${j}`) }, { x: model.normalization.x });
  await predictRows(model, x, 1, xLabel, xDim); // names the row whose mixture is not finite
  if (rows * count * spec.d > MAX_SAMPLE_VALUES) {
    throw new UsageError(
      `-n/--count: ${rows} rows x ${count} samples x ${spec.d} dims = ${rows * count * spec.d} values, more than one call may draw (${MAX_SAMPLE_VALUES}); use a smaller -n and several --seed values`,
    );
  }
  const s = await sample(model, x, {
    count,
    seed: flags.seed ?? 0,
    space: "original",
    ...(x ? {} : { n: 1 }),
    ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
    ...(flags.sigmaTemperature !== undefined ? { sigmaTemperature: flags.sigmaTemperature } : {}),
  });
  const D = spec.d;
  const badSample = s.findIndex((v) => !Number.isFinite(v));
  if (badSample >= 0) {
    const r = Math.floor(badSample / (count * D));
    throw new Error(
      `a sample for ${xLabel(r)}${x ? `, x = ${rowValues(x, r, xDim)},` : ""} is ${s[badSample]}: not representable in float64 (the mixture's scale is too large)`,
    );
  }
  if (flags.json) {
    const out = Array.from({ length: rows }, (_, r) => ({
      ...(x && spec.kind === "mdn" ? { x: Array.from(x.subarray(r * spec.inputDim, (r + 1) * spec.inputDim)) } : {}),
      samples: Array.from({ length: count }, (_, c) => Array.from(s.subarray((r * count + c) * D, (r * count + c + 1) * D))),
    }));
    emit(`${JSON.stringify(out)}\n`, flags.output);
  } else {
    const head = ["row", ...Array.from({ length: D }, (_, d) => `y${d}`)];
    const lines = [head.join(",")];
    for (let r = 0; r < rows; r++) for (let c = 0; c < count; c++) lines.push([r, ...s.subarray((r * count + c) * D, (r * count + c + 1) * D)].join(","));
    emit(`${lines.join("\n")}\n`, flags.output);
  }
  model.dispose();
}
