/**
 * @ngem/trainer - train mixture density networks (and free GMMs) with
 * natural-gradient EM on any registered backend: config validation, models,
 * optimizers (backend SGD/Adam/RMSProp and trainer-side SOAP), schedules, the
 * training loop, evaluation, checkpoints (safetensors) and metrics.
 *
 * Browser-safe: file access goes through {@link TrainerIO}; the Node
 * implementation is loaded lazily only when a path is used.
 */
export type * from "./types.js";
export {
  ConfigError,
  validateConfig,
  specFor,
  headOf,
  splitSizes,
  NOISE_SCHEDULES,
  TRAIN_CONFIG_KEYS,
  MAX_PARAMS,
  DEFAULT_MAX_SKIPPED_FRACTION,
  DEFAULT_EPOCHS,
  type ResolvedConfig,
} from "./config.js";
export { effectiveNoise, perturbBatch, countFloorHits, initialNoiseRng } from "./noise.js";
export { scheduledLr } from "./schedule.js";
export { Soap, type SoapOptions } from "./soap.js";
export { matmul, symmetricEigen } from "./linalg.js";
export { validateData, gatherBatch, subset, dataFingerprint, deriveSeed, DataMismatchError } from "./data.js";
export { TrainedModel, type TrainerState, type StreamPosition } from "./model-handle.js";
export {
  trainStream,
  resumeStream,
  streamStatistics,
  isStreamSource,
  isHeldOut,
  arrayStreamSource,
  ColumnStats,
  StreamDataError,
  DEFAULT_SHUFFLE_BUFFER,
  type StreamSource,
  type RowBatch,
  type StreamOptions,
  type StreamTrainOptions,
  type StreamInfo,
} from "./stream.js";
export { train, resume, splitData, totalSteps, trimMetrics, type TrainOptions, type ResumeOptions, type TrainResult } from "./train.js";
export { predict, sample, logLikelihoods, datasetNll, type PredictOptions, type SampleOptions } from "./predict.js";
export {
  evaluate,
  forecastScores,
  pitValues,
  normalCdf,
  modeRecovery,
  componentMeans,
  type EvaluateOptions,
  type Evaluation,
  type ForecastOptions,
  type ForecastScores,
  type DimScore,
  type Calibration,
  type ModeRecovery,
} from "./evaluate.js";
export { minCostAssignment } from "./hungarian.js";
export { ensemble, trainEnsemble, isEnsemble, ensembleMembers, ensembleSpec, EnsembleBackendModel } from "./ensemble.js";
export {
  save,
  load,
  encodeCheckpoint,
  decodeCheckpoint,
  checkpointVersionFor,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  CHECKPOINT_VERSION_SEPARATE_TRUNK,
  CHECKPOINT_READABLE_VERSIONS,
  type LoadOptions,
} from "./checkpoint.js";
export { encodeSafetensors, decodeSafetensors, CheckpointFormatError } from "./safetensors.js";
export { defaultIO, type TrainerIO } from "./io.js";
export {
  runTwoGaussians,
  twoGaussiansData,
  twoGaussiansOptimalNll,
  twoGaussiansLogDensity,
  TWO_GAUSSIANS_MEANS,
  TWO_GAUSSIANS_SIGMA,
  type TwoGaussiansOptions,
  type TwoGaussiansRun,
  type TwoGaussiansSummary,
} from "./experiments/two-gaussians.js";
