/**
 * The model protocol, once: {@link ModelFacade} is the {@link BackendModel}
 * every backend returns. It owns everything that is the same on every
 * backend - argument validation (batch, head options, optimizer, predict
 * inputs, weights, optimizer state), the non-finite guard and its diagnosis,
 * the gradient norm and clipping (over the trainable parameters when
 * `optimizer.freeze` is set), floor-hit reporting, the optimizer step
 * count and the names of the optimizer state, externally driven optimizers
 * (the trainer's SOAP) and use-after-dispose - and calls a narrow
 * {@link ModelHandler} for what differs: forward/backward, the parameter
 * update, predict, and moving weights and moments in and out.
 *
 * (The same split as onnxruntime-common's InferenceSession over a backend's
 * session handler.) A handler is only ever called with validated arguments.
 */
import type { BackendModel, Batch, ExternalOptimizer, ModelSpec, NamedTensors, OptimizerSpec, StepResult } from "../backend.js";
import { firstNonFinite, NgemError, NonFiniteError, ShapeError } from "../errors.js";
import { type HeadOptions, resolveHeadOptions } from "../head.js";
import type { FloatArray, MixtureParams } from "../mixture.js";
import { clipFactor, trainableNames, validateOptimizer } from "../optim.js";
import { paramShapes, validateSpec, validateWeights } from "./spec.js";

/** A model method was called after `dispose()`. */
export class DisposedError extends NgemError {
  override readonly name = "DisposedError";
  constructor(readonly method: string) {
    super(`${method}: this model was disposed; create a new one with backend.createModel()`);
  }
}

/** Head options as a handler receives them: defaults filled in and validated (scale options come from the spec). */
export type ResolvedHeadOptions = ReturnType<typeof resolveHeadOptions>;

/** One forward + head (+ backward) pass of a handler. */
export interface GradientPass {
  /** Mean NLL of the batch. */
  readonly loss: number;
  /** Global L2 norm of the parameter gradient (read only when `loss` is finite). */
  readonly gradNorm: number;
  /** Raw scale entries at which the sigma floor dominated (read only when the spec has sigmaMin > 0). */
  readonly floorHits?: number;
  /**
   * When `loss` is not finite: the tensor at fault, in the reference's order
   * (logits, mu, logSigma, then nll). No backward pass was run.
   */
  readonly nonFinite?: NonFiniteError;
}

/** Optimizer moments: "m" (momentum / first moment) and "v" (second moment). */
export type MomentKind = "m" | "v";
export const MOMENT_KINDS: readonly MomentKind[] = ["m", "v"];

type MaybePromise<T> = T | Promise<T>;

/**
 * What a backend implements. Arguments are already validated; weights and
 * moments use the canonical parameter names of `paramShapes(spec)`.
 */
export interface ModelHandler {
  /**
   * Forward pass, the mixture head of `head.variant`, and (when the loss is
   * finite) the backward pass of a finite batch. The gradients stay in the
   * handler until read ({@link readGradients}) or applied ({@link update}).
   */
  forwardBackward(batch: Batch, head: ResolvedHeadOptions): MaybePromise<GradientPass>;
  /** The first parameter whose last gradient holds NaN/Inf (asked when the norm is not finite). */
  firstNonFiniteGradient(): MaybePromise<string | undefined>;
  /** The last gradients, by parameter name. */
  readGradients(): MaybePromise<NamedTensors>;
  /**
   * Global L2 norm of the last gradients of the named parameters only (asked
   * when `optimizer.freeze` is set; the gradients stay for {@link update}).
   */
  gradNorm(names: readonly string[]): MaybePromise<number>;
  /**
   * Multiplies the last gradients by `scale` (1 unless clipped) and applies
   * one update of `optimizer` as step `t` (>= 1), by core's optim.ts rules;
   * moments that do not exist yet start at zero. Parameters named in
   * `optimizer.freeze` (validated names) are left untouched, with their moments.
   */
  update(optimizer: OptimizerSpec, scale: number, t: number): MaybePromise<void>;
  /** Mixture parameters for n rows (x is [n, inputDim] for an MDN, undefined for a GMM). */
  predict(x: FloatArray | undefined, n: number): MaybePromise<MixtureParams>;
  readWeights(): MaybePromise<NamedTensors>;
  writeWeights(weights: NamedTensors): MaybePromise<void>;
  /** The moments of one kind, one flat array per parameter. */
  readMoments(kind: MomentKind): MaybePromise<Record<string, FloatArray>>;
  /** Replaces the moments of one kind; `undefined` sets them to zero. */
  writeMoments(kind: MomentKind, values: Record<string, FloatArray> | undefined): MaybePromise<void>;
  dispose(): void;
}

