/**
 * The model level on tfjs: an MDN (Linear -> [LayerNorm] -> activation, then
 * the mixture head) or a free GMM, with weights held as tfjs tensors under
 * core's canonical names and shapes. The trunk's backward pass is tfjs
 * autodiff; the head's gradient is the custom gradient of `head-op.ts`.
 *
 * With `spec.head` (scale parameterisation, sigma floor, covariance) the head
 * rows end in S raw scale entries instead of K*D log sigmas, `gmm.logSigma`
 * holds the raw scale ([K,D], [K,1] or [1,D]), and the head op takes the raw
 * scale (`rawHeadLoss`). The default head (exp, sigmaMin 0, diag) keeps the
 * log-sigma path unchanged.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  firstNonFinite,
  isDefaultScale,
  LAYER_NORM_EPS,
  paramShapes,
  resolveScaleOptions,
  scaleWidth,
  trunkLayout,
  type Activation,
  type Batch,
  type FloatArray,
  type GradientPass,
  type MdnSpec,
  type MixtureParams,
  type ModelHandler,
  type ModelSpec,
  type MomentKind,
  type NamedTensors,
  type OptimizerSpec,
  type ResolvedHeadOptions,
  type ScaleOptions,
} from "@ngem/core";
import { expandLogSigma, floorHitsOf, headLoss, rawHeadLoss, type HeadTensors, type RawHeadTensors } from "./head-op.js";
import { optimizerUpdate } from "./optimizer.js";
import { activatePlatform, type TfjsPlatform } from "./platforms.js";

const INV_SQRT2 = Math.SQRT1_2;

/** Activation in tfjs ops; GELU is the exact erf form 0.5 x (1 + erf(x / sqrt 2)). */
export function activation(a: Activation, x: tf.Tensor): tf.Tensor {
  switch (a) {
    case "relu":
      return tf.relu(x);
    case "tanh":
      return tf.tanh(x);
    case "gelu":
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, INV_SQRT2)), 1));
  }
}

/** Splits head output rows [n, K + 2KD] of the default head into (logits, mu, logSigma). */
export function splitHead(out: tf.Tensor, n: number, k: number, d: number): HeadTensors {
  const kd = k * d;
  return {
    logits: tf.slice(out, [0, 0], [n, k]),
    mu: tf.reshape(tf.slice(out, [0, k], [n, kd]), [n, k, d]),
    logSigma: tf.reshape(tf.slice(out, [0, k + kd], [n, kd]), [n, k, d]),
  };
}

/** Splits head output rows [n, K + KD + S] into (logits, mu, raw scale [n, S]). */
export function splitRawHead(out: tf.Tensor, n: number, k: number, d: number, s: number): RawHeadTensors {
  const kd = k * d;
  return {
    logits: tf.slice(out, [0, 0], [n, k]),
    mu: tf.reshape(tf.slice(out, [0, k], [n, kd]), [n, k, d]),
    scale: tf.slice(out, [0, k + kd], [n, s]),
  };
}

/** Output of one trunk (`trunk`.i.*) and its head layer (`head`.weight / .bias) on x [n, inputDim]. */
function trunkRows(spec: MdnSpec, p: (name: string) => tf.Tensor, x: tf.Tensor, trunk: string, head: string): tf.Tensor {
  let h = x;
  spec.hidden.forEach((_, i) => {
    let a = tf.add(tf.matMul(h, p(`${trunk}.${i}.weight`)), p(`${trunk}.${i}.bias`));
    if (spec.layerNorm) {
      const { mean, variance } = tf.moments(a, 1, true);
      const xhat = tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS)));
      a = tf.add(tf.mul(xhat, p(`${trunk}.${i}.ln.gamma`)), p(`${trunk}.${i}.ln.beta`));
    }
    h = activation(spec.activation, a);
  });
  return tf.add(tf.matMul(h, p(`${head}.weight`)), p(`${head}.bias`));
}

/**
 * Head output rows [n, K + KD + S] of an MDN on x [n, inputDim] (trunk + head layer;
 * with `trunk: "separate"` the two trunks' outputs [logits | mu, raw scale] concatenated).
 */
