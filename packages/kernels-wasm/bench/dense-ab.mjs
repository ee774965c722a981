#!/usr/bin/env node
/**
 * Dense fwd+bwd before / after: the kernels of a git revision against the assembly/ sources on disk
 * (or several revisions), each compiled with the package's asc flags (single-thread builds, plain and
 * relaxed SIMD; threads builds with --threads), next to numpy's single-thread sgemm on the same shapes,
 * all interleaved shape by shape (best of --rounds windows of --ms ms each), GFLOP/s from CPU time
 * (process user + system; this machine is shared, and waiting for a core is not kernel time).
 * Every variant must give the same outputs as the first one up to float32 rounding (maxrel printed).
 *
 *   node packages/kernels-wasm/bench/dense-ab.mjs [--rev HEAD~3] [--rev ...] [--threads] [--rounds 7] [--ms 50] [--shapes 64x256x15690,...]
 *
 * The operations are the model's: matmul + bias, transpose x, X^T G, bias sums, transpose W, G W^T (6 n in out flops).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import asc from "assemblyscript/asc";
import { ASC_FLAGS, ASC_FLAGS_RELAXED, ASC_THREADS_FLAGS } from "../scripts/build-wasm.mjs";

setFlagsFromString("--experimental-wasm-relaxed-simd"); // Node 20 (on by default in Node 22+)
const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const all = (name) => args.flatMap((a, i) => (a === `--${name}` ? [args[i + 1]] : []));
const flag = (name, dflt) => all(name)[0] ?? dflt;
const revs = all("rev").length ? all("rev") : ["HEAD"];
const threads = args.includes("--threads");
const ROUNDS = Number(flag("rounds", 7));
const MS = Number(flag("ms", 50));
// the dense layers of bench/run.mjs's configs (inverse sine b32, wide b256, inverse-MNIST head b64) and an MNIST-input trunk
const SHAPES = flag("shapes", "32x1x128,32x128x128,32x128x9,256x8x256,256x256x256,256x256x90,64x10x256,64x256x15690,64x784x256,64x256x256")
  .split(",")
  .map((s) => s.split("x").map(Number));

async function compile(dir, flags, out) {
  const { error, stderr } = await asc.main([join(dir, "index.ts"), ...flags, "--outFile", out], {});
  if (error) throw new Error(`asc failed for ${dir}: ${stderr.toString()}`);
  return readFileSync(out);
}

const work = mkdtempSync(join(tmpdir(), "dense-ab-"));
const sources = [];
for (const rev of revs) {
  const dir = join(work, rev.replace(/[^A-Za-z0-9_.-]/g, "_"));
  execFileSync("sh", ["-c", `mkdir -p '${dir}' && git -C '${pkg}' archive '${rev}' assembly | tar -x -C '${dir}'`]);
  sources.push({ label: rev, dir: join(dir, "assembly") });
}
sources.push({ label: "disk", dir: join(pkg, "assembly") });
const variants = [];
for (const [bname, flags] of [
  ["simd", ASC_FLAGS],
  ["relaxed", ASC_FLAGS_RELAXED],
]) {
  for (const s of sources) {
    const bytes = await compile(s.dir, flags, join(work, `${s.label.replace(/[^A-Za-z0-9_.-]/g, "_")}-${bname}.wasm`));
    variants.push({ label: `${s.label} ${bname}`, bytes, shared: false });
    if (threads) {
      const tb = await compile(s.dir, [...flags, ...ASC_THREADS_FLAGS], join(work, `${s.label.replace(/[^A-Za-z0-9_.-]/g, "_")}-${bname}-thr.wasm`));
      variants.push({ label: `${s.label} ${bname} thr`, bytes: tb, shared: true });
    }
  }
}
for (const v of variants) {
  const memory = v.shared ? new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) : undefined;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(v.bytes), memory ? { env: { memory } } : {});
  v.e = inst.exports;
  v.memory = memory ?? inst.exports.memory;
}

function setup(v, n, i, o) {
  let p = (v.e.heap_base() + 63) & ~63;
  const alloc = (len) => {
    const r = p;
    p += ((len * 4 + 63) & ~63) + 64;
    return r;
  };
  const x = alloc(n * i), W = alloc(i * o), b = alloc(o), out = alloc(n * o), g = alloc(n * o), gW = alloc(i * o), gB = alloc(o), gX = alloc(n * i), xt = alloc(n * i), wt = alloc(i * o);
  if (p > v.memory.buffer.byteLength) v.memory.grow(Math.ceil((p - v.memory.buffer.byteLength) / 65536));
  const f32 = new Float32Array(v.memory.buffer);
  let s = 1;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
  for (let k = 0; k < n * i; k++) f32[x / 4 + k] = rnd();
  for (let k = 0; k < i * o; k++) f32[W / 4 + k] = rnd() * 0.05;
  for (let k = 0; k < n * o; k++) f32[g / 4 + k] = rnd();
  for (let k = 0; k < o; k++) f32[b / 4 + k] = rnd();
  const e = v.e;
  const run = () => {
    e.matmul(x, W, out, n, i, o, 2, b);
    e.transpose(x, xt, n, i);
    e.matmul(xt, g, gW, i, n, o, 0, 0);
    e.colsum(g, n, o, o, gB);
    e.transpose(W, wt, i, o);
    e.matmul(g, wt, gX, n, o, i, 0, 0);
  };
  run();
  const outputs = () => {
    const f = new Float32Array(v.memory.buffer);
    return [[out, n * o], [gW, i * o], [gX, n * i], [gB, o]].map(([q, len]) => f.slice(q / 4, q / 4 + len));
  };
  return { run, outputs };
}

function cpuSecondsPerCall(fn) {
  let k = 0;
  const t = performance.now();
  const c = process.cpuUsage();
  do {
    fn();
    k++;
  } while (performance.now() - t < MS);
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1e6 / k;
}

const py = spawn(
  "python3",
  [
    "-u",
    "-c",
    `
import json, sys, time
import numpy as np
b = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps(f"numpy {np.__version__}, {b.get('name')} {b.get('version')} ({str(b.get('openblas configuration', '')).strip()})"), flush=True)
for line in sys.stdin:
    n, i, o, ms = json.loads(line)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, i), dtype=np.float32); W = rng.standard_normal((i, o), dtype=np.float32); g = rng.standard_normal((n, o), dtype=np.float32)
    def f():
        x @ W; x.T @ g; g @ W.T
    f()
    k = 0; t = time.perf_counter(); c = time.process_time()
    while True:
        f(); k += 1
        if time.perf_counter() - t > ms / 1000: break
    print(json.dumps((time.process_time() - c) / k), flush=True)
`,
  ],
  { env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" }, stdio: ["pipe", "pipe", "inherit"] },
);
let buf = "";
const waiting = [];
py.stdout.on("data", (d) => {
  buf += d;
  for (let k = buf.indexOf("\n"); k >= 0; k = buf.indexOf("\n")) {
    const line = buf.slice(0, k);
    buf = buf.slice(k + 1);
    waiting.shift()(JSON.parse(line));
  }
});
const next = () => new Promise((r) => waiting.push(r));
const numpyInfo = await next();
const numpy = (shape) => {
  const p = next();
  py.stdin.write(`${JSON.stringify([...shape, MS])}\n`);
  return p;
};

const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model;
console.log(`CPU ${cpu} (${cpus().length} cores), load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}; node ${process.version}; ${numpyInfo}, 1 thread`);
console.log(`dense fwd+bwd GFLOP/s (CPU time), best of ${ROUNDS} x ${MS} ms, interleaved; "disk" = assembly/ on disk; % = of numpy`);
const w = Math.max(...variants.map((v) => v.label.length)) + 2;
console.log(["shape".padEnd(14), ...variants.map((v) => v.label.padStart(w)), "numpy".padStart(8), ...variants.map((v) => `%${v.label.split(" ")[0].slice(0, 6)}`.padStart(8)), "  max rel. diff vs first"].join(" "));
for (const shape of SHAPES) {
  const [n, i, o] = shape;
  const runs = variants.map((v) => setup(v, n, i, o));
  const ref = runs[0].outputs();
  const diffs = runs.map((r) => {
    let d = 0;
    r.outputs().forEach((arr, q) => {
      const e = ref[q];
      let mx = 1e-30;
      for (const y of e) mx = Math.max(mx, Math.abs(y));
      for (let k = 0; k < arr.length; k++) d = Math.max(d, Math.abs(arr[k] - e[k]) / mx);
    });
    return d;
  });
  const best = runs.map(() => Infinity);
  let bestNp = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    runs.forEach((x, k) => {
      best[k] = Math.min(best[k], cpuSecondsPerCall(x.run));
    });
    bestNp = Math.min(bestNp, await numpy(shape));
  }
  const gf = (t) => (6 * n * i * o) / t / 1e9;
  console.log(
    [
      `${n}x${i}x${o}`.padEnd(14),
      ...best.map((t) => gf(t).toFixed(1).padStart(w)),
      gf(bestNp).toFixed(1).padStart(8),
      ...best.map((t) => `${((100 * gf(t)) / gf(bestNp)).toFixed(0)}%`.padStart(8)),
      "  ",
      diffs.map((d) => d.toExponential(1)).join(" "),
    ].join(" "),
  );
}
py.stdin.end();
