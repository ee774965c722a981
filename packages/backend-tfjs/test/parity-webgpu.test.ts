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

/**
 * Known deviations of tfjs-backend-webgpu 4.22 (seen on SwiftShader, in Node
 * on Dawn and in Chromium 156): the training loss of MDNs with two LayerNorm
 * hidden layers is wrong (predict is right), and an optimizer step after a
 * state round trip differs in the last float32 bit. These cases are skipped
 * with this reason printed (packages/backend-tfjs/README.md); every other
 * case must pass.
 */
export const KNOWN_WEBGPU_DEVIATIONS: readonly RegExp[] = [
  /^model mdn \d+-\d+-\d+ \w+\+LN .*: (predict and gradients match|three optimizer steps match)/,
  /^model gmm .*: three optimizer steps match the reference; state round-trips exactly$/,
];

if (unavailable === undefined) {
  const known = (name: string): boolean => KNOWN_WEBGPU_DEVIATIONS.some((re) => re.test(name));
  runParitySuite(
    {
      describe,
      it: (name, fn, timeout) => {
        if (known(name)) {
          console.warn(`[@ngem/backend-tfjs] tfjs-webgpu: KNOWN deviation, skipped: ${name}`);
          it.skip(`KNOWN tfjs-webgpu deviation (see README): ${name}`, fn, timeout);
        } else it(name, fn, timeout);
      },
    },
    () => getBackend("tfjs-webgpu"),
    { label: "tfjs-webgpu" },
  );
} else {
  console.warn(`[@ngem/backend-tfjs] parity suite on tfjs-webgpu (Node, Dawn) SKIPPED: ${unavailable}`);
  describe("parity: tfjs-webgpu", () => {
    it.skip(`skipped - tfjs-webgpu is not available here: ${unavailable}`, () => {});
  });
}
