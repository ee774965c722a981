/**
 * The shared parity suite on `tfjs-webgpu` in Node: tfjs-backend-webgpu on
 * Dawn (the optional peer `webgpu`), here on SwiftShader's Vulkan driver from
 * Debian's chromium package (see vitest.config.ts). Skips with the reason
 * printed where there is no WebGPU adapter.
 */
import { describe, it } from "vitest";
import { BackendUnavailableError, getBackend } from "@ngem/core";
import { runParitySuite } from "@ngem/core/testing";
import "@ngem/backend-tfjs";

const unavailable = await getBackend("tfjs-webgpu").then(
  () => undefined,
  (err: unknown) => (err instanceof BackendUnavailableError ? err.reason : String(err)),
);

if (unavailable === undefined) {
  runParitySuite({ describe, it }, () => getBackend("tfjs-webgpu"), { label: "tfjs-webgpu" });
} else {
  console.warn(`[@ngem/backend-tfjs] parity suite on tfjs-webgpu (Node, Dawn) SKIPPED: ${unavailable}`);
  describe("parity: tfjs-webgpu", () => {
    it.skip(`skipped - tfjs-webgpu is not available here: ${unavailable}`, () => {});
  });
}
