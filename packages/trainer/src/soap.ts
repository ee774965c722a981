/**
 * SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using
 * Adam"), in float64 on the trainer side, driven by BackendModel.gradients()
 * and setWeights(). Per parameter P with gradient G at step t:
 *
 * - 2-D P [r, c] (a weight matrix, or a GMM's mu [K, D]): Shampoo's Kronecker
 *   factors L = b2 L + (1-b2) G G^T [r, r] and R = b2 R + (1-b2) G^T G [c, c];
 *   their eigenbases QL, QR are recomputed every `precondFrequency` steps
 *   (and at t = 1) by Jacobi rotations warm-started from the previous basis.
 *   A side larger than `maxPrecondDim` keeps the identity basis.
 *   Adam runs in the rotated basis: G' = QL^T G QR, m = b1 m + (1-b1) G
 *   (kept in the original basis, rotated when used), v = b2 v + (1-b2) G'^2
 *   (kept in the rotated basis; like the reference implementation it is not
 *   re-projected when the basis changes), N' = (QL^T m QR / (1-b1^t)) /
 *   (sqrt(v / (1-b2^t)) + eps), update P -= lr QL N' QR^T.
 * - 1-D P (biases, LayerNorm, GMM logits): plain Adam with the same b1, b2, eps.
 * - Decoupled weight decay P -= lr wd P, as in core's optimizers.
 *
 * Defaults: b1 = 0.95, b2 = 0.95, eps = 1e-8, precondFrequency = 10,
 * maxPrecondDim = 512 (the paper's defaults, except eps). The state is exposed as
 * named tensors (`<param>/m`, `/v`, `/L`, `/R`, `/QL`, `/QR`, and `step`)
 * so checkpoints resume it exactly.
 */
import type { NamedTensors } from "@ngem/core";
import { ShapeError } from "@ngem/core";
import { matmul, symmetricEigen } from "./linalg.js";

export interface SoapOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  readonly precondFrequency?: number;
  readonly maxPrecondDim?: number;
}

/** The SOAP optimizer state and update (see the module comment). */
export class Soap {
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;
  private readonly freq: number;
  private readonly maxDim: number;
  private state: Record<string, Float64Array> = {};
  private t = 0;

  constructor(
    /** Parameter shapes by name. */
    private readonly shapes: Record<string, readonly number[]>,
    opts: SoapOptions = {},
  ) {
    this.b1 = opts.beta1 ?? 0.95;
    this.b2 = opts.beta2 ?? 0.95;
    this.eps = opts.eps ?? 1e-8;
    this.wd = opts.weightDecay ?? 0;
    this.freq = opts.precondFrequency ?? 10;
    this.maxDim = opts.maxPrecondDim ?? 512;
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t;
  }

