/**
 * `ngem reproduce <experiment> --lr-grid` and `ngem reproduce two-sinusoids --ablations`
 * (issue 19): compare objectives each at its OWN best learning rate, and ablate
 * what the existing options allow (fisherCoords, batch size, task noise).
 *
 * Best lr per (optimizer, objective): the grid lr with the smallest censored
 * median of steps to threshold over seeds (a seed that never reaches the
 * threshold counts as the step budget); ties go to the lower mean final NLL
 * (NaN / infinite counts as +Infinity), then to the smaller lr. The grid always
 * contains the experiment's fixed lrs, so the fixed-lr rows are in it too.
 */
import { join } from "node:path";
import { twoSinusoidsData, twoSinusoidsLogDensity } from "@ngem/datasets";
import { UsageError } from "../errors.js";
import { writeAtomic, writePlot } from "../plot/files.js";
import { lineChart, PALETTE, type Series } from "../plot/svg.js";
import { writeJson } from "../run-dir.js";
import {
  mean,
  median,
  rowStats,
  runContext,
  runOne,
  type Experiment,
  type Objective,
  type OptName,
  type ReproduceFlags,
  type RowStats,
  type RunOverrides,
  type RunResult,
} from "./reproduce.js";

export const SELECTION_RULE =
  "best lr = argmin over the grid of the censored median steps to threshold (a seed that never reaches it counts as the step budget); ties -> lower mean final NLL, then smaller lr";

/** A learning-rate grid on the 1-3-10 ladder (~half-decade, log-spaced) around the fixed lrs: min/10 .. max*10 (capped at 1); quick: c/10, 3c/10, c, 3c with c the middle fixed lr. */
export function lrGridFor(fixed: readonly number[], quick: boolean): number[] {
  const sorted = [...fixed].sort((a, b) => a - b);
  const lo = quick ? (sorted[(sorted.length - 1) >> 1] as number) : (sorted[0] as number);
  const hi = sorted[sorted.length - 1] as number;
  const ladder: number[] = [];
  for (let e = -7; e <= 1; e++) for (const m of [1, 3]) ladder.push(Number((m * 10 ** e).toPrecision(2)));
  const tol = 1 + 1e-9;
  const grid = quick
    ? ladder.filter((v) => v >= lo / 10 / tol && v <= 3 * lo * tol)
    : ladder.filter((v) => v >= lo / 10 / tol && v <= Math.min(1, hi * 10) * tol);
  for (const f of fixed) if (!grid.some((v) => Math.abs(v - f) <= 1e-12 * f) && (!quick || f === lo)) grid.push(f);
  return grid.sort((a, b) => a - b);
}

export interface GridRow extends RowStats {
  arm?: string;
  fixedLr: boolean;
  /** Median over seeds of the mean gradient norm in the first / last 10% of steps (ablations only). */
  gradNormEarly?: number;
  gradNormLate?: number;
  /** Median over seeds of the head-output gradient norm per block at the last probe (ablations only; RunResult.blockNorms). */
  blockNormsLate?: { logits: number; mu: number; scale: number };
}

export interface BestRow extends GridRow {
  /** The lrs of the grid this best was chosen from. */
  grid: number[];
  /** NLL's censored median at its own best lr over this objective's at its own best lr. */
  speedupVsNllBest?: number;
  /** True when NLL's censored median at its best lr is the budget (the ratio is then a lower bound). */
  speedupIsLowerBound?: boolean;
}

const finiteOrInf = (v: number) => (Number.isFinite(v) ? v : Infinity);

/** The selection rule's order: negative when a is better. Exported for the tests' re-derivation. */
export function compareRows(a: GridRow, b: GridRow): number {
  return a.medianStepsCensored - b.medianStepsCensored || finiteOrInf(a.finalMean) - finiteOrInf(b.finalMean) || a.lr - b.lr;
}

