/**
 * Shared vitest settings for every package of the workspace.
 *
 * - Workspace packages resolve to their TypeScript sources (no stale dist/ in tests).
 * - When NGEM_REPORT_DIR is set (by .ci/run), each package also writes a JSON
 *   report there, so CI can print one `N passed, N failed` line for the repo.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ViteUserConfig } from "vitest/config";

const root = dirname(fileURLToPath(import.meta.url));

const aliases = [
  { find: /^@ngem\/core\/testing$/, replacement: resolve(root, "packages/core/src/testing/index.ts") },
  { find: /^@ngem\/core$/, replacement: resolve(root, "packages/core/src/index.ts") },
  { find: /^@ngem\/kernels-wasm$/, replacement: resolve(root, "packages/kernels-wasm/src/index.ts") },
  { find: /^@ngem\/backend-tfjs$/, replacement: resolve(root, "packages/backend-tfjs/src/index.ts") },
  { find: /^@ngem\/trainer\/node$/, replacement: resolve(root, "packages/trainer/src/node.ts") },
  { find: /^@ngem\/trainer$/, replacement: resolve(root, "packages/trainer/src/index.ts") },
  { find: /^@ngem\/datasets\/node$/, replacement: resolve(root, "packages/datasets/src/node.ts") },
  { find: /^@ngem\/datasets$/, replacement: resolve(root, "packages/datasets/src/index.ts") },
];

export function ngemVitestConfig(packageDir: string, extra: { testTimeout?: number } = {}): ViteUserConfig {
  const pkg = JSON.parse(readFileSync(resolve(packageDir, "package.json"), "utf8")) as { name: string };
  const reportDir = process.env.NGEM_REPORT_DIR;
  const reporters: NonNullable<NonNullable<ViteUserConfig["test"]>["reporters"]> = reportDir
    ? ["default", ["json", { outputFile: resolve(reportDir, `${basename(pkg.name)}.json`) }]]
    : ["default"];
  return {
    resolve: { alias: aliases },
    test: {
      name: pkg.name,
      include: ["test/**/*.test.ts"],
      reporters,
      testTimeout: extra.testTimeout ?? 60_000,
      pool: "forks",
    },
  };
}
