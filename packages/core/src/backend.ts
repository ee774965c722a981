/**
 * The one contract every backend implements (`js`, `wasm`, `tfjs-cpu`,
 * `tfjs-wasm`, `tfjs-gpu`). Two levels:
 * - head level: the fused mixture head (NLL + output gradients of a variant);
 * - model level: a model built from a {@link ModelSpec} that trains itself one
 *   step at a time and exchanges weights as named float arrays.
 * Methods are async so GPU backends can keep data on the device.
 *
 * A backend does not implement BackendModel itself: it implements the narrow
 * `ModelHandler` of model/protocol.ts and returns core's `ModelFacade`, which
 * validates arguments and does the shared bookkeeping once for all backends.
 */
import type { HeadOptions, HeadResult } from "./head.js";
import type { FloatArray, MixtureParams } from "./mixture.js";
import type { ScaleOptions } from "./scale.js";

export type BackendName = "js" | "wasm" | "tfjs-cpu" | "tfjs-wasm" | "tfjs-gpu" | "tfjs-webgl" | "tfjs-webgpu";
export type Activation = "gelu" | "tanh" | "relu";

/** A mixture density network: MLP trunk (Linear -> [LayerNorm] -> activation) and a mixture head. */
export interface MdnSpec {
  readonly kind: "mdn";
  readonly inputDim: number;
  readonly hidden: readonly number[];
  readonly activation: Activation;
  readonly layerNorm: boolean;
  readonly k: number;
  readonly d: number;
  /** Scale parameterisation, sigma floor, covariance (default exp / 0 / diag; see scale.ts). */
  readonly head?: ScaleOptions;
  /**
   * "shared" (default; absent = shared): one trunk feeds logits, means and scales.
   * "separate": two trunks of the same widths / activation / LayerNorm, one for the
   * mixture logits and one for the means and raw scales (see model/spec.ts for the names).
   */
  readonly trunk?: MdnTrunk;
}
/** Trunk layout of an MDN (see {@link MdnSpec.trunk}). */
export type MdnTrunk = "shared" | "separate";
/** A free mixture: K x D parameters shared by every sample (no input). */
export interface GmmSpec {
  readonly kind: "gmm";
  readonly k: number;
  readonly d: number;
  /** As for MdnSpec; `gmm.logSigma` then holds the raw scale r ([K,D], [K,1] or [1,D]). */
  readonly head?: ScaleOptions;
}
export type ModelSpec = MdnSpec | GmmSpec;

/** A named tensor: row-major data and its shape. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: FloatArray;
}
/** Weights, gradients or optimizer state by name (see `paramShapes`). */
export type NamedTensors = Record<string, Tensor>;

export type OptimizerSpec = (
  | { readonly type: "sgd"; readonly momentum?: number; readonly nesterov?: boolean }
  | { readonly type: "adam"; readonly beta1?: number; readonly beta2?: number; readonly eps?: number }
  | { readonly type: "rmsprop"; readonly alpha?: number; readonly eps?: number; readonly momentum?: number }
) & {
  /** Learning rate of this step (schedules live in the trainer). */
  readonly lr: number;
  /** Decoupled weight decay (default 0). */
  readonly weightDecay?: number;
  /**
   * Clip the gradient to this global L2 norm (default: no clipping). With
   * `freeze`, the norm is over the trainable parameters only.
   */
  readonly clipNorm?: number;
  /**
   * Parameter names (of `paramShapes(spec)`) this update leaves untouched: no
   * step, no weight decay, their moments stay as they are (zero if never
   * updated). Like PyTorch with `requires_grad = False` on them: the gradient
   * norm that clipping uses and that `StepResult.gradNorm` reports is over the
   * trainable parameters only. A non-finite gradient anywhere (frozen or not)
   * still skips the step. An unknown name is a ShapeError naming
   * `optimizer.freeze[i]`. Absent or empty: every parameter trains.
   */
  readonly freeze?: readonly string[];
};

/**
 * An optimizer that runs outside the backend on float64 copies (the
 * trainer's SOAP): `step` hands it the clipped gradients and the weights,
 * it updates the weights in place, and the facade writes them back.
 */
export interface ExternalOptimizer {
  readonly type: "external";
  /** Clip the gradient to this global L2 norm first (default: no clipping). */
  readonly clipNorm?: number;
  update(weights: Record<string, Float64Array>, grads: Record<string, Float64Array>): void;
}

/** A minibatch: x [n, inputDim] (absent for a free GMM), y [n, d]. */
export interface Batch {
  readonly n: number;
  readonly x?: FloatArray;
  readonly y: FloatArray;
}

export interface StepResult {
  /** Mean NLL of the batch before the update. */
  readonly loss: number;
  /** Global L2 norm of the gradient before clipping (of the trainable parameters only when `optimizer.freeze` is set). */
  readonly gradNorm: number;
  /** Set when a loss or gradient was NaN/Inf: the step was skipped and this names the tensor. */
  readonly nonFinite?: string;
  /** Raw scale entries of the batch at which the sigma floor dominated (only with sigmaMin > 0). */
  readonly floorHits?: number;
}

export interface BackendModel {
  readonly spec: ModelSpec;
  /** Forward, head gradient of `head.variant`, backward, clip, optimizer update. */
  step(batch: Batch, head: HeadOptions, optimizer: OptimizerSpec | ExternalOptimizer): Promise<StepResult>;
  /** Loss and parameter gradients without updating (for custom optimizers and checks). */
  gradients(batch: Batch, head: HeadOptions): Promise<{ loss: number; grads: NamedTensors }>;
  /** Mixture parameters for inputs x [n, inputDim] (a GMM ignores x and repeats its n rows). */
  predict(x: FloatArray | undefined, n: number): Promise<MixtureParams>;
  getWeights(): Promise<NamedTensors>;
  setWeights(weights: NamedTensors): Promise<void>;
  /** Optimizer moments and step count, by name ("<param>/m", "<param>/v", "step"). */
  getOptimizerState(): Promise<NamedTensors>;
  setOptimizerState(state: NamedTensors): Promise<void>;
  dispose(): void;
}

export interface Backend {
  readonly name: string;
  readonly precision: "float32" | "float64";
  /** The fused mixture head; inputs may be any float array, results are float64 arrays. */
  head(params: MixtureParams, y: FloatArray, opts: HeadOptions): Promise<HeadResult>;
  /** A model with the given weights (`initWeights(spec, seed)` gives the reference init). */
  createModel(spec: ModelSpec, weights: NamedTensors): Promise<BackendModel>;
  dispose(): void;
}
