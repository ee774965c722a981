/**
 * Issue 17.4: the parity suite of @ngem/core and a short Two-Gaussians
 * training run in headless Chromium (the system binary, driven by
 * playwright-core), on `js`, `wasm`, `tfjs-webgl` (SwiftShader GL) and
 * `tfjs-webgpu` where the browser exposes a WebGPU adapter (SwiftShader
 * Vulkan); otherwise that backend's tests print why and skip. The page is
 * bundled from the packages' published entries (dist/) by esbuild for the
 * browser platform. Prints the worst relative error per backend.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityReport, TrainReport } from "../pages/harness.js";
import { chromiumSkipReason, launchChromium, serveStatic } from "./chromium.js";

const skip = chromiumSkipReason();
if (skip) console.log(`SKIP browser parity tests (tests/browser/test/parity-chromium.test.ts): ${skip}`);

interface PageApi {
  registered(): string[];
  webgpuStatus(): Promise<string>;
  webglStatus(): string;
  parity(name: string): Promise<ParityReport>;
  train(name: string, steps?: number): Promise<TrainReport>;
}

let dir = "";
let server: Server | undefined;
let browser: Browser | undefined;
let page: Page;
let gpuPage: Page | undefined;
/** tfjs-webgpu runs on a second page while the other backends run (the machine has spare cores while SwiftShader compiles). */
let webgpuRun: Promise<{ status: string; parity?: ParityReport; train?: TrainReport }> | undefined;
const lines: string[] = [];
const trains: TrainReport[] = [];

async function call<T>(fn: (api: PageApi, arg: string) => Promise<T> | T, arg = "", on: Page = page): Promise<T> {
  return on.evaluate(
    ([src, a]) => {
      const f = new Function("api", "arg", `return (${src})(api, arg);`) as (api: unknown, arg: string) => Promise<unknown>;
      return f((window as unknown as { ngem: unknown }).ngem, a);
    },
    [fn.toString(), arg] as const,
  ) as Promise<T>;
}

function report(r: ParityReport): string {
  const w = r.worst;
  const q = r.worstRatio;
  if (w.error === 0)
    return `${r.label.padEnd(12)} ${r.precision ?? "?"}  ${r.passed}/${r.passed + r.failed} cases, ${(r.ms / 1000).toFixed(1)} s; every compared array exact (error 0)`;
  return (
    `${r.label.padEnd(12)} ${r.precision ?? "?"}  ${r.passed}/${r.passed + r.failed} cases, ${(r.ms / 1000).toFixed(1)} s; ` +
    `worst normwise relative error ${w.error.toExponential(2)} (rtol ${w.rtol}) at ${w.what}; ` +
    `closest to its tolerance: ${(q.error / q.rtol).toFixed(3)} x rtol at ${q.what}; slowest: ${[...r.results]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3)
      .map((x) => `${x.name.replace(/^parity: [^>]*> /, "")} ${(x.ms / 1000).toFixed(1)} s`)
      .join(", ")}`
  );
}

describe.skipIf(skip !== undefined)("headless Chromium: parity suite and a short training run", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ngem-harness-"));
    await build({
      entryPoints: [join(import.meta.dirname, "../pages/parity-page.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      target: "es2022",
      outfile: join(dir, "page.js"),
      logLevel: "error",
    });
    writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="page.js"></script>`);
    const s = await serveStatic(dir);
    server = s.server;
    browser = await launchChromium();
    page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(s.url);
    await page
      .waitForFunction(() => document.title === "ngem harness ready", undefined, { timeout: 30_000 })
      .catch((e: Error) => {
        throw new Error(`the harness page did not load: ${errors.join("; ") || e.message}`);
      });
    gpuPage = await browser.newPage();
    await gpuPage.goto(s.url);
    await gpuPage.waitForFunction(() => document.title === "ngem harness ready", undefined, { timeout: 30_000 });
    const gp = gpuPage;
    webgpuRun = (async () => {
      const status = await call((api) => api.webgpuStatus(), "", gp);
      if (status !== "ok") return { status };
      const parity = await call((api, n) => api.parity(n), "tfjs-webgpu", gp);
      const train = await call((api, n) => api.train(n, 200), "tfjs-webgpu", gp);
      return { status, parity, train };
    })();
    webgpuRun.catch(() => {}); // awaited by its test
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (lines.length) console.log(`parity in headless Chromium (${process.env.NGEM_CPU ?? "see lscpu"}):\n${lines.join("\n")}`);
    if (trains.length) {
      console.log(
        `short Two-Gaussians run in Chromium (K=2 GMM, nGEM + Adam lr 0.05, full batch):\n${trains
          .map((t) => `${t.backend.padEnd(12)} ${t.steps} steps in ${t.seconds.toFixed(2)} s, NLL ${t.firstNll.toFixed(4)} -> ${t.finalNll.toFixed(4)}`)
          .join("\n")}`,
      );
    }
  });

  it("registers every backend in the page", async () => {
    const names = await call((api) => api.registered());
    expect(names).toEqual(expect.arrayContaining(["js", "wasm", "tfjs-webgl", "tfjs-webgpu"]));
  });

  for (const name of ["js", "wasm", "tfjs-webgl"]) {
    it(`parity suite on ${name}`, async () => {
      if (name === "tfjs-webgl") {
        const gl = await call((api) => api.webglStatus());
        lines.push(`WebGL: ${gl}`);
        expect(gl).toMatch(/^ok/);
      }
      const r = await call((api, n) => api.parity(n), name);
      lines.push(report(r));
      const failures = r.results.filter((x) => !x.ok).map((x) => `${x.name}: ${x.error}`);
      expect(failures).toEqual([]);
      expect(r.passed).toBeGreaterThan(10);
    }, 180_000);

    it(`trains Two-Gaussians on ${name}`, async () => {
      const t = await call((api, n) => api.train(n, 200), name);
      trains.push(t);
      expect(t.steps).toBe(200);
      expect(t.finalNll).toBeLessThan(t.firstNll);
      expect(t.finalNll).toBeLessThan(0);
    }, 120_000);
  }

  it("parity suite and training on tfjs-webgpu, where the browser exposes WebGPU", async (ctx) => {
    const w = await (webgpuRun as NonNullable<typeof webgpuRun>);
    if (w.status !== "ok" || !w.parity || !w.train) {
      lines.push(`tfjs-webgpu  SKIPPED: ${w.status}`);
      console.log(`SKIP tfjs-webgpu in Chromium: ${w.status}`);
      ctx.skip();
      return;
    }
    const r = w.parity;
    lines.push(report(r));
    expect(r.results.filter((x) => !x.ok).map((x) => `${x.name}: ${x.error}`)).toEqual([]);
    expect(r.passed).toBeGreaterThan(10);
    trains.push(w.train);
    expect(w.train.finalNll).toBeLessThan(0);
  }, 240_000);
});
