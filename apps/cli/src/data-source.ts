/**
 * Turns the `<data>` argument into a Dataset: a built-in task name or a
 * CSV / TSV / NPY / JSON-lines file. Every problem is a UsageError naming the
 * file, flag or column, raised before anything is written.
 */
import { existsSync, statSync } from "node:fs";
import { extname } from "node:path";
import {
  applyNormalization,
  builtinNames,
  DataError,
  loadBuiltin,
  loadCsv,
  loadJsonl,
  loadNpy,
  standardize,
  StandardizeError,
  type ColumnRef,
  type Dataset,
  type Normalization,
} from "@ngem/datasets";
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
}

const FILE_KINDS: Record<string, "csv" | "npy" | "jsonl"> = { ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".npy": "npy", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl" };

function parseCols(flag: string, v: string | undefined): ColumnRef[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`${flag}: expected a comma-separated list of column names or 0-based indices, got "${v}"`);
  return parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

export function isBuiltin(source: string): boolean {
  return builtinNames.includes(source as (typeof builtinNames)[number]);
}

/** Loads `<data>`; returns the data set as trained on (standardised when asked) and its recipe. */
export async function loadData(source: string, args: DataArgs): Promise<{ data: Dataset; recipe: DataRecipe }> {
  const builtin = isBuiltin(source);
  const std = args.standardize ?? !builtin;
  const recipe: DataRecipe = {
    source,
    builtin,
    standardize: std,
    ...(args.xCols !== undefined ? { xCols: args.xCols } : {}),
    ...(args.yCols !== undefined ? { yCols: args.yCols } : {}),
    ...(args.n !== undefined ? { n: args.n } : {}),
    ...(args.dataSeed !== undefined ? { dataSeed: args.dataSeed } : {}),
  };
  let data: Dataset;
  try {
    data = await loadRaw(source, args);
  } catch (err) {
    if (err instanceof DataError) throw new UsageError(err.message);
    throw err;
  }
  if (data.n < 1) throw new UsageError(`${source}: no data rows`);
  if (!std) return { data, recipe };
  try {
    return { data: standardize(data), recipe };
  } catch (err) {
    throw asUsageError(err, source);
  }
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
  if (kind === "csv") return loadCsv(source, cols);
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
    ...(override.xCols ?? recipe?.xCols ? { xCols: override.xCols ?? recipe?.xCols } : {}),
    ...(override.yCols ?? recipe?.yCols ? { yCols: override.yCols ?? recipe?.yCols } : {}),
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
