/** `ngem eval`, `ngem predict`, `ngem sample`: commands that use a saved checkpoint. */
import { existsSync } from "node:fs";
import { MAX_SAMPLE_VALUES, mixtureMean, mixtureMode, NonFiniteError, predictionInterval, softmax, type MixtureParams } from "@ngem/core";
import type { Dataset } from "@ngem/datasets";
import { evaluate, load, logLikelihoods, predict, sample, type TrainedModel } from "@ngem/trainer";
import { checkStandardizable, loadDataLike, type DataArgs } from "../data-source.js";
import { UsageError } from "../errors.js";
import { loadBackend, registerAllBackends } from "../load-backends.js";
import { writeAtomic } from "../plot/files.js";
import { runBesideCheckpoint } from "../run-dir.js";

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

function emit(text: string, output: string | undefined): void {
  if (output) writeAtomic(output, text);
  else process.stdout.write(text);
}

export async function evalCommand(checkpoint: string, source: string, flags: ModelFlags): Promise<void> {
  const model = await openCheckpoint(checkpoint, flags.backend);
  const data = await loadDataLike(source, runBesideCheckpoint(checkpoint)?.data, model.normalization, flags);
  checkDims(model, data.xDim, data.yDim, source);
  const ev = await evaluate(model, data);
  const metrics: [string, number][] = [
    ["NLL", ev.nllOriginal ?? ev.nll],
    ["NLL (standardized)", ev.nll],
    ["RMSE", ev.rmseOriginal ?? ev.rmse],
    ["coverage error", ev.calibration.coverageError],
  ];
  const bad = metrics.find(([, v]) => !Number.isFinite(v));
  if (bad) throw new Error(await explainNonFiniteMetric(model, data, source, bad[0], bad[1]));
  const out = {
    checkpoint,
    data: source,
    n: ev.n,
    nll: ev.nllOriginal ?? ev.nll,
    nllStandardized: ev.nll,
    rmse: ev.rmseOriginal ?? ev.rmse,
    coverage: Object.fromEntries(ev.calibration.levels.map((l, i) => [String(l), ev.calibration.coverage[i]])),
    coverageError: ev.calibration.coverageError,
    pitCounts: ev.calibration.pitCounts,
  };
  if (flags.json) emit(`${JSON.stringify(out)}\n`, flags.output);
  else {
    const lines = [
      `data        ${source} (${ev.n} rows)`,
      `NLL         ${fmt(out.nll)}  (per row, original units; standardized: ${fmt(ev.nll)})`,
      `RMSE        ${fmt(out.rmse)}  (mixture mean)`,
      `coverage    ${ev.calibration.levels.map((l, i) => `${Math.round(l * 100)}%: ${(100 * ev.calibration.coverage[i]!).toFixed(1)}%`).join("  ")}`,
      `PIT counts  ${ev.calibration.pitCounts.join(" ")}`,
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
  const origY = (r: number) => rowValues(ny ? Float64Array.from({ length: data.yDim }, (_, j) => data.y[r * data.yDim + j]! * ny.std[j]! + ny.mean[j]!) : data.y, ny ? 0 : r, data.yDim);
  const origX = (r: number) => rowValues(nx ? Float64Array.from({ length: data.xDim }, (_, j) => data.x[r * data.xDim + j]! * nx.std[j]! + nx.mean[j]!) : data.x, nx ? 0 : r, data.xDim);
  const where = (r: number) => `${rowLabel(source, data, r)}${data.xDim ? `, x = ${origX(r)}` : ""}, y = ${origY(r)}`;
  const lp = await logLikelihoods(model, data);
  for (let r = 0; r < data.n; r++) {
    if (!Number.isFinite(lp[r]!)) return `${head}: ${where(r)} has log p(y | x) = ${lp[r]} (the target is too far from every mixture component to have a representable density)`;
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
  for (const [name, a, w] of [["logits", m.logits, K], ["mu", m.mu, K * D], ["logSigma", m.logSigma, K * D]] as const) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i] as number;
      const sigmaOverflow = name === "logSigma" && !Number.isFinite(Math.exp(v));
      if (Number.isFinite(v) && !sigmaOverflow) continue;
      const row = Math.floor(i / w);
      const what = sigmaOverflow ? `sigma = exp(${v}) overflows float64` : `${name} = ${v}`;
      throw new Error(`the prediction for ${label(row)}${x ? `, x = ${rowValues(x, row, xDim)},` : ""} is not finite (${what}); the input is likely far outside the training data`);
    }
  }
}

function checkDims(model: TrainedModel, xDim: number, yDim: number, source: string): void {
  const spec = model.spec;
  const wantX = spec.kind === "mdn" ? spec.inputDim : 0;
  if (xDim !== wantX || (yDim !== 0 && yDim !== spec.d)) {
    throw new UsageError(`${source}: has ${xDim} input and ${yDim} target columns; the checkpoint expects ${wantX} and ${spec.d} (choose columns with --x-cols/--y-cols)`);
  }
}

function rowsOf(m: MixtureParams): { mean: Float64Array; mode: Float64Array; pi: Float64Array } {
  return { mean: mixtureMean(m), mode: mixtureMode(m, { refineSteps: 50 }), pi: softmax(m.logits, m.n, m.k) };
}

