/**
 * @ngem/kernels-wasm/node - Node-only helpers (kept out of the browser-safe main entry).
 *
 * - {@link enableRelaxedSimd}: Node 20 (V8 11.3) validates relaxed SIMD only behind
 *   `--experimental-wasm-relaxed-simd`; this sets that V8 flag at run time (before the
 *   kernels are compiled), so `auto` picks the relaxed-SIMD (FMA) build. Node 22+ and
 *   current browsers have relaxed SIMD on by default and need nothing.
 * - {@link hostInfo}: the CPU model (as `lscpu` prints it), its SIMD/FMA features and
 *   the WebAssembly features of this runtime, for benchmark headers.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { setFlagsFromString } from "node:v8";
import { wasmFeatures } from "./kernels.js";

/**
 * Turns on V8's relaxed-SIMD flag when this runtime does not validate relaxed SIMD yet.
 * Returns whether relaxed SIMD validates afterwards. Call it before the first kernels
 * compile (a module already compiled keeps its build). Set `NGEM_WASM_BUILD=simd` to keep
 * the plain build.
 */
export function enableRelaxedSimd(): boolean {
  if (wasmFeatures().relaxedSimd) return true;
  try {
    setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  return wasmFeatures().relaxedSimd;
}

/** CPU flags worth printing next to a SIMD figure (x86 and ARM names). */
const SIMD_FLAGS = ["sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512_bf16", "amx_tile", "asimd", "sve"];

/** CPU model, cores, SIMD/FMA features seen in /proc/cpuinfo, Node version and WebAssembly features. */
export function hostInfo(): { cpuModel: string; cores: number; cpuFeatures: string[]; node: string; wasm: ReturnType<typeof wasmFeatures> } {
  let model = cpus()[0]?.model ?? "unknown CPU";
  let features: string[] = [];
  try {
    const text = readFileSync("/proc/cpuinfo", "utf8");
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    if (m?.[1]) model = m[1].trim();
    const f = /^(?:flags|Features)\s*:\s*(.+)$/m.exec(text);
    const have = new Set((f?.[1] ?? "").split(/\s+/));
    features = SIMD_FLAGS.filter((x) => have.has(x));
  } catch {
    // not Linux: the model from os.cpus(), no flags
  }
  return { cpuModel: model, cores: cpus().length, cpuFeatures: features, node: process.version, wasm: wasmFeatures() };
}
