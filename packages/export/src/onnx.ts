/**
 * A trained MDN (trunk + mixture head) or free GMM as an ONNX graph that
 * computes exactly what `@ngem/trainer`'s `predict` returns, in float32:
 *
 *   x [batch, inputDim]                       (GMM: x [batch, 0], only its batch size is used)
 *   -> (x - mean_x) / std_x                   (space "original" with a stored x normalisation)
 *   -> per hidden layer: Gemm -> [LayerNormalization eps 1e-5] -> gelu (exact erf form) | tanh | relu
 *   -> head Gemm -> [logits (K) | mu (K D) | raw scale (S)]
 *   -> sigma = sigmaMin + f(raw), f = exp | softplus | elu+1 (r+1 for r > 0, e^r otherwise),
 *      broadcast to [batch, K, D] for isotropic / shared covariance
 *   -> mu * std_y + mean_y, sigma * std_y     (space "original" with a stored y normalisation)
 *
 * Outputs: `logits` [batch, K], `mu` [batch, K, D], `sigma` [batch, K, D],
 * `pi` = softmax(logits) [batch, K]. Opset 17 of the default domain (the
 * first with LayerNormalization; run by onnxruntime-node and onnxruntime-web),
 * IR version 8, dynamic batch.
 */
import {
  headWidth,
  LAYER_NORM_EPS,
  resolveScaleOptions,
  ShapeError,
  validateWeights,
  type ModelSpec,
  type NamedTensors,
} from "@ngem/core";
import { encodeModel, GraphBuilder, type Dim } from "./onnx-proto.js";
import { NGEM_EXPORT_VERSION } from "./version.js";

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const ONNX_OUTPUTS = ["logits", "mu", "sigma", "pi"] as const;

/** Per-column standardisation z = (v - mean) / std, as stored in checkpoints. */
export interface ColumnNormalization {
  readonly mean: ArrayLike<number>;
  readonly std: ArrayLike<number>;
}

export interface OnnxExportOptions {
  /**
   * "original" (default): the graph takes x in original units and returns the
   * mixture in original y units, applying the model's stored normalisation
   * with explicit nodes (`predict(..., { space: "original" })`); "data": the
   * space the model was trained in (`predict(...)`), no normalisation nodes.
   */
  readonly space?: "original" | "data";
  /** Graph name (default "ngem_mdn" / "ngem_gmm"). */
  readonly graphName?: string;
}

/** Everything the graph is built from (a {@link TrainedModel} provides it; see `toOnnx`). */
export interface OnnxModelInput {
  readonly spec: ModelSpec;
  readonly weights: NamedTensors;
  readonly normalization?: { readonly x?: ColumnNormalization; readonly y?: ColumnNormalization } | undefined;
  /** Recorded in the metadata (training objective, e.g. "ngem"). */
  readonly objective?: string;
  /** Recorded in the metadata (optimizer steps taken). */
  readonly trainedSteps?: number;
}

function data(w: NamedTensors, name: string): ArrayLike<number> {
  const t = w[name];
  if (!t) throw new ShapeError(`weights["${name}"]`, "missing");
  return t.data;
}

function checkNorm(what: string, n: ColumnNormalization | undefined, dim: number): void {
  if (!n) return;
  if (n.mean.length !== dim || n.std.length !== dim) {
    throw new ShapeError(what, `expected mean and std of length ${dim}, got ${n.mean.length} and ${n.std.length}`);
  }
  for (let i = 0; i < dim; i++) {
    const m = n.mean[i] as number;
    const s = n.std[i] as number;
    if (!Number.isFinite(m) || !Number.isFinite(s) || s <= 0) throw new ShapeError(what, `column ${i}: mean ${m}, std ${s} (need finite values and std > 0)`);
  }
}

