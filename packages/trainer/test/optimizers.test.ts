/**
 * Each optimizer on problems with a known optimum:
 * - K = 1 free GMM in 2-D: the MLE is the sample mean and the (biased) sample std per dim;
 * - a linear-Gaussian MDN (hidden = [], K = 1): the MLE mean is ordinary least squares
 *   and log sigma -> log of the residual RMS (with zero slope).
 */
import { Rng } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { predict, train, type OptimizerConfig, type TrainConfig, type TrainData } from "../src/index.js";
import { matmul, powerQrRefresh, symmetricEigen } from "../src/linalg.js";
import { Soap } from "../src/soap.js";
import { gaussianData } from "./helpers.js";

function mle(data: TrainData): { mean: number[]; std: number[] } {
  const D = data.yDim;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (let i = 0; i < data.n; i++) for (let d = 0; d < D; d++) mean[d]! += data.y[i * D + d]! / data.n;
  for (let i = 0; i < data.n; i++) for (let d = 0; d < D; d++) sq[d]! += (data.y[i * D + d]! - mean[d]!) ** 2 / data.n;
  return { mean: [...mean], std: Array.from(sq, Math.sqrt) };
}

const gmmCases: [string, OptimizerConfig, number][] = [
  ["sgd + momentum", { type: "sgd", lr: 0.05, momentum: 0.9 }, 600],
  ["sgd + nesterov", { type: "sgd", lr: 0.05, momentum: 0.9, nesterov: true }, 600],
  ["adam", { type: "adam", lr: 0.05 }, 600],
  ["rmsprop", { type: "rmsprop", lr: 0.05 }, 600],
  ["soap", { type: "soap", lr: 0.05 }, 600],
];

describe("optimizers reach the closed-form MLE of a K=1 Gaussian", () => {
  const data = gaussianData(200, [1.5, -0.5], [0.7, 2.0], 3);
  const target = mle(data);
  for (const [name, optimizer, steps] of gmmCases) {
    it(name, async () => {
      const { model, history } = await train(
        {
          model: { kind: "gmm", k: 1 },
          objective: "nll",
          optimizer,
          batchSize: data.n,
          steps,
          schedule: name.startsWith("sgd") ? { type: "constant" } : { type: "cosine", minLrFactor: 0.01 },
        },
        data,
      );
      expect(history.stopReason).toBe("completed");
      const m = await predict(model);
      target.mean.forEach((mean, d) => expect(Math.abs(m.mu[d]! - mean)).toBeLessThan(5e-3));
      target.std.forEach((std, d) => expect(Math.abs(Math.exp(m.logSigma[d]!) - std)).toBeLessThan(5e-3));
    });
  }
});

