/**
 * `ngem compare RUN_DIR RUN_DIR...`: the loss curves of several runs in one
 * plot (from each run's metrics.jsonl) and a table of their test metrics,
 * each run scored on its own held-out test rows, or on `--data FILE` when it
 * has none (or when --data is given for all).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import type { Dataset } from "@ngem/datasets";
import { forecastScores, load, type ForecastScores } from "@ngem/trainer";
import { loadDataLike } from "../data-source.js";
import { UsageError } from "../errors.js";
import { registerAllBackends } from "../load-backends.js";
import { svgToPng, writeAtomic } from "../plot/files.js";
import { lineChart, PALETTE, type Series } from "../plot/svg.js";
import { CHECKPOINT_FILE, METRICS_FILE, runBesideCheckpoint } from "../run-dir.js";
import { runTestData, trainingOverlap } from "../test-split.js";
import { fmt } from "./use-model.js";

export interface CompareFlags {
  readonly data?: string;
  readonly json?: boolean;
  readonly plot?: string | false;
  readonly backend?: string;
  readonly xCols?: string;
  readonly yCols?: string;
}

interface Curve {
  readonly step: number[];
  readonly loss: number[];
  readonly valStep: number[];
  readonly valNll: number[];
}

/** Reads metrics.jsonl: the training loss (running mean over ~100 windows) and the validation NLL. */
function readCurve(dir: string): Curve | undefined {
  const p = join(dir, METRICS_FILE);
  if (!existsSync(p)) return undefined;
  const step: number[] = [];
  const loss: number[] = [];
  const valStep: number[] = [];
  const valNll: number[] = [];
  readFileSync(p, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let r: { step?: unknown; loss?: unknown; valNll?: unknown };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        throw new UsageError(`${p}:${i + 1}: not a JSON line (a corrupt metrics file?)`);
      }
      if (typeof r.step !== "number") return;
      if (typeof r.loss === "number" && Number.isFinite(r.loss)) {
        step.push(r.step);
        loss.push(r.loss);
      }
      if (typeof r.valNll === "number" && Number.isFinite(r.valNll)) {
        valStep.push(r.step);
        valNll.push(r.valNll);
      }
    });
  const w = Math.max(1, Math.floor(step.length / 100));
  const s: number[] = [];
  const l: number[] = [];
  for (let i = 0; i < step.length; i += w) {
    const n = Math.min(w, step.length - i);
    s.push(step[i + n - 1]!);
    l.push(loss.slice(i, i + n).reduce((a, v) => a + v, 0) / n);
  }
  return { step: s, loss: l, valStep, valNll };
}

/** Short unique labels: the directory names, with parents added where two collide. */
function labels(dirs: readonly string[]): string[] {
  const abs = dirs.map((d) => resolve(d));
  let depth = 1;
  for (;;) {
    const ls = abs.map((a) => a.split(/[\\/]/).filter(Boolean).slice(-depth).join("/"));
    if (new Set(ls).size === ls.length || depth > 8) return ls;
    depth++;
  }
}

interface Row {
  run: string;
  dir: string;
  k: number;
  objective: string;
  steps: number | null;
  scoredOn: string;
  n: number | null;
  trainingOverlap: number;
  scores: ForecastScores | null;
  note?: string;
}

