/**
 * The `js` backend: the float64 reference, in plain TypeScript. Slow but exact;
 * every other backend is checked against it by the parity suite.
 */
import type { Backend, BackendModel, Batch, ModelSpec, NamedTensors, OptimizerSpec, StepResult } from "../backend.js";
import { NonFiniteError, ShapeError } from "../errors.js";
import { mixtureHead, mixtureHeadRaw, resolveHeadOptions, type HeadOptions, type HeadResult } from "../head.js";
import { resolveScaleOptions } from "../scale.js";
import type { FloatArray, MixtureParams } from "../mixture.js";
import { gmmBackward, gmmParams, gmmRawHead, mdnBackward, mdnForward } from "../model/mlp.js";
import { paramShapes, validateSpec, validateWeights } from "../model/spec.js";
import { clipFactor, globalNorm, optimizerUpdate, stateToTensors, validateOptimizer } from "../optim.js";

/** Validates a batch against a spec, naming the argument at fault. */
export function validateBatch(spec: ModelSpec, batch: Batch): void {
  if (!Number.isInteger(batch?.n) || batch.n < 1) throw new ShapeError("batch.n", `expected an integer >= 1, got ${String(batch?.n)}`);
  if (!batch.y || batch.y.length !== batch.n * spec.d) {
    throw new ShapeError("batch.y", `expected shape [n, d] = [${batch.n}, ${spec.d}] (length ${batch.n * spec.d}), got length ${batch.y?.length}`);
  }
  if (spec.kind === "mdn" && (!batch.x || batch.x.length !== batch.n * spec.inputDim)) {
    throw new ShapeError(
      "batch.x",
      `expected shape [n, inputDim] = [${batch.n}, ${spec.inputDim}] (length ${batch.n * spec.inputDim}), got ${batch.x ? `length ${batch.x.length}` : "none"}`,
    );
  }
}

class JsModel implements BackendModel {
  private w: Record<string, Float64Array> = {};
  private state: Record<string, Float64Array> = {};

  constructor(
    readonly spec: ModelSpec,
    weights: NamedTensors,
  ) {
    this.load(weights);
  }

  private load(weights: NamedTensors): void {
    validateWeights(this.spec, weights);
    this.w = {};
    for (const [name] of paramShapes(this.spec)) this.w[name] = Float64Array.from((weights[name] as { data: FloatArray }).data);
  }

  private tensors(): NamedTensors {
    const out: NamedTensors = {};
    for (const [name, shape] of paramShapes(this.spec)) out[name] = { shape, data: this.w[name] as Float64Array };
    return out;
  }

  private forwardBackward(batch: Batch, head: HeadOptions): { loss: number; grads: Record<string, Float64Array>; floorHits: number } {
    validateBatch(this.spec, batch);
    const spec = this.spec;
    // Scale options come from the spec only (a per-call key cannot change the model's head).
    const opts = { ...resolveHeadOptions(head), ...resolveScaleOptions(spec.head) };
    if (spec.kind === "gmm") {
      const r = mixtureHeadRaw(gmmRawHead(spec, this.tensors(), batch.n), batch.y, opts);
      return { loss: r.loss, grads: gmmBackward(spec, batch.n, r.grads), floorHits: r.floorHits };
    }
    const fwd = mdnForward(spec, this.tensors(), batch.x as FloatArray, batch.n);
    const r = mixtureHeadRaw(fwd.raw, batch.y, opts);
    return { loss: r.loss, grads: mdnBackward(spec, this.tensors(), fwd, r.grads), floorHits: r.floorHits };
  }

  async gradients(batch: Batch, head: HeadOptions): Promise<{ loss: number; grads: NamedTensors }> {
    const { loss, grads } = this.forwardBackward(batch, head);
    const out: NamedTensors = {};
    for (const [name, shape] of paramShapes(this.spec)) out[name] = { shape, data: grads[name] as Float64Array };
    return { loss, grads: out };
  }

  async step(batch: Batch, head: HeadOptions, optimizer: OptimizerSpec): Promise<StepResult> {
    validateOptimizer(optimizer);
    let loss: number;
    let grads: Record<string, Float64Array>;
    let floorHits: number;
    try {
      ({ loss, grads, floorHits } = this.forwardBackward(batch, head));
    } catch (err) {
      if (err instanceof NonFiniteError) return { loss: NaN, gradNorm: NaN, nonFinite: err.tensor };
      throw err;
    }
    const gradNorm = globalNorm(grads);
    if (!Number.isFinite(gradNorm)) {
      const bad = Object.entries(grads).find(([, g]) => g.some((v) => !Number.isFinite(v)));
      return { loss, gradNorm, nonFinite: `grad:${bad ? bad[0] : "?"}` };
    }
    const c = clipFactor(gradNorm, optimizer.clipNorm);
    if (c !== 1) for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * c;
    optimizerUpdate(optimizer, this.w, grads, this.state);
    return this.spec.head?.sigmaMin ? { loss, gradNorm, floorHits } : { loss, gradNorm };
  }

  async predict(x: FloatArray | undefined, n: number): Promise<MixtureParams> {
    if (!Number.isInteger(n) || n < 1) throw new ShapeError("n", `expected an integer >= 1, got ${n}`);
    if (this.spec.kind === "gmm") return gmmParams(this.spec, this.tensors(), n);
    if (!x) throw new ShapeError("x", `an MDN needs inputs of shape [n, ${this.spec.inputDim}]`);
    return mdnForward(this.spec, this.tensors(), x, n).params;
  }

  async getWeights(): Promise<NamedTensors> {
    const out: NamedTensors = {};
    for (const [name, shape] of paramShapes(this.spec)) out[name] = { shape, data: Float64Array.from(this.w[name] as Float64Array) };
    return out;
  }

  async setWeights(weights: NamedTensors): Promise<void> {
    this.load(weights);
  }

  async getOptimizerState(): Promise<NamedTensors> {
    return stateToTensors(this.state);
  }

  async setOptimizerState(state: NamedTensors): Promise<void> {
    const next: Record<string, Float64Array> = {};
    for (const [name, t] of Object.entries(state)) {
      const param = name.split("/")[0] as string;
      if (name !== "step" && !(param in this.w)) throw new ShapeError(`optimizerState["${name}"]`, "does not belong to a parameter of this model");
      const expected = name === "step" ? 1 : (this.w[param] as Float64Array).length;
      if (t.data.length !== expected) throw new ShapeError(`optimizerState["${name}"]`, `expected length ${expected}, got ${t.data.length}`);
      next[name] = Float64Array.from(t.data);
    }
    this.state = next;
  }

  dispose(): void {
    this.w = {};
    this.state = {};
  }
}

/** Creates the float64 reference backend. */
export function createJsBackend(): Backend {
  return {
    name: "js",
    precision: "float64",
    async head(params: MixtureParams, y: FloatArray, opts: HeadOptions): Promise<HeadResult> {
      return mixtureHead(params, y, opts);
    },
    async createModel(spec: ModelSpec, weights: NamedTensors): Promise<BackendModel> {
      validateSpec(spec);
      return new JsModel(spec, weights);
    },
    dispose(): void {},
  };
}
