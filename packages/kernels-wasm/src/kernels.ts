/**
 * Loading the kernels module: the binary is embedded as base64 (see
 * `generated/kernels-wasm.ts`), so it loads the same way in Node and browsers,
 * with no file-system or fetch path. Compiled once per process, instantiated
 * once per {@link KernelRuntime} (each owns its memory).
 */
import { BackendUnavailableError } from "@ngem/core";
import {
  KERNELS_EXPORTS,
  KERNELS_RELAXED_THREADS_WASM_BASE64,
  KERNELS_RELAXED_WASM_BASE64,
  KERNELS_THREADS_WASM_BASE64,
  KERNELS_WASM_BASE64,
  type KernelsAbi,
} from "./generated/kernels-wasm.js";

/**
 * The raw exports: byte pointers (u32) + lengths; see assembly/ for each kernel's contract.
 * The functions' signatures are generated from assembly/ ({@link KernelsAbi}), so a call
 * that no longer matches a kernel fails the type check.
 */
export type KernelExports = KernelsAbi & { readonly memory: WebAssembly.Memory };

/** The ABI's export names, generated from the binary (see scripts/build-wasm.mjs). */
const EXPORT_NAMES: readonly string[] = KERNELS_EXPORTS.map((e) => e.split(":")[0] as string);

// Smallest module using a v128 instruction: (func (result v128) v128.const 0).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

// (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0))).
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 133, 2, 11,
]);

/** The two builds of the kernels: plain fixed-width SIMD, and SIMD + relaxed SIMD (f32x4.relaxed_madd). */
export type KernelsBuild = "simd" | "relaxed-simd";
/** Which build to load: `auto` (default) picks relaxed-simd when this runtime validates it. */
export type KernelsBuildChoice = "auto" | KernelsBuild;

/** What this runtime supports, by WebAssembly.validate on tiny modules (no compilation of the kernels). */
export function wasmFeatures(): { webassembly: boolean; simd: boolean; relaxedSimd: boolean } {
  const wa = typeof WebAssembly === "object" && typeof WebAssembly.validate === "function";
  return { webassembly: wa, simd: wa && WebAssembly.validate(SIMD_PROBE), relaxedSimd: wa && WebAssembly.validate(RELAXED_SIMD_PROBE) };
}

/** The build `auto` resolves to here, and why. `NGEM_WASM_BUILD=simd|relaxed-simd` (Node) overrides `auto`. */
export function selectKernelsBuild(choice: KernelsBuildChoice = "auto"): { build: KernelsBuild; reason: string } {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NGEM_WASM_BUILD;
  const f = wasmFeatures();
  let want = choice;
  let why = "";
  if (want === "auto" && (env === "simd" || env === "relaxed-simd")) {
    want = env;
    why = " (NGEM_WASM_BUILD)";
  }
  if (want === "simd") return { build: "simd", reason: `plain SIMD build requested${why}` };
  if (want === "relaxed-simd") {
    if (!f.relaxedSimd) {
      throw new BackendUnavailableError(
        "wasm",
        "the relaxed-SIMD kernels build was requested, but this runtime does not validate f32x4.relaxed_madd " +
          "(Node 20: run node with --experimental-wasm-relaxed-simd, or call enableRelaxedSimd() from @ngem/kernels-wasm/node first)",
      );
    }
    return { build: "relaxed-simd", reason: `relaxed-SIMD build requested${why}` };
  }
  if (f.relaxedSimd) return { build: "relaxed-simd", reason: "this runtime validates f32x4.relaxed_madd: the relaxed-SIMD build (FMA in the matmul kernels)" };
  return {
    build: "simd",
    reason:
      "this runtime lacks relaxed SIMD (f32x4.relaxed_madd does not validate; Node 20 needs --experimental-wasm-relaxed-simd), " +
      "so the plain SIMD build (mul + add, no FMA)",
  };
}

/**
 * The kernels binary of a build, decoded from its embedded base64. `threads`: the threads build
 * of the same kernels (imports a shared memory as env.memory; see threads.ts).
 */
export function kernelsWasmBytes(build: KernelsBuild = "simd", threads = false): Uint8Array {
  const s = atob(
    threads
      ? build === "relaxed-simd"
        ? KERNELS_RELAXED_THREADS_WASM_BASE64
        : KERNELS_THREADS_WASM_BASE64
      : build === "relaxed-simd"
        ? KERNELS_RELAXED_WASM_BASE64
        : KERNELS_WASM_BASE64,
  );
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/**
 * Compiles the kernels once per build (`auto`: see {@link selectKernelsBuild}). Fails with
 * {@link BackendUnavailableError} (reason included) when WebAssembly or its SIMD proposal is missing.
 */
export function compileKernels(choice: KernelsBuildChoice = "auto", threads = false): Promise<WebAssembly.Module> {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.compile !== "function") {
    return Promise.reject(new BackendUnavailableError("wasm", "this JavaScript runtime has no WebAssembly"));
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return Promise.reject(
      new BackendUnavailableError(
        "wasm",
        "this runtime's WebAssembly lacks fixed-width SIMD (needs Node >= 16.4, Chrome >= 91, Firefox >= 89, Safari >= 16.4)",
      ),
    );
  }
  let build: KernelsBuild;
  try {
    build = selectKernelsBuild(choice).build;
  } catch (err) {
    return Promise.reject(err);
  }
  const key = threads ? `${build}+threads` : build;
  let p = compiled.get(key);
  if (!p) {
    p = WebAssembly.compile(kernelsWasmBytes(build, threads)).catch((err: unknown) => {
      compiled.delete(key);
      throw new BackendUnavailableError("wasm", `the kernels module (${key} build) failed to compile: ${err instanceof Error ? err.message : String(err)}`);
    });
    compiled.set(key, p);
  }
  return p;
}

/** A fresh instance (its own memory) of the compiled kernels. */
export async function instantiateKernels(
  module?: WebAssembly.Module,
  choice: KernelsBuildChoice = "auto",
  memory?: WebAssembly.Memory,
): Promise<KernelExports> {
  const mod = module ?? (await compileKernels(choice, memory !== undefined));
  const inst = await WebAssembly.instantiate(mod, memory ? { env: { memory } } : {});
  const ex = inst.exports as Record<string, unknown>;
  for (const name of EXPORT_NAMES) {
    if (!(name in ex)) throw new BackendUnavailableError("wasm", `the kernels module lacks the export "${name}" (stale build? run pnpm build)`);
  }
  return ex as unknown as KernelExports;
}
