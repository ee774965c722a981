/**
 * Model specs, the canonical parameter names and shapes every backend uses,
 * and the documented, seeded reference initialisation.
 *
 * Parameter names (row-major shapes):
 * - MDN, hidden layer i (0-based), Linear -> [LayerNorm] -> activation:
 *   `trunk.i.weight` [in, out], `trunk.i.bias` [out],
 *   `trunk.i.ln.gamma` [out], `trunk.i.ln.beta` [out] (when layerNorm)
 * - MDN head: `head.weight` [last, K + KD + S], `head.bias` [K + KD + S]; each output
 *   row is laid out as [logits (K) | mu (K x D) | raw scale (S)], S = KD (diag),
 *   K (isotropic) or D (shared); with the default head the raw scale is log sigma.
 * - MDN with `trunk: "separate"`: two trunks of the same widths (each Linear -> [LayerNorm]
 *   -> activation), one per output group, named as above with a prefix:
 *   `logits_trunk.i.*`, then `logits_head.weight` [last, K], `logits_head.bias` [K];
 *   `gauss_trunk.i.*`, then `gauss_head.weight` [last, KD + S], `gauss_head.bias` [KD + S]
 *   (canonical order: logits trunk, logits head, gauss trunk, gauss head). The head output
 *   row is the concatenation [logits (K) | mu (K x D) | raw scale (S)], as for the shared trunk.
 * - GMM: `gmm.logits` [K], `gmm.mu` [K, D], `gmm.logSigma` [K, D].
 */
import type { MdnSpec, ModelSpec, NamedTensors } from "../backend.js";
import { checkInt, ShapeError } from "../errors.js";
import { Rng } from "../rng.js";
import { resolveScaleOptions, scaleWidth, type ScaleOptions } from "../scale.js";

/** Shape of a GMM's raw scale parameter: [K,D] (diag), [K,1] (isotropic), [1,D] (shared). */
export function gmmScaleShape(spec: { k: number; d: number; head?: ScaleOptions }): number[] {
  const c = resolveScaleOptions(spec.head).covariance;
  return c === "diag" ? [spec.k, spec.d] : c === "isotropic" ? [spec.k, 1] : [1, spec.d];
}

export const ACTIVATIONS = ["gelu", "tanh", "relu"] as const;
export const TRUNKS = ["shared", "separate"] as const;

/**
 * One trunk of an MDN and the columns of the head output row it produces:
 * parameters `${trunk}.i.*` and `${head}.weight` / `${head}.bias`, writing the
 * columns [col0, col0 + width) of the [K + KD + S] head row.
 */
export interface TrunkLayout {
  readonly trunk: string;
  readonly head: string;
  readonly col0: number;
  readonly width: number;
}

/** The trunks of an MDN: one (`trunk`/`head`) when shared, two (`logits_*`, `gauss_*`) when separate. */
export function trunkLayout(spec: MdnSpec): TrunkLayout[] {
  const HW = headWidth(spec);
  if (spec.trunk !== "separate") return [{ trunk: "trunk", head: "head", col0: 0, width: HW }];
  return [
    { trunk: "logits_trunk", head: "logits_head", col0: 0, width: spec.k },
    { trunk: "gauss_trunk", head: "gauss_head", col0: spec.k, width: HW - spec.k },
  ];
}

/** Validates a spec, naming the field at fault. */
export function validateSpec(spec: ModelSpec): void {
  if (spec == null || typeof spec !== "object") throw new ShapeError("spec", "expected a ModelSpec object");
  checkInt("spec.k", spec.k, 1);
  checkInt("spec.d", spec.d, 1);
  try {
    resolveScaleOptions(spec.head);
  } catch (err) {
    if (err instanceof ShapeError) throw new ShapeError(`spec.head.${err.argument}`, err.message.slice(err.argument.length + 2));
    throw err;
  }
  if (spec.kind === "gmm") return;
  if (spec.kind !== "mdn") throw new ShapeError("spec.kind", `expected "mdn" | "gmm", got ${String((spec as { kind: unknown }).kind)}`);
  checkInt("spec.inputDim", spec.inputDim, 1);
  if (!Array.isArray(spec.hidden)) throw new ShapeError("spec.hidden", "expected an array of layer widths");
  spec.hidden.forEach((w, i) => checkInt(`spec.hidden[${i}]`, w, 1));
  if (!ACTIVATIONS.includes(spec.activation)) {
    throw new ShapeError("spec.activation", `expected one of ${ACTIVATIONS.join(" | ")}, got ${String(spec.activation)}`);
  }
  if (typeof spec.layerNorm !== "boolean") throw new ShapeError("spec.layerNorm", "expected a boolean");
  if (spec.trunk !== undefined && !TRUNKS.includes(spec.trunk)) {
    throw new ShapeError("spec.trunk", `expected one of ${TRUNKS.join(" | ")}, got ${String(spec.trunk)}`);
  }
}

