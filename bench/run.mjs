// ngem vs PyTorch (on OpenBLAS): step times per backend and configuration with a
// steady-state, interleaved method; nGEM/NLL ratios; stall figures; a per-phase
// profile of the wasm step; dense fwd+bwd GFLOP/s next to numpy's single-thread
// sgemm on the same shapes; a numeric cross-check of one step against PyTorch.
//   pnpm bench            (root: runs every package's bench, this one included)
//   node bench/run.mjs [--quick] [--seconds S] [--configs name,...] [--backends a,b] [--wasm-builds simd,relaxed-simd] [--wasm-threads 1,auto] [--torch-threads 1,2]
//                      [--dense-only] [--dense-rounds R] [--dense-ms MS]
//
// Method (packages/kernels-wasm/src/steady.ts): for each backend, a fresh NLL model and a
// fresh nGEM model from the same weights are stepped in alternating windows of 5 steps,
// every step timed; the first 20 steps of each are warm-up; reported: median and p90 step
// time after warm-up, nGEM/NLL = ratio of the medians (measured side by side), and the
// stall figure = mean(steps 1-10) / median(steps 20-49). PyTorch runs the same method
// (bench/torch_mdn.py), at 1 and 2 threads, and prints which BLAS it has mapped.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { getBackend, initWeights, paramShapes, Rng } from "@ngem/core";
import { compileWasmEagerly, enableRelaxedSimd, hostInfo } from "@ngem/kernels-wasm/node";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const quick = args.includes("--quick");
const seconds = Number(flag("seconds", quick ? 0.5 : 3));
const wasmBuilds = flag("wasm-builds", "relaxed-simd").split(",");
const torchThreads = flag("torch-threads", "1,2").split(",").map(Number);
// wasm thread settings: "auto" = the backend's default (this machine's cores, for large shapes), or a number
const denseOnly = args.includes("--dense-only");
const denseRounds = Number(flag("dense-rounds", quick ? 3 : 7));
const denseMs = Number(flag("dense-ms", quick ? 20 : 50));
const wasmThreads = flag("wasm-threads", "auto").split(",").map((t) => (t === "auto" ? "auto" : Number(t)));
if (wasmBuilds.includes("relaxed-simd")) enableRelaxedSimd();
compileWasmEagerly(); // no first steps in V8's baseline compiler (see @ngem/kernels-wasm/node)

const CONFIGS = [
  { name: "inverse-sine", spec: { kind: "mdn", inputDim: 1, hidden: [128, 128], activation: "gelu", layerNorm: true, k: 3, d: 1 }, batch: 32 },
  { name: "wide", spec: { kind: "mdn", inputDim: 8, hidden: [256, 256], activation: "gelu", layerNorm: true, k: 10, d: 4 }, batch: 256 },
  { name: "inverse-mnist-head", spec: { kind: "mdn", inputDim: 10, hidden: [256], activation: "gelu", layerNorm: true, k: 10, d: 784 }, batch: 64 },
];
const selected = flag("configs", CONFIGS.map((c) => c.name).join(",")).split(",");
const BACKENDS = flag("backends", "js,wasm,tfjs-cpu,tfjs-wasm").split(",");

/** Dense layer shapes [n, in, out] of one step (trunk layers and the head layer). */
function denseShapes(spec, n) {
  const out = [];
  let prev = spec.inputDim;
  for (const w of [...spec.hidden, spec.k + 2 * spec.k * spec.d]) {
    out.push([n, prev, w]);
    prev = w;
  }
  return out;
}

/** Matmul FLOPs of one training step: forward 2*N*in*out per dense layer, backward twice that. */
const stepFlops = (spec, n) => denseShapes(spec, n).reduce((f, [m, i, o]) => f + 6 * m * i * o, 0);

