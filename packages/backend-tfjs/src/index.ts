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
 */
import { registerBackend } from "@ngem/core";
import { createTfjsBackend } from "./backend.js";
import { PLATFORMS, type TfjsBackendName } from "./platforms.js";

export { createTfjsBackend, TfjsBackend } from "./backend.js";
export { ensureGradients, GRADIENT_CONFIGS } from "./gradients.js";
export {
  eStep,
  expandLogSigma,
  expandToDiag,
  floorHitsOf,
  headLoss,
  negQOf,
  rawHeadLoss,
  scaleOf,
  type EStep,
  type HeadLossFn,
  type HeadTensors,
  type RawHeadTensors,
} from "./head-op.js";
export { activation, mdnForward, mdnForwardRaw, splitHead, splitRawHead, TfjsHandler } from "./model.js";
export { optimizerUpdate, type UpdateResult } from "./optimizer.js";
export { activatePlatform, loadPlatform, PLATFORMS, type PlatformInfo, type TfjsBackendName, type TfjsPlatform } from "./platforms.js";

/** The ngem backend names this package registers. */
export const TFJS_BACKENDS: readonly TfjsBackendName[] = ["tfjs-cpu", "tfjs-wasm", "tfjs-gpu", "tfjs-webgl", "tfjs-webgpu"];

for (const name of Object.keys(PLATFORMS) as TfjsBackendName[]) {
  registerBackend(name, () => createTfjsBackend(name));
}
