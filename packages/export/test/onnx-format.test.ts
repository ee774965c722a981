/** The ONNX file itself: schema, opset, metadata, errors, atomic writes, the committed descriptor. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { initWeights, type ModelSpec } from "@ngem/core";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { buildOnnx, decodeOnnx, export as exportFn, exportModel, exportToFile, NGEM_EXPORT_VERSION, onnxMetadata, ONNX_OPSET } from "../src/index.js";
import { trainedModel, X_NORM, Y_NORM } from "./helpers.js";

const PKG = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "ngem-export-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("ONNX model file", () => {
  it("declares IR 8 / opset 17, a dynamic batch, and carries version, objective and head options as metadata", async () => {
    const model = await trainedModel({ kind: "mdn", k: 3, hidden: [8], scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" });
    const bytes = await exportModel(model);
    const m = decodeOnnx(bytes) as {
      ir_version: number;
      opset_import: { domain?: string; version: number }[];
      producer_name: string;
      graph: { input: { name: string; type: { tensor_type: { shape: { dim: { dim_param?: string; dim_value?: number }[] } } } }[]; output: { name: string }[] };
    };
    expect(m.ir_version).toBe(8);
    expect(m.opset_import).toEqual([{ domain: "", version: ONNX_OPSET }]);
    expect(m.producer_name).toBe("ngem");
    expect(m.graph.input.map((i) => i.name)).toEqual(["x"]);
    expect(m.graph.input[0]!.type.tensor_type.shape.dim).toEqual([{ dim_param: "batch" }, { dim_value: 2 }]);
    expect(m.graph.output.map((o) => o.name)).toEqual(["logits", "mu", "sigma", "pi"]);
    const meta = onnxMetadata(bytes);
    expect(meta.ngem_version).toBe(NGEM_EXPORT_VERSION);
    expect(meta.objective).toBe("ngem");
    expect(JSON.parse(meta.head!)).toEqual({ scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" });
    expect([meta.scale, meta.sigma_min, meta.covariance]).toEqual(["softplus", "0.001", "isotropic"]);
    expect(meta.space).toBe("original");
    expect(meta.trained_steps).toBe("15");
    expect(JSON.parse(meta.normalization!)).toEqual({
      x: { mean: [...X_NORM.mean], std: [...X_NORM.std] },
      y: { mean: [...Y_NORM.mean], std: [...Y_NORM.std] },
    });
    expect(JSON.parse(meta.spec!)).toMatchObject({ kind: "mdn", inputDim: 2, hidden: [8], k: 3, d: 2 });
    // `export` is the same function as exportModel
    expect(Buffer.from(await exportFn(model)).equals(Buffer.from(bytes))).toBe(true);
    model.dispose();
  });

  it("builds from a spec + weights without normalisation (identity units)", async () => {
    const spec: ModelSpec = { kind: "mdn", inputDim: 3, hidden: [5, 4], activation: "gelu", layerNorm: true, k: 2, d: 1 };
    const bytes = buildOnnx({ spec, weights: initWeights(spec, 7) });
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run({ x: new ort.Tensor("float32", new Float32Array(6), [2, 3]) });
    expect((r.sigma as ort.Tensor).dims).toEqual([2, 2, 1]);
    const pi = (r.pi as ort.Tensor).data as Float32Array;
    expect(pi[0]! + pi[1]!).toBeCloseTo(1, 6);
    expect(onnxMetadata(bytes).normalization).toBe("null");
    expect(onnxMetadata(bytes).objective).toBeUndefined();
  });

  it("rejects bad input with the field named", async () => {
    const spec: ModelSpec = { kind: "gmm", k: 2, d: 2 };
    const w = initWeights(spec, 1);
    expect(() => buildOnnx({ spec, weights: w }, { space: "raw" as "data" })).toThrow(/space: expected "original" \| "data"/);
    expect(() => buildOnnx({ spec, weights: { ...w, "gmm.mu": { shape: [3], data: new Float64Array(3) } } })).toThrow(/gmm\.mu/);
    expect(() => buildOnnx({ spec, weights: w, normalization: { y: { mean: [0], std: [1] } } })).toThrow(/normalization\.y: expected mean and std of length 2/);
    expect(() => buildOnnx({ spec, weights: w, normalization: { y: { mean: [0, 0], std: [1, 0] } } })).toThrow(/normalization\.y: column 1/);
    const model = await trainedModel({ kind: "gmm", k: 2 });
    await expect(exportModel(model, { format: "tflite" as "onnx" })).rejects.toThrow(/format: expected one of onnx, got "tflite"/);
    model.dispose();
  });

  it("exportToFile writes atomically: the whole file or the old one, no temp file left", async () => {
    const model = await trainedModel({ kind: "gmm", k: 2 });
    const path = join(work, "gmm.onnx");
    writeFileSync(path, "old");
    const n = await exportToFile(model, path);
    expect(readFileSync(path).byteLength).toBe(n);
    expect(readdirSync(work).filter((f) => f.includes(".tmp"))).toEqual([]);
    await ort.InferenceSession.create(readFileSync(path));
    await expect(exportToFile(model, join(work, "no-such-dir", "m.onnx"))).rejects.toThrow(/no-such-dir/);
    expect(existsSync(join(work, "no-such-dir"))).toBe(false);
    model.dispose();
  });
});

describe("package", () => {
  it("src/onnx-descriptor.ts is what scripts/gen-onnx-descriptor.mjs makes from proto/onnx.proto", () => {
    const fresh = execFileSync(process.execPath, [join(PKG, "scripts/gen-onnx-descriptor.mjs"), "--print"], { encoding: "utf8" });
    expect(fresh === readFileSync(join(PKG, "src/onnx-descriptor.ts"), "utf8")).toBe(true);
  });

  it("NGEM_EXPORT_VERSION is package.json's version", () => {
    expect(NGEM_EXPORT_VERSION).toBe(JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")).version);
  });
});