function mdnHeadRows(spec: MdnSpec, p: (name: string) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  const parts = trunkLayout(spec).map((t) => trunkRows(spec, p, x, t.trunk, t.head));
  return parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1);
}

/**
 * MDN forward on x [n, inputDim] with parameters by canonical name: the
 * diagonal mixture (logSigma [n, K, D], expanded from the raw scale when
 * `spec.head` is not the default). Not differentiable through a non-default
 * scale; training uses {@link mdnForwardRaw}.
 */
export function mdnForward(spec: MdnSpec, p: (name: string) => tf.Tensor, x: tf.Tensor, n: number): HeadTensors {
  if (isDefaultScale(spec.head)) return splitHead(mdnHeadRows(spec, p, x), n, spec.k, spec.d);
  const r = mdnForwardRaw(spec, p, x, n);
  return { logits: r.logits, mu: r.mu, logSigma: expandLogSigma(r.scale, spec.k, spec.d, resolveScaleOptions(spec.head)) };
}

/** MDN forward on x [n, inputDim] to the raw head outputs (raw scale [n, S]). */
export function mdnForwardRaw(spec: MdnSpec, p: (name: string) => tf.Tensor, x: tf.Tensor, n: number): RawHeadTensors {
  const s = scaleWidth(spec.k, spec.d, resolveScaleOptions(spec.head).covariance);
  return splitRawHead(mdnHeadRows(spec, p, x), n, spec.k, spec.d, s);
}

/**
 * Sum of tensors by a chain of adds, not tf.addN: an AddN of more than 7
 * inputs needs more storage buffers than WebGPU's default per-stage limit of
 * 8, which tfjs-backend-webgpu 4.22 does not raise, so its pipeline is
 * invalid and the results are garbage (seen: wrong losses for MDNs with 10
 * parameter tensors on tfjs-webgpu).
 */
function sumAll(ts: tf.Tensor[]): tf.Tensor {
  return ts.reduce((a, b) => tf.add(a, b));
}

