/**
 * Validation and defaults of {@link TrainConfig}. Every error names the field
 * at fault and what was expected.
 */
import {
  DEFAULT_PI_FLOOR,
  isDefaultScale,
  NgemError,
  paramCount,
  paramShapes,
  PRECONDITION_BLOCKS,
  type Covariance,
  type FisherCoords,
  type MdnTrunk,
  type ModelSpec,
  type PreconditionBlock,
  type ScaleOptions,
  type ScaleParam,
  type Variant,
} from "@ngem/core";
import type { z } from "zod";
import { configFileSchema, configIssueMessage, firstIssue, issueField, showValue, trainConfigSchema, type ConfigFile } from "./config-schema.js";
import type { EarlyStoppingConfig, ModelConfig, NoiseConfig, OptimizerConfig, ScheduleConfig, TrainConfig, TrainData } from "./types.js";

export {
  configFileJsonSchema,
  configFileSchema,
  FISHER_COORDS,
  LR_SCHEDULES,
  NOISE_SCHEDULES,
  OPTIMIZERS,
  trainConfigSchema,
  type ConfigFile,
} from "./config-schema.js";

/** A configuration field is missing or out of range. */
export class ConfigError extends NgemError {
  override readonly name = "ConfigError";
  constructor(
    /** Dotted path of the field, e.g. `"optimizer.lr"`. */
    readonly field: string,
    /** What is wrong, without the `config.<field>: ` prefix of the message. */
    readonly reason: string,
  ) {
    super(`config.${field}: ${reason}`);
  }
}

/** A config with every default filled in (what checkpoints store). */
export interface ResolvedConfig {
  readonly model: Required<Pick<ModelConfig, "kind" | "k">> & {
    readonly hidden: readonly number[];
    readonly activation: "gelu" | "tanh" | "relu";
    readonly layerNorm: boolean;
    /** Present only when "separate" (absent = shared, so shared configs and checkpoints are unchanged). */
    readonly trunk?: MdnTrunk;
    readonly scale: ScaleParam;
    readonly sigmaMin: number;
    readonly covariance: Covariance;
  };
  readonly objective: Variant;
  readonly fisherCoords: FisherCoords;
  readonly piFloor: number;
  /** ngem / ngem-full damping lambda; present only when > 0 (absent = 0, so older configs and checkpoints are unchanged). */
  readonly damping?: number;
  /** Blocks the natural variants precondition; present only when not all three (canonical order). */
  readonly precondition?: readonly PreconditionBlock[];
  readonly optimizer: OptimizerConfig;
  /** Frozen parameters as given ({@link TrainConfig.freeze}); present only when set. */
  readonly freeze?: "trunk" | readonly string[];
  readonly schedule: Required<ScheduleConfig>;
  readonly batchSize: number;
  readonly epochs?: number;
  readonly steps?: number;
  readonly seed: number;
  /** Seed of the validation split (default: seed). */
  readonly splitSeed?: number;
  /** Set on an ensemble model: its number of members (see ensemble.ts). */
  readonly ensemble?: number;
  readonly shuffle: boolean;
  readonly validationSplit: number;
  readonly evalEvery?: number;
  readonly evalTrain: boolean;
  readonly earlyStopping?: Required<EarlyStoppingConfig>;
  readonly keep: "best" | "last";
  readonly nonFinite: "stop" | "skip";
  readonly maxSkippedFraction: number;
  readonly backend: string;
  readonly metricsFile?: string;
  readonly logEvery: number;
  readonly checkpoint?: { readonly path: string; readonly every?: number; readonly atEnd: boolean };
  readonly noise: Required<NoiseConfig>;
}

/** Noise regularisation off. */
export const NO_NOISE: Required<NoiseConfig> = Object.freeze({ x: 0, y: 0, schedule: "constant" });
/** The default head options as a resolved config stores them. */
export const DEFAULT_HEAD = Object.freeze({ scale: "exp", sigmaMin: 0, covariance: "diag" } as const);

