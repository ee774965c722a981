/**
 * The PyTorch hand-off (python/ngem_torch.py): checkpoints saved by the
 * trainer load into an nn.Module (strict, under the checkpoint's names) whose
 * predict, NLL and NLL/nGEM gradients equal ngem's, and which trains further
 * under DDP. Runs python/test_ngem_torch.py with the Python that has torch
 * (Debian's python3-torch installs for /usr/bin/python3; NGEM_TORCH_PYTHON
 * overrides); skips with the reason printed when there is none.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gmmRawHead, mdnForward, mixtureHeadRaw, resolveScaleOptions, Rng, softmax, type MdnSpec, type RawHead, type Variant } from "@ngem/core";
import { datasetNll, load, predict, save, type TrainConfig } from "@ngem/trainer";
import { afterAll, describe, expect, it } from "vitest";
import { toOnnx } from "../src/index.js";
import { centreRawScale, conditionalData, originalInputs, standardise, trainedModel, X_NORM, Y_NORM } from "./helpers.js";

const REPO = resolve(import.meta.dirname, "../../..");
const PYTHON = process.env.NGEM_TORCH_PYTHON ?? "/usr/bin/python3";

function torchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8", timeout: 60_000 });
  if (r.error) return `${PYTHON} cannot run (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} has no torch (apt-get install python3-torch, or set NGEM_TORCH_PYTHON): ${r.stderr.trim().split("\n").at(-1)}`;
  return undefined;
}
const skipReason = torchUnavailable();
if (skipReason) console.log(`SKIP PyTorch hand-off tests: ${skipReason}`);

const work = mkdtempSync(join(tmpdir(), "ngem-torch-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === "object" ? ok(a.port) : fail(new Error("no port"))));
    });
  });
}

/** Runs a process to completion (killed after 120 s), collecting stdout + stderr. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((ok) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      ok({ code, out });
    });
  });
}

type ModelCfg = TrainConfig["model"];
const CASES: [string, ModelCfg][] = [
  ["mdn-default", { kind: "mdn", k: 3, hidden: [16, 8] }],
  ["mdn-exp-floor-diag", { kind: "mdn", k: 3, hidden: [16, 8], sigmaMin: 0.05 }],
  ["mdn-softplus-floor-isotropic-tanh", { kind: "mdn", k: 3, hidden: [12], activation: "tanh", scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" }],
  ["mdn-elu1-shared-relu-noln", { kind: "mdn", k: 2, hidden: [12, 6], activation: "relu", layerNorm: false, scale: "elu+1", covariance: "shared" }],
  ["gmm-diag", { kind: "gmm", k: 3 }],
  ["gmm-softplus-floor-shared", { kind: "gmm", k: 2, scale: "softplus", sigmaMin: 0.01, covariance: "shared" }],
];

/** Raw head rows [n, K + KD + S] from split parts. */
function rows(r: { n: number; k: number; d: number; logits: ArrayLike<number>; mu: ArrayLike<number>; scale: ArrayLike<number> }): number[] {
  const S = r.scale.length / r.n;
  const out: number[] = [];
  for (let i = 0; i < r.n; i++) {
    out.push(...Array.from(r.logits).slice(i * r.k, (i + 1) * r.k));
    out.push(...Array.from(r.mu).slice(i * r.k * r.d, (i + 1) * r.k * r.d));
    out.push(...Array.from(r.scale).slice(i * S, (i + 1) * S));
  }
  return out;
}

function maxRel(a: number[], e: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-300;
  for (let i = 0; i < e.length; i++) {
    err = Math.max(err, Math.abs((a[i] as number) - (e[i] as number)));
    scale = Math.max(scale, Math.abs(e[i] as number));
  }
  return a.length === e.length ? err / scale : Infinity;
}