describe("SOAP on a linear-Gaussian MDN (2-D weight preconditioned)", () => {
  it("reaches the least-squares solution", async () => {
    const rng = new Rng(11);
    const n = 256;
    const xDim = 3;
    const trueW = [0.8, -1.2, 0.5];
    const x = new Float64Array(n * xDim);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0.3;
      trueW.forEach((wj, j) => {
        // correlated, badly scaled inputs: where a curvature-aware method matters
        const v = rng.normal() * (j === 0 ? 3 : 1) + (j === 2 ? x[i * xDim]! * 0.5 : 0);
        x[i * xDim + j] = v;
        s += wj * v;
      });
      y[i] = s + 0.2 * rng.normal();
    }
    const data: TrainData = { n, xDim, yDim: 1, x, y };
    // OLS with intercept via normal equations (4 x 4), solved by Gaussian elimination.
    const A = new Float64Array(16);
    const b = new Float64Array(4);
    for (let i = 0; i < n; i++) {
      const row = [x[i * 3]!, x[i * 3 + 1]!, x[i * 3 + 2]!, 1];
      row.forEach((rp, p) => {
        b[p]! += rp * y[i]!;
        row.forEach((rq, q) => (A[p * 4 + q]! += rp * rq));
      });
    }
    for (let c = 0; c < 4; c++) {
      for (let r = c + 1; r < 4; r++) {
        const f = A[r * 4 + c]! / A[c * 4 + c]!;
        for (let q = c; q < 4; q++) A[r * 4 + q]! -= f * A[c * 4 + q]!;
        b[r]! -= f * b[c]!;
      }
    }
    const beta = new Float64Array(4);
    for (let r = 3; r >= 0; r--) {
      let s = b[r]!;
      for (let q = r + 1; q < 4; q++) s -= A[r * 4 + q]! * beta[q]!;
      beta[r] = s / A[r * 4 + r]!;
    }
    const [b0 = Number.NaN, b1 = Number.NaN, b2 = Number.NaN, b3 = Number.NaN] = beta;
    let rss = 0;
    for (let i = 0; i < n; i++) rss += (y[i]! - (b0 * x[i * 3]! + b1 * x[i * 3 + 1]! + b2 * x[i * 3 + 2]! + b3)) ** 2;
    const sigmaHat = Math.sqrt(rss / n);

    const cfg = {
      model: { kind: "mdn", k: 1, hidden: [] },
      objective: "nll",
      optimizer: { type: "soap", lr: 0.05 },
      schedule: { type: "cosine", warmupSteps: 20, minLrFactor: 0.01 },
      batchSize: n,
      steps: 1500,
    } satisfies TrainConfig;
    const { model } = await train(cfg, data);
    // The model is heteroscedastic (log sigma is linear in x too), so its MLE is
    // not exactly OLS: check first-order optimality, that it is at least as good
    // as the homoscedastic closed-form point (OLS, sigma = RMS residual), and
    // that it lies close to it.
    const batch = { n, x, y };
    const g = await model.backendModel.gradients(batch, { variant: "nll" });
    let gn = 0;
    for (const t of Object.values(g.grads)) for (const v of t.data) gn += v * v;
    expect(Math.sqrt(gn)).toBeLessThan(1e-2);
    const w = await model.weights();
    // head.weight [3, K + 2KD = 3]: columns [logit | mu | logSigma]
    const ols = { "head.weight": { shape: [3, 3], data: new Float64Array(9) }, "head.bias": { shape: [3], data: new Float64Array(3) } };
    for (let j = 0; j < 3; j++) ols["head.weight"].data[j * 3 + 1] = beta[j]!;
    ols["head.bias"].data[1] = b3;
    ols["head.bias"].data[2] = Math.log(sigmaHat);
    const trained = g.loss;
    await model.backendModel.setWeights(ols);
    const atOls = (await model.backendModel.gradients(batch, { variant: "nll" })).loss;
    expect(trained).toBeLessThanOrEqual(atOls + 1e-12);
    expect(atOls - trained).toBeLessThan(0.01);
    const hw = w["head.weight"]!.data;
    const hb = w["head.bias"]!.data;
    [b0, b1, b2].forEach((bj, j) => expect(Math.abs(hw[j * 3 + 1]! - bj)).toBeLessThan(1e-2));
    expect(Math.abs(hb[1]! - b3)).toBeLessThan(1e-2);
    expect(Math.abs(hb[2]! - Math.log(sigmaHat))).toBeLessThan(2e-2);
    // Curvature awareness pays off on these badly scaled, correlated inputs:
    // Adam with the same budget and schedule is still far from the optimum.
    const adam = await train({ ...cfg, optimizer: { type: "adam", lr: 0.05 } }, data);
    const adamLoss = (await adam.model.backendModel.gradients(batch, { variant: "nll" })).loss;
    expect(adamLoss - trained).toBeGreaterThan(0.5);
  });
});