/** Width of the head's output row: K + K D + S (S raw scale entries, see scale.ts). */
export function headWidth(spec: ModelSpec): number {
  return spec.k + spec.k * spec.d + scaleWidth(spec.k, spec.d, resolveScaleOptions(spec.head).covariance);
}

/** Parameter names and shapes in canonical order. */
export function paramShapes(spec: ModelSpec): [string, number[]][] {
  validateSpec(spec);
  const { k: K, d: D } = spec;
  if (spec.kind === "gmm") {
    return [
      ["gmm.logits", [K]],
      ["gmm.mu", [K, D]],
      ["gmm.logSigma", gmmScaleShape(spec)],
    ];
  }
  const out: [string, number[]][] = [];
  for (const t of trunkLayout(spec)) {
    let prev = spec.inputDim;
    spec.hidden.forEach((w, i) => {
      out.push([`${t.trunk}.${i}.weight`, [prev, w]], [`${t.trunk}.${i}.bias`, [w]]);
      if (spec.layerNorm) out.push([`${t.trunk}.${i}.ln.gamma`, [w]], [`${t.trunk}.${i}.ln.beta`, [w]]);
      prev = w;
    });
    out.push([`${t.head}.weight`, [prev, t.width]], [`${t.head}.bias`, [t.width]]);
  }
  return out;
}

/** Number of trainable scalars. */
export function paramCount(spec: ModelSpec): number {
  return paramShapes(spec).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Reference initialisation (float64), identical on every backend:
 * - Linear layers (trunk and head): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 *   (PyTorch's nn.Linear default).
 * - LayerNorm: gamma = 1, beta = 0.
 * - GMM: logits = 0 (equal weights), mu ~ N(0, 1), logSigma = 0 (sigma = 1).
 * Draws happen in canonical parameter order from `new Rng(seed)`.
 */
export function initWeights(spec: ModelSpec, seed = 0): NamedTensors {
  const rng = new Rng(seed);
  const out: NamedTensors = {};
  for (const [name, shape] of paramShapes(spec)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(size);
    if (name === "gmm.mu") {
      for (let i = 0; i < size; i++) data[i] = rng.normal();
    } else if (name.endsWith(".weight") || name.endsWith(".bias")) {
      const fanIn = name.endsWith(".weight") ? (shape[0] as number) : fanInOf(spec, name);
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < size; i++) data[i] = (2 * rng.uniform() - 1) * bound;
    } else if (name.endsWith(".ln.gamma")) {
      data.fill(1);
    }
    out[name] = { shape, data };
  }
  return out;
}

function fanInOf(spec: ModelSpec, biasName: string): number {
  if (spec.kind !== "mdn") return 1;
  if (biasName.endsWith("head.bias")) return spec.hidden.length ? (spec.hidden[spec.hidden.length - 1] as number) : spec.inputDim;
  const i = Number(biasName.split(".")[1]);
  return i === 0 ? spec.inputDim : (spec.hidden[i - 1] as number);
}

/**
 * Checks that `weights` holds exactly the parameters of `spec` with the right
 * shapes and finite values; names the first parameter at fault.
 */
export function validateWeights(spec: ModelSpec, weights: NamedTensors, what = "weights"): void {
  if (weights == null || typeof weights !== "object") throw new ShapeError(what, "expected an object of named tensors");
  const shapes = paramShapes(spec);
  const expected = new Set(shapes.map(([n]) => n));
  for (const name of Object.keys(weights)) {
    if (!expected.has(name)) throw new ShapeError(`${what}["${name}"]`, `not a parameter of this ${spec.kind} spec`);
  }
  for (const [name, shape] of shapes) {
    const t = weights[name];
    if (!t) throw new ShapeError(`${what}["${name}"]`, `missing; expected shape [${shape.join(", ")}]`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!t.data || t.data.length !== size) {
      throw new ShapeError(`${what}["${name}"]`, `expected shape [${shape.join(", ")}] (length ${size}), got length ${t.data?.length}`);
    }
    for (let i = 0; i < size; i++) {
      if (!Number.isFinite(t.data[i] as number)) {
        throw new ShapeError(`${what}["${name}"]`, `non-finite value ${t.data[i]} at flat index ${i}`);
      }
    }
  }
}

/** Deep copy of named tensors into float64 (or float32) arrays. */
export function cloneTensors(t: NamedTensors, precision: "float64" | "float32" = "float64"): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, v] of Object.entries(t)) {
    out[name] = { shape: [...v.shape], data: precision === "float64" ? Float64Array.from(v.data) : Float32Array.from(v.data) };
  }
  return out;
}
