/** Data validation, the seeded train/validation split, batches and a data fingerprint. */
import { NgemError, ShapeError, type Batch } from "@ngem/core";
import type { TrainData } from "./types.js";

/** Checks the shape and finiteness of a {@link TrainData}; names the field at fault. */
export function validateData(data: TrainData, what = "data"): void {
  if (data == null || typeof data !== "object") throw new ShapeError(what, "expected { n, xDim, yDim, x, y }");
  const { n, xDim, yDim } = data;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${what}.n`, `expected an integer >= 1, got ${String(n)}`);
  if (!Number.isInteger(xDim) || xDim < 0) throw new ShapeError(`${what}.xDim`, `expected an integer >= 0, got ${String(xDim)}`);
  if (!Number.isInteger(yDim) || yDim < 1) throw new ShapeError(`${what}.yDim`, `expected an integer >= 1, got ${String(yDim)}`);
  if (!(data.y instanceof Float64Array) || data.y.length !== n * yDim) {
    throw new ShapeError(
      `${what}.y`,
      `expected a Float64Array of shape [n, yDim] = [${n}, ${yDim}] (length ${n * yDim}), got length ${String(data.y?.length)}`,
    );
  }
  if (xDim > 0 && (!(data.x instanceof Float64Array) || data.x.length !== n * xDim)) {
    throw new ShapeError(
      `${what}.x`,
      `expected a Float64Array of shape [n, xDim] = [${n}, ${xDim}] (length ${n * xDim}), got length ${String(data.x?.length)}`,
    );
  }
  for (const [name, arr] of [
    ["y", data.y],
    ["x", xDim > 0 ? data.x : new Float64Array(0)],
  ] as const) {
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i])) throw new ShapeError(`${what}.${name}`, `non-finite value ${arr[i]} at flat index ${i}`);
    }
  }
}

/** Rows `rows` of `data` as a batch (x omitted when xDim = 0). */
export function gatherBatch(data: TrainData, rows: ArrayLike<number>, from = 0, to = rows.length): Batch {
  const n = to - from;
  const y = new Float64Array(n * data.yDim);
  const x = data.xDim > 0 ? new Float64Array(n * data.xDim) : undefined;
  for (let i = 0; i < n; i++) {
    const r = rows[from + i] as number;
    y.set(data.y.subarray(r * data.yDim, (r + 1) * data.yDim), i * data.yDim);
    if (x) x.set(data.x.subarray(r * data.xDim, (r + 1) * data.xDim), i * data.xDim);
  }
  return x ? { n, x, y } : { n, y };
}

/** A subset of rows as a new TrainData (normalization carried over). */
export function subset(data: TrainData, rows: ArrayLike<number>): TrainData {
  const b = gatherBatch(data, rows);
  return {
    ...(data.name === undefined ? {} : { name: data.name }),
    n: b.n,
    xDim: data.xDim,
    yDim: data.yDim,
    x: (b.x as Float64Array | undefined) ?? new Float64Array(0),
    y: b.y as Float64Array,
    ...(data.normalization ? { normalization: data.normalization } : {}),
  };
}

/**
 * FNV-1a (32-bit) over the shape and the float64 bytes of x and y: a cheap
 * check that `resume` is given the data the checkpoint was trained on.
 */
export function dataFingerprint(data: TrainData): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193) >>> 0;
  };
  mix(new Uint8Array(Float64Array.of(data.n, data.xDim, data.yDim).buffer));
  if (data.xDim > 0) mix(new Uint8Array(data.x.buffer, data.x.byteOffset, data.n * data.xDim * 8));
  mix(new Uint8Array(data.y.buffer, data.y.byteOffset, data.n * data.yDim * 8));
  return h.toString(16).padStart(8, "0");
}

/** Derives an independent 32-bit seed for stream `stream` of a run seeded with `seed`. */
export function deriveSeed(seed: number, stream: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Data that does not match what a checkpoint was trained on. */
export class DataMismatchError extends NgemError {
  override readonly name = "DataMismatchError";
}