  /** Applies one update in place to `weights` (float64) with `grads` (already clipped). */
  update(weights: Record<string, Float64Array>, grads: Record<string, ArrayLike<number>>, lr: number): void {
    this.t += 1;
    const t = this.t;
    const { b1, b2, eps } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (const [name, shape] of Object.entries(this.shapes)) {
      const p = weights[name];
      const g = grads[name];
      if (!p) throw new ShapeError(`weights["${name}"]`, "missing");
      if (!g || g.length !== p.length) throw new ShapeError(`grads["${name}"]`, `expected length ${p.length}, got ${g?.length}`);
      if (this.wd !== 0) for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) * (1 - lr * this.wd);
      const m = (this.state[`${name}/m`] ??= new Float64Array(p.length));
      const v = (this.state[`${name}/v`] ??= new Float64Array(p.length));
      for (let i = 0; i < p.length; i++) m[i] = b1 * (m[i] as number) + (1 - b1) * (g[i] as number);
      const [r, c] = shape;
      if (shape.length !== 2 || r === undefined || c === undefined) {
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] as number;
          const vi = b2 * (v[i] as number) + (1 - b2) * gi * gi;
          v[i] = vi;
          p[i] = (p[i] as number) - (lr * ((m[i] as number) / c1)) / (Math.sqrt(vi / c2) + eps);
        }
        continue;
      }
      const G = Float64Array.from(g);
      const useL = r > 1 && r <= this.maxDim;
      const useR = c > 1 && c <= this.maxDim;
      const refresh = t === 1 || t % this.freq === 0;
      let QL: Float64Array | undefined;
      let QR: Float64Array | undefined;
      if (useL) {
        const L = (this.state[`${name}/L`] ??= new Float64Array(r * r));
        const ggt = matmul(G, G, r, c, r, false, true);
        for (let i = 0; i < L.length; i++) L[i] = b2 * (L[i] as number) + (1 - b2) * (ggt[i] as number);
        if (refresh) this.state[`${name}/QL`] = symmetricEigen(L, r, this.state[`${name}/QL`]).q;
        QL = this.state[`${name}/QL`];
      }
      if (useR) {
        const R = (this.state[`${name}/R`] ??= new Float64Array(c * c));
        const gtg = matmul(G, G, c, r, c, true, false);
        for (let i = 0; i < R.length; i++) R[i] = b2 * (R[i] as number) + (1 - b2) * (gtg[i] as number);
        if (refresh) this.state[`${name}/QR`] = symmetricEigen(R, c, this.state[`${name}/QR`]).q;
        QR = this.state[`${name}/QR`];
      }
      const rot = (X: Float64Array): Float64Array => {
        let Y = X;
        if (QL) Y = matmul(QL, Y, r, r, c, true, false);
        if (QR) Y = matmul(Y, QR, r, c, c);
        return Y;
      };
      const Gr = rot(G);
      const Mr = rot(m);
      const N = new Float64Array(p.length);
      for (let i = 0; i < p.length; i++) {
        const gri = Gr[i] as number;
        const vi = b2 * (v[i] as number) + (1 - b2) * gri * gri;
        v[i] = vi;
        N[i] = (Mr[i] as number) / c1 / (Math.sqrt(vi / c2) + eps);
      }
      let U: Float64Array = N;
      if (QL) U = matmul(QL, U, r, r, c);
      if (QR) U = matmul(U, QR, r, c, c, false, true);
      for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) - lr * (U[i] as number);
    }
  }

  /** State as named tensors (1-D shapes) plus `step`. */
  getState(): NamedTensors {
    const out: NamedTensors = { step: { shape: [1], data: Float64Array.of(this.t) } };
    for (const [k, v] of Object.entries(this.state)) out[k] = { shape: [v.length], data: Float64Array.from(v) };
    return out;
  }

  /** Restores a state from {@link getState}; names the first tensor that does not fit. */
  setState(state: NamedTensors): void {
    const next: Record<string, Float64Array> = {};
    let t: number | undefined = 0;
    for (const [key, tensor] of Object.entries(state)) {
      if (key === "step") {
        t = tensor.data[0];
        continue;
      }
      const slash = key.lastIndexOf("/");
      const param = key.slice(0, slash);
      const kind = key.slice(slash + 1);
      const shape = this.shapes[param];
      if (!shape) throw new ShapeError(`optimizerState["${key}"]`, "does not belong to a parameter of this model");
      const size = shape.reduce((a, b) => a * b, 1);
      const expected =
        kind === "m" || kind === "v"
          ? size
          : kind === "L" || kind === "QL"
            ? (shape[0] ?? Number.NaN) ** 2
            : kind === "R" || kind === "QR"
              ? (shape[1] ?? Number.NaN) ** 2
              : -1;
      if (tensor.data.length !== expected) throw new ShapeError(`optimizerState["${key}"]`, `expected length ${expected}, got ${tensor.data.length}`);
      next[key] = Float64Array.from(tensor.data);
    }
    if (t === undefined || !Number.isInteger(t) || t < 0) throw new ShapeError('optimizerState["step"]', `expected an integer >= 0, got ${t}`);
    this.state = next;
    this.t = t;
  }
}
