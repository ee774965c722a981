/**
 * Headless Chromium for the browser tests: the system binary (Debian's
 * `chromium`, or NGEM_CHROMIUM) driven by playwright-core, which never
 * downloads a browser. When there is none, `chromiumSkipReason` says why and
 * every browser test prints it and skips.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

/** The Chromium binary to use, or undefined. */
export function chromiumPath(): string | undefined {
  const env = process.env.NGEM_CHROMIUM;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Why the browser tests skip here, or undefined when Chromium is available. */
export function chromiumSkipReason(): string | undefined {
  if (process.env.NGEM_NO_BROWSER_TESTS) return "NGEM_NO_BROWSER_TESTS is set";
  const env = process.env.NGEM_CHROMIUM;
  if (env && !existsSync(env)) return `NGEM_CHROMIUM=${env} does not exist`;
  if (!chromiumPath()) {
    return `no Chromium found (looked for ${CANDIDATES.join(", ")}; set NGEM_CHROMIUM, or as root run \`apt-get install -y chromium\`, which .ci/run does when it can)`;
  }
  return undefined;
}

/** Flags: headless as root on a closed network; software GL (SwiftShader) for WebGL, SwiftShader Vulkan for WebGPU. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan,WebGPU",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-vulkan-surface",
];

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(chromiumSkipReason());
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".safetensors": "application/octet-stream",
  ".csv": "text/csv",
};

/** A static file server for `dir` on 127.0.0.1 (random port), with the headers SharedArrayBuffer needs. */
export async function serveStatic(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let file = normalize(join(dir, path));
    if (!file.startsWith(normalize(dir))) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return { url: `http://127.0.0.1:${addr.port}/`, server };
}