export async function compareCommand(dirs: string[], flags: CompareFlags): Promise<void> {
  if (dirs.length < 1) throw new UsageError("compare: give at least one run directory");
  for (const d of dirs) {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new UsageError(`compare: ${d}: not a directory`);
    if (!existsSync(join(d, CHECKPOINT_FILE))) throw new UsageError(`compare: ${d}: no ${CHECKPOINT_FILE} there (not an ngem run directory)`);
  }
  const plotPath = flags.plot === false ? undefined : (flags.plot ?? "compare.svg");
  if (plotPath !== undefined && ![".svg", ".png"].includes(extname(plotPath).toLowerCase()))
    throw new UsageError(`--plot ${plotPath}: expected a .svg or .png file name`);
  if (flags.data !== undefined && !existsSync(flags.data)) throw new UsageError(`--data ${flags.data}: no such file`);
  await registerAllBackends();
  const names = labels(dirs);
  const rows: Row[] = [];
  const curves: (Curve | undefined)[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i]!;
    curves.push(readCurve(dir));
    const ckpt = join(dir, CHECKPOINT_FILE);
    let model: Awaited<ReturnType<typeof load>>;
    try {
      model = await load(ckpt, flags.backend ? { backend: flags.backend } : {});
    } catch (err) {
      throw new UsageError(`compare: ${ckpt}: ${(err as Error).message}`);
    }
    const base: Omit<Row, "scoredOn" | "n" | "scores" | "trainingOverlap"> = {
      run: names[i]!,
      dir,
      k: model.spec.k,
      objective: model.config.objective,
      steps: model.state.step,
    };
    try {
      let data: Dataset | undefined;
      let scoredOn: string;
      let overlap = 0;
      const test = await runTestData(dir);
      if (test) {
        data = test.data;
        scoredOn = test.description;
      } else if (flags.data !== undefined) {
        data = await loadDataLike(flags.data, runBesideCheckpoint(ckpt)?.data, model.normalization, {
          ...(flags.xCols !== undefined ? { xCols: flags.xCols } : {}),
          ...(flags.yCols !== undefined ? { yCols: flags.yCols } : {}),
        });
        overlap = trainingOverlap(dir, data);
        scoredOn = `data: ${flags.data}${overlap > 0 ? ` (${overlap} of ${data.n} rows are this run's training rows)` : ""}`;
      } else {
        rows.push({ ...base, scoredOn: "no test rows (train with --test-split, or give --data FILE)", n: null, trainingOverlap: 0, scores: null });
        continue;
      }
      const sc = await forecastScores(model, data);
      rows.push({ ...base, scoredOn, n: sc.n, trainingOverlap: overlap, scores: sc });
    } finally {
      model.dispose();
    }
  }

  let written: string | undefined;
  if (plotPath !== undefined) {
    const series: Series[] = [];
    curves.forEach((c, i) => {
      if (!c) return;
      const color = PALETTE[i % PALETTE.length]!;
      if (c.step.length) series.push({ name: `${names[i]} train`, x: c.step, y: c.loss, color });
      if (c.valStep.length) series.push({ name: `${names[i]} validation`, x: c.valStep, y: c.valNll, color, dashed: true });
    });
    const svg = lineChart(
      { title: `NLL per row (each run's training space) - ${dirs.length} runs`, xLabel: "step", yLabel: "NLL per row (standardized units)" },
      series,
    );
    writeAtomic(plotPath, extname(plotPath).toLowerCase() === ".png" ? await svgToPng(svg) : svg);
    written = plotPath;
  }

  const missing = curves.map((c, i) => (c ? undefined : names[i])).filter((v): v is string => v !== undefined);
  if (flags.json) {
    const out = {
      runs: rows.map((r) => ({
        run: r.run,
        dir: r.dir,
        k: r.k,
        objective: r.objective,
        steps: r.steps,
        scoredOn: r.scoredOn,
        n: r.n,
        trainingOverlap: r.trainingOverlap,
        metrics: r.scores
          ? {
              nll: r.scores.nll,
              nllTotal: r.scores.nllTotal,
              nllStandardized: r.scores.nllStandardized,
              rmse: r.scores.rmseMean.value,
              mae: r.scores.maeMean.value,
              rmseMode: r.scores.rmseMode.value,
              maeMode: r.scores.maeMode.value,
              crps: r.scores.crps.value,
              pinball: Object.fromEntries(r.scores.pinball.map((p) => [String(p.q), p.loss])),
              coverage: Object.fromEntries(r.scores.intervals.map((v) => [String(v.level), v.coverage])),
              intervalWidth: Object.fromEntries(r.scores.intervals.map((v) => [String(v.level), v.width])),
              pitKs: r.scores.pit.ks,
            }
          : null,
      })),
      plot: written ?? null,
      ...(missing.length ? { noMetricsFile: missing } : {}),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const head = ["run", "K", "objective", "steps", "rows", "NLL", "RMSE", "MAE", "CRPS", "cov 90%", "width 90%", "PIT KS"];
  const cells = rows.map((r) => {
    const s = r.scores;
    const i90 = s?.intervals.find((v) => v.level === 0.9);
    return [
      r.run,
      String(r.k),
      r.objective,
      r.steps === null ? "-" : String(r.steps),
      r.n === null ? "-" : String(r.n),
      s ? fmt(s.nll) : "-",
      s ? fmt(s.rmseMean.value) : "-",
      s ? fmt(s.maeMean.value) : "-",
      s ? fmt(s.crps.value) : "-",
      i90 ? `${(100 * i90.coverage).toFixed(1)}%` : "-",
      i90 ? fmt(i90.width) : "-",
      s ? fmt(s.pit.ks) : "-",
    ];
  });
  const widths = head.map((h, j) => Math.max(h.length, ...cells.map((c) => c[j]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, j) => (j === 0 || j === 2 ? v.padEnd(widths[j]!) : v.padStart(widths[j]!)))
      .join("  ")
      .trimEnd();
  const out = [line(head), line(widths.map((w) => "-".repeat(w))), ...cells.map(line), ""];
  out.push("metrics in original units of the targets (NLL: nats per row); rows scored:");
  for (const r of rows) out.push(`  ${r.run}: ${r.scoredOn}`);
  const kinds = new Set(rows.filter((r) => r.scores).map((r) => r.scoredOn));
  if (kinds.size > 1)
    out.push(
      "note: the runs were scored on different row sets (each run's own test rows are the same rows only for the same data, --test-split and seed); compare with care",
    );
  if (written) out.push(`loss curves: ${written}${missing.length ? ` (no ${METRICS_FILE} in ${missing.join(", ")})` : ""}`);
  process.stdout.write(`${out.join("\n")}\n`);
}
