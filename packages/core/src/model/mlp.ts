/**
 * Float64 reference forward/backward of the MDN trunk + head and of the free
 * GMM, used by the `js` backend and as the ground truth for other backends.
 */
import type { Activation, GmmSpec, MdnSpec, ModelSpec, NamedTensors } from "../backend.js";
import { checkFiniteRows, firstNonFinite, NonFiniteError, ShapeError } from "../errors.js";
import type { RawHeadGradients } from "../head.js";
import type { FloatArray, MixtureParams } from "../mixture.js";
import { expandScale, resolveScaleOptions, scaleWidth, type RawHead } from "../scale.js";
import { erf } from "../special.js";
import { headWidth, trunkLayout } from "./spec.js";

/** LayerNorm epsilon (PyTorch default). */
export const LAYER_NORM_EPS = 1e-5;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Activation value. GELU is the exact erf form, 0.5 x (1 + erf(x / sqrt 2)). */
export function activate(a: Activation, x: number): number {
  switch (a) {
    case "relu":
      return x > 0 ? x : 0;
    case "tanh":
      return Math.tanh(x);
    case "gelu":
      return 0.5 * x * (1 + erf(x * INV_SQRT2));
  }
}

/** Derivative of the activation at pre-activation x. */
export function activateGrad(a: Activation, x: number): number {
  switch (a) {
    case "relu":
      return x > 0 ? 1 : 0;
    case "tanh": {
      const t = Math.tanh(x);
      return 1 - t * t;
    }
    case "gelu":
      return 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
  }
}

interface LayerCache {
  input: Float64Array; // [n, in]
  pre: Float64Array; // x W + b, [n, out]
  normed?: Float64Array; // xhat (before gamma/beta), [n, out]
  invStd?: Float64Array; // [n]
  act_in: Float64Array; // input of the activation, [n, out]
}

export interface MdnForward {
  /** The diagonal mixture (expanded from the raw head with spec.head). */
  params: MixtureParams;
  /** Raw head outputs: logits, mu, raw scale [n, S]. */
  raw: RawHead;
  /** Head output rows [n, K + KD + S]. */
  out: Float64Array;
  /** Layer caches of the first trunk (the only one when shared). */
  caches: LayerCache[];
  last: Float64Array; // input of the (first) head
  /** Per trunk (spec.ts `trunkLayout` order): its layer caches and its head's input. */
  trunks: { caches: LayerCache[]; last: Float64Array }[];
  n: number;
}

function get(w: NamedTensors, name: string): FloatArray {
  const t = w[name];
  if (!t) throw new ShapeError(`weights["${name}"]`, "missing");
  return t.data;
}

/** out[n, o] = b[o] + sum_i x[n, i] W[i, o] */
export function dense(x: FloatArray, n: number, inDim: number, W: FloatArray, b: FloatArray, outDim: number): Float64Array {
  const out = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++) {
    const o = r * outDim;
    for (let j = 0; j < outDim; j++) out[o + j] = b[j] as number;
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i] as number;
      if (xi === 0) continue;
      const wo = i * outDim;
      for (let j = 0; j < outDim; j++) out[o + j] = (out[o + j] as number) + xi * (W[wo + j] as number);
    }
  }
  return out;
}

/** Splits head output rows [n, K + KD + S] into raw head outputs (S raw scale entries per row). */
export function splitHeadOutput(out: Float64Array, n: number, k: number, d: number, s = k * d): RawHead {
  const W = k + k * d + s;
  const logits = new Float64Array(n * k);
  const mu = new Float64Array(n * k * d);
  const scale = new Float64Array(n * s);
  for (let r = 0; r < n; r++) {
    logits.set(out.subarray(r * W, r * W + k), r * k);
    mu.set(out.subarray(r * W + k, r * W + k + k * d), r * k * d);
    scale.set(out.subarray(r * W + k + k * d, (r + 1) * W), r * s);
  }
  return { n, k, d, logits, mu, scale };
}

