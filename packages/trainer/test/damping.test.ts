/**
 * The head options `damping` and `precondition` (issue 19) in the trainer: config
 * validation, defaults that leave older configs unchanged, the head the loop
 * trains with, and the checkpoint round trip.
 */
import { describe, expect, it } from "vitest";
import { decodeCheckpoint, encodeCheckpoint, train, validateConfig, type TrainConfig } from "../src/index.js";
import { configErrorOf, gaussianData } from "./helpers.js";

const base: TrainConfig = { model: { kind: "gmm", k: 2 } };

describe("config: damping / precondition", () => {
  it("are absent from the resolved config at their defaults (older configs and checkpoints unchanged)", () => {
    const c = validateConfig(base);
    expect("damping" in c).toBe(false);
    expect("precondition" in c).toBe(false);
    const z = validateConfig({ ...base, damping: 0, precondition: ["scale", "mu", "logits"] });
    expect("damping" in z).toBe(false);
    expect("precondition" in z).toBe(false);
  });

  it("carry a damping > 0 and a partial precondition set (canonical order)", () => {
    const c = validateConfig({ ...base, damping: 100, precondition: ["scale", "mu"] });
    expect(c.damping).toBe(100);
    expect(c.precondition).toEqual(["mu", "scale"]);
    expect(validateConfig({ ...base, precondition: [] }).precondition).toEqual([]);
  });

  const bad: [string, Record<string, unknown>][] = [
    ["damping", { ...base, damping: -1 }],
    ["damping", { ...base, damping: Number.POSITIVE_INFINITY }],
    ["damping", { ...base, damping: "1" }],
    ["precondition", { ...base, precondition: ["sigma"] }],
    ["precondition", { ...base, precondition: ["mu", "mu"] }],
    ["precondition", { ...base, precondition: "mu" }],
  ];
  for (const [field, cfg] of bad) {
    it(`rejects ${JSON.stringify(cfg[field])} as ${field}`, () => {
      expect(configErrorOf(cfg).message).toMatch(new RegExp(`config\\.${field}`));
    });
  }
});

describe("training with damping", () => {
  const data = gaussianData(60, [1, -1], [0.3, 0.5], 7);
  const cfg = (over: Partial<TrainConfig>): TrainConfig => ({
    ...base,
    optimizer: { type: "sgd", lr: 0.05 },
    batchSize: 10,
    steps: 12,
    seed: 3,
    validationSplit: 0,
    ...over,
  });

  it("changes the trajectory, lambda = 0 reproduces the undamped run exactly, and the checkpoint keeps the options", async () => {
    const plain = await train(cfg({}), data);
    const zero = await train(cfg({ damping: 0 }), data);
    const damped = await train(cfg({ damping: 50, precondition: ["mu", "scale"] }), data);
    const w0 = await plain.model.weights();
    const wz = await zero.model.weights();
    const wd = await damped.model.weights();
    for (const [k, t] of Object.entries(w0)) {
      expect(Array.from(wz[k]?.data ?? []), k).toEqual(Array.from(t.data));
    }
    expect(Array.from(wd["gmm.mu"]?.data ?? [])).not.toEqual(Array.from(w0["gmm.mu"]?.data ?? []));
    expect(damped.model.config.damping).toBe(50);
    expect(damped.model.config.precondition).toEqual(["mu", "scale"]);
    const back = await decodeCheckpoint(await encodeCheckpoint(damped.model));
    expect(back.config.damping).toBe(50);
    expect(back.config.precondition).toEqual(["mu", "scale"]);
  });
});