/** Moments an optimizer keeps (core's optim.ts rules). */
function momentsOf(o: OptimizerSpec): MomentKind[] {
  switch (o.type) {
    case "sgd":
      return (o.momentum ?? 0) !== 0 ? ["m"] : [];
    case "adam":
      return ["m", "v"];
    case "rmsprop":
      return (o.momentum ?? 0) > 0 ? ["m", "v"] : ["v"];
  }
}

function toFloat64(t: NamedTensors): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(t)) out[k] = Float64Array.from(v.data);
  return out;
}

/** The {@link BackendModel} of every backend: validation and bookkeeping here, the numbers in a {@link ModelHandler}. */
export class ModelFacade<H extends ModelHandler = ModelHandler> implements BackendModel {
  private h: H | undefined;
  /** Optimizer steps taken (the `step` of the optimizer state). */
  private t = 0;
  /** Moment kinds that exist (created by an update or set by setOptimizerState). */
  private readonly moments = new Set<MomentKind>();
  private readonly shapes: readonly (readonly [string, number[]])[];
  private readonly names: readonly string[];
  private readonly reportFloorHits: boolean;

  constructor(
    readonly spec: ModelSpec,
    handler: H,
  ) {
    this.h = handler;
    this.shapes = paramShapes(spec);
    this.names = this.shapes.map(([name]) => name);
    this.reportFloorHits = (spec.head?.sigmaMin ?? 0) > 0;
  }

  /** The backend's handler, for backend-specific extras (profiling, threads); throws after dispose. */
  handler(method = "handler"): H {
    if (!this.h) throw new DisposedError(method);
    return this.h;
  }

  /** Validates a batch against this model's spec, naming the argument at fault. */
  private checkBatch(batch: Batch): void {
    validateBatch(this.spec, batch);
  }

  /** The first non-finite input of a batch, as the tensor name the step reports. */
  private badInput(batch: Batch): NonFiniteError | undefined {
    for (const [tensor, a] of [
      ["batch.x", batch.x],
      ["batch.y", batch.y],
    ] as const) {
      if (!a) continue;
      const i = firstNonFinite(a);
      if (i >= 0) return new NonFiniteError(tensor, i, a[i] as number, "", Math.floor(i / (a.length / batch.n)));
    }
    return undefined;
  }

