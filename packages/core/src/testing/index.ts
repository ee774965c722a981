/**
 * @ngem/core/testing - the shared parity suite, written once and run by every
 * backend package against the float64 `js` reference (like tfjs's
 * describeWithFlags). It is framework-agnostic: pass your test runner's
 * `describe` and `it`.
 *
 * ```ts
 * import { describe, it } from "vitest";
 * import { runParitySuite } from "@ngem/core/testing";
 * runParitySuite({ describe, it }, () => getBackend("wasm"));
 * ```
 *
 * Tolerances are normwise: for every compared array,
 *   max_i |actual_i - expected_i| <= rtol * max(max_i |expected_i|, 1e-30).
 * Defaults by the backend's precision: float64 head 1e-12 / model 1e-9;
 * float32 head 1e-3 / model 2e-3 (inputs are rounded to float32 first, so the
 * reference sees exactly what the backend sees; the remaining error is the
 * float32 arithmetic, dominated by D-term sums in the log-density).
 */
import type { Backend, ModelSpec, NamedTensors, OptimizerSpec } from "../backend.js";
import { createJsBackend } from "../backends/js.js";
import { ShapeError } from "../errors.js";
import { VARIANTS, type HeadOptions, type HeadResult } from "../head.js";
import type { FloatArray, MixtureParams } from "../mixture.js";
import { initWeights } from "../model/spec.js";
import { Rng } from "../rng.js";

export interface TestHarness {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void> | void, timeout?: number): void;
}

export interface ParityOptions {
  /** Normwise relative tolerance for head outputs. */
  readonly headRtol?: number;
  /** Normwise relative tolerance for model outputs (params, gradients, weights after steps). */
  readonly modelRtol?: number;
  /** Seed of the random cases (default 1234). */
  readonly seed?: number;
  /** Per-test timeout in ms (default 120 000). */
  readonly timeout?: number;
}

/** Head shapes [N, K, D] covered, including awkward ones (not multiples of 4, K = 1, D = 1, D = 784). */
export const PARITY_HEAD_SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 1, 1],
  [7, 3, 5],
  [32, 1, 1],
  [13, 6, 3],
  [33, 2, 2],
  [4, 5, 1],
  [9, 1, 17],
  [5, 10, 784],
];

/** Model specs covered by the model-level checks. */
export const PARITY_MODEL_SPECS: readonly ModelSpec[] = [
  { kind: "mdn", inputDim: 3, hidden: [8, 5], activation: "gelu", layerNorm: true, k: 3, d: 2 },
  { kind: "mdn", inputDim: 1, hidden: [16], activation: "tanh", layerNorm: false, k: 2, d: 1 },
  { kind: "mdn", inputDim: 2, hidden: [7, 6], activation: "relu", layerNorm: true, k: 1, d: 3 },
  { kind: "gmm", k: 2, d: 2 },
  // scale parameterisations, sigma floors and covariance choices (scale.ts)
  {
    kind: "mdn",
    inputDim: 2,
    hidden: [6],
    activation: "gelu",
    layerNorm: true,
    k: 3,
    d: 2,
    head: { scale: "softplus", sigmaMin: 0.01, covariance: "isotropic" },
  },
  { kind: "mdn", inputDim: 2, hidden: [5], activation: "tanh", layerNorm: false, k: 2, d: 3, head: { scale: "elu+1", covariance: "shared" } },
  { kind: "mdn", inputDim: 1, hidden: [4], activation: "relu", layerNorm: false, k: 2, d: 2, head: { scale: "exp", sigmaMin: 0.02 } },
  { kind: "gmm", k: 3, d: 2, head: { scale: "softplus", sigmaMin: 0.05, covariance: "shared" } },
  { kind: "gmm", k: 2, d: 3, head: { scale: "elu+1", covariance: "isotropic" } },
  // two trunks (spec.trunk = "separate": logits | means and raw scales)
  { kind: "mdn", inputDim: 3, hidden: [8, 5], activation: "gelu", layerNorm: true, k: 3, d: 2, trunk: "separate" },
  {
    kind: "mdn",
    inputDim: 2,
    hidden: [6],
    activation: "tanh",
    layerNorm: false,
    k: 2,
    d: 3,
    trunk: "separate",
    head: { scale: "softplus", sigmaMin: 0.01, covariance: "shared" },
  },
  { kind: "mdn", inputDim: 2, hidden: [], activation: "relu", layerNorm: false, k: 2, d: 2, trunk: "separate" },
];

/**
 * Collapsed-component head cases [N, K, D, c, allDims]: component c of every row has
 * log sigma = -46 (sigma ~ 1e-20) and |y - mu| >= 1, so |y - mu| / sigma and its
 * square overflow float32 while its responsibility is exactly 0. Its true mu and
 * log-sigma gradients are exactly 0 (issue 13, item 6: float32 heads used to give
 * 0 * inf = NaN there). `allDims` false collapses only dimension 0 of component c.
 */
export const PARITY_COLLAPSE_CASES: readonly (readonly [number, number, number, number, boolean])[] = [
  [1, 2, 1, 1, true],
  [1, 2, 1, 0, true],
  [3, 2, 3, 1, true],
  [2, 3, 4, 1, false],
  [4, 5, 5, 0, true],
  [2, 4, 8, 3, false],
  [1, 3, 17, 2, true],
  [6, 10, 7, 9, true],
];

/**
 * Collapsed-component model cases: a GMM (or an MDN whose head weight is 0, so the
 * head bias is its output) where one component has sigma ~ e^-46 and |y - mu| >= 1.
 * Every scale parameterisation and covariance; `raw` is the raw scale parameter.
 */
