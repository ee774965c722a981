/**
 * Standardisation (z-scores per column) with the statistics kept for the inverse transform.
 *
 * Scale-invariant: each column is first scaled by an exact power of two that
 * brings its largest |value| into [0.5, 1], so sums and squares can neither
 * overflow (values near 1e308) nor underflow (values near 1e-300); the mean
 * and the (corrected two-pass) standard deviation are computed there and
 * scaled back exactly. Multiplying a column by c multiplies its mean and std by
 * c (to rounding) and leaves its z-scores unchanged. "Constant" is relative too:
 * std <= 1e-12 x max|v|.
 */
import { CONSTANT_COLUMN_RTOL, exponentOf, ldexp, MIN_NORMAL_FLOAT64, ShapeError, zScore } from "@ngem/core";
import { DataError } from "./errors.js";
import type { Dataset, Normalization } from "./types.js";

export { CONSTANT_COLUMN_RTOL };

/** Smallest positive normal float64; a std below it has lost precision (subnormal). */
const MIN_NORMAL = MIN_NORMAL_FLOAT64;

/**
 * A column that cannot be standardised in float64, or a value whose z-score
 * is not representable: a {@link DataError} naming the column (and the row,
 * 0-based, when one value is at fault).
 */
export class StandardizeError extends DataError {
  override readonly name = "StandardizeError";
  constructor(
    file: string,
    /** Column name (or `"column <i>"` when names are unknown). */
    readonly columnName: string,
    /** 0-based column index within its part (x or y). */
    readonly columnIndex: number,
    /** 0-based row, when one value is at fault. */
    readonly row: number | undefined,
    detail: string,
    line?: number,
  ) {
    super({ file, field: columnName, fieldLabel: "column", ...(line !== undefined ? { line } : {}) }, detail);
  }
}

/** Where statistics or z-scores come from, for error messages. */
export interface ColumnContext {
  /** File (or data set name) for messages; default `"<data>"`. */
  readonly file?: string;
  /** Column names, one per column; default `c0, c1, ...`. */
  readonly columns?: readonly string[];
  /** 1-based source line of each row (see {@link Dataset.rowLines}), so messages name the line. */
  readonly rowLines?: ArrayLike<number>;
}

function colName(ctx: ColumnContext | undefined, d: number): string {
  return ctx?.columns?.[d] ?? `c${d}`;
}

function lineOf(ctx: ColumnContext | undefined, row: number): number | undefined {
  const l = ctx?.rowLines?.[row];
  return l === undefined || l === 0 ? undefined : l;
}

/**
 * Column means and standard deviations (population, divisor n) of `data`
 * [n, dim], computed scale-invariantly (see the module comment).
 *
 * Edge cases: empty data (n = 0) gives mean 0, std 1. An all-zero column gives
 * mean 0, std 1. A constant column (std <= {@link CONSTANT_COLUMN_RTOL} x
 * max|v|) stores std = max|v|, so its z-scores are ~0 whatever its scale.
 * Throws {@link StandardizeError} for a non-finite value (row named) and for a
 * column whose spread is below the normal float64 range (std < 2.2e-308, e.g.
 * values ~1e-310): its z-scores would have lost precision.
 */
export function computeNormalization(data: ArrayLike<number>, n: number, dim: number, ctx?: ColumnContext): Normalization {
  if (data.length !== n * dim) throw new ShapeError("data", `expected length n * dim = ${n * dim}, got ${data.length}`);
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim).fill(1);
  if (n === 0) return { mean, std };
  const file = ctx?.file ?? "<data>";
  for (let d = 0; d < dim; d++) {
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = data[i * dim + d] as number;
      if (!Number.isFinite(v)) {
        throw new StandardizeError(file, colName(ctx, d), d, i, `row ${i + 1}: ${v} is not a finite number`, lineOf(ctx, i));
      }
      const a = Math.abs(v);
      if (a > max) max = a;
    }
    if (max === 0) continue; // all zeros: mean 0, std 1
    const e = exponentOf(max);
    const sc = ldexp(1, -e);
    const direct = sc > 0 && Number.isFinite(sc); // else 2^-e is outside the float64 range: scale in steps
    const scaleDown = (v: number): number => (direct ? v * sc : ldexp(v, -e));
    // pass 1: mean of the scaled column (|u| < 1, so no overflow), Neumaier-compensated
    let sum = 0;
    let comp = 0;
    for (let i = 0; i < n; i++) {
      const u = scaleDown(data[i * dim + d] as number);
      const t = sum + u;
      comp += Math.abs(sum) >= Math.abs(u) ? sum - t + u : u - t + sum;
      sum = t;
    }
    const mu = (sum + comp) / n;
    // pass 2: corrected two-pass variance, sum (u - mu)^2 - (sum (u - mu))^2 / n
    let ss = 0;
    let sd = 0;
    for (let i = 0; i < n; i++) {
      const c = scaleDown(data[i * dim + d] as number) - mu;
      ss += c * c;
      sd += c;
    }
    const varU = Math.max(0, (ss - (sd * sd) / n) / n);
    const sU = Math.sqrt(varU);
    const maxU = ldexp(max, -e);
    mean[d] = ldexp(mu, e);
    if (sU <= CONSTANT_COLUMN_RTOL * maxU) {
      std[d] = max; // constant relative to its magnitude
      continue;
    }
    const s = ldexp(sU, e);
    if (!(s >= MIN_NORMAL)) {
      throw new StandardizeError(
        file,
        colName(ctx, d),
        d,
        undefined,
        `cannot be standardised in float64: its standard deviation ${s} is below the normal range (max |value| ${max}); rescale the column (e.g. multiply by 1e300)`,
      );
    }
    std[d] = s;
  }
  return { mean, std };
}

