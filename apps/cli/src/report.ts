/**
 * After a run: evaluation summary (summary.json) and the plots a user opens
 * first - loss curves, the learned density, component-mean trajectories and
 * calibration - as SVG (+ PNG).
 */
import { join } from "node:path";
import { logProb, marginal, repeatRow, rowMixture, type MixtureParams } from "@ngem/core";
import { TWO_GAUSSIANS_MEANS, type Dataset } from "@ngem/datasets";
import { evaluate, predict, splitData, type TrainedModel, type TrainResult } from "@ngem/trainer";
import type { TrajectoryTracker } from "./commands/train.js";
import { calibrationChart, heatmapChart, histogramChart, lineChart, type Overlay, type Series } from "./plot/svg.js";
import { writePlot } from "./plot/files.js";
import { CHECKPOINT_FILE, METRICS_FILE, RUN_FILE, SUMMARY_FILE, writeJson } from "./run-dir.js";

export interface RunSummary {
  readonly stopReason: string;
  readonly steps: number;
  readonly seconds: number;
  /** Units of trainNll / valNll: "standardized" (the model's training space) or "original". */
  readonly nllUnits?: "standardized" | "original";
  readonly trainNll?: number;
  /** Train / validation NLL in the data's own units (when y was standardised). */
  readonly trainNllOriginal?: number;
  readonly valNllOriginal?: number;
  readonly valNll?: number;
  readonly rmse?: number;
  readonly coverage?: { levels: readonly number[]; observed: number[] };
  /** Sigma-floor hits over the run (when model.sigmaMin > 0 and the backend reports them). */
  readonly sigmaFloor?: { sigmaMin: number; total: number; steps: number; firstStep: number };
  /** Rows the loader skipped for missing values (`--missing skip-row`). */
  readonly skippedRows?: number;
  readonly files: string[];
}

function unstd(v: number, norm: { mean: Float64Array; std: Float64Array } | undefined, d: number): number {
  return norm ? v * (norm.std[d] as number) + (norm.mean[d] as number) : v;
}

/** Columns of the data in original units. */
function column(data: Dataset, which: "x" | "y", d: number): Float64Array {
  const dim = which === "x" ? data.xDim : data.yDim;
  const src = which === "x" ? data.x : data.y;
  const norm = data.normalization?.[which];
  const out = new Float64Array(data.n);
  for (let i = 0; i < data.n; i++) out[i] = unstd(src[i * dim + d] as number, norm, d);
  return out;
}

function range(a: ArrayLike<number>, pad = 0.1): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i] as number);
    hi = Math.max(hi, a[i] as number);
  }
  const p = (hi - lo || 1) * pad;
  return [lo - p, hi + p];
}

/** Density of one mixture row on a set of y points (original units). */
function densityAt(row: MixtureParams, ys: Float64Array): Float64Array {
  const rep = repeatRow(row, ys.length / row.d);
  return logProb(rep, ys).map(Math.exp);
}

function subsample(n: number, max: number): number[] {
  const step = Math.max(1, Math.ceil(n / max));
  return Array.from({ length: Math.ceil(n / step) }, (_, i) => i * step);
}

