/** `ngem eval`, `ngem predict`, `ngem sample`: commands that use a saved checkpoint. */
import { existsSync } from "node:fs";
import { mixtureMean, mixtureMode, predictionInterval, softmax, type MixtureParams } from "@ngem/core";
import { evaluate, load, predict, sample, type TrainedModel } from "@ngem/trainer";
import { loadDataLike, type DataArgs } from "../data-source.js";
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
      `NLL         ${out.nll.toFixed(4)}  (per row, original units; standardized: ${ev.nll.toFixed(4)})`,
      `RMSE        ${out.rmse.toFixed(4)}  (mixture mean)`,
      `coverage    ${ev.calibration.levels.map((l, i) => `${Math.round(l * 100)}%: ${(100 * ev.calibration.coverage[i]!).toFixed(1)}%`).join("  ")}`,
      `PIT counts  ${ev.calibration.pitCounts.join(" ")}`,
    ];
    emit(`${lines.join("\n")}\n`, flags.output);
  }
  model.dispose();
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
  const m = await predict(model, raw.xDim ? raw.x : undefined, { space: "original", n: raw.xDim ? undefined : 1 } as { space: "original"; n?: number });
  const { mean, mode, pi } = rowsOf(m);
  const { n, k: K, d: D } = m;
  const level = flags.interval;
  if (level !== undefined && !(level > 0 && level < 1)) throw new UsageError(`--interval: expected a level in (0, 1), got ${level}`);
  const iv = level !== undefined ? predictionInterval(m, level) : undefined;
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
  const s = await sample(model, x, {
    count,
    seed: flags.seed ?? 0,
    space: "original",
    ...(x ? {} : { n: 1 }),
    ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
    ...(flags.sigmaTemperature !== undefined ? { sigmaTemperature: flags.sigmaTemperature } : {}),
  });
  const D = spec.d;
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
