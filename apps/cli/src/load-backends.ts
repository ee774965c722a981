/**
 * The CLI knows every backend package; each is imported lazily so a missing
 * optional runtime only affects the backends that need it.
 */
import { getBackend, probeBackends, type Backend } from "@ngem/core";

const attempted = new Map<string, Promise<string | undefined>>();

async function tryImport(pkg: string): Promise<string | undefined> {
  let p = attempted.get(pkg);
  if (!p) {
    p = import(pkg).then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message.split("\n")[0] : String(err)),
    );
    attempted.set(pkg, p);
  }
  return p;
}

/** Imports the backend packages so they register their backends. Returns import failures by package. */
export async function registerAllBackends(): Promise<Record<string, string>> {
  const failures: Record<string, string> = {};
  // Node 20 validates relaxed SIMD only behind a V8 flag: set it before the wasm kernels
  // compile, so the relaxed-SIMD (FMA) build is used (NGEM_WASM_BUILD=simd keeps the plain one).
  // And compile wasm eagerly, so a model's first steps do not run in V8's baseline compiler.
  await import("@ngem/kernels-wasm/node")
    .then((m) => {
      if (process.env.NGEM_WASM_BUILD !== "simd") m.enableRelaxedSimd();
      m.compileWasmEagerly();
    })
    .catch(() => undefined);
  for (const pkg of ["@ngem/kernels-wasm", "@ngem/backend-tfjs"]) {
    const err = await tryImport(pkg);
    if (err) failures[pkg] = err;
  }
  return failures;
}

export const KNOWN_BACKENDS = ["js", "wasm", "tfjs-cpu", "tfjs-wasm", "tfjs-gpu", "tfjs-webgl", "tfjs-webgpu"] as const;

/** Loads one backend by name, registering the packages first. Throws BackendUnavailableError with the reason. */
export async function loadBackend(name: string): Promise<Backend> {
  if (name !== "js") await registerAllBackends();
  return getBackend(name);
}

/** Which backends load here, and why the others do not. */
export async function backendReport(): Promise<{ name: string; ok: boolean; precision?: string; reason?: string }[]> {
  const failures = await registerAllBackends();
  const probed = await probeBackends();
  const out = [];
  for (const name of KNOWN_BACKENDS) {
    const p = probed.find((b) => b.name === name);
    if (p) out.push(p);
    else {
      const pkg = name === "wasm" ? "@ngem/kernels-wasm" : "@ngem/backend-tfjs";
      out.push({ name, ok: false, reason: `${pkg} could not be imported: ${failures[pkg] ?? "not registered"}` });
    }
  }
  for (const p of probed) if (!out.some((o) => o.name === p.name)) out.push(p);
  return out;
}
