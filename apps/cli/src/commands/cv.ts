/**
 * `ngem cv <data>`: k-fold cross-validation (`--folds K`) or the UCI protocol
 * (`--protocol uci20`: 20 random 90/10 splits, Hernandez-Lobato & Adams 2015).
 * Each split trains a fresh model with the same flags as `ngem train` on the
 * training rows (standardised with their own statistics) and scores the test
 * rows in original units. Writes nothing unless `--output` is given.
 */
import { kFold, subset, standardize, uciSplits, type Dataset, type Fold } from "@ngem/datasets";
import { evaluate, train } from "@ngem/trainer";
import { readConfigFile } from "../config-file.js";
import { isBuiltin, loadData } from "../data-source.js";
import { UsageError } from "../errors.js";
import { writeAtomic } from "../plot/files.js";
import { buildConfig, ensureBackend, type TrainFlags } from "./train.js";

export interface CvFlags extends TrainFlags {
  folds?: number;
  protocol?: string;
  output?: string;
}

export interface CvResult {
  readonly protocol: string;
  readonly splits: { split: number; nTrain: number; nTest: number; nll: number; rmse: number }[];
  readonly nll: { mean: number; std: number };
  readonly rmse: { mean: number; std: number };
  /** "original" when the metrics are in the data's units. */
  readonly units: "original";
}

function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, std };
}

export async function cvCommand(source: string, flags: CvFlags): Promise<void> {
  if (flags.folds !== undefined && flags.protocol !== undefined) throw new UsageError("--folds and --protocol are exclusive; give one");
  if (flags.protocol !== undefined && flags.protocol !== "uci20") throw new UsageError(`--protocol: expected uci20, got "${flags.protocol}"`);
  const file = flags.config !== undefined ? readConfigFile(flags.config) : undefined;
  const { data: raw } = await loadData(source, { ...flags, standardize: false });
  const std = flags.standardize ?? !isBuiltin(source);
  const seed = flags.seed ?? file?.seed ?? 0;
  const k = flags.folds ?? 5;
  let folds: Fold[];
  let protocol: string;
  if (flags.protocol === "uci20") {
    if (raw.n < 10) throw new UsageError(`--protocol uci20 needs at least 10 rows, got ${raw.n}`);
    folds = uciSplits(raw.n, { splits: 20, testFraction: 0.1, seed });
    protocol = "uci20: 20 random 90/10 train/test splits";
  } else {
    if (raw.n < 2 * k) throw new UsageError(`--folds ${k}: needs at least ${2 * k} rows, got ${raw.n}`);
    folds = kFold(raw.n, k, seed);
    protocol = `${k}-fold cross-validation`;
  }
  const json = flags.json === true;
  const log = (m: string) => {
    if (!json) process.stderr.write(`${m}\n`);
  };
  log(`${protocol} on ${raw.name} (n=${raw.n}, seed ${seed})`);
  const splits: CvResult["splits"] = [];
  let backendChecked = false;
  for (const [i, fold] of folds.entries()) {
    let trainSet: Dataset = subset(raw, fold.train);
    let testSet: Dataset = subset(raw, fold.test);
    if (std) {
      trainSet = standardize(trainSet);
      testSet = standardize(testSet, { stats: trainSet.normalization ?? {} });
    }
    const config = buildConfig(flags, trainSet, file);
    if (!backendChecked) {
      await ensureBackend(config.backend ?? "js");
      backendChecked = true;
    }
    const { model } = await train(config, trainSet, { recordSteps: false });
    const ev = await evaluate(model, testSet);
    model.dispose();
    const row = { split: i + 1, nTrain: trainSet.n, nTest: testSet.n, nll: ev.nllOriginal ?? ev.nll, rmse: ev.rmseOriginal ?? ev.rmse };
    splits.push(row);
    log(`split ${String(row.split).padStart(2)}: train ${row.nTrain}, test ${row.nTest}, test NLL ${row.nll.toFixed(4)}, RMSE ${row.rmse.toPrecision(5)}`);
  }
  const result: CvResult = {
    protocol,
    splits,
    nll: meanStd(splits.map((s) => s.nll)),
    rmse: meanStd(splits.map((s) => s.rmse)),
    units: "original",
  };
  const text = json
    ? `${JSON.stringify(result, null, 2)}\n`
    : `${protocol}, ${splits.length} splits, metrics on the test rows in original units:\n` +
      `  test NLL  ${result.nll.mean.toFixed(4)} +- ${result.nll.std.toFixed(4)}  (per row, mean +- std over splits)\n` +
      `  RMSE      ${result.rmse.mean.toPrecision(5)} +- ${result.rmse.std.toPrecision(4)}  (of the mixture mean)\n`;
  if (flags.output !== undefined) writeAtomic(flags.output, text);
  else process.stdout.write(text);
}
