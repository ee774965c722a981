/**
 * IDX reader (the MNIST / Fashion-MNIST format): magic 0x00 0x00 <type> <ndims>,
 * ndims big-endian uint32 sizes, then the data big-endian in C order.
 * Gzip input (.gz, detected by its magic bytes) is inflated with node:zlib.
 */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { DataError } from "./errors.js";

/** Element types of IDX files. */
export type IdxType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

const TYPES: Record<number, [IdxType, number]> = {
  0x08: ["uint8", 1],
  0x09: ["int8", 1],
  0x0b: ["int16", 2],
  0x0c: ["int32", 4],
  0x0d: ["float32", 4],
  0x0e: ["float64", 8],
};

/** A decoded IDX array. `data` is Uint8Array for uint8 files (no copy to floats), Float64Array otherwise. */
export interface IdxArray {
  readonly type: IdxType;
  readonly shape: readonly number[];
  readonly data: Uint8Array | Float64Array;
}

/** Decodes IDX bytes (gzip or raw). `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file = "<bytes>"): IdxArray {
  if (bytes.length === 0) throw new DataError({ file }, "empty file: expected an IDX header (4 magic bytes)");
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError({ file }, `corrupt or truncated gzip data: ${(e as Error).message}`);
    }
  }
  if (bytes.length < 4) {
    throw new DataError({ file, field: "magic", byteOffset: 0 }, `truncated header: expected 4 magic bytes, got ${bytes.length}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError({ file, field: "magic", byteOffset: 0 }, `expected the IDX magic 0x00 0x00 <type> <ndims>, got 0x${hex(bytes[0])} 0x${hex(bytes[1])}`);
  }
  const code = bytes[2] as number;
  const t = TYPES[code];
  if (!t) {
    throw new DataError({ file, field: "type", byteOffset: 2 }, `unknown element type 0x${hex(code)}: expected 0x08 (uint8), 0x09, 0x0B, 0x0C, 0x0D or 0x0E`);
  }
  const ndims = bytes[3] as number;
  if (ndims < 1) throw new DataError({ file, field: "ndims", byteOffset: 3 }, "expected at least 1 dimension, got 0");
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError(
      { file, field: "shape", byteOffset: bytes.length },
      `truncated header: expected ${headerBytes} bytes for ${ndims} dimension sizes, got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const s = view.getUint32(4 + 4 * d, false);
    shape.push(s);
    count *= s;
  }
  const [type, size] = t;
  const expected = headerBytes + count * size;
  if (bytes.length < expected) {
    throw new DataError(
      { file, field: "data", byteOffset: bytes.length },
      `truncated data: shape [${shape.join(", ")}] of ${type} needs ${expected} bytes, the file has ${bytes.length}`,
    );
  }
  if (bytes.length > expected) {
    throw new DataError(
      { file, field: "data", byteOffset: expected },
      `${bytes.length - expected} unexpected trailing bytes after the data of shape [${shape.join(", ")}]`,
    );
  }
  if (type === "uint8") return { type, shape, data: bytes.slice(headerBytes, expected) };
  const data = new Float64Array(count);
  for (let i = 0, o = headerBytes; i < count; i++, o += size) {
    switch (type) {
      case "int8":
        data[i] = view.getInt8(o);
        break;
      case "int16":
        data[i] = view.getInt16(o, false);
        break;
      case "int32":
        data[i] = view.getInt32(o, false);
        break;
      case "float32":
        data[i] = view.getFloat32(o, false);
        break;
      default:
        data[i] = view.getFloat64(o, false);
    }
  }
  return { type, shape, data };
}

/** Reads an IDX file (optionally gzipped). */
export async function loadIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DataError({ file: path }, `cannot read the file: ${(e as Error).message}`);
  }
  return parseIdx(bytes, path);
}

/** Encodes an array as IDX bytes (big-endian), e.g. to write fixtures. */
export function encodeIdx(type: IdxType, shape: readonly number[], data: ArrayLike<number>): Uint8Array {
  const code = Number(Object.keys(TYPES).find((k) => TYPES[Number(k)]?.[0] === type));
  const size = (TYPES[code] as [IdxType, number])[1];
  const count = shape.reduce((p, v) => p * v, 1);
  if (data.length !== count)
    throw new DataError({ file: "<encodeIdx>", field: "shape" }, `expected ${count} values for shape [${shape.join(", ")}], got ${data.length}`);
  const out = new Uint8Array(4 + 4 * shape.length + count * size);
  const v = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((s, d) => v.setUint32(4 + 4 * d, s, false));
  let o = 4 + 4 * shape.length;
  for (let i = 0; i < count; i++, o += size) {
    const x = data[i] as number;
    if (type === "uint8") v.setUint8(o, x);
    else if (type === "int8") v.setInt8(o, x);
    else if (type === "int16") v.setInt16(o, x, false);
    else if (type === "int32") v.setInt32(o, x, false);
    else if (type === "float32") v.setFloat32(o, x, false);
    else v.setFloat64(o, x, false);
  }
  return out;
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, "0").toUpperCase();
}
