/**
 * The one schema of {@link TrainConfig} (zod): structure, types, ranges,
 * enums (core's constants) and unknown keys. {@link validateConfig} parses
 * with it before its cross-field rules and defaults; the CLI's `--config`
 * file schema is derived from it ({@link configFileSchema}) and `ngem config
 * --schema` prints that as JSON Schema. Messages come from
 * {@link configIssueMessage} (and the number/string helpers below): they say
 * what was expected and what was given, and an unknown key gets a
 * did-you-mean.
 */
import { ACTIVATIONS, COVARIANCES, PRECONDITION_BLOCKS, SCALE_PARAMS, TRUNKS, VARIANTS } from "@ngem/core";
import { z } from "zod";

/** Values of {@link NoiseConfig.schedule}. */
export const NOISE_SCHEDULES = ["constant", "rule-of-thumb"] as const;
/** Values of {@link ScheduleConfig.type}. */
export const LR_SCHEDULES = ["constant", "cosine", "linear"] as const;
/** Values of {@link OptimizerConfig.type} (core's backend optimizers and the trainer's SOAP). */
export const OPTIMIZERS = ["sgd", "adam", "rmsprop", "soap"] as const;
/** Values of {@link TrainConfig.fisherCoords}. */
export const FISHER_COORDS = ["log-sigma", "sigma"] as const;

/** A value as an error message shows it (strings quoted, long JSON cut). */
export function showValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || typeof v !== "object") return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const alternatives = (values: readonly unknown[]) => values.map((v) => showValue(v)).join(" | ");

/** An integer >= `min` (JSON Schema: integer, minimum). */
function intMin(min: number) {
  return z
    .number({ error: (iss) => `expected an integer >= ${min}, got ${showValue(iss.input)}` })
    .int()
    .min(min);
}

/** A finite number in [lo, hi] (an open end with `loOpen` / `hiOpen`; hi = Infinity: no upper bound). */
function numIn(lo: number, hi: number, loOpen = false, hiOpen = false) {
  const range = `${loOpen ? "(" : "["}${lo}, ${hi}${hiOpen ? ")" : "]"}`;
  const n = z.number({ error: (iss) => `expected a number in ${range}, got ${showValue(iss.input)}` });
  const low = loOpen ? n.gt(lo) : n.gte(lo);
  return hi === Infinity ? low : hiOpen ? low.lt(hi) : low.lte(hi);
}

const nonEmptyString = () => z.string({ error: (iss) => `expected a non-empty string, got ${showValue(iss.input)}` }).min(1);

const positive = () => numIn(0, Infinity, true, true);
const nonNegative = () => numIn(0, Infinity, false, true);
const unitOpen = () => numIn(0, 1, false, true);

// Field order of each optimizer is the order the CLI's config files always
// had: the parsed file's optimizer is stored as given, so run.json keeps its bytes.
const common = { clipNorm: positive().optional(), weightDecay: nonNegative().optional() };
const optimizerSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("sgd"), lr: positive(), momentum: unitOpen().optional(), nesterov: z.boolean().optional(), ...common }),
  z.strictObject({
    type: z.literal("adam"),
    lr: positive(),
    beta1: unitOpen().optional(),
    beta2: unitOpen().optional(),
    eps: positive().optional(),
    ...common,
  }),
  z.strictObject({
    type: z.literal("rmsprop"),
    lr: positive(),
    alpha: unitOpen().optional(),
    eps: positive().optional(),
    momentum: unitOpen().optional(),
    ...common,
  }),
  z.strictObject({
    type: z.literal("soap"),
    lr: positive(),
    beta1: unitOpen().optional(),
    beta2: unitOpen().optional(),
    eps: positive().optional(),
    precondFrequency: intMin(1).optional(),
    maxPrecondDim: intMin(1).optional(),
    ...common,
  }),
]);

/** {@link ModelConfig}: one object for both kinds (a GMM's resolved config carries hidden: [], so it must parse). */
export const modelSchema = z.strictObject({
  kind: z.enum(["gmm", "mdn"]),
  k: intMin(1),
  hidden: z.array(intMin(1)).optional(),
  activation: z.enum(ACTIVATIONS).optional(),
  layerNorm: z.boolean().optional(),
  trunk: z.enum(TRUNKS).optional(),
  scale: z.enum(SCALE_PARAMS).optional(),
  sigmaMin: nonNegative().optional(),
  covariance: z.enum(COVARIANCES).optional(),
});

/**
 * Every field of {@link TrainConfig}, its type and range. Cross-field rules
 * (epochs xor steps, what needs a validation split, trunk "separate" needs an
 * MDN, the model size and the split's fit to the data) and the defaults are
 * {@link validateConfig}'s, after this parse.
 */