/** Every field of {@link TrainConfig} (the keys of {@link trainConfigSchema}). */
export const TRAIN_CONFIG_KEYS: readonly (keyof TrainConfig)[] = trainConfigSchema.keyof().options;
/** Default length of a run (the CLI uses the same). */
export const DEFAULT_EPOCHS = 20;
/** Default of {@link TrainConfig.maxSkippedFraction}. */
export const DEFAULT_MAX_SKIPPED_FRACTION = 0.1;
/**
 * Largest model the trainer agrees to build (parameters). Beyond it the
 * float64 weights, gradients and optimizer moments alone need tens of GB;
 * a ConfigError names the size instead of a RangeError from an allocation.
 */
export const MAX_PARAMS = 100_000_000;

/** Parses `value` with a config schema; the first problem is a {@link ConfigError} naming its field. */
function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value, { error: configIssueMessage });
  if (r.success) return r.data;
  const issue = firstIssue(r.error.issues);
  if (!issue) throw new ConfigError("(root)", r.error.message);
  const field = issueField(issue);
  // the whole config is not an object: no need to list every field
  if (field === "(root)" && issue.code === "invalid_type") throw new ConfigError(field, `expected a config object, got ${showValue(value)}`);
  throw new ConfigError(field, issue.message);
}

/**
 * Validates a `ngem train --config` file's parsed JSON against
 * {@link configFileSchema}. Throws {@link ConfigError} naming the bad field
 * (the cross-field rules are {@link validateConfig}'s, on the config the CLI builds).
 */
export function parseConfigFile(json: unknown): ConfigFile {
  return parseWith(configFileSchema, json);
}

/**
 * Validates `config` (and, when given, its fit to `data`) and fills defaults.
 * Throws {@link ConfigError} naming the bad field. Structure, types, ranges
 * and unknown keys are {@link trainConfigSchema}'s; the cross-field rules are here.
 */
