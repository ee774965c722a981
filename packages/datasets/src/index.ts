/**
 * @ngem/datasets - the paper's synthetic tasks (with their true densities),
 * inverse MNIST, streaming CSV / NPY / JSON-lines / IDX loaders,
 * standardisation and seeded splits.
 */
export type { Dataset, Normalization } from "./types.js";
export * from "./errors.js";
export * from "./synthetic.js";
export * from "./registry.js";
export * from "./mnist.js";
export * from "./idx.js";
export * from "./csv.js";
export * from "./npy.js";
export * from "./jsonl.js";
export * from "./normalize.js";
export * from "./splits.js";
export type { ColumnRef } from "./columns.js";
export { parseStrictNumber } from "./numbers.js";
