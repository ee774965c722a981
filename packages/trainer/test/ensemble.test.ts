/**
 * Ensembles as one mixture: M copies of one model predict exactly that
 * model's density; an ensemble's per-row NLL is never above its members'
 * mean NLL (concavity of log); save / load / predict / sample round trip;
 * what an ensemble refuses.
 */
import { logProb, mixtureMean } from "@ngem/core";
import { describe, expect, it } from "vitest";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  ensemble,
  evaluate,
  isEnsemble,
  logLikelihoods,
  predict,
  resume,
  sample,
  train,
  trainEnsemble,
  type TrainConfig,
} from "../src/index.js";
import { inverseSine } from "./helpers.js";

const config: TrainConfig = { model: { kind: "mdn", k: 3, hidden: [16], activation: "tanh" }, batchSize: 32, steps: 60, seed: 4, validationSplit: 0.2 };
const data = inverseSine(200, 3);
const fresh = inverseSine(300, 11);

describe("ensembles", () => {
  it("M copies of one model predict exactly that model's density", async () => {
    const copies = [];
    for (let i = 0; i < 3; i++) copies.push((await train(config, data)).model);
    const single = (await train(config, data)).model;
    const ens = ensemble(copies);
    expect(isEnsemble(ens)).toBe(true);
    expect(ens.spec.k).toBe(9);
    const a = logProb(await predict(ens, fresh.x), fresh.y);
    const b = logProb(await predict(single, fresh.x), fresh.y);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 12);
    const ma = mixtureMean(await predict(ens, fresh.x, { space: "original" }));
    const mb = mixtureMean(await predict(single, fresh.x, { space: "original" }));
    for (let i = 0; i < ma.length; i++) expect(ma[i]).toBeCloseTo(mb[i] as number, 12);
  });

  it("the ensemble's NLL of every row is at most its members' mean NLL, and strictly better on average", async () => {
    const { model, members } = await trainEnsemble(config, data, 4);
    expect(members).toHaveLength(4);
    const seeds = members.map((m) => m.model.config.seed);
    expect(seeds).toEqual([4, 5, 6, 7]);
    // every member validated on the same rows (the split seed is the base seed)
    expect(new Set(members.map((m) => m.history.evals.length)).size).toBe(1);
    const ens = await logLikelihoods(model, fresh);
    const per = await Promise.all(members.map((m) => logLikelihoods(m.model, fresh)));
    let gap = 0;
    for (let i = 0; i < fresh.n; i++) {
      const meanNll = -per.reduce((s, lp) => s + (lp[i] as number), 0) / per.length;
      expect(-(ens[i] as number)).toBeLessThanOrEqual(meanNll + 1e-12);
      gap += meanNll + (ens[i] as number);
    }
    expect(gap / fresh.n).toBeGreaterThan(0);
    const ev = await evaluate(model, fresh);
    expect(Number.isFinite(ev.nll)).toBe(true);
  });

  it("save / load / predict / sample round trip; no resume, no steps", async () => {
    const { model } = await trainEnsemble(config, data, 2);
    const bytes = await encodeCheckpoint(model);
    const back = await decodeCheckpoint(bytes);
    expect(isEnsemble(back)).toBe(true);
    expect(back.config.ensemble).toBe(2);
    const p1 = await predict(model, fresh.x);
    const p2 = await predict(back, fresh.x);
    expect(Array.from(p2.logits)).toEqual(Array.from(p1.logits));
    expect(Array.from(p2.mu)).toEqual(Array.from(p1.mu));
    const s1 = await sample(model, Float64Array.of(0.5), { count: 50, seed: 1 });
    const s2 = await sample(back, Float64Array.of(0.5), { count: 50, seed: 1 });
    expect(Array.from(s2)).toEqual(Array.from(s1));
    await expect(resume(back, data)).rejects.toThrow(/ensemble .* cannot be resumed/);
    await expect(
      back.backendModel.step({ n: 1, x: Float64Array.of(0), y: Float64Array.of(0) }, { variant: "ngem" }, { type: "adam", lr: 1e-3 }),
    ).rejects.toThrow(/no optimizer steps/);
  });

  it("refuses members that do not match", async () => {
    const a = (await train(config, data)).model;
    const b = (await train({ ...config, model: { ...config.model, k: 2 } as TrainConfig["model"] }, data)).model;
    expect(() => ensemble([a, b])).toThrow(/member 1 has spec/);
  });
});