  async step(batch: Batch, head: HeadOptions, optimizer: OptimizerSpec | ExternalOptimizer): Promise<StepResult> {
    const h = this.handler("step");
    if (optimizer?.type === "external") {
      if (typeof optimizer.update !== "function") throw new ShapeError("optimizer.update", "an external optimizer needs an update(weights, grads) function");
      if (optimizer.clipNorm !== undefined && !(optimizer.clipNorm > 0)) {
        throw new ShapeError("optimizer.clipNorm", `expected a number > 0, got ${optimizer.clipNorm}`);
      }
    } else validateOptimizer(optimizer);
    // names that train (checks optimizer.freeze against this model's parameters)
    const trainable = optimizer.type === "external" ? undefined : trainableNames(optimizer, this.names);
    this.checkBatch(batch);
    const opts = resolveHeadOptions(head);
    const bad = this.badInput(batch);
    if (bad) return { loss: NaN, gradNorm: NaN, nonFinite: bad.tensor };
    const pass = await h.forwardBackward(batch, opts);
    const loss = pass.loss;
    if (!Number.isFinite(loss)) return { loss: NaN, gradNorm: NaN, nonFinite: pass.nonFinite?.tensor ?? "nll" };
    if (!Number.isFinite(pass.gradNorm)) return { loss, gradNorm: pass.gradNorm, nonFinite: `grad:${(await h.firstNonFiniteGradient()) ?? "?"}` };
    // With frozen parameters the norm (reported and clipped to) is the trainable parameters' (PyTorch's requires_grad = False).
    const gradNorm = trainable && trainable.length < this.names.length ? await h.gradNorm(trainable) : pass.gradNorm;
    const c = clipFactor(gradNorm, optimizer.clipNorm);
    if (optimizer.type === "external") {
      const grads = toFloat64(await h.readGradients());
      if (c !== 1) for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * c;
      const current = await h.readWeights();
      const w = toFloat64(current);
      optimizer.update(w, grads);
      const next: NamedTensors = {};
      for (const [name, v] of Object.entries(current)) {
        const a = w[name] as Float64Array;
        if (firstNonFinite(a) >= 0) return { loss, gradNorm, nonFinite: `update:${name}` };
        next[name] = { shape: v.shape, data: a };
      }
      await h.writeWeights(next);
    } else {
      await h.update(optimizer, c, this.t + 1);
      this.t += 1;
      for (const k of momentsOf(optimizer)) this.moments.add(k);
    }
    return this.reportFloorHits ? { loss, gradNorm, floorHits: pass.floorHits ?? 0 } : { loss, gradNorm };
  }

  async gradients(batch: Batch, head: HeadOptions): Promise<{ loss: number; grads: NamedTensors }> {
    const h = this.handler("gradients");
    this.checkBatch(batch);
    const opts = resolveHeadOptions(head);
    const bad = this.badInput(batch);
    if (bad) throw bad;
    const pass = await h.forwardBackward(batch, opts);
    if (!Number.isFinite(pass.loss)) throw pass.nonFinite ?? new NonFiniteError("nll", 0, pass.loss, "the batch NLL is not finite");
    return { loss: pass.loss, grads: await h.readGradients() };
  }

  async predict(x: FloatArray | undefined, n: number): Promise<MixtureParams> {
    const h = this.handler("predict");
    if (!Number.isInteger(n) || n < 1) throw new ShapeError("n", `expected an integer >= 1, got ${n}`);
    const spec = this.spec;
    if (spec.kind === "gmm") return h.predict(undefined, n);
    if (!x) throw new ShapeError("x", `an MDN needs inputs of shape [n, ${spec.inputDim}]`);
    if (x.length !== n * spec.inputDim) {
      throw new ShapeError("x", `expected shape [n, inputDim] = [${n}, ${spec.inputDim}] (length ${n * spec.inputDim}), got length ${x.length}`);
    }
    return h.predict(x, n);
  }

  async getWeights(): Promise<NamedTensors> {
    return this.handler("getWeights").readWeights();
  }

  async setWeights(weights: NamedTensors): Promise<void> {
    const h = this.handler("setWeights");
    validateWeights(this.spec, weights);
    await h.writeWeights(weights);
  }

  /** `step` (when any step was taken or state was set) and `<param>/m`, `<param>/v` for the moments that exist. */
  async getOptimizerState(): Promise<NamedTensors> {
    const h = this.handler("getOptimizerState");
    const out: NamedTensors = {};
    if (this.t > 0 || this.moments.size > 0) out.step = { shape: [1], data: Float64Array.of(this.t) };
    for (const kind of MOMENT_KINDS) {
      if (!this.moments.has(kind)) continue;
      const m = await h.readMoments(kind);
      for (const [name] of this.shapes) {
        const a = m[name] as FloatArray;
        out[`${name}/${kind}`] = { shape: [a.length], data: a };
      }
    }
    return out;
  }

