/**
 * Checkpoints: one safetensors file (see safetensors.ts and the README's
 * "Checkpoint format") holding
 * - tensors: the weights under their canonical names (`head.weight`, ...),
 *   the optimizer state as `optim/<name>` (`optim/step`, `optim/head.weight/m`, ...),
 *   the current epoch's row order as `trainer/perm`, and, with early stopping,
 *   the best weights as `best/<name>`;
 * - `__metadata__` (strings): `format` = "ngem-checkpoint", `version` = "2",
 *   `config` (the resolved config, JSON), `spec` (the core ModelSpec, JSON),
 *   `head` (the resolved head options, JSON), `noise` (the resolved noise
 *   config, JSON), `backend`, `trainer` (JSON: step, epoch, batchInEpoch,
 *   rng and noiseRng states, early-stopping counters, floor-hit counters,
 *   data fingerprint, finished) and `normalization` (JSON of number arrays, or "null").
 * Written atomically through {@link TrainerIO.writeFileAtomic}.
 *
 * Versions this reader accepts: "1" (no head, no noise: read as the default
 * head exp / 0 / diag, noise off, floor counters 0, noise stream at its
 * initial state), "2", and "3" (as "2", for an MDN with `trunk: "separate"`:
 * `logits_trunk.*`, `logits_head.*`, `gauss_trunk.*`, `gauss_head.*` tensors).
 * The writer writes {@link CHECKPOINT_VERSION} ("2") for every model except a
 * separate-trunk MDN, which gets {@link CHECKPOINT_VERSION_SEPARATE_TRUNK} ("3"),
 * so readers that predate the trunk option refuse it instead of misreading it.
 */
import {
  getBackend,
  Rng,
  resolveScaleOptions,
  validateSpec,
  type BackendModel,
  type ModelSpec,
  type NamedTensors,
  type RngState,
  type ScaleOptions,
} from "@ngem/core";
import { EnsembleBackendModel } from "./ensemble.js";
import { ConfigError, DEFAULT_HEAD, DEFAULT_MAX_SKIPPED_FRACTION, headOf, NO_NOISE, type ResolvedConfig, validateConfig } from "./config.js";
import { initialNoiseRng } from "./noise.js";
import { defaultIO, type TrainerIO } from "./io.js";
import { makeSoap, TrainedModel, type StreamPosition, type TrainerState } from "./model-handle.js";
import { CheckpointFormatError, decodeSafetensors, encodeSafetensors } from "./safetensors.js";
import type { Normalization } from "./types.js";

export const CHECKPOINT_FORMAT = "ngem-checkpoint";
/** The version this package writes (every model but a separate-trunk MDN). */
export const CHECKPOINT_VERSION = "2";
/** The version written for an MDN with `trunk: "separate"`. */
export const CHECKPOINT_VERSION_SEPARATE_TRUNK = "3";
/** Every version this package reads (oldest first). */
export const CHECKPOINT_READABLE_VERSIONS: readonly string[] = ["1", "2", "3"];

/** The version {@link encodeCheckpoint} writes for a model config. */
export function checkpointVersionFor(config: Pick<ResolvedConfig, "model">): string {
  return config.model.trunk === "separate" ? CHECKPOINT_VERSION_SEPARATE_TRUNK : CHECKPOINT_VERSION;
}

type NormJson = { x?: { mean: number[]; std: number[] }; y?: { mean: number[]; std: number[] } } | null;

function normToJson(n: TrainedModel["normalization"]): NormJson {
  if (!n) return null;
  const f = (v: Normalization | undefined) => (v ? { mean: [...v.mean], std: [...v.std] } : undefined);
  const x = f(n.x);
  const y = f(n.y);
  return { ...(x ? { x } : {}), ...(y ? { y } : {}) };
}
function normFromJson(j: NormJson): TrainedModel["normalization"] {
  if (!j) return undefined;
  const f = (v: { mean: number[]; std: number[] } | undefined) => (v ? { mean: Float64Array.from(v.mean), std: Float64Array.from(v.std) } : undefined);
  const x = f(j.x);
  const y = f(j.y);
  return { ...(x ? { x } : {}), ...(y ? { y } : {}) };
}