function gridRow(rs: RunResult[], budget: number, extra: { arm?: string; fixedLr: boolean; trueModes: boolean; traces?: number[][] }): GridRow {
  const row: GridRow = {
    ...(extra.arm !== undefined ? { arm: extra.arm } : {}),
    ...rowStats(rs, budget, extra.trueModes),
    fixedLr: extra.fixedLr,
  };
  if (extra.traces?.length) {
    const part = (t: number[], late: boolean) => {
      const m = Math.max(1, Math.floor(t.length / 10));
      const s = late ? t.slice(t.length - m) : t.slice(0, m);
      return mean(s.map(finiteOrInf));
    };
    row.gradNormEarly = median(extra.traces.map((t) => part(t, false)));
    row.gradNormLate = median(extra.traces.map((t) => part(t, true)));
  }
  const lasts = rs.map((r) => r.blockNorms?.[r.blockNorms.length - 1]).filter((b) => b !== undefined);
  if (lasts.length) {
    row.blockNormsLate = {
      logits: median(lasts.map((b) => finiteOrInf(b.logits))),
      mu: median(lasts.map((b) => finiteOrInf(b.mu))),
      scale: median(lasts.map((b) => finiteOrInf(b.scale))),
    };
  }
  return row;
}

/** Best row per (arm, optimizer, objective), with speed-ups against NLL's own best. */
export function pickBest(rows: GridRow[], budget: number): BestRow[] {
  const out: BestRow[] = [];
  const keys = [...new Set(rows.map((r) => `${r.arm ?? ""}|${r.optimizer}|${r.objective}`))];
  for (const key of keys) {
    const rs = rows.filter((r) => `${r.arm ?? ""}|${r.optimizer}|${r.objective}` === key);
    const best = [...rs].sort(compareRows)[0] as GridRow;
    out.push({ ...best, grid: rs.map((r) => r.lr).sort((a, b) => a - b) });
  }
  return out.map((b) => withSpeedup(b, out, budget));
}

function withSpeedup(b: BestRow, all: BestRow[], budget: number, nllArm?: string): BestRow {
  const nll = all.find((r) => r.objective === "nll" && r.optimizer === b.optimizer && (r.arm ?? "") === (nllArm ?? b.arm ?? ""));
  if (!nll) return b;
  return {
    ...b,
    speedupVsNllBest: nll.medianStepsCensored / b.medianStepsCensored,
    speedupIsLowerBound: nll.medianStepsCensored >= budget && b.medianStepsCensored < budget,
  };
}

const fmt = (v: number | undefined, d = 3) => (v === undefined ? "-" : Number.isFinite(v) ? v.toFixed(d) : String(v));
function ratio(b: BestRow): string {
  if (b.speedupVsNllBest === undefined) return "-";
  return `${b.speedupIsLowerBound ? ">= " : ""}${b.speedupVsNllBest.toFixed(2)}x`;
}

