// ngem vs PyTorch: steps/s per backend and configuration, nGEM/NLL ratios,
// a roofline line, and a numeric cross-check of one step against PyTorch.
//   pnpm bench            (root: runs every package's bench, this one included)
//   node bench/run.mjs [--quick] [--seconds S] [--configs name,...]
// PyTorch column: Debian's python3-torch (apt-get install python3-torch), run
// as /usr/bin/python3 with torch.set_num_threads(1) to match our single-threaded backends.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import { getBackend, initWeights, paramShapes, Rng } from "@ngem/core";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const quick = args.includes("--quick");
const seconds = Number(flag("seconds", quick ? 0.5 : 3));

const CONFIGS = [
  { name: "inverse-sine", spec: { kind: "mdn", inputDim: 1, hidden: [128, 128], activation: "gelu", layerNorm: true, k: 3, d: 1 }, batch: 32 },
  { name: "wide", spec: { kind: "mdn", inputDim: 8, hidden: [256, 256], activation: "gelu", layerNorm: true, k: 10, d: 4 }, batch: 256 },
  { name: "inverse-mnist-head", spec: { kind: "mdn", inputDim: 10, hidden: [256], activation: "gelu", layerNorm: true, k: 10, d: 784 }, batch: 64 },
];
const selected = flag("configs", CONFIGS.map((c) => c.name).join(",")).split(",");
const BACKENDS = ["js", "wasm", "tfjs-cpu", "tfjs-wasm"];

/** Matmul FLOPs of one training step: forward 2*N*in*out per dense layer, backward twice that. */
function stepFlops(spec, n) {
  let f = 0;
  let prev = spec.inputDim;
  for (const w of [...spec.hidden, spec.k + 2 * spec.k * spec.d]) {
    f += 6 * n * prev * w;
    prev = w;
  }
  return f;
}

function batchFor(spec, n, seed) {
  const rng = new Rng(seed);
  const x = new Float32Array(n * spec.inputDim);
  if (spec.inputDim === 10) for (let i = 0; i < n; i++) x[i * 10 + (i % 10)] = 1;
  else for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = Float32Array.from({ length: n * spec.d }, () => (spec.d > 100 ? rng.uniform() : rng.normal()));
  return { n, x, y };
}

async function timeSteps(model, batch, variant, budget) {
  const opt = { type: "adam", lr: 1e-3 };
  for (let i = 0; i < 2; i++) await model.step(batch, { variant }, opt);
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budget * 1000 || steps < 3) {
    await model.step(batch, { variant }, opt);
    steps++;
  }
  return (steps * 1000) / (performance.now() - t0);
}