/**
 * (v - mean) / std per column; returns a new array. Throws
 * {@link StandardizeError} naming the column and row when a value is not
 * finite or its z-score is not representable (|z| > 1.8e308, e.g. 1e300 with
 * a stored std of 1e-10).
 */
export function applyNormalization(data: ArrayLike<number>, norm: Normalization, ctx?: ColumnContext): Float64Array {
  const dim = norm.mean.length;
  if (norm.std.length !== dim) throw new ShapeError("norm.std", `expected length ${dim} (as norm.mean), got ${norm.std.length}`);
  if (dim === 0 ? data.length !== 0 : data.length % dim !== 0) {
    throw new ShapeError("data", `expected a multiple of ${dim} values (columns of the normalization), got ${data.length}`);
  }
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const d = i % dim;
    const v = data[i] as number;
    const z = zScore(v, norm.mean[d] as number, norm.std[d] as number);
    if (!Number.isFinite(z)) {
      const row = (i - d) / dim;
      const why = Number.isFinite(v)
        ? `row ${row + 1}: the value ${v} is not representable after standardisation ((v - ${norm.mean[d]}) / ${norm.std[d]} overflows float64)`
        : `row ${row + 1}: ${v} is not a finite number`;
      throw new StandardizeError(ctx?.file ?? "<data>", colName(ctx, d), d, row, why, lineOf(ctx, row));
    }
    out[i] = z;
  }
  return out;
}

/**
 * Inverse of {@link applyNormalization}: v = z * std + mean per column; returns
 * a new array. A result beyond the float64 range is +-Infinity (callers that
 * must not return one check it).
 */
export function unstandardize(data: ArrayLike<number>, norm: Normalization): Float64Array {
  const dim = norm.mean.length;
  if (dim === 0 ? data.length !== 0 : data.length % dim !== 0) {
    throw new ShapeError("data", `expected a multiple of ${dim} values (columns of the normalization), got ${data.length}`);
  }
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const d = i % dim;
    const z = data[i] as number;
    const s = norm.std[d] as number;
    const m = norm.mean[d] as number;
    const v = z * s + m;
    // z * s may overflow while z * s + m does not (opposite signs): halve and double
    out[i] = Number.isFinite(v) || !Number.isFinite(z) ? v : (z * (s * 0.5) + m * 0.5) * 2;
  }
  return out;
}

/** Options of {@link standardize}. */
export interface StandardizeOptions {
  /** Standardise x (default true; ignored when xDim = 0). */
  readonly x?: boolean;
  /** Standardise y (default true). */
  readonly y?: boolean;
  /**
   * Statistics to apply instead of computing them from this data set: pass a
   * training set's `normalization` to transform its validation/test sets alike.
   */
  readonly stats?: { readonly x?: Normalization; readonly y?: Normalization };
}

/**
 * Returns a standardised copy of `ds` whose `normalization` holds the
 * statistics used (merged with any already there), so predictions can be
 * mapped back with {@link unstandardize}. Standardising an already
 * standardised part again is refused (it would lose the original statistics).
 */
export function standardize(ds: Dataset, opts: StandardizeOptions = {}): Dataset {
  const doX = (opts.x ?? true) && ds.xDim > 0;
  const doY = opts.y ?? true;
  if (doX && ds.normalization?.x) throw new ShapeError("x", `${ds.name}: already standardised; unstandardize first or pass x: false`);
  if (doY && ds.normalization?.y) throw new ShapeError("y", `${ds.name}: already standardised; unstandardize first or pass y: false`);
  const cx: ColumnContext = { file: ds.name, columns: ds.xNames, ...(ds.rowLines ? { rowLines: ds.rowLines } : {}) };
  const cy: ColumnContext = { file: ds.name, columns: ds.yNames, ...(ds.rowLines ? { rowLines: ds.rowLines } : {}) };
  const nx = doX ? (opts.stats?.x ?? computeNormalization(ds.x, ds.n, ds.xDim, cx)) : undefined;
  const ny = doY ? (opts.stats?.y ?? computeNormalization(ds.y, ds.n, ds.yDim, cy)) : undefined;
  if (nx && nx.mean.length !== ds.xDim) throw new ShapeError("stats.x", `expected ${ds.xDim} columns, got ${nx.mean.length}`);
  if (ny && ny.mean.length !== ds.yDim) throw new ShapeError("stats.y", `expected ${ds.yDim} columns, got ${ny.mean.length}`);
  const normalization: { x?: Normalization; y?: Normalization } = { ...ds.normalization };
  if (nx) normalization.x = nx;
  if (ny) normalization.y = ny;
  return {
    ...ds,
    x: nx ? applyNormalization(ds.x, nx, cx) : ds.x,
    y: ny ? applyNormalization(ds.y, ny, cy) : ds.y,
    normalization,
  };
}

/** Maps a standardised data set back to original units (drops `normalization`). */
export function unstandardizeDataset(ds: Dataset): Dataset {
  const nx = ds.normalization?.x;
  const ny = ds.normalization?.y;
  const { normalization: _drop, ...rest } = ds;
  return { ...rest, x: nx ? unstandardize(ds.x, nx) : ds.x, y: ny ? unstandardize(ds.y, ny) : ds.y };
}
