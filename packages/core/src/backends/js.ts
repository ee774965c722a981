/**
 * The `js` backend: the float64 reference, in plain TypeScript. Slow but exact;
 * every other backend is checked against it by the parity suite.
 */
import type { Backend, BackendModel, Batch, ModelSpec, NamedTensors, OptimizerSpec } from "../backend.js";
import { firstNonFinite, NonFiniteError } from "../errors.js";
import { type HeadOptions, type HeadResult, mixtureHead, mixtureHeadRaw } from "../head.js";
import type { FloatArray, MixtureParams } from "../mixture.js";
import { gmmBackward, gmmParams, gmmRawHead, mdnBackward, mdnForward } from "../model/mlp.js";
import { createModelFacade, type GradientPass, type ModelHandler, type MomentKind, type ResolvedHeadOptions } from "../model/protocol.js";
import { paramShapes } from "../model/spec.js";
import { globalNorm, optimizerUpdate } from "../optim.js";
import { resolveScaleOptions } from "../scale.js";

/** The float64 handler behind the js backend's {@link ModelFacade}. */
class JsHandler implements ModelHandler {
  private w: Record<string, Float64Array> = {};
  private grads: Record<string, Float64Array> = {};
  private state: Record<string, Float64Array> = {};

  constructor(
    readonly spec: ModelSpec,
    weights: NamedTensors,
  ) {
    this.writeWeights(weights);
  }

  private tensors(from: Record<string, Float64Array>): NamedTensors {
    const out: NamedTensors = {};
    for (const [name, shape] of paramShapes(this.spec)) out[name] = { shape, data: from[name] as Float64Array };
    return out;
  }

  forwardBackward(batch: Batch, head: ResolvedHeadOptions): GradientPass {
    const spec = this.spec;
    // Scale options come from the spec only (a per-call key cannot change the model's head).
    const opts = { ...head, ...resolveScaleOptions(spec.head) };
    const w = this.tensors(this.w);
    try {
      if (spec.kind === "gmm") {
        const r = mixtureHeadRaw(gmmRawHead(spec, w, batch.n), batch.y, opts);
        this.grads = gmmBackward(spec, batch.n, r.grads);
        return { loss: r.loss, gradNorm: globalNorm(this.grads), floorHits: r.floorHits };
      }
      const fwd = mdnForward(spec, w, batch.x as FloatArray, batch.n);
      const r = mixtureHeadRaw(fwd.raw, batch.y, opts);
      this.grads = mdnBackward(spec, w, fwd, r.grads);
      return { loss: r.loss, gradNorm: globalNorm(this.grads), floorHits: r.floorHits };
    } catch (err) {
      if (err instanceof NonFiniteError) return { loss: NaN, gradNorm: NaN, nonFinite: err };
      throw err;
    }
  }

  firstNonFiniteGradient(): string | undefined {
    return Object.entries(this.grads).find(([, g]) => firstNonFinite(g) >= 0)?.[0];
  }

  readGradients(): NamedTensors {
    const out: NamedTensors = {};
    for (const [name, t] of Object.entries(this.tensors(this.grads))) out[name] = { shape: t.shape, data: Float64Array.from(t.data) };
    return out;
  }

  gradNorm(names: readonly string[]): number {
    return globalNorm(Object.fromEntries(names.map((n) => [n, this.grads[n] as Float64Array])));
  }

  update(optimizer: OptimizerSpec, scale: number, t: number): void {
    if (scale !== 1) for (const g of Object.values(this.grads)) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * scale;
    this.state.step = Float64Array.of(t - 1);
    optimizerUpdate(optimizer, this.w, this.grads, this.state);
  }

  predict(x: FloatArray | undefined, n: number): MixtureParams {
    const spec = this.spec;
    if (spec.kind === "gmm") return gmmParams(spec, this.tensors(this.w), n);
    return mdnForward(spec, this.tensors(this.w), x as FloatArray, n).params;
  }

  readWeights(): NamedTensors {
    const out: NamedTensors = {};
    for (const [name, shape] of paramShapes(this.spec)) out[name] = { shape, data: Float64Array.from(this.w[name] as Float64Array) };
    return out;
  }

  writeWeights(weights: NamedTensors): void {
    const next: Record<string, Float64Array> = {};
    for (const [name] of paramShapes(this.spec)) next[name] = Float64Array.from((weights[name] as { data: FloatArray }).data);
    this.w = next;
  }

  readMoments(kind: MomentKind): Record<string, FloatArray> {
    const out: Record<string, FloatArray> = {};
    for (const [name] of paramShapes(this.spec)) {
      out[name] = Float64Array.from(this.state[`${name}/${kind}`] ?? new Float64Array((this.w[name] as Float64Array).length));
    }
    return out;
  }

  writeMoments(kind: MomentKind, values: Record<string, FloatArray> | undefined): void {
    for (const [name] of paramShapes(this.spec)) {
      const v = values?.[name];
      if (v) this.state[`${name}/${kind}`] = Float64Array.from(v);
      else delete this.state[`${name}/${kind}`];
    }
  }

  dispose(): void {
    this.w = {};
    this.grads = {};
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
      return createModelFacade(spec, weights, (s, w) => new JsHandler(s, w));
    },
    dispose(): void {},
  };
}
