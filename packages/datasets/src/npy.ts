/**
 * NPY reader (NumPy's .npy, versions 1.0 / 2.0 / 3.0): little-endian float32
 * or float64, C order, 1-D or 2-D. x and y come from one 2-D array by column
 * selection ({@link loadNpy}) or from two files ({@link loadNpyPair}).
 */
import { resolveColumns, type ColumnRef } from "./columns.js";
import { DataError } from "./errors.js";
import type { Dataset } from "./types.js";

/** A decoded NPY array (always float64 here). */
export interface NpyArray {
  readonly descr: "<f4" | "<f8";
  readonly shape: readonly number[];
  /** C-order values. */
  readonly data: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Decodes NPY bytes (a `Uint8Array`, or an `ArrayBuffer` from `file.arrayBuffer()`). `file` names the source in errors. */
export function parseNpy(input: Uint8Array | ArrayBuffer, file = "<bytes>"): NpyArray {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length === 0) throw new DataError({ file }, "empty file: expected the NPY magic \\x93NUMPY");
  for (let i = 0; i < 6; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new DataError({ file, field: "magic", byteOffset: i }, "not an NPY file: expected the magic string \\x93NUMPY at byte 0");
    }
  }
  if (bytes.length < 10) throw new DataError({ file, field: "version", byteOffset: 6 }, "truncated header: expected a version and header length");
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError({ file, field: "version", byteOffset: 8 }, "truncated header: expected a 4-byte header length");
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new DataError({ file, field: "version", byteOffset: 6 }, `unsupported NPY version ${major}.${bytes[7]}: expected 1.0, 2.0 or 3.0`);
  }
  if (bytes.length < start + headerLen) {
    throw new DataError({ file, field: "header", byteOffset: bytes.length }, `truncated header: expected ${headerLen} header bytes, the file ends first`);
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (descr === undefined) throw new DataError({ file, field: "descr" }, `expected a 'descr' entry in the header, got ${JSON.stringify(header.trim())}`);
  if (descr !== "<f4" && descr !== "<f8") {
    throw new DataError({ file, field: "descr" }, `unsupported dtype '${descr}': expected '<f4' (float32) or '<f8' (float64), little-endian`);
  }
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  if (fortran === undefined) throw new DataError({ file, field: "fortran_order" }, "expected a 'fortran_order' entry (True or False) in the header");
  if (fortran === "True")
    throw new DataError(
      { file, field: "fortran_order" },
      "Fortran-order arrays are not supported: expected fortran_order False (C order; save with np.ascontiguousarray)",
    );
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new DataError({ file, field: "shape" }, "expected a 'shape' tuple in the header");
  const parts = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((s) => Number(s));
  if (parts.some((s) => !/^\d+$/.test(s))) throw new DataError({ file, field: "shape" }, `expected a tuple of non-negative integers, got (${shapeText})`);
  const count = shape.reduce((p, v) => p * v, 1);
  const size = descr === "<f8" ? 8 : 4;
  const off = start + headerLen;
  const need = off + count * size;
  if (bytes.length < need) {
    throw new DataError(
      { file, field: "data", byteOffset: bytes.length },
      `truncated data: shape (${shape.join(", ")}) of ${descr} needs ${need} bytes, the file has ${bytes.length}`,
    );
  }
  if (bytes.length > need) {
    throw new DataError(
      { file, field: "data", byteOffset: need },
      `${bytes.length - need} unexpected trailing bytes after the data of shape (${shape.join(", ")})`,
    );
  }
  const data = new Float64Array(count);
  if (size === 8) for (let i = 0; i < count; i++) data[i] = view.getFloat64(off + 8 * i, true);
  else for (let i = 0; i < count; i++) data[i] = view.getFloat32(off + 4 * i, true);
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(data[i] as number)) {
      throw new DataError({ file, field: "data", byteOffset: off + size * i }, `expected finite values, got ${data[i]} at flat index ${i}`);
    }
  }
  return { descr, shape, data };
}

/** Encodes a float64/float32 C-order array as NPY 1.0 bytes (to write fixtures or export). */
export function encodeNpy(shape: readonly number[], data: ArrayLike<number>, descr: "<f4" | "<f8" = "<f8"): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += `${" ".repeat((64 - (total % 64)) % 64)}\n`;
  const size = descr === "<f8" ? 8 : 4;
  const out = new Uint8Array(10 + header.length + data.length * size);
  out.set(MAGIC, 0);
  out[6] = 1;
  const v = new DataView(out.buffer);
  v.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const off = 10 + header.length;
  for (let i = 0; i < data.length; i++) {
    if (size === 8) v.setFloat64(off + 8 * i, data[i] as number, true);
    else v.setFloat32(off + 4 * i, data[i] as number, true);
  }
  return out;
}

function as2d(a: NpyArray, file: string): [number, number] {
  if (a.shape.length === 1) return [a.shape[0] as number, 1];
  if (a.shape.length === 2) return [a.shape[0] as number, a.shape[1] as number];
  throw new DataError({ file, field: "shape" }, `expected a 1-D or 2-D array, got shape (${a.shape.join(", ")})`);
}

/** Options of {@link loadNpy}. */
export interface NpyOptions {
  /** Input columns by index (or name `c<i>`). Default: every column not in `y`. */
  readonly x?: readonly ColumnRef[];
  /** Target columns. Default: the last column. */
  readonly y?: readonly ColumnRef[];
  readonly name?: string;
}

/** Builds a Dataset from one 2-D NPY array by column selection (columns are named c0, c1, ...). */
export function npyToDataset(a: NpyArray, opts: NpyOptions = {}, file = "<npy>"): Dataset {
  const [n, m] = as2d(a, file);
  if (n === 0) throw new DataError({ file, field: "shape" }, "expected at least one row, got shape with 0 rows");
  const names = Array.from({ length: m }, (_, i) => `c${i}`);
  const sel = resolveColumns(names, opts.x, opts.y);
  if ("error" in sel) throw new DataError({ file, field: sel.field || "shape" }, sel.error);
  const x = new Float64Array(n * sel.x.length);
  const y = new Float64Array(n * sel.y.length);
  for (let i = 0; i < n; i++) {
    sel.x.forEach((c, s) => (x[i * sel.x.length + s] = a.data[i * m + c] as number));
    sel.y.forEach((c, s) => (y[i * sel.y.length + s] = a.data[i * m + c] as number));
  }
  return {
    name: opts.name ?? "npy",
    n,
    xDim: sel.x.length,
    yDim: sel.y.length,
    x,
    y,
    xNames: sel.x.map((c) => names[c] as string),
    yNames: sel.y.map((c) => names[c] as string),
  };
}

/** Builds a Dataset from x and y arrays (1-D arrays are single columns); row counts must match. */
export function npyPairToDataset(ax: NpyArray, ay: NpyArray, opts: { name?: string } = {}, xFile = "<x>", yFile = "<y>"): Dataset {
  const [nx, dx] = as2d(ax, xFile);
  const [ny, dy] = as2d(ay, yFile);
  if (nx !== ny) throw new DataError({ file: yFile, field: "shape" }, `expected ${nx} rows (as in ${xFile}), got ${ny}`);
  if (ny === 0) throw new DataError({ file: yFile, field: "shape" }, "expected at least one row, got 0");
  return {
    name: opts.name ?? "npy",
    n: nx,
    xDim: dx,
    yDim: dy,
    x: ax.data,
    y: ay.data,
    xNames: Array.from({ length: dx }, (_, i) => `x${i}`),
    yNames: Array.from({ length: dy }, (_, i) => `y${i}`),
  };
}
