// Serving throughput: the exported ONNX graph in onnxruntime-node (CPU EP) and
// onnxruntime-web (WebAssembly, 1 thread, in Node) vs @ngem/trainer's predict
// on the js (float64) and wasm backends, for an MDN 128-128 GELU+LayerNorm,
// K = 5, D = 1, at batch 1 and 1024. Rows per second, best of 3 runs of ~0.5 s.
// Needs `pnpm build`. Usage: node bench/serve.mjs
import { cpus } from "node:os";
import { decodeCheckpoint, encodeCheckpoint, predict, train } from "@ngem/trainer";
import "@ngem/kernels-wasm";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { toOnnx } from "@ngem/export";

ortWeb.env.wasm.numThreads = 1;
const n = 256;
const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
const data = { n, xDim: 1, yDim: 1, x, y: x.map((v) => v * v) };
const { model } = await train({ model: { kind: "mdn", k: 5, hidden: [128, 128] }, steps: 1, backend: "js" }, data);
const wasmModel = await decodeCheckpoint(await encodeCheckpoint(model), { backend: "wasm" });
const bytes = await toOnnx(model);

async function rate(fn, rows) {
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    let count = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 500) {
      await fn();
      count += rows;
    }
    best = Math.max(best, count / ((performance.now() - t0) / 1000));
  }
  return best;
}

const table = [];
for (const rows of [1, 1024]) {
  const xb = Float64Array.from({ length: rows }, (_, i) => Math.cos(i));
  const xf = Float32Array.from(xb);
  const row = { batch: rows };
  for (const [name, ort] of [["ort-node", ortNode], ["ort-web", ortWeb]]) {
    const s = await ort.InferenceSession.create(bytes);
    row[name] = await rate(() => s.run({ x: new ort.Tensor("float32", xf, [rows, 1]) }), rows);
  }
  row["predict js"] = await rate(() => predict(model, xb), rows);
  row["predict wasm"] = await rate(() => predict(wasmModel, xb), rows);
  table.push(row);
}
console.log(`${cpus()[0]?.model} x ${cpus().length}, Node ${process.version}; rows/s (MDN 128-128 K=5 D=1)`);
console.log("| batch | ort-node | ort-web (wasm, 1 thread) | predict js | predict wasm |\n|---|---|---|---|---|");
for (const r of table) console.log(`| ${r.batch} | ${[r["ort-node"], r["ort-web"], r["predict js"], r["predict wasm"]].map((v) => Math.round(v).toLocaleString("en")).join(" | ")} |`);