describe("symmetricEigen (Jacobi)", () => {
  it("diagonalises a random symmetric matrix, also from a warm start", () => {
    const rng = new Rng(5);
    const n = 12;
    const M = new Float64Array(n * n).map(() => rng.normal());
    const S = matmul(M, M, n, n, n, false, true); // M M^T
    const { values, q } = symmetricEigen(S, n);
    const SQ = matmul(S, q, n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(SQ[i * n + j]).toBeCloseTo(q[i * n + j]! * values[j]!, 9);
    const QtQ = matmul(q, q, n, n, n, true, false);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(QtQ[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 12);
    // warm start from the previous basis after a small change
    const S2 = Float64Array.from(S, (v, i) => v + (i % (n + 1) === 0 ? 0.01 : 0));
    const w = symmetricEigen(S2, n, q);
    const S2Q = matmul(S2, w.q, n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(S2Q[i * n + j]).toBeCloseTo(w.q[i * n + j]! * w.values[j]!, 9);
  });
});

describe("powerQrRefresh (SOAP's cheap eigenbasis refresh)", () => {
  const orthonormal = (q: Float64Array, n: number, digits: number) => {
    const QtQ = matmul(q, q, n, n, n, true, false);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(QtQ[i * n + j]).toBeCloseTo(i === j ? 1 : 0, digits);
  };
  /** Largest |off-diagonal| of q^T p q over its largest diagonal entry. */
  const offDiagonal = (p: Float64Array, q: Float64Array, n: number) => {
    const D = matmul(matmul(q, p, n, n, n, true, false), q, n, n, n);
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (i === j) diag = Math.max(diag, Math.abs(D[i * n + j]!));
        else off = Math.max(off, Math.abs(D[i * n + j]!));
      }
    return off / diag;
  };

  it("keeps the basis orthonormal and, repeated on a fixed PSD matrix, converges to its eigenbasis sorted largest first", () => {
    const rng = new Rng(7);
    const n = 16;
    // p = U diag(lambda) U^T with well separated eigenvalues, U random orthogonal (the Jacobi basis of a random matrix)
    const M = new Float64Array(n * n).map(() => rng.normal());
    const U = symmetricEigen(matmul(M, M, n, n, n, false, true), n).q;
    const lambda = Array.from({ length: n }, (_, i) => 2 ** -i);
    const UL = Float64Array.from(U, (v, idx) => v * lambda[idx % n]!);
    const p = matmul(UL, U, n, n, n, false, true);
    // warm start from the identity, far from the eigenbasis
    let q: Float64Array = new Float64Array(n * n);
    for (let i = 0; i < n; i++) q[i * n + i] = 1;
    let before = offDiagonal(p, q, n);
    for (let it = 0; it < 60; it++) {
      const r = powerQrRefresh(p, n, q);
      q = r.q;
      orthonormal(q, n, 12);
      if (it % 10 === 9) {
        const now = offDiagonal(p, q, n);
        expect(now).toBeLessThan(before);
        before = now;
      }
    }
    expect(offDiagonal(p, q, n)).toBeLessThan(1e-6);
    // columns sorted by eigenvalue, largest first, and each column an eigenvector up to sign
    const last = powerQrRefresh(p, n, q);
    expect(last.perm).toEqual(Array.from({ length: n }, (_, i) => i));
    for (let j = 0; j < n; j++) {
      expect(last.estimates[j]).toBeCloseTo(lambda[j]!, 8);
      let d = 0;
      for (let i = 0; i < n; i++) d += last.q[i * n + j]! * U[i * n + j]!;
      expect(Math.abs(d)).toBeCloseTo(1, 6);
    }
  });

  it("sorts a shuffled basis and reports the permutation; stays orthonormal on a rank-deficient or zero matrix", () => {
    const rng = new Rng(8);
    const n = 10;
    const G = new Float64Array(n * 3).map(() => rng.normal()); // rank 3
    const p = matmul(G, G, n, 3, n, false, true);
    const e = symmetricEigen(p, n);
    const r = powerQrRefresh(p, n, e.q);
    const sortedValues = [...e.values].sort((a, b) => b - a);
    r.perm.forEach((src, i) => expect(e.values[src]).toBeCloseTo(sortedValues[i]!, 10));
    orthonormal(r.q, n, 12);
    let q = r.q;
    for (let it = 0; it < 5; it++) q = powerQrRefresh(p, n, q).q;
    orthonormal(q, n, 12);
    const z = powerQrRefresh(new Float64Array(n * n), n, q);
    orthonormal(z.q, n, 12);
  });

  it("SOAP's default refresh tracks the factors' eigenbases like the full Jacobi refresh does", () => {
    const shapes = { w: [12, 5] };
    const runs = (["power-qr", "jacobi"] as const).map((refresh) => {
      const soap = new Soap(shapes, { refresh, precondFrequency: 3 });
      const w = { w: new Float64Array(60) };
      const g = new Rng(10);
      for (let t = 0; t < 60; t++) soap.update(w, { w: Float64Array.from({ length: 60 }, (_, i) => g.normal() * (1 + (i % 5))) }, 1e-2);
      return soap.getState();
    });
    for (const st of runs) {
      const L = st["w/L"]!.data as Float64Array;
      const QL = st["w/QL"]!.data as Float64Array;
      orthonormal(QL, 12, 10);
      const R = st["w/R"]!.data as Float64Array;
      const QR = st["w/QR"]!.data as Float64Array;
      orthonormal(QR, 5, 10);
      // the factors moved since the last refresh, so the bases are close to (not exactly) their eigenbases
      expect(offDiagonal(L, QL, 12)).toBeLessThan(0.3);
      expect(offDiagonal(R, QR, 5)).toBeLessThan(0.3);
    }
  });
});

describe("gradient clipping", () => {
  it("bounds the update: SGD with clipNorm moves mu by at most lr * clipNorm per step", async () => {
    const data = gaussianData(50, [40, 40], [1, 1], 2); // far from the init: huge gradient
    const lr = 0.1;
    const clip = 0.5;
    const { model, history } = await train(
      { model: { kind: "gmm", k: 1 }, objective: "nll", optimizer: { type: "sgd", lr, clipNorm: clip }, batchSize: 50, steps: 1, seed: 4 },
      data,
    );
    const { model: m0 } = await train(
      { model: { kind: "gmm", k: 1 }, objective: "nll", optimizer: { type: "sgd", lr: 1e-300 }, batchSize: 50, steps: 1, seed: 4 },
      data,
    );
    const a = await model.weights();
    const b = await m0.weights();
    let moved = 0;
    for (const [k, t] of Object.entries(a)) t.data.forEach((v, i) => (moved += (v - b[k]!.data[i]!) ** 2));
    expect(history.steps[0]?.gradNorm).toBeGreaterThan(10 * clip);
    expect(Math.sqrt(moved)).toBeLessThanOrEqual(lr * clip * (1 + 1e-9));
    expect(Math.sqrt(moved)).toBeGreaterThan(0.9 * lr * clip);
  });
});
