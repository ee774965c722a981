/**
 * @ngem/export - take a model trained with ngem to where models are served
 * and scaled: an ONNX graph (ONNX Runtime in Node, the browser, or any ORT
 * deployment) whose outputs equal `@ngem/trainer`'s `predict`. The PyTorch
 * hand-off reads the checkpoint itself (python/ngem_torch.py in the repo).
 *
 * Browser-safe: `exportModel` returns bytes; `exportToFile` writes through
 * the trainer's `TrainerIO` (Node's atomic temp + fsync + rename by default).
 */
import { defaultIO, EnsembleBackendModel, type TrainedModel, type TrainerIO } from "@ngem/trainer";
import { buildOnnx, type OnnxExportOptions } from "./onnx.js";
import { decodeModel } from "./onnx-proto.js";

export { buildOnnx, ONNX_IR_VERSION, ONNX_OPSET, ONNX_OUTPUTS, type ColumnNormalization, type OnnxExportOptions, type OnnxModelInput } from "./onnx.js";
export { decodeModel as decodeOnnx } from "./onnx-proto.js";
export { NGEM_EXPORT_VERSION } from "./version.js";

/** Export formats. */
export const EXPORT_FORMATS = ["onnx"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions extends OnnxExportOptions {
  /** Default "onnx" (the only format so far). */
  readonly format?: ExportFormat;
}

/** The model as an ONNX graph (bytes of a ModelProto). */
export async function toOnnx(model: TrainedModel, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  // An ensemble exports as the equal-weight mixture of its members' graphs (see buildOnnx's `members`).
  const ens = model.backendModel instanceof EnsembleBackendModel ? model.backendModel : undefined;
  return buildOnnx(
    {
      spec: ens ? ens.memberSpec : model.spec,
      ...(ens ? { members: ens.members.length } : {}),
      weights: await model.weights(),
      normalization: model.normalization,
      objective: model.config.objective,
      trainedSteps: model.state.step,
    },
    opts,
  );
}

/** Exports a trained (or loaded) model in `opts.format` (default ONNX); returns the file's bytes. */
export async function exportModel(model: TrainedModel, opts: ExportOptions = {}): Promise<Uint8Array> {
  const format = opts.format ?? "onnx";
  if (!EXPORT_FORMATS.includes(format)) throw new Error(`format: expected one of ${EXPORT_FORMATS.join(" | ")}, got ${JSON.stringify(format)}`);
  return toOnnx(model, opts);
}

/** `export(model, opts)`: the same as {@link exportModel} (import it as `import { export as exportModel }`). */
export { exportModel as export };

/** Exports `model` and writes the file atomically (temp + fsync + rename, through `io`, default Node's). */
export async function exportToFile(model: TrainedModel, path: string, opts: ExportOptions & { io?: TrainerIO } = {}): Promise<number> {
  const bytes = await exportModel(model, opts);
  await (opts.io ?? (await defaultIO())).writeFileAtomic(path, bytes);
  return bytes.byteLength;
}

/** The `metadata_props` of ONNX model bytes as a key -> value record. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = decodeModel(bytes) as { metadata_props?: { key: string; value: string }[] };
  return Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key, p.value]));
}