/**
 * A forward pass never returns a NaN/Infinity mixture silently: the first
 * non-finite output (logits, then mu, then logSigma - the order the head
 * checks them in) is a {@link NonFiniteError} naming that tensor and the batch
 * row, and saying whether that row's input was already non-finite.
 */
function checkForwardFinite(m: MixtureParams, x: FloatArray, inputDim: number): void {
  const K = m.k;
  const KD = m.k * m.d;
  for (const [name, a, width] of [
    ["logits", m.logits, K],
    ["mu", m.mu, KD],
    ["logSigma", m.logSigma, KD],
  ] as const) {
    const i = firstNonFinite(a);
    if (i < 0) continue;
    const row = Math.floor(i / width);
    let cause = "the network output overflowed for this input";
    for (let c = 0; c < inputDim; c++) {
      const v = x[row * inputDim + c] as number;
      if (!Number.isFinite(v)) {
        cause = `input x[${row}, ${c}] = ${v}`;
        break;
      }
    }
    throw new NonFiniteError(name, i, a[i] as number, `row ${row}: ${cause}`, row);
  }
  // a NaN input that an activation swallowed (relu(NaN) = 0) still poisons the result
  checkFiniteRows("x", x, inputDim);
}

/** Forward pass of an MDN on x [n, inputDim]; throws NonFiniteError (with the row) instead of returning a non-finite mixture. */
export function mdnForward(spec: MdnSpec, w: NamedTensors, x: FloatArray, n: number): MdnForward {
  if (x.length !== n * spec.inputDim) {
    throw new ShapeError("x", `expected shape [n, inputDim] = [${n}, ${spec.inputDim}] (length ${n * spec.inputDim}), got length ${x.length}`);
  }
  const HW = headWidth(spec);
  const layout = trunkLayout(spec);
  const trunks: { caches: LayerCache[]; last: Float64Array }[] = [];
  let out: Float64Array = new Float64Array(0);
  for (const t of layout) {
    const r = trunkForward(spec, w, x, n, t.trunk);
    trunks.push(r);
    const part = dense(
      r.last,
      n,
      spec.hidden.length ? (spec.hidden[spec.hidden.length - 1] as number) : spec.inputDim,
      get(w, `${t.head}.weight`),
      get(w, `${t.head}.bias`),
      t.width,
    );
    if (layout.length === 1) out = part;
    else {
      if (out.length === 0) out = new Float64Array(n * HW);
      for (let row = 0; row < n; row++) out.set(part.subarray(row * t.width, (row + 1) * t.width), row * HW + t.col0);
    }
  }
  const raw = splitHeadOutput(out, n, spec.k, spec.d, scaleWidth(spec.k, spec.d, resolveScaleOptions(spec.head).covariance));
  const params = expandScale(raw, spec.head).params;
  checkForwardFinite(params, x, spec.inputDim);
  const first = trunks[0] as { caches: LayerCache[]; last: Float64Array };
  return { params, raw, out, caches: first.caches, last: first.last, trunks, n };
}

/** Forward pass of one trunk (`prefix`.i.*): the layer caches and the last hidden activation. */
function trunkForward(spec: MdnSpec, w: NamedTensors, x: FloatArray, n: number, prefix: string): { caches: LayerCache[]; last: Float64Array } {
  let h: Float64Array = Float64Array.from(x);
  let inDim = spec.inputDim;
  const caches: LayerCache[] = [];
  spec.hidden.forEach((width, i) => {
    const pre = dense(h, n, inDim, get(w, `${prefix}.${i}.weight`), get(w, `${prefix}.${i}.bias`), width);
    const cache: LayerCache = { input: h, pre, act_in: pre };
    if (spec.layerNorm) {
      const gamma = get(w, `${prefix}.${i}.ln.gamma`);
      const beta = get(w, `${prefix}.${i}.ln.beta`);
      const normed = new Float64Array(n * width);
      const invStd = new Float64Array(n);
      const y = new Float64Array(n * width);
      for (let r = 0; r < n; r++) {
        let mean = 0;
        for (let j = 0; j < width; j++) mean += pre[r * width + j] as number;
        mean /= width;
        let v = 0;
        for (let j = 0; j < width; j++) {
          const c = (pre[r * width + j] as number) - mean;
          v += c * c;
        }
        const is = 1 / Math.sqrt(v / width + LAYER_NORM_EPS);
        invStd[r] = is;
        for (let j = 0; j < width; j++) {
          const xh = ((pre[r * width + j] as number) - mean) * is;
          normed[r * width + j] = xh;
          y[r * width + j] = xh * (gamma[j] as number) + (beta[j] as number);
        }
      }
      cache.normed = normed;
      cache.invStd = invStd;
      cache.act_in = y;
    }
    const out = new Float64Array(n * width);
    for (let j = 0; j < out.length; j++) out[j] = activate(spec.activation, cache.act_in[j] as number);
    caches.push(cache);
    h = out;
    inDim = width;
  });
  return { caches, last: h };
}

