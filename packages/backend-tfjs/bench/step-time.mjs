#!/usr/bin/env node
/**
 * One training step (forward, nGEM head, backward, Adam update) per backend,
 * for the two model shapes of the paper, in one run, with ratios.
 *
 *   pnpm bench            (builds this package first; needs @ngem/core built)
 *   node bench/step-time.mjs [--budget-ms 3000] [--only tfjs-cpu,js]
 *
 * Backends: tfjs-cpu, tfjs-wasm (this package), js (@ngem/core, float64
 * reference) and wasm (@ngem/kernels-wasm, imported dynamically; reported as
 * "not available (reason)" when it does not load). Each case: the shared
 * steady-state method (see timeCase), nGEM and NLL interleaved.
 */
import { performance } from "node:perf_hooks";
import { getBackend, initWeights, Rng } from "@ngem/core";
import "@ngem/backend-tfjs";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const budgetMs = Number(arg("--budget-ms", "3000"));
const only = arg("--only", "")
  .split(",")
  .filter(Boolean);

const CASES = [
  {
    label: "inverse-sine MLP 1-128-128 gelu+LN K=3 D=1, batch 32",
    spec: { kind: "mdn", inputDim: 1, hidden: [128, 128], activation: "gelu", layerNorm: true, k: 3, d: 1 },
    n: 32,
    makeX: (rng, n) => Float32Array.from({ length: n }, () => rng.uniform()),
  },
  {
    label: "inverse-MNIST head 10-256 gelu+LN K=10 D=784, batch 64",
    spec: { kind: "mdn", inputDim: 10, hidden: [256], activation: "gelu", layerNorm: true, k: 10, d: 784 },
    n: 64,
    makeX: (rng, n) => {
      const x = new Float32Array(n * 10);
      for (let i = 0; i < n; i++) x[i * 10 + rng.int(10)] = 1; // one-hot digit label
      return x;
    },
  },
];

const BACKENDS = ["tfjs-cpu", "tfjs-wasm", "js", "wasm"].filter((b) => only.length === 0 || only.includes(b));

async function load(name) {
  if (name === "wasm") {
    try {
      await import("@ngem/kernels-wasm");
    } catch (err) {
      throw new Error(`@ngem/kernels-wasm did not load: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return getBackend(name);
}

/**
 * NLL and nGEM step times with the shared steady-state method (@ngem/kernels-wasm's
 * measureInterleaved: fresh models, alternating windows of 5 steps, warm-up 20, median /
 * p90 after warm-up, stall = mean(steps 1-10) / median(steps 20-49)). Cells slower than
 * 1 s per step run 25 steps (no stall figure).
 */
async function timeCase(backend, c) {
  const { measureInterleaved } = await import("@ngem/kernels-wasm");
  const rng = new Rng(42);
  const x = c.makeX(rng, c.n);
  const y = Float32Array.from({ length: c.n * c.spec.d }, () => rng.normal());
  const w = initWeights(c.spec, 0);
  const opt = { type: "adam", lr: 1e-3 };
  const batch = { n: c.n, x, y };
  const a = await backend.createModel(c.spec, w);
  const b = await backend.createModel(c.spec, w);
  try {
    const t = performance.now();
    await b.step(batch, { variant: "ngem" }, opt);
    const slow = performance.now() - t > 1000;
    const step = (m, variant) => async () => {
      const r = await m.step(batch, { variant }, opt);
      if (r.nonFinite) throw new Error(`non-finite step (${r.nonFinite})`);
    };
    const [rn, rg] = await measureInterleaved(
      [
        { label: "nll", step: step(a, "nll") },
        { label: "ngem", step: step(b, "ngem") },
      ],
      { seconds: budgetMs / 1000, minSteps: slow ? 25 : 50 },
    );
    return { ms: rg.medianMs, p90: rg.p90Ms, nll: rn.medianMs, stall: Math.max(rn.stall, rg.stall), steps: rg.steps };
  } finally {
    a.dispose();
    b.dispose();
  }
}

const { hostInfo } = await import("@ngem/kernels-wasm/node");
const host = hostInfo();
console.log(`ngem step-time bench - node ${process.version}, ${host.cores} CPU(s) (${host.cpuModel}; ${host.cpuFeatures.join(" ")}), budget ${budgetMs} ms per case`);
const results = {}; // results[case][backend] = { ms } | { error }
const backends = {};
for (const name of BACKENDS) {
  try {
    backends[name] = await load(name);
  } catch (err) {
    backends[name] = { error: err instanceof Error ? err.message : String(err) };
  }
}
for (const c of CASES) {
  results[c.label] = {};
  for (const name of BACKENDS) {
    const b = backends[name];
    if ("error" in b) {
      results[c.label][name] = { error: b.error };
      continue;
    }
    try {
      results[c.label][name] = await timeCase(b, c);
    } catch (err) {
      results[c.label][name] = { error: err instanceof Error ? err.message : String(err) };
    }
  }
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
for (const c of CASES) {
  console.log(`\n${c.label}  (Adam; nGEM median ms per step after warm-up, p90, nGEM/NLL measured interleaved, stall; ratio = js time / backend time)`);
  const js = results[c.label].js;
  const cpu = results[c.label]["tfjs-cpu"];
  for (const name of BACKENDS) {
    const r = results[c.label][name];
    if ("error" in r) {
      console.log(`  ${name.padEnd(10)} not available (${r.error})`);
      continue;
    }
    const vsJs = js && "ms" in js ? `${fmt(js.ms / r.ms)}x vs js` : "";
    const vsCpu = cpu && "ms" in cpu ? `${fmt(cpu.ms / r.ms)}x vs tfjs-cpu` : "";
    const stall = Number.isNaN(r.stall) ? "n/a" : r.stall.toFixed(2);
    console.log(
      `  ${name.padEnd(10)} ${fmt(r.ms).padStart(8)} ms  p90 ${fmt(r.p90).padStart(7)}  ngem/nll ${(r.ms / r.nll).toFixed(3)}  stall ${stall.padStart(5)}   ${vsJs.padEnd(14)} ${vsCpu.padEnd(20)} (${r.steps} steps)`,
    );
  }
}
