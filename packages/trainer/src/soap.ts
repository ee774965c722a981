/**
 * SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using
 * Adam"), in float64 on the trainer side, driven by BackendModel.gradients()
 * and setWeights(). Per parameter P with gradient G at step t:
 *
 * - 2-D P [r, c] (a weight matrix, or a GMM's mu [K, D]): Shampoo's Kronecker
 *   factors L = b2 L + (1-b2) G G^T [r, r] and R = b2 R + (1-b2) G^T G [c, c];
 *   their eigenbases QL, QR are refreshed every `precondFrequency` steps (and
 *   at t = 1). The first one is a full eigendecomposition (Jacobi rotations,
 *   columns sorted by eigenvalue, largest first); later ones are the paper's
 *   cheap refresh (`refresh: "power-qr"`, the default; Algorithm 4 / the
 *   reference code's get_orthogonal_matrix_QR): sort the warm basis by
 *   diag(Q^T L Q), permute v's rows (columns for QR) the same way, then one
 *   power-iteration step Q = QR(L Q) (linalg.ts powerQrRefresh, ~3 n^3
 *   multiply-adds). `refresh: "jacobi"` keeps the earlier behaviour: a full
 *   Jacobi eigendecomposition warm-started from the previous basis at every
 *   refresh, unsorted (about 10x the cost at n = 128).
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
import { descendingOrder, gramRows, matmul, permuteColumns, powerQrRefresh, symmetricEigen, transpose } from "./linalg.js";

export interface SoapOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  readonly precondFrequency?: number;
  readonly maxPrecondDim?: number;
  /** Eigenbasis refresh after the first: "power-qr" (default, the SOAP paper's) or "jacobi" (full, warm-started). */
  readonly refresh?: "power-qr" | "jacobi";
}

/** The SOAP optimizer state and update (see the module comment). */
export class Soap {
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;
  private readonly freq: number;
  private readonly maxDim: number;
  private readonly refreshKind: "power-qr" | "jacobi";
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
    this.refreshKind = opts.refresh ?? "power-qr";
  }

  /**
   * The new eigenbasis of the factor `f` [n, n] for one side of parameter `name`, and v (the rotated second
   * moment [r, c]) permuted to match when the columns were reordered (axis 0 for QL, 1 for QR).
   */
  private refreshBasis(name: string, side: "QL" | "QR", f: Float64Array, n: number, v: Float64Array, r: number, c: number): Float64Array {
    const prev = this.state[`${name}/${side}`];
    if (this.refreshKind === "jacobi") return symmetricEigen(f, n, prev).q;
    let q: Float64Array;
    let perm: number[];
    if (!prev) {
      const e = symmetricEigen(f, n);
      perm = descendingOrder(e.values);
      q = permuteColumns(e.q, n, perm);
    } else ({ q, perm } = powerQrRefresh(f, n, prev));
    if (perm.some((src, i) => src !== i)) {
      const old = Float64Array.from(v);
      for (let i = 0; i < r; i++)
        for (let j = 0; j < c; j++) v[i * c + j] = side === "QL" ? (old[(perm[i] as number) * c + j] as number) : (old[i * c + (perm[j] as number)] as number);
    }
    return q;
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
        const ggt = gramRows(G, r, c);
        for (let i = 0; i < L.length; i++) L[i] = b2 * (L[i] as number) + (1 - b2) * (ggt[i] as number);
        if (refresh) this.state[`${name}/QL`] = this.refreshBasis(name, "QL", L, r, v, r, c);
        QL = this.state[`${name}/QL`];
      }
      if (useR) {
        const R = (this.state[`${name}/R`] ??= new Float64Array(c * c));
        const gtg = gramRows(transpose(G, r, c), c, r);
        for (let i = 0; i < R.length; i++) R[i] = b2 * (R[i] as number) + (1 - b2) * (gtg[i] as number);
        if (refresh) this.state[`${name}/QR`] = this.refreshBasis(name, "QR", R, c, v, r, c);
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
