/**
 * Noise regularisation (Rothfuss et al. 2019, "Noise regularization for
 * conditional density estimation"): each training minibatch's x and y get
 * fresh Gaussian noise, drawn from the trainer's seeded noise stream so that a
 * resumed run draws exactly the noise the uninterrupted run would have drawn.
 * Evaluation never adds noise.
 */
import { Rng, scaleIndex, scaleWidth, type Batch, type MixtureParams, type RngState, type ScaleOptions } from "@ngem/core";
import type { ResolvedConfig } from "./config.js";
import { deriveSeed } from "./data.js";

/** Initial state of the noise stream of a run seeded with `seed` (derived stream 3 of the seed). */
export function initialNoiseRng(seed: number): RngState {
  return new Rng(deriveSeed(seed, 3)).getState();
}

/**
 * The noise stds actually used for a run with `nTrain` training rows:
 * `noise.x`, `noise.y` themselves ("constant"), or those factors times the
 * bandwidth rule h = nTrain^(-1/(4+d)), d = xDim + yDim ("rule-of-thumb").
 */
export function effectiveNoise(config: Pick<ResolvedConfig, "noise">, nTrain: number, xDim: number, yDim: number): { x: number; y: number } {
  const n = config.noise;
  if (n.schedule === "constant") return { x: xDim > 0 ? n.x : 0, y: n.y };
  const h = nTrain ** (-1 / (4 + xDim + yDim));
  return { x: xDim > 0 ? n.x * h : 0, y: n.y * h };
}

/**
 * Adds N(0, std^2) noise to the batch's x and y in place (the batch must own
 * its arrays, as `gatherBatch`'s do). Draws x's noise first, then y's, row-major;
 * nothing is drawn for a std of 0.
 */
export function perturbBatch(batch: Batch, std: { x: number; y: number }, rng: Rng): void {
  if (std.x > 0 && batch.x) {
    const x = batch.x;
    for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + std.x * rng.normal();
  }
  if (std.y > 0) {
    const y = batch.y;
    for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) + std.y * rng.normal();
  }
}

/**
 * Raw scale entries at which the sigma floor dominates (f(r) < sigmaMin, i.e.
 * sigma < 2 sigmaMin), counted from predicted mixture parameters: one entry
 * per (n, k, d) for "diag", per (n, k) for "isotropic", per (n, d) for
 * "shared" - the same count core's backends report in `StepResult.floorHits`.
 * Used for optimizers that run in the trainer (SOAP), where the backend's
 * `gradients()` does not report it.
 */
export function countFloorHits(params: MixtureParams, head: Required<ScaleOptions>): number {
  if (!(head.sigmaMin > 0)) return 0;
  const { n: N, k: K, d: D } = params;
  const S = scaleWidth(K, D, head.covariance);
  const limit = Math.log(2 * head.sigmaMin);
  let hits = 0;
  for (let n = 0; n < N; n++) {
    const seen = new Uint8Array(S);
    for (let k = 0; k < K; k++) {
      for (let d = 0; d < D; d++) {
        const j = scaleIndex(k, d, D, head.covariance);
        if (seen[j]) continue;
        seen[j] = 1;
        if ((params.logSigma[(n * K + k) * D + d] as number) < limit) hits++;
      }
    }
  }
  return hits;
}
