/**
 * @ngem/backend-tfjs - the ngem Backend interface on TensorFlow.js.
 *
 * Importing this package registers five backends with core's registry:
 * - `tfjs-cpu`    on @tensorflow/tfjs-backend-cpu    (tfjs backend "cpu")
 * - `tfjs-wasm`   on @tensorflow/tfjs-backend-wasm   (tfjs backend "wasm")
 * - `tfjs-gpu`    on @tensorflow/tfjs-node-gpu       (tfjs backend "tensorflow", CUDA)
 * - `tfjs-webgl`  on @tensorflow/tfjs-backend-webgl  (tfjs backend "webgl", browsers)
 * - `tfjs-webgpu` on @tensorflow/tfjs-backend-webgpu (tfjs backend "webgpu": browsers, and Node with the `webgpu` package)
 *
 * Each platform package is an optional peer, imported on first use; a missing
 * one fails with BackendUnavailableError naming the package to install. All
 * are float32.
 *
 * The public API is the backend (class, handler, factory) and the platform
 * table; the tfjs head op, forward pass, gradients and optimizer stay in their
 * modules (api/backend-tfjs.md is the generated report, checked by
 * `node scripts/api-report.mjs --check`).
 */
import { registerBackend } from "@ngem/core";
import { createTfjsBackend } from "./backend.js";
import { PLATFORMS, type TfjsBackendName } from "./platforms.js";

export { createTfjsBackend, TfjsBackend } from "./backend.js";
export { TfjsHandler } from "./model.js";
export { activatePlatform, loadPlatform, PLATFORMS, type PlatformInfo, type TfjsBackendName, type TfjsPlatform } from "./platforms.js";

/** The ngem backend names this package registers. */
export const TFJS_BACKENDS: readonly TfjsBackendName[] = ["tfjs-cpu", "tfjs-wasm", "tfjs-gpu", "tfjs-webgl", "tfjs-webgpu"];

for (const name of Object.keys(PLATFORMS) as TfjsBackendName[]) {
  registerBackend(name, () => createTfjsBackend(name));
}