function toFloat32(a: FloatArray): Float32Array {
  return Float32Array.from(a); // always a copy: tfjs keeps the array it is given
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * One model on one tfjs platform: the {@link ModelHandler} behind core's
 * `ModelFacade` (which validates arguments and keeps the optimizer's step
 * count and state names). Parameters, optimizer moments and the gradients of
 * the last pass are kept tfjs tensors owned here. Every call that runs tf ops
 * selects its platform first, and again after an await (another model may
 * switch tfjs's single engine meanwhile).
 */
export class TfjsHandler implements ModelHandler {
  private readonly names: string[];
  private readonly shapes: Map<string, number[]>;
  private params = new Map<string, tf.Tensor>();
  /** Optimizer moments by `<param>/<kind>`; a missing one is zero. */
  private readonly slots = new Map<string, tf.Tensor>();
  /** Gradients of the last pass (canonical order) until applied, read, replaced by the next pass or disposed. */
  private grads: tf.Tensor[] | undefined;
  /** The parameter whose last gradient is not finite, when the last pass found one. */
  private badGrad: string | undefined;
  /** The spec's head options, resolved. */
  private readonly scaleOpts: Required<ScaleOptions>;
  /** exp / sigmaMin 0 / diag: the raw scale is log sigma, and the original log-sigma path is used. */
  private readonly defaultHead: boolean;
  /** sigmaMin > 0: passes count the raw scale entries at the floor (as core's ModelFacade reports them). */
  private readonly countFloorHits: boolean;

  constructor(
    readonly spec: ModelSpec,
    weights: NamedTensors,
    private readonly platform: TfjsPlatform,
  ) {
    const shapes = paramShapes(spec);
    this.names = shapes.map(([name]) => name);
    this.shapes = new Map(shapes);
    this.scaleOpts = resolveScaleOptions(spec.head);
    this.defaultHead = isDefaultScale(spec.head);
    this.countFloorHits = this.scaleOpts.sigmaMin > 0;
    this.load(weights);
  }

  /** A handler with its weights on `platform` (selected first). */
  static async create(spec: ModelSpec, weights: NamedTensors, platform: TfjsPlatform): Promise<TfjsHandler> {
    await activatePlatform(platform);
    return new TfjsHandler(spec, weights, platform);
  }

  private load(weights: NamedTensors): void {
    const next = new Map<string, tf.Tensor>();
    for (const name of this.names) {
      next.set(name, tf.keep(tf.tensor(toFloat32((weights[name] as { data: FloatArray }).data), this.shapes.get(name), "float32")));
    }
    for (const t of this.params.values()) t.dispose();
    this.params = next;
  }

  /**
   * Raw head outputs for a batch, computed from the parameter list `ps`
   * (canonical order). `scale` is log sigma [n, K, D] for the default head (as
   * before spec.head existed) and the raw scale [n, S] otherwise.
   */
  private headOutputs(ps: readonly tf.Tensor[], x: tf.Tensor | undefined, n: number): RawHeadTensors {
    const byName = new Map(this.names.map((name, i) => [name, ps[i] as tf.Tensor]));
    const p = (name: string): tf.Tensor => byName.get(name) as tf.Tensor;
    const spec = this.spec;
    if (spec.kind === "gmm") {
      const { k, d } = spec;
      const s = scaleWidth(k, d, this.scaleOpts.covariance);
      return {
        logits: tf.broadcastTo(tf.reshape(p("gmm.logits"), [1, k]), [n, k]),
        mu: tf.broadcastTo(tf.reshape(p("gmm.mu"), [1, k, d]), [n, k, d]),
        scale: this.defaultHead
          ? tf.broadcastTo(tf.reshape(p("gmm.logSigma"), [1, k, d]), [n, k, d])
          : tf.broadcastTo(tf.reshape(p("gmm.logSigma"), [1, s]), [n, s]),
      };
    }
    if (this.defaultHead) {
      const h = mdnForward(spec, p, x as tf.Tensor, n);
      return { logits: h.logits, mu: h.mu, scale: h.logSigma };
    }
    return mdnForwardRaw(spec, p, x as tf.Tensor, n);
  }

  private paramList(): tf.Tensor[] {
    return this.names.map((name) => this.params.get(name) as tf.Tensor);
  }

  /** Disposes the gradients of the last pass. */
  private dropGrads(): void {
    if (this.grads) tf.dispose(this.grads);
    this.grads = undefined;
    this.badGrad = undefined;
  }

  /** The gradients of the last pass; they are released by the caller's consuming call. */
  private lastGrads(method: string): tf.Tensor[] {
    if (!this.grads) throw new Error(`TfjsHandler.${method}: no gradients (a forwardBackward with a finite loss must come first, once)`);
    return this.grads;
  }

  /**
   * Loss, gradients (kept), the sum of squared gradients and, when the spec
   * has a sigma floor, the number of raw scale entries at it (an int32
   * scalar); all kept, for the caller to dispose.
   */
  private lossAndGrads(batch: Batch, opts: ResolvedHeadOptions): { loss: tf.Tensor; grads: tf.Tensor[]; sq: tf.Tensor; floorHits?: tf.Tensor } {
    // As core's js backend: the variant comes from the step's options, the scale options from the spec only.
    const scale = this.scaleOpts;
    const { k, d } = this.spec;
    const n = batch.n;
    const s = scaleWidth(k, d, scale.covariance);
    const withFloorHits = this.countFloorHits;
    return tf.tidy(() => {
      const x = batch.x && this.spec.kind === "mdn" ? tf.tensor2d(toFloat32(batch.x), [n, this.spec.inputDim]) : undefined;
      const y = tf.tensor2d(toFloat32(batch.y), [n, d]);
      const plain = isDefaultScale(scale);
      const f = plain ? headLoss(y, opts) : rawHeadLoss(y, opts, scale, k, d);
      let floorHits: tf.Tensor | undefined;
      const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
        const h = this.headOutputs(ps, x, n);
        if (withFloorHits) floorHits = tf.keep(floorHitsOf(tf.reshape(h.scale, [n, s]), scale));
        return f(h.logits, h.mu, plain && h.scale.rank !== 3 ? tf.reshape(h.scale, [n, k, d]) : h.scale);
      })(this.paramList());
      const sq = sumAll(grads.map((g) => tf.sum(tf.square(g))));
      return floorHits ? { loss: value, grads, sq, floorHits } : { loss: value, grads, sq };
    });
  }

  async forwardBackward(batch: Batch, head: ResolvedHeadOptions): Promise<GradientPass> {
    this.dropGrads();
    await activatePlatform(this.platform);
    const { loss, grads, sq, floorHits } = this.lossAndGrads(batch, head);
    this.grads = grads;
    try {
      const [lossA, sqA, hitsA] = await Promise.all([loss.data(), sq.data(), floorHits?.data()]);
      const lossV = lossA[0] as number;
      if (!Number.isFinite(lossV)) {
        this.dropGrads(); // nothing reads the gradients of a non-finite loss
        return { loss: lossV, gradNorm: NaN };
      }
      let gradNorm = Math.sqrt(sqA[0] as number);
      if (!Number.isFinite(gradNorm)) {
        // Either a gradient is non-finite, or the float32 sum of squares overflowed.
        for (let i = 0; i < grads.length && this.badGrad === undefined; i++) {
          if (firstNonFinite(await (grads[i] as tf.Tensor).data()) >= 0) this.badGrad = this.names[i];
        }
        if (this.badGrad === undefined) gradNorm = await scaledNorm(grads, this.platform);
      }
      return hitsA ? { loss: lossV, gradNorm, floorHits: hitsA[0] as number } : { loss: lossV, gradNorm };
    } finally {
      tf.dispose([loss, sq, ...(floorHits ? [floorHits] : [])]);
    }
  }

  firstNonFiniteGradient(): string | undefined {
    return this.badGrad;
  }

  /** Copies out the last gradients and releases them. */
  async readGradients(): Promise<NamedTensors> {
    const grads = this.lastGrads("readGradients");
    try {
      const out: NamedTensors = {};
      for (let i = 0; i < this.names.length; i++) {
        const name = this.names[i] as string;
        out[name] = { shape: [...(this.shapes.get(name) as number[])], data: Float32Array.from(await (grads[i] as tf.Tensor).data()) };
      }
      return out;
    } finally {
      this.dropGrads();
    }
  }

  /** Global L2 norm of the last gradients of the named parameters (the gradients stay). */
  async gradNorm(names: readonly string[]): Promise<number> {
    const grads = this.lastGrads("gradNorm");
    const want = new Set(names);
    const picked = grads.filter((_, i) => want.has(this.names[i] as string));
    if (!picked.length) return 0;
    await activatePlatform(this.platform);
    const s = tf.tidy(() => sumAll(picked.map((g) => tf.sum(tf.square(g)))));
    const norm = Math.sqrt((await s.data())[0] as number);
    s.dispose();
    // a float32 sum of squares that overflowed (the gradients are finite here)
    return Number.isFinite(norm) ? norm : scaledNorm(picked, this.platform);
  }

  /**
   * Applies the last gradients (times `scale`) with the tfjs ops of `optimizer.ts` to the
   * parameters not in `optimizer.freeze`, then releases them.
   */
  async update(optimizer: OptimizerSpec, scale: number, t: number): Promise<void> {
    const grads = this.lastGrads("update");
    try {
      await activatePlatform(this.platform);
      const frozen = new Set(optimizer.freeze ?? []);
      const idx = this.names.flatMap((name, i) => (frozen.has(name) ? [] : [i]));
      const names = idx.map((i) => this.names[i] as string);
      const all = this.paramList();
      const old = idx.map((i) => all[i] as tf.Tensor);
      const res = tf.tidy(() => {
        const gs = idx.map((i) => (scale === 1 ? (grads[i] as tf.Tensor) : tf.mul(grads[i] as tf.Tensor, scale)));
        return optimizerUpdate(optimizer, names, old, gs, this.slots, t);
      });
      for (const [name, v] of Object.entries(res.slots)) {
        this.slots.get(name)?.dispose();
        this.slots.set(name, v);
      }
      for (const name of names) {
        this.params.get(name)?.dispose();
        this.params.set(name, res.params[name] as tf.Tensor);
      }
    } finally {
      this.dropGrads();
    }
  }

  async predict(x: FloatArray | undefined, n: number): Promise<MixtureParams> {
    const spec = this.spec;
    await activatePlatform(this.platform);
    const h = tf.tidy(() => {
      const xt = spec.kind === "mdn" ? tf.tensor2d(toFloat32(x as FloatArray), [n, spec.inputDim]) : undefined;
      const o = this.headOutputs(this.paramList(), xt, n);
      // the expanded diagonal mixture, as core's js backend
      const logSigma = this.defaultHead ? o.scale : expandLogSigma(o.scale, spec.k, spec.d, this.scaleOpts);
      return { logits: o.logits, mu: o.mu, logSigma };
    });
    try {
      const [logits, mu, logSigma] = await Promise.all([h.logits.data(), h.mu.data(), h.logSigma.data()]);
      return {
        n,
        k: spec.k,
        d: spec.d,
        logits: Float32Array.from(logits),
        mu: Float32Array.from(mu),
        logSigma: Float32Array.from(logSigma),
      };
    } finally {
      tf.dispose([h.logits, h.mu, h.logSigma]);
    }
  }

  async readWeights(): Promise<NamedTensors> {
    const out: NamedTensors = {};
    for (const name of this.names) {
      const data = Float32Array.from(await (this.params.get(name) as tf.Tensor).data());
      out[name] = { shape: [...(this.shapes.get(name) as number[])], data };
    }
    return out;
  }

  async writeWeights(weights: NamedTensors): Promise<void> {
    await activatePlatform(this.platform);
    this.load(weights);
  }

  async readMoments(kind: MomentKind): Promise<Record<string, FloatArray>> {
    const out: Record<string, FloatArray> = {};
    for (const name of this.names) {
      const t = this.slots.get(`${name}/${kind}`);
      out[name] = t ? Float32Array.from(await t.data()) : new Float32Array(shapeSize(this.shapes.get(name) as number[]));
    }
    return out;
  }

  async writeMoments(kind: MomentKind, values: Record<string, FloatArray> | undefined): Promise<void> {
    await activatePlatform(this.platform);
    for (const name of this.names) {
      const key = `${name}/${kind}`;
      const v = values?.[name];
      const next = v ? tf.keep(tf.tensor(toFloat32(v), this.shapes.get(name), "float32")) : undefined;
      this.slots.get(key)?.dispose();
      if (next) this.slots.set(key, next);
      else this.slots.delete(key);
    }
  }

  dispose(): void {
    this.dropGrads();
    for (const t of this.params.values()) t.dispose();
    for (const t of this.slots.values()) t.dispose();
    this.params.clear();
    this.slots.clear();
  }
}

/**
 * Global L2 norm robust to float32 overflow of the sum of squares:
 * max|g| * sqrt(sum (g / max|g|)^2). Selects `platform` before each group of ops.
 */
async function scaledNorm(grads: readonly tf.Tensor[], platform: TfjsPlatform): Promise<number> {
  await activatePlatform(platform);
  const m = tf.tidy(() => grads.map((g) => tf.max(tf.abs(g))).reduce((a, b) => tf.maximum(a, b)));
  const mv = (await m.data())[0] as number;
  m.dispose();
  if (!(mv > 0) || !Number.isFinite(mv)) return mv === 0 ? 0 : Infinity;
  await activatePlatform(platform);
  const s = tf.tidy(() => sumAll(grads.map((g) => tf.sum(tf.square(tf.div(g, mv))))));
  const sv = (await s.data())[0] as number;
  s.dispose();
  return mv * Math.sqrt(sv);
}
