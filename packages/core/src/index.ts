/**
 * @ngem/core - nGEM mixture math (float64 reference), the Backend interface
 * and registry, the pure-JS `js` backend. Zero runtime dependencies.
 */
export * from "./errors.js";
export * from "./rng.js";
export * from "./mixture.js";
export * from "./head.js";
export * from "./fisher.js";
export * from "./distribution.js";
export * from "./special.js";
export * from "./scoring.js";
export * from "./scale.js";
export type * from "./backend.js";
export type * from "./data.js";
export * from "./registry.js";
export * from "./optim.js";
export * from "./model/spec.js";
export * from "./model/mlp.js";
export { createJsBackend } from "./backends/js.js";
export * from "./model/protocol.js";

import { createJsBackend } from "./backends/js.js";
import { registerBackend } from "./registry.js";

registerBackend("js", createJsBackend);