  /**
   * Replaces the optimizer state. Accepted: `step` (a [1] tensor holding an
   * integer >= 0) and, per moment kind present, `<param>/<kind>` for every
   * parameter (finite, of the parameter's size). Anything else is rejected
   * before the current state is touched.
   */
  async setOptimizerState(state: NamedTensors): Promise<void> {
    const h = this.handler("setOptimizerState");
    const parsed = parseOptimizerState(this.shapes, state);
    for (const kind of MOMENT_KINDS) await h.writeMoments(kind, parsed.moments[kind]);
    this.t = parsed.step;
    this.moments.clear();
    for (const kind of MOMENT_KINDS) if (parsed.moments[kind]) this.moments.add(kind);
  }

  dispose(): void {
    const h = this.h;
    this.h = undefined;
    h?.dispose();
  }
}

/** Validates a batch against a spec, naming the argument at fault. */
export function validateBatch(spec: ModelSpec, batch: Batch): void {
  if (batch == null || typeof batch !== "object") throw new ShapeError("batch", "expected { n, x?, y }");
  if (!Number.isInteger(batch.n) || batch.n < 1) throw new ShapeError("batch.n", `expected an integer >= 1, got ${String(batch.n)}`);
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

/** A parsed, validated optimizer state. */
export interface ParsedOptimizerState {
  readonly step: number;
  readonly moments: Partial<Record<MomentKind, Record<string, FloatArray>>>;
}

/** Parses optimizer state by name (see {@link ModelFacade.setOptimizerState}); throws a ShapeError naming the entry at fault. */
export function parseOptimizerState(shapes: readonly (readonly [string, readonly number[]])[], state: NamedTensors): ParsedOptimizerState {
  if (state == null || typeof state !== "object") throw new ShapeError("optimizerState", "expected an object of named tensors");
  const sizes = new Map(shapes.map(([name, shape]) => [name, shape.reduce((a, b) => a * b, 1)]));
  let step = 0;
  const moments: Partial<Record<MomentKind, Record<string, FloatArray>>> = {};
  for (const [name, t] of Object.entries(state)) {
    const at = `optimizerState["${name}"]`;
    if (name === "step") {
      const v = t?.data?.[0];
      if (t?.data?.length !== 1 || !Number.isInteger(v) || (v as number) < 0) {
        throw new ShapeError(at, `expected a [1] tensor holding an integer >= 0, got ${t?.data?.length === 1 ? String(v) : `length ${t?.data?.length}`}`);
      }
      step = v as number;
      continue;
    }
    const parts = name.split("/");
    const [param, kind] = parts as [string, string | undefined];
    if (parts.length !== 2 || !sizes.has(param) || !MOMENT_KINDS.includes(kind as MomentKind)) {
      throw new ShapeError(at, 'expected "<param>/m" or "<param>/v" for a parameter of this model, or "step"');
    }
    const size = sizes.get(param) as number;
    if (!t?.data || t.data.length !== size) throw new ShapeError(at, `expected length ${size}, got ${t?.data?.length}`);
    const bad = firstNonFinite(t.data);
    if (bad >= 0) throw new ShapeError(at, `non-finite value ${t.data[bad]} at flat index ${bad}`);
    (moments[kind as MomentKind] ??= {})[param] = t.data;
  }
  for (const kind of MOMENT_KINDS) {
    const m = moments[kind];
    if (!m) continue;
    for (const [name] of shapes) {
      if (!m[name]) throw new ShapeError(`optimizerState["${name}/${kind}"]`, `missing: the state has "/${kind}" moments for other parameters`);
    }
  }
  return { step, moments };
}

/**
 * Validates a spec and its weights, builds the backend's handler and wraps it
 * in a {@link ModelFacade}: what every `Backend.createModel` returns.
 */
export async function createModelFacade<H extends ModelHandler>(
  spec: ModelSpec,
  weights: NamedTensors,
  build: (spec: ModelSpec, weights: NamedTensors) => MaybePromise<H>,
): Promise<ModelFacade<H>> {
  validateSpec(spec);
  validateWeights(spec, weights);
  return new ModelFacade(spec, await build(spec, weights));
}
