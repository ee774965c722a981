/**
 * Turns the `<data>` argument into a Dataset: a built-in task name or a
 * CSV / TSV / NPY / JSON-lines file. Every problem is a UsageError naming the
 * file, flag or column, raised before anything is written.
 */
import { existsSync, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import {
  applyNormalization,
  builtinNames,
  DataError,
  loadBuiltin,
  loadCsv,
  loadJsonl,
  loadNpy,
  splitIndices,
  standardize,
  subset,
  StandardizeError,
  type ColumnRef,
  type Dataset,
  type Normalization,
} from "@ngem/datasets/node";
import { UsageError } from "./errors.js";

export interface DataArgs {
  /** Input columns (names or 0-based indices), comma separated. */
  readonly xCols?: string;
  /** Target columns (names or 0-based indices), comma separated. */
  readonly yCols?: string;
  /** Rows for a built-in task. */
  readonly n?: number;
  /** Seed for a built-in task's generator. */
  readonly dataSeed?: number;
  /** Standardise x and y (default: true for files, false for built-in tasks). */
  readonly standardize?: boolean;
  /** Missing cells in a CSV: "error" (default, names line and column) or "skip-row". */
  readonly missing?: "error" | "skip-row";
}

/** How a run's test rows were held out (stored in run.json). */
export interface TestRecipe {
  /** Fraction of the rows held out at random (seeded by `seed`). */
  readonly split?: number;
  readonly seed?: number;
  /** A separate test file (absolute path), read with the same columns. */
  readonly file?: string;
}

/** What is needed to load the same data again (stored in run.json for --resume / eval). */
export interface DataRecipe {
  readonly source: string;
  readonly builtin: boolean;
  readonly xCols?: string;
  readonly yCols?: string;
  readonly n?: number;
  readonly dataSeed?: number;
  readonly standardize: boolean;
  readonly missing?: "error" | "skip-row";
  /** Held-out test rows (never seen by training; standardisation statistics come from the training rows only). */
  readonly test?: TestRecipe;
  /** Set for a streamed (out-of-core) run: see commands/train-stream.ts. */
  readonly stream?: StreamRecipe;
}

/** How a streamed run reads its file (stored in run.json). */
export interface StreamRecipe {
  readonly shuffleBuffer: number;
}

/** Seed offset of the test split, so it differs from the validation split of the same --seed. */
const TEST_SEED_OFFSET = 0x7e57;

const FILE_KINDS: Record<string, "csv" | "npy" | "jsonl"> = {
  ".csv": "csv",
  ".tsv": "csv",
  ".txt": "csv",
  ".npy": "npy",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".json": "jsonl",
};

/** A `--x-cols` / `--y-cols` value: comma-separated column names or 0-based indices. */
export function parseCols(flag: string, v: string | undefined): ColumnRef[] | undefined {
  if (v === undefined) return undefined;
  const parts = v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`${flag}: expected a comma-separated list of column names or 0-based indices, got "${v}"`);
  return parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

export function isBuiltin(source: string): boolean {
  return builtinNames.includes(source as (typeof builtinNames)[number]);
}

/**
 * Loads `<data>`; returns the rows to train on (standardised when asked, with
 * statistics of those rows only), the held-out test rows when `test` asks for
 * them (standardised with the training statistics), and the recipe that
 * reloads exactly these rows.
 */
export async function loadData(source: string, args: DataArgs, test?: TestRecipe): Promise<{ data: Dataset; recipe: DataRecipe; test?: Dataset }> {
  const builtin = isBuiltin(source);
  const std = args.standardize ?? !builtin;
  if (test?.split !== undefined && test.file !== undefined) throw new UsageError("--test-split and --test are exclusive; give one");
  const recipe: DataRecipe = {
    source: builtin ? source : resolve(source),
    builtin,
    standardize: std,
    ...(args.xCols !== undefined ? { xCols: args.xCols } : {}),
    ...(args.yCols !== undefined ? { yCols: args.yCols } : {}),
    ...(args.n !== undefined ? { n: args.n } : {}),
    ...(args.dataSeed !== undefined ? { dataSeed: args.dataSeed } : {}),
    ...(args.missing !== undefined ? { missing: args.missing } : {}),
    ...(test?.split !== undefined ? { test: { split: test.split, seed: test.seed ?? 0 } } : {}),
    ...(test?.file !== undefined ? { test: { file: resolve(test.file) } } : {}),
  };
  let data: Dataset;
  try {
    data = await loadRaw(source, args);
  } catch (err) {
    if (err instanceof DataError) throw new UsageError(err.message);
    throw err;
  }
  if (data.n < 1) throw new UsageError(`${source}: no data rows`);
  let testRaw: Dataset | undefined;
  if (recipe.test?.split !== undefined) {
    const f = recipe.test.split;
    const nTest = Math.round(f * data.n);
    if (!(f > 0 && f < 1) || nTest < 1 || data.n - nTest < 2) {
      throw new UsageError(
        `--test-split ${f}: of ${data.n} rows it holds out ${nTest} test rows and leaves ${data.n - nTest} for training; need >= 1 test row and >= 2 training rows`,
      );
    }
    const idx = splitIndices(data.n, { seed: (recipe.test.seed ?? 0) + TEST_SEED_OFFSET, val: 0, test: f });
    testRaw = subset(data, idx.test, `${data.name} (test)`);
    data = subset(data, idx.train);
  } else if (recipe.test?.file !== undefined) {
    const file = recipe.test.file;
    const fileArgs = {
      ...args,
      ...(args.xCols === undefined && args.yCols === undefined ? { xCols: data.xNames.join(","), yCols: data.yNames.join(",") } : {}),
    };
    try {
      testRaw = await loadRaw(file, fileArgs);
    } catch (err) {
      throw new UsageError(`--test ${file}: ${(err as Error).message}`);
    }
    if (testRaw.xDim !== data.xDim || testRaw.yDim !== data.yDim) {
      throw new UsageError(
        `--test ${file}: has ${testRaw.xDim} input and ${testRaw.yDim} target columns, but the training data has ${data.xDim} and ${data.yDim}`,
      );
    }
  }
  if (!std) return { data, recipe, ...(testRaw ? { test: testRaw } : {}) };
  let trained: Dataset;
  try {
    trained = standardize(data);
  } catch (err) {
    throw asUsageError(err, source);
  }
  if (!testRaw) return { data: trained, recipe };
  try {
    return { data: trained, recipe, test: standardize(testRaw, { stats: trained.normalization ?? {} }) };
  } catch (err) {
    throw asUsageError(err, recipe.test?.file ?? source);
  }
}

/** Reloads the data a run recorded (the same training rows, and its test rows). */
export function loadRecipe(r: DataRecipe): Promise<{ data: Dataset; recipe: DataRecipe; test?: Dataset }> {
  return loadData(
    r.source,
    {
      standardize: r.standardize,
      ...(r.xCols !== undefined ? { xCols: r.xCols } : {}),
      ...(r.yCols !== undefined ? { yCols: r.yCols } : {}),
      ...(r.n !== undefined ? { n: r.n } : {}),
      ...(r.dataSeed !== undefined ? { dataSeed: r.dataSeed } : {}),
      ...(r.missing !== undefined ? { missing: r.missing } : {}),
    },
    r.test,
  );
}

/**
 * A DataError from standardising becomes a usage error (exit 2) naming the
 * file as the user gave it, the line when known, and the column; anything else
 * is passed through.
 */
function asUsageError(err: unknown, source: string): unknown {
  if (err instanceof StandardizeError) {
    const at = isBuiltin(source) ? source : `${source}${err.line !== undefined ? `:${err.line}` : ""}`;
    return new UsageError(`${at} (column ${JSON.stringify(err.columnName)}): ${err.detail}`);
  }
  if (err instanceof DataError) return new UsageError(err.message);
  return err;
}

async function loadRaw(source: string, args: DataArgs): Promise<Dataset> {
  if (isBuiltin(source)) {
    if (args.xCols || args.yCols) throw new UsageError(`--x-cols/--y-cols apply to files, not to the built-in task "${source}"`);
    return loadBuiltin(source, { ...(args.n !== undefined ? { n: args.n } : {}), seed: args.dataSeed ?? 0 });
  }
  if (!existsSync(source)) {
    throw new UsageError(`data "${source}": no such file, and not a built-in task (built-in: ${builtinNames.join(", ")})`);
  }
  if (!statSync(source).isFile()) throw new UsageError(`data "${source}": not a regular file`);
  const kind = FILE_KINDS[extname(source).toLowerCase()];
  if (!kind) throw new UsageError(`data "${source}": unknown file type "${extname(source)}"; expected .csv, .tsv, .npy, .jsonl or .json`);
  const x = parseCols("--x-cols", args.xCols);
  const y = parseCols("--y-cols", args.yCols);
  const cols = { ...(x ? { x } : {}), ...(y ? { y } : {}) };
  if (kind === "csv") return loadCsv(source, { ...cols, ...(args.missing ? { missing: args.missing } : {}) });
  if (args.missing === "skip-row")
    throw new UsageError(`--missing skip-row: supported for CSV files; "${source}" is ${kind === "npy" ? "NPY (no missing cells)" : "JSON lines"}`);
  if (kind === "npy") return loadNpy(source, cols);
  return loadJsonl(source, cols);
}

/**
 * Usage error (exit 2) naming the row, line and column when a value of `data`
 * cannot be standardised with the stored statistics (its z-score overflows).
 */
export function checkStandardizable(
  source: string,
  data: Pick<Dataset, "x" | "n" | "xDim" | "xNames" | "rowLines">,
  normalization: { readonly x?: Normalization },
): void {
  if (!normalization.x || data.xDim === 0) return;
  try {
    applyNormalization(data.x, normalization.x, { file: source, columns: data.xNames, ...(data.rowLines ? { rowLines: data.rowLines } : {}) });
  } catch (err) {
    throw asUsageError(err, source);
  }
}

/** Loads evaluation data the way a run was trained: same columns, and the run's stored normalisation. */
export async function loadDataLike(
  source: string,
  recipe: DataRecipe | undefined,
  normalization: { readonly x?: Normalization; readonly y?: Normalization } | undefined,
  override: DataArgs,
): Promise<Dataset> {
  const args: DataArgs = {
    ...((override.xCols ?? recipe?.xCols) ? { xCols: override.xCols ?? recipe?.xCols } : {}),
    ...((override.yCols ?? recipe?.yCols) ? { yCols: override.yCols ?? recipe?.yCols } : {}),
    ...(override.n !== undefined ? { n: override.n } : {}),
    ...(override.dataSeed !== undefined ? { dataSeed: override.dataSeed } : {}),
  };
  let raw: Dataset;
  try {
    raw = await loadRaw(source, args);
  } catch (err) {
    if (err instanceof DataError) throw new UsageError(err.message);
    throw err;
  }
  if (!normalization) return raw;
  const lines = raw.rowLines ? { rowLines: raw.rowLines } : {};
  try {
    return {
      ...raw,
      x: normalization.x && raw.xDim > 0 ? applyNormalization(raw.x, normalization.x, { file: source, columns: raw.xNames, ...lines }) : raw.x,
      y: normalization.y ? applyNormalization(raw.y, normalization.y, { file: source, columns: raw.yNames, ...lines }) : raw.y,
      normalization,
    };
  } catch (err) {
    throw asUsageError(err, source);
  }
}
