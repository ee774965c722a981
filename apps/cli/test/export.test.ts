import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { FIX, runCli, workDir } from "./helpers.js";

const work = workDir("ngem-cli-export-");

const ngem = (args: string[], cwd = work) => runCli(args, { cwd });

interface PredictRow {
  pi: number[];
  mu: number[][];
  sigma: number[][];
}

/** x column of tiny.csv (the input the model was trained on). */
function tinyX(): Float32Array {
  const [head, ...rows] = readFileSync(join(FIX, "tiny.csv"), "utf8").trim().split("\n");
  const col = head!.split(",").indexOf("x");
  return Float32Array.from(rows.map((r) => Number(r.split(",")[col])));
}

function maxRelErr(got: ArrayLike<number>, want: number[]): number {
  let e = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    e = Math.max(e, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return got.length === want.length ? e / scale : Infinity;
}

describe("ngem export", () => {
  const run = join(work, "run");
  const ckpt = join(run, "checkpoint.safetensors");
  beforeAll(() => {
    const r = ngem([
      "train",
      join(FIX, "tiny.csv"),
      "--x-cols",
      "x",
      "--y-cols",
      "y",
      "--k",
      "3",
      "--hidden",
      "16,8",
      "--scale",
      "softplus",
      "--sigma-min",
      "0.01",
      "--steps",
      "40",
      "--out",
      run,
      "--no-plots",
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("writes an ONNX model whose outputs in onnxruntime-node equal `ngem predict` (original units)", async () => {
    const out = join(work, "model.onnx");
    const r = ngem(["export", ckpt, "--format", "onnx", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*model\.onnx \(\d+\.\d KiB, ONNX opset 17\): MDN K=3 D=1/);
    const p = ngem(["predict", ckpt, join(FIX, "tiny.csv"), "--format", "json"]);
    expect(p.code, p.stderr).toBe(0);
    const rows = JSON.parse(p.stdout) as PredictRow[];
    const x = tinyX();
    expect(rows).toHaveLength(x.length);

    const session = await ort.InferenceSession.create(readFileSync(out));
    const res = await session.run({ x: new ort.Tensor("float32", x, [x.length, 1]) });
    expect((res.mu as ort.Tensor).dims).toEqual([x.length, 3, 1]);
    const flat = (f: (r: PredictRow) => number[]) => rows.flatMap(f);
    expect(
      maxRelErr(
        (res.pi as ort.Tensor).data as Float32Array,
        flat((r) => r.pi),
      ),
    ).toBeLessThan(1e-5);
    expect(
      maxRelErr(
        (res.mu as ort.Tensor).data as Float32Array,
        flat((r) => r.mu.flat()),
      ),
    ).toBeLessThan(1e-5);
    expect(
      maxRelErr(
        (res.sigma as ort.Tensor).data as Float32Array,
        flat((r) => r.sigma.flat()),
      ),
    ).toBeLessThan(1e-5);
    await session.release();
  });

  it("--json summary; default output next to the checkpoint; --space data", () => {
    const r = ngem(["export", ckpt, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      output: join(run, "checkpoint.onnx"),
      format: "onnx",
      opset: 17,
      space: "original",
      model: "mdn",
      k: 3,
      d: 1,
      inputDim: 1,
      objective: "ngem",
    });
    expect(s.head).toEqual({ scale: "softplus", sigmaMin: 0.01, covariance: "diag" });
    expect(readFileSync(join(run, "checkpoint.onnx")).byteLength).toBe(s.bytes);
    const d = ngem(["export", ckpt, "--space", "data", "-o", join(work, "data.onnx"), "--json"]);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).space).toBe("data");
    expect(readFileSync(join(work, "data.onnx")).equals(readFileSync(join(run, "checkpoint.onnx")))).toBe(false);
  });

  it("exports a free GMM (input x [batch, 0])", async () => {
    const g = join(work, "gmm");
    expect(ngem(["train", "two-gaussians", "--steps", "30", "--out", g, "--no-plots"]).code).toBe(0);
    const r = ngem(["export", join(g, "checkpoint.safetensors"), "-o", join(g, "gmm.onnx")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/GMM K=2 D=2, input x \[batch, 0\]/);
    const session = await ort.InferenceSession.create(readFileSync(join(g, "gmm.onnx")));
    const res = await session.run({ x: new ort.Tensor("float32", new Float32Array(0), [4, 0]) });
    expect((res.sigma as ort.Tensor).dims).toEqual([4, 2, 2]);
    const pi = (res.pi as ort.Tensor).data as Float32Array;
    expect(pi[0]! + pi[1]!).toBeCloseTo(1, 6);
    expect(pi[0]).toBe(pi[6]); // every row is the same mixture
  });

  describe("bad input exits 2 naming the flag or file, and writes nothing", () => {
    const cases: [string, () => string[], RegExp][] = [
      ["unknown format", () => ["export", ckpt, "--format", "tflite", "-o", join(work, "bad.onnx")], /^ngem: --format: expected onnx, got "tflite"$/m],
      [
        "missing checkpoint",
        () => ["export", join(work, "nope.safetensors"), "-o", join(work, "bad.onnx")],
        /^ngem: checkpoint ".*nope\.safetensors": no such file$/m,
      ],
      [
        "output directory missing",
        () => ["export", ckpt, "-o", join(work, "no-dir", "bad.onnx")],
        /^ngem: --output ".*no-dir\/bad\.onnx": directory .*no-dir does not exist$/m,
      ],
      ["output is a directory", () => ["export", ckpt, "-o", run], /^ngem: --output ".*run": is a directory$/m],
      ["bad --space", () => ["export", ckpt, "--space", "latent", "-o", join(work, "bad.onnx")], /^ngem: --space: expected original \| data, got "latent"$/m],
      ["not a checkpoint", () => ["export", join(FIX, "tiny.csv"), "-o", join(work, "bad.onnx")], /^ngem: checkpoint ".*tiny\.csv": /m],
    ];
    for (const [label, args, message] of cases) {
      it(label, () => {
        const r = ngem(args());
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(existsSync(join(work, "bad.onnx"))).toBe(false);
      });
    }

    it("a failed export (corrupt checkpoint) keeps the previous output file and leaves no temp file", () => {
      const dir = join(work, "keep");
      mkdirSync(dir);
      writeFileSync(join(dir, "m.onnx"), "previous");
      const bad = join(dir, "corrupt.safetensors");
      writeFileSync(bad, readFileSync(ckpt).subarray(0, 200));
      const r = ngem(["export", bad, "-o", join(dir, "m.onnx")]);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stderr).toMatch(/^ngem: checkpoint ".*corrupt\.safetensors": /m);
      expect(readFileSync(join(dir, "m.onnx"), "utf8")).toBe("previous");
      expect(readdirSync(dir).sort()).toEqual(["corrupt.safetensors", "m.onnx"]);
    });
  });
});
