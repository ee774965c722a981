/**
 * Issue 17.1: each browser-safe package bundles for the browser with esbuild
 * (--platform=browser, no code splitting, minified) from its published entry
 * (the built dist/, through the package's exports and `browser` condition),
 * and the output holds no Node built-in: esbuild cannot resolve one for the
 * browser platform (the build fails), esbuild's metafile must list no import
 * left in the output, and the bundle text is scanned for `node:` specifiers
 * and require/import of a built-in name. The one allowance: kernels-wasm's
 * thread support names node:worker_threads / node:os in code that runs only
 * under Node (the worker program's text, and an import through a variable
 * that no bundler follows); the metafile check proves nothing is imported.
 * Prints the sizes (minified, gzip) per package.
 */
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { nodeBuiltinsIn } from "./scan.js";

const here = import.meta.dirname;

const PACKAGES = ["@ngem/core", "@ngem/kernels-wasm", "@ngem/trainer", "@ngem/datasets"] as const;

/** Node-only names that may appear as text in a package's browser bundle (see the header). */
const RUNTIME_GUARDED: Readonly<Record<string, readonly string[]>> = {
  "@ngem/kernels-wasm": ["node:worker_threads", "node:os"],
};

async function bundle(entry: string): Promise<{ code: string; errors: string[]; imports: string[] }> {
  try {
    const r = await build({
      stdin: { contents: entry, resolveDir: here, sourcefile: "entry.js", loader: "js" },
      bundle: true,
      platform: "browser",
      format: "esm",
      splitting: false,
      minify: true,
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const imports = Object.values(r.metafile.outputs).flatMap((o) => o.imports.map((i) => `${i.kind} ${i.path}`));
    return { code: r.outputFiles[0]?.text ?? "", errors: [], imports };
  } catch (e) {
    const errors = (e as { errors?: { text: string }[] }).errors?.map((x) => x.text) ?? [String(e)];
    return { code: "", errors, imports: [] };
  }
}

const sizes: string[] = [];

describe("browser bundles (esbuild --platform=browser, no splitting)", () => {
  it("the scanner finds Node built-ins when they are there", () => {
    expect(nodeBuiltinsIn('import{readFile as a}from"node:fs/promises";')).toEqual(["node:fs/promises"]);
    expect(nodeBuiltinsIn('const z=require("zlib")')).toEqual(["zlib"]);
    expect(nodeBuiltinsIn('import("path")')).toEqual(["path"]);
    expect(nodeBuiltinsIn('const s="fs is a word";')).toEqual([]);
  });

  for (const pkg of PACKAGES) {
    it(`${pkg} bundles for the browser with no Node built-in`, async () => {
      const { code, errors, imports } = await bundle(`export * from "${pkg}";`);
      expect(errors, `esbuild errors for ${pkg}`).toEqual([]);
      expect(imports, `imports left in the ${pkg} browser bundle`).toEqual([]);
      const allowed = RUNTIME_GUARDED[pkg] ?? [];
      const found = nodeBuiltinsIn(code);
      if (found.length) console.log(`${pkg}: Node names in runtime-guarded code only: ${found.join(", ")}`);
      expect(
        found.filter((f) => !allowed.includes(f)),
        `Node built-ins in the ${pkg} browser bundle`,
      ).toEqual([]);
      const min = Buffer.byteLength(code);
      const gz = gzipSync(code, { level: 9 }).length;
      sizes.push(`${pkg.padEnd(20)} ${(min / 1024).toFixed(1).padStart(8)} KiB min ${(gz / 1024).toFixed(1).padStart(8)} KiB gzip`);
    });
  }

  it("@ngem/datasets/node and the trainer's Node build are what pull Node built-ins (the check can fail)", async () => {
    const ds = await bundle(`export * from "@ngem/datasets/node";`);
    expect(ds.errors.join("\n")).toMatch(/Could not resolve "(node:)?(fs|zlib|module)"/);
  });

  it("a training page (trainer + datasets + wasm backend) bundles with no Node built-in", async () => {
    const { code, errors, imports } = await bundle(
      `import { train } from "@ngem/trainer"; import { loadBuiltin } from "@ngem/datasets"; import "@ngem/kernels-wasm";
       export const run = () => train({ model: { kind: "gmm", k: 2 }, objective: "ngem", optimizer: { type: "adam", lr: 0.05 }, epochs: 1, backend: "wasm" }, loadBuiltin("two-gaussians"));`,
    );
    expect(errors).toEqual([]);
    expect(imports).toEqual([]);
    expect(nodeBuiltinsIn(code).filter((f) => !RUNTIME_GUARDED["@ngem/kernels-wasm"]?.includes(f))).toEqual([]);
    sizes.push(
      `${"page: train+wasm".padEnd(20)} ${(code.length / 1024).toFixed(1).padStart(8)} KiB min ${(gzipSync(code, { level: 9 }).length / 1024).toFixed(1).padStart(8)} KiB gzip`,
    );
  });

  afterAll(() => {
    if (sizes.length) console.log(`browser bundle sizes (esbuild, minified, ES2022; gzip -9):\n${sizes.join("\n")}`);
  });
});
