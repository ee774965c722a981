import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  type ConfigError,
  configFileJsonSchema,
  configFileSchema,
  parseConfigFile,
  scheduledLr,
  specFor,
  TRAIN_CONFIG_KEYS,
  train,
  trainConfigSchema,
  validateConfig,
  validateData,
  type TrainConfig,
} from "../src/index.js";
import { configErrorOf, gaussianData, inverseSine } from "./helpers.js";

const base: TrainConfig = { model: { kind: "gmm", k: 2 } };

describe("validateConfig", () => {
  it("fills documented defaults", () => {
    const c = validateConfig({ model: { kind: "mdn", k: 3 } });
    expect(c.objective).toBe("ngem");
    expect(c.fisherCoords).toBe("log-sigma");
    expect(c.optimizer).toEqual({ type: "adam", lr: 1e-3 });
    expect(c.schedule).toEqual({ type: "constant", warmupSteps: 0, minLrFactor: 0 });
    expect(c.model).toEqual({ kind: "mdn", k: 3, hidden: [128, 128], activation: "gelu", layerNorm: true, scale: "exp", sigmaMin: 0, covariance: "diag" });
    expect(c.noise).toEqual({ x: 0, y: 0, schedule: "constant" });
    expect(c.batchSize).toBe(32);
    expect(c.epochs).toBe(20);
    expect(c.backend).toBe("js");
    expect(c.nonFinite).toBe("stop");
    expect(c.keep).toBe("last");
    expect(c.maxSkippedFraction).toBe(0.1);
  });

  it("keep: best by default with a validation split, last without or when asked", () => {
    const model = { kind: "gmm", k: 2 } as const;
    expect(validateConfig({ model, validationSplit: 0.2 }).keep).toBe("best");
    expect(validateConfig({ model, validationSplit: 0.2, keep: "last" }).keep).toBe("last");
    expect(validateConfig({ model, validationSplit: 0.2, earlyStopping: { patience: 3, restoreBest: false } }).keep).toBe("last");
    expect(() => validateConfig({ model, keep: "best" })).toThrow(/config\.keep: "best" needs a validation set/);
    expect(() => validateConfig({ model, validationSplit: 0.2, keep: "first" as "best" })).toThrow(/config\.keep: expected "best" \| "last"/);
  });

  const bad: [string, Record<string, unknown>][] = [
    ["model.kind", { model: { kind: "rnn", k: 2 } }],
    ["model.k", { model: { kind: "gmm", k: 0 } }],
    ["model.hidden[1]", { model: { kind: "mdn", k: 2, hidden: [8, 2.5] } }],
    ["model.activation", { model: { kind: "mdn", k: 2, activation: "sigmoid" } }],
    ["model.trunk", { model: { kind: "mdn", k: 2, trunk: "two" } }],
    ["model.trunk", { model: { kind: "gmm", k: 2, trunk: "separate" } }],
    ["objective", { ...base, objective: "ngem2" }],
    ["optimizer.type", { ...base, optimizer: { type: "lbfgs", lr: 1 } }],
    ["optimizer.lr", { ...base, optimizer: { type: "adam", lr: -1 } }],
    ["optimizer.clipNorm", { ...base, optimizer: { type: "adam", lr: 1e-3, clipNorm: 0 } }],
    ["optimizer.momentum", { ...base, optimizer: { type: "sgd", lr: 1e-3, momentum: 1.5 } }],
    ["schedule.type", { ...base, schedule: { type: "step" } }],
    ["batchSize", { ...base, batchSize: 0 }],
    ["steps", { ...base, steps: 10, epochs: 2 }],
    ["validationSplit", { ...base, validationSplit: 1 }],
    ["earlyStopping", { ...base, earlyStopping: { patience: 2 } }],
    ["nonFinite", { ...base, nonFinite: "ignore" }],
    ["checkpoint.path", { ...base, checkpoint: { path: "" } }],
    ["model.scale", { model: { kind: "mdn", k: 2, scale: "relu" } }],
    ["model.sigmaMin", { model: { kind: "gmm", k: 2, sigmaMin: -1e-3 } }],
    ["model.sigmaMin", { model: { kind: "gmm", k: 2, sigmaMin: "1e-3" } }],
    ["model.sigmaMin", { model: { kind: "gmm", k: 2, sigmaMin: Infinity } }],
    ["model.covariance", { model: { kind: "gmm", k: 2, covariance: "full" } }],
    ["noise", { ...base, noise: 0.1 }],
    ["noise.x", { ...base, noise: { x: -0.1 } }],
    ["noise.y", { ...base, noise: { y: NaN } }],
    ["noise.schedule", { ...base, noise: { y: 0.1, schedule: "silverman" } }],
    ["noise.sigma", { ...base, noise: { sigma: 0.1 } }],
    ["optimizer", { ...base, optimizer: 3 }],
    ["optimizer.momentum", { ...base, optimizer: { type: "adam", lr: 1e-3, momentum: 0.9 } }],
    ["precondition[1]", { ...base, precondition: ["mu", "sigma"] }],
    ["precondition", { ...base, precondition: ["mu", "mu"] }],
    ["shuffle", { ...base, shuffle: "yes" }],
    ["seed", { ...base, seed: -1 }],
    ["epochz", { ...base, epochz: 3 }],
    ["model", { ...base, model: undefined }],
    ["(root)", 5 as unknown as Record<string, unknown>],
  ];
  for (const [field, cfg] of bad) {
    it(`names the bad field: ${field}`, () => {
      const err = configErrorOf(cfg);
      expect(err.field).toBe(field);
      expect(err.message).toContain(`config.${field}`);
    });
  }

  it("messages say what was expected and what was given; unknown keys get a did-you-mean", () => {
    const message = (cfg: unknown) => {
      try {
        validateConfig(cfg as TrainConfig);
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    };
    expect(message({ ...base, epochz: 3 })).toMatch(/^config\.epochz: unknown field \(did you mean "epochs"\?\); expected one of model, objective, /);
    expect(message({ model: { kind: "mdn", k: 2, hiden: [3] } })).toMatch(/^config\.model\.hiden: unknown field \(did you mean "hidden"\?\)/);
    expect(message({ ...base, optimizer: { type: "lbfgs", lr: 1 } })).toBe('config.optimizer.type: expected "sgd" | "adam" | "rmsprop" | "soap", got "lbfgs"');
    expect(message({ model: { kind: "mdn", k: 2, activation: "sigmoid" } })).toBe('config.model.activation: expected "gelu" | "tanh" | "relu", got "sigmoid"');
    expect(message({ ...base, objective: "ngem2" })).toBe('config.objective: expected "nll" | "em" | "ngem" | "ngem-full", got "ngem2"');
    expect(message({ model: { kind: "mdn", k: 2, hidden: [8, 2.5] } })).toBe("config.model.hidden[1]: expected an integer >= 1, got 2.5");
    expect(message({ ...base, validationSplit: 1 })).toBe("config.validationSplit: expected a number in [0, 1), got 1");
    expect(message({ ...base, optimizer: { type: "adam", lr: -1 } })).toBe("config.optimizer.lr: expected a number in (0, Infinity), got -1");
    expect(message({ ...base, noise: 0.1 })).toBe("config.noise: expected an object { x?, y?, schedule? }, got 0.1");
    expect(message({ ...base, checkpoint: { path: "" } })).toBe('config.checkpoint.path: expected a non-empty string, got ""');
    expect(message(5)).toBe("config.(root): expected a config object, got 5");
  });

  it("resolved configs (what checkpoints and run.json store) validate to themselves, the optimizer's fields in the order given", () => {
    const gmm = { kind: "gmm", k: 2 } as const;
    const configs: TrainConfig[] = [
      { model: { kind: "mdn", k: 3 } },
      base,
      {
        model: {
          kind: "mdn",
          k: 2,
          hidden: [],
          activation: "tanh",
          layerNorm: false,
          trunk: "separate",
          scale: "softplus",
          sigmaMin: 1e-3,
          covariance: "shared",
        },
      },
      { model: gmm, optimizer: { clipNorm: 1, type: "adam", lr: 0.01, eps: 1e-7 }, schedule: { type: "cosine", minLrFactor: 0.1 } },
      { model: gmm, steps: 50, validationSplit: 0.2, earlyStopping: { patience: 3, restoreBest: false } },
      { model: gmm, precondition: ["scale", "mu"], damping: 0.5, piFloor: 0.5, fisherCoords: "sigma", objective: "ngem-full", noise: { y: 0.1 } },
      {
        model: gmm,
        seed: 5,
        splitSeed: 3,
        ensemble: 4,
        shuffle: false,
        evalEvery: 7,
        evalTrain: true,
        nonFinite: "skip",
        maxSkippedFraction: 0.5,
        logEvery: 3,
      },
    ];
    for (const config of configs) {
      const resolved = validateConfig(config);
      expect(JSON.stringify(validateConfig(resolved as TrainConfig))).toBe(JSON.stringify(resolved));
    }
    expect(Object.keys(validateConfig(configs[3]!).optimizer)).toEqual(["clipNorm", "type", "lr", "eps"]);
    expect(validateConfig({ model: gmm, precondition: ["scale", "mu"] }).precondition).toEqual(["mu", "scale"]);
    expect(validateConfig({ model: gmm, precondition: ["scale", "logits", "mu"] })).not.toHaveProperty("precondition");
  });

  it("the schema has exactly TrainConfig's fields", () => {
    type SchemaKeys = keyof z.input<typeof trainConfigSchema>;
    const same: [SchemaKeys] extends [keyof TrainConfig] ? ([keyof TrainConfig] extends [SchemaKeys] ? true : false) : false = true;
    expect(same).toBe(true);
    expect([...TRAIN_CONFIG_KEYS]).toEqual(Object.keys(trainConfigSchema.shape));
  });

  it("head options: defaults, passed to the spec's head only when not the default", () => {
    const d = inverseSine(10, 1);
    expect(specFor(validateConfig({ model: { kind: "mdn", k: 2, hidden: [4] } }), d)).not.toHaveProperty("head");
    const c = validateConfig({ model: { kind: "mdn", k: 2, hidden: [4], scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" } });
    expect(c.model).toMatchObject({ scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" });
    expect(specFor(c, d)).toMatchObject({ kind: "mdn", head: { scale: "softplus", sigmaMin: 1e-3, covariance: "isotropic" } });
    expect(specFor(validateConfig({ model: { kind: "gmm", k: 3, covariance: "shared" } }), gaussianData(5, [0, 0], [1, 1], 1))).toEqual({
      kind: "gmm",
      k: 3,
      d: 2,
      head: { scale: "exp", sigmaMin: 0, covariance: "shared" },
    });
  });

  it("noise: defaults, and x noise needs inputs", () => {
    expect(validateConfig({ ...base, noise: { y: 0.2 } }).noise).toEqual({ x: 0, y: 0.2, schedule: "constant" });
    expect(validateConfig({ ...base, noise: { x: 0.1, schedule: "rule-of-thumb" } }).noise).toEqual({ x: 0.1, y: 0, schedule: "rule-of-thumb" });
    let err: unknown;
    try {
      validateConfig({ ...base, noise: { x: 0.1 } }, gaussianData(10, [0], [1], 1));
    } catch (e) {
      err = e;
    }
    expect((err as ConfigError).field).toBe("noise.x");
    expect((err as Error).message).toMatch(/config\.noise\.x: .*no(ne)? .*inputs|xDim = 0/);
  });

  it("rejects an MDN on unconditional data", () => {
    expect(() => validateConfig({ model: { kind: "mdn", k: 2 } }, gaussianData(10, [0], [1], 1))).toThrow(/xDim/);
  });
});

describe("config files (the CLI's --config)", () => {
  it("derive from the trainer schema: model fields optional, library-only fields rejected, checkpointEvery added", () => {
    expect(parseConfigFile({ model: { k: 3 }, checkpointEvery: 5, optimizer: { type: "sgd", lr: 0.1 } })).toEqual({
      model: { k: 3 },
      checkpointEvery: 5,
      optimizer: { type: "sgd", lr: 0.1 },
    });
    for (const key of ["metricsFile", "checkpoint", "shuffle", "splitSeed", "ensemble", "evalTrain"]) {
      expect(() => parseConfigFile({ [key]: 1 }), key).toThrow(new RegExp(`config\\.${key}: unknown field`));
    }
    const err = (json: unknown) => {
      try {
        parseConfigFile(json);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("parsed");
    };
    expect(err({ optimiser: {} }).field).toBe("optimiser");
    expect(err({ optimiser: {} }).reason).toMatch(/^unknown field \(did you mean "optimizer"\?\)/);
    expect(err({ model: { k: 0 } }).field).toBe("model.k");
    expect(err({ checkpointEvery: 0 }).reason).toBe("expected an integer >= 1, got 0");
    expect(err({ optimizer: { type: "sgd", lr: 0.1, momentum: 1 } }).field).toBe("optimizer.momentum");
    expect(err({ precondition: ["mu", "mu"] }).reason).toBe('expected distinct blocks, got ["mu","mu"]');
  });

  it("JSON Schema from the same zod schema", () => {
    const s = configFileJsonSchema() as { type: string; additionalProperties: boolean; properties: Record<string, Record<string, unknown>> };
    expect(s.type).toBe("object");
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties)).toEqual([...Object.keys(configFileSchema.shape)]);
    expect(s.properties).not.toHaveProperty("metricsFile");
    expect(s.properties.validationSplit).toMatchObject({ type: "number", minimum: 0, exclusiveMaximum: 1 });
    expect(s.properties.objective).toMatchObject({ enum: ["nll", "em", "ngem", "ngem-full"] });
  });
});

describe("validateData", () => {
  it("names the field and the expected shape", () => {
    const d = inverseSine(10, 1);
    expect(() => validateData({ ...d, y: new Float64Array(9) })).toThrow(/data\.y.*\[10, 1\]/);
    expect(() => validateData({ ...d, x: new Float64Array(3) })).toThrow(/data\.x/);
    const y = Float64Array.from(d.y);
    y[4] = NaN;
    expect(() => validateData({ ...d, y })).toThrow(/data\.y: non-finite value NaN at flat index 4/);
  });
});

describe("backend selection", () => {
  it("fails loudly for a backend that is not registered (no fallback)", async () => {
    await expect(train({ ...base, backend: "no-such-backend", steps: 1 }, gaussianData(10, [0, 0], [1, 1], 1))).rejects.toThrow(
      /no-such-backend.*not available/,
    );
  });
});

describe("scheduledLr", () => {
  const T = 101;
  it("constant with warmup ramps linearly then stays", () => {
    const s = { type: "constant", warmupSteps: 4, minLrFactor: 0 } as const;
    expect([0, 1, 2, 3, 4, 50].map((t) => scheduledLr(1, s, t, T))).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
  });
  it("cosine goes from lr to lr*minLrFactor", () => {
    const s = { type: "cosine", warmupSteps: 0, minLrFactor: 0.1 } as const;
    expect(scheduledLr(2, s, 0, T)).toBeCloseTo(2, 12);
    expect(scheduledLr(2, s, 50, T)).toBeCloseTo(0.2 + 1.8 * 0.5, 12);
    expect(scheduledLr(2, s, 100, T)).toBeCloseTo(0.2, 12);
  });
  it("linear after warmup", () => {
    const s = { type: "linear", warmupSteps: 1, minLrFactor: 0 } as const;
    expect(scheduledLr(1, s, 0, 11)).toBe(1);
    expect(scheduledLr(1, s, 1, 11)).toBeCloseTo(1, 12);
    expect(scheduledLr(1, s, 6, 11)).toBeCloseTo(1 - 5 / 9, 12); // p = (6 - 1) / (11 - 1 - 1)
    expect(scheduledLr(1, s, 10, 11)).toBeCloseTo(0, 12);
  });
});