export async function densityPlot(model: TrainedModel, data: Dataset, title: string, trajectories?: TrajectoryTracker): Promise<string | undefined> {
  const nx = 90;
  const ny = 70;
  if (data.xDim === 1 && data.yDim === 1) {
    const xs = column(data, "x", 0);
    const ys = column(data, "y", 0);
    const xr = range(xs, 0.02);
    const yr = range(ys, 0.1);
    const values = new Float64Array(nx * ny);
    const xGrid = Float64Array.from({ length: nx }, (_, i) => xr[0] + ((i + 0.5) * (xr[1] - xr[0])) / nx);
    const yGrid = Float64Array.from({ length: ny }, (_, j) => yr[0] + ((j + 0.5) * (yr[1] - yr[0])) / ny);
    const m = await predict(model, xGrid, { space: "original" });
    for (let i = 0; i < nx; i++) {
      const dens = densityAt(rowMixture(m, i), yGrid);
      for (let j = 0; j < ny; j++) values[j * nx + i] = dens[j] as number;
    }
    const idx = subsample(data.n, 600);
    return heatmapChart({ title, xLabel: data.xNames[0] ?? "x", yLabel: data.yNames[0] ?? "y" }, { values, nx, ny, xRange: xr, yRange: yr }, [
      { name: "data", kind: "points", x: idx.map((i) => xs[i] as number), y: idx.map((i) => ys[i] as number), color: "#ffffff" },
    ]);
  }
  if (data.xDim === 0 && data.yDim === 2) {
    const a = column(data, "y", 0);
    const b = column(data, "y", 1);
    const r0 = range(a, 0.25);
    const r1 = range(b, 0.25);
    const m = rowMixture(await predict(model, undefined, { space: "original", n: 1 }), 0);
    const pts = new Float64Array(nx * ny * 2);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        pts[2 * (j * nx + i)] = r0[0] + ((i + 0.5) * (r0[1] - r0[0])) / nx;
        pts[2 * (j * nx + i) + 1] = r1[0] + ((j + 0.5) * (r1[1] - r1[0])) / ny;
      }
    }
    const values = densityAt(m, pts);
    const overlays: Overlay[] = [];
    const idx = subsample(data.n, 600);
    overlays.push({ name: "data", kind: "points", x: idx.map((i) => a[i] as number), y: idx.map((i) => b[i] as number), color: "#ffffff" });
    if (data.name === "two-gaussians") {
      overlays.push({ name: "true means", kind: "stars", x: TWO_GAUSSIANS_MEANS.map((m) => m[0]), y: TWO_GAUSSIANS_MEANS.map((m) => m[1]), color: "#ffd700" });
    }
    if (trajectories?.enabled && trajectories.means.length > 1) {
      const norm = data.normalization?.y;
      const K = (trajectories.means[0] as Float64Array).length / 2;
      overlays.push({
        name: "initial means",
        kind: "squares",
        x: Array.from({ length: K }, (_, k) => unstd(trajectories.means[0]![2 * k]!, norm, 0)),
        y: Array.from({ length: K }, (_, k) => unstd(trajectories.means[0]![2 * k + 1]!, norm, 1)),
      });
      for (let k = 0; k < K; k++) {
        overlays.push({
          name: `component ${k + 1} mean`,
          kind: "path",
          x: trajectories.means.map((mu) => unstd(mu[2 * k] as number, norm, 0)),
          y: trajectories.means.map((mu) => unstd(mu[2 * k + 1] as number, norm, 1)),
          color: ["#ff3030", "#30c0ff", "#ff9900", "#c040ff"][k % 4]!,
        });
      }
    }
    return heatmapChart({ title, xLabel: data.yNames[0] ?? "y1", yLabel: data.yNames[1] ?? "y2" }, { values, nx, ny, xRange: r0, yRange: r1 }, overlays);
  }
  return undefined;
}

function median(a: Float64Array): number {
  const s = Float64Array.from(a).sort();
  const h = s.length >> 1;
  return s.length % 2 ? (s[h] as number) : 0.5 * ((s[h - 1] as number) + (s[h] as number));
}

/**
 * Density slices for a model with inputs where {@link densityPlot} draws no
 * single picture (2+ inputs, or 2+ targets): for each input j (the first
 * `maxInputs`), p(y_0 | x) along x_j with every other input at its median,
 * as a heatmap over (x_j, y_0) with the data projected onto that plane.
 * Returns one SVG per input, named by the input column.
 */
export async function densitySlices(model: TrainedModel, data: Dataset, title: string, maxInputs = 8): Promise<{ input: string; svg: string }[]> {
  if (data.xDim === 0 || (data.xDim === 1 && data.yDim === 1)) return [];
  const nx = 90;
  const ny = 70;
  const xCols = Array.from({ length: data.xDim }, (_, j) => column(data, "x", j));
  const meds = xCols.map(median);
  const ys = column(data, "y", 0);
  const yr = range(ys, 0.1);
  const yGrid = Float64Array.from({ length: ny }, (_, j) => yr[0] + ((j + 0.5) * (yr[1] - yr[0])) / ny);
  const yName = data.yNames[0] ?? "y";
  const out: { input: string; svg: string }[] = [];
  for (let j = 0; j < Math.min(data.xDim, maxInputs); j++) {
    const xr = range(xCols[j] as Float64Array, 0.02);
    const X = new Float64Array(nx * data.xDim);
    for (let i = 0; i < nx; i++) {
      for (let c = 0; c < data.xDim; c++) X[i * data.xDim + c] = c === j ? xr[0] + ((i + 0.5) * (xr[1] - xr[0])) / nx : (meds[c] as number);
    }
    const m = marginal(await predict(model, X, { space: "original" }), 0);
    const values = new Float64Array(nx * ny);
    for (let i = 0; i < nx; i++) {
      const dens = densityAt(rowMixture(m, i), yGrid);
      for (let q = 0; q < ny; q++) values[q * nx + i] = dens[q] as number;
    }
    const name = data.xNames[j] ?? `x${j}`;
    const others = data.xNames.filter((_, c) => c !== j);
    const idx = subsample(data.n, 600);
    const svg = heatmapChart(
      {
        title: `p(${yName} | ${name})${others.length ? `, ${others.length > 3 ? `${others.length} other inputs` : others.join(", ")} at median` : ""} - ${title}`,
        xLabel: name,
        yLabel: yName,
      },
      { values, nx, ny, xRange: xr, yRange: yr },
      [
        {
          name: "data (projected)",
          kind: "points",
          x: idx.map((i) => (xCols[j] as Float64Array)[i] as number),
          y: idx.map((i) => ys[i] as number),
          color: "#ffffff",
        },
      ],
    );
    out.push({ input: name, svg });
  }
  return out;
}