/** Builds the ONNX model (bytes of a ModelProto) for a spec, its weights and normalisation. */
export function buildOnnx(input: OnnxModelInput, opts: OnnxExportOptions = {}): Uint8Array {
  const { spec, weights } = input;
  const space = opts.space ?? "original";
  if (space !== "original" && space !== "data") throw new ShapeError("space", `expected "original" | "data", got ${String(space)}`);
  validateWeights(spec, weights);
  const head = resolveScaleOptions(spec.head);
  const { k: K, d: D } = spec;
  const HW = headWidth(spec);
  const nx = space === "original" ? input.normalization?.x : undefined;
  const ny = space === "original" ? input.normalization?.y : undefined;
  checkNorm("normalization.x", nx, spec.kind === "mdn" ? spec.inputDim : 0);
  checkNorm("normalization.y", ny, D);

  const g = new GraphBuilder();
  const B = "batch";
  let out: string;
  if (spec.kind === "mdn") {
    const x = g.input("x", [B, spec.inputDim], space === "original" && nx ? "inputs in original units" : "inputs in the units the model was trained in");
    let h = x;
    if (nx) {
      h = g.op("Sub", [h, g.f32("x_mean", [spec.inputDim], nx.mean)], "x_centered");
      h = g.op("Div", [h, g.f32("x_std", [spec.inputDim], nx.std)], "x_standardized");
    }
    let inDim = spec.inputDim;
    spec.hidden.forEach((width, i) => {
      const p = `trunk.${i}`;
      h = g.op("Gemm", [h, g.f32(`${p}.weight`, [inDim, width], data(weights, `${p}.weight`)), g.f32(`${p}.bias`, [width], data(weights, `${p}.bias`))], `${p}.linear`);
      if (spec.layerNorm) {
        h = g.op(
          "LayerNormalization",
          [h, g.f32(`${p}.ln.gamma`, [width], data(weights, `${p}.ln.gamma`)), g.f32(`${p}.ln.beta`, [width], data(weights, `${p}.ln.beta`))],
          `${p}.ln`,
          { axis: -1, epsilon: { float: LAYER_NORM_EPS } },
        );
      }
      h = activation(g, spec.activation, h, `${p}.act`);
      inDim = width;
    });
    out = g.op("Gemm", [h, g.f32("head.weight", [inDim, HW], data(weights, "head.weight")), g.f32("head.bias", [HW], data(weights, "head.bias"))], "head.out");
  } else {
    // A free GMM has no inputs: the same mixture for every row. x [batch, 0] carries the batch size.
    const x = g.input("x", [B, 0], "no inputs (a free GMM): a [batch, 0] tensor whose batch size sets the rows returned");
    const row = new Float64Array(HW);
    row.set(Array.from(data(weights, "gmm.logits")), 0);
    row.set(Array.from(data(weights, "gmm.mu")), K);
    row.set(Array.from(data(weights, "gmm.logSigma")), K + K * D);
    const batch = g.op("Shape", [x], "batch_size", { start: 0, end: 1 });
    const shape = g.op("Concat", [batch, g.i64("row_width", [HW])], "out_shape", { axis: 0 });
    out = g.op("Expand", [g.f32("gmm.row", [1, HW], row), shape], "head.out");
  }

  const slice = (from: number, to: number, name: string) =>
    g.op("Slice", [out, g.i64(`${name}_start`, [from]), g.i64(`${name}_end`, [to]), g.i64(`${name}_axis`, [1])], name);
  const logits = slice(0, K, "logits_raw");
  let mu = g.op("Reshape", [slice(K, K + K * D, "mu_flat"), g.i64("mu_shape", [-1, K, D])], "mu_data");
  const raw = slice(K + K * D, HW, "scale_raw");

  let f: string;
  if (head.scale === "exp") f = g.op("Exp", [raw], "scale_f");
  else if (head.scale === "softplus") f = g.op("Softplus", [raw], "scale_f");
  else {
    // elu+1 as a select (not Elu(r) + 1, which rounds e^r - 1 + 1 to 0 in float32 for very negative r)
    const pos = g.op("Greater", [raw, g.f32("zero", [], [0])], "scale_pos");
    const lin = g.op("Add", [raw, g.f32("one", [], [1])], "scale_lin");
    f = g.op("Where", [pos, lin, g.op("Exp", [raw], "scale_exp")], "scale_f");
  }
  const sigmaS = head.sigmaMin > 0 ? g.op("Add", [f, g.f32("sigma_min", [], [head.sigmaMin])], "sigma_s") : f;
  let sigma: string;
  if (head.covariance === "diag") sigma = g.op("Reshape", [sigmaS, g.i64("sigma_shape", [-1, K, D])], "sigma_data");
  else if (head.covariance === "isotropic") {
    const r = g.op("Reshape", [sigmaS, g.i64("sigma_shape", [-1, K, 1])], "sigma_k");
    sigma = g.op("Tile", [r, g.i64("sigma_repeats", [1, 1, D])], "sigma_data");
  } else {
    const r = g.op("Reshape", [sigmaS, g.i64("sigma_shape", [-1, 1, D])], "sigma_d");
    sigma = g.op("Tile", [r, g.i64("sigma_repeats", [1, K, 1])], "sigma_data");
  }
  if (ny) {
    const std = g.f32("y_std", [D], ny.std);
    mu = g.op("Add", [g.op("Mul", [mu, std], "mu_scaled"), g.f32("y_mean", [D], ny.mean)], "mu_original");
    sigma = g.op("Mul", [sigma, std], "sigma_original");
  }
  const pi = g.op("Softmax", [logits], "pi_data", { axis: -1 });

  const units = ny ? "original y units" : "the units the model was trained in";
  const outs: [string, string, Dim[], string][] = [
    [logits, "logits", [B, K], "mixture logits (log pi up to a constant per row)"],
    [mu, "mu", [B, K, D], `component means, ${units}`],
    [sigma, "sigma", [B, K, D], `component standard deviations, ${units}`],
    [pi, "pi", [B, K], "mixture weights softmax(logits)"],
  ];
  for (const [v, name, dims, doc] of outs) g.output(v, name, dims, doc);

  const norm = input.normalization
    ? {
        ...(input.normalization.x ? { x: { mean: Array.from(input.normalization.x.mean), std: Array.from(input.normalization.x.std) } } : {}),
        ...(input.normalization.y ? { y: { mean: Array.from(input.normalization.y.mean), std: Array.from(input.normalization.y.std) } } : {}),
      }
    : null;
  const meta: Record<string, string> = {
    ngem_version: NGEM_EXPORT_VERSION,
    model_kind: spec.kind,
    spec: JSON.stringify(spec),
    head: JSON.stringify(head),
    scale: head.scale,
    sigma_min: String(head.sigmaMin),
    covariance: head.covariance,
    space,
    normalization: JSON.stringify(norm),
    outputs: "logits [batch,K], mu [batch,K,D], sigma [batch,K,D], pi [batch,K]",
    ...(input.objective !== undefined ? { objective: input.objective } : {}),
    ...(input.trainedSteps !== undefined ? { trained_steps: String(input.trainedSteps) } : {}),
  };
  return encodeModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    producer_name: "ngem",
    producer_version: NGEM_EXPORT_VERSION,
    doc_string: `ngem ${spec.kind === "mdn" ? "mixture density network" : "Gaussian mixture"}: p(y|x) = sum_k pi_k N(y; mu_k, diag(sigma_k^2)), K=${K}, D=${D}`,
    graph: g.graph(opts.graphName ?? `ngem_${spec.kind}`),
    metadata_props: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

const INV_SQRT2 = Math.SQRT1_2;

function activation(g: GraphBuilder, a: string, h: string, name: string): string {
  switch (a) {
    case "relu":
      return g.op("Relu", [h], name);
    case "tanh":
      return g.op("Tanh", [h], name);
    case "gelu": {
      // exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as core's mlp.ts (Gelu itself needs opset 20)
      const e = g.op("Erf", [g.op("Mul", [h, g.f32("inv_sqrt2", [], [INV_SQRT2])], `${name}_scaled`)], `${name}_erf`);
      const one = g.op("Add", [e, g.f32("one_gelu", [], [1])], `${name}_1p`);
      return g.op("Mul", [g.op("Mul", [h, one], `${name}_x1p`), g.f32("half", [], [0.5])], name);
    }
    default:
      throw new ShapeError("spec.activation", `no ONNX form for ${a}`);
  }
}
