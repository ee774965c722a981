/**
 * Public types of @ngem/trainer: the data shape it consumes, the training
 * configuration, events and the history a run returns.
 */
import type { Activation, Covariance, Normalization, NumericData, FisherCoords, MdnTrunk, PreconditionBlock, ScaleParam, Variant } from "@ngem/core";

/** Per-column standardisation z = (v - mean) / std (core's data contract). */
export type { Normalization };
/** The numeric data set the trainer consumes (core's {@link NumericData}; `@ngem/datasets`' `Dataset` is one). */
export type TrainData = NumericData;

/**
 * The mixture head's scale options (core's `ScaleOptions`, passed to the
 * spec's `head`): sigma = sigmaMin + f(r) for the network's raw scale output r.
 */
export interface HeadConfig {
  /** f: "exp" (default), "softplus" or "elu+1". */
  readonly scale?: ScaleParam;
  /**
   * Floor added to every sigma, in the units the model is trained in (the
   * standardised units when the data is standardised). Default 0 (no floor).
   * A small floor such as 1e-3 prevents sigma collapse onto repeated points.
   */
  readonly sigmaMin?: number;
  /** "diag" (default: one sigma per component and dimension), "isotropic" (one per component) or "shared" (one per dimension). */
  readonly covariance?: Covariance;
}

/** A free Gaussian mixture (K components, D = data.yDim), parameters not conditioned on x. */
export interface GmmModelConfig extends HeadConfig {
  readonly kind: "gmm";
  /** Components (>= 1). */
  readonly k: number;
}

/** A mixture density network: MLP trunk (Linear -> [LayerNorm] -> activation) and a diagonal mixture head. */
export interface MdnModelConfig extends HeadConfig {
  readonly kind: "mdn";
  /** Components (>= 1). */
  readonly k: number;
  /** Hidden layer widths; default [128, 128]; [] gives a linear head on x. */
  readonly hidden?: readonly number[];
  /** Default "gelu". */
  readonly activation?: Activation;
  /** LayerNorm after each hidden Linear; default true. */
  readonly layerNorm?: boolean;
  /**
   * "shared" (default): one trunk feeds logits, means and scales; "separate": two trunks of
   * the same widths, one for the logits and one for the means and scales (core's MdnSpec.trunk).
   */
  readonly trunk?: MdnTrunk;
}

export type ModelConfig = GmmModelConfig | MdnModelConfig;

/**
 * Optimizer. `sgd`, `adam`, `rmsprop` run inside the backend (core's
 * OptimizerSpec semantics); `soap` runs in the trainer on float64 gradients
 * (see soap.ts). Common fields: `lr` (base learning rate, scaled by the
 * schedule), `clipNorm` (global L2 clipping), `weightDecay` (decoupled).
 */
export type OptimizerConfig = (
  | { readonly type: "sgd"; readonly momentum?: number; readonly nesterov?: boolean }
  | { readonly type: "adam"; readonly beta1?: number; readonly beta2?: number; readonly eps?: number }
  | { readonly type: "rmsprop"; readonly alpha?: number; readonly eps?: number; readonly momentum?: number }
  | {
      readonly type: "soap";
      readonly beta1?: number;
      readonly beta2?: number;
      readonly eps?: number;
      /** Recompute the eigenbases every this many steps (default 10). */
      readonly precondFrequency?: number;
      /** Sides larger than this keep the identity basis (default 512). */
      readonly maxPrecondDim?: number;
    }
) & {
  readonly lr: number;
  readonly clipNorm?: number;
  readonly weightDecay?: number;
};

/**
 * Learning-rate schedule over the run's total steps T, with optional linear
 * warmup over the first `warmupSteps` steps (from lr/warmupSteps up to lr):
 * - constant: lr
 * - cosine:   min + (lr - min) (1 + cos(pi p)) / 2, p = progress after warmup in [0, 1]
 * - linear:   lr + (min - lr) p
 * with min = lr * minLrFactor.
 */
export interface ScheduleConfig {
  readonly type: "constant" | "cosine" | "linear";
  /** Default 0. */
  readonly warmupSteps?: number;
  /** Final learning rate as a fraction of lr (default 0; ignored by constant). */
  readonly minLrFactor?: number;
}

