import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initWeights, nll as coreNll } from "@ngem/core";
import { afterAll, describe, expect, it } from "vitest";
import { datasetNll, predict, splitData, train, validateConfig, type StepRecord, type TrainData } from "../src/index.js";
import { gaussianData, inverseSine } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "ngem-loop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("objectives", () => {
  const data = gaussianData(64, [0.5, -1], [1, 0.5], 8);
  for (const objective of ["nll", "em", "ngem", "ngem-full"] as const) {
    it(`${objective}: the reported loss is the NLL, and training lowers it`, async () => {
      const spec = { kind: "gmm", k: 2, d: 2 } as const;
      const w = initWeights(spec, 0);
      const before = coreNll(
        {
          n: 64,
          k: 2,
          d: 2,
          logits: Float64Array.from({ length: 128 }, (_, i) => w["gmm.logits"]!.data[i % 2]!),
          mu: Float64Array.from({ length: 256 }, (_, i) => w["gmm.mu"]!.data[i % 4]!),
          logSigma: new Float64Array(256),
        },
        data.y,
      );
      const { model, history } = await train(
        { model: { kind: "gmm", k: 2 }, objective, optimizer: { type: "adam", lr: 0.05 }, batchSize: 64, steps: 100, shuffle: false },
        data,
      );
      expect(history.steps[0]?.loss).toBeCloseTo(before, 12);
      const after = await datasetNll(model, data);
      expect(after).toBeLessThan(before - 0.3);
    });
  }
});