/** Inputs and targets; for D = 784 an inverse-MNIST-like batch (one-hot labels, blob images in [0, 1], mostly 0). */
function batchFor(spec, n, seed) {
  const rng = new Rng(seed);
  const x = new Float32Array(n * spec.inputDim);
  if (spec.inputDim === 10) for (let i = 0; i < n; i++) x[i * 10 + (i % 10)] = 1;
  else for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = new Float32Array(n * spec.d);
  if (spec.d === 784) {
    const centres = Array.from({ length: 10 }, () => Array.from({ length: 3 }, () => [7 + 14 * rng.uniform(), 7 + 14 * rng.uniform()]));
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < 784; p++) {
        let v = 0;
        for (const [cx, cy] of centres[i % 10]) v = Math.max(v, 1.3 * Math.exp(-(((p % 28) - cx) ** 2 + (Math.floor(p / 28) - cy) ** 2) / 18) - 0.3);
        y[i * 784 + p] = v > 0 ? Math.min(1, Math.max(0, v + 0.15 * rng.normal())) : 0;
      }
    }
  } else for (let i = 0; i < y.length; i++) y[i] = rng.normal();
  return { n, x, y };
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
  return r.status === 0 ? undefined : "python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread)";
}

function runTorch(job) {
  const t = String(job.threads);
  const out = execFileSync("/usr/bin/python3", [new URL("./torch_mdn.py", import.meta.url).pathname], {
    input: JSON.stringify(job),
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t },
  });
  return JSON.parse(out);
}

/**
 * numpy (the `python3` on PATH) as a persistent single-thread worker: OPENBLAS / OMP / MKL threads 1,
 * and threadpoolctl's limit of 1 when it is installed. It first reports its version and BLAS (name,
 * version, OpenBLAS build configuration, threadpoolctl's view), then, per request, times the dense
 * fwd+bwd products of one shape (x@W, x.T@g, g@W.T; transposes are BLAS flags, no copies) for about
 * `ms` milliseconds and answers [CPU seconds, wall seconds] per call. So wasm and numpy can be timed
 * alternately, shape by shape, in one run.
 */