export const PARITY_COLLAPSE_MODELS: readonly { spec: ModelSpec; logits: number[]; mu: number[]; raw: number[]; y: number[] }[] = [
  { spec: { kind: "gmm", k: 2, d: 1 }, logits: [0, 0], mu: [0, 1], raw: [0, -46], y: [0] },
  { spec: { kind: "gmm", k: 2, d: 1 }, logits: [0.3, -0.2], mu: [1, 0], raw: [-46, 0], y: [0, 0.4, -0.7] },
  {
    spec: { kind: "gmm", k: 3, d: 2, head: { scale: "softplus" } },
    logits: [0, 1, -1],
    mu: [0, 0, 2, -1, 0.5, 0.5],
    raw: [0.5, 0.5, -46, -46, 0.5, 0.5],
    y: [0.1, -0.2, 0.3, 0.2],
  },
  {
    spec: { kind: "gmm", k: 3, d: 2, head: { scale: "elu+1", covariance: "isotropic" } },
    logits: [0, 0, 0],
    mu: [0, 0, 0.5, 0.5, 3, 3],
    raw: [0, 0, -46],
    y: [0.1, -0.2],
  },
  {
    spec: { kind: "gmm", k: 2, d: 3, head: { covariance: "shared" } },
    logits: [0, 0],
    mu: [0.25, 0, 0, 1.25, 0, 0],
    raw: [-46, 0, 0],
    y: [0.25, 0.1, -0.1, 0.25, -0.3, 0.2],
  },
  { spec: { kind: "gmm", k: 2, d: 2, head: { scale: "softplus", sigmaMin: 0.02 } }, logits: [0, 0], mu: [0, 0, 1, 1], raw: [0, 0, -46, -46], y: [0.1, 0.1] },
  {
    spec: { kind: "mdn", inputDim: 2, hidden: [3], activation: "tanh", layerNorm: false, k: 3, d: 2 },
    logits: [0, 0.5, 0],
    mu: [0, 0, 1, 1, -1, 0],
    raw: [0, 0, -46, -46, 0, 0],
    y: [0.1, 0.2, -0.5, 0.3],
  },
  {
    spec: { kind: "mdn", inputDim: 2, hidden: [3], activation: "gelu", layerNorm: true, k: 2, d: 2, head: { scale: "elu+1" } },
    logits: [0, 0],
    mu: [0, 0, 1, 1],
    raw: [0.5, 0.5, -46, 0.5],
    y: [0.1, 0.2],
  },
];

const HEAD_OPTIONS: readonly HeadOptions[] = [
  ...VARIANTS.map((variant) => ({ variant })),
  { variant: "ngem", fisherCoords: "sigma" },
  { variant: "ngem-full", fisherCoords: "sigma", piFloor: 0.05 },
];

const OPTIMIZERS: readonly OptimizerSpec[] = [
  { type: "sgd", lr: 0.05, momentum: 0.9, nesterov: true, clipNorm: 1 },
  { type: "adam", lr: 0.01, weightDecay: 0.01 },
  { type: "rmsprop", lr: 0.01, momentum: 0.5 },
];

let observer: ((what: string, error: number, rtol: number) => void) | undefined;

/**
 * Sets (or clears, with undefined) a function that receives every normwise
 * error {@link assertClose} computes, passing or not: for reports of the worst
 * error per backend (the browser harness prints them).
 */
export function setParityObserver(fn: ((what: string, error: number, rtol: number) => void) | undefined): void {
  observer = fn;
}

/** Throws unless `actual` matches `expected` within the normwise tolerance. */
export function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  let scale = 1e-30;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    if (!Number.isFinite(a)) throw new Error(`${what}: non-finite ${a} at ${i} (expected ${expected[i]})`);
    const e = Math.abs(a - (expected[i] as number));
    if (e > worst) {
      worst = e;
      at = i;
    }
  }
  observer?.(what, worst / scale, rtol);
  if (worst > rtol * scale) {
    throw new Error(
      `${what}: normwise error ${(worst / scale).toExponential(3)} > rtol ${rtol} (at ${at}: got ${actual[at]}, expected ${expected[at]}, scale ${scale.toExponential(3)})`,
    );
  }
}

/** Random mixture with targets; values rounded through `cast` so both sides see identical inputs. */
export function randomHeadCase(rng: Rng, n: number, k: number, d: number, cast: (a: Float64Array) => FloatArray) {
  const logits = new Float64Array(n * k).map(() => 1.5 * rng.normal());
  const mu = new Float64Array(n * k * d).map(() => rng.normal());
  const logSigma = new Float64Array(n * k * d).map(() => -1 + 1.5 * rng.uniform());
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const comp = rng.int(k);
    for (let j = 0; j < d; j++) {
      const b = (i * k + comp) * d + j;
      y[i * d + j] = rng.uniform() < 0.7 ? (mu[b] as number) + Math.exp(logSigma[b] as number) * rng.normal() : 2 * rng.normal();
    }
  }
  const params: MixtureParams = { n, k, d, logits: cast(logits), mu: cast(mu), logSigma: cast(logSigma) };
  return { params, y: cast(y) };
}

/** A head case with component `c` of every row collapsed (see {@link PARITY_COLLAPSE_CASES}). */
export function collapsedHeadCase(rng: Rng, n: number, k: number, d: number, c: number, allDims: boolean, cast: (a: Float64Array) => FloatArray) {
  const logits = new Float64Array(n * k).map(() => rng.normal());
  const mu = new Float64Array(n * k * d).map(() => rng.normal());
  const logSigma = new Float64Array(n * k * d).map(() => -0.5 + rng.uniform());
  const y = new Float64Array(n * d).map(() => rng.normal());
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < (allDims ? d : 1); j++) {
      const b = (i * k + c) * d + j;
      logSigma[b] = -46;
      mu[b] = (y[i * d + j] as number) + (j % 2 ? -1 - rng.uniform() : 1 + rng.uniform());
    }
  }
  const params: MixtureParams = { n, k, d, logits: cast(logits), mu: cast(mu), logSigma: cast(logSigma) };
  return { params, y: cast(y) };
}

