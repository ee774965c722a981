import { runParitySuite } from "@ngem/core/testing";
import { describe, it } from "vitest";
import { createWasmBackend } from "../src/index.js";

// The shared suite (model contract included) with two threads and the split threshold at 1, so
// every kernel call of every model is split across the workers (the head by rows too).
runParitySuite({ describe, it }, () => createWasmBackend({ threads: 2, splitMinWork: 1 }), { label: "wasm (2 threads, every call split)" });
