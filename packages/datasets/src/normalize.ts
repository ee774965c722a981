/** Standardisation (z-scores per column) with the statistics kept for the inverse transform. */
import { ShapeError } from "@ngem/core";
import type { Dataset, Normalization } from "./types.js";

/**
 * Column means and standard deviations (population, divisor n) of `data`
 * [n, dim]. A constant column (std 0, or below 1e-12 relative to its scale)
 * stores std 1, so its z-score is v - mean. Empty data (n = 0) gives mean 0, std 1.
 */
export function computeNormalization(data: ArrayLike<number>, n: number, dim: number): Normalization {
  if (data.length !== n * dim) throw new ShapeError("data", `expected length n * dim = ${n * dim}, got ${data.length}`);
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim).fill(1);
  if (n === 0) return { mean, std };
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (data[i * dim + d] as number);
  for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) / n;
  const ss = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const e = (data[i * dim + d] as number) - (mean[d] as number);
      ss[d] = (ss[d] as number) + e * e;
    }
  }
  for (let d = 0; d < dim; d++) {
    const s = Math.sqrt((ss[d] as number) / n);
    const scale = Math.max(1, Math.abs(mean[d] as number));
    std[d] = s > 1e-12 * scale ? s : 1;
  }
  return { mean, std };
}

/** (v - mean) / std per column; returns a new array. */
export function applyNormalization(data: ArrayLike<number>, norm: Normalization): Float64Array {
  const dim = norm.mean.length;
  if (norm.std.length !== dim) throw new ShapeError("norm.std", `expected length ${dim} (as norm.mean), got ${norm.std.length}`);
  if (dim === 0 ? data.length !== 0 : data.length % dim !== 0) {
    throw new ShapeError("data", `expected a multiple of ${dim} values (columns of the normalization), got ${data.length}`);
  }
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const d = i % dim;
    out[i] = ((data[i] as number) - (norm.mean[d] as number)) / (norm.std[d] as number);
  }
  return out;
}

/** Inverse of {@link applyNormalization}: v = z * std + mean per column; returns a new array. */
export function unstandardize(data: ArrayLike<number>, norm: Normalization): Float64Array {
  const dim = norm.mean.length;
  if (dim === 0 ? data.length !== 0 : data.length % dim !== 0) {
    throw new ShapeError("data", `expected a multiple of ${dim} values (columns of the normalization), got ${data.length}`);
  }
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const d = i % dim;
    out[i] = (data[i] as number) * (norm.std[d] as number) + (norm.mean[d] as number);
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
  const nx = doX ? (opts.stats?.x ?? computeNormalization(ds.x, ds.n, ds.xDim)) : undefined;
  const ny = doY ? (opts.stats?.y ?? computeNormalization(ds.y, ds.n, ds.yDim)) : undefined;
  if (nx && nx.mean.length !== ds.xDim) throw new ShapeError("stats.x", `expected ${ds.xDim} columns, got ${nx.mean.length}`);
  if (ny && ny.mean.length !== ds.yDim) throw new ShapeError("stats.y", `expected ${ds.yDim} columns, got ${ny.mean.length}`);
  const normalization: { x?: Normalization; y?: Normalization } = { ...ds.normalization };
  if (nx) normalization.x = nx;
  if (ny) normalization.y = ny;
  return {
    ...ds,
    x: nx ? applyNormalization(ds.x, nx) : ds.x,
    y: ny ? applyNormalization(ds.y, ny) : ds.y,
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