export interface EarlyStoppingConfig {
  /** Stop after this many evaluations without improving val NLL by more than minDelta. */
  readonly patience: number;
  /** Default 0. */
  readonly minDelta?: number;
  /** Put the best weights back when stopping early or at the end (default true). */
  readonly restoreBest?: boolean;
}

export interface CheckpointConfig {
  /**
   * File to (over)write atomically. A run-time option: it is not stored in
   * the checkpoint (a checkpoint can be moved; `resume` takes the path anew).
   * A checkpoint is only written from a state whose weights and loss are
   * finite; otherwise the previous one is kept.
   */
  readonly path: string;
  /** Write every this many steps (default: only at the end). */
  readonly every?: number;
  /** Also write when training ends (default true). */
  readonly atEnd?: boolean;
}

/**
 * Noise regularisation (Rothfuss et al. 2019, "Noise regularization for
 * conditional density estimation"): Gaussian noise of standard deviation `x`
 * (resp. `y`) is added to each training minibatch's inputs (resp. targets),
 * freshly drawn every step from the trainer's seeded noise stream, in the
 * units the model is trained in (standardised units for standardised data).
 * Evaluation (validation/train NLL, `evaluate`, `predict`) never sees noise.
 */
export interface NoiseConfig {
  /** Std of the noise on x (default 0 = off). Needs inputs (xDim >= 1) when > 0. */
  readonly x?: number;
  /** Std of the noise on y (default 0 = off). */
  readonly y?: number;
  /**
   * "constant" (default): `x` and `y` are the stds. "rule-of-thumb": they are
   * factors of the bandwidth rule h = n^(-1/(4+d)), n = training rows,
   * d = xDim + yDim, so std_x = x * h and std_y = y * h (noise shrinks as the
   * data set grows, which keeps the estimator consistent).
   */
  readonly schedule?: "constant" | "rule-of-thumb";
}

/** Everything that defines a training run. Validated by {@link validateConfig}. */
export interface TrainConfig {
  readonly model: ModelConfig;
  /** Gradient variant passed to the head; default "ngem". The reported loss is the NLL always. */
  readonly objective?: Variant;
  /** nGEM Fisher coordinates (default "log-sigma"). */
  readonly fisherCoords?: FisherCoords;
  /** ngem-full pi floor (default core's DEFAULT_PI_FLOOR). */
  readonly piFloor?: number;
  /** ngem / ngem-full Levenberg-Marquardt damping lambda >= 0 of the Fisher blocks (core's head.ts; default 0 = undamped). */
  readonly damping?: number;
  /** ngem / ngem-full: blocks that get the natural-gradient transform (default all: logits, mu, scale). */
  readonly precondition?: readonly PreconditionBlock[];
  /** Default { type: "adam", lr: 1e-3 }. */
  readonly optimizer?: OptimizerConfig;
  /**
   * Parameters the optimizer leaves at their initial (or loaded) values (core's
   * `OptimizerSpec.freeze`: no step, no weight decay; the gradient norm and
   * clipping are over the trainable parameters). `"trunk"`: every parameter
   * of an MDN's trunk(s) (`trunk.*`, or `logits_trunk.*` and `gauss_trunk.*`),
   * so only the head(s) train (head-only training). An array: parameter names
   * or prefixes; an entry matches a parameter it equals or that starts with the
   * entry followed by "." (`"trunk.0"` freezes `trunk.0.weight`, `trunk.0.bias`,
   * `trunk.0.ln.*`). Every entry must match a parameter and at least one
   * parameter must stay trainable. Not with SOAP. Default: nothing frozen.
   */
  readonly freeze?: "trunk" | readonly string[];
  /** Default { type: "constant" }. */
  readonly schedule?: ScheduleConfig;
  /** Rows per minibatch (default 32, capped at the training rows). */
  readonly batchSize?: number;
  /** Total epochs (default 20 when `steps` is not set; the CLI's default too). Exclusive with `steps`. */
  readonly epochs?: number;
  /** Total optimizer steps. Exclusive with `epochs`. */
  readonly steps?: number;
  /** Seeds initialisation (`initWeights(spec, seed)`), shuffling and the validation split. Default 0. */
  readonly seed?: number;
  /** Seed of the validation split only (default: `seed`); ensembles give every member the same split. */
  readonly splitSeed?: number;
  /** Set by {@link ensemble} on an ensemble model's config: its number of members. Not a training option. */
  readonly ensemble?: number;
  /** Reshuffle every epoch (default true). */
  readonly shuffle?: boolean;
  /** Fraction of rows held out for validation, in [0, 1) (default 0). */
  readonly validationSplit?: number;
  /** Evaluate every this many steps; default once per epoch. */
  readonly evalEvery?: number;
  /** Also compute the full training-set NLL at each evaluation (default false). */
  readonly evalTrain?: boolean;
  readonly earlyStopping?: EarlyStoppingConfig;
  /**
   * Which weights a finished run ends with (and checkpoints): "best" - those
   * of the best validation NLL seen at an evaluation - or "last". Default
   * "best" when there is a validation split (unless `earlyStopping.restoreBest`
   * is false), else "last". An interrupted run keeps its last weights, so a
   * resume continues where it stopped.
   */
  readonly keep?: "best" | "last";
  /** What to do when a loss or gradient is NaN/Inf: stop (default) or skip the update. Both report the tensor. */
  readonly nonFinite?: "stop" | "skip";
  /**
   * With `nonFinite: "skip"`: a run that skipped more than this fraction of
   * its steps ends with stopReason "non-finite" (default 0.1), since its
   * weights saw only part of the data.
   */
  readonly maxSkippedFraction?: number;
  /** Backend by name through core's registry (default "js"). No fallback. */
  readonly backend?: string;
  /** JSON-lines metrics file (Node only). A run-time option, not stored in checkpoints. */
  readonly metricsFile?: string;
  /** Write a metrics line every this many steps (default 1; eval, non-finite and last steps are always written). */
  readonly logEvery?: number;
  readonly checkpoint?: CheckpointConfig;
  /** Noise regularisation of the training minibatches (default off). */
  readonly noise?: NoiseConfig;
}

