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
  trunkLayout,
  validateWeights,
  type MdnSpec,
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
  /**
   * An ensemble of this many members of `spec` (weights `member<i>/<name>`):
   * the graph returns the equal-weight mixture of their mixtures, M x K components.
   */
  readonly members?: number;
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
  if (input.members === undefined) validateWeights(spec, weights);
  else if (!Number.isInteger(input.members) || input.members < 1) throw new ShapeError("members", `expected an integer >= 1, got ${String(input.members)}`);
  const head = resolveScaleOptions(spec.head);
  const { k: K, d: D } = spec;
  const nx = space === "original" ? input.normalization?.x : undefined;
  const ny = space === "original" ? input.normalization?.y : undefined;
  checkNorm("normalization.x", nx, spec.kind === "mdn" ? spec.inputDim : 0);
  checkNorm("normalization.y", ny, D);

  const g = new GraphBuilder();
  const B = "batch";
  const M = input.members ?? 1;
  const x =
    spec.kind === "mdn"
      ? g.input("x", [B, spec.inputDim], space === "original" && nx ? "inputs in original units" : "inputs in the units the model was trained in")
      : g.input("x", [B, 0], "no inputs (a free GMM): a [batch, 0] tensor whose batch size sets the rows returned");
  let xs = x;
  if (spec.kind === "mdn" && nx) {
    xs = g.op("Sub", [xs, g.f32("x_mean", [spec.inputDim], nx.mean)], "x_centered");
    xs = g.op("Div", [xs, g.f32("x_std", [spec.inputDim], nx.std)], "x_standardized");
  }
  let logits: string;
  let mu: string;
  let sigma: string;
  if (input.members === undefined) {
    ({ logits, mu, sigma } = memberNodes(g, spec, weights, "", xs));
  } else {
    // An ensemble: each member's mixture, its logits as log-probabilities minus log M, concatenated over components.
    const parts = Array.from({ length: M }, (_, i) => {
      const w: NamedTensors = {};
      for (const [name, t] of Object.entries(weights)) if (name.startsWith(`member${i}/`)) w[name.slice(`member${i}/`.length)] = t;
      validateWeights(spec, w);
      const m = memberNodes(g, spec, w, `member${i}/`, xs);
      const lp = g.op("LogSoftmax", [m.logits], `member${i}/log_pi`, { axis: -1 });
      return { logits: g.op("Sub", [lp, g.f32(`member${i}/log_m`, [], [Math.log(M)])], `member${i}/logits_ens`), mu: m.mu, sigma: m.sigma };
    });
    logits = g.op(
      "Concat",
      parts.map((q) => q.logits),
      "logits_ens",
      { axis: 1 },
    );
    mu = g.op(
      "Concat",
      parts.map((q) => q.mu),
      "mu_ens",
      { axis: 1 },
    );
    sigma = g.op(
      "Concat",
      parts.map((q) => q.sigma),
      "sigma_ens",
      { axis: 1 },
    );
  }
  const KT = K * M;
  if (ny) {
    const std = g.f32("y_std", [D], ny.std);
    mu = g.op("Add", [g.op("Mul", [mu, std], "mu_scaled"), g.f32("y_mean", [D], ny.mean)], "mu_original");
    sigma = g.op("Mul", [sigma, std], "sigma_original");
  }
  const pi = g.op("Softmax", [logits], "pi_data", { axis: -1 });

  const units = ny ? "original y units" : "the units the model was trained in";
  const outs: [string, string, Dim[], string][] = [
    [logits, "logits", [B, KT], "mixture logits (log pi up to a constant per row)"],
    [mu, "mu", [B, KT, D], `component means, ${units}`],
    [sigma, "sigma", [B, KT, D], `component standard deviations, ${units}`],
    [pi, "pi", [B, KT], "mixture weights softmax(logits)"],
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
    ...(input.members !== undefined ? { ensemble_members: String(M), components: String(KT) } : {}),
    ...(input.objective !== undefined ? { objective: input.objective } : {}),
    ...(input.trainedSteps !== undefined ? { trained_steps: String(input.trainedSteps) } : {}),
  };
  return encodeModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    producer_name: "ngem",
    producer_version: NGEM_EXPORT_VERSION,
    doc_string: `ngem ${input.members !== undefined ? `ensemble of ${M} ` : ""}${spec.kind === "mdn" ? "mixture density network" : "Gaussian mixture"}${input.members !== undefined ? "s" : ""}: p(y|x) = sum_k pi_k N(y; mu_k, diag(sigma_k^2)), K=${KT}, D=${D}`,
    graph: g.graph(opts.graphName ?? `ngem_${spec.kind}`),
    metadata_props: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

/**
 * One model's mixture in the trained space from the (standardised) input
 * `xs`: logits [batch, K], mu and sigma [batch, K, D]. Every node and
 * initializer name starts with `p` (so ensemble members do not collide).
 */
