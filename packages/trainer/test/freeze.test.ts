/**
 * `freeze` (issue 19, head-only training): config validation, the names it
 * resolves to, training leaves the frozen parameters at their initial values
 * while the rest trains, and the checkpoint keeps the option.
 */
import { initWeights } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { decodeCheckpoint, encodeCheckpoint, frozenParams, specFor, train, validateConfig, type TrainConfig } from "../src/index.js";
import { configErrorOf, inverseSine } from "./helpers.js";

const mdn: TrainConfig = { model: { kind: "mdn", k: 2, hidden: [6, 5], activation: "tanh", layerNorm: true } };

describe("config: freeze", () => {
  it("is absent from the resolved config unless set", () => {
    expect("freeze" in validateConfig(mdn)).toBe(false);
    expect(frozenParams(validateConfig(mdn))).toBeUndefined();
  });

  it('"trunk" freezes every trunk parameter (shared and separate trunks), never a head', () => {
    const c = validateConfig({ ...mdn, freeze: "trunk" });
    expect(c.freeze).toBe("trunk");
    expect(frozenParams(c)).toEqual([
      "trunk.0.weight",
      "trunk.0.bias",
      "trunk.0.ln.gamma",
      "trunk.0.ln.beta",
      "trunk.1.weight",
      "trunk.1.bias",
      "trunk.1.ln.gamma",
      "trunk.1.ln.beta",
    ]);
    const sep = frozenParams(
      validateConfig({ model: { kind: "mdn", k: 2, hidden: [6, 5], activation: "tanh", layerNorm: false, trunk: "separate" }, freeze: "trunk" }),
    );
    expect(sep).toEqual([
      "logits_trunk.0.weight",
      "logits_trunk.0.bias",
      "logits_trunk.1.weight",
      "logits_trunk.1.bias",
      "gauss_trunk.0.weight",
      "gauss_trunk.0.bias",
      "gauss_trunk.1.weight",
      "gauss_trunk.1.bias",
    ]);
  });

  it("a list takes names and dotted prefixes", () => {
    expect(frozenParams(validateConfig({ ...mdn, freeze: ["trunk.0", "head.bias"] }))).toEqual([
      "trunk.0.weight",
      "trunk.0.bias",
      "trunk.0.ln.gamma",
      "trunk.0.ln.beta",
      "head.bias",
    ]);
  });

  const bad: [string, TrainConfig | Record<string, unknown>][] = [
    ["freeze", { ...mdn, freeze: "head" }],
    ["freeze", { ...mdn, freeze: [] }],
    ["freeze[1]", { ...mdn, freeze: ["trunk.0", ""] }],
    ["freeze[1]", { ...mdn, freeze: ["trunk.0", "trunk.7"] }],
    ["freeze[0]", { ...mdn, freeze: ["trunk.0.w"] }],
    ["freeze", { ...mdn, freeze: ["trunk", "head"] }],
    ["freeze", { model: { kind: "gmm", k: 2 }, freeze: "trunk" }],
    ["freeze", { model: { kind: "mdn", k: 2, hidden: [] }, freeze: "trunk" }],
    ["freeze", { ...mdn, optimizer: { type: "soap", lr: 1e-3 }, freeze: "trunk" }],
  ];
  for (const [field, cfg] of bad) {
    it(`rejects ${JSON.stringify(cfg.freeze)}${"optimizer" in cfg ? " with SOAP" : ""}${(cfg.model as { kind: string }).kind === "gmm" ? " on a GMM" : ""} as ${field}`, () => {
      expect(configErrorOf(cfg).message).toMatch(new RegExp(`^config\\.${field.replace(/[[\]]/g, "\\$&")}:`));
    });
  }
});

describe("training with freeze", () => {
  const data = inverseSine(80, 5);
  const cfg = (over: Partial<TrainConfig>): TrainConfig => ({
    ...mdn,
    optimizer: { type: "adam", lr: 0.01, weightDecay: 0.1, clipNorm: 1 },
    batchSize: 16,
    steps: 10,
    seed: 4,
    validationSplit: 0,
    ...over,
  });

  // the js backend (the trainer's tests have no other; the parity suite covers the rest)
  for (const backend of ["js"]) {
    it(`${backend}: "trunk" keeps the trunk at its initial weights and trains the head; the checkpoint keeps the option`, async () => {
      const r = await train(cfg({ freeze: "trunk", backend }), data);
      const all = await train(cfg({ backend }), data);
      const resolved = validateConfig(cfg({}));
      const w0 = initWeights(specFor(resolved, data), 4);
      const w = await r.model.weights();
      const wAll = await all.model.weights();
      for (const [name, t] of Object.entries(w0)) {
        const got = Array.from(w[name]?.data ?? []);
        const init = Array.from(t.data);
        if (name.startsWith("trunk.")) expect(got, name).toEqual(init);
        else expect(got, name).not.toEqual(init);
        expect(Array.from(wAll[name]?.data ?? []), `${name} trains without freeze`).not.toEqual(init);
      }
      expect(r.model.config.freeze).toBe("trunk");
      const back = await decodeCheckpoint(await encodeCheckpoint(r.model));
      expect(back.config.freeze).toBe("trunk");
    });
  }
});
