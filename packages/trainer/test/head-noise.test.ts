/**
 * Head options (scale, sigma floor, covariance), sigma-floor logging and noise
 * regularisation, on the float64 js backend.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initWeights, nll as coreNll, Rng } from "@ngem/core";
import { afterAll, describe, expect, it } from "vitest";
import { datasetNll, predict, splitData, train, validateConfig, type TrainConfig, type TrainData } from "../src/index.js";
import { headOf } from "../src/config.js";
import { countFloorHits, effectiveNoise, perturbBatch } from "../src/noise.js";
import { gaussianData, inverseSine } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "ngem-head-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 30 rows: 15 copies of 0.7 and 15 draws from N(0, 1). The MLE puts a component of width 0 on 0.7. */
function duplicatedPoint(): TrainData {
  const r = new Rng(5);
  const y = new Float64Array(30);
  for (let i = 0; i < 30; i++) y[i] = i < 15 ? 0.7 : r.normal();
  return { n: 30, xDim: 0, yDim: 1, x: new Float64Array(0), y };
}

describe("sigma collapse on a duplicated point (free GMM, K=2, nGEM, Adam, full batch)", () => {
  const data = duplicatedPoint();
  const cfg = (sigmaMin: number, metricsFile?: string): TrainConfig => ({
    model: { kind: "gmm", k: 2, sigmaMin },
    optimizer: { type: "adam", lr: 0.05 },
    batchSize: 30,
    steps: 2000,
    seed: 1,
    ...(metricsFile ? { metricsFile } : {}),
  });

  it("without a floor: one sigma collapses towards 0 and the NLL heads to -inf", async () => {
    const { model, history } = await train(cfg(0), data);
    // Observed: the run stays finite in float64 for 2000 steps, but one component
    // shrinks onto 0.7 (sigma ~ 1e-46) and the NLL falls linearly without bound.
    expect(history.stopReason).toBe("completed");
    expect(history.floorHits).toBeUndefined();
    const sigma = [...(await predict(model)).logSigma].map(Math.exp);
    expect(Math.min(...sigma)).toBeLessThan(1e-30);
    const loss = history.steps.map((s) => s.loss);
    expect(loss.at(-1)).toBeLessThan(-40);
    // still falling at the end: no plateau
    expect((loss[1999] as number) - (loss[1499] as number)).toBeLessThan(-5);
    for (const s of history.steps) expect(s).not.toHaveProperty("floorHits");
  });

  it("with sigmaMin = 1e-3: finite, sigma >= sigmaMin, the NLL plateaus, and the floor hits are counted and logged", async () => {
    const sigmaMin = 1e-3;
    const metricsFile = join(dir, "floor.jsonl");
    const { model, history } = await train(cfg(sigmaMin, metricsFile), data);
    expect(history.stopReason).toBe("completed");
    const m = await predict(model);
    for (const v of [...m.logits, ...m.mu, ...m.logSigma]) expect(Number.isFinite(v)).toBe(true);
    const sigma = [...m.logSigma].map(Math.exp);
    for (const s of sigma) expect(s).toBeGreaterThanOrEqual(sigmaMin * (1 - 1e-12));
    // the collapsed component sits on the floor
    expect(Math.min(...sigma)).toBeLessThan(sigmaMin * 1.01);
    const loss = history.steps.map((s) => s.loss);
    for (const l of loss) expect(Number.isFinite(l)).toBe(true);
    expect(loss.at(-1)).toBeGreaterThan(-5);
    expect(Math.abs((loss[1999] as number) - (loss[1499] as number))).toBeLessThan(1e-6);
    // floor hits: per step (0 or 30 = one raw scale entry per row for the collapsed component) and the running total
    const fh = history.floorHits;
    expect(fh).toBeDefined();
    expect(fh!.total).toBeGreaterThan(0);
    const perStep = history.steps.map((s) => s.floorHits);
    expect(perStep.every((h) => h === 0 || h === 30)).toBe(true);
    expect(perStep.reduce((a, b) => (a as number) + (b as number), 0)).toBe(fh!.total);
    expect(fh!.steps).toBe(perStep.filter((h) => (h as number) > 0).length);
    expect(fh!.firstStep).toBe(perStep.findIndex((h) => (h as number) > 0) + 1);
    // the trainer-side count (used for SOAP) agrees with the backend's
    expect(countFloorHits(await predict(model, undefined, { n: 30 }), headOf(model.config))).toBe(30);
    // the metrics file carries floorHits on every line
    const lines = readFileSync(metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { floorHits: number });
    expect(lines).toHaveLength(2000);
    expect(lines.reduce((a, l) => a + l.floorHits, 0)).toBe(fh!.total);
  });

  it("SOAP (trainer-side optimizer) also reports floor hits", async () => {
    const { history } = await train({ ...cfg(1e-3), optimizer: { type: "soap", lr: 0.05 }, steps: 600 }, data);
    expect(history.floorHits?.total).toBeGreaterThan(0);
    expect(history.steps.every((s) => s.floorHits === 0 || s.floorHits === 30)).toBe(true);
  });
});

