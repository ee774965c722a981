#!/usr/bin/env node
/**
 * Out-of-core training benchmark (issue 18.4): generates CSVs of 1e6 and 1e7
 * rows (gen-csv.mjs, in a temp dir, deleted afterwards unless --keep), then
 * trains one epoch on each with `trainStream` over `csvFileSource` in a fresh
 * child process and reports rows/s and the child's peak RSS
 * (process.resourceUsage().maxRSS). Not a test; never run in CI.
 *
 *   pnpm build && node apps/cli/bench/out-of-core.mjs [--rows 1e6,1e7] [--dir D] [--keep]
 *        [--backend wasm] [--hidden 32,32] [--k 3] [--batch 256] [--buffer 16384] [--val 0.1]
 *
 * Phases of one run: statistics pass (read 1 x), one epoch through the shuffle
 * buffer (read 1 x, train on the ~90% training rows), validation NLL at the
 * epoch's end (read 1 x, predict on the ~10% held-out rows).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

if (args[0] === "--child") {
  // One training run; prints one JSON line.
  const file = args[1];
  const { csvFileSource } = await import("@ngem/datasets/node");
  const { trainStream } = await import("@ngem/trainer");
  await import("@ngem/kernels-wasm");
  const t0 = performance.now();
  let tStats = 0;
  const src = await csvFileSource(file);
  const hidden = opt("hidden", "32,32").split(",").map(Number);
  const res = await trainStream(
    {
      model: { kind: "mdn", k: Number(opt("k", "3")), hidden },
      optimizer: { type: "adam", lr: 1e-3 },
      batchSize: Number(opt("batch", "256")),
      epochs: 1,
      validationSplit: Number(opt("val", "0.1")),
      backend: opt("backend", "wasm"),
      seed: 0,
    },
    src,
    { shuffleBuffer: Number(opt("buffer", "16384")), recordSteps: false, onStatistics: () => void (tStats = performance.now()) },
  );
  const t1 = performance.now();
  const ev = res.history.evals.at(-1);
  console.log(JSON.stringify({
    rows: 0,
    seconds: (t1 - t0) / 1000,
    statsSeconds: (tStats - t0) / 1000,
    trainSeconds: (t1 - tStats) / 1000,
    steps: res.model.state.step,
    valNll: ev?.valNll,
    meanLoss: res.history.epochs.at(-1)?.meanLoss,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }));
  process.exit(0);
}

const rowsList = opt("rows", "1e6,1e7").split(",").map(Number);
const dir = opt("dir", undefined) ?? mkdtempSync(join(tmpdir(), "ngem-ooc-"));
const keep = args.includes("--keep");
let cpu = cpus()[0]?.model ?? "?";
try {
  cpu = execFileSync("lscpu", { encoding: "utf8" }).split("\n").find((l) => l.startsWith("Model name"))?.split(":")[1]?.trim() ?? cpu;
} catch {}
console.log(`CPU: ${cpu} (${cpus().length} cores), Node ${process.version}`);
const passthrough = [];
for (const k of ["backend", "hidden", "k", "batch", "buffer", "val"]) if (opt(k, undefined) !== undefined) passthrough.push(`--${k}`, opt(k));
const results = [];
for (const rows of rowsList) {
  const file = join(dir, `rows-${rows}.csv`);
  if (!existsSync(file)) {
    const g0 = performance.now();
    execFileSync(process.execPath, [join(here, "gen-csv.mjs"), String(rows), file], { stdio: "inherit" });
    console.log(`generated ${file} (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - g0) / 1000).toFixed(1)} s`);
  }
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", file, ...passthrough], { encoding: "utf8", env: { ...process.env, NGEM_WASM_THREADS: process.env.NGEM_WASM_THREADS ?? "1" } });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    process.exit(1);
  }
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  out.rows = rows;
  out.mib = statSync(file).size / 2 ** 20;
  results.push(out);
  console.log(
    `${rows.toExponential(0)} rows (${out.mib.toFixed(0)} MiB): ${out.seconds.toFixed(1)} s total = stats pass ${out.statsSeconds.toFixed(1)} s + epoch and validation ${out.trainSeconds.toFixed(1)} s; ` +
      `${(rows / out.seconds).toFixed(0)} rows/s overall (file rows / total time), ${(rows / out.statsSeconds).toFixed(0)} rows/s statistics pass; ${out.steps} steps; ` +
      `val NLL ${out.valNll?.toFixed(4)}; peak RSS ${out.maxRssMiB.toFixed(0)} MiB`,
  );
  if (!keep) rmSync(file, { force: true });
}
if (!keep && opt("dir", undefined) === undefined) rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ cpu, node: process.version, results }));
