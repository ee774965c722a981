/** The handle of a trained (or loaded) model and its resumable training state. */
import { paramShapes, Rng, type BackendModel, type ModelSpec, type NamedTensors, type RngState } from "@ngem/core";
import type { ResolvedConfig } from "./config.js";
import { deriveSeed } from "./data.js";
import { initialNoiseRng } from "./noise.js";
import { Soap } from "./soap.js";
import type { FloorHitStats, Normalization } from "./types.js";

/** Everything, besides weights and optimizer moments, needed to continue a run exactly. */
export interface TrainerState {
  /** Optimizer steps taken (0-based index of the next step). */
  step: number;
  /** Completed epochs. */
  epoch: number;
  /** Minibatches of the current epoch already taken. */
  batchInEpoch: number;
  /** The current epoch's row order (indices into the training rows), or null before the first epoch. */
  perm: Uint32Array | null;
  /** Shuffling stream state. */
  rng: RngState;
  /** Noise-regularisation stream state (derived stream 3 of the seed; untouched while noise is off). */
  noiseRng: RngState;
  /** Sigma-floor hits so far (all zero unless model.sigmaMin > 0). */
  floorHits: FloorHitStats;
  epochLossSum: number;
  epochLossCount: number;
  bestValNll: number;
  bestStep: number;
  /** Evaluations since the last improvement (early stopping). */
  badEvals: number;
  /** Weights at the best validation NLL (only with earlyStopping.restoreBest). */
  bestWeights?: NamedTensors;
  /** Fingerprint of the full data set the run was trained on. */
  dataFingerprint: string;
  /** Set when the run finished (completed, early stopping or non-finite stop). */
  finished: boolean;
  /** Position in the data stream, for a run trained on a stream source (stream.ts). */
  stream?: StreamPosition;
}

/**
 * Where a streamed run is in its source within the current epoch: enough to
 * continue exactly. Slot s of the shuffle buffer holds source row `rows[s]`
 * (s < fill); `readPos` is one past the last source row read into it.
 */
export interface StreamPosition {
  /** Shuffle-buffer rows (1 without shuffling). */
  readonly capacity: number;
  /** Whether rows are standardised with the run's normalisation. */
  readonly standardize: boolean;
  readPos: number;
  fill: number;
  /** Source row index of each buffer slot (length capacity; entries [0, fill) are valid). */
  readonly rows: Float64Array;
}

/** The state of a run that has not taken a step yet (shuffling stream 2 and noise stream 3 of `seed`). */
export function initialState(seed: number, dataFingerprint: string): TrainerState {
  return {
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    perm: null,
    rng: new Rng(deriveSeed(seed, 2)).getState(),
    noiseRng: initialNoiseRng(seed),
    floorHits: { total: 0, steps: 0, firstStep: -1 },
    epochLossSum: 0,
    epochLossCount: 0,
    bestValNll: Infinity,
    bestStep: -1,
    badEvals: 0,
    dataFingerprint,
    finished: false,
  };
}

/**
 * A model with its config, backend, normalisation and training state. Use it
 * with `predict`, `sample`, `evaluate`, `save`, `resume`; `backendModel` gives
 * direct access to the backend's model.
 */
export class TrainedModel {
  constructor(
    readonly config: ResolvedConfig,
    readonly spec: ModelSpec,
    /** Backend name it runs on. */
    readonly backend: string,
    readonly backendModel: BackendModel,
    readonly state: TrainerState,
    readonly normalization: { readonly x?: Normalization; readonly y?: Normalization } | undefined,
    /** The trainer-side optimizer (SOAP), when the config uses one. */
    readonly soap: Soap | undefined,
  ) {}

  /** Current weights (a copy), by canonical parameter name. */
  weights(): Promise<NamedTensors> {
    return this.backendModel.getWeights();
  }

  /** Optimizer state (backend's or SOAP's). */
  async optimizerState(): Promise<NamedTensors> {
    return this.soap ? this.soap.getState() : this.backendModel.getOptimizerState();
  }

  /** Frees the backend model. */
  dispose(): void {
    this.backendModel.dispose();
  }
}

/** Creates the trainer-side optimizer for a config, if it needs one. */
export function makeSoap(config: ResolvedConfig, spec: ModelSpec): Soap | undefined {
  const o = config.optimizer;
  if (o.type !== "soap") return undefined;
  const shapes: Record<string, number[]> = {};
  for (const [name, shape] of paramShapes(spec)) shapes[name] = shape;
  return new Soap(shapes, {
    ...(o.beta1 === undefined ? {} : { beta1: o.beta1 }),
    ...(o.beta2 === undefined ? {} : { beta2: o.beta2 }),
    ...(o.eps === undefined ? {} : { eps: o.eps }),
    ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }),
    ...(o.precondFrequency === undefined ? {} : { precondFrequency: o.precondFrequency }),
    ...(o.maxPrecondDim === undefined ? {} : { maxPrecondDim: o.maxPrecondDim }),
  });
}