/** Serialises a model, its optimizer and trainer state into checkpoint bytes. */
export async function encodeCheckpoint(model: TrainedModel): Promise<Uint8Array> {
  const tensors: NamedTensors = { ...(await model.weights()) };
  for (const [k, v] of Object.entries(await model.optimizerState())) tensors[`optim/${k}`] = v;
  const s = model.state;
  if (s.perm) tensors["trainer/perm"] = { shape: [s.perm.length], data: Float64Array.from(s.perm) };
  if (s.bestWeights) for (const [k, v] of Object.entries(s.bestWeights)) tensors[`best/${k}`] = v;
  const trainer = {
    step: s.step,
    epoch: s.epoch,
    batchInEpoch: s.batchInEpoch,
    rng: [...s.rng],
    noiseRng: [...s.noiseRng],
    floorHits: { ...s.floorHits },
    epochLossSum: s.epochLossSum,
    epochLossCount: s.epochLossCount,
    bestValNll: Number.isFinite(s.bestValNll) ? s.bestValNll : null,
    bestStep: s.bestStep,
    badEvals: s.badEvals,
    dataFingerprint: s.dataFingerprint,
    finished: s.finished,
    // A streamed run's position (stream.ts): read position and the source rows in the shuffle buffer.
    ...(s.stream
      ? {
          stream: {
            capacity: s.stream.capacity,
            standardize: s.stream.standardize,
            readPos: s.stream.readPos,
            buffer: Array.from(s.stream.rows.subarray(0, s.stream.fill)),
          },
        }
      : {}),
  };
  // File locations are run-time options, never part of a checkpoint: a
  // checkpoint copied or moved elsewhere must not write back to where it was made.
  const { metricsFile: _m, checkpoint: _c, ...persisted } = model.config;
  const members = model.backendModel instanceof EnsembleBackendModel ? model.backendModel : undefined;
  return encodeSafetensors(tensors, {
    ...(members ? { ensemble: JSON.stringify({ members: members.members.length, spec: members.memberSpec }) } : {}),
    format: CHECKPOINT_FORMAT,
    version: checkpointVersionFor(model.config),
    config: JSON.stringify(persisted),
    spec: JSON.stringify(model.spec),
    head: JSON.stringify(headOf(model.config)),
    noise: JSON.stringify(model.config.noise),
    backend: model.backend,
    trainer: JSON.stringify(trainer),
    normalization: JSON.stringify(normToJson(model.normalization)),
  });
}

export interface LoadOptions {
  /** Run on this backend instead of the one recorded (weights are portable; bit-exact resume needs the same backend). */
  readonly backend?: string;
  readonly io?: TrainerIO;
}

/** Rebuilds a {@link TrainedModel} from checkpoint bytes. */
/** A stored generator state, checked (four uint32 words, not all zero) before it is trusted. */
function rngStateOf(v: unknown, key: string): RngState {
  if (Array.isArray(v) && v.length === 4) {
    const [a, b, c, d] = v as unknown[];
    if (typeof a === "number" && typeof b === "number" && typeof c === "number" && typeof d === "number") {
      try {
        return Rng.fromState([a, b, c, d]).getState();
      } catch {
        // reported below
      }
    }
  }
  throw new CheckpointFormatError(`__metadata__.trainer.${key}: expected a generator state of four uint32 words, not all zero; got ${JSON.stringify(v)}`);
}

