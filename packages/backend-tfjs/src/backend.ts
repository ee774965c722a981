/**
 * One Backend class for all three tfjs platforms, parameterised by the tfjs
 * backend name ("cpu", "wasm", "tensorflow"): the same tfjs code runs on each.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  createModelFacade,
  NonFiniteError,
  resolveHeadOptions,
  validateMixture,
  type Backend,
  type BackendModel,
  type FloatArray,
  type HeadOptions,
  type HeadResult,
  type MixtureParams,
  type ModelSpec,
  type NamedTensors,
} from "@ngem/core";
import { ensureGradients } from "./gradients.js";
import { eStep, headLoss, negQOf } from "./head-op.js";
import { TfjsHandler } from "./model.js";
import { activatePlatform, loadPlatform, PLATFORMS, type TfjsBackendName, type TfjsPlatform } from "./platforms.js";

/** A float32 ngem backend running on one tfjs platform. */
export class TfjsBackend implements Backend {
  readonly precision = "float32" as const;
  /** The tfjs backend name (as in `tf.setBackend`). */
  readonly platform: TfjsPlatform;

  constructor(readonly name: TfjsBackendName) {
    this.platform = PLATFORMS[name].platform;
  }

  /** NLL, -Q and the output gradients of `opts.variant` (through the custom-gradient head op). */
  async head(params: MixtureParams, y: FloatArray, opts: HeadOptions): Promise<HeadResult> {
    validateMixture(params, y);
    const o = resolveHeadOptions(opts);
    await activatePlatform(this.platform);
    const { n, k, d } = params;
    const r = tf.tidy(() => {
      const logits = tf.tensor2d(Float32Array.from(params.logits), [n, k]);
      const mu = tf.tensor3d(Float32Array.from(params.mu), [n, k, d]);
      const logSigma = tf.tensor3d(Float32Array.from(params.logSigma), [n, k, d]);
      const yt = tf.tensor2d(Float32Array.from(y), [n, d]);
      const f = headLoss(yt, o);
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, m: tf.Tensor, s: tf.Tensor) => f(a, m, s))([logits, mu, logSigma]);
      const e = eStep({ logits, mu, logSigma }, yt);
      return { loss: value, lse: e.lse, negQ: negQOf(e), gA: grads[0] as tf.Tensor, gMu: grads[1] as tf.Tensor, gS: grads[2] as tf.Tensor };
    });
    try {
      const [loss, lse, negQ, gA, gMu, gS] = await Promise.all([r.loss, r.lse, r.negQ, r.gA, r.gMu, r.gS].map((t) => t.data()));
      const bad = (lse as Float32Array).findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new NonFiniteError("nll", bad, -(lse as Float32Array)[bad]!, "density of sample n underflowed for every component");
      }
      return {
        loss: (loss as Float32Array)[0] as number,
        negQ: (negQ as Float32Array)[0] as number,
        grads: { logits: Float64Array.from(gA as Float32Array), mu: Float64Array.from(gMu as Float32Array), logSigma: Float64Array.from(gS as Float32Array) },
      };
    } finally {
      tf.dispose(Object.values(r));
    }
  }

  /** A model with the given weights (float32 copies; the arrays passed in are not kept): core's ModelFacade over a {@link TfjsHandler}. */
  async createModel(spec: ModelSpec, weights: NamedTensors): Promise<BackendModel> {
    return createModelFacade(spec, weights, (s, w) => TfjsHandler.create(s, w, this.platform));
  }

  /** Models own their tensors (dispose them); the tfjs platform stays registered. */
  dispose(): void {}
}

/**
 * Loads the tfjs platform behind `name` (dynamic import of its package) and
 * returns the backend. Throws BackendUnavailableError naming the package to
 * install when it is missing.
 */
export async function createTfjsBackend(name: TfjsBackendName): Promise<TfjsBackend> {
  await loadPlatform(name);
  ensureGradients(); // after the platform import, so gradients registered by tfjs-node-gpu's @tensorflow/tfjs win
  return new TfjsBackend(name);
}
