import { getBackend } from "@ngem/core";
import { runParitySuite } from "@ngem/core/testing";
import { describe, it } from "vitest";
import "@ngem/kernels-wasm";

// The shared suite with its default float32 tolerances (head 1e-3, model 2e-3, normwise).
runParitySuite({ describe, it }, () => getBackend("wasm"), { label: "wasm" });