/** Backward pass from head output gradients to parameter gradients. */
export function mdnBackward(spec: MdnSpec, w: NamedTensors, fwd: MdnForward, g: RawHeadGradients): Record<string, Float64Array> {
  const { n } = fwd;
  const { k: K, d: D } = spec;
  const HW = headWidth(spec);
  const S = HW - K - K * D;
  const gOut = new Float64Array(n * HW);
  for (let r = 0; r < n; r++) {
    gOut.set(g.logits.subarray(r * K, (r + 1) * K), r * HW);
    gOut.set(g.mu.subarray(r * K * D, (r + 1) * K * D), r * HW + K);
    gOut.set(g.scale.subarray(r * S, (r + 1) * S), r * HW + K + K * D);
  }
  const grads: Record<string, Float64Array> = {};
  const lastDim = spec.hidden.length ? (spec.hidden[spec.hidden.length - 1] as number) : spec.inputDim;
  const layout = trunkLayout(spec);
  layout.forEach((t, ti) => {
    let gPart = gOut;
    if (layout.length > 1) {
      gPart = new Float64Array(n * t.width);
      for (let r = 0; r < n; r++) gPart.set(gOut.subarray(r * HW + t.col0, r * HW + t.col0 + t.width), r * t.width);
    }
    const tr = fwd.trunks[ti] as { caches: LayerCache[]; last: Float64Array };
    const gH = denseBackward(tr.last, n, lastDim, get(w, `${t.head}.weight`), gPart, t.width, grads, t.head);
    trunkBackward(spec, w, tr.caches, n, gH, grads, t.trunk);
  });
  return grads;
}

/** Backward pass of one trunk (`prefix`.i.*) from the gradient of its last activation. */
function trunkBackward(
  spec: MdnSpec,
  w: NamedTensors,
  caches: LayerCache[],
  n: number,
  gLast: Float64Array,
  grads: Record<string, Float64Array>,
  prefix: string,
): void {
  let gH = gLast;
  for (let i = spec.hidden.length - 1; i >= 0; i--) {
    const width = spec.hidden[i] as number;
    const c = caches[i] as LayerCache;
    // through the activation
    const gAct = new Float64Array(n * width);
    for (let j = 0; j < gAct.length; j++) gAct[j] = (gH[j] as number) * activateGrad(spec.activation, c.act_in[j] as number);
    let gPre = gAct;
    if (spec.layerNorm) {
      const gamma = get(w, `${prefix}.${i}.ln.gamma`);
      const gGamma = new Float64Array(width);
      const gBeta = new Float64Array(width);
      gPre = new Float64Array(n * width);
      const normed = c.normed as Float64Array;
      const invStd = c.invStd as Float64Array;
      for (let r = 0; r < n; r++) {
        let m1 = 0;
        let m2 = 0;
        for (let j = 0; j < width; j++) {
          const gy = gAct[r * width + j] as number;
          const xh = normed[r * width + j] as number;
          gGamma[j] = (gGamma[j] as number) + gy * xh;
          gBeta[j] = (gBeta[j] as number) + gy;
          const gxh = gy * (gamma[j] as number);
          m1 += gxh;
          m2 += gxh * xh;
        }
        m1 /= width;
        m2 /= width;
        const is = invStd[r] as number;
        for (let j = 0; j < width; j++) {
          const gxh = (gAct[r * width + j] as number) * (gamma[j] as number);
          gPre[r * width + j] = is * (gxh - m1 - (normed[r * width + j] as number) * m2);
        }
      }
      grads[`${prefix}.${i}.ln.gamma`] = gGamma;
      grads[`${prefix}.${i}.ln.beta`] = gBeta;
    }
    const inDim = i === 0 ? spec.inputDim : (spec.hidden[i - 1] as number);
    gH = denseBackward(c.input, n, inDim, get(w, `${prefix}.${i}.weight`), gPre, width, grads, `${prefix}.${i}`);
  }
}

