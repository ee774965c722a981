/**
 * `--config file.json`: a training config validated with zod. Unknown keys are
 * errors (a typo must not be ignored silently); every problem names the path
 * of the bad field. Command-line flags override the file.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UsageError } from "./errors.js";

const positive = z.number().positive();
const int1 = z.number().int().min(1);

const optimizer = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("sgd"),
      lr: positive,
      momentum: z.number().min(0).max(1).optional(),
      nesterov: z.boolean().optional(),
      clipNorm: positive.optional(),
      weightDecay: z.number().min(0).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal("adam"),
      lr: positive,
      beta1: z.number().min(0).lt(1).optional(),
      beta2: z.number().min(0).lt(1).optional(),
      eps: positive.optional(),
      clipNorm: positive.optional(),
      weightDecay: z.number().min(0).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal("rmsprop"),
      lr: positive,
      alpha: z.number().min(0).lt(1).optional(),
      eps: positive.optional(),
      momentum: z.number().min(0).max(1).optional(),
      clipNorm: positive.optional(),
      weightDecay: z.number().min(0).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal("soap"),
      lr: positive,
      beta1: z.number().min(0).lt(1).optional(),
      beta2: z.number().min(0).lt(1).optional(),
      eps: positive.optional(),
      precondFrequency: int1.optional(),
      maxPrecondDim: int1.optional(),
      clipNorm: positive.optional(),
      weightDecay: z.number().min(0).optional(),
    })
    .strict(),
]);

export const configFileSchema = z
  .object({
    model: z
      .object({
        kind: z.enum(["mdn", "gmm"]).optional(),
        k: int1.optional(),
        hidden: z.array(int1).optional(),
        activation: z.enum(["gelu", "tanh", "relu"]).optional(),
        layerNorm: z.boolean().optional(),
        trunk: z.enum(["shared", "separate"]).optional(),
        scale: z.enum(["exp", "softplus", "elu+1"]).optional(),
        sigmaMin: z.number().min(0).optional(),
        covariance: z.enum(["diag", "isotropic", "shared"]).optional(),
      })
      .strict()
      .optional(),
    objective: z.enum(["nll", "em", "ngem", "ngem-full"]).optional(),
    fisherCoords: z.enum(["log-sigma", "sigma"]).optional(),
    piFloor: z.number().gt(0).max(1).optional(),
    damping: z.number().min(0).finite().optional(),
    precondition: z.array(z.enum(["logits", "mu", "scale"])).optional(),
    optimizer: optimizer.optional(),
    schedule: z
      .object({
        type: z.enum(["constant", "cosine", "linear"]),
        warmupSteps: z.number().int().min(0).optional(),
        minLrFactor: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    batchSize: int1.optional(),
    epochs: int1.optional(),
    steps: int1.optional(),
    seed: z.number().int().optional(),
    validationSplit: z.number().min(0).lt(1).optional(),
    evalEvery: int1.optional(),
    earlyStopping: z
      .object({ patience: int1, minDelta: z.number().min(0).optional(), restoreBest: z.boolean().optional() })
      .strict()
      .optional(),
    keep: z.enum(["best", "last"]).optional(),
    nonFinite: z.enum(["stop", "skip"]).optional(),
    backend: z.string().optional(),
    checkpointEvery: int1.optional(),
    logEvery: int1.optional(),
    maxSkippedFraction: z.number().min(0).max(1).optional(),
    noise: z
      .object({ x: z.number().min(0).optional(), y: z.number().min(0).optional(), schedule: z.enum(["constant", "rule-of-thumb"]).optional() })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;

/** The JSON Schema (draft 2020-12) of --config files. */
export function configJsonSchema(): Record<string, unknown> {
  return { title: "ngem train --config file", ...z.toJSONSchema(configFileSchema) } as Record<string, unknown>;
}

/** Reads and validates a config file; errors name the file and the field path. */
export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`--config: cannot read "${path}"`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config ${path}: not valid JSON (${(err as Error).message})`);
  }
  const r = configFileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join(".") : "(root)";
    throw new UsageError(`--config ${path}: ${where}: ${issue.message}`);
  }
  return r.data;
}
