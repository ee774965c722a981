/**
 * A minimal safetensors codec (https://github.com/huggingface/safetensors):
 *
 *     [8 bytes: N, little-endian uint64] [N bytes: UTF-8 JSON header, padded with spaces]
 *     [byte buffer: tensors back to back, little-endian]
 *
 * The header maps each tensor name to `{ "dtype", "shape", "data_offsets": [begin, end] }`
 * (offsets relative to the byte buffer) and may hold `"__metadata__"`, a map
 * of string to string. This writer emits F64 tensors (exact float64 round
 * trip), pads the header so the buffer starts 8-byte aligned, and the reader
 * accepts F64 and F32. Browser-safe (no Node APIs).
 */
import { NgemError, type NamedTensors } from "@ngem/core";

/** A file is not valid safetensors, or not what the reader expected. */
export class CheckpointFormatError extends NgemError {
  override readonly name = "CheckpointFormatError";
}

const DTYPE_BYTES = { F64: 8, F32: 4 } as const;

/** Encodes float tensors (written as F64) and string metadata. */
export function encodeSafetensors(tensors: NamedTensors, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new CheckpointFormatError(`tensor "${name}": shape [${t.shape.join(", ")}] does not match length ${t.data.length}`);
    header[name] = { dtype: "F64", shape: [...t.shape], data_offsets: [offset, offset + 8 * size] };
    offset += 8 * size;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  if (pad) {
    json += " ".repeat(pad);
    hb = enc.encode(json);
  }
  const out = new Uint8Array(8 + hb.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  for (const [, t] of entries) {
    for (const v of t.data) {
      view.setFloat64(pos, v, true);
      pos += 8;
    }
  }
  return out;
}

/** Decodes safetensors bytes into float64 tensors and the string metadata. */
export function decodeSafetensors(bytes: Uint8Array): { tensors: NamedTensors; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new CheckpointFormatError(`file too short (${bytes.length} bytes) for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw new CheckpointFormatError(`header length ${n} exceeds the file (${bytes.length} bytes): truncated or not safetensors`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (err) {
    throw new CheckpointFormatError(`header is not valid JSON: ${(err as Error).message}`);
  }
  const base = 8 + n;
  const dataLen = bytes.length - base;
  const tensors: NamedTensors = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const bytesPer = DTYPE_BYTES[e.dtype as keyof typeof DTYPE_BYTES];
    if (!bytesPer) throw new CheckpointFormatError(`tensor "${name}": unsupported dtype ${String(e.dtype)} (expected F64 or F32)`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) throw new CheckpointFormatError(`tensor "${name}": missing shape or data_offsets`);
    const size = e.shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = e.data_offsets;
    if (b1 - b0 !== size * bytesPer || b0 < 0 || b1 > dataLen) {
      throw new CheckpointFormatError(
        `tensor "${name}": data_offsets [${b0}, ${b1}] do not fit shape [${e.shape.join(", ")}] ${e.dtype} in a ${dataLen}-byte buffer`,
      );
    }
    const data = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const p = base + b0 + i * bytesPer;
      data[i] = bytesPer === 8 ? view.getFloat64(p, true) : view.getFloat32(p, true);
    }
    tensors[name] = { shape: e.shape, data };
  }
  return { tensors, metadata };
}