describe.skipIf(skipReason !== undefined)("PyTorch hand-off (python/ngem_torch.py)", () => {
  it("loads every head option and the GMM, equals predict / NLL / gradients, and continues training under DDP", async () => {
    const cases = [];
    const expected: Record<string, { predict: Record<string, ArrayLike<number>>; grads: Record<string, number[]> }> = {};
    for (const [name, cfg] of CASES) {
      const model = await trainedModel(cfg, 4);
      const spec = model.spec;
      if (spec.kind === "mdn" && spec.head?.scale === "elu+1") await centreRawScale(model, spec as MdnSpec);
      const n = 11;
      const checkpoint = join(work, `${name}.safetensors`);
      await save(model, checkpoint);
      const weights = await model.weights();
      const rng = new Rng(9);
      const y = Float64Array.from({ length: n * spec.d }, () => rng.normal());
      let x: Float64Array | undefined;
      let raw: RawHead;
      if (spec.kind === "mdn") {
        x = originalInputs(n, 21);
        raw = mdnForward(spec, weights, standardise(x), n).raw;
      } else raw = gmmRawHead(spec, weights, n);
      const m = await predict(model, x, { space: "original", n });
      const pred = { logits: m.logits, mu: m.mu, sigma: Float64Array.from(m.logSigma, Math.exp), pi: softmax(m.logits, n, m.k) };
      const grads: Record<string, number[]> = {};
      let nll = NaN;
      for (const variant of ["nll", "ngem"] as Variant[]) {
        const h = mixtureHeadRaw(raw, y, { variant, fisherCoords: "log-sigma", ...resolveScaleOptions(spec.head) });
        grads[variant] = rows({ ...raw, ...h.grads });
        nll = h.loss;
      }
      expected[name] = { predict: pred, grads };
      cases.push({
        name,
        kind: spec.kind,
        checkpoint,
        n,
        xDim: spec.kind === "mdn" ? spec.inputDim : 0,
        x: x ? Array.from(x) : [],
        y: Array.from(y),
        raw: rows(raw),
        nll,
        expected: Object.fromEntries(Object.entries(pred).map(([k, v]) => [k, Array.from(v)])),
        grads,
      });
      model.dispose();
    }
    const casesPath = join(work, "cases.json");
    const outPath = join(work, "out.json");
    writeFileSync(casesPath, JSON.stringify(cases));
    const r = spawnSync(PYTHON, ["-m", "unittest", "-v", "test_ngem_torch"], {
      cwd: join(REPO, "python"),
      encoding: "utf8",
      env: { ...process.env, NGEM_TORCH_CASES: casesPath, NGEM_TORCH_OUT: outPath, PYTHONDONTWRITEBYTECODE: "1" },
      timeout: 120_000,
    });
    const log = `${r.stdout}\n${r.stderr}`;
    console.log(
      log
        .trim()
        .split("\n")
        .filter((l) => /\.\.\. |^Ran |^OK|FAILED|skipped/.test(l))
        .join("\n"),
    );
    expect(r.status, log).toBe(0);
    expect(log).toMatch(/^Ran 8 tests/m);
    expect(log).not.toMatch(/skipped/);

    // The same numbers, checked here too: python's outputs against ngem's.
    const out = JSON.parse(readFileSync(outPath, "utf8")) as Record<string, { predict: Record<string, number[]>; grad_nll: number[]; grad_ngem: number[] }> & {
      ddp: { before: number; after: number };
    };
    for (const [name] of CASES) {
      const got = out[name]!;
      const want = expected[name]!;
      for (const k of ["logits", "mu", "sigma", "pi"]) expect(maxRel(got.predict[k]!, want.predict[k]!), `${name} ${k}`).toBeLessThan(1e-10);
      expect(maxRel(got.grad_nll, want.grads.nll!), `${name} nll gradient`).toBeLessThan(1e-9);
      expect(maxRel(got.grad_ngem, want.grads.ngem!), `${name} ngem gradient`).toBeLessThan(1e-9);
      // nGEM is not the NLL gradient (the test would not notice a hook that did nothing otherwise)
      expect(maxRel(got.grad_ngem, want.grads.nll!), `${name} ngem != nll`).toBeGreaterThan(1e-3);
    }
    expect(out.ddp.after).toBeLessThan(out.ddp.before);
  });

  it("DDP with 2 processes (gloo, as torchrun starts them) continues training a checkpoint; ngem loads the result, and it exports to ONNX", async () => {
    const model = await trainedModel({ kind: "mdn", k: 3, hidden: [16, 8] }, 5);
    const ckpt = join(work, "ddp-in.safetensors");
    const outCkpt = join(work, "ddp-out.safetensors");
    await save(model, ckpt);
    // the training data in original units, as a user's CSV
    const data = conditionalData(200, 5);
    const lines = ["x0,x1,y0,y1"];
    for (let i = 0; i < data.n; i++) {
      const v = [0, 1].map((j) => data.x[i * 2 + j]! * X_NORM.std[j]! + X_NORM.mean[j]!);
      const w = [0, 1].map((j) => data.y[i * 2 + j]! * Y_NORM.std[j]! + Y_NORM.mean[j]!);
      lines.push([...v, ...w].map((a) => a.toPrecision(17)).join(","));
    }
    writeFileSync(join(work, "data.csv"), `${lines.join("\n")}\n`);
    // Two processes with the environment torchrun gives each (RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK).
    // (torchrun itself fails in Debian's torch 1.13 on Python 3.11: elastic's Std parsing returns None.)
    const port = await freePort();
    const args = [
      join(REPO, "python/ngem_ddp.py"),
      ckpt,
      join(work, "data.csv"),
      "--x-cols",
      "x0,x1",
      "--y-cols",
      "y0,y1",
      "--epochs",
      "3",
      "--lr",
      "1e-2",
      "--out",
      outCkpt,
    ];
    const procs = [0, 1].map((rank) =>
      run(PYTHON, args, {
        ...process.env,
        OMP_NUM_THREADS: "1",
        GLOO_SOCKET_IFNAME: "lo",
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: "2",
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: String(port),
      }),
    );
    const results = await Promise.all(procs);
    const log = results.map((r, i) => `[rank ${i}] exit ${r.code}\n${r.out}`).join("\n");
    expect(
      results.map((r) => r.code),
      log,
    ).toEqual([0, 0]);
    const m = /world size 2: NLL \(standardised units, all rows\) (-?[\d.]+) -> (-?[\d.]+)/.exec(log);
    expect(m, log).not.toBeNull();
    console.log(m![0]);
    const [before, after] = [Number(m![1]), Number(m![2])];
    expect(before).toBeCloseTo(await datasetNll(model, data), 3);
    expect(after).toBeLessThan(before);
    // ngem reads the weights PyTorch trained: same NLL as torch printed
    const back = await load(outCkpt, { backend: "js" });
    expect(await datasetNll(back, data)).toBeCloseTo(after, 3);
    expect(back.spec).toEqual(model.spec);
    expect((await toOnnx(back)).byteLength).toBeGreaterThan(1000);
    back.dispose();
    model.dispose();
  });
});
