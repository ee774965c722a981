/**
 * Deep ensembles as one mixture. M members with the same spec (trained from
 * different seeds) predict the equal-weight mixture of their mixtures:
 *
 *   p(y | x) = (1/M) sum_m sum_k pi_mk N(y; mu_mk, sigma_mk),
 *
 * i.e. one Gaussian mixture with M x K components whose logits are each
 * member's log-softmax minus log M. Everything that consumes a mixture -
 * predict, sample, CDF/quantiles, intervals, evaluate, plots - works on it
 * unchanged. By concavity of log, the ensemble's NLL of every row is at most
 * the mean of its members' NLLs.
 *
 * An ensemble is trained member by member ({@link trainEnsemble}); it cannot
 * take optimizer steps or be resumed itself. In checkpoints its weights are
 * stored per member as `member<i>/<name>` and `__metadata__.ensemble` holds
 * `{ members, spec }` (the member spec); see checkpoint.ts.
 */
import {
  logSoftmaxRow,
  NgemError,
  type Batch,
  type BackendModel,
  type FloatArray,
  type HeadOptions,
  type MixtureParams,
  type ModelSpec,
  type NamedTensors,
  type OptimizerSpec,
  type StepResult,
} from "@ngem/core";
import { ConfigError } from "./config.js";
import { TrainedModel } from "./model-handle.js";
import { train, type TrainOptions, type TrainResult } from "./train.js";
import type { TrainConfig, TrainData } from "./types.js";

/** The spec an ensemble of `members` copies of `spec` reports (K = members x spec.k). */
export function ensembleSpec(spec: ModelSpec, members: number): ModelSpec {
  return { ...spec, k: spec.k * members };
}

const MEMBER_RE = /^member(\d+)\/(.+)$/;

/** A BackendModel whose prediction is the equal-weight mixture of its members' mixtures. */
export class EnsembleBackendModel implements BackendModel {
  readonly spec: ModelSpec;
  constructor(
    readonly members: readonly BackendModel[],
    readonly memberSpec: ModelSpec,
  ) {
    if (members.length < 1) throw new ConfigError("ensemble", "needs at least one member");
    this.spec = ensembleSpec(memberSpec, members.length);
  }

  step(_batch: Batch, _head: HeadOptions, _optimizer: OptimizerSpec): Promise<StepResult> {
    return Promise.reject(new NgemError("an ensemble takes no optimizer steps: train its members (trainEnsemble) and combine them"));
  }

  gradients(_batch: Batch, _head: HeadOptions): Promise<{ loss: number; grads: NamedTensors }> {
    return Promise.reject(new NgemError("an ensemble has no gradients of its own: use its members"));
  }

  async predict(x: FloatArray | undefined, n: number): Promise<MixtureParams> {
    const parts = await Promise.all(this.members.map((m) => m.predict(x, n)));
    const M = parts.length;
    const K = this.memberSpec.k;
    const D = this.memberSpec.d;
    const rows = parts[0]!.n;
    const KT = M * K;
    const logits = new Float64Array(rows * KT);
    const mu = new Float64Array(rows * KT * D);
    const logSigma = new Float64Array(rows * KT * D);
    const lw = new Float64Array(K);
    const logM = Math.log(M);
    for (let m = 0; m < M; m++) {
      const p = parts[m]!;
      for (let i = 0; i < rows; i++) {
        logSoftmaxRow(p.logits, i * K, K, lw, 0);
        for (let k = 0; k < K; k++) {
          const c = i * KT + m * K + k;
          logits[c] = (lw[k] as number) - logM;
          for (let d = 0; d < D; d++) {
            mu[c * D + d] = p.mu[(i * K + k) * D + d] as number;
            logSigma[c * D + d] = p.logSigma[(i * K + k) * D + d] as number;
          }
        }
      }
    }
    return { n: rows, k: KT, d: D, logits, mu, logSigma };
  }

  async getWeights(): Promise<NamedTensors> {
    const out: NamedTensors = {};
    for (const [i, m] of this.members.entries()) for (const [k, v] of Object.entries(await m.getWeights())) out[`member${i}/${k}`] = v;
    return out;
  }

