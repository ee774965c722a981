#!/usr/bin/env node
// Benchmark: stream-load a 1e6-row CSV with @ngem/datasets (built dist/).
// Usage: pnpm bench            (builds, then runs this script)
//        node bench/csv-load.mjs [rows] [cols]
// The CSV is generated in a temp dir by this process; the load runs in a
// fresh child process so that its peak RSS (process.resourceUsage().maxRSS)
// counts only the loader, not the generator.
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);

if (process.argv[2] === "--child") {
  const file = process.argv[3];
  const base = process.resourceUsage().maxRSS;
  const { loadCsv } = await import("@ngem/datasets/node");
  const afterImport = process.resourceUsage().maxRSS;
  const t0 = process.hrtime.bigint();
  const ds = await loadCsv(file);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  // touch the result so it is not collected before we measure
  let s = 0;
  for (let i = 0; i < ds.y.length; i += 1000) s += ds.y[i];
  console.log(JSON.stringify({ n: ds.n, xDim: ds.xDim, yDim: ds.yDim, ms, maxRssKiB: process.resourceUsage().maxRSS, baseRssKiB: base, afterImportKiB: afterImport, checksum: s }));
  process.exit(0);
}

const rows = Number(process.argv[2] ?? 1_000_000);
const cols = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(tmpdir(), "ngem-csv-bench-"));
const file = join(dir, "big.csv");
try {
  // generate (seeded LCG, no dependency): header + rows of cols numbers
  const out = createWriteStream(file);
  const write = (s) => (out.write(s) ? Promise.resolve() : new Promise((r) => out.once("drain", r)));
  let state = 12345;
  const rnd = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296) * 20 - 10;
  await write(Array.from({ length: cols }, (_, j) => (j === cols - 1 ? "target" : `x${j}`)).join(",") + "\n");
  let buf = "";
  for (let i = 0; i < rows; i++) {
    let line = "";
    for (let j = 0; j < cols; j++) line += (j ? "," : "") + rnd().toPrecision(9);
    buf += line + "\n";
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = "";
    }
  }
  await write(buf);
  await new Promise((r) => out.end(r));
  const bytes = statSync(file).size;

  const res = spawnSync(process.execPath, [here, "--child", file], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`child failed: ${res.stderr}`);
  const r = JSON.parse(res.stdout.trim().split("\n").pop());
  const mb = bytes / 1048576;
  const dataMiB = ((r.n * (r.xDim + r.yDim)) * 8) / 1048576;
  console.log(`csv-load: ${r.n} rows x ${cols} cols, file ${mb.toFixed(1)} MiB`);
  console.log(`  load time      ${(r.ms / 1000).toFixed(2)} s  (${((r.n / r.ms) * 1000 / 1e6).toFixed(2)} M rows/s, ${(mb / (r.ms / 1000)).toFixed(0)} MiB/s)`);
  console.log(`  peak RSS       ${(r.maxRssKiB / 1024).toFixed(0)} MiB  (node + module baseline ${(r.afterImportKiB / 1024).toFixed(0)} MiB; float64 result ${dataMiB.toFixed(0)} MiB; file text ${mb.toFixed(0)} MiB)`);
  console.log(`  node ${process.version}, ${process.platform}/${process.arch}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