export function validateConfig(config: TrainConfig, data?: TrainData): ResolvedConfig {
  const c = parseWith(trainConfigSchema, config);
  const m = c.model;
  const k = m.k;
  const mdn = m.kind === "mdn";
  const hidden = mdn ? (m.hidden ?? [128, 128]) : [];
  const activation = mdn ? (m.activation ?? "gelu") : "gelu";
  const layerNorm = mdn ? (m.layerNorm ?? true) : false;
  const trunk = m.trunk ?? "shared";
  if (trunk === "separate" && !mdn) throw new ConfigError("model.trunk", 'only an MDN has a trunk: "separate" needs kind "mdn"');
  const scale = m.scale ?? "exp";
  const sigmaMin = m.sigmaMin ?? 0;
  const covariance = m.covariance ?? "diag";
  const objective = c.objective ?? "ngem";
  const fisherCoords = c.fisherCoords ?? "log-sigma";
  const piFloor = c.piFloor ?? DEFAULT_PI_FLOOR;
  const damping = c.damping ?? 0;
  let precondition: readonly PreconditionBlock[] | undefined;
  if (c.precondition !== undefined) {
    const pre = c.precondition; // distinct blocks (the schema's refinement)
    if (pre.length < PRECONDITION_BLOCKS.length) precondition = PRECONDITION_BLOCKS.filter((b) => pre.includes(b));
  }
  // The optimizer is stored as given (its fields in the caller's order, which
  // run.json and checkpoints keep); the parse above checked every field.
  const optimizer: OptimizerConfig = config.optimizer === undefined ? { type: "adam", lr: 1e-3 } : { ...config.optimizer };
  const freeze = c.freeze;
  const s = c.schedule ?? { type: "constant" };
  const schedule: Required<ScheduleConfig> = { type: s.type, warmupSteps: s.warmupSteps ?? 0, minLrFactor: s.minLrFactor ?? 0 };

  const batchSize = c.batchSize ?? 32;
  if (c.epochs !== undefined && c.steps !== undefined) throw new ConfigError("steps", "set either epochs or steps, not both");
  const steps = c.steps;
  const epochs = steps !== undefined ? undefined : (c.epochs ?? DEFAULT_EPOCHS);
  const seed = c.seed ?? 0;
  const splitSeed = c.splitSeed;
  const ensembleMembers = c.ensemble;
  const shuffle = c.shuffle ?? true;
  const validationSplit = c.validationSplit ?? 0;
  const evalEvery = c.evalEvery;
  const evalTrain = c.evalTrain ?? false;
  let earlyStopping: Required<EarlyStoppingConfig> | undefined;
  if (c.earlyStopping !== undefined) {
    const e = c.earlyStopping;
    earlyStopping = { patience: e.patience, minDelta: e.minDelta ?? 0, restoreBest: e.restoreBest ?? true };
    if (validationSplit === 0) throw new ConfigError("earlyStopping", "needs a validation set: set validationSplit > 0");
  }
  const maxSkippedFraction = c.maxSkippedFraction ?? DEFAULT_MAX_SKIPPED_FRACTION;
  if (c.keep === "best" && validationSplit === 0) throw new ConfigError("keep", '"best" needs a validation set: set validationSplit > 0 (or keep: "last")');
  const keep = c.keep ?? (validationSplit > 0 && earlyStopping?.restoreBest !== false ? "best" : "last");
  const nonFinite = c.nonFinite ?? "stop";
  const backend = c.backend ?? "js";
  const metricsFile = c.metricsFile;
  const logEvery = c.logEvery ?? 1;
  let checkpoint: ResolvedConfig["checkpoint"];
  if (c.checkpoint !== undefined) {
    const ck = c.checkpoint;
    checkpoint = { path: ck.path, ...(ck.every === undefined ? {} : { every: ck.every }), atEnd: ck.atEnd ?? true };
  }
  const noise: Required<NoiseConfig> = { x: c.noise?.x ?? 0, y: c.noise?.y ?? 0, schedule: c.noise?.schedule ?? "constant" };
  const resolved: ResolvedConfig = {
    model: { kind: m.kind, k, hidden, activation, layerNorm, ...(trunk === "separate" ? { trunk } : {}), scale, sigmaMin, covariance },
    objective,
    fisherCoords,
    piFloor,
    ...(damping > 0 ? { damping } : {}),
    ...(precondition ? { precondition } : {}),
    optimizer,
    ...(freeze === undefined ? {} : { freeze }),
    schedule,
    batchSize,
    ...(epochs === undefined ? {} : { epochs }),
    ...(steps === undefined ? {} : { steps }),
    seed,
    ...(splitSeed === undefined ? {} : { splitSeed }),
    ...(ensembleMembers === undefined ? {} : { ensemble: ensembleMembers }),
    shuffle,
    validationSplit,
    ...(evalEvery === undefined ? {} : { evalEvery }),
    evalTrain,
    ...(earlyStopping ? { earlyStopping } : {}),
    keep,
    nonFinite,
    maxSkippedFraction,
    backend,
    ...(metricsFile === undefined ? {} : { metricsFile }),
    logEvery,
    ...(checkpoint ? { checkpoint } : {}),
    noise,
  };
  if (freeze !== undefined) {
    if (optimizer.type === "soap")
      throw new ConfigError("freeze", "not supported with SOAP (its preconditioners span every parameter); use sgd, adam or rmsprop");
    frozenParams(resolved);
  }
  if (data) {
    const spec = specFor(resolved, data);
    const params = paramCount(spec);
    if (params > MAX_PARAMS) {
      throw new ConfigError(
        m.kind === "mdn" ? "model" : "model.k",
        `the model would have ${params.toExponential(2)} parameters (k = ${k}${m.kind === "mdn" ? `, hidden = [${hidden.join(", ")}]` : ""}, ${data.xDim} inputs, ${data.yDim} targets); the limit is ${MAX_PARAMS.toExponential(0)}`,
      );
    }
    splitSizes(validationSplit, data.n);
    if (noise.x > 0 && data.xDim === 0) throw new ConfigError("noise.x", `noise on x needs inputs, but the data has none (xDim = 0); use noise.y`);
  }
  return resolved;
}