function relErr(a, b) {
  let num = 0;
  let den = 1e-30;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

function torchAvailable() {
  if (!existsSync("/usr/bin/python3")) return "no /usr/bin/python3";
  const r = spawnSync("/usr/bin/python3", ["-c", "import torch"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "python3-torch is not installed (sudo apt-get install python3-torch)";
}

function runTorch(job) {
  const out = execFileSync("/usr/bin/python3", [new URL("./torch_mdn.py", import.meta.url).pathname], {
    input: JSON.stringify(job),
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
  });
  return JSON.parse(out);
}

/** Single-thread sgemm of numpy (OpenBLAS) as the machine's native f32 matmul limit. */
function nativeSgemm() {
  const r = spawnSync(
    "python3",
    ["-c", "import numpy as n,time\na=n.random.rand(1024,1024).astype(n.float32)\na@a\nt=time.perf_counter();k=0\nwhile time.perf_counter()-t<1:\n  a@a;k+=1\nprint(k*2*1024**3/(time.perf_counter()-t)/1e9)"],
    { encoding: "utf8", env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1" } },
  );
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

async function main() {
  const loaded = {};
  for (const pkg of ["@ngem/kernels-wasm", "@ngem/backend-tfjs"]) {
    try {
      await import(pkg);
    } catch (e) {
      console.log(`(${pkg} not importable: ${String(e.message).split("\n")[0]})`);
    }
  }
  for (const name of BACKENDS) {
    try {
      loaded[name] = await getBackend(name);
    } catch (e) {
      console.log(`${name}: not available (${e.reason ?? e.message})`);
    }
  }
  const torchWhy = torchAvailable();
  if (torchWhy) console.log(`PyTorch column skipped: ${torchWhy}`);
  const peak = nativeSgemm();
  console.log(`machine: ${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}; numpy/OpenBLAS 1-thread sgemm 1024^3: ${peak ? peak.toFixed(1) + " GFLOP/s" : "n/a"}`);
  console.log(`timing: Adam lr 1e-3, same batch every step, >= ${seconds}s per cell, single thread everywhere\n`);

  const rows = [];
  const checks = [];
  for (const cfg of CONFIGS.filter((c) => selected.includes(c.name))) {
    const { spec, batch: n } = cfg;
    const weights = initWeights(spec, 7);
    const batch = batchFor(spec, n, 11);
    const flops = stepFlops(spec, n);
    let torch;
    if (!torchWhy) {
      const job = {
        spec,
        weights: Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { shape: t.shape, data: Array.from(Math.fround ? Float32Array.from(t.data) : t.data) }])),
        batch: { n, x: Array.from(batch.x), y: Array.from(batch.y) },
        variants: ["nll", "ngem"],
        steps: quick ? 5 : Math.max(5, Math.round(seconds * 40)),
        threads: 1,
        lr: 1e-3,
      };
      torch = runTorch(job);
    }
    const torchRow = torch && { nll: torch.variants.nll.stepsPerSec, ngem: torch.variants.ngem.stepsPerSec };
    for (const [name, be] of Object.entries(loaded)) {
      const w32 = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]));
      const model = await be.createModel(spec, w32);
      if (torch) {
        for (const variant of ["nll", "ngem"]) {
          const g = await model.gradients(batch, { variant });
          const tv = torch.variants[variant];
          let worst = relErr([g.loss], [tv.loss]);
          let worstName = "loss";
          for (const [pname] of paramShapes(spec)) {
            const e = relErr(g.grads[pname].data, tv.grads[pname]);
            if (e > worst) [worst, worstName] = [e, pname];
          }
          checks.push({ config: cfg.name, backend: name, variant, worst, worstName, ok: worst < 2e-3 });
        }
      }
      const budget = name === "js" && spec.d > 100 ? Math.min(seconds, 2) : seconds;
      const nll = await timeSteps(model, batch, "nll", budget);
      const ngem = await timeSteps(model, batch, "ngem", budget);
      model.dispose();
      rows.push({ config: cfg.name, backend: name, nll, ngem, gflops: (ngem * flops) / 1e9, torch: torchRow });
    }
    if (torchRow) rows.push({ config: cfg.name, backend: "pytorch", nll: torchRow.nll, ngem: torchRow.ngem, gflops: (torchRow.ngem * flops) / 1e9, torch: torchRow });
  }

  const pad = (s, w) => String(s).padStart(w);
  console.log(["config".padEnd(20), "backend".padEnd(9), pad("nll st/s", 10), pad("ngem st/s", 10), pad("ngem/nll", 9), pad("vs torch", 9), pad("GFLOP/s", 8), pad("% sgemm", 8)].join(" "));
  for (const r of rows) {
    console.log(
      [
        r.config.padEnd(20),
        r.backend.padEnd(9),
        pad(r.nll.toFixed(1), 10),
        pad(r.ngem.toFixed(1), 10),
        pad((r.nll / r.ngem).toFixed(3), 9), // time ratio ngem/nll = (1/ngem)/(1/nll)
        pad(r.torch ? (r.ngem / r.torch.ngem).toFixed(2) + "x" : "n/a", 9),
        pad(r.gflops.toFixed(2), 8),
        pad(peak ? ((100 * r.gflops) / peak).toFixed(1) : "n/a", 8),
      ].join(" "),
    );
  }
  console.log("\nngem/nll = nGEM step time / NLL step time (goal <= 1.03); vs torch = our nGEM steps/s / PyTorch nGEM steps/s.");
  if (checks.length) {
    console.log("\nnumeric cross-check vs PyTorch (one step from identical weights; normwise rel. error, float32 tolerance 2e-3):");
    for (const c of checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.config.padEnd(20)} ${c.backend.padEnd(9)} ${c.variant.padEnd(5)} worst ${c.worst.toExponential(2)} (${c.worstName})`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  }
}

await main();