async function runGrid(
  exp: Experiment,
  flags: ReproduceFlags,
  spec: { optimizers: OptName[]; objectives: readonly Objective[]; seeds: number[]; over: RunOverrides; arm?: string; log: (m: string) => void },
): Promise<{ rows: GridRow[]; runs: (RunResult & { arm?: string; gradNormTrace?: number[] })[] }> {
  const quick = flags.quick === true;
  const budget = quick ? exp.quickSteps : exp.steps;
  const rows: GridRow[] = [];
  const runs: (RunResult & { arm?: string; gradNormTrace?: number[] })[] = [];
  for (const optimizer of spec.optimizers) {
    const fixed = exp.lrs[optimizer] ?? [];
    for (const lr of gridLrsFor(exp, optimizer, quick)) {
      for (const objective of spec.objectives) {
        const rs: RunResult[] = [];
        const traces: number[][] = [];
        for (const seed of spec.seeds) {
          let result: RunResult;
          let gradNorms: number[] = [];
          try {
            const r = await runOne(exp, objective, optimizer, lr, seed, flags, undefined, spec.over);
            r.model.dispose();
            result = r.result;
            gradNorms = r.gradNorms;
          } catch (err) {
            // A divergence that throws counts as a run that never reaches the threshold.
            result = {
              objective,
              optimizer,
              lr,
              seed,
              curveSteps: [],
              curve: [],
              final: NaN,
              stepsToThreshold: null,
              secondsPerStep: NaN,
              stopReason: `error: ${(err as Error).message}`,
            };
          }
          rs.push(result);
          const bin = Math.max(1, Math.min(exp.evalEvery, budget));
          const trace = spec.over.gradTrace ? binned(gradNorms, bin) : undefined;
          if (spec.over.gradTrace) traces.push(gradNorms);
          runs.push({ ...result, ...(spec.arm !== undefined ? { arm: spec.arm } : {}), ...(trace ? { gradNormTrace: trace } : {}) });
        }
        const row = gridRow(rs, budget, {
          ...(spec.arm !== undefined ? { arm: spec.arm } : {}),
          fixedLr: fixed.includes(lr),
          trueModes: exp.trueModes !== undefined,
          traces,
        });
        rows.push(row);
        spec.log(
          `  ${spec.arm ? `${spec.arm.padEnd(18)} ` : ""}${optimizer.padEnd(7)} lr ${String(lr).padEnd(7)} ${objective.padEnd(9)} final ${fmt(row.finalMean)}  reached ${row.reached}/${row.seeds}  censored median ${row.medianStepsCensored}`,
        );
      }
    }
  }
  return { rows, runs };
}

function binned(v: number[], bin: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.length; i += bin) out.push(mean(v.slice(i, i + bin).map(finiteOrInf)));
  return out;
}

/** Quick runs keep Adam and SGD, and SOAP on the MDNs (its rows there are new; ~3 ms/step on the quick models). */
function optimizersFor(exp: Experiment, quick: boolean): OptName[] {
  return (Object.keys(exp.lrs) as OptName[]).filter((o) => !quick || o === "adam" || o === "sgd" || (o === "soap" && exp.model.kind === "mdn"));
}

/** An optimizer's lr grid: the experiment's own full grid if it sets one (not in quick runs), else the ladder. */
export function gridLrsFor(exp: Experiment, optimizer: OptName, quick: boolean): number[] {
  const own = exp.gridLrs?.[optimizer];
  return own && !quick ? [...own] : lrGridFor(exp.lrs[optimizer] ?? [], quick);
}

async function sensitivityFigure(exp: Experiment, rows: GridRow[], optimizer: OptName, base: string, png: boolean): Promise<string[]> {
  const objectives = [...new Set(rows.map((r) => r.objective))];
  const series: Series[] = objectives.map((o, i) => {
    const rs = rows.filter((r) => r.optimizer === optimizer && r.objective === o).sort((a, b) => a.lr - b.lr);
    return { name: o, x: rs.map((r) => Math.log10(r.lr)), y: rs.map((r) => r.medianStepsCensored), color: PALETTE[i % PALETTE.length] as string };
  });
  const svg = lineChart(
    {
      title: `${exp.name}: censored median steps to threshold vs lr (${optimizer})`,
      xLabel: "log10 learning rate",
      yLabel: "steps to threshold (censored median)",
    },
    series,
  );
  return writePlot(base, svg, png);
}