function compareHead(tag: string, got: HeadResult, want: HeadResult, rtol: number): void {
  assertClose(`${tag} loss`, [got.loss], [want.loss], rtol);
  assertClose(`${tag} negQ`, [got.negQ], [want.negQ], rtol);
  assertClose(`${tag} d/dlogits`, got.grads.logits, want.grads.logits, rtol);
  assertClose(`${tag} d/dmu`, got.grads.mu, want.grads.mu, rtol);
  assertClose(`${tag} d/dlogSigma`, got.grads.logSigma, want.grads.logSigma, rtol);
}

function compareTensors(tag: string, got: NamedTensors, want: NamedTensors, rtol: number): void {
  for (const [name, t] of Object.entries(want)) {
    const g = got[name];
    if (!g) throw new Error(`${tag}: missing tensor ${name}`);
    assertClose(`${tag} ${name}`, g.data, t.data, rtol);
  }
}

function randomBatch(spec: ModelSpec, n: number, rng: Rng, cast: (a: Float64Array) => FloatArray) {
  const x = spec.kind === "mdn" ? cast(new Float64Array(n * spec.inputDim).map(() => rng.normal())) : undefined;
  const y = cast(new Float64Array(n * spec.d).map(() => rng.normal()));
  return x ? { n, x, y } : { n, y };
}

function expectThrow(what: string, fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  return fn().then(
    () => {
      throw new Error(`${what}: expected an error matching ${pattern}, but the call succeeded`);
    },
    (err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      if (!pattern.test(msg)) throw new Error(`${what}: error "${msg}" does not match ${pattern}`);
    },
  );
}

/**
 * Registers the parity suite for the backend returned by `load` under
 * `describe("parity: <label>")`.
 */
