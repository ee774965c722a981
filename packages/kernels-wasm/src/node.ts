/**
 * @ngem/kernels-wasm/node - Node-only helpers (kept out of the browser-safe main entry).
 *
 * - {@link enableRelaxedSimd}: Node 20 (V8 11.3) validates relaxed SIMD only behind
 *   `--experimental-wasm-relaxed-simd`; this sets that V8 flag at run time (before the
 *   kernels are compiled), so `auto` picks the relaxed-SIMD (FMA) build. Node 22+ and
 *   current browsers have relaxed SIMD on by default and need nothing.
 * - {@link compileWasmEagerly}: V8 compiles WebAssembly lazily and runs each function's first
 *   calls in its baseline compiler (Liftoff) until it tiers up, so the first steps of a model
 *   ran several times slower (wide config: step 1 33-43 ms instead of 2 ms). This makes V8
 *   compile every function at load and optimise them all in the background.
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

/**
 * Sets V8's `--no-wasm-lazy-compilation` and `--no-wasm-dynamic-tiering` (process-wide: every
 * WebAssembly module compiled afterwards, tfjs-wasm's included): each module is compiled whole at
 * load, and all of its functions are optimised (TurboFan) in the background right away instead of
 * after each has run for a while in the baseline compiler. Call it before the kernels compile.
 * Measured on a 2-core AMD EPYC (Node 20, wide config 8-256-256, batch 256, 2 threads): loading
 * +50 ms, the first training step 33-43 -> 8-11 ms, steps 2-6 ~5 -> ~2.5 ms. Returns false if V8
 * refused the flags.
 */
export function compileWasmEagerly(): boolean {
  try {
    setFlagsFromString("--no-wasm-lazy-compilation");
    setFlagsFromString("--no-wasm-dynamic-tiering");
    return true;
  } catch {
    return false;
  }
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