/** `--lr-grid`: every optimizer x objective over an lr grid; each objective reported at its own best lr. */
export async function lrGridOne(exp: Experiment, outDir: string, flags: ReproduceFlags): Promise<void> {
  const { quick, seeds, budget, log, t0 } = runContext(exp, outDir, flags);
  // em equals nll step for step (same gradient values; the fixed-lr tables show identical rows), so the grid leaves it out.
  const objectives = exp.objectives.filter((o) => o !== "em");
  const optimizers = optimizersFor(exp, quick);
  const damping = flags.damping ?? 0;
  // with --damping the files are lr-grid-damping<lambda>.*, so an undamped grid in the same folder is kept
  const base = damping > 0 ? `lr-grid-damping${damping}` : "lr-grid";
  log(`== ${exp.title}: lr grid, ${seeds.length} seeds, ${budget} steps${damping > 0 ? `, ngem / ngem-full damping ${damping}` : ""} -> ${outDir}`);
  const { rows, runs } = await runGrid(exp, flags, { optimizers, objectives, seeds, over: damping > 0 ? { damping } : {}, log });
  const best = pickBest(rows, budget);
  const figures: string[] = [];
  for (const o of optimizers) figures.push(...(await sensitivityFigure(exp, rows, o, join(outDir, `${base}-${o}`), flags.png !== false)));
  const seconds = (Date.now() - t0) / 1000;
  const md = gridMarkdown(exp, rows, best, seeds.length, budget, seconds, flags);
  writeAtomic(join(outDir, `${base}.md`), md);
  const grids = Object.fromEntries(optimizers.map((o) => [o, gridLrsFor(exp, o, quick)]));
  const json = {
    experiment: exp.name,
    kind: "lr-grid",
    damping,
    notes: exp.notes,
    selection: SELECTION_RULE,
    seeds,
    steps: budget,
    threshold: exp.threshold,
    grids,
    rows,
    best,
    seconds,
  };
  await writeJson(join(outDir, `${base}.json`), { ...json, runs });
  if (flags.json) process.stdout.write(`${JSON.stringify(json)}\n`);
  else process.stdout.write(`${md}\nfigures: ${figures.join(", ")}\n`);
}