export function runParitySuite(h: TestHarness, load: () => Promise<Backend>, opts: ParityOptions & { label?: string } = {}): void {
  const ref = createJsBackend();
  const seed = opts.seed ?? 1234;
  const timeout = opts.timeout ?? 120_000;
  let cached: Promise<Backend> | undefined;
  const backend = () => (cached ??= load());
  const tol = async () => {
    const b = await backend();
    const f32 = b.precision === "float32";
    return {
      head: opts.headRtol ?? (f32 ? 1e-3 : 1e-12),
      model: opts.modelRtol ?? (f32 ? 2e-3 : 1e-9),
      cast: f32 ? (a: Float64Array): FloatArray => Float32Array.from(a) : (a: Float64Array): FloatArray => a,
    };
  };

  h.describe(`parity: ${opts.label ?? "backend"}`, () => {
    dampingParityCases(h, backend, tol, seed, timeout); // issue 19: damping / precondition head options
    h.it("reports a name and a precision", async () => {
      const b = await backend();
      if (typeof b.name !== "string" || !b.name) throw new Error("backend.name must be a non-empty string");
      if (b.precision !== "float32" && b.precision !== "float64") throw new Error(`backend.precision: got ${String(b.precision)}`);
    });

    for (const [n, k, d] of PARITY_HEAD_SHAPES) {
      h.it(
        `head matches the reference for N=${n} K=${k} D=${d}, every variant`,
        async () => {
          const b = await backend();
          const t = await tol();
          const rng = new Rng(seed + n * 131 + k * 17 + d);
          const { params, y } = randomHeadCase(rng, n, k, d, t.cast);
          for (const o of HEAD_OPTIONS) {
            const tag = `[${n},${k},${d}] ${o.variant}${o.fisherCoords ? `/${o.fisherCoords}` : ""}`;
            compareHead(tag, await b.head(params, y, o), await ref.head(params, y, o), t.head);
          }
        },
        timeout,
      );
    }

    h.it(
      "head stays finite on extreme inputs (logits +-30, sigma e^-6..e^4, y far away)",
      async () => {
        const b = await backend();
        const t = await tol();
        const n = 6,
          k = 3,
          d = 4;
        const rng = new Rng(seed + 7);
        const logits = t.cast(new Float64Array(n * k).map((_, i) => (i % 2 ? 30 : -30)));
        const mu = t.cast(new Float64Array(n * k * d).map(() => rng.normal()));
        const logSigma = t.cast(new Float64Array(n * k * d).map((_, i) => (i % 3 === 0 ? -6 : i % 3 === 1 ? 4 : 0)));
        const y = t.cast(new Float64Array(n * d).map((_, i) => (i % 2 ? 50 : -3)));
        for (const variant of VARIANTS) {
          const r = await b.head({ n, k, d, logits, mu, logSigma }, y, { variant });
          const want = await ref.head({ n, k, d, logits, mu, logSigma }, y, { variant });
          if (!Number.isFinite(r.loss)) throw new Error(`${variant}: loss ${r.loss}`);
          assertClose(`extreme ${variant} loss`, [r.loss], [want.loss], t.head);
          for (const [name, g] of Object.entries(r.grads)) {
            const bad = (g as Float64Array).findIndex((v) => !Number.isFinite(v));
            if (bad >= 0) throw new Error(`${variant}: d/d${name}[${bad}] = ${(g as Float64Array)[bad]}`);
          }
        }
      },
      timeout,
    );

    for (const [n, k, d, c, allDims] of PARITY_COLLAPSE_CASES) {
      h.it(
        `head: a collapsed component (sigma ~ e^-46, N=${n} K=${k} D=${d}, component ${c}${allDims ? "" : ", dim 0"}) gets exactly zero gradients, every variant`,
        async () => {
          const b = await backend();
          const t = await tol();
          const rng = new Rng(seed + 4099 + n * 131 + k * 17 + d);
          const { params, y } = collapsedHeadCase(rng, n, k, d, c, allDims, t.cast);
          for (const o of HEAD_OPTIONS) {
            const tag = `collapsed [${n},${k},${d}] c=${c} ${o.variant}${o.fisherCoords ? `/${o.fisherCoords}` : ""}`;
            const got = await b.head(params, y, o);
            compareHead(tag, got, await ref.head(params, y, o), t.head);
            for (let i = 0; i < n; i++) {
              for (let j = 0; j < d; j++) {
                const at = (i * k + c) * d + j;
                for (const [name, g] of [
                  ["mu", got.grads.mu],
                  ["logSigma", got.grads.logSigma],
                ] as const) {
                  if (g[at] !== 0) throw new Error(`${tag}: d/d${name}[${at}] of the collapsed component = ${g[at]}, expected exactly 0`);
                }
              }
            }
          }
        },
        timeout,
      );
    }

    for (const cm of PARITY_COLLAPSE_MODELS) {
      const { spec } = cm;
      const label = `${spec.kind} K=${spec.k} D=${spec.d}${spec.head ? ` ${JSON.stringify(spec.head)}` : ""}`;
      h.it(
        `model ${label} with a collapsed component: gradients and a step stay finite and match the reference`,
        async () => {
          const b = await backend();
          const t = await tol();
          const w: NamedTensors = initWeights(spec, seed + 3);
          const rows = cm.y.length / spec.d;
          if (spec.kind === "gmm") {
            w["gmm.logits"] = { shape: [spec.k], data: Float64Array.from(cm.logits) };
            w["gmm.mu"] = { shape: [spec.k, spec.d], data: Float64Array.from(cm.mu) };
            w["gmm.logSigma"] = { shape: [...(w["gmm.logSigma"] as { shape: readonly number[] }).shape], data: Float64Array.from(cm.raw) };
          } else {
            const hw = w["head.weight"] as { shape: readonly number[]; data: FloatArray };
            w["head.weight"] = { shape: [...hw.shape], data: new Float64Array(hw.data.length) };
            w["head.bias"] = { shape: [hw.shape[1] as number], data: Float64Array.from([...cm.logits, ...cm.mu, ...cm.raw]) };
          }
          const wCast: NamedTensors = Object.fromEntries(Object.entries(w).map(([k2, v]) => [k2, { shape: v.shape, data: t.cast(Float64Array.from(v.data)) }]));
          const rng = new Rng(seed + 17);
          const y = t.cast(Float64Array.from(cm.y));
          const batch = spec.kind === "mdn" ? { n: rows, x: t.cast(new Float64Array(rows * spec.inputDim).map(() => rng.normal())), y } : { n: rows, y };
          const m = await b.createModel(spec, wCast);
          const r = await ref.createModel(spec, wCast);
          try {
            for (const o of HEAD_OPTIONS) {
              const tag = `collapsed ${label} ${o.variant}${o.fisherCoords ? `/${o.fisherCoords}` : ""}`;
              const gm = await m.gradients(batch, o);
              const gr = await r.gradients(batch, o);
              assertClose(`${tag} loss`, [gm.loss], [gr.loss], t.model);
              compareTensors(`${tag} grad`, gm.grads, gr.grads, t.model);
            }
            for (const variant of VARIANTS) {
              const opt: OptimizerSpec = { type: "sgd", lr: 0.1 };
              const sm = await m.step(batch, { variant }, opt);
              const sr = await r.step(batch, { variant }, opt);
              if (sm.nonFinite !== undefined || !Number.isFinite(sm.loss))
                throw new Error(`collapsed ${label} ${variant}: step skipped (${JSON.stringify(sm)})`);
              assertClose(`collapsed ${label} ${variant} step loss`, [sm.loss], [sr.loss], t.model);
              compareTensors(`collapsed ${label} ${variant} weights after the step`, await m.getWeights(), await r.getWeights(), t.model);
            }
          } finally {
            m.dispose();
            r.dispose();
          }
        },
        timeout,
      );
    }

    h.it("head rejects mismatched shapes with an error naming the argument", async () => {
      const b = await backend();
      const p: MixtureParams = { n: 2, k: 2, d: 3, logits: new Float32Array(4), mu: new Float32Array(12), logSigma: new Float32Array(11) };
      await expectThrow("logSigma too short", () => b.head(p, new Float32Array(6), {}), /logSigma/);
      const q: MixtureParams = { ...p, logSigma: new Float32Array(12) };
      await expectThrow("y wrong length", () => b.head(q, new Float32Array(5), {}), /\by\b.*\[N, D\]/);
      await expectThrow("K = 0", () => b.head({ ...q, k: 0 }, new Float32Array(6), {}), /\bk\b/);
    });

    for (const spec of PARITY_MODEL_SPECS) {
      const headTag = spec.head
        ? ` [${spec.head.scale ?? "exp"}${spec.head.sigmaMin ? ` min ${spec.head.sigmaMin}` : ""} ${spec.head.covariance ?? "diag"}]`
        : "";
      const label =
        (spec.kind === "gmm"
          ? `gmm K=${spec.k} D=${spec.d}`
          : `mdn ${spec.inputDim}-${spec.hidden.join("-")} ${spec.activation}${spec.layerNorm ? "+LN" : ""}${spec.trunk === "separate" ? " separate trunks" : ""} K=${spec.k} D=${spec.d}`) +
        headTag;
      h.it(
        `model ${label}: predict and gradients match the reference`,
        async () => {
          const b = await backend();
          const t = await tol();
          const w0 = initWeights(spec, seed);
          const wCast: NamedTensors = Object.fromEntries(Object.entries(w0).map(([k2, v]) => [k2, { shape: v.shape, data: t.cast(v.data as Float64Array) }]));
          const m = await b.createModel(spec, wCast);
          const r = await ref.createModel(spec, wCast);
          try {
            const rng = new Rng(seed + 99);
            const batch = randomBatch(spec, 11, rng, t.cast);
            const pm = await m.predict(batch.x, batch.n);
            const pr = await r.predict(batch.x, batch.n);
            assertClose(`${label} predict logits`, pm.logits, pr.logits, t.model);
            assertClose(`${label} predict mu`, pm.mu, pr.mu, t.model);
            assertClose(`${label} predict logSigma`, pm.logSigma, pr.logSigma, t.model);
            for (const o of HEAD_OPTIONS) {
              const tag = `${label} ${o.variant}${o.fisherCoords ? `/${o.fisherCoords}` : ""}`;
              const gm = await m.gradients(batch, o);
              const gr = await r.gradients(batch, o);
              assertClose(`${tag} loss`, [gm.loss], [gr.loss], t.model);
              compareTensors(`${tag} grad`, gm.grads, gr.grads, t.model);
            }
          } finally {
            m.dispose();
            r.dispose();
          }
        },
        timeout,
      );

      h.it(
        `model ${label}: three optimizer steps match the reference; state round-trips exactly`,
        async () => {
          const b = await backend();
          const t = await tol();
          const w0 = initWeights(spec, seed + 1);
          const wCast: NamedTensors = Object.fromEntries(Object.entries(w0).map(([k2, v]) => [k2, { shape: v.shape, data: t.cast(v.data as Float64Array) }]));
          for (const opt of OPTIMIZERS) {
            const m = await b.createModel(spec, wCast);
            const r = await ref.createModel(spec, wCast);
            const rng = new Rng(seed + 5);
            const batches = [0, 1, 2, 3].map(() => randomBatch(spec, 8, rng, t.cast));
            for (const batch of batches.slice(0, 3)) {
              const sm = await m.step(batch, { variant: "ngem" }, opt);
              const sr = await r.step(batch, { variant: "ngem" }, opt);
              assertClose(`${label} ${opt.type} step loss`, [sm.loss], [sr.loss], t.model);
              assertClose(`${label} ${opt.type} grad norm`, [sm.gradNorm], [sr.gradNorm], t.model);
              if (spec.head?.sigmaMin && typeof sm.floorHits !== "number") throw new Error(`${label}: step() must report floorHits when sigmaMin > 0`);
            }
            compareTensors(`${label} ${opt.type} weights after 3 steps`, await m.getWeights(), await r.getWeights(), t.model);
            // Resume: a fresh model with the saved weights and optimizer state continues identically.
            const m2 = await b.createModel(spec, await m.getWeights());
            await m2.setOptimizerState(await m.getOptimizerState());
            const last = batches[3] as (typeof batches)[number];
            await m.step(last, { variant: "ngem" }, opt);
            await m2.step(last, { variant: "ngem" }, opt);
            const a = await m.getWeights();
            const c = await m2.getWeights();
            for (const [name, tt] of Object.entries(a)) {
              const other = (c[name] as { data: FloatArray }).data;
              for (let i = 0; i < tt.data.length; i++) {
                if (!Object.is(tt.data[i], other[i])) throw new Error(`${label} ${opt.type}: resumed ${name}[${i}] = ${other[i]} != ${tt.data[i]}`);
              }
            }
            m.dispose();
            m2.dispose();
            r.dispose();
          }
        },
        timeout,
      );
    }

    h.it("model: bad weights and batches get errors naming the tensor", async () => {
      const b = await backend();
      const spec = PARITY_MODEL_SPECS[0] as ModelSpec;
      const w = initWeights(spec, 1);
      const bad = { ...w, "head.bias": { shape: [1], data: new Float64Array(1) } };
      await expectThrow("wrong head.bias shape", () => b.createModel(spec, bad), /head\.bias/);
      const m = await b.createModel(spec, w);
      try {
        await expectThrow("wrong x", () => m.gradients({ n: 2, x: new Float64Array(5), y: new Float64Array(4) }, {}), /batch\.x|\bx\b/);
        await expectThrow("wrong y", () => m.gradients({ n: 2, x: new Float64Array(6), y: new Float64Array(3) }, {}), /batch\.y|\by\b/);
      } finally {
        m.dispose();
      }
    });

    h.it("model: a non-finite target is reported and the step is skipped", async () => {
      const b = await backend();
      const spec: ModelSpec = { kind: "gmm", k: 2, d: 1 };
      const w = initWeights(spec, 3);
      const m = await b.createModel(spec, w);
      try {
        const before = await m.getWeights();
        const r = await m.step({ n: 2, y: new Float64Array([0.5, NaN]) }, {}, { type: "sgd", lr: 0.1 });
        if (!r.nonFinite) throw new Error(`expected nonFinite to name a tensor, got ${JSON.stringify(r)}`);
        compareTensors("weights unchanged after a skipped step", await m.getWeights(), before, 0);
      } finally {
        m.dispose();
      }
    });

    // The model contract (model/protocol.ts): the same answers on every backend, whatever its precision.
    const contractSpec: ModelSpec = { kind: "mdn", inputDim: 2, hidden: [5], activation: "tanh", layerNorm: true, k: 2, d: 1 };
    const contractBatch = (rng: Rng): { n: number; x: Float64Array; y: Float64Array } => ({
      n: 4,
      x: new Float64Array(8).map(() => rng.normal()),
      y: new Float64Array(4).map(() => rng.normal()),
    });

    h.it("contract: optimizer state is `step` and `<param>/m|v` for the moments the optimizer keeps; it round-trips exactly", async () => {
      const b = await backend();
      const names = Object.keys(initWeights(contractSpec, 1));
      const cases: [OptimizerSpec, string[]][] = [
        [{ type: "sgd", lr: 0.01 }, []],
        [{ type: "sgd", lr: 0.01, momentum: 0.9 }, ["m"]],
        [{ type: "adam", lr: 0.01 }, ["m", "v"]],
        [{ type: "rmsprop", lr: 0.01 }, ["v"]],
        [{ type: "rmsprop", lr: 0.01, momentum: 0.5 }, ["m", "v"]],
      ];
      for (const [opt, kinds] of cases) {
        const m = await b.createModel(contractSpec, initWeights(contractSpec, 1));
        const m2 = await b.createModel(contractSpec, initWeights(contractSpec, 1));
        try {
          const fresh = await m.getOptimizerState();
          if (Object.keys(fresh).length) throw new Error(`a fresh model has no optimizer state, got ${Object.keys(fresh).join(", ")}`);
          const rng = new Rng(seed + 41);
          for (let i = 0; i < 2; i++) await m.step(contractBatch(rng), {}, opt);
          const st = await m.getOptimizerState();
          const want = ["step", ...kinds.flatMap((k2) => names.map((n) => `${n}/${k2}`))].sort();
          const got = Object.keys(st).sort();
          if (got.join() !== want.join())
            throw new Error(`${opt.type}${"momentum" in opt ? ` momentum ${opt.momentum}` : ""}: state names ${got.join(", ")}; expected ${want.join(", ")}`);
          if ((st.step as { data: FloatArray }).data[0] !== 2) throw new Error(`step after two steps: ${(st.step as { data: FloatArray }).data[0]}`);
          await m2.setOptimizerState(st);
          compareTensors(`${opt.type} state round trip`, await m2.getOptimizerState(), st, 0);
        } finally {
          m.dispose();
          m2.dispose();
        }
      }
    });

    // optimizer.freeze: the trunk of an MDN frozen (shared and separate trunks), Adam with weight decay and clipping.
    for (const spec of [PARITY_MODEL_SPECS[0], PARITY_MODEL_SPECS.find((s) => s.kind === "mdn" && s.trunk === "separate")] as ModelSpec[]) {
      const label = `${spec.kind === "mdn" ? `${spec.trunk ?? "shared"} trunk [${spec.hidden.join(",")}]` : spec.kind}`;
      h.it(
        `contract: optimizer.freeze (${label} frozen): 3 Adam steps with weight decay and clipping match the reference; frozen weights stay bit-identical, their moments zero`,
        async () => {
          const b = await backend();
          const t = await tol();
          const w0 = initWeights(spec, seed + 61);
          const wCast: NamedTensors = Object.fromEntries(Object.entries(w0).map(([k2, v]) => [k2, { shape: v.shape, data: t.cast(v.data as Float64Array) }]));
          const names = Object.keys(w0);
          const freeze = names.filter((n) => /^(trunk|logits_trunk|gauss_trunk)\./.test(n));
          if (!freeze.length || freeze.length === names.length) throw new Error(`${label}: expected a trunk and a head, got ${names.join(", ")}`);
          const trainable = names.filter((n) => !freeze.includes(n));
          const opt: OptimizerSpec = { type: "adam", lr: 0.01, weightDecay: 0.1, clipNorm: 0.5, freeze };
          const m = await b.createModel(spec, wCast);
          const r = await ref.createModel(spec, wCast);
          try {
            const rng = new Rng(seed + 63);
            for (let i = 0; i < 3; i++) {
              const batch = randomBatch(spec, 8, rng, t.cast);
              // the reported norm is the trainable parameters' (what clipping uses)
              const g = await r.gradients(batch, { variant: "ngem" });
              let sq = 0;
              for (const n of trainable) for (const v of (g.grads[n] as { data: FloatArray }).data) sq += v * v;
              const sm = await m.step(batch, { variant: "ngem" }, opt);
              const sr = await r.step(batch, { variant: "ngem" }, opt);
              assertClose(`freeze ${label} step ${i + 1} loss`, [sm.loss], [sr.loss], t.model);
              assertClose(`freeze ${label} step ${i + 1} grad norm`, [sm.gradNorm], [sr.gradNorm], t.model);
              assertClose(`freeze ${label} step ${i + 1} reference grad norm = trainable norm`, [sr.gradNorm], [Math.sqrt(sq)], 1e-12);
            }
            const wm = await m.getWeights();
            compareTensors(`freeze ${label} weights after 3 steps`, wm, await r.getWeights(), t.model);
            for (const n of names) {
              const got = (wm[n] as { data: FloatArray }).data;
              const init = (wCast[n] as { data: FloatArray }).data;
              let same = true;
              for (let i = 0; i < init.length; i++) if (!Object.is(got[i], init[i])) same = false;
              if (freeze.includes(n) !== same) throw new Error(`freeze ${label}: ${n} ${same ? "did not change" : "changed"} (frozen: ${freeze.includes(n)})`);
            }
            const st = await m.getOptimizerState();
            for (const n of freeze) {
              for (const kind of ["m", "v"]) {
                const a = (st[`${n}/${kind}`] as { data: FloatArray } | undefined)?.data;
                if (!a || a.some((v) => v !== 0)) throw new Error(`freeze ${label}: moment ${n}/${kind} of a frozen parameter must stay zero`);
              }
            }
          } finally {
            m.dispose();
            r.dispose();
          }
        },
        timeout,
      );
    }

    h.it("contract: setOptimizerState rejects a bad entry by name and keeps the state it had", async () => {
      const b = await backend();
      const m = await b.createModel(contractSpec, initWeights(contractSpec, 2));
      try {
        await m.step(contractBatch(new Rng(seed + 43)), {}, { type: "adam", lr: 0.01 });
        const st = await m.getOptimizerState();
        const mu = "head.bias";
        const len = (st[`${mu}/m`] as { data: FloatArray }).data.length;
        const bad: [string, NamedTensors, RegExp][] = [
          ["unknown moment kind", { ...st, [`${mu}/zzz`]: { shape: [len], data: new Float64Array(len) } }, /head\.bias\/zzz/],
          ["unknown parameter", { ...st, "nope/m": { shape: [1], data: new Float64Array(1) } }, /nope\/m/],
          ["fractional step", { ...st, step: { shape: [1], data: Float64Array.of(1.5) } }, /step.*integer/],
          ["negative step", { ...st, step: { shape: [1], data: Float64Array.of(-1) } }, /step.*integer/],
          ["NaN moment", { ...st, [`${mu}/v`]: { shape: [len], data: new Float64Array(len).fill(NaN) } }, /head\.bias\/v.*non-finite/],
          ["wrong length", { ...st, [`${mu}/m`]: { shape: [len + 1], data: new Float64Array(len + 1) } }, /head\.bias\/m.*length/],
          ["partial moments", Object.fromEntries(Object.entries(st).filter(([k2]) => k2 !== `${mu}/m`)), /head\.bias\/m.*missing/],
          ["not an object", null as unknown as NamedTensors, /optimizerState/],
        ];
        for (const [what, state, pattern] of bad) await expectThrow(what, () => m.setOptimizerState(state), pattern);
        compareTensors("state after rejected sets", await m.getOptimizerState(), st, 0);
      } finally {
        m.dispose();
      }
    });

    h.it("contract: bad optimizer, head and predict arguments get errors naming the argument", async () => {
      const b = await backend();
      const m = await b.createModel(contractSpec, initWeights(contractSpec, 3));
      try {
        const batch = contractBatch(new Rng(seed + 47));
        const before = await m.getWeights();
        await expectThrow("optimizer type", () => m.step(batch, {}, { type: "adamw", lr: 0.1 } as unknown as OptimizerSpec), /optimizer\.type/);
        await expectThrow("negative lr", () => m.step(batch, {}, { type: "sgd", lr: -1 }), /optimizer\.lr/);
        await expectThrow("NaN lr", () => m.step(batch, {}, { type: "sgd", lr: NaN }), /optimizer\.lr/);
        await expectThrow("clipNorm 0", () => m.step(batch, {}, { type: "sgd", lr: 0.1, clipNorm: 0 }), /optimizer\.clipNorm/);
        await expectThrow(
          "freeze unknown name",
          () => m.step(batch, {}, { type: "adam", lr: 0.1, freeze: ["head.bias", "trunk.9.weight"] }),
          /optimizer\.freeze\[1\].*trunk\.9\.weight/,
        );
        await expectThrow(
          "freeze not an array",
          () => m.step(batch, {}, { type: "adam", lr: 0.1, freeze: "trunk" as unknown as string[] }),
          /optimizer\.freeze/,
        );
        await expectThrow("variant", () => m.step(batch, { variant: "fast" as unknown as "nll" }, { type: "sgd", lr: 0.1 }), /variant/);
        await expectThrow("piFloor", () => m.gradients(batch, { variant: "ngem-full", piFloor: 0 }), /piFloor/);
        await expectThrow("batch.n", () => m.step({ ...batch, n: 0 }, {}, { type: "sgd", lr: 0.1 }), /batch\.n/);
        await expectThrow("predict n", () => m.predict(batch.x, 0), /\bn\b/);
        await expectThrow("predict n fractional", () => m.predict(batch.x, 1.5), /\bn\b/);
        await expectThrow("predict without x", () => m.predict(undefined, 4), /\bx\b/);
        await expectThrow("predict x length", () => m.predict(batch.x.subarray(1), 4), /\bx\b.*length/);
        compareTensors("weights after rejected calls", await m.getWeights(), before, 0);
        if (Object.keys(await m.getOptimizerState()).length) throw new Error("a rejected step must not create optimizer state");
      } finally {
        m.dispose();
      }
    });

    h.it("contract: a non-finite input skips the step, names batch.x or batch.y, and leaves weights and state unchanged", async () => {
      const b = await backend();
      const m = await b.createModel(contractSpec, initWeights(contractSpec, 4));
      try {
        const rng = new Rng(seed + 53);
        await m.step(contractBatch(rng), {}, { type: "adam", lr: 0.01 });
        const w = await m.getWeights();
        const st = await m.getOptimizerState();
        const bx = contractBatch(rng);
        bx.x[3] = Infinity;
        const rx = await m.step(bx, {}, { type: "adam", lr: 0.01 });
        if (rx.nonFinite !== "batch.x") throw new Error(`non-finite x: expected nonFinite "batch.x", got ${JSON.stringify(rx)}`);
        const by = contractBatch(rng);
        by.y[2] = NaN;
        const ry = await m.step(by, {}, { type: "adam", lr: 0.01 });
        if (ry.nonFinite !== "batch.y") throw new Error(`non-finite y: expected nonFinite "batch.y", got ${JSON.stringify(ry)}`);
        await expectThrow("gradients on non-finite y", () => m.gradients(by, {}), /batch\.y/);
        compareTensors("weights after skipped steps", await m.getWeights(), w, 0);
        compareTensors("optimizer state after skipped steps", await m.getOptimizerState(), st, 0);
      } finally {
        m.dispose();
      }
    });

    h.it("contract: every method of a disposed model throws DisposedError; dispose twice is harmless", async () => {
      const b = await backend();
      const w = initWeights(contractSpec, 5);
      const m = await b.createModel(contractSpec, w);
      const batch = contractBatch(new Rng(seed + 59));
      m.dispose();
      m.dispose();
      const calls: [string, () => Promise<unknown>][] = [
        ["step", () => m.step(batch, {}, { type: "sgd", lr: 0.1 })],
        ["gradients", () => m.gradients(batch, {})],
        ["predict", () => m.predict(batch.x, batch.n)],
        ["getWeights", () => m.getWeights()],
        ["setWeights", () => m.setWeights(w)],
        ["getOptimizerState", () => m.getOptimizerState()],
        ["setOptimizerState", () => m.setOptimizerState({})],
      ];
      for (const [name, call] of calls) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        if (!(err instanceof Error) || err.name !== "DisposedError" || !err.message.startsWith(`${name}:`)) {
          throw new Error(`${name} after dispose: expected a DisposedError naming ${name}, got ${String(err)}`);
        }
      }
    });
  });
}

