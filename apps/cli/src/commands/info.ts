/** `ngem backends` and `ngem bench`. */
import { initWeights, Rng, type Backend, type ModelSpec } from "@ngem/core";
import { backendReport, loadBackend } from "../load-backends.js";

export async function backendsCommand(flags: { json?: boolean }): Promise<void> {
  const rows = await backendReport();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const lines = rows.map((r) => `${r.ok ? "yes" : "no "}  ${r.name.padEnd(10)} ${r.ok ? `${r.precision}` : (r.reason ?? "")}`);
  process.stdout.write(`loads  backend    precision / why not\n${lines.join("\n")}\n`);
  const wasm = await wasmBuildLine();
  if (wasm) process.stdout.write(`${wasm}\n`);
}

/** Which wasm kernels build loads here and why (relaxed SIMD = FMA, or the plain SIMD build). */
async function wasmBuildLine(): Promise<string | undefined> {
  try {
    const kw = await import("@ngem/kernels-wasm");
    const sel = kw.selectKernelsBuild("auto");
    const th = await kw.resolveThreads("auto").catch((err: unknown) => ({ threads: 1, reason: err instanceof Error ? err.message : String(err) }));
    return `wasm kernels: ${sel.build} build - ${sel.reason}\nwasm threads: ${th.threads} - ${th.reason}`;
  } catch {
    return undefined;
  }
}

interface BenchRow {
  config: string;
  backend: string;
  nllStepsPerSec: number;
  ngemStepsPerSec: number;
  nllMedianMs: number;
  nllP90Ms: number;
  ngemMedianMs: number;
  ngemP90Ms: number;
  nllStall: number;
  ngemStall: number;
}

/**
 * NLL and nGEM step times of one backend with the shared steady-state method of
 * @ngem/kernels-wasm (fresh models, alternating windows, warm-up 20, median / p90, stall).
 */
async function interleavedSteps(be: Backend, spec: ModelSpec, n: number, seconds: number) {
  const { measureInterleaved } = await import("@ngem/kernels-wasm");
  const w = initWeights(spec, 1);
  const rng = new Rng(2);
  const x = spec.kind === "mdn" ? Float32Array.from({ length: n * spec.inputDim }, () => rng.normal()) : undefined;
  const y = Float32Array.from({ length: n * spec.d }, () => rng.normal());
  const batch = x ? { n, x, y } : { n, y };
  const opt = { type: "adam" as const, lr: 1e-3 };
  const mNll = await be.createModel(spec, w);
  const mNgem = await be.createModel(spec, w);
  try {
    return await measureInterleaved(
      [
        { label: "nll", step: () => mNll.step(batch, { variant: "nll" }, opt) },
        { label: "ngem", step: () => mNgem.step(batch, { variant: "ngem" }, opt) },
      ],
      { seconds },
    );
  } finally {
    mNll.dispose();
    mNgem.dispose();
  }
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
      const [rn, rg] = await interleavedSteps(be, c.spec, c.n, seconds);
      if (!rn || !rg) continue;
      rows.push({
        config: c.name,
        backend: b.name,
        nllStepsPerSec: 1000 / rn.medianMs,
        ngemStepsPerSec: 1000 / rg.medianMs,
        nllMedianMs: rn.medianMs,
        nllP90Ms: rn.p90Ms,
        ngemMedianMs: rg.medianMs,
        ngemP90Ms: rg.p90Ms,
        nllStall: rn.stall,
        ngemStall: rg.stall,
      });
    }
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const host = await import("@ngem/kernels-wasm/node").then((m) => m.hostInfo()).catch(() => undefined);
  const head = host
    ? `CPU: ${host.cpuModel}, ${host.cores} cores; SIMD/FMA: ${host.cpuFeatures.join(" ") || "n/a"}; node ${host.node}; wasm relaxed SIMD ${host.wasm.relaxedSimd ? "yes" : "no"}\n`
    : "";
  const wasmLine = await wasmBuildLine();
  const f = (v: number) => (v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const out = [
    `${"config".padEnd(32)} ${"backend".padEnd(10)} ${"nll ms".padStart(8)} ${"p90".padStart(8)} ${"ngem ms".padStart(8)} ${"p90".padStart(8)} ${"ngem/nll".padStart(9)} ${"stall".padStart(6)} ${"ngem vs js".padStart(11)}`,
  ];
  for (const r of rows) {
    const js = rows.find((q) => q.config === r.config && q.backend === "js");
    const stall = Math.max(r.nllStall, r.ngemStall);
    out.push(
      `${r.config.padEnd(32)} ${r.backend.padEnd(10)} ${f(r.nllMedianMs).padStart(8)} ${f(r.nllP90Ms).padStart(8)} ${f(r.ngemMedianMs).padStart(8)} ${f(r.ngemP90Ms).padStart(8)} ${(r.ngemMedianMs / r.nllMedianMs).toFixed(3).padStart(9)} ${(Number.isNaN(stall) ? "n/a" : stall.toFixed(2)).padStart(6)} ${(js ? `${(js.ngemMedianMs / r.ngemMedianMs).toFixed(2)}x` : "n/a").padStart(11)}`,
    );
  }
  process.stdout.write(
    `${head}${wasmLine ? `${wasmLine}\n` : ""}${out.join("\n")}\n` +
      `(Adam, same batch; fresh NLL and nGEM models stepped in alternating windows of 5, warm-up 20, >= 50 steps and >= ${seconds}s per backend;\n` +
      ` ms = median step time after warm-up, p90 beside it; ngem/nll <= 1.03 is the goal; stall = mean(steps 1-10) / median(steps 20-49), the larger of the two)\n`,
  );
}
