import { runParitySuite } from "@ngem/core/testing";
import { describe, it } from "vitest";
import { createWasmBackend } from "../src/index.js";
import { enableRelaxedSimd } from "../src/node.js";

// The shared suite on the relaxed-SIMD build (f32x4.relaxed_madd in the matmul kernels;
// on Node 20 V8's --experimental-wasm-relaxed-simd is set at run time by enableRelaxedSimd()).
// Same default float32 tolerances as the plain build (parity.test.ts).
enableRelaxedSimd();
runParitySuite({ describe, it }, () => createWasmBackend({ build: "relaxed-simd" }), { label: "wasm (relaxed-simd build)" });
