/** Seeded train/validation/test splits, K-fold and the UCI repeated random splits. */
import { Rng, ShapeError, checkInt } from "@ngem/core";
import type { Dataset } from "./types.js";

/** Rows `indices` of `ds`, in that order (copies; keeps names and normalization, and each row's source line). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const m = indices.length;
  const x = new Float64Array(m * ds.xDim);
  const y = new Float64Array(m * ds.yDim);
  for (let r = 0; r < m; r++) {
    const i = indices[r] as number;
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) throw new ShapeError("indices", `expected row indices in [0, ${ds.n - 1}], got ${i} at position ${r}`);
    x.set(ds.x.subarray(i * ds.xDim, (i + 1) * ds.xDim), r * ds.xDim);
    y.set(ds.y.subarray(i * ds.yDim, (i + 1) * ds.yDim), r * ds.yDim);
  }
  const { rowLines: srcLines, ...rest } = ds;
  if (!srcLines) return { ...rest, name, n: m, x, y };
  const rowLines = new Uint32Array(m);
  for (let r = 0; r < m; r++) rowLines[r] = srcLines[indices[r] as number] as number;
  return { ...rest, name, n: m, x, y, rowLines };
}

function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return new Rng(seed).shuffle(p);
}

/** Options of {@link trainValTestSplit}. */
export interface SplitOptions {
  /** Default 0. */
  readonly seed?: number;
  /** Fraction of rows for validation (default 0.1). */
  readonly val?: number;
  /** Fraction of rows for test (default 0.1). */
  readonly test?: number;
}

/** Index sets of a split. */
export interface SplitIndices {
  readonly train: Uint32Array;
  readonly val: Uint32Array;
  readonly test: Uint32Array;
}

/**
 * Seeded random split of row indices: round(val n) validation, round(test n)
 * test, the rest train. Index sets are disjoint, cover [0, n), each sorted.
 */
export function splitIndices(n: number, opts: SplitOptions = {}): SplitIndices {
  checkInt("n", n, 1);
  const fv = opts.val ?? 0.1;
  const ft = opts.test ?? 0.1;
  if (!(fv >= 0 && ft >= 0 && fv + ft < 1)) throw new ShapeError("val/test", `expected fractions >= 0 with val + test < 1, got ${fv} and ${ft}`);
  const p = permutation(n, opts.seed ?? 0);
  const nv = Math.round(fv * n);
  const nt = Math.round(ft * n);
  if (n - nv - nt < 1) throw new ShapeError("n", `${n} rows leave no training row with val ${fv} and test ${ft}`);
  const sort = (a: Uint32Array): Uint32Array => a.sort();
  return {
    test: sort(p.slice(0, nt)),
    val: sort(p.slice(nt, nt + nv)),
    train: sort(p.slice(nt + nv)),
  };
}

/** Seeded train/validation/test split of a data set (see {@link splitIndices}). */
export function trainValTestSplit(ds: Dataset, opts: SplitOptions = {}): { train: Dataset; val: Dataset; test: Dataset } {
  const s = splitIndices(ds.n, opts);
  return {
    train: subset(ds, s.train, `${ds.name}/train`),
    val: subset(ds, s.val, `${ds.name}/val`),
    test: subset(ds, s.test, `${ds.name}/test`),
  };
}

/** One fold: disjoint sorted train and test row indices. */
export interface Fold {
  readonly train: Uint32Array;
  readonly test: Uint32Array;
}

/**
 * K-fold cross-validation on a seeded permutation: the test sets partition
 * [0, n) into k parts whose sizes differ by at most one.
 */
export function kFold(n: number, k: number, seed = 0): Fold[] {
  checkInt("k", k, 2);
  checkInt("n", n, k);
  const p = permutation(n, seed);
  const folds: Fold[] = [];
  for (let f = 0; f < k; f++) {
    const lo = Math.floor((f * n) / k);
    const hi = Math.floor(((f + 1) * n) / k);
    const test = p.slice(lo, hi).sort();
    const train = new Uint32Array(n - (hi - lo));
    train.set(p.subarray(0, lo), 0);
    train.set(p.subarray(hi), lo);
    folds.push({ train: train.sort(), test });
  }
  return folds;
}

/** Options of {@link uciSplits}. */
export interface UciSplitOptions {
  /** Number of random splits (default 20, as in Hernandez-Lobato & Adams 2015). */
  readonly splits?: number;
  /** Test fraction of each split (default 0.1, i.e. 90/10). */
  readonly testFraction?: number;
  /** Base seed; split s uses seed + s (default 0). */
  readonly seed?: number;
}

/**
 * Repeated random train/test splits of the UCI regression protocol
 * (Hernandez-Lobato & Adams 2015): `splits` independent seeded permutations,
 * each with round(testFraction n) test rows and the rest for training.
 * Standardise inside each split with the training statistics
 * (`standardize(train)` then `standardize(test, { stats: train.normalization })`).
 */
export function uciSplits(n: number, opts: UciSplitOptions = {}): Fold[] {
  const splits = opts.splits ?? 20;
  checkInt("splits", splits, 1);
  checkInt("n", n, 2);
  const tf = opts.testFraction ?? 0.1;
  if (!(tf > 0 && tf < 1)) throw new ShapeError("testFraction", `expected a fraction in (0, 1), got ${tf}`);
  const nt = Math.max(1, Math.min(n - 1, Math.round(tf * n)));
  const base = opts.seed ?? 0;
  const out: Fold[] = [];
  for (let s = 0; s < splits; s++) {
    const p = permutation(n, base + s);
    out.push({ test: p.slice(0, nt).sort(), train: p.slice(nt).sort() });
  }
  return out;
}

/** Applies a fold to a data set. */
export function applyFold(ds: Dataset, fold: Fold): { train: Dataset; test: Dataset } {
  return { train: subset(ds, fold.train, `${ds.name}/train`), test: subset(ds, fold.test, `${ds.name}/test`) };
}