/** One record of the history (and one JSON line of the metrics file). */
export interface StepRecord {
  readonly step: number;
  readonly epoch: number;
  /** Minibatch NLL before the update. */
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  /** Seconds since this run (or resume) started. */
  readonly time: number;
  readonly valNll?: number;
  readonly trainNll?: number;
  /** Name of the tensor that went non-finite (the update was not applied). */
  readonly nonFinite?: string;
  /**
   * Raw scale entries of this minibatch at which the sigma floor dominated
   * (f(r) < sigmaMin); only with `model.sigmaMin > 0` and a backend that reports it.
   */
  readonly floorHits?: number;
}

export interface EvalRecord {
  readonly step: number;
  readonly epoch: number;
  readonly valNll?: number;
  readonly trainNll?: number;
  readonly time: number;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly step: number;
  /** Mean minibatch NLL over the epoch's finite steps. */
  readonly meanLoss: number;
  readonly time: number;
}

export type StopReason = "completed" | "early-stopping" | "non-finite" | "aborted" | "stop-at-step";

export interface History {
  readonly steps: StepRecord[];
  readonly evals: EvalRecord[];
  readonly epochs: EpochRecord[];
  /** Non-finite events: step and tensor name. */
  readonly nonFinite: { step: number; tensor: string }[];
  stopReason: StopReason;
  /** Detail for the stop reason (e.g. the non-finite tensor). */
  stopDetail?: string;
  /** Step of the last checkpoint this call wrote (undefined when none was written). */
  checkpointStep?: number;
  /** Checkpoints not written because the state was not finite (the previous file was kept). */
  checkpointsSkipped?: number;
  /** Best validation NLL seen and its step (when validating). */
  bestValNll?: number;
  bestStep?: number;
  /**
   * Sigma-floor hits over the whole run (including steps before a resume),
   * when `model.sigmaMin > 0`: `total` raw scale entries, in `steps` steps,
   * the first at step `firstStep` (-1 when never hit).
   */
  floorHits?: FloorHitStats;
}

/** Running totals of sigma-floor hits. */
export interface FloorHitStats {
  total: number;
  steps: number;
  firstStep: number;
}
