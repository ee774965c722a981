/**
 * Validation and defaults of {@link TrainConfig}. Every error names the field
 * at fault and what was expected.
 */
import {
  ACTIVATIONS,
  COVARIANCES,
  DEFAULT_PI_FLOOR,
  isDefaultScale,
  NgemError,
  paramCount,
  PRECONDITION_BLOCKS,
  SCALE_PARAMS,
  TRUNKS,
  VARIANTS,
  type Covariance,
  type FisherCoords,
  type MdnTrunk,
  type ModelSpec,
  type PreconditionBlock,
  type ScaleOptions,
  type ScaleParam,
  type Variant,
} from "@ngem/core";
import type { EarlyStoppingConfig, ModelConfig, NoiseConfig, OptimizerConfig, ScheduleConfig, TrainConfig, TrainData } from "./types.js";

/** A configuration field is missing or out of range. */
export class ConfigError extends NgemError {
  override readonly name = "ConfigError";
  constructor(
    /** Dotted path of the field, e.g. `"optimizer.lr"`. */
    readonly field: string,
    message: string,
  ) {
    super(`config.${field}: ${message}`);
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

export const NOISE_SCHEDULES = ["constant", "rule-of-thumb"] as const;
/** Noise regularisation off. */
export const NO_NOISE: Required<NoiseConfig> = Object.freeze({ x: 0, y: 0, schedule: "constant" });
/** The default head options as a resolved config stores them. */
export const DEFAULT_HEAD = Object.freeze({ scale: "exp", sigmaMin: 0, covariance: "diag" } as const);

const OPT_TYPES = ["sgd", "adam", "rmsprop", "soap"] as const;

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
/** Rejects keys of `obj` that are not in `allowed` (a typo must never be ignored silently). */
function onlyKeys(field: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      const near = allowed.find((a) => a.toLowerCase().startsWith(key.toLowerCase().slice(0, 3)));
      throw new ConfigError(field ? `${field}.${key}` : key, `unknown field${near ? ` (did you mean "${near}"?)` : ""}; expected one of ${allowed.join(", ")}`);
    }
  }
}

/** Every field of {@link TrainConfig}. */
export const TRAIN_CONFIG_KEYS = [
  "model",
  "objective",
  "fisherCoords",
  "piFloor",
  "damping",
  "precondition",
  "optimizer",
  "schedule",
  "batchSize",
  "epochs",
  "steps",
  "seed",
  "shuffle",
  "validationSplit",
  "splitSeed",
  "evalEvery",
  "evalTrain",
  "earlyStopping",
  "keep",
  "ensemble",
  "nonFinite",
  "maxSkippedFraction",
  "backend",
  "metricsFile",
  "logEvery",
  "checkpoint",
  "noise",
] as const;
const MODEL_KEYS = ["kind", "k", "hidden", "activation", "layerNorm", "trunk", "scale", "sigmaMin", "covariance"] as const;
const OPTIMIZER_KEYS: Record<string, readonly string[]> = {
  sgd: ["type", "lr", "clipNorm", "weightDecay", "momentum", "nesterov"],
  adam: ["type", "lr", "clipNorm", "weightDecay", "beta1", "beta2", "eps"],
  rmsprop: ["type", "lr", "clipNorm", "weightDecay", "alpha", "eps", "momentum"],
  soap: ["type", "lr", "clipNorm", "weightDecay", "beta1", "beta2", "eps", "precondFrequency", "maxPrecondDim"],
};
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

function int(field: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new ConfigError(field, `expected an integer >= ${min}, got ${String(v)}`);
  return v;
}
function num(field: string, v: unknown, lo: number, hi: number, loOpen = false, hiOpen = false): number {
  const ok = typeof v === "number" && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) throw new ConfigError(field, `expected a number in ${loOpen ? "(" : "["}${lo}, ${hi}${hiOpen ? ")" : "]"}, got ${String(v)}`);
  return v as number;
}
function optNum(field: string, v: unknown, lo: number, hi: number, loOpen = false, hiOpen = false): void {
  if (v !== undefined) num(field, v, lo, hi, loOpen, hiOpen);
}
function bool(field: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new ConfigError(field, `expected a boolean, got ${String(v)}`);
  return v;
}
function str(field: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) throw new ConfigError(field, `expected a non-empty string, got ${String(v)}`);
  return v;
}