/** A file-name-safe form of a column name. */
export function fileSafe(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "");
  return s.length ? s.slice(0, 60) : "col";
}

export async function writeRunReport(
  outDir: string,
  result: TrainResult,
  data: Dataset,
  tracker: TrajectoryTracker,
  opts: { png: boolean; plots: boolean; seconds: number },
): Promise<RunSummary> {
  const { model, history } = result;
  const files: string[] = [];
  // the rows the run trained and validated on (a streamed run's report re-splits its in-memory sample)
  const { train, val } = result.split ?? splitData(model.config, data);
  const evalSet = val ?? train;
  const ev = await evaluate(model, evalSet);
  const trainEv = val ? await evaluate(model, train) : ev;
  const summary: RunSummary = {
    stopReason: history.stopReason,
    steps: model.state.step,
    seconds: opts.seconds,
    // trainNll/valNll: the units the model trains in (standardised when the data is); *Original: the data's units.
    nllUnits: data.normalization?.y ? "standardized" : "original",
    trainNll: trainEv.nll,
    ...(val ? { valNll: ev.nll } : {}),
    ...(trainEv.nllOriginal !== undefined ? { trainNllOriginal: trainEv.nllOriginal } : {}),
    ...(val && ev.nllOriginal !== undefined ? { valNllOriginal: ev.nllOriginal } : {}),
    rmse: ev.rmse,
    coverage: { levels: ev.calibration.levels, observed: ev.calibration.coverage },
    ...(history.floorHits ? { sigmaFloor: { sigmaMin: model.config.model.sigmaMin, ...history.floorHits } } : {}),
    ...(data.skippedRows !== undefined ? { skippedRows: data.skippedRows } : {}),
    files,
  };
  if (opts.plots) {
    const k = model.spec.k;
    const tag = `${data.name}: ${model.config.objective}, K=${k} (${model.config.optimizer.type}, lr ${model.config.optimizer.lr}), n=${train.n}${val ? ` + ${val.n} validation` : ""}`;
    const steps = history.steps.filter((s) => Number.isFinite(s.loss));
    const series: Series[] = [];
    if (steps.length) {
      // Running mean over a window so minibatch noise does not hide the trend.
      const w = Math.max(1, Math.floor(steps.length / 100));
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < steps.length; i += w) {
        const chunk = steps.slice(i, i + w);
        xs.push(chunk[chunk.length - 1]!.step);
        ys.push(chunk.reduce((s, r) => s + r.loss, 0) / chunk.length);
      }
      series.push({ name: "train NLL (batch)", x: xs, y: ys });
    }
    const evals = history.evals.filter((e) => e.valNll !== undefined);
    if (evals.length) series.push({ name: "validation NLL", x: evals.map((e) => e.step), y: evals.map((e) => e.valNll as number) });
    const lossUnits = data.normalization?.y ? "NLL per row (standardized units)" : "NLL per row";
    for (const f of await writePlot(join(outDir, "loss"), lineChart({ title: `NLL - ${tag}`, xLabel: "step", yLabel: lossUnits }, series), opts.png))
      files.push(f.slice(outDir.length + 1));
    const short = `${model.config.objective}, K=${k}, n=${train.n}`;
    const dens = await densityPlot(model, data, `learned density - ${data.name}: ${short}`, tracker);
    if (dens) for (const f of await writePlot(join(outDir, "density"), dens, opts.png)) files.push(f.slice(outDir.length + 1));
    else {
      for (const s of await densitySlices(model, data, short)) {
        for (const f of await writePlot(join(outDir, `density-${fileSafe(s.input)}`), s.svg, opts.png)) files.push(f.slice(outDir.length + 1));
      }
    }
    const cal = ev.calibration;
    const which = `${val ? "validation" : "training"} set, n=${evalSet.n}${data.yDim > 1 ? ` rows x ${data.yDim} targets` : ""}`;
    for (const f of await writePlot(
      join(outDir, "calibration"),
      calibrationChart({ title: `calibration of central intervals (${which}) - ${data.yNames.join(", ")}` }, cal.levels, cal.coverage),
      opts.png,
    ))
      files.push(f.slice(outDir.length + 1));
    for (const f of await writePlot(
      join(outDir, "pit"),
      histogramChart(
        {
          title: `PIT histogram (${which}; flat = calibrated) - ${data.yNames.join(", ")}`,
          xLabel: `PIT = F(${data.yNames.length === 1 ? data.yNames[0] : "y"} | x)`,
          yLabel: "count",
        },
        cal.pitCounts,
        0,
        1,
        cal.pitCounts.reduce((s, v) => s + v, 0) / cal.pitCounts.length,
      ),
      opts.png,
    ))
      files.push(f.slice(outDir.length + 1));
  }
  files.push(CHECKPOINT_FILE, METRICS_FILE, SUMMARY_FILE, RUN_FILE);
  await writeJson(join(outDir, SUMMARY_FILE), summary);
  return summary;
}
