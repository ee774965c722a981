/**
 * The tfjs platform backends behind `tfjs-cpu`, `tfjs-wasm`, `tfjs-gpu`
 * (tfjs-node-gpu, CUDA), `tfjs-webgl` and `tfjs-webgpu`. Each is an optional
 * peer dependency, loaded with a dynamic import the first time it is asked
 * for (in a browser bundle, import the tfjs backend package yourself, e.g.
 * `import "@tensorflow/tfjs-backend-webgl"`: a platform already registered
 * with tfjs is used as is); a missing package gives a
 * {@link BackendUnavailableError} that names the package to install. There is
 * no fallback from one to another.
 *
 * `tfjs-webgpu` in Node: when there is no `navigator.gpu`, the optional peer
 * `webgpu` (Dawn for Node) provides one; Dawn needs a Vulkan driver (on a
 * machine without a GPU, SwiftShader's: see the package README).
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendUnavailableError } from "@ngem/core";

/** The ngem names this package registers. */
export type TfjsBackendName = "tfjs-cpu" | "tfjs-wasm" | "tfjs-gpu" | "tfjs-webgl" | "tfjs-webgpu";
/** The tfjs backend name (as in `tf.setBackend`) behind each ngem name. */
export type TfjsPlatform = "cpu" | "wasm" | "tensorflow" | "webgl" | "webgpu";

/** What each ngem name needs. */
export interface PlatformInfo {
  readonly name: TfjsBackendName;
  readonly platform: TfjsPlatform;
  /** npm package providing the tfjs backend. */
  readonly pkg: string;
}

export const PLATFORMS: Readonly<Record<TfjsBackendName, PlatformInfo>> = {
  "tfjs-cpu": { name: "tfjs-cpu", platform: "cpu", pkg: "@tensorflow/tfjs-backend-cpu" },
  "tfjs-wasm": { name: "tfjs-wasm", platform: "wasm", pkg: "@tensorflow/tfjs-backend-wasm" },
  "tfjs-gpu": { name: "tfjs-gpu", platform: "tensorflow", pkg: "@tensorflow/tfjs-node-gpu" },
  "tfjs-webgl": { name: "tfjs-webgl", platform: "webgl", pkg: "@tensorflow/tfjs-backend-webgl" },
  "tfjs-webgpu": { name: "tfjs-webgpu", platform: "webgpu", pkg: "@tensorflow/tfjs-backend-webgpu" },
};

function isNode(): boolean {
  return typeof process !== "undefined" && typeof process.versions?.node === "string";
}

/** Minimal view of the npm `webgpu` package (Dawn for Node). */
interface DawnModule {
  create(options: string[]): unknown;
  globals: Record<string, unknown>;
}

/**
 * Makes sure a WebGPU adapter exists before tfjs tries to use one (tfjs would
 * only warn and fail to initialise): Node gets a navigator.gpu from Dawn
 * first; no adapter is a BackendUnavailableError saying what is missing.
 */
async function checkWebGpuAdapter(info: PlatformInfo): Promise<void> {
  if (tf.findBackendFactory(info.platform) == null) await ensureNodeWebGpu(info);
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return; // reported below: the package registers no backend without navigator.gpu
  let adapter: unknown;
  try {
    adapter = await gpu.requestAdapter();
  } catch (err) {
    throw new BackendUnavailableError(info.name, `navigator.gpu.requestAdapter() failed: ${message(err)}`);
  }
  if (!adapter) {
    throw new BackendUnavailableError(
      info.name,
      isNode()
        ? "Dawn found no WebGPU adapter: it needs a Vulkan driver (without a GPU: SwiftShader's, e.g. VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json from Debian's chromium package, with a Vulkan loader: libvulkan1 or LD_LIBRARY_PATH=/usr/lib/chromium)"
        : "navigator.gpu.requestAdapter() returned null: this browser exposes WebGPU but no adapter (GPU blocklisted or disabled)",
    );
  }
}