/** Writes weight/bias grads of a dense layer into `grads` and returns the input gradient. */
function denseBackward(
  x: Float64Array,
  n: number,
  inDim: number,
  W: FloatArray,
  gOut: Float64Array,
  outDim: number,
  grads: Record<string, Float64Array>,
  prefix: string,
): Float64Array {
  const gW = new Float64Array(inDim * outDim);
  const gB = new Float64Array(outDim);
  const gX = new Float64Array(n * inDim);
  for (let r = 0; r < n; r++) {
    const go = r * outDim;
    for (let j = 0; j < outDim; j++) gB[j] = (gB[j] as number) + (gOut[go + j] as number);
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i] as number;
      const wo = i * outDim;
      let acc = 0;
      for (let j = 0; j < outDim; j++) {
        const g = gOut[go + j] as number;
        gW[wo + j] = (gW[wo + j] as number) + xi * g;
        acc += g * (W[wo + j] as number);
      }
      gX[r * inDim + i] = acc;
    }
  }
  grads[`${prefix}.weight`] = gW;
  grads[`${prefix}.bias`] = gB;
  return gX;
}

/** The free GMM's raw head repeated over n rows. */
export function gmmRawHead(spec: GmmSpec, w: NamedTensors, n: number): RawHead {
  const { k: K, d: D } = spec;
  const S = scaleWidth(K, D, resolveScaleOptions(spec.head).covariance);
  const logits = new Float64Array(n * K);
  const mu = new Float64Array(n * K * D);
  const scale = new Float64Array(n * S);
  const a = get(w, "gmm.logits");
  const m = get(w, "gmm.mu");
  const s = get(w, "gmm.logSigma");
  for (let r = 0; r < n; r++) {
    logits.set(a, r * K);
    mu.set(m, r * K * D);
    scale.set(s, r * S);
  }
  return { n, k: K, d: D, logits, mu, scale };
}

/** The free GMM's (expanded, diagonal) mixture repeated over n rows. */
export function gmmParams(spec: GmmSpec, w: NamedTensors, n: number): MixtureParams {
  return expandScale(gmmRawHead(spec, w, n), spec.head).params;
}

/** Sums per-row head gradients into the GMM's shared parameters. */
export function gmmBackward(spec: GmmSpec, n: number, g: RawHeadGradients): Record<string, Float64Array> {
  const { k: K, d: D } = spec;
  const S = scaleWidth(K, D, resolveScaleOptions(spec.head).covariance);
  const ga = new Float64Array(K);
  const gm = new Float64Array(K * D);
  const gs = new Float64Array(S);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < K; i++) ga[i] = (ga[i] as number) + (g.logits[r * K + i] as number);
    for (let i = 0; i < K * D; i++) gm[i] = (gm[i] as number) + (g.mu[r * K * D + i] as number);
    for (let i = 0; i < S; i++) gs[i] = (gs[i] as number) + (g.scale[r * S + i] as number);
  }
  return { "gmm.logits": ga, "gmm.mu": gm, "gmm.logSigma": gs };
}

/** Mixture parameters of any model for a batch. */
export function modelForwardParams(spec: ModelSpec, w: NamedTensors, x: FloatArray | undefined, n: number): MixtureParams {
  if (spec.kind === "gmm") return gmmParams(spec, w, n);
  if (!x) throw new ShapeError("x", `an MDN needs inputs of shape [n, ${spec.inputDim}]`);
  return mdnForward(spec, w, x, n).params;
}