function memberNodes(g: GraphBuilder, spec: ModelSpec, weights: NamedTensors, p: string, xs: string): { logits: string; mu: string; sigma: string } {
  const head = resolveScaleOptions(spec.head);
  const { k: K, d: D } = spec;
  const HW = headWidth(spec);
  let out: string;
  if (spec.kind === "mdn") {
    // one trunk (shared), or two (separate: logits | mu, raw scale) whose head outputs are concatenated
    const parts = trunkLayout(spec).map((tl) => trunkNodes(g, spec, weights, p, xs, tl.trunk, tl.head, tl.width));
    out = parts.length === 1 ? (parts[0] as string) : g.op("Concat", parts, `${p}head.out`, { axis: 1 });
  } else {
    // A free GMM has no inputs: the same mixture for every row. x [batch, 0] carries the batch size.
    const row = new Float64Array(HW);
    row.set(Array.from(data(weights, "gmm.logits")), 0);
    row.set(Array.from(data(weights, "gmm.mu")), K);
    row.set(Array.from(data(weights, "gmm.logSigma")), K + K * D);
    const batch = g.op("Shape", [xs], `${p}batch_size`, { start: 0, end: 1 });
    const shape = g.op("Concat", [batch, g.i64(`${p}row_width`, [HW])], `${p}out_shape`, { axis: 0 });
    out = g.op("Expand", [g.f32(`${p}gmm.row`, [1, HW], row), shape], `${p}head.out`);
  }

  const slice = (from: number, to: number, name: string) =>
    g.op("Slice", [out, g.i64(`${p}${name}_start`, [from]), g.i64(`${p}${name}_end`, [to]), g.i64(`${p}${name}_axis`, [1])], `${p}${name}`);
  const logits = slice(0, K, "logits_raw");
  const mu = g.op("Reshape", [slice(K, K + K * D, "mu_flat"), g.i64(`${p}mu_shape`, [-1, K, D])], `${p}mu_data`);
  const raw = slice(K + K * D, HW, "scale_raw");

  let f: string;
  if (head.scale === "exp") f = g.op("Exp", [raw], `${p}scale_f`);
  else if (head.scale === "softplus") f = g.op("Softplus", [raw], `${p}scale_f`);
  else {
    // elu+1 as a select (not Elu(r) + 1, which rounds e^r - 1 + 1 to 0 in float32 for very negative r)
    const pos = g.op("Greater", [raw, g.f32(`${p}zero`, [], [0])], `${p}scale_pos`);
    const lin = g.op("Add", [raw, g.f32(`${p}one`, [], [1])], `${p}scale_lin`);
    f = g.op("Where", [pos, lin, g.op("Exp", [raw], `${p}scale_exp`)], `${p}scale_f`);
  }
  const sigmaS = head.sigmaMin > 0 ? g.op("Add", [f, g.f32(`${p}sigma_min`, [], [head.sigmaMin])], `${p}sigma_s`) : f;
  let sigma: string;
  if (head.covariance === "diag") sigma = g.op("Reshape", [sigmaS, g.i64(`${p}sigma_shape`, [-1, K, D])], `${p}sigma_data`);
  else if (head.covariance === "isotropic") {
    const r = g.op("Reshape", [sigmaS, g.i64(`${p}sigma_shape`, [-1, K, 1])], `${p}sigma_k`);
    sigma = g.op("Tile", [r, g.i64(`${p}sigma_repeats`, [1, 1, D])], `${p}sigma_data`);
  } else {
    const r = g.op("Reshape", [sigmaS, g.i64(`${p}sigma_shape`, [-1, 1, D])], `${p}sigma_d`);
    sigma = g.op("Tile", [r, g.i64(`${p}sigma_repeats`, [1, K, 1])], `${p}sigma_data`);
  }
  return { logits, mu, sigma };
}

/** One trunk (`trunk`.i.*) and its head layer (`head`.weight/.bias, `width` outputs) on `xs`; node names as before the trunk option. */
function trunkNodes(g: GraphBuilder, spec: MdnSpec, weights: NamedTensors, p: string, xs: string, trunk: string, head: string, width: number): string {
  let h = xs;
  let inDim = spec.inputDim;
  spec.hidden.forEach((w, i) => {
    const t = `${trunk}.${i}`;
    h = g.op(
      "Gemm",
      [h, g.f32(`${p}${t}.weight`, [inDim, w], data(weights, `${t}.weight`)), g.f32(`${p}${t}.bias`, [w], data(weights, `${t}.bias`))],
      `${p}${t}.linear`,
    );
    if (spec.layerNorm) {
      h = g.op(
        "LayerNormalization",
        [h, g.f32(`${p}${t}.ln.gamma`, [w], data(weights, `${t}.ln.gamma`)), g.f32(`${p}${t}.ln.beta`, [w], data(weights, `${t}.ln.beta`))],
        `${p}${t}.ln`,
        { axis: -1, epsilon: { float: LAYER_NORM_EPS } },
      );
    }
    h = activation(g, spec.activation, h, `${p}${t}.act`);
    inDim = w;
  });
  return g.op(
    "Gemm",
    [h, g.f32(`${p}${head}.weight`, [inDim, width], data(weights, `${head}.weight`)), g.f32(`${p}${head}.bias`, [width], data(weights, `${head}.bias`))],
    `${p}${head}.out`,
  );
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
