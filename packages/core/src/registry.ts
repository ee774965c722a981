/**
 * A small registry of backends by name. Backends register a loader; asking
 * for a backend runs its loader once and fails loudly (BackendUnavailableError
 * with the reason) when it cannot load. There is no silent fallback: a caller
 * who wants one passes an explicit list to {@link loadFirstBackend}.
 */
import type { Backend } from "./backend.js";
import { BackendUnavailableError, NgemError } from "./errors.js";

export type BackendLoader = () => Backend | Promise<Backend>;

interface Entry {
  loader: BackendLoader;
  instance?: Promise<Backend>;
}

const registry = new Map<string, Entry>();

/** Registers (or replaces) a backend loader under `name`. */
export function registerBackend(name: string, loader: BackendLoader): void {
  if (typeof name !== "string" || name.length === 0) throw new NgemError("registerBackend: name must be a non-empty string");
  const old = registry.get(name);
  if (old?.instance)
    void old.instance.then(
      (b) => b.dispose(),
      () => undefined,
    );
  registry.set(name, { loader });
}

/** Names of all registered backends (registered is not the same as loadable). */
export function registeredBackends(): string[] {
  return [...registry.keys()];
}

/**
 * Loads (once) and returns the backend `name`. Throws BackendUnavailableError
 * naming the backend and the reason when it is not registered or its loader fails.
 */
export async function getBackend(name: string): Promise<Backend> {
  const entry = registry.get(name);
  if (!entry) {
    const known = registeredBackends();
    throw new BackendUnavailableError(
      name,
      `no backend registered under this name (registered: ${known.length ? known.join(", ") : "none"}). ` + hintFor(name),
    );
  }
  entry.instance ??= (async () => entry.loader())().catch((err: unknown) => {
    entry.instance = undefined; // allow a retry after the user installs the missing piece
    if (err instanceof BackendUnavailableError) throw err;
    throw new BackendUnavailableError(name, err instanceof Error ? err.message : String(err));
  });
  return entry.instance;
}

/**
 * Tries `names` in order and returns the first that loads, with the reasons
 * the earlier ones failed. Throws listing every reason when none loads.
 */
export async function loadFirstBackend(names: readonly string[]): Promise<{ backend: Backend; skipped: BackendUnavailableError[] }> {
  const skipped: BackendUnavailableError[] = [];
  for (const name of names) {
    try {
      return { backend: await getBackend(name), skipped };
    } catch (err) {
      if (!(err instanceof BackendUnavailableError)) throw err;
      skipped.push(err);
    }
  }
  throw new NgemError(`none of the backends [${names.join(", ")}] could load:\n${skipped.map((e) => `  - ${e.message}`).join("\n")}`);
}

/** Reports, for every registered backend, whether it loads here and why not. */
export async function probeBackends(): Promise<{ name: string; ok: boolean; reason?: string; precision?: string }[]> {
  const out: { name: string; ok: boolean; reason?: string; precision?: string }[] = [];
  for (const name of registeredBackends()) {
    try {
      const b = await getBackend(name);
      out.push({ name, ok: true, precision: b.precision });
    } catch (err) {
      out.push({ name, ok: false, reason: err instanceof BackendUnavailableError ? err.reason : String(err) });
    }
  }
  return out;
}

function hintFor(name: string): string {
  if (name === "wasm") return 'Install @ngem/kernels-wasm and import it (import "@ngem/kernels-wasm") to register "wasm".';
  if (name.startsWith("tfjs-")) return `Install @ngem/backend-tfjs and import it to register "${name}".`;
  return "";
}