  async setWeights(weights: NamedTensors): Promise<void> {
    const per: NamedTensors[] = this.members.map(() => ({}));
    for (const [name, v] of Object.entries(weights)) {
      const m = MEMBER_RE.exec(name);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= per.length) throw new ConfigError("weights", `"${name}" is not a member weight (expected member0..member${per.length - 1}/<name>)`);
      per[i]![m[2]!] = v;
    }
    await Promise.all(this.members.map((m, i) => m.setWeights(per[i]!)));
  }

  async getOptimizerState(): Promise<NamedTensors> {
    return {};
  }

  async setOptimizerState(state: NamedTensors): Promise<void> {
    if (Object.keys(state).length) throw new ConfigError("optimizer", "an ensemble has no optimizer state");
  }

  dispose(): void {
    for (const m of this.members) m.dispose();
  }
}

/**
 * Combines trained models with the same spec, backend and normalisation into
 * one ensemble model (the members are owned by it from then on).
 */
export function ensemble(models: readonly TrainedModel[]): TrainedModel {
  if (models.length < 1) throw new ConfigError("ensemble", "needs at least one member");
  const first = models[0]!;
  const spec = JSON.stringify(first.spec);
  const norm = JSON.stringify(first.normalization ?? null, (_k, v: unknown) => (v instanceof Float64Array ? [...v] : v));
  for (const [i, m] of models.entries()) {
    if (JSON.stringify(m.spec) !== spec) throw new ConfigError("ensemble", `member ${i} has spec ${JSON.stringify(m.spec)}, member 0 has ${spec}`);
    if (m.backend !== first.backend) throw new ConfigError("ensemble", `member ${i} runs on ${m.backend}, member 0 on ${first.backend}`);
    const n = JSON.stringify(m.normalization ?? null, (_k, v: unknown) => (v instanceof Float64Array ? [...v] : v));
    if (n !== norm) throw new ConfigError("ensemble", `member ${i} was trained with a different normalisation than member 0`);
  }
  const backendModel = new EnsembleBackendModel(
    models.map((m) => m.backendModel),
    first.spec,
  );
  const state = { ...first.state, perm: null, bestWeights: undefined } as TrainedModel["state"];
  delete (state as { bestWeights?: unknown }).bestWeights;
  return new TrainedModel({ ...first.config, ensemble: models.length }, backendModel.spec, first.backend, backendModel, state, first.normalization, undefined);
}

/**
 * The members of an ensemble as models of their own (views: they share the
 * ensemble's backend models, so dispose the ensemble, not them).
 */
export function ensembleMembers(model: TrainedModel): TrainedModel[] {
  const b = model.backendModel;
  if (!(b instanceof EnsembleBackendModel)) throw new ConfigError("ensemble", "not an ensemble model");
  const { ensemble: _e, ...config } = model.config;
  return b.members.map(
    (m, i) => new TrainedModel({ ...config, seed: model.config.seed + i }, b.memberSpec, model.backend, m, model.state, model.normalization, undefined),
  );
}

/** True when a model is an ensemble (its backendModel combines members). */
export function isEnsemble(model: TrainedModel): boolean {
  return model.backendModel instanceof EnsembleBackendModel;
}

/**
 * Trains `members` models that differ only in their seed (config.seed + i:
 * initialisation, shuffling and noise; the validation split uses the base
 * seed so every member sees the same training rows) and returns them as one
 * ensemble. `opts` apply to each member; `onMember` is called after each.
 */
export async function trainEnsemble(
  config: TrainConfig,
  data: TrainData,
  members: number,
  opts: TrainOptions & {
    onMember?: (index: number, result: TrainResult) => void | Promise<void>;
    /** Adjusts member i's config (after its seed is set), e.g. a metrics file for one member only. */
    memberConfig?: (index: number, config: TrainConfig) => TrainConfig;
  } = {},
): Promise<{ model: TrainedModel; members: TrainResult[] }> {
  if (!Number.isInteger(members) || members < 1) throw new ConfigError("ensemble", `expected an integer >= 1 members, got ${String(members)}`);
  const results: TrainResult[] = [];
  const seed = config.seed ?? 0;
  const { onMember, memberConfig, ...trainOpts } = opts;
  for (let i = 0; i < members; i++) {
    const base: TrainConfig = { ...config, seed: seed + i, splitSeed: config.splitSeed ?? seed };
    const r = await train(memberConfig ? memberConfig(i, base) : base, data, trainOpts);
    results.push(r);
    if (onMember) await onMember(i, r);
    if (r.history.stopReason === "aborted" || r.history.stopReason === "non-finite") break;
  }
  return { model: ensemble(results.map((r) => r.model)), members: results };
}