function startNumpy() {
  const code = `
import json, sys, time
try:
    import numpy as np
except Exception as e:
    print(json.dumps({"error": "numpy is not importable (" + str(e) + ")"}), flush=True)
    sys.exit(0)
info = {"numpy": np.__version__}
try:
    b = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    info["blas"] = " ".join(str(x) for x in (b.get("name"), b.get("version"), "(" + str(b.get("openblas configuration", "")).strip() + ")"))
except Exception as e:
    info["blas"] = "unknown (" + str(e) + ")"
try:
    import threadpoolctl
    info["limits"] = threadpoolctl.threadpool_limits(1) is not None
    info["threadpool"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture", "threading_layer")} for p in threadpoolctl.threadpool_info()]
except Exception:
    info["threadpool"] = None
print(json.dumps(info), flush=True)
cache = {}
for line in sys.stdin:
    n, i, o, ms = json.loads(line)
    key = (n, i, o)
    if key not in cache:
        rng = np.random.default_rng(1)
        cache[key] = (rng.standard_normal((n, i), dtype=np.float32), (0.05 * rng.standard_normal((i, o))).astype(np.float32), rng.standard_normal((n, o), dtype=np.float32))
    x, W, g = cache[key]
    def f():
        x @ W; x.T @ g; g @ W.T
    f()
    k = 0
    t = time.perf_counter()
    c = time.process_time()
    while True:
        f()
        k += 1
        if time.perf_counter() - t > ms / 1000:
            break
    print(json.dumps([(time.process_time() - c) / k, (time.perf_counter() - t) / k]), flush=True)
`;
  let child;
  try {
    child = spawn("python3", ["-u", "-c", code], {
      env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (e) {
    return Promise.resolve({ error: `python3 could not start (${e.message})` });
  }
  let buf = "";
  let err = "";
  const waiting = [];
  child.stdout.on("data", (d) => {
    buf += d;
    for (let k = buf.indexOf("\n"); k >= 0; k = buf.indexOf("\n")) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 1);
      waiting.shift()?.(JSON.parse(line));
    }
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const next = () => new Promise((resolve) => waiting.push(resolve));
  const done = new Promise((resolve) => child.on("close", () => resolve({ error: `python3 exited (${err.trim().split("\n").pop() || "no output"})` })));
  child.on("error", (e) => waiting.shift()?.({ error: `python3 could not start (${e.message})` }));
  return Promise.race([next(), done]).then((info) => {
    if (info.error) return info;
    return {
      info,
      time: (shape, msWindow) => {
        const p = next();
        child.stdin.write(`${JSON.stringify([...shape, msWindow])}\n`);
        return p;
      },
      close: () => child.stdin.end(),
    };
  });
}

/**
 * The dense layers of a step on wasm, one thread, as the model runs them: matmul + bias, X^T G
 * (matmulAT), bias sums, G W^T (matmulBT; no transposed copies; 6 n in out flops). Returns a function that runs them for about
 * `msWindow` ms and answers [CPU seconds, wall seconds] per call.
 */
function wasmDenseRunner(kw, rt, [n, inD, outD]) {
  const x = rt.alloc("x", n * inD), W = rt.alloc("W", inD * outD), b = rt.alloc("b", outD), o = rt.alloc("out", n * outD);
  const g = rt.alloc("g", n * outD), gW = rt.alloc("gW", inD * outD), gB = rt.alloc("gB", outD), gX = rt.alloc("gX", n * inD);
  const rng = new Rng(1);
  rt.write(x, Float32Array.from({ length: n * inD }, () => rng.normal()));
  rt.write(W, Float32Array.from({ length: inD * outD }, () => rng.normal() * 0.05));
  rt.write(g, Float32Array.from({ length: n * outD }, () => rng.normal()));
  const MM = kw.MatmulMode;
  const f = () => {
    rt.matmul(x, W, o, n, inD, outD, MM.bias, b);
    rt.matmulAT(x, g, gW, inD, n, outD, MM.overwrite);
    rt.colsum(g, n, outD, gB);
    rt.matmulBT(g, W, gX, n, outD, inD, MM.overwrite);
  };
  f();
  return (msWindow) => {
    let k = 0;
    const t = performance.now();
    const c = process.cpuUsage();
    do {
      f();
      k++;
    } while (performance.now() - t < msWindow);
    const d = process.cpuUsage(c);
    return [(d.user + d.system) / 1e6 / k, (performance.now() - t) / 1000 / k];
  };
}

/**
 * Dense fwd+bwd, wasm (each requested build, one thread) vs numpy single-thread sgemm on the same
 * shapes, interleaved: per round, each shape runs on every wasm build and on numpy in turn, ~`msWindow`
 * ms each; best of `rounds` per side. CPU time (process user + system) is the figure, since other jobs
 * share this machine's cores (wall time beside it). Returns rows and numpy's info (or why it is missing).
 */
async function denseVsNumpy(kw, builds, shapes, rounds, msWindow) {
  const np = await startNumpy();
  const rts = [];
  for (const build of builds) rts.push({ build, rt: await kw.KernelRuntime.create({ build, threads: 1 }) });
  const rows = [];
  for (const { config, shape } of shapes) {
    const runners = rts.map(({ build, rt }) => ({ build, rt, mark: rt.mark(), run: wasmDenseRunner(kw, rt, shape) }));
    const best = runners.map(() => [Infinity, Infinity]);
    let bestNp = np.time ? [Infinity, Infinity] : undefined;
    for (let r = 0; r < rounds; r++) {
      runners.forEach((w, i) => {
        const [c, t] = w.run(msWindow);
        best[i] = [Math.min(best[i][0], c), Math.min(best[i][1], t)];
      });
      if (bestNp) {
        const [c, t] = await np.time(shape, msWindow);
        bestNp = [Math.min(bestNp[0], c), Math.min(bestNp[1], t)];
      }
    }
    const flops = 6 * shape[0] * shape[1] * shape[2];
    const gf = (sec) => flops / sec / 1e9;
    rows.push({
      config,
      shape,
      wasm: runners.map((w, i) => ({ build: w.build, cpu: gf(best[i][0]), wall: gf(best[i][1]) })),
      numpy: bestNp ? { cpu: gf(bestNp[0]), wall: gf(bestNp[1]) } : undefined,
    });
    for (const w of runners) w.rt.release(w.mark);
  }
  np.close?.();
  return { rows, numpy: np.info, numpyMissing: np.error };
}

const pad = (s, w) => String(s).padStart(w);
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : Number.NaN;
};
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

/** Prints the dense fwd+bwd table of {@link denseVsNumpy} (with the CPU model and numpy's BLAS). */
function printDense({ rows, numpy, numpyMissing }, host) {
  console.log(`\ndense layer fwd+bwd, one thread: wasm vs numpy single-thread sgemm on the same shapes, interleaved (CPU: ${host.cpuModel}, ${host.cores} cores; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")})`);
  if (numpy) {
    console.log(`numpy ${numpy.numpy} (python3 on PATH), BLAS: ${numpy.blas}; OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1`);
    console.log(
      numpy.threadpool
        ? `threadpoolctl (limited to 1): ${numpy.threadpool.map((p) => `${p.internal_api} ${p.version} ${p.architecture ?? ""} ${p.threading_layer ?? ""} num_threads=${p.num_threads}`).join("; ")}`
        : "threadpoolctl: not installed (the environment variables above set the thread count)",
    );
  } else console.log(`numpy: not available - ${numpyMissing}`);
  console.log("wasm: matmul + bias, X^T G (matmulAT), bias sums, G W^T (matmulBT) (as the model runs them); numpy: x@W, x.T@g, g@W.T; 6 n in out flops;");
  console.log(`best of ${denseRounds} rounds of ~${denseMs} ms per side; GFLOP/s from CPU time (process user + system), wall-clock figure in brackets`);
  const builds = rows[0]?.wasm.map((w) => w.build) ?? [];
  console.log(
    ["config".padEnd(19), "n x in -> out".padEnd(18), ...builds.map((b) => pad(`wasm ${b === "simd" ? "simd" : "relaxed"}`, 20)), pad("numpy 1t", 20), ...builds.map((b) => pad(`${b === "simd" ? "simd" : "relaxed"} / numpy`, 16))].join(" "),
  );
  const cell = (x) => (x ? `${x.cpu.toFixed(1)} (${x.wall.toFixed(1)})` : "n/a");
  for (const d of rows) {
    console.log(
      [
        d.config.padEnd(19),
        `${d.shape[0]} x ${d.shape[1]} -> ${d.shape[2]}`.padEnd(18),
        ...d.wasm.map((w) => pad(cell(w), 20)),
        pad(cell(d.numpy), 20),
        ...d.wasm.map((w) => pad(d.numpy ? `${((100 * w.cpu) / d.numpy.cpu).toFixed(0)}%` : "n/a", 16)),
      ].join(" "),
    );
  }
}

async function main() {
  const kw = await import("@ngem/kernels-wasm");
  try {
    await import("@ngem/backend-tfjs");
  } catch (e) {
    console.log(`(@ngem/backend-tfjs not importable: ${String(e.message).split("\n")[0]})`);
  }
  // backends: wasm once per requested kernels build
  const loaded = [];
  for (const name of denseOnly ? [] : BACKENDS) {
    if (name === "wasm") {
      for (const build of wasmBuilds) {
        for (const threads of wasmThreads) {
          try {
            const be = await kw.createWasmBackend({ build, threads });
            const label = `${wasmBuilds.length > 1 ? `wasm/${build === "simd" ? "simd" : "relaxed"}` : "wasm"}/${be.threads}t${threads === "auto" ? "*" : ""}`;
            loaded.push({ label, be, build, threads: be.threads });
          } catch (e) {
            console.log(`wasm (${build}, threads ${threads}): not available (${e.reason ?? e.message})`);
          }
        }
      }
      continue;
    }
    try {
      loaded.push({ label: name, be: await getBackend(name) });
    } catch (e) {
      console.log(`${name}: not available (${e.reason ?? e.message})`);
    }
  }
  const host = hostInfo();
  const torchWhy = torchAvailable();
  console.log(`CPU: ${host.cpuModel} (lscpu model name), ${host.cores} cores; SIMD/FMA flags: ${host.cpuFeatures.join(" ") || "n/a"}`);
  console.log(`node ${host.node}; WebAssembly SIMD ${host.wasm.simd ? "yes" : "no"}, relaxed SIMD ${host.wasm.relaxedSimd ? "yes" : "no"}`);
  for (const l of loaded.filter((x) => x.build)) console.log(`${l.label}: ${l.be.build} kernels build - ${l.be.buildReason}; threads ${l.be.threads} - ${l.be.threadsReason}`);
  console.log("(a * after the thread count: the backend's default, threads: \"auto\")");
  if (!denseOnly) console.log(`method: fresh NLL and nGEM models, alternating windows of 5 steps, every step timed, warm-up 20, >= 50 steps and >= ${seconds}s per backend; Adam lr 1e-3, same batch\n`);

  const rows = [];
  const checks = [];
  const profiles = [];
  // dense fwd+bwd: wasm per requested build vs numpy 1 thread, the dense layers of every selected config, interleaved
  const denseBuilds = denseOnly ? wasmBuilds : [...new Set(loaded.filter((x) => x.build).map((x) => x.build))];
  const denseShapeList = CONFIGS.filter((c) => selected.includes(c.name)).flatMap((c) => denseShapes(c.spec, c.batch).map((shape) => ({ config: c.name, shape })));
  const dense = denseBuilds.length ? await denseVsNumpy(kw, denseBuilds, denseShapeList, denseRounds, denseMs) : undefined;
  if (dense) printDense(dense, host);
  if (denseOnly) return;
  for (const cfg of CONFIGS.filter((c) => selected.includes(c.name))) {
    const { spec, batch: n } = cfg;
    const weights = initWeights(spec, 7);
    const batch = batchFor(spec, n, 11);
    const flops = stepFlops(spec, n);
    let torch = [];
    if (!torchWhy) {
      const job = {
        spec,
        weights: Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { shape: t.shape, data: Array.from(Float32Array.from(t.data)) }])),
        batch: { n, x: Array.from(batch.x), y: Array.from(batch.y) },
        variants: ["nll", "ngem"],
        seconds,
        lr: 1e-3,
      };
      torch = torchThreads.map((threads) => ({ threads, r: runTorch({ ...job, threads }) }));
    }
    const torch1 = torch.find((t) => t.threads === 1)?.r;
    for (const { label, be, threads: beThreads } of loaded) {
      const w32 = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]));
      if (torch1) {
        const model = await be.createModel(spec, w32);
        for (const variant of ["nll", "ngem"]) {
          const g = await model.gradients(batch, { variant });
          const tv = torch1.variants[variant];
          let worst = relErr([g.loss], [tv.loss]);
          let worstName = "loss";
          for (const [pname] of paramShapes(spec)) {
            const e = relErr(g.grads[pname].data, tv.grads[pname]);
            if (e > worst) [worst, worstName] = [e, pname];
          }
          checks.push({ config: cfg.name, backend: label, variant, worst, worstName, ok: worst < 2e-3 });
        }
        model.dispose();
      }
      const opt = { type: "adam", lr: 1e-3 };
      const mNll = await be.createModel(spec, w32);
      const mNgem = await be.createModel(spec, w32);
      // very slow cells: fewer steps (no stall figure below 49 steps), or skipped past 1 s/step
      const probe = await be.createModel(spec, w32);
      const tp = performance.now();
      await probe.step(batch, { variant: "ngem" }, opt);
      await probe.step(batch, { variant: "ngem" }, opt);
      const perStep = (performance.now() - tp) / 2;
      probe.dispose();
      if (perStep > 1000 && !args.includes("--all")) {
        console.log(`${cfg.name} / ${label}: skipped (${(perStep / 1000).toFixed(1)} s per step; --all runs it)`);
        mNll.dispose();
        mNgem.dispose();
        continue;
      }
      const slow = perStep > 500;
      const budget = slow ? Math.min(seconds, 2) : seconds;
      // wall clock first, with nothing else in the loop: process.cpuUsage() (getrusage over every
      // thread) between steps was seen to push a 2-thread wasm model's spinning worker and its caller
      // onto one core for the rest of the process (steps 2x slower than one thread, CPU time = wall time)
      const [rn, rg] = await kw.measureInterleaved(
        [
          { label: "nll", step: () => mNll.step(batch, { variant: "nll" }, opt) },
          { label: "ngem", step: () => mNgem.step(batch, { variant: "ngem" }, opt) },
        ],
        { seconds: budget, minSteps: slow ? 25 : 50 },
      );
      const wasmNgem = kw.wasmHandlerOf(mNgem); // the wasm model's handler (profile, threads), undefined for other backends
      if (wasmNgem) {
        wasmNgem.profile(true);
        for (let i = 0; i < 20; i++) await mNgem.step(batch, { variant: "ngem" }, opt);
        profiles.push({ config: cfg.name, backend: label, p: wasmNgem.phases() });
        wasmNgem.profile(false);
      }
      // then CPU time per step (process user + system, so a 2-thread model's workers count too; on a
      // shared machine a step that waited for a core costs wall time but not CPU time): alternating
      // windows of 5 steps, one cpuUsage pair per window, median over windows of CPU ms / 5
      const cpuNll = [];
      const cpuNgem = [];
      const cpuWindow = async (out, step) => {
        const c = process.cpuUsage();
        for (let i = 0; i < 5; i++) await step();
        const d = process.cpuUsage(c);
        out.push((d.user + d.system) / 5000);
      };
      const cpuWindows = slow ? 3 : Math.max(6, Math.min(40, Math.floor((budget * 200) / (rg.medianMs * 5))));
      for (let w = 0; w < cpuWindows; w++) {
        await cpuWindow(cpuNll, () => mNll.step(batch, { variant: "nll" }, opt));
        await cpuWindow(cpuNgem, () => mNgem.step(batch, { variant: "ngem" }, opt));
      }
      rn.cpuMs = median(cpuNll);
      rg.cpuMs = median(cpuNgem);
      const split = wasmNgem?.threadStats().started;
      mNll.dispose();
      mNgem.dispose();
      rows.push({ config: cfg.name, backend: label, nll: rn, ngem: rg, gflops: flops / rg.medianMs / 1e6, threads: beThreads ?? 1, split });
    }
    for (const { threads, r } of torch) {
      const v = r.variants;
      const toRes = (x) => ({ medianMs: x.medianMs, p90Ms: x.p90Ms, stall: x.stall, cpuMs: x.cpuMs });
      rows.push({ config: cfg.name, backend: `torch/${threads}t`, nll: toRes(v.nll), ngem: toRes(v.ngem), gflops: flops / v.ngem.medianMs / 1e6, threads, blas: r.blas });
    }
  }

  if (torch1Blas(rows)) console.log(`PyTorch ${torch1Blas(rows)}\n`);
  console.log(
    ["config".padEnd(19), "backend".padEnd(12), pad("nll ms", 9), pad("p90", 8), pad("ngem ms", 9), pad("p90", 8), pad("ngem/nll", 9), pad("cpu n/n", 8), pad("stall nll", 10), pad("stall ngem", 11), pad("vs torch1", 10), pad("vs torch2", 10), pad("cpu ms", 8), pad("cpu vs t1", 10), pad("steps/s", 8), pad("GFLOP/s", 8)].join(" "),
  );
  for (const r of rows) {
    const t1 = rows.find((q) => q.config === r.config && q.backend === "torch/1t");
    const t2 = rows.find((q) => q.config === r.config && q.backend === "torch/2t");
    console.log(
      [
        r.config.padEnd(19),
        r.backend.padEnd(12),
        pad(ms(r.nll.medianMs), 9),
        pad(ms(r.nll.p90Ms), 8),
        pad(ms(r.ngem.medianMs), 9),
        pad(ms(r.ngem.p90Ms), 8),
        pad((r.ngem.medianMs / r.nll.medianMs).toFixed(3), 9),
        pad(r.ngem.cpuMs > 0 && r.nll.cpuMs > 0 ? (r.ngem.cpuMs / r.nll.cpuMs).toFixed(3) : "n/a", 8),
        pad(Number.isNaN(r.nll.stall) ? "n/a" : r.nll.stall.toFixed(2), 10),
        pad(Number.isNaN(r.ngem.stall) ? "n/a" : r.ngem.stall.toFixed(2), 11),
        pad(t1 ? `${(t1.ngem.medianMs / r.ngem.medianMs).toFixed(2)}x` : "n/a", 10),
        pad(t2 ? `${(t2.ngem.medianMs / r.ngem.medianMs).toFixed(2)}x` : "n/a", 10),
        pad(r.ngem.cpuMs > 0 ? ms(r.ngem.cpuMs) : "n/a", 8),
        pad(t1?.ngem.cpuMs > 0 && r.ngem.cpuMs > 0 ? `${(t1.ngem.cpuMs / r.ngem.cpuMs).toFixed(2)}x` : "n/a", 10),
        pad((1000 / r.ngem.medianMs).toFixed(1), 8),
        pad(r.gflops.toFixed(2), 8),
      ].join(" "),
    );
  }
  console.log("\nms = median step time after warm-up (p90 beside it); ngem/nll = nGEM median / NLL median, measured interleaved (goal <= 1.03);");
  console.log("cpu n/n = the same ratio of median CPU time per step (process user + system; wasm rows), which waiting for a core does not inflate;");
  console.log("stall = mean(steps 1-10) / median(steps 20-49) (goal <= 1.5); vs torch1 / torch2 = PyTorch 1- / 2-thread nGEM time / ours;");
  console.log("cpu ms = median CPU time of an nGEM step (every thread of the process); cpu vs t1 = PyTorch 1-thread CPU ms / ours (a 1-thread row's figure does not count waiting for a core);");
  console.log("steps/s = nGEM steps per second (1000 / nGEM median); GFLOP/s = step matmul FLOPs / nGEM median; wasm/Nt = N threads per model.");

  if (profiles.length) {
    console.log("\nwasm step profile (nGEM, 20 profiled steps after the timing; share of the profiled step, which the timers slow down):");
    console.log(["config".padEnd(19), "backend".padEnd(12), pad("prof. ms", 8), pad("matmul", 7), pad("head", 6), pad("act", 6), pad("LN", 6), pad("optim", 6), pad("other", 6)].join(" "));
    for (const { config, backend, p } of profiles) {
      const f = (x) => `${((100 * x) / p.totalMs).toFixed(0)}%`;
      console.log(
        [config.padEnd(19), backend.padEnd(12), pad(ms(p.totalMs / p.steps), 8), pad(f(p.matmul), 7), pad(f(p.head), 6), pad(f(p.activations), 6), pad(f(p.layerNorm), 6), pad(f(p.optimizer), 6), pad(f(p.otherMs), 6)].join(" "),
      );
    }
  }
  if (checks.length) {
    console.log("\nnumeric cross-check vs PyTorch (one step from identical weights; normwise rel. error, float32 tolerance 2e-3):");
    for (const c of checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.config.padEnd(20)} ${c.backend.padEnd(12)} ${c.variant.padEnd(5)} worst ${c.worst.toExponential(2)} (${c.worstName})`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  }
  if (torchWhy) console.log(`\nPyTorch rows skipped: ${torchWhy}`);
}

function torch1Blas(rows) {
  const r = rows.find((q) => q.blas);
  return r ? `BLAS in use: ${r.blas.kind} (${r.blas.libraries.join(", ") || "no BLAS library mapped"})${r.blas.kind === "reference BLAS" ? " - slow; apt-get install libopenblas0-pthread" : ""}` : undefined;
}

await main();