function resolveOptimizer(o: unknown): OptimizerConfig {
  if (o === undefined) return { type: "adam", lr: 1e-3 };
  if (!isObj(o)) throw new ConfigError("optimizer", 'expected an object like { type: "adam", lr: 1e-3 }');
  if (!OPT_TYPES.includes(o.type as (typeof OPT_TYPES)[number])) {
    throw new ConfigError("optimizer.type", `expected one of ${OPT_TYPES.join(" | ")}, got ${String(o.type)}`);
  }
  onlyKeys("optimizer", o, OPTIMIZER_KEYS[o.type as string] ?? []);
  num("optimizer.lr", o.lr, 0, Infinity, true, true);
  if (o.clipNorm !== undefined) num("optimizer.clipNorm", o.clipNorm, 0, Infinity, true, true);
  optNum("optimizer.weightDecay", o.weightDecay, 0, Infinity, false, true);
  optNum("optimizer.momentum", o.momentum, 0, 1, false, true);
  optNum("optimizer.beta1", o.beta1, 0, 1, false, true);
  optNum("optimizer.beta2", o.beta2, 0, 1, false, true);
  optNum("optimizer.alpha", o.alpha, 0, 1, false, true);
  optNum("optimizer.eps", o.eps, 0, Infinity, true, true);
  if (o.nesterov !== undefined) bool("optimizer.nesterov", o.nesterov, false);
  if (o.precondFrequency !== undefined) int("optimizer.precondFrequency", o.precondFrequency, 1);
  if (o.maxPrecondDim !== undefined) int("optimizer.maxPrecondDim", o.maxPrecondDim, 1);
  return { ...(o as OptimizerConfig) };
}

/**
 * Validates `config` (and, when given, its fit to `data`) and fills defaults.
 * Throws {@link ConfigError} naming the bad field.
 */
