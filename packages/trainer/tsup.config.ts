import { resolve } from "node:path";
import { defineConfig } from "tsup";
import { ngemTsup } from "../../tsup.base.ts";

export default defineConfig([
  // Node and neutral: index (node-io loaded lazily as its own chunk) + the ./node entry.
  ngemTsup({ entry: { index: "src/index.ts", node: "src/node.ts" }, clean: ["!browser/**"] }),
  // The `browser` export condition: one file, io-default.ts swapped for io-default.browser.ts,
  // so no bundler (even esbuild without splitting) can reach node-io.ts and its Node built-ins.
  ngemTsup({
    entry: { index: "src/index.ts" },
    outDir: "dist/browser",
    dts: false,
    clean: false,
    splitting: false,
    platform: "browser",
    esbuildPlugins: [
      {
        name: "ngem-browser-io",
        setup(build) {
          build.onResolve({ filter: /\/io-default\.js$/ }, () => ({ path: resolve(import.meta.dirname, "src/io-default.browser.ts") }));
        },
      },
    ],
  }),
]);
