#!/usr/bin/env node
/**
 * Browser check of the threads path (not part of `pnpm test`: needs a Chromium and
 * playwright-core somewhere in the workspace, e.g. Debian's `chromium` and apps/web's devDependency).
 *
 *   pnpm --filter @ngem/kernels-wasm build && node packages/kernels-wasm/scripts/browser-threads-check.mjs
 *
 * Bundles a page and a module Web Worker (esbuild, from tsup), serves them cross-origin isolated
 * (COOP same-origin + COEP require-corp) and opens the page in headless Chromium. The worker
 * trains an 8-256-256 MDN for 5 Adam steps at 1 and at 2 threads (the threads are nested
 * workers from a Blob URL on one shared memory) and compares losses and weights bit for bit;
 * the page's main thread reports why it stays single-threaded. Exit 0 when identical.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(pkg, "../..");
const require = createRequire(join(pkg, "package.json"));
const esbuild = createRequire(require.resolve("tsup"))("esbuild");
const store = join(root, "node_modules/.pnpm");
const pw = process.env.PLAYWRIGHT_CORE ?? (existsSync(store) ? readdirSync(store).filter((d) => d.startsWith("playwright-core@")).map((d) => join(store, d, "node_modules/playwright-core/index.mjs"))[0] : undefined);
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!pw || !existsSync(pw) || !existsSync(chromiumPath)) {
  console.log(`skipped: needs playwright-core in the workspace (or PLAYWRIGHT_CORE=path/index.mjs) and Chromium at ${chromiumPath} (or CHROMIUM=...)`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), "ngem-browser-threads-"));
const dist = join(pkg, "dist/index.js");
const core = join(root, "packages/core/dist/index.js");
writeFileSync(join(dir, "worker-src.js"), `
import { createWasmBackend } from ${JSON.stringify(dist)};
import { initWeights } from ${JSON.stringify(core)};
self.onmessage = async () => {
  try {
    const spec = { kind: "mdn", inputDim: 8, hidden: [256, 256], activation: "gelu", layerNorm: true, k: 10, d: 4 };
    const w = initWeights(spec, 0);
    const n = 128;
    const x = new Float32Array(n * 8).map((_, i) => Math.sin(i));
    const y = new Float32Array(n * 4).map((_, i) => Math.cos(i * 0.7));
    const out = [];
    for (const threads of [1, 2]) {
      const b = await createWasmBackend({ threads, build: "simd" });
      const m = await b.createModel(spec, w);
      const losses = [];
      for (let i = 0; i < 5; i++) losses.push((await m.step({ n, x, y }, { variant: "ngem" }, { type: "adam", lr: 1e-3 })).loss);
      const ws = await m.getWeights();
      out.push({ threads: b.threads, reason: b.threadsReason, losses, stats: m.handler().threadStats(), weights: Object.values(ws).map((t) => Array.from(t.data)) });
      m.dispose();
    }
    const same = JSON.stringify(out[0].losses) === JSON.stringify(out[1].losses) && JSON.stringify(out[0].weights) === JSON.stringify(out[1].weights);
    self.postMessage({ ok: true, same, out: out.map(({ weights, ...r }) => r) });
  } catch (e) {
    self.postMessage({ ok: false, err: String((e && e.stack) || e) });
  }
};`);
writeFileSync(join(dir, "main-src.js"), `
import { createWasmBackend } from ${JSON.stringify(dist)};
window.mainThread = createWasmBackend().then((b) => b.threads + ": " + b.threadsReason, (e) => String(e));
const w = new Worker("./worker.js", { type: "module" });
window.result = new Promise((r) => { w.onmessage = (e) => r(e.data); });
w.postMessage("go");`);
for (const [src, out] of [["worker-src.js", "worker.js"], ["main-src.js", "main.js"]]) {
  esbuild.buildSync({ entryPoints: [join(dir, src)], bundle: true, format: "esm", platform: "browser", outfile: join(dir, out), logLevel: "warning" });
}
writeFileSync(join(dir, "index.html"), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>');
const srv = http
  .createServer((req, res) => {
    const f = req.url === "/" ? "index.html" : (req.url ?? "").slice(1);
    if (!/^[\w.-]+$/.test(f) || !existsSync(join(dir, f))) return void res.writeHead(404).end();
    res.writeHead(200, {
      "Content-Type": f.endsWith(".html") ? "text/html" : "text/javascript",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
    });
    res.end(readFileSync(join(dir, f)));
  })
  .listen(0);
const port = srv.address().port;
const { chromium } = await import(pw);
const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await page.goto(`http://localhost:${port}/`);
  console.log(`crossOriginIsolated: ${await page.evaluate(() => crossOriginIsolated)}`);
  console.log(`page main thread: ${await page.evaluate(() => window.mainThread)}`);
  const r = await page.evaluate(() => window.result);
  if (!r.ok) throw new Error(r.err);
  for (const o of r.out) console.log(`worker, threads ${o.threads} (${o.reason}): losses ${o.losses.map((l) => l.toFixed(6)).join(" ")}; ${JSON.stringify(o.stats)}`);
  console.log(r.same ? "1 vs 2 threads in a Web Worker: bit-identical losses and weights" : "1 vs 2 threads: RESULTS DIFFER");
  if (!r.same || !r.out[1].stats.started) process.exitCode = 1;
} finally {
  await browser.close();
  srv.close();
}