export function validateConfig(config: TrainConfig, data?: TrainData): ResolvedConfig {
  if (!isObj(config)) throw new ConfigError("(root)", "expected a TrainConfig object");
  const c = config as unknown as Record<string, unknown>;
  onlyKeys("", c, TRAIN_CONFIG_KEYS);
  const m = c.model;
  if (!isObj(m)) throw new ConfigError("model", 'expected { kind: "gmm" | "mdn", k, ... }');
  onlyKeys("model", m, MODEL_KEYS);
  if (m.kind !== "gmm" && m.kind !== "mdn") throw new ConfigError("model.kind", `expected "gmm" | "mdn", got ${String(m.kind)}`);
  const k = int("model.k", m.k, 1);
  let hidden: number[] = [];
  let activation: "gelu" | "tanh" | "relu" = "gelu";
  let layerNorm = false;
  if (m.kind === "mdn") {
    const h = m.hidden ?? [128, 128];
    if (!Array.isArray(h)) throw new ConfigError("model.hidden", `expected an array of layer widths, got ${String(h)}`);
    hidden = h.map((w: unknown, i: number) => int(`model.hidden[${i}]`, w, 1));
    activation = (m.activation ?? "gelu") as typeof activation;
    if (!ACTIVATIONS.includes(activation)) throw new ConfigError("model.activation", `expected one of ${ACTIVATIONS.join(" | ")}, got ${String(m.activation)}`);
    layerNorm = bool("model.layerNorm", m.layerNorm, true);
  }
  const trunk = (m.trunk ?? "shared") as MdnTrunk;
  if (!TRUNKS.includes(trunk)) throw new ConfigError("model.trunk", `expected one of ${TRUNKS.join(" | ")}, got ${JSON.stringify(m.trunk)}`);
  if (trunk === "separate" && m.kind !== "mdn") throw new ConfigError("model.trunk", 'only an MDN has a trunk: "separate" needs kind "mdn"');
  const scale = (m.scale ?? "exp") as ScaleParam;
  if (!SCALE_PARAMS.includes(scale)) throw new ConfigError("model.scale", `expected one of ${SCALE_PARAMS.join(" | ")}, got ${JSON.stringify(m.scale)}`);
  const sigmaMin = m.sigmaMin === undefined ? 0 : num("model.sigmaMin", m.sigmaMin, 0, Infinity, false, true);
  const covariance = (m.covariance ?? "diag") as Covariance;
  if (!COVARIANCES.includes(covariance)) {
    throw new ConfigError("model.covariance", `expected one of ${COVARIANCES.join(" | ")}, got ${JSON.stringify(m.covariance)}`);
  }
  const objective = (c.objective ?? "ngem") as Variant;
  if (!VARIANTS.includes(objective)) throw new ConfigError("objective", `expected one of ${VARIANTS.join(" | ")}, got ${String(c.objective)}`);
  const fisherCoords = (c.fisherCoords ?? "log-sigma") as FisherCoords;
  if (fisherCoords !== "log-sigma" && fisherCoords !== "sigma")
    throw new ConfigError("fisherCoords", `expected "log-sigma" | "sigma", got ${String(c.fisherCoords)}`);
  const piFloor = c.piFloor === undefined ? DEFAULT_PI_FLOOR : num("piFloor", c.piFloor, 0, 1, true);
  const damping = c.damping === undefined ? 0 : num("damping", c.damping, 0, Infinity, false, true);
  let precondition: readonly PreconditionBlock[] | undefined;
  if (c.precondition !== undefined) {
    const pre = c.precondition as unknown;
    if (!Array.isArray(pre) || pre.some((b) => !PRECONDITION_BLOCKS.includes(b)) || new Set(pre).size !== pre.length) {
      throw new ConfigError("precondition", `expected distinct blocks of ${PRECONDITION_BLOCKS.map((b) => `"${b}"`).join(" | ")}, got ${JSON.stringify(pre)}`);
    }
    if (pre.length < PRECONDITION_BLOCKS.length) precondition = PRECONDITION_BLOCKS.filter((b) => pre.includes(b));
  }
  const optimizer = resolveOptimizer(c.optimizer);

  const s = c.schedule ?? { type: "constant" };
  if (!isObj(s)) throw new ConfigError("schedule", 'expected { type: "constant" | "cosine" | "linear", warmupSteps?, minLrFactor? }');
  onlyKeys("schedule", s, ["type", "warmupSteps", "minLrFactor"]);
  if (s.type !== "constant" && s.type !== "cosine" && s.type !== "linear") {
    throw new ConfigError("schedule.type", `expected "constant" | "cosine" | "linear", got ${String(s.type)}`);
  }
  const schedule: Required<ScheduleConfig> = {
    type: s.type,
    warmupSteps: s.warmupSteps === undefined ? 0 : int("schedule.warmupSteps", s.warmupSteps, 0),
    minLrFactor: s.minLrFactor === undefined ? 0 : num("schedule.minLrFactor", s.minLrFactor, 0, 1),
  };

  const batchSize = c.batchSize === undefined ? 32 : int("batchSize", c.batchSize, 1);
  if (c.epochs !== undefined && c.steps !== undefined) throw new ConfigError("steps", "set either epochs or steps, not both");
  const steps = c.steps === undefined ? undefined : int("steps", c.steps, 1);
  const epochs = steps !== undefined ? undefined : c.epochs === undefined ? DEFAULT_EPOCHS : int("epochs", c.epochs, 1);
  const seed = c.seed === undefined ? 0 : int("seed", c.seed, 0);
  const splitSeed = c.splitSeed === undefined ? undefined : int("splitSeed", c.splitSeed, 0);
  const ensembleMembers = c.ensemble === undefined ? undefined : int("ensemble", c.ensemble, 1);
  const shuffle = bool("shuffle", c.shuffle, true);
  const validationSplit = c.validationSplit === undefined ? 0 : num("validationSplit", c.validationSplit, 0, 1, false, true);
  const evalEvery = c.evalEvery === undefined ? undefined : int("evalEvery", c.evalEvery, 1);
  const evalTrain = bool("evalTrain", c.evalTrain, false);
  let earlyStopping: Required<EarlyStoppingConfig> | undefined;
  if (c.earlyStopping !== undefined) {
    const e = c.earlyStopping;
    if (!isObj(e)) throw new ConfigError("earlyStopping", "expected { patience, minDelta?, restoreBest? }");
    onlyKeys("earlyStopping", e, ["patience", "minDelta", "restoreBest"]);
    earlyStopping = {
      patience: int("earlyStopping.patience", e.patience, 1),
      minDelta: e.minDelta === undefined ? 0 : num("earlyStopping.minDelta", e.minDelta, 0, Infinity, false, true),
      restoreBest: bool("earlyStopping.restoreBest", e.restoreBest, true),
    };
    if (validationSplit === 0) throw new ConfigError("earlyStopping", "needs a validation set: set validationSplit > 0");
  }
  const maxSkippedFraction = c.maxSkippedFraction === undefined ? DEFAULT_MAX_SKIPPED_FRACTION : num("maxSkippedFraction", c.maxSkippedFraction, 0, 1);
  if (c.keep !== undefined && c.keep !== "best" && c.keep !== "last") throw new ConfigError("keep", `expected "best" | "last", got ${JSON.stringify(c.keep)}`);
  if (c.keep === "best" && validationSplit === 0) throw new ConfigError("keep", '"best" needs a validation set: set validationSplit > 0 (or keep: "last")');
  const keep: "best" | "last" =
    (c.keep as "best" | "last" | undefined) ??
    (validationSplit > 0 && earlyStopping?.restoreBest !== false && (earlyStopping !== undefined || c.earlyStopping === undefined) ? "best" : "last");
  const nonFinite = c.nonFinite ?? "stop";
  if (nonFinite !== "stop" && nonFinite !== "skip") throw new ConfigError("nonFinite", `expected "stop" | "skip", got ${String(c.nonFinite)}`);
  const backend = c.backend === undefined ? "js" : str("backend", c.backend);
  const metricsFile = c.metricsFile === undefined ? undefined : str("metricsFile", c.metricsFile);
  const logEvery = c.logEvery === undefined ? 1 : int("logEvery", c.logEvery, 1);
  let checkpoint: ResolvedConfig["checkpoint"];
  if (c.checkpoint !== undefined) {
    const ck = c.checkpoint;
    if (!isObj(ck)) throw new ConfigError("checkpoint", "expected { path, every?, atEnd? }");
    onlyKeys("checkpoint", ck, ["path", "every", "atEnd"]);
    checkpoint = {
      path: str("checkpoint.path", ck.path),
      ...(ck.every === undefined ? {} : { every: int("checkpoint.every", ck.every, 1) }),
      atEnd: bool("checkpoint.atEnd", ck.atEnd, true),
    };
  }
  const noise = resolveNoise(c.noise);
  const resolved: ResolvedConfig = {
    model: { kind: m.kind, k, hidden, activation, layerNorm, ...(trunk === "separate" ? { trunk } : {}), scale, sigmaMin, covariance },
    objective,
    fisherCoords,
    piFloor,
    ...(damping > 0 ? { damping } : {}),
    ...(precondition ? { precondition } : {}),
    optimizer,
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

function resolveNoise(v: unknown): Required<NoiseConfig> {
  if (v === undefined) return { ...NO_NOISE };
  if (!isObj(v)) throw new ConfigError("noise", `expected { x?, y?, schedule? } (noise stds), got ${JSON.stringify(v)}`);
  for (const key of Object.keys(v)) {
    if (key !== "x" && key !== "y" && key !== "schedule") throw new ConfigError(`noise.${key}`, 'unknown field; expected "x", "y" or "schedule"');
  }
  const x = v.x === undefined ? 0 : num("noise.x", v.x, 0, Infinity, false, true);
  const y = v.y === undefined ? 0 : num("noise.y", v.y, 0, Infinity, false, true);
  const schedule = (v.schedule ?? "constant") as Required<NoiseConfig>["schedule"];
  if (!NOISE_SCHEDULES.includes(schedule))
    throw new ConfigError("noise.schedule", `expected one of ${NOISE_SCHEDULES.join(" | ")}, got ${JSON.stringify(v.schedule)}`);
  return { x, y, schedule };
}

/** The head options of a resolved config (core's ScaleOptions, every field set). */
export function headOf(config: Pick<ResolvedConfig, "model">): Required<ScaleOptions> {
  const m = config.model;
  return { scale: m.scale ?? "exp", sigmaMin: m.sigmaMin ?? 0, covariance: m.covariance ?? "diag" };
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
