/** `ngem export CKPT --format onnx -o model.onnx`: a checkpoint as a file other runtimes serve. */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import type { Command } from "commander";
import { EXPORT_FORMATS, exportModel, onnxMetadata, ONNX_OPSET, type ExportFormat } from "@ngem/export";
import { load, type TrainedModel } from "@ngem/trainer";
import { FileWriteError, writeFileAtomic } from "@ngem/trainer/node";
import { UsageError } from "../errors.js";

export interface ExportFlags {
  format?: string;
  output?: string;
  space?: string;
  json?: boolean;
}

const SPACES = ["original", "data"] as const;

/** Registers `ngem export` on the program. */
export function addExportCommand(program: Command, exitCodes: string): void {
  program
    .command("export")
    .argument("<checkpoint>", "checkpoint file written by ngem train")
    .description("export a checkpoint for serving: an ONNX graph (ONNX Runtime in Node, the browser, anywhere) with outputs logits, mu, sigma, pi")
    .option("-f, --format <fmt>", `${EXPORT_FORMATS.join(" | ")} (default onnx)`)
    .option("-o, --output <file>", "file to write (default: the checkpoint's name with .onnx, next to it)")
    .option(
      "--space <space>",
      "original: x and the mixture in original units, the stored normalisation as graph nodes (default) | data: the units the model was trained in",
    )
    .option("--json", "print a JSON summary")
    .addHelpText(
      "after",
      `
Examples:
  ngem export runs/sine/checkpoint.safetensors --format onnx -o model.onnx
  ngem export runs/sine/checkpoint.safetensors --space data -o model-standardized.onnx

The graph takes x [batch, inputDim] (float32; a GMM: [batch, 0]) and returns
logits [batch, K], mu [batch, K, D], sigma [batch, K, D], pi [batch, K] (opset
${ONNX_OPSET}, dynamic batch), equal to \`ngem predict\` to float32 precision. Its
metadata holds the ngem version, objective, head options and normalisation.
For PyTorch, load the checkpoint itself with python/ngem_torch.py (docs/SCALING.md).
${exitCodes}`,
    )
    .action((ckpt: string, opts: ExportFlags) => exportCommand(ckpt, opts));
}

function defaultOutput(checkpoint: string): string {
  const base = basename(checkpoint, extname(checkpoint));
  return join(dirname(checkpoint), `${base}.onnx`);
}

export async function exportCommand(checkpoint: string, flags: ExportFlags): Promise<void> {
  const format = flags.format ?? "onnx";
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format: expected ${EXPORT_FORMATS.join(" | ")}, got "${format}"`);
  }
  const space = flags.space ?? "original";
  if (!(SPACES as readonly string[]).includes(space)) throw new UsageError(`--space: expected ${SPACES.join(" | ")}, got "${space}"`);
  if (!existsSync(checkpoint)) throw new UsageError(`checkpoint "${checkpoint}": no such file`);
  if (statSync(checkpoint).isDirectory()) throw new UsageError(`checkpoint "${checkpoint}": is a directory (give the .safetensors file)`);
  const output = flags.output ?? defaultOutput(checkpoint);
  const outDir = dirname(output);
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new UsageError(`--output "${output}": directory ${outDir} does not exist`);
  if (existsSync(output) && statSync(output).isDirectory()) throw new UsageError(`--output "${output}": is a directory`);

  let model: TrainedModel;
  try {
    // Only the weights are needed: the js backend always loads, whatever backend trained the model.
    model = await load(checkpoint, { backend: "js" });
  } catch (err) {
    throw new UsageError(`checkpoint "${checkpoint}": ${err instanceof Error ? err.message : String(err)}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await exportModel(model, { format: format as ExportFormat, space: space as "original" | "data" });
  } finally {
    model.dispose();
  }
  try {
    await writeFileAtomic(output, bytes);
  } catch (err) {
    if (err instanceof FileWriteError) throw new UsageError(`--output: ${err.message}`);
    throw err;
  }
  const meta = onnxMetadata(bytes);
  const spec = model.spec;
  const summary = {
    output,
    format,
    bytes: bytes.byteLength,
    opset: ONNX_OPSET,
    space,
    model: spec.kind,
    k: spec.k,
    d: spec.d,
    inputDim: spec.kind === "mdn" ? spec.inputDim : 0,
    head: JSON.parse(meta.head ?? "{}") as unknown,
    objective: meta.objective,
    ngemVersion: meta.ngem_version,
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `wrote ${output} (${(bytes.byteLength / 1024).toFixed(1)} KiB, ONNX opset ${ONNX_OPSET}): ${spec.kind.toUpperCase()} K=${spec.k} D=${spec.d}, ` +
        `input x [batch, ${summary.inputDim}], outputs logits [batch, ${spec.k}], mu/sigma [batch, ${spec.k}, ${spec.d}], pi [batch, ${spec.k}] ` +
        `in ${space === "original" ? "original units" : "training units"}\n`,
    );
  }
}