describe("loop mechanics", () => {
  it("epochs, minibatches, seeded shuffling, events and the metrics file", async () => {
    const data = inverseSine(50, 2);
    const metricsFile = join(dir, "m.jsonl");
    const seen: { step: StepRecord[]; epochs: number[]; evals: number[] } = { step: [], epochs: [], evals: [] };
    const cfg = { model: { kind: "mdn", k: 2, hidden: [8] }, batchSize: 16, epochs: 3, validationSplit: 0.2, metricsFile, logEvery: 2 } as const;
    const { history } = await train(cfg, data, {
      onStep: (r) => void seen.step.push(r),
      onEpoch: (r) => void seen.epochs.push(r.epoch),
      onEval: (r) => void seen.evals.push(r.step),
    });
    // 40 training rows, batch 16 -> 3 batches per epoch (16, 16, 8)
    expect(seen.step.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.epochs).toEqual([1, 2, 3]);
    expect(seen.evals).toEqual([3, 6, 9]);
    expect(history.evals.every((e) => Number.isFinite(e.valNll))).toBe(true);
    const lines = readFileSync(metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    // every 2nd step plus every eval step (3, 6, 9): steps 2, 3, 4, 6, 8, 9
    expect(lines.map((l) => l.step)).toEqual([2, 3, 4, 6, 8, 9]);
    expect(lines[1]?.valNll).toBeCloseTo(history.evals[0]?.valNll as number, 12);
    for (const key of ["step", "epoch", "loss", "gradNorm", "lr", "time"]) expect(lines[0]).toHaveProperty(key);
    // same seed -> same run; different seed -> different run
    const again = await train({ ...cfg, metricsFile: join(dir, "m2.jsonl") }, data);
    expect(again.history.steps.map((s) => s.loss)).toEqual(history.steps.map((s) => s.loss));
    const other = await train({ ...cfg, seed: 1, metricsFile: join(dir, "m3.jsonl") }, data);
    expect(other.history.steps[0]?.loss).not.toBe(history.steps[0]?.loss);
  });

  it("validation split is disjoint, complete and seeded", () => {
    const data = inverseSine(30, 3);
    const c = validateConfig({ model: { kind: "mdn", k: 1 }, validationSplit: 0.3 });
    const { train: tr, val } = splitData(c, data);
    expect(tr.n).toBe(21);
    expect(val?.n).toBe(9);
    const all = [...tr.y, ...(val?.y ?? [])].sort();
    expect(all).toEqual([...data.y].sort());
  });

  it("early stopping stops and restores the best weights", async () => {
    const data = inverseSine(60, 4);
    // a large lr makes validation NLL stop improving quickly
    const { model, history } = await train(
      {
        model: { kind: "mdn", k: 2, hidden: [16] },
        optimizer: { type: "sgd", lr: 0.3 },
        batchSize: 4,
        epochs: 200,
        validationSplit: 0.3,
        earlyStopping: { patience: 3, restoreBest: true },
      },
      data,
    );
    expect(history.stopReason).toBe("early-stopping");
    expect(history.epochs.length).toBeLessThan(200);
    const { val } = splitData(model.config, data);
    expect(await datasetNll(model, val as TrainData)).toBeCloseTo(history.bestValNll as number, 10);
  });

  it("abort signal stops after the current step", async () => {
    const ctl = new AbortController();
    const { history } = await train({ model: { kind: "gmm", k: 1 }, steps: 100, batchSize: 1 }, gaussianData(10, [0], [1], 1), {
      onStep: (r) => {
        if (r.step === 7) ctl.abort();
      },
      signal: ctl.signal,
    });
    expect(history.stopReason).toBe("aborted");
    expect(history.steps).toHaveLength(7);
  });
});

describe("the run's plan and split in the result", () => {
  it("onStart reports the total steps once; the result carries them and the rows of the split", async () => {
    const data = gaussianData(50, [0, 0], [1, 1], 3);
    const plans: { totalSteps: number; nTrain: number }[] = [];
    const r = await train({ model: { kind: "gmm", k: 2 }, epochs: 3, batchSize: 8, validationSplit: 0.2 }, data, {
      onStart: (plan) => {
        plans.push({ ...plan });
      },
    });
    // 40 training rows, batch 8: 5 steps an epoch, 3 epochs
    expect(plans).toEqual([{ totalSteps: 15, nTrain: 40 }]);
    expect(r.totalSteps).toBe(15);
    expect(r.model.state.step).toBe(15);
    expect(r.split?.train.n).toBe(40);
    expect(r.split?.val?.n).toBe(10);
    // the same rows as splitData's
    const again = splitData(r.model.config, data);
    expect(Array.from(r.split?.val?.y ?? [])).toEqual(Array.from(again.val?.y ?? []));
  });
});

describe("NaN/Inf guard", () => {
  // One row so far away that every component's density underflows: the head reports "nll".
  const data = gaussianData(20, [0], [1], 6);
  const y = Float64Array.from(data.y);
  y[13] = 1e200;
  const bad: TrainData = { ...data, y };

  it("stop: stops at the bad step, names the tensor, keeps finite weights", async () => {
    const { model, history } = await train({ model: { kind: "gmm", k: 2 }, batchSize: 1, steps: 40, shuffle: false, nonFinite: "stop" }, bad);
    expect(history.stopReason).toBe("non-finite");
    expect(history.nonFinite).toEqual([{ step: 14, tensor: "nll" }]);
    expect(history.stopDetail).toMatch(/nll went non-finite/);
    expect(history.steps.at(-1)?.nonFinite).toBe("nll");
    const m = await predict(model);
    for (const v of [...m.mu, ...m.logSigma, ...m.logits]) expect(Number.isFinite(v)).toBe(true);
  });

  it("skip: skips the update, reports it, and carries on", async () => {
    const { model, history } = await train({ model: { kind: "gmm", k: 2 }, batchSize: 1, steps: 40, shuffle: false, nonFinite: "skip" }, bad);
    expect(history.stopReason).toBe("completed");
    expect(history.nonFinite).toEqual([
      { step: 14, tensor: "nll" },
      { step: 34, tensor: "nll" },
    ]);
    const m = await predict(model);
    for (const v of m.mu) expect(Number.isFinite(v)).toBe(true);
  });

  it("soap path reports non-finite the same way", async () => {
    const { history } = await train({ model: { kind: "gmm", k: 2 }, optimizer: { type: "soap", lr: 1e-2 }, batchSize: 1, steps: 20, shuffle: false }, bad);
    expect(history.nonFinite).toEqual([{ step: 14, tensor: "nll" }]);
    expect(history.stopReason).toBe("non-finite");
  });
});