// ---- issue 19: the `damping` and `precondition` head options on every backend ----

/**
 * Head options of the damping / precondition parity cases: damped ngem and ngem-full in
 * both Fisher coordinates (one with a floor low enough that damping alone bounds rho/pi),
 * partial precondition sets, and both at once.
 */
export const PARITY_DAMPING_OPTIONS: readonly HeadOptions[] = [
  { variant: "ngem", damping: 0.5 },
  { variant: "ngem", fisherCoords: "sigma", damping: 2 },
  { variant: "ngem-full", damping: 0.1 },
  { variant: "ngem-full", fisherCoords: "sigma", damping: 1, piFloor: 1e-6 },
  { variant: "ngem", precondition: ["mu"] },
  { variant: "ngem-full", precondition: ["logits", "scale"], damping: 0.3 },
  { variant: "ngem-full", precondition: [] },
];

const dampingTag = (o: HeadOptions): string =>
  `${o.variant}${o.fisherCoords ? `/${o.fisherCoords}` : ""}${o.damping !== undefined ? ` lambda=${o.damping}` : ""}${o.precondition ? ` pre=[${o.precondition.join(",")}]` : ""}`;

function dampingParityCases(
  h: TestHarness,
  backend: () => Promise<Backend>,
  tol: () => Promise<{ head: number; model: number; cast: (a: Float64Array) => FloatArray }>,
  seed: number,
  timeout: number,
): void {
  const ref = createJsBackend();
  h.it(
    "head with damping / precondition matches the reference (shapes of PARITY_HEAD_SHAPES, PARITY_DAMPING_OPTIONS)",
    async () => {
      const b = await backend();
      const t = await tol();
      for (const [n, k, d] of PARITY_HEAD_SHAPES) {
        const rng = new Rng(seed + 19 + n * 131 + k * 17 + d);
        const { params, y } = randomHeadCase(rng, n, k, d, t.cast);
        for (const o of PARITY_DAMPING_OPTIONS)
          compareHead(`[${n},${k},${d}] ${dampingTag(o)}`, await b.head(params, y, o), await ref.head(params, y, o), t.head);
      }
    },
    timeout,
  );

  h.it(
    "head with damping / precondition: a collapsed component still gets exactly zero gradients",
    async () => {
      const b = await backend();
      const t = await tol();
      for (const [n, k, d, c, allDims] of PARITY_COLLAPSE_CASES.slice(0, 4)) {
        const rng = new Rng(seed + 4099 + n * 131 + k * 17 + d);
        const { params, y } = collapsedHeadCase(rng, n, k, d, c, allDims, t.cast);
        for (const o of PARITY_DAMPING_OPTIONS) {
          const tag = `collapsed [${n},${k},${d}] c=${c} ${dampingTag(o)}`;
          const got = await b.head(params, y, o);
          compareHead(tag, got, await ref.head(params, y, o), t.head);
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < d; j++) {
              const at = (i * k + c) * d + j;
              if (got.grads.mu[at] !== 0 || got.grads.logSigma[at] !== 0) throw new Error(`${tag}: collapsed component's gradient at ${at} is not exactly 0`);
            }
          }
        }
      }
    },
    timeout,
  );

  for (const spec of PARITY_MODEL_SPECS) {
    const label = `${spec.kind} K=${spec.k} D=${spec.d}${spec.kind === "mdn" && spec.trunk === "separate" ? " separate" : ""}${spec.head ? ` ${JSON.stringify(spec.head)}` : ""}`;
    h.it(
      `model ${label}: gradients and an Adam step with damping / precondition match the reference`,
      async () => {
        const b = await backend();
        const t = await tol();
        const w0 = initWeights(spec, seed + 19);
        const wCast: NamedTensors = Object.fromEntries(Object.entries(w0).map(([k2, v]) => [k2, { shape: v.shape, data: t.cast(v.data as Float64Array) }]));
        const m = await b.createModel(spec, wCast);
        const r = await ref.createModel(spec, wCast);
        try {
          const rng = new Rng(seed + 190);
          const batch = randomBatch(spec, 9, rng, t.cast);
          for (const o of PARITY_DAMPING_OPTIONS) {
            const tag = `${label} ${dampingTag(o)}`;
            const gm = await m.gradients(batch, o);
            const gr = await r.gradients(batch, o);
            assertClose(`${tag} loss`, [gm.loss], [gr.loss], t.model);
            compareTensors(`${tag} grad`, gm.grads, gr.grads, t.model);
          }
          const o: HeadOptions = { variant: "ngem-full", damping: 0.2, precondition: ["mu", "scale"] };
          const opt: OptimizerSpec = { type: "adam", lr: 0.01 };
          for (let i = 0; i < 2; i++) {
            const sm = await m.step(batch, o, opt);
            const sr = await r.step(batch, o, opt);
            assertClose(`${label} damped step ${i} loss`, [sm.loss], [sr.loss], t.model);
          }
          compareTensors(`${label} weights after 2 damped Adam steps`, await m.getWeights(), await r.getWeights(), t.model);
        } finally {
          m.dispose();
          r.dispose();
        }
      },
      timeout,
    );
  }

  h.it("head rejects a bad damping / precondition with an error naming the option", async () => {
    const b = await backend();
    const p: MixtureParams = { n: 1, k: 2, d: 1, logits: new Float32Array(2), mu: new Float32Array(2), logSigma: new Float32Array(2) };
    await expectThrow("damping -1", () => b.head(p, new Float32Array(1), { damping: -1 }), /damping/);
    await expectThrow("precondition [sigma]", () => b.head(p, new Float32Array(1), { precondition: ["sigma" as never] }), /precondition/);
  });
}

export { ShapeError };
