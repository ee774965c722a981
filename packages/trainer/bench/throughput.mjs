// Steps/s of nGEM vs NLL training through train() on every backend that loads.
// lr is 1e-12 so both objectives step at (practically) the same weights: the
// ratio measures the per-step cost of the variant, not a difference in the
// trajectories (a collapsing sigma under NLL can change arithmetic speed).
// Usage: node bench/throughput.mjs [steps=300] [reps=3]   (run `pnpm build` first; `pnpm bench` does both)
import { getBackend } from "@ngem/core";
import { train } from "@ngem/trainer";

const STEPS = Number(process.argv[2] ?? 300);
const REPS = Number(process.argv[3] ?? 3);

// The backends register themselves with core's registry when imported (dev dependencies of this package).
async function tryImport(name) {
  try {
    await import(name);
    return `${name}: loaded`;
  } catch (e) {
    return `${name}: not available: ${String(e?.message ?? e).split("\n")[0]}`;
  }
}
console.log(await tryImport("@ngem/kernels-wasm"));
console.log(await tryImport("@ngem/backend-tfjs"));

function invSine(n) {
  const x = new Float64Array(n), y = new Float64Array(n);
  let s = 12345;
  const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) { const yi = u(); y[i] = yi; x[i] = yi + 0.3 * Math.sin(2 * Math.PI * yi) + (2 * u() - 1) * 0.1; }
  return { n, xDim: 1, yDim: 1, x, y };
}
function twoG(n) {
  const y = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) { const c = i % 2 ? 1 : -1; y[2 * i] = c + 0.1 * Math.sin(i); y[2 * i + 1] = c + 0.1 * Math.cos(i); }
  return { n, xDim: 0, yDim: 2, x: new Float64Array(0), y };
}
const workloads = [
  { name: "MDN 128-128 GELU+LN K=3, batch 32", data: invSine(1024), model: { kind: "mdn", k: 3, hidden: [128, 128], activation: "gelu", layerNorm: true }, batchSize: 32, optimizer: { type: "adam", lr: 1e-12 } },
  { name: "free GMM K=2 D=2, batch 1", data: twoG(100), model: { kind: "gmm", k: 2 }, batchSize: 1, optimizer: { type: "sgd", lr: 1e-12 }, stepsScale: 20 },
];

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
const rows = [];
for (const backend of ["js", "wasm", "tfjs-cpu", "tfjs-wasm", "tfjs-gpu"]) {
  try {
    await getBackend(backend);
  } catch (e) {
    console.log(`${backend}: not available: ${e.reason ?? e.message}`);
    continue;
  }
  for (const w of workloads) {
    const steps = STEPS * (w.stepsScale ?? 1);
    const run = async (objective, n) => {
      const t = performance.now();
      await train({ model: w.model, objective, optimizer: w.optimizer, batchSize: w.batchSize, steps: n, backend }, w.data, { recordSteps: false });
      return (n / (performance.now() - t)) * 1000;
    };
    await run("nll", Math.max(10, steps / 10)); // warm-up
    await run("ngem", Math.max(10, steps / 10));
    const r = { nll: [], ngem: [] };
    for (let i = 0; i < REPS; i++) for (const o of i % 2 ? ["ngem", "nll"] : ["nll", "ngem"]) r[o].push(await run(o, steps));
    const nll = median(r.nll), ngem = median(r.ngem);
    rows.push({ backend, workload: w.name, steps, "NLL steps/s": nll.toFixed(1), "nGEM steps/s": ngem.toFixed(1), "time ratio nGEM/NLL": (nll / ngem).toFixed(3) });
  }
}
console.table(rows);
console.log("goal: time ratio nGEM/NLL <= 1.03 (median of", REPS, "interleaved runs)");
