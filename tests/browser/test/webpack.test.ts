/**
 * Issue 17.1, second bundler: the four browser-safe packages bundled by
 * webpack 5 for the web (target "web", production mode: the `browser` export
 * condition applies), with no Node polyfills configured - webpack 5 fails on
 * any Node built-in it meets ("Module not found ... BREAKING CHANGE: webpack
 * < 5 used to include polyfills"). The output is scanned like esbuild's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import webpack from "webpack";
import { describe, expect, it } from "vitest";
import { nodeBuiltinsIn } from "./scan.js";

const PACKAGES = ["@ngem/core", "@ngem/kernels-wasm", "@ngem/trainer", "@ngem/datasets"] as const;
const RUNTIME_GUARDED = ["node:worker_threads", "node:os"]; // kernels-wasm's Node-only thread code (see bundle.test.ts)

function pack(entryCode: string): Promise<{ errors: string[]; code: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ngem-webpack-"));
  const entry = join(dir, "entry.mjs");
  writeFileSync(entry, entryCode);
  return new Promise((resolvePromise, reject) => {
    webpack(
      {
        mode: "production",
        target: "web",
        entry,
        context: import.meta.dirname,
        resolve: { modules: [join(import.meta.dirname, "../node_modules"), "node_modules"] },
        output: { path: join(dir, "out"), filename: "bundle.js", module: true, library: { type: "module" } },
        experiments: { outputModule: true },
        optimization: { splitChunks: false },
        performance: { hints: false },
        infrastructureLogging: { level: "none" },
      },
      (err, stats) => {
        if (err) return reject(err);
        const info = stats?.toJson({ all: false, errors: true });
        const errors = (info?.errors ?? []).map((e) => e.message.split("\n")[0] as string);
        let code = "";
        try {
          code = readFileSync(join(dir, "out", "bundle.js"), "utf8");
        } catch {
          // no output when it failed
        }
        rmSync(dir, { recursive: true, force: true });
        resolvePromise({ errors, code });
      },
    );
  });
}

describe("browser bundles (webpack 5, target web)", () => {
  for (const pkg of PACKAGES) {
    it(`${pkg} bundles with webpack with no Node built-in`, async () => {
      const { errors, code } = await pack(`export * from "${pkg}";`);
      expect(errors, `webpack errors for ${pkg}`).toEqual([]);
      expect(code.length).toBeGreaterThan(1000);
      expect(nodeBuiltinsIn(code).filter((f) => !RUNTIME_GUARDED.includes(f))).toEqual([]);
    }, 60_000);
  }

  it("webpack fails on @ngem/datasets/node (the check can fail)", async () => {
    const { errors } = await pack(`export * from "@ngem/datasets/node";`);
    expect(errors.join("\n")).toMatch(/Can't resolve '(node:)?(fs|zlib|module|path|readline|fs\/promises)'/);
  }, 60_000);
});