export const trainConfigSchema = z.strictObject({
  model: modelSchema,
  objective: z.enum(VARIANTS).optional(),
  fisherCoords: z.enum(FISHER_COORDS).optional(),
  piFloor: numIn(0, 1, true).optional(),
  damping: nonNegative().optional(),
  precondition: z
    .array(z.enum(PRECONDITION_BLOCKS))
    .refine((blocks) => new Set(blocks).size === blocks.length, { error: (iss) => `expected distinct blocks, got ${showValue(iss.input)}` })
    .optional(),
  optimizer: optimizerSchema.optional(),
  freeze: z
    .union([z.literal("trunk"), z.array(nonEmptyString()).min(1)], {
      error: (iss) => `expected "trunk" or a non-empty array of parameter names / prefixes, got ${showValue(iss.input)}`,
    })
    .optional(),
  schedule: z.strictObject({ type: z.enum(LR_SCHEDULES), warmupSteps: intMin(0).optional(), minLrFactor: numIn(0, 1).optional() }).optional(),
  batchSize: intMin(1).optional(),
  epochs: intMin(1).optional(),
  steps: intMin(1).optional(),
  seed: intMin(0).optional(),
  shuffle: z.boolean().optional(),
  validationSplit: unitOpen().optional(),
  splitSeed: intMin(0).optional(),
  evalEvery: intMin(1).optional(),
  evalTrain: z.boolean().optional(),
  earlyStopping: z.strictObject({ patience: intMin(1), minDelta: nonNegative().optional(), restoreBest: z.boolean().optional() }).optional(),
  keep: z.enum(["best", "last"]).optional(),
  ensemble: intMin(1).optional(),
  nonFinite: z.enum(["stop", "skip"]).optional(),
  maxSkippedFraction: numIn(0, 1).optional(),
  backend: nonEmptyString().optional(),
  metricsFile: nonEmptyString().optional(),
  logEvery: intMin(1).optional(),
  checkpoint: z.strictObject({ path: nonEmptyString(), every: intMin(1).optional(), atEnd: z.boolean().optional() }).optional(),
  noise: z.strictObject({ x: nonNegative().optional(), y: nonNegative().optional(), schedule: z.enum(NOISE_SCHEDULES).optional() }).optional(),
});

/**
 * A `ngem train --config` file: the {@link trainConfigSchema} without the
 * library-only fields (file locations, shuffle, the split seed, ensemble,
 * evalTrain), every model field optional (the CLI fills them), plus the
 * CLI's `checkpointEvery`.
 */
export const configFileSchema = trainConfigSchema
  .omit({ metricsFile: true, checkpoint: true, shuffle: true, splitSeed: true, ensemble: true, evalTrain: true })
  .extend({ model: modelSchema.partial().optional(), checkpointEvery: intMin(1).optional() });

/** A parsed `--config` file. */
export type ConfigFile = z.output<typeof configFileSchema>;

/** The JSON Schema (draft 2020-12) of `--config` files, from {@link configFileSchema}. */
export function configFileJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(configFileSchema) };
}

/** Closest of `allowed` to a mistyped `key`: same first three letters, else at most two edits away. */
export function didYouMean(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const prefix = allowed.find((a) => a.toLowerCase().startsWith(lower.slice(0, 3)));
  if (prefix !== undefined) return prefix;
  let best: string | undefined;
  let bestD = 3;
  for (const a of allowed) {
    const d = editDistance(lower, a.toLowerCase());
    if (d < bestD) [best, bestD] = [a, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** An object schema's keys as a hint: `{ kind, k, hidden?, ... }`. */
function fieldsHint(shape: Record<string, z.core.$ZodType>): string {
  return `{ ${Object.entries(shape)
    .map(([key, s]) => `${key}${s._zod.optin === "optional" ? "?" : ""}`)
    .join(", ")} }`;
}

/**
 * The message of a config issue (zod's per-parse error map). Numbers and
 * strings carry their own messages (the helpers above); this covers enums,
 * objects, arrays, booleans, unknown keys and the optimizer's `type`.
 */
export const configIssueMessage: z.core.$ZodErrorMap = (iss) => {
  const inst = iss.inst;
  switch (iss.code) {
    case "unrecognized_keys": {
      const key = iss.keys[0] ?? "";
      const allowed = inst instanceof z.ZodObject ? Object.keys(inst.shape) : [];
      const near = didYouMean(key, allowed);
      return `unknown field${near ? ` (did you mean "${near}"?)` : ""}; expected one of ${allowed.join(", ")}`;
    }
    case "invalid_value":
      return `expected ${alternatives(iss.values)}, got ${showValue(iss.input)}`;
    case "invalid_union":
      if (iss.note === "No matching discriminator" && iss.discriminator !== undefined) {
        const input = iss.input;
        const given = input !== null && typeof input === "object" ? (input as Record<string, unknown>)[iss.discriminator] : undefined;
        return `expected ${alternatives(Array.isArray(iss.options) ? iss.options : [])}, got ${showValue(given)}`;
      }
      return undefined;
    case "invalid_type": {
      const got = showValue(iss.input);
      if (inst instanceof z.ZodObject) return `expected an object ${fieldsHint(inst.shape)}, got ${got}`;
      if (inst instanceof z.ZodDiscriminatedUnion) return `expected an object like { type: "adam", lr: 1e-3 }, got ${got}`;
      if (iss.expected === "array") return `expected an array, got ${got}`;
      if (iss.expected === "boolean") return `expected a boolean, got ${got}`;
      return `expected ${iss.expected}, got ${got}`;
    }
    default:
      return undefined;
  }
};

/** Dotted path of an issue: `model.hidden[1]`; an unknown key is named itself (`model.hiden`). */
export function issueField(issue: z.core.$ZodIssue): string {
  const path = issue.code === "unrecognized_keys" && issue.keys[0] !== undefined ? [...issue.path, issue.keys[0]] : issue.path;
  let field = "";
  for (const p of path) field += typeof p === "number" ? `[${p}]` : field ? `.${String(p)}` : String(p);
  return field || "(root)";
}

/** The issue to report: an unknown key first (a typo explains the rest), else the first. */
export function firstIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue | undefined {
  return issues.find((i) => i.code === "unrecognized_keys") ?? issues[0];
}