export async function predictCommand(checkpoint: string, source: string, flags: ModelFlags): Promise<void> {
  const format = flags.format ?? (flags.json ? "json" : "csv");
  if (format !== "csv" && format !== "json") throw new UsageError(`--format: expected csv or json, got "${format}"`);
  const model = await openCheckpoint(checkpoint, flags.backend);
  const raw = await loadDataLike(source, runBesideCheckpoint(checkpoint)?.data, undefined, flags);
  checkDims(model, raw.xDim, raw.yDim, source);
  // an x that cannot be standardised with the model's statistics is a usage error naming row and column
  if (raw.xDim && model.normalization?.x) checkStandardizable(source, raw, { x: model.normalization.x });
  const m = await predictRows(model, raw.xDim ? raw.x : undefined, 1, (r) => rowLabel(source, raw, r), raw.xDim);
  const { mean, mode, pi } = rowsOf(m);
  for (const [name, a] of [["mean", mean], ["mode", mode]] as const) {
    const i = a.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new Error(`the predicted ${name} for ${rowLabel(source, raw, Math.floor(i / m.d))} is ${a[i]}: not representable in float64`);
  }
  const { n, k: K, d: D } = m;
  const level = flags.interval;
  if (level !== undefined && !(level > 0 && level < 1)) throw new UsageError(`--interval: expected a level in (0, 1), got ${level}`);
  const iv = level !== undefined ? predictionInterval(m, level) : undefined;
  if (iv) {
    const i = [...iv.lo, ...iv.hi].findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new Error(`the ${level} prediction interval for ${rowLabel(source, raw, Math.floor((i % iv.lo.length) / D))} is not finite`);
  }
  const yNames = raw.yNames.length === D ? raw.yNames : Array.from({ length: D }, (_, d) => `y${d}`);
  if (format === "json") {
    const rows = Array.from({ length: n }, (_, r) => ({
      mean: Array.from(mean.subarray(r * D, (r + 1) * D)),
      mode: Array.from(mode.subarray(r * D, (r + 1) * D)),
      ...(iv ? { interval: { level, lo: Array.from(iv.lo.subarray(r * D, (r + 1) * D)), hi: Array.from(iv.hi.subarray(r * D, (r + 1) * D)) } } : {}),
      ...(flags.params !== false
        ? {
            pi: Array.from(pi.subarray(r * K, (r + 1) * K)),
            mu: Array.from({ length: K }, (_, k) => Array.from(m.mu.subarray((r * K + k) * D, (r * K + k + 1) * D))),
            sigma: Array.from({ length: K }, (_, k) => Array.from(m.logSigma.subarray((r * K + k) * D, (r * K + k + 1) * D), Math.exp)),
          }
        : {}),
    }));
    emit(`${JSON.stringify(rows)}\n`, flags.output);
  } else {
    const head = [...yNames.map((y) => `mean_${y}`), ...yNames.map((y) => `mode_${y}`)];
    if (iv) head.push(...yNames.map((y) => `lo_${y}`), ...yNames.map((y) => `hi_${y}`));
    if (flags.params !== false) {
      for (let k = 0; k < K; k++) head.push(`pi_${k}`);
      for (let k = 0; k < K; k++) for (const y of yNames) head.push(`mu_${k}_${y}`);
      for (let k = 0; k < K; k++) for (const y of yNames) head.push(`sigma_${k}_${y}`);
    }
    const lines = [head.join(",")];
    for (let r = 0; r < n; r++) {
      const cells: number[] = [...mean.subarray(r * D, (r + 1) * D), ...mode.subarray(r * D, (r + 1) * D)];
      if (iv) cells.push(...iv.lo.subarray(r * D, (r + 1) * D), ...iv.hi.subarray(r * D, (r + 1) * D));
      if (flags.params !== false) {
        cells.push(...pi.subarray(r * K, (r + 1) * K));
        cells.push(...m.mu.subarray(r * K * D, (r + 1) * K * D));
        cells.push(...Array.from(m.logSigma.subarray(r * K * D, (r + 1) * K * D), Math.exp));
      }
      lines.push(cells.map((v) => String(v)).join(","));
    }
    emit(`${lines.join("\n")}\n`, flags.output);
  }
  model.dispose();
}

/** Parses `--x "0.1,0.2;0.3,0.4"`: rows separated by ';', values by ','. */
export function parseXRows(v: string, dim: number): Float64Array {
  const rows = v.split(";").map((r) => r.trim()).filter((r) => r.length > 0);
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
  if (x && model.normalization?.x) checkStandardizable("--x", { x, n: rows, xDim, xNames: Array.from({ length: xDim }, (_, j) => `x${j}`) }, { x: model.normalization.x });
  await predictRows(model, x, 1, xLabel, xDim); // names the row whose mixture is not finite
  if (rows * count * spec.d > MAX_SAMPLE_VALUES) {
    throw new UsageError(`-n/--count: ${rows} rows x ${count} samples x ${spec.d} dims = ${rows * count * spec.d} values, more than one call may draw (${MAX_SAMPLE_VALUES}); use a smaller -n and several --seed values`);
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
    throw new Error(`a sample for ${xLabel(r)}${x ? `, x = ${rowValues(x, r, xDim)},` : ""} is ${s[badSample]}: not representable in float64 (the mixture's scale is too large)`);
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
