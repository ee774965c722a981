/**
 * Loading the kernels module: the binary is embedded as base64 (see
 * `generated/kernels-wasm.ts`), so it loads the same way in Node and browsers,
 * with no file-system or fetch path. Compiled once per process, instantiated
 * once per {@link KernelRuntime} (each owns its memory).
 */
import { BackendUnavailableError } from "@ngem/core";
import { KERNELS_WASM_BASE64 } from "./generated/kernels-wasm.js";

/** The raw exports: byte pointers (u32) + lengths; see assembly/ for each kernel's contract. */
export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  heap_base(): number;
  head_scratch_bytes(k: number, d: number): number;
  mixture_head(
    n: number, k: number, d: number,
    pA: number, strideA: number, pMu: number, pS: number, strideMS: number, pY: number,
    gA: number, outA: number, gMu: number, gS: number, outMS: number,
    variant: number, sigmaCoords: number, piFloor: number, scratch: number, pRes: number,
  ): number;
  matmul(pA: number, pB: number, pC: number, m: number, kd: number, n: number, mode: number, pBias: number): void;
  transpose(pSrc: number, pDst: number, rows: number, cols: number): void;
  colsum(pX: number, rows: number, cols: number, stride: number, pOut: number): void;
  act_forward(kind: number, pX: number, pOut: number, len: number): void;
  act_backward(kind: number, pPre: number, pGOut: number, pGIn: number, len: number): void;
  layer_norm_forward(pX: number, pGamma: number, pBeta: number, pNormed: number, pInvStd: number, pY: number, rows: number, width: number): void;
  layer_norm_backward(
    pGY: number, pNormed: number, pInvStd: number, pGamma: number, pGX: number, pGGamma: number, pGBeta: number, rows: number, width: number,
  ): void;
  sgd_update(pP: number, pG: number, pBuf: number, len: number, lr: number, decay: number, momentum: number, nesterov: number, first: number): void;
  adam_update(
    pP: number, pG: number, pM: number, pV: number, len: number,
    lr: number, decay: number, b1: number, b2: number, ob1: number, ob2: number, eps: number, c1: number, c2: number,
  ): void;
  rmsprop_update(
    pP: number, pG: number, pV: number, pBuf: number, len: number, lr: number, decay: number, alpha: number, oneMinusAlpha: number, eps: number, momentum: number,
  ): void;
  sum_squares(pX: number, len: number): number;
  scale(pX: number, len: number, c: number): void;
  first_nonfinite(pX: number, rows: number, cols: number, stride: number): number;
  flush_array(pX: number, len: number): void;
  count_subnormal(pX: number, len: number): number;
  vexp_array(pX: number, pOut: number, len: number): void;
  verf_array(pX: number, pOut: number, len: number): void;
  bench_peak(iters: number): number;
}

const EXPORT_NAMES: readonly (keyof KernelExports)[] = [
  "memory", "heap_base", "head_scratch_bytes", "mixture_head", "matmul", "transpose", "colsum", "act_forward", "act_backward",
  "layer_norm_forward", "layer_norm_backward", "sgd_update", "adam_update", "rmsprop_update", "sum_squares", "scale",
  "first_nonfinite", "flush_array", "count_subnormal", "vexp_array", "verf_array", "bench_peak",
];

// Smallest module using a v128 instruction: (func (result v128) v128.const 0).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 11,
]);

/** The kernels binary, decoded from its embedded base64. */
export function kernelsWasmBytes(): Uint8Array {
  const s = atob(KERNELS_WASM_BASE64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/**
 * Compiles the kernels once. Fails with {@link BackendUnavailableError} (reason
 * included) when WebAssembly or its SIMD proposal is missing.
 */
export function compileKernels(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    if (typeof WebAssembly !== "object" || typeof WebAssembly.compile !== "function") {
      throw new BackendUnavailableError("wasm", "this JavaScript runtime has no WebAssembly");
    }
    if (!WebAssembly.validate(SIMD_PROBE)) {
      throw new BackendUnavailableError(
        "wasm",
        "this runtime's WebAssembly lacks fixed-width SIMD (needs Node >= 16.4, Chrome >= 91, Firefox >= 89, Safari >= 16.4)",
      );
    }
    try {
      return await WebAssembly.compile(kernelsWasmBytes());
    } catch (err) {
      throw new BackendUnavailableError("wasm", `the kernels module failed to compile: ${err instanceof Error ? err.message : String(err)}`);
    }
  })();
  compiled.catch(() => {
    compiled = undefined;
  });
  return compiled;
}

/** A fresh instance (its own memory) of the compiled kernels. */
export async function instantiateKernels(module?: WebAssembly.Module): Promise<KernelExports> {
  const mod = module ?? (await compileKernels());
  const inst = await WebAssembly.instantiate(mod, {});
  const ex = inst.exports as Record<string, unknown>;
  for (const name of EXPORT_NAMES) {
    if (!(name in ex)) throw new BackendUnavailableError("wasm", `the kernels module lacks the export "${name}" (stale build? run pnpm build)`);
  }
  return ex as unknown as KernelExports;
}
