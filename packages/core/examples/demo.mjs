// Core demo: fit a free K=2 Gaussian mixture to the paper's Two-Gaussians data
// with plain NLL and with nGEM, on the float64 `js` backend, same init, same
// data order, SGD lr 1e-2, batch 1. Prints NLL curves and the learned means.
//   pnpm demo        (from the repo root; builds @ngem/core first)
import { getBackend, initWeights, Rng } from "@ngem/core";

const seed = Number(process.argv[2] ?? 0);
const rng = new Rng(1000 + seed);
const N = 100;
const y = new Float64Array(2 * N);
for (let i = 0; i < N; i++) {
  const c = rng.uniform() < 0.5 ? 1 : -1;
  y[2 * i] = c + 0.1 * rng.normal();
  y[2 * i + 1] = c + 0.1 * rng.normal();
}

const spec = { kind: "gmm", k: 2, d: 2 };
const backend = await getBackend("js");
const epochs = 10;
console.log(`Two-Gaussians, K=2 GMM, SGD lr 1e-2, batch 1, ${epochs} epochs, init seed ${seed}`);
const rows = [];
for (const variant of ["nll", "ngem"]) {
  const model = await backend.createModel(spec, initWeights(spec, seed));
  const order = Array.from({ length: N }, (_, i) => i);
  const shuffle = new Rng(seed);
  const curve = [];
  for (let e = 0; e < epochs; e++) {
    shuffle.shuffle(order);
    for (const i of order) {
      await model.step({ n: 1, y: y.subarray(2 * i, 2 * i + 2) }, { variant }, { type: "sgd", lr: 1e-2 });
    }
    const full = await model.gradients({ n: N, y }, { variant: "nll" });
    curve.push(full.loss);
  }
  const w = await model.getWeights();
  const mu = Array.from(w["gmm.mu"].data, (v) => v.toFixed(3));
  rows.push({ variant, curve, mu });
  model.dispose();
}
console.log("epoch  " + rows.map((r) => r.variant.padStart(10)).join(""));
for (let e = 0; e < epochs; e++) console.log(String(e + 1).padStart(5) + "  " + rows.map((r) => r.curve[e].toFixed(4).padStart(10)).join(""));
for (const r of rows) console.log(`${r.variant.padEnd(5)} learned means: (${r.mu[0]}, ${r.mu[1]}) and (${r.mu[2]}, ${r.mu[3]});  true: (1, 1) and (-1, -1)`);
