/**
 * @ngem/trainer - train mixture density networks (and free GMMs) with
 * natural-gradient EM on any registered backend: config validation, models,
 * optimizers (backend SGD/Adam/RMSProp and trainer-side SOAP), schedules, the
 * training loop, evaluation, checkpoints (safetensors) and metrics.
 *
 * Browser-safe: file access goes through {@link TrainerIO}; the Node
 * implementation is loaded lazily only when a path is used.
 *
 * The public API is this explicit list (api/trainer.md is its generated
 * report, checked by `node scripts/api-report.mjs --check`); SOAP's linear
 * algebra, the noise and batching helpers and the stream's bookkeeping stay
 * in their modules.
 */
export type {
  CheckpointConfig,
  EarlyStoppingConfig,
  EpochRecord,
  EvalRecord,
  FloorHitStats,
  GmmModelConfig,
  HeadConfig,
  History,
  MdnModelConfig,
  ModelConfig,
  NoiseConfig,
  Normalization,
  OptimizerConfig,
  ScheduleConfig,
  StepRecord,
  StopReason,
  TrainConfig,
  TrainData,
} from "./types.js";
export {
  ConfigError,
  validateConfig,
  specFor,
  frozenParams,
  splitSizes,
  NOISE_SCHEDULES,
  TRAIN_CONFIG_KEYS,
  MAX_PARAMS,
  DEFAULT_MAX_SKIPPED_FRACTION,
  DEFAULT_EPOCHS,
  OPTIMIZERS,
  LR_SCHEDULES,
  FISHER_COORDS,
  trainConfigSchema,
  configFileSchema,
  configFileJsonSchema,
  parseConfigFile,
  type ConfigFile,
  type ResolvedConfig,
} from "./config.js";
export { scheduledLr } from "./schedule.js";
export { Soap, type SoapOptions } from "./soap.js";
export { validateData, dataFingerprint, DataMismatchError } from "./data.js";
export { TrainedModel, type TrainerState, type StreamPosition } from "./model-handle.js";
export {
  trainStream,
  resumeStream,
  streamStatistics,
  arrayStreamSource,
  StreamDataError,
  DEFAULT_SHUFFLE_BUFFER,
  type StreamSource,
  type RowBatch,
  type StreamOptions,
  type StreamTrainOptions,
  type StreamInfo,
} from "./stream.js";
export { train, resume, splitData, totalSteps, type RunPlan, type TrainOptions, type ResumeOptions, type TrainResult } from "./train.js";
export { predict, sample, logLikelihoods, datasetNll, type PredictOptions, type SampleOptions } from "./predict.js";
export {
  evaluate,
  forecastScores,
  pitValues,
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
export { ensemble, trainEnsemble, isEnsemble, ensembleMembers, EnsembleBackendModel } from "./ensemble.js";
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
