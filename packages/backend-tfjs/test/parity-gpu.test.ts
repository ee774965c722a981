/**
 * The shared parity suite on `tfjs-gpu` (@tensorflow/tfjs-node-gpu, CUDA). It
 * runs only where that package and a CUDA GPU are present; otherwise the suite
 * is reported as skipped, with the reason printed (never counted as a pass).
 */
import { describe, it } from "vitest";
import { BackendUnavailableError, getBackend } from "@ngem/core";
import { runParitySuite } from "@ngem/core/testing";
import "@ngem/backend-tfjs";

const unavailable = await getBackend("tfjs-gpu").then(
  () => undefined,
  (err: unknown) => (err instanceof BackendUnavailableError ? err.reason : String(err)),
);

if (unavailable === undefined) {
  runParitySuite({ describe, it }, () => getBackend("tfjs-gpu"), { label: "tfjs-gpu" });
} else {
  console.warn(`[@ngem/backend-tfjs] parity suite on tfjs-gpu SKIPPED: ${unavailable}`);
  describe("parity: tfjs-gpu", () => {
    it.skip(`skipped - tfjs-gpu is not available here: ${unavailable}`, () => {});
  });
}
