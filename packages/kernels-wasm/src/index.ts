/**
 * @ngem/kernels-wasm - AssemblyScript f32x4 SIMD kernels and the `wasm`
 * backend. Importing the package registers the backend:
 *
 * ```ts
 * import "@ngem/kernels-wasm";
 * import { getBackend } from "@ngem/core";
 * const b = await getBackend("wasm");
 * ```
 */
import { registerBackend } from "@ngem/core";
import { createWasmBackend } from "./wasm-backend.js";

export { createWasmBackend, type WasmBackend, type WasmBackendOptions } from "./wasm-backend.js";
export { WasmModelHandler, wasmHandlerOf, type WasmModel, type WasmModelStats, type WasmStepProfile } from "./wasm-model.js";
export {
  ACTIVATION_CODES,
  KernelRuntime,
  MatmulMode,
  PHASES,
  SPLIT_MIN_WORK,
  VARIANT_CODES,
  resolveThreads,
  checkCount,
  type Region,
  type RuntimeOptions,
} from "./runtime.js";
export {
  compileKernels,
  instantiateKernels,
  kernelsWasmBytes,
  selectKernelsBuild,
  wasmFeatures,
  type KernelExports,
  type KernelsBuild,
  type KernelsBuildChoice,
} from "./kernels.js";
export { POOL_OPS, ThreadPool, machineCores, threadsUnavailable } from "./threads.js";
export { measureInterleaved, quantile, summarizeSteps, type SteadyOptions, type SteadyResult, type StepRunner } from "./steady.js";
export {
  KERNELS_ASC_FLAGS,
  KERNELS_CODES,
  KERNELS_EXPORTS,
  KERNELS_RELAXED_ASC_FLAGS,
  KERNELS_SOURCE_SHA256,
  KERNELS_THREADS_ASC_FLAGS,
  type KernelsAbi,
} from "./generated/kernels-wasm.js";

registerBackend("wasm", () => createWasmBackend());