function gridMarkdown(exp: Experiment, rows: GridRow[], best: BestRow[], seeds: number, budget: number, seconds: number, flags: ReproduceFlags): string {
  const modes = exp.trueModes !== undefined;
  const lines = [
    `### ${exp.title}: each objective at its own best learning rate`,
    "",
    ...exp.notes.map((n) => `- ${n}`),
    `- lr grid (1-3-10 ladder around the fixed lrs): ${[...new Set(rows.map((r) => r.optimizer))].map((o) => `${o} {${[...new Set(rows.filter((r) => r.optimizer === o).map((r) => r.lr))].join(", ")}}`).join("; ")}`,
    `- ${SELECTION_RULE}`,
    `- ${seeds} seeds per setting, ${budget} steps; backend ${flags.backend ?? "wasm"}; ${flags.quick ? "QUICK (reduced) run; " : ""}wall time ${seconds.toFixed(0)} s`,
    ...(flags.damping ? [`- ngem / ngem-full with damping lambda = ${flags.damping} ((F + lambda I)^-1 per Fisher block; NLL rows unchanged)`] : []),
    "",
    `| optimizer | objective | best lr | final NLL (mean +- std) | reached threshold | median steps (reached seeds) | censored median steps | NLL-best / this-best |${modes ? " both modes within 0.1 |" : ""} at the fixed lr(s): reached, censored median |`,
    `|---|---|---|---|---|---|---|---|${modes ? "---|" : ""}---|`,
  ];
  for (const b of best) {
    const fixed = rows
      .filter((r) => r.fixedLr && r.optimizer === b.optimizer && r.objective === b.objective)
      .map((r) => `${r.lr}: ${r.reached}/${r.seeds}, ${r.medianStepsCensored}`)
      .join("; ");
    lines.push(
      `| ${b.optimizer} | ${b.objective} | ${b.lr} | ${fmt(b.finalMean)} +- ${fmt(b.finalStd)} | ${b.reached}/${b.seeds} | ${b.medianSteps ?? "-"} | ${b.medianStepsCensored} | ${ratio(b)} |${modes ? ` ${b.modesRecovered}/${b.seeds} |` : ""} ${fixed || "-"} |`,
    );
  }
  lines.push(
    "",
    "Full grid (censored median steps to threshold; `*` = a fixed lr of the fixed-lr table, `best` = chosen):",
    "",
    `| optimizer | lr | objective | final NLL (mean +- std) | reached | censored median steps |${modes ? " modes |" : ""}`,
    `|---|---|---|---|---|---|${modes ? "---|" : ""}`,
  );
  for (const r of rows) {
    const isBest = best.some((b) => b.optimizer === r.optimizer && b.objective === r.objective && b.lr === r.lr);
    lines.push(
      `| ${r.optimizer} | ${r.lr}${r.fixedLr ? "*" : ""}${isBest ? " best" : ""} | ${r.objective} | ${fmt(r.finalMean)} +- ${fmt(r.finalStd)} | ${r.reached}/${r.seeds} | ${r.medianStepsCensored} |${modes ? ` ${r.modesRecovered}/${r.seeds} |` : ""}`,
    );
  }
  lines.push("");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------
// Ablations

const ABLATION_EXPERIMENTS = ["two-sinusoids", "inverse-sine"];

export function checkAblations(exp: Experiment): void {
  if (!ABLATION_EXPERIMENTS.includes(exp.name))
    throw new UsageError(`reproduce --ablations: available for ${ABLATION_EXPERIMENTS.join(", ")}, not "${exp.name}"`);
}

/** E[-log p(y|x)] of the true two-sinusoids density with noise sd `noise` (seeded Monte Carlo, 200k draws). */
export function twoSinusoidsOptimalNll(noise: number): number {
  const d = twoSinusoidsData(200_000, 424242, noise);
  const lp = twoSinusoidsLogDensity(d.x, d.y, d.n, noise);
  let s = 0;
  for (let i = 0; i < d.n; i++) s -= lp[i] as number;
  return s / d.n;
}

/**
 * E_x[-log N(y; 0, sin(x)^2 + noise^2)] at the best single Gaussian per x (mean 0, matching variance): the
 * expected NLL of the best mode-collapsed (unimodal) fit; a fine grid over x ~ U(-pi, pi).
 */
export function twoSinusoidsCollapsedNll(noise: number): number {
  const m = 200_000;
  let s = 0;
  for (let i = 0; i < m; i++) {
    const x = -Math.PI + ((i + 0.5) / m) * 2 * Math.PI;
    s += 0.5 * Math.log(2 * Math.PI * Math.E * (Math.sin(x) ** 2 + noise * noise));
  }
  return s / m;
}

interface Arm {
  name: string;
  what: string;
  objectives: readonly Objective[];
  over: RunOverrides;
  /** Arm whose NLL rows this arm's nGEM is compared with (fisherCoords does not change NLL). */
  nllFrom?: string;
}

function arms(exp: Experiment, quick: boolean): { arms: Arm[]; notes: string[] } {
  const notes: string[] = [];
  const list: Arm[] = [
    {
      name: "baseline",
      what: `fisherCoords log-sigma, batch ${exp.batchSize}${exp.name === "two-sinusoids" ? ", noise 0.05" : ""}`,
      objectives: ["nll", "ngem"],
      over: {},
    },
    {
      name: "fisherCoords sigma",
      what: "nGEM in the reference code's sigma coordinates (NLL unchanged: compared with the baseline's NLL)",
      objectives: ["ngem"],
      over: { fisherCoords: "sigma" },
      nllFrom: "baseline",
    },
    { name: "batch 128", what: `batch 128 instead of ${exp.batchSize}, same number of steps`, objectives: ["nll", "ngem"], over: { batchSize: 128 } },
  ];
  if (exp.name === "two-sinusoids") {
    const n = quick ? 200 : 1000;
    const opt05 = twoSinusoidsOptimalNll(0.05);
    const opt20 = twoSinusoidsOptimalNll(0.2);
    const col05 = twoSinusoidsCollapsedNll(0.05);
    const col20 = twoSinusoidsCollapsedNll(0.2);
    // Same fraction of the gap from the best mode-collapsed fit to the truth as the baseline's threshold closes.
    const frac = (col05 - exp.threshold) / (col05 - opt05);
    const threshold = col20 - frac * (col20 - opt20);
    notes.push(
      `noise arm: the built-in generator fixes the noise sd at 0.05 (no parameter), so this command draws the same task with sd 0.2 itself (same seeds and draw order). Its threshold closes the same fraction (${frac.toFixed(3)}) of the gap between the best unimodal (mode-collapsed) fit and the true density as the baseline's ${exp.threshold} does: expected NLL of truth / collapsed fit ${opt05.toFixed(3)} / ${col05.toFixed(3)} at sd 0.05, ${opt20.toFixed(3)} / ${col20.toFixed(3)} at sd 0.2, so threshold ${threshold.toFixed(3)}`,
    );
    list.push({
      name: "noise 0.2",
      what: "task noise sd 0.2 instead of 0.05",
      objectives: ["nll", "ngem"],
      over: { data: (seed) => twoSinusoidsData(n, 3000 + seed, 0.2), threshold },
    });
  } else {
    notes.push("no noise arm: the inverse-sine generator fixes its input noise at U(-0.1, 0.1) and has no parameter");
  }
  // Every arm again with two trunks (trunk: "separate": one MLP for the logits, one for the means and scales).
  const separate: Arm[] = list.map((a) => ({
    name: `${a.name}, separate trunks`,
    what: `${a.what}; trunk "separate" (one trunk for the logits, one for the means and scales, same widths)`,
    objectives: a.objectives,
    over: { ...a.over, trunk: "separate" },
    ...(a.nllFrom ? { nllFrom: `${a.nllFrom}, separate trunks` } : {}),
  }));
  // Issue 19: damping (Levenberg-Marquardt lambda) and per-block preconditioning, shared trunk only (NLL rows are the baseline's).
  const extra: Arm[] = [
    ...[10, 100, 1000].map(
      (lambda): Arm => ({
        name: `damping ${lambda}`,
        what: `nGEM with damping lambda = ${lambda}: mu step -rho (y-mu) / (1 + lambda sigma^2), log-sigma step -rho (z^2 - 1) / (2 + lambda)`,
        objectives: ["ngem"],
        over: { damping: lambda },
        nllFrom: "baseline",
      }),
    ),
    {
      name: "ngem-full damping 100",
      what: "nGEM-full with damping lambda = 100 (and its default pi floor)",
      objectives: ["ngem-full"],
      over: { damping: 100 },
      nllFrom: "baseline",
    },
    {
      name: "precondition mu only",
      what: "nGEM's natural step on the means only; EM (= NLL) gradient on the scales",
      objectives: ["ngem"],
      over: { precondition: ["mu"] },
      nllFrom: "baseline",
    },
    {
      name: "precondition scale only",
      what: "nGEM's natural step on the scales only; EM (= NLL) gradient on the means",
      objectives: ["ngem"],
      over: { precondition: ["scale"] },
      nllFrom: "baseline",
    },
    // Issue 19: head-only training - the trunk stays at its random init, so the head's objective cannot act through shared features.
    {
      name: "head-only (trunk frozen)",
      what: 'freeze: "trunk" (only the head layer trains; trunk at its random init; NLL and nGEM both head-only)',
      objectives: ["nll", "ngem"],
      over: { freeze: "trunk" },
    },
  ];
  return { arms: [...list, ...separate, ...extra], notes };
}

/** `--ablations`: nGEM vs NLL (each at its own best lr of the grid) per arm, with gradient-norm summaries and traces. */
export async function ablationsOne(exp: Experiment, outDir: string, flags: ReproduceFlags): Promise<void> {
  checkAblations(exp);
  const { quick, seeds, budget, log, t0 } = runContext(exp, outDir, flags);
  const optimizers: OptName[] = quick ? ["adam"] : (["adam", "sgd"] as OptName[]).filter((o) => exp.lrs[o]);
  const all = arms(exp, quick);
  const notes = all.notes;
  const list = flags.arms === undefined ? all.arms : all.arms.filter((a) => a.name.includes(flags.arms as string));
  if (!list.length) throw new UsageError(`--arms: no ablation arm's name contains "${flags.arms}" (arms: ${all.arms.map((a) => a.name).join("; ")})`);
  if (flags.arms !== undefined && list.some((a) => a.nllFrom && !list.some((b) => b.name === a.nllFrom))) {
    const missing = list.filter((a) => a.nllFrom && !list.some((b) => b.name === a.nllFrom)).map((a) => a.name);
    throw new UsageError(`--arms: ${missing.join("; ")} compare with another arm's NLL rows; pick arms that include it`);
  }
  // with --arms the files are ablations-<text>.*, so the full record in the same folder is kept
  const base = flags.arms === undefined ? "ablations" : `ablations-${flags.arms.replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-+|-+$/g, "")}`;
  log(`== ${exp.title}: ablations${flags.arms === undefined ? "" : ` (arms containing "${flags.arms}")`}, ${seeds.length} seeds, ${budget} steps -> ${outDir}`);
  const rows: GridRow[] = [];
  const runs: (RunResult & { arm?: string; gradNormTrace?: number[] })[] = [];
  for (const arm of list) {
    const r = await runGrid(exp, flags, { optimizers, objectives: arm.objectives, seeds, over: { ...arm.over, gradTrace: true }, arm: arm.name, log });
    rows.push(...r.rows);
    runs.push(...r.runs);
  }
  let best = pickBest(rows, budget);
  best = best.map((b) => {
    const arm = list.find((a) => a.name === b.arm);
    return arm?.nllFrom ? withSpeedup(b, best, budget, arm.nllFrom) : b;
  });
  const figures: string[] = [];
  for (const arm of list)
    for (const o of optimizers)
      figures.push(
        ...(await gradNormFigure(exp, runs, arm.name, o, join(outDir, `gradnorm-${arm.name.replace(/[^A-Za-z0-9.]+/g, "-")}-${o}`), flags.png !== false)),
      );
  const seconds = (Date.now() - t0) / 1000;
  const md = ablationMarkdown(exp, list, notes, rows, best, seeds.length, budget, seconds, flags);
  writeAtomic(join(outDir, `${base}.md`), md);
  const json = {
    experiment: exp.name,
    kind: "ablations",
    notes: [...exp.notes, ...notes],
    arms: list.map((a) => ({ name: a.name, what: a.what, objectives: a.objectives, threshold: a.over.threshold ?? exp.threshold })),
    selection: SELECTION_RULE,
    seeds,
    steps: budget,
    rows,
    best,
    seconds,
  };
  await writeJson(join(outDir, `${base}.json`), { ...json, runs });
  if (flags.json) process.stdout.write(`${JSON.stringify(json)}\n`);
  else process.stdout.write(`${md}\nfigures: ${figures.join(", ")}\n`);
}

async function gradNormFigure(
  exp: Experiment,
  runs: (RunResult & { arm?: string; gradNormTrace?: number[] })[],
  arm: string,
  optimizer: OptName,
  base: string,
  png: boolean,
): Promise<string[]> {
  const lr = (exp.lrs[optimizer] ?? [])[0];
  const series: Series[] = [];
  (["nll", "ngem"] as Objective[]).forEach((o, i) => {
    const rs = runs.filter((r) => r.arm === arm && r.optimizer === optimizer && r.lr === lr && r.objective === o && r.gradNormTrace?.length);
    if (!rs.length) return;
    const len = Math.min(...rs.map((r) => (r.gradNormTrace as number[]).length));
    const bin = Math.max(1, Math.min(exp.evalEvery, exp.steps));
    const y = Array.from({ length: len }, (_, j) => Math.log10(median(rs.map((r) => (r.gradNormTrace as number[])[j] as number))));
    series.push({ name: `${o} (median over seeds)`, x: y.map((_, j) => (j + 1) * bin), y, color: PALETTE[i] as string });
  });
  if (!series.length) return [];
  const svg = lineChart(
    { title: `${exp.name} ${arm}: gradient norm of the objective, ${optimizer} lr ${lr}`, xLabel: "step", yLabel: "log10 grad norm (mean per bin)" },
    series,
  );
  return writePlot(base, svg, png);
}

function ablationMarkdown(
  exp: Experiment,
  list: Arm[],
  notes: string[],
  rows: GridRow[],
  best: BestRow[],
  seeds: number,
  budget: number,
  seconds: number,
  flags: ReproduceFlags,
): string {
  const lines = [
    `### ${exp.title}: ablations (nGEM vs NLL, each at its own best lr)`,
    "",
    ...exp.notes.map((n) => `- ${n}`),
    ...list.map((a) => `- arm "${a.name}": ${a.what}`),
    ...notes.map((n) => `- ${n}`),
    `- ${SELECTION_RULE}; grid per optimizer as in --lr-grid`,
    "- grad norm: global norm of the objective's gradient (nGEM: the preconditioned one) before the optimizer, mean over the first / last 10% of steps, median over seeds, at the best lr",
    `- ${seeds} seeds per setting, ${budget} steps; backend ${flags.backend ?? "wasm"}; ${flags.quick ? "QUICK (reduced) run; " : ""}wall time ${seconds.toFixed(0)} s`,
    "",
    "- head-output grad norms: the gradient each head block sends into the network (logits / mu / log-sigma; the objective's, after damping or partial preconditioning) on a fixed probe of 256 training rows, at the last probe, median over seeds, at the best lr",
    "",
    "| arm | optimizer | objective | best lr | final NLL (mean +- std) | reached | censored median steps | NLL-best / this-best | at the fixed lr: reached, censored median | grad norm early -> late | head-output grad norms, end: logits / mu / log-sigma |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const b of best) {
    const fixedLr = (exp.lrs[b.optimizer] ?? [])[0];
    const fx = rows.find((r) => r.arm === b.arm && r.optimizer === b.optimizer && r.objective === b.objective && r.lr === fixedLr);
    lines.push(
      `| ${b.arm} | ${b.optimizer} | ${b.objective} | ${b.lr} | ${fmt(b.finalMean)} +- ${fmt(b.finalStd)} | ${b.reached}/${b.seeds} | ${b.medianStepsCensored} | ${ratio(b)} | ${fx ? `${fixedLr}: ${fx.reached}/${fx.seeds}, ${fx.medianStepsCensored}` : "-"} | ${fmt(b.gradNormEarly, 3)} -> ${fmt(b.gradNormLate, 4)} | ${b.blockNormsLate ? `${b.blockNormsLate.logits.toPrecision(2)} / ${b.blockNormsLate.mu.toPrecision(2)} / ${b.blockNormsLate.scale.toPrecision(2)}` : "-"} |`,
    );
  }
  lines.push(
    "",
    "Full grid (censored median steps to threshold):",
    "",
    "| arm | optimizer | lr | objective | final NLL | reached | censored median |",
    "|---|---|---|---|---|---|---|",
  );
  for (const r of rows)
    lines.push(
      `| ${r.arm} | ${r.optimizer} | ${r.lr}${r.fixedLr ? "*" : ""} | ${r.objective} | ${fmt(r.finalMean)} | ${r.reached}/${r.seeds} | ${r.medianStepsCensored} |`,
    );
  lines.push("");
  return lines.join("\n");
}
