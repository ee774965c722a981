/**
 * @ngem/core - nGEM mixture math (float64 reference), the Backend interface
 * and registry, the pure-JS `js` backend. Zero runtime dependencies.
 *
 * The public API is this explicit list (api/core.md is its generated report,
 * checked by `node scripts/api-report.mjs --check`). Helpers that only the
 * package itself uses (the MLP backward pieces, optimizer internals, the
 * protocol's state parser, ...) stay in their modules.
 */
export {
  BackendUnavailableError,
  checkFiniteRows,
  checkInt,
  firstNonFinite,
  NgemError,
  NonFiniteError,
  ShapeError,
} from "./errors.js";
export { Rng, type RngState } from "./rng.js";
export {
  componentLogDensity,
  HALF_LOG_2PI,
  logJoint,
  logProb,
  logSoftmax,
  logSoftmaxRow,
  logsumexp,
  negQ,
  nll,
  responsibilities,
  softmax,
  validateMixture,
  type FloatArray,
  type MixtureParams,
} from "./mixture.js";
export {
  dampedCategorical,
  DEFAULT_PI_FLOOR,
  mixtureHead,
  mixtureHeadRaw,
  negQGradients,
  PRECONDITION_BLOCKS,
  preconditionMask,
  resolveHeadOptions,
  VARIANTS,
  type FisherCoords,
  type HeadGradients,
  type HeadOptions,
  type HeadResult,
  type PreconditionBlock,
  type RawHeadGradients,
  type RawHeadResult,
  type Variant,
} from "./head.js";
export { categoricalFisher, gaussianFisherDiagonal } from "./fisher.js";
export {
  marginal,
  MAX_SAMPLE_VALUES,
  mixtureCdf,
  mixtureMean,
  mixtureMode,
  mixtureQuantile,
  mixtureSf,
  mixtureVariance,
  normalCdf,
  predictionInterval,
  repeatRow,
  rowMixture,
  sample,
  type ModeOptions,
  type SampleOptions,
} from "./distribution.js";
export { CONSTANT_COLUMN_RTOL, erf, erfc, exponentOf, ldexp, MIN_NORMAL_FLOAT64, zScore } from "./special.js";
export { crpsGaussian, crpsMixture, crpsMixture1d, kolmogorovSf, pinballLoss, pitUniformity, type PitUniformity } from "./scoring.js";
export {
  COVARIANCES,
  expandScale,
  isDefaultScale,
  logSigmaInto,
  reduceScaleRow,
  resolveScaleOptions,
  SCALE_GRAD_EPS,
  SCALE_PARAMS,
  scaleIndex,
  scaleWidth,
  type Covariance,
  type ExpandedHead,
  type RawHead,
  type ScaleOptions,
  type ScaleParam,
} from "./scale.js";
export type {
  Activation,
  Backend,
  BackendModel,
  BackendName,
  Batch,
  ExternalOptimizer,
  GmmSpec,
  MdnSpec,
  MdnTrunk,
  ModelSpec,
  NamedTensors,
  OptimizerSpec,
  StepResult,
  Tensor,
} from "./backend.js";
export type { Normalization, NumericData } from "./data.js";
export { getBackend, loadFirstBackend, probeBackends, registerBackend, registeredBackends, type BackendLoader } from "./registry.js";
export { optimizerUpdate } from "./optim.js";
export {
  ACTIVATIONS,
  headWidth,
  initWeights,
  paramCount,
  paramShapes,
  trunkLayout,
  TRUNKS,
  validateSpec,
  validateWeights,
  type TrunkLayout,
} from "./model/spec.js";
export { activate, activateGrad, gmmRawHead, LAYER_NORM_EPS, mdnForward, modelForwardParams, type MdnForward } from "./model/mlp.js";
export { createJsBackend } from "./backends/js.js";
export {
  createModelFacade,
  DisposedError,
  ModelFacade,
  type GradientPass,
  type ModelHandler,
  type MomentKind,
  type ResolvedHeadOptions,
} from "./model/protocol.js";

import { createJsBackend } from "./backends/js.js";
import { registerBackend } from "./registry.js";

registerBackend("js", createJsBackend);
