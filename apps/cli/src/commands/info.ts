/** `ngem backends` and `ngem bench`. */
import { initWeights, Rng, type Backend, type ModelSpec } from "@ngem/core";
import { backendReport, loadBackend } from "../load-backends.js";

export async function backendsCommand(flags: { json?: boolean }): Promise<void> {
  const rows = await backendReport();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const lines = rows.map((r) => `${r.ok ? "yes" : "no "}  ${r.name.padEnd(10)} ${r.ok ? `${r.precision}` : r.reason ?? ""}`);
  process.stdout.write(`loads  backend    precision / why not\n${lines.join("\n")}\n`);
}

interface BenchRow {
  config: string;
  backend: string;
  nllStepsPerSec: number;
  ngemStepsPerSec: number;
}

async function stepsPerSec(be: Backend, spec: ModelSpec, n: number, variant: "nll" | "ngem", seconds: number): Promise<number> {
  const w = initWeights(spec, 1);
  const model = await be.createModel(spec, w);
  const rng = new Rng(2);
  const x = spec.kind === "mdn" ? Float32Array.from({ length: n * spec.inputDim }, () => rng.normal()) : undefined;
  const y = Float32Array.from({ length: n * spec.d }, () => rng.normal());
  const batch = x ? { n, x, y } : { n, y };
  const opt = { type: "adam" as const, lr: 1e-3 };
  for (let i = 0; i < 3; i++) await model.step(batch, { variant }, opt);
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || steps < 3) {
    await model.step(batch, { variant }, opt);
    steps++;
  }
  const r = (steps * 1000) / (performance.now() - t0);
  model.dispose();
  return r;
}

export async function benchCommand(flags: { json?: boolean; seconds?: number }): Promise<void> {
  const seconds = flags.seconds ?? 1;
  const configs: { name: string; spec: ModelSpec; n: number }[] = [
    { name: "inverse-sine 1-128-128 K=3 b32", spec: { kind: "mdn", inputDim: 1, hidden: [128, 128], activation: "gelu", layerNorm: true, k: 3, d: 1 }, n: 32 },
    { name: "two-gaussians GMM K=2 b1", spec: { kind: "gmm", k: 2, d: 2 }, n: 1 },
  ];
  const report = await backendReport();
  const rows: BenchRow[] = [];
  for (const b of report) {
    if (!b.ok) {
      if (!flags.json) process.stderr.write(`skipping ${b.name}: ${b.reason}\n`);
      continue;
    }
    const be = await loadBackend(b.name);
    for (const c of configs) {
      rows.push({
        config: c.name,
        backend: b.name,
        nllStepsPerSec: await stepsPerSec(be, c.spec, c.n, "nll", seconds),
        ngemStepsPerSec: await stepsPerSec(be, c.spec, c.n, "ngem", seconds),
      });
    }
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const out = [`${"config".padEnd(32)} ${"backend".padEnd(10)} ${"nll st/s".padStart(10)} ${"ngem st/s".padStart(10)} ${"ngem/nll time".padStart(14)} ${"ngem vs js".padStart(11)}`];
  for (const r of rows) {
    const js = rows.find((q) => q.config === r.config && q.backend === "js");
    out.push(
      `${r.config.padEnd(32)} ${r.backend.padEnd(10)} ${r.nllStepsPerSec.toFixed(1).padStart(10)} ${r.ngemStepsPerSec.toFixed(1).padStart(10)} ${(r.nllStepsPerSec / r.ngemStepsPerSec).toFixed(3).padStart(14)} ${(js ? `${(r.ngemStepsPerSec / js.ngemStepsPerSec).toFixed(2)}x` : "n/a").padStart(11)}`,
    );
  }
  process.stdout.write(`${out.join("\n")}\n(Adam, same batch each step, >= ${seconds}s per cell; ngem/nll time <= 1.03 is the goal)\n`);
}