export async function decodeCheckpoint(bytes: Uint8Array, opts: LoadOptions = {}): Promise<TrainedModel> {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== CHECKPOINT_FORMAT)
    throw new CheckpointFormatError(`__metadata__.format: expected "${CHECKPOINT_FORMAT}", got ${String(metadata.format)}`);
  const version = metadata.version;
  if (version === undefined || !CHECKPOINT_READABLE_VERSIONS.includes(version)) {
    throw new CheckpointFormatError(
      `__metadata__.version: this @ngem/trainer reads versions ${CHECKPOINT_READABLE_VERSIONS.map((v) => `"${v}"`).join(", ")}, got ${JSON.stringify(version)}` +
        (Number(version) > Number(CHECKPOINT_READABLE_VERSIONS[CHECKPOINT_READABLE_VERSIONS.length - 1])
          ? " (written by a newer @ngem/trainer: upgrade to load it)"
          : ""),
    );
  }
  const parse = <T>(key: string): T => {
    try {
      return JSON.parse(metadata[key] ?? "") as T;
    } catch {
      throw new CheckpointFormatError(`__metadata__.${key}: missing or not JSON`);
    }
  };
  // Older writers stored file locations in the config: drop them (see encodeCheckpoint).
  const { metricsFile: _m, checkpoint: _c, ...storedConfig } = parse<ResolvedConfig>("config");
  const rawConfig: ResolvedConfig = { ...storedConfig, maxSkippedFraction: storedConfig.maxSkippedFraction ?? DEFAULT_MAX_SKIPPED_FRACTION };
  const spec = parse<ModelSpec>("spec");
  validateSpec(spec);
  const t = parse<{
    step: number;
    epoch: number;
    batchInEpoch: number;
    rng: number[];
    epochLossSum: number;
    epochLossCount: number;
    bestValNll: number | null;
    bestStep: number;
    badEvals: number;
    dataFingerprint: string;
    finished: boolean;
    noiseRng?: number[];
    floorHits?: { total: number; steps: number; firstStep: number };
    stream?: { capacity: number; standardize: boolean; readPos: number; buffer: number[] };
  }>("trainer");
  const separate = spec.kind === "mdn" && spec.trunk === "separate";
  if (separate !== (version === CHECKPOINT_VERSION_SEPARATE_TRUNK)) {
    throw new CheckpointFormatError(
      separate
        ? `__metadata__.spec: spec.trunk is "separate", which needs version "${CHECKPOINT_VERSION_SEPARATE_TRUNK}", but the file says version ${JSON.stringify(version)}`
        : `__metadata__.version: version "${CHECKPOINT_VERSION_SEPARATE_TRUNK}" is only written for spec.trunk = "separate", but spec.trunk is ${JSON.stringify(spec.kind === "mdn" ? (spec.trunk ?? "shared") : undefined)}`,
    );
  }
  if ((rawConfig.model?.trunk === "separate") !== separate) {
    throw new CheckpointFormatError(`__metadata__.config.model.trunk: ${JSON.stringify(rawConfig.model?.trunk ?? "shared")} disagrees with spec.trunk`);
  }
  let config: ResolvedConfig;
  if (version === "1") {
    // Version 1 predates head options and noise: the default head, no noise.
    if (spec.head !== undefined) throw new CheckpointFormatError("__metadata__.spec: a version-1 checkpoint has no head options, but spec.head is set");
    config = { ...rawConfig, model: { ...rawConfig.model, ...DEFAULT_HEAD }, noise: { ...NO_NOISE } };
  } else {
    config = rawConfig;
    const head = parse<ScaleOptions>("head");
    const noise = parse<ResolvedConfig["noise"]>("noise");
    const fromSpec = resolveScaleOptions(spec.head);
    const fromConfig = headOf(config);
    for (const key of ["scale", "sigmaMin", "covariance"] as const) {
      if (head[key] !== fromSpec[key] || head[key] !== fromConfig[key]) {
        throw new CheckpointFormatError(
          `__metadata__.head.${key}: ${JSON.stringify(head[key])} disagrees with spec.head (${JSON.stringify(fromSpec[key])}) or config.model (${JSON.stringify(fromConfig[key])})`,
        );
      }
    }
    if (JSON.stringify(noise) !== JSON.stringify(config.noise))
      throw new CheckpointFormatError(`__metadata__.noise: ${metadata.noise} disagrees with config.noise`);
    if (!Array.isArray(t.noiseRng) || !t.floorHits) throw new CheckpointFormatError(`__metadata__.trainer: version ${version} needs noiseRng and floorHits`);
  }
  // The stored config is untrusted input: it must pass the same schema and rules as a new config.
  try {
    validateConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new CheckpointFormatError(`__metadata__.config: ${err.message}`);
    throw err;
  }
  const weights: NamedTensors = {};
  const optim: NamedTensors = {};
  const best: NamedTensors = {};
  let perm: Uint32Array | null = null;
  for (const [name, v] of Object.entries(tensors)) {
    if (name.startsWith("optim/")) optim[name.slice(6)] = v;
    else if (name.startsWith("best/")) best[name.slice(5)] = v;
    else if (name === "trainer/perm") perm = Uint32Array.from(v.data);
    else weights[name] = v;
  }
  const backendName = opts.backend ?? metadata.backend ?? config.backend;
  const backend = await getBackend(backendName);
  let backendModel: BackendModel;
  if (metadata.ensemble !== undefined) {
    // An ensemble: one backend model per member, from `member<i>/<name>` weights.
    const e = parse<{ members: number; spec: ModelSpec }>("ensemble");
    validateSpec(e.spec);
    if (!Number.isInteger(e.members) || e.members < 1 || e.spec.k * e.members !== spec.k) {
      throw new CheckpointFormatError(`__metadata__.ensemble: ${metadata.ensemble} does not match spec.k = ${spec.k}`);
    }
    const per: NamedTensors[] = Array.from({ length: e.members }, () => ({}));
    for (const [name, v] of Object.entries(weights)) {
      const m = /^member(\d+)\/(.+)$/.exec(name);
      if (!m || Number(m[1]) >= e.members) throw new CheckpointFormatError(`tensor "${name}": an ensemble checkpoint holds member<i>/<name> tensors`);
      per[Number(m[1])]![m[2]!] = v;
    }
    backendModel = new EnsembleBackendModel(await Promise.all(per.map((w) => backend.createModel(e.spec, w))), e.spec);
  } else {
    backendModel = await backend.createModel(spec, weights);
  }
  const soap = makeSoap(config, spec);
  if (soap) soap.setState(optim);
  else await backendModel.setOptimizerState(optim);
  const state: TrainerState = {
    step: t.step,
    epoch: t.epoch,
    batchInEpoch: t.batchInEpoch,
    perm,
    rng: rngStateOf(t.rng, "rng"),
    noiseRng: t.noiseRng === undefined ? initialNoiseRng(config.seed) : rngStateOf(t.noiseRng, "noiseRng"),
    floorHits: t.floorHits ? { ...t.floorHits } : { total: 0, steps: 0, firstStep: -1 },
    epochLossSum: t.epochLossSum,
    epochLossCount: t.epochLossCount,
    bestValNll: t.bestValNll ?? Infinity,
    bestStep: t.bestStep,
    badEvals: t.badEvals,
    ...(Object.keys(best).length ? { bestWeights: best } : {}),
    dataFingerprint: t.dataFingerprint,
    finished: t.finished,
    ...(t.stream ? { stream: streamFromJson(t.stream) } : {}),
  };
  return new TrainedModel(config, spec, backendName, backendModel, state, normFromJson(parse<NormJson>("normalization")), soap);
}