describe("non-default heads train on js", () => {
  const data = inverseSine(60, 3);
  const heads = [
    { scale: "softplus", sigmaMin: 1e-3, covariance: "diag" },
    { scale: "elu+1", sigmaMin: 0, covariance: "isotropic" },
    { scale: "exp", sigmaMin: 1e-2, covariance: "shared" },
  ] as const;
  for (const head of heads) {
    it(`${head.scale} / ${head.sigmaMin} / ${head.covariance}: right parameter shapes, finite, NLL falls`, async () => {
      const config: TrainConfig = { model: { kind: "mdn", k: 3, hidden: [8], ...head }, optimizer: { type: "adam", lr: 1e-2 }, batchSize: 20, steps: 150 };
      const { model, history } = await train(config, data);
      expect(model.spec.head).toEqual(head);
      const S = head.covariance === "diag" ? 3 : head.covariance === "isotropic" ? 3 : 1;
      expect((await model.weights())["head.weight"]?.shape).toEqual([8, 3 + 3 + S]);
      expect(history.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
      if (head.sigmaMin > 0) expect(history.steps.every((s) => typeof s.floorHits === "number")).toBe(true);
      else expect(history.steps.some((s) => "floorHits" in s)).toBe(false);
      const before = history.steps.slice(0, 10).reduce((a, s) => a + s.loss, 0) / 10;
      expect(await datasetNll(model, data)).toBeLessThan(before - 0.2);
    });
  }

  it("GMM covariance shapes: gmm.logSigma is [K,D] / [K,1] / [1,D]", async () => {
    const d = gaussianData(20, [0, 1], [1, 2], 2);
    for (const [covariance, shape] of [
      ["diag", [2, 2]],
      ["isotropic", [2, 1]],
      ["shared", [1, 2]],
    ] as const) {
      const { model } = await train({ model: { kind: "gmm", k: 2, covariance }, steps: 5, batchSize: 20 }, d);
      expect((await model.weights())["gmm.logSigma"]?.shape).toEqual(shape);
    }
  });
});

describe("noise regularisation", () => {
  it("effectiveNoise: constant stds, or factors of the rule of thumb n^(-1/(4+d))", () => {
    const c = (noise: TrainConfig["noise"]) => validateConfig({ model: { kind: "mdn", k: 1 }, noise });
    expect(effectiveNoise(c({ x: 0.2, y: 0.1 }), 1000, 1, 1)).toEqual({ x: 0.2, y: 0.1 });
    const h = 1000 ** (-1 / 6);
    const r = effectiveNoise(c({ x: 1, y: 0.5, schedule: "rule-of-thumb" }), 1000, 1, 1);
    expect(r.x).toBeCloseTo(h, 14);
    expect(r.y).toBeCloseTo(0.5 * h, 14);
    expect(h).toBeCloseTo(0.31623, 4);
    expect(effectiveNoise(c({ y: 1, schedule: "rule-of-thumb" }), 1000, 0, 2).y).toBeCloseTo(1000 ** (-1 / 6), 14);
  });

  it("perturbBatch adds N(0, std^2) noise to x and y from the given stream", () => {
    const n = 20000;
    const batch = { n, x: new Float64Array(n), y: new Float64Array(n).fill(3) };
    const rng = new Rng(4);
    perturbBatch(batch, { x: 0.1, y: 0.3 }, rng);
    const stats = (a: Float64Array, mean0: number) => {
      let m = 0;
      for (const v of a) m += v - mean0;
      m /= a.length;
      let s = 0;
      for (const v of a) s += (v - mean0 - m) ** 2;
      return { mean: m, std: Math.sqrt(s / a.length) };
    };
    const sx = stats(batch.x, 0);
    const sy = stats(batch.y, 3);
    expect(Math.abs(sx.mean)).toBeLessThan(0.005);
    expect(sx.std).toBeGreaterThan(0.098);
    expect(sx.std).toBeLessThan(0.102);
    expect(Math.abs(sy.mean)).toBeLessThan(0.01);
    expect(sy.std).toBeGreaterThan(0.294);
    expect(sy.std).toBeLessThan(0.306);
    // x noise first, then y: the same seed redraws exactly
    const again = { n, x: new Float64Array(n), y: new Float64Array(n).fill(3) };
    perturbBatch(again, { x: 0.1, y: 0.3 }, new Rng(4));
    expect(again.y).toEqual(batch.y);
    // std 0 draws nothing
    const r2 = new Rng(9);
    const untouched = { n: 3, y: Float64Array.of(1, 2, 3) };
    perturbBatch(untouched, { x: 0, y: 0 }, r2);
    expect([...untouched.y]).toEqual([1, 2, 3]);
    expect(r2.getState()).toEqual(new Rng(9).getState());
  });

  it("y noise of std s widens a fitted Gaussian to sqrt(var + s^2) (noise in the data's units)", async () => {
    const data = gaussianData(400, [0], [1], 11);
    let mean = 0;
    for (const v of data.y) mean += v / data.n;
    let v2 = 0;
    for (const v of data.y) v2 += (v - mean) ** 2 / data.n;
    const fit = async (noise?: TrainConfig["noise"]) => {
      const { model } = await train(
        {
          model: { kind: "gmm", k: 1 },
          optimizer: { type: "adam", lr: 0.03 },
          schedule: { type: "cosine", minLrFactor: 0.02 },
          batchSize: 400,
          steps: 800,
          ...(noise ? { noise } : {}),
        },
        data,
      );
      return Math.exp((await predict(model)).logSigma[0] as number);
    };
    const clean = await fit();
    const noisy = await fit({ y: 0.5 });
    expect(clean).toBeCloseTo(Math.sqrt(v2), 2);
    expect(Math.abs(noisy - Math.sqrt(v2 + 0.25))).toBeLessThan(0.03);
    expect(noisy - clean).toBeGreaterThan(0.08);
  });

  it("is seeded, leaves the row order and the data alone, and never reaches evaluation", async () => {
    const data = inverseSine(40, 7);
    const yCopy = Float64Array.from(data.y);
    const xCopy = Float64Array.from(data.x);
    const base: TrainConfig = {
      model: { kind: "mdn", k: 2, hidden: [8] },
      optimizer: { type: "adam", lr: 1e-2 },
      batchSize: 10,
      steps: 12,
      validationSplit: 0.25,
      evalTrain: true,
      evalEvery: 6,
    };
    const noisy: TrainConfig = { ...base, noise: { x: 0.5, y: 0.5 } };
    const a = await train(noisy, data);
    const b = await train(noisy, data);
    const off = await train(base, data);
    // deterministic in the seed
    expect(b.history.steps.map((s) => s.loss)).toEqual(a.history.steps.map((s) => s.loss));
    // a separate stream: same minibatch order with and without noise
    expect(a.model.state.rng).toEqual(off.model.state.rng);
    expect(a.model.state.perm).toEqual(off.model.state.perm);
    expect(a.model.state.noiseRng).not.toEqual(off.model.state.noiseRng);
    // same initial weights, same first minibatch: the first loss differs only by the noise
    expect(a.history.steps[0]?.loss).not.toBe(off.history.steps[0]?.loss);
    // the data set is not modified in place
    expect(data.y).toEqual(yCopy);
    expect(data.x).toEqual(xCopy);
    // evaluation is on clean data: the recorded val/train NLLs are the clean ones at the final weights
    const { train: tr, val } = splitData(a.model.config, data);
    const last = a.history.evals.at(-1)!;
    expect(last.step).toBe(12);
    expect(last.valNll).toBe(await datasetNll(a.model, val!));
    expect(last.trainNll).toBe(await datasetNll(a.model, tr));
  });

  it("the first step's loss is the NLL of the noisy minibatch, not of the clean one", async () => {
    const data = gaussianData(16, [0], [1], 3);
    const { history } = await train({ model: { kind: "gmm", k: 1 }, batchSize: 16, steps: 1, shuffle: false, noise: { y: 0.3 } }, data);
    const w = initWeights({ kind: "gmm", k: 1, d: 1 }, 0);
    const clean = coreNll(
      { n: 16, k: 1, d: 1, logits: new Float64Array(16), mu: new Float64Array(16).fill(w["gmm.mu"]!.data[0] as number), logSigma: new Float64Array(16) },
      data.y,
    );
    expect(Math.abs((history.steps[0]?.loss as number) - clean)).toBeGreaterThan(1e-3);
  });
});