/**
 * Gives Node a `navigator.gpu` from the optional peer `webgpu` (Dawn) when
 * there is none, so that tfjs-backend-webgpu registers itself. Dawn options
 * come from NGEM_DAWN_OPTIONS (comma-separated `key=value`, e.g.
 * `backend=vulkan`). No-op in browsers and when a navigator.gpu exists.
 */
async function ensureNodeWebGpu(info: PlatformInfo): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu || !isNode()) return;
  let dawn: DawnModule;
  try {
    const m = (await importOptional("webgpu")) as Partial<DawnModule> & { default?: Partial<DawnModule> };
    const mod = typeof m.create === "function" ? m : m.default;
    if (!mod || typeof mod.create !== "function" || !mod.globals) throw new Error("it exports no create/globals");
    dawn = mod as DawnModule;
  } catch (err) {
    throw new BackendUnavailableError(
      info.name,
      `Node has no navigator.gpu and the package webgpu (Dawn for Node) could not be loaded (${message(err)}); install it with \`pnpm add webgpu@0.6.2\``,
    );
  }
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const opts = (process.env.NGEM_DAWN_OPTIONS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const gpu = dawn.create(opts);
  if (g.navigator) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function installHint(info: PlatformInfo): string {
  return `install it with \`pnpm add ${info.pkg}@^${tf.version_core}\` (npm i ${info.pkg}) next to @tensorflow/tfjs-core ${tf.version_core}`;
}

/**
 * Imports a module by a specifier that is not a literal, so that bundlers and
 * the TypeScript compiler do not try to resolve optional packages that may be
 * absent (tfjs-node-gpu cannot even be installed on most machines).
 */
async function importOptional(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

/** Minimal view of @tensorflow/tfjs-backend-wasm used here. */
interface WasmModule {
  setWasmPaths(prefix: string, usePlatformFetch?: boolean): void;
}

function isWasmModule(m: unknown): m is WasmModule {
  return typeof m === "object" && m !== null && typeof (m as { setWasmPaths?: unknown }).setWasmPaths === "function";
}

/**
 * Directory of the tfjs-wasm `.wasm` binaries, resolved from the installed
 * package (Node only; in a browser the bundler serves them and the user calls
 * `setWasmPaths` as tfjs documents). Never a URL: no network.
 */
async function wasmBinaryDir(info: PlatformInfo): Promise<string | undefined> {
  if (!isNode()) return undefined;
  const { createRequire } = (await importOptional("node:module")) as typeof import("node:module");
  const { dirname, join, sep } = (await importOptional("node:path")) as typeof import("node:path");
  const { existsSync } = (await importOptional("node:fs")) as typeof import("node:fs");
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${info.pkg}/package.json`);
  } catch (err) {
    throw new BackendUnavailableError(info.name, `cannot resolve ${info.pkg} (${message(err)}); ${installHint(info)}`);
  }
  const dir = join(dirname(pkgJson), "dist");
  const binary = join(dir, "tfjs-backend-wasm-simd.wasm");
  if (!existsSync(binary)) {
    throw new BackendUnavailableError(info.name, `the tfjs-wasm binaries are missing (looked for ${binary}); reinstall ${info.pkg}`);
  }
  return dir + sep;
}

/**
 * Silences the one-time "looks like you are running TensorFlow.js in Node.js"
 * banner of tfjs-backend-cpu (it recommends tfjs-node, which is not what the
 * user asked for) by making the first write with PROD set, then restoring it.
 */
function firstWriteQuietly(): void {
  const env = tf.env();
  const prev = env.getBool("PROD");
  env.set("PROD", true);
  try {
    tf.dispose(tf.scalar(0));
  } finally {
    env.set("PROD", prev);
  }
}

const loaded = new Map<TfjsPlatform, Promise<void>>();

/**
 * Makes the tfjs platform behind `name` available in tfjs's engine (imports
 * its package and initialises it once). Throws BackendUnavailableError naming
 * the package to install when it is missing or fails to initialise.
 */
export function loadPlatform(name: TfjsBackendName): Promise<void> {
  const info = PLATFORMS[name];
  let p = loaded.get(info.platform);
  if (!p) {
    p = doLoad(info).catch((err: unknown) => {
      loaded.delete(info.platform); // a retry after installing the package may succeed
      throw err;
    });
    loaded.set(info.platform, p);
  }
  return p;
}

async function doLoad(info: PlatformInfo): Promise<void> {
  if (info.platform === "webgpu") await checkWebGpuAdapter(info);
  if (tf.findBackendFactory(info.platform) == null) {
    let mod: unknown;
    try {
      mod = await importOptional(info.pkg);
    } catch (err) {
      throw new BackendUnavailableError(info.name, `the package ${info.pkg} could not be loaded (${message(err)}); ${installHint(info)}`);
    }
    if (info.platform === "wasm") {
      if (!isWasmModule(mod)) throw new BackendUnavailableError(info.name, `${info.pkg} does not export setWasmPaths; ${installHint(info)}`);
      const dir = await wasmBinaryDir(info);
      if (dir !== undefined) mod.setWasmPaths(dir);
    }
  }
  if (tf.findBackendFactory(info.platform) == null && info.platform === "webgpu" && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    throw new BackendUnavailableError(info.name, "this runtime exposes no WebGPU (navigator.gpu is undefined), so tfjs-backend-webgpu registered no backend");
  }
  if (tf.findBackendFactory(info.platform) == null) {
    throw new BackendUnavailableError(
      info.name,
      `${info.pkg} loaded but registered no "${info.platform}" backend with this copy of @tensorflow/tfjs-core ` +
        `(${tf.version_core}); make sure both resolve to the same tfjs-core version (${installHint(info)})`,
    );
  }
  // GPU platforms: every op on the GPU. By default tfjs-webgl/-webgpu hand ops on
  // small tensors whose data is still on the CPU to their CPU kernels; then the
  // same step gives different last bits depending on where its inputs live (a
  // resumed model's freshly uploaded weights vs the GPU-resident ones), and
  // resume is not bit-exact (seen on tfjs-webgpu).
  if (info.platform === "webgl") tf.env().set("WEBGL_CPU_FORWARD", false);
  if (info.platform === "webgpu") tf.env().set("WEBGPU_CPU_FORWARD", false);
  const prev = tf.getBackend();
  let ok: boolean;
  try {
    ok = await tf.setBackend(info.platform);
  } catch (err) {
    throw new BackendUnavailableError(info.name, `tfjs backend "${info.platform}" failed to initialise: ${message(err)}`);
  }
  if (!ok) throw new BackendUnavailableError(info.name, `tfjs backend "${info.platform}" failed to initialise (see the tfjs warning above)`);
  if (info.platform === "cpu") firstWriteQuietly();
  if (info.platform === "tensorflow") {
    const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
    if (usingGpu === false) {
      if (prev && prev !== info.platform) await tf.setBackend(prev);
      throw new BackendUnavailableError(
        info.name,
        `${info.pkg} loaded but TensorFlow found no CUDA GPU (isUsingGpuDevice = false); ` +
          "check the NVIDIA driver, CUDA 11.2 and cuDNN 8.1 that libtensorflow 2.x needs. Not falling back to the CPU.",
      );
    }
  }
}

/**
 * Selects the tfjs platform in tfjs's single global engine if another one is
 * active. Every public call of this package does this first, so models of
 * different tfjs backends can be used in one process (tensors of another
 * backend are moved by tfjs on use, which costs a copy).
 */
export async function activatePlatform(platform: TfjsPlatform): Promise<void> {
  if (tf.getBackend() !== platform) {
    const ok = await tf.setBackend(platform);
    if (!ok) throw new BackendUnavailableError(platform, `tf.setBackend("${platform}") failed`);
  }
}