function streamFromJson(j: { capacity: number; standardize: boolean; readPos: number; buffer: number[] }): StreamPosition {
  const ok =
    Number.isInteger(j.capacity) &&
    j.capacity >= 1 &&
    Number.isInteger(j.readPos) &&
    j.readPos >= 0 &&
    Array.isArray(j.buffer) &&
    j.buffer.length <= j.capacity;
  if (!ok || !j.buffer.every((r) => Number.isInteger(r) && r >= 0 && r < j.readPos))
    throw new CheckpointFormatError("__metadata__.trainer.stream: expected { capacity, standardize, readPos, buffer: row indices < readPos }");
  const rows = new Float64Array(j.capacity);
  rows.set(j.buffer);
  return { capacity: j.capacity, standardize: j.standardize === true, readPos: j.readPos, fill: j.buffer.length, rows };
}

/** Writes a checkpoint of `model` to `path` atomically (temp file + fsync + rename). */
export async function save(model: TrainedModel, path: string, io?: TrainerIO): Promise<void> {
  const bytes = await encodeCheckpoint(model);
  await (io ?? (await defaultIO())).writeFileAtomic(path, bytes);
}

/** Loads a checkpoint file written by {@link save} (or by training with `checkpoint`). */
export async function load(path: string, opts: LoadOptions = {}): Promise<TrainedModel> {
  const bytes = await (opts.io ?? (await defaultIO())).readFile(path);
  return decodeCheckpoint(bytes, opts);
}