/**
 * Validation and training rows of a split of `n` rows (validation = round(n * split)).
 * Throws {@link ConfigError} when either would be empty.
 */
export function splitSizes(validationSplit: number, n: number): { nVal: number; nTrain: number } {
  if (validationSplit === 0) return { nVal: 0, nTrain: n };
  const nVal = Math.round(n * validationSplit);
  if (nVal < 1 || nVal >= n) {
    throw new ConfigError(
      "validationSplit",
      `${validationSplit} of ${n} rows leaves ${nVal} validation and ${n - nVal} training rows; both must be >= 1 (use a ${nVal < 1 ? "larger split, more rows" : "smaller split"} or 0 for no validation)`,
    );
  }
  return { nVal, nTrain: n - nVal };
}

/** The head options of a resolved config (core's ScaleOptions, every field set). */
export function headOf(config: Pick<ResolvedConfig, "model">): Required<ScaleOptions> {
  const m = config.model;
  return { scale: m.scale ?? "exp", sigmaMin: m.sigmaMin ?? 0, covariance: m.covariance ?? "diag" };
}

/**
 * The parameter names {@link TrainConfig.freeze} freezes for this config's model
 * (in canonical order), or undefined when nothing is frozen. Throws a
 * {@link ConfigError} naming `freeze` (or `freeze[i]`) when it matches nothing,
 * or would leave nothing to train.
 */
export function frozenParams(config: ResolvedConfig): string[] | undefined {
  const freeze = config.freeze;
  if (freeze === undefined) return undefined;
  // names do not depend on the data's dimensions
  const names = paramShapes(specFor(config, { xDim: 1, yDim: 1 })).map(([name]) => name);
  let frozen: string[];
  if (freeze === "trunk") {
    frozen = names.filter((n) => /^(trunk|logits_trunk|gauss_trunk)\./.test(n));
    if (!frozen.length) {
      throw new ConfigError(
        "freeze",
        config.model.kind === "gmm" ? '"trunk" needs an MDN (a GMM has no trunk)' : '"trunk": this MDN has no trunk layers (model.hidden is empty)',
      );
    }
  } else {
    const hit = new Set<string>();
    freeze.forEach((entry, i) => {
      const matched = names.filter((n) => n === entry || n.startsWith(`${entry}.`));
      if (!matched.length) throw new ConfigError(`freeze[${i}]`, `${showValue(entry)} matches no parameter of this model (parameters: ${names.join(", ")})`);
      for (const n of matched) hit.add(n);
    });
    frozen = names.filter((n) => hit.has(n));
  }
  if (frozen.length === names.length) throw new ConfigError("freeze", "freezes every parameter; nothing would train");
  return frozen;
}

/** The core ModelSpec of a resolved config for `data` (D = yDim, inputDim = xDim). */
export function specFor(config: ResolvedConfig, data: Pick<TrainData, "xDim" | "yDim">): ModelSpec {
  // The head is set only when it is not the default, so default specs stay
  // exactly what every backend (and version-1 checkpoints) know.
  const head = headOf(config);
  const h = isDefaultScale(head) ? {} : { head };
  if (config.model.kind === "gmm") return { kind: "gmm", k: config.model.k, d: data.yDim, ...h };
  if (data.xDim < 1)
    throw new ConfigError("model.kind", `an MDN needs inputs (data.xDim >= 1), got xDim = ${data.xDim}; use { kind: "gmm" } for unconditional data`);
  return {
    kind: "mdn",
    inputDim: data.xDim,
    hidden: config.model.hidden,
    activation: config.model.activation,
    layerNorm: config.model.layerNorm,
    k: config.model.k,
    d: data.yDim,
    ...h,
    // set only when separate, so shared specs stay byte for byte what they were
    ...(config.model.trunk === "separate" ? { trunk: "separate" as const } : {}),
  };
}
