/**
 * @ngem/kernels-wasm - AssemblyScript f32x4 SIMD kernels and the `wasm`
 * backend. Importing the package registers the backend:
 *
 * ```ts
 * import "@ngem/kernels-wasm";
 * import { getBackend } from "@ngem/core";
 * const b = await getBackend("wasm");
 * ```
 *
 * The public API is the backend, its model handler, the kernel runtime with
 * its codes and ABI, and the steady-state timer; module loading, the thread
 * pool and the build metadata stay in their modules (api/kernels-wasm.md is
 * the generated report, checked by `node scripts/api-report.mjs --check`).
 */
import { registerBackend } from "@ngem/core";
import { createWasmBackend } from "./wasm-backend.js";

export { createWasmBackend, type WasmBackend, type WasmBackendOptions } from "./wasm-backend.js";
export { WasmModelHandler, wasmHandlerOf, type WasmModel, type WasmModelStats, type WasmStepProfile } from "./wasm-model.js";
export {
  ACTIVATION_CODES,
  KernelRuntime,
  MatmulMode,
  SPLIT_MIN_WORK,
  VARIANT_CODES,
  resolveThreads,
  type HeadBlocks,
  type HeadCodes,
  type Region,
  type RuntimeOptions,
} from "./runtime.js";
export { selectKernelsBuild, type KernelExports, type KernelsBuild, type KernelsBuildChoice } from "./kernels.js";
export { measureInterleaved, type SteadyOptions, type SteadyResult, type StepRunner } from "./steady.js";
export { KERNELS_CODES, KERNELS_EXPORTS, type KernelsAbi } from "./generated/kernels-wasm.js";

registerBackend("wasm", () => createWasmBackend());
