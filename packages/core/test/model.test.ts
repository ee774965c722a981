import { describe, expect, it } from "vitest";
import {
  activate,
  activateGrad,
  createJsBackend,
  erf,
  erfc,
  initWeights,
  optimizerUpdate,
  paramCount,
  paramShapes,
  Rng,
  type ModelSpec,
  type NamedTensors,
} from "../src/index.js";
import { normRelErr } from "./helpers.js";

const specs: ModelSpec[] = [
  { kind: "mdn", inputDim: 3, hidden: [6, 5], activation: "gelu", layerNorm: true, k: 3, d: 2 },
  { kind: "mdn", inputDim: 2, hidden: [4], activation: "tanh", layerNorm: false, k: 2, d: 1 },
  { kind: "mdn", inputDim: 2, hidden: [], activation: "relu", layerNorm: false, k: 2, d: 2 },
  { kind: "gmm", k: 3, d: 2 },
  // two trunks (logits | means and scales), spec.trunk = "separate"
  { kind: "mdn", inputDim: 3, hidden: [6, 5], activation: "gelu", layerNorm: true, k: 3, d: 2, trunk: "separate" },
  {
    kind: "mdn",
    inputDim: 2,
    hidden: [4],
    activation: "tanh",
    layerNorm: false,
    k: 2,
    d: 3,
    trunk: "separate",
    head: { scale: "softplus", sigmaMin: 0.01, covariance: "isotropic" },
  },
  { kind: "mdn", inputDim: 2, hidden: [], activation: "relu", layerNorm: false, k: 2, d: 2, trunk: "separate" },
];

function batchFor(spec: ModelSpec, n: number, seed: number) {
  const rng = new Rng(seed);
  const y = new Float64Array(n * spec.d).map(() => rng.normal());
  if (spec.kind === "gmm") return { n, y };
  return { n, x: new Float64Array(n * spec.inputDim).map(() => rng.normal()), y };
}

describe("model-level gradients (js backend) vs finite differences of the loss", () => {
  for (const spec of specs) {
    const label =
      spec.kind === "gmm"
        ? "gmm"
        : `mdn ${spec.hidden.join("-") || "linear"} ${spec.activation}${spec.layerNorm ? "+LN" : ""}${spec.trunk === "separate" ? " separate trunks" : ""}${spec.head ? " " + JSON.stringify(spec.head) : ""}`;
    it(`${label}: every parameter within 1e-6 (nll variant)`, async () => {
      const be = createJsBackend();
      const w = initWeights(spec, 3);
      const batch = batchFor(spec, 5, 4);
      const m = await be.createModel(spec, w);
      const { grads } = await m.gradients(batch, { variant: "nll" });
      const h = 1e-6;
      for (const [name, t] of Object.entries(w)) {
        const fd = new Float64Array(t.data.length);
        for (let i = 0; i < t.data.length; i++) {
          const plus: NamedTensors = { ...w, [name]: { shape: t.shape, data: Float64Array.from(t.data) } };
          const minus: NamedTensors = { ...w, [name]: { shape: t.shape, data: Float64Array.from(t.data) } };
          (plus[name]!.data as Float64Array)[i] = (t.data[i] as number) + h;
          (minus[name]!.data as Float64Array)[i] = (t.data[i] as number) - h;
          await m.setWeights(plus);
          const lp = (await m.gradients(batch, { variant: "nll" })).loss;
          await m.setWeights(minus);
          const lm = (await m.gradients(batch, { variant: "nll" })).loss;
          fd[i] = (lp - lm) / (2 * h);
        }
        await m.setWeights(w);
        expect(normRelErr(grads[name]!.data, fd), name).toBeLessThan(1e-6);
      }
    });
  }
});

describe("spec and init", () => {
  it("canonical names, shapes and counts", () => {
    const spec = specs[0]!;
    const names = paramShapes(spec).map(([n]) => n);
    expect(names).toEqual([
      "trunk.0.weight",
      "trunk.0.bias",
      "trunk.0.ln.gamma",
      "trunk.0.ln.beta",
      "trunk.1.weight",
      "trunk.1.bias",
      "trunk.1.ln.gamma",
      "trunk.1.ln.beta",
      "head.weight",
      "head.bias",
    ]);
    expect(paramCount(spec)).toBe(3 * 6 + 6 + 12 + 6 * 5 + 5 + 10 + 5 * 15 + 15);
    // trunk: "shared" is the default: same names, shapes and init as an absent trunk
    const shared = { ...spec, trunk: "shared" } as ModelSpec;
    expect(paramShapes(shared)).toEqual(paramShapes(spec));
    expect(initWeights(shared, 4)).toEqual(initWeights(spec, 4));
  });
  it("separate trunks: canonical names, shapes and counts", () => {
    const spec: ModelSpec = { kind: "mdn", inputDim: 3, hidden: [6, 5], activation: "gelu", layerNorm: false, k: 3, d: 2, trunk: "separate" };
    expect(paramShapes(spec)).toEqual([
      ["logits_trunk.0.weight", [3, 6]],
      ["logits_trunk.0.bias", [6]],
      ["logits_trunk.1.weight", [6, 5]],
      ["logits_trunk.1.bias", [5]],
      ["logits_head.weight", [5, 3]],
      ["logits_head.bias", [3]],
      ["gauss_trunk.0.weight", [3, 6]],
      ["gauss_trunk.0.bias", [6]],
      ["gauss_trunk.1.weight", [6, 5]],
      ["gauss_trunk.1.bias", [5]],
      ["gauss_head.weight", [5, 12]],
      ["gauss_head.bias", [12]],
    ]);
    const w = initWeights(spec, 2);
    expect(w["logits_head.bias"]!.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(5))).toBe(true);
    expect(w["gauss_trunk.1.bias"]!.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(6))).toBe(true);
    expect(() => paramShapes({ ...spec, trunk: "two" } as unknown as ModelSpec)).toThrow(/spec\.trunk/);
  });
  it("init is seeded and within the documented bounds", () => {
    const a = initWeights(specs[0]!, 9);
    const b = initWeights(specs[0]!, 9);
    const c = initWeights(specs[0]!, 10);
    expect(Array.from(a["head.weight"]!.data)).toEqual(Array.from(b["head.weight"]!.data));
    expect(Array.from(a["head.weight"]!.data)).not.toEqual(Array.from(c["head.weight"]!.data));
    expect(a["trunk.0.weight"]!.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(3))).toBe(true);
    expect(a["head.bias"]!.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(5))).toBe(true);
    expect(a["trunk.1.ln.gamma"]!.data.every((v) => v === 1)).toBe(true);
  });
});

describe("special functions and activations", () => {
  it("erf matches reference values to ~1e-15", () => {
    // Values from Abramowitz & Stegun / high-precision tables.
    const ref: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.5, 0.999593047982555],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of ref) expect(Math.abs(erf(x) - v) / Math.abs(v)).toBeLessThan(2e-15);
    expect(erfc(5)).toBeCloseTo(1.5374597944280349e-12, 24);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
  });
  it("activation derivatives match finite differences", () => {
    for (const a of ["gelu", "tanh", "relu"] as const) {
      for (const x of [-3, -0.7, 0.3, 1.9, 4]) {
        const fd = (activate(a, x + 1e-6) - activate(a, x - 1e-6)) / 2e-6;
        expect(Math.abs(fd - activateGrad(a, x))).toBeLessThan(1e-8);
      }
    }
  });
});

describe("reference optimizers follow the PyTorch rules", () => {
  it("adam's first step moves every weight by lr * sign(g) (bias-corrected)", () => {
    const w = { p: new Float64Array([1, 2, 3]) };
    optimizerUpdate({ type: "adam", lr: 0.1 }, w, { p: [0.5, -2, 1e-3] }, {});
    expect(w.p[0]).toBeCloseTo(0.9, 6);
    expect(w.p[1]).toBeCloseTo(2.1, 6);
    expect(w.p[2]).toBeCloseTo(2.9, 4);
  });
  it("sgd with momentum accumulates as torch (buf = g on the first step)", () => {
    const w = { p: new Float64Array([0]) };
    const s = {};
    optimizerUpdate({ type: "sgd", lr: 1, momentum: 0.9 }, w, { p: [1] }, s);
    optimizerUpdate({ type: "sgd", lr: 1, momentum: 0.9 }, w, { p: [1] }, s);
    expect(w.p[0]).toBeCloseTo(-(1 + 1.9), 12);
  });
  it("rmsprop step is g / (sqrt(v) + eps)", () => {
    const w = { p: new Float64Array([0]) };
    optimizerUpdate({ type: "rmsprop", lr: 0.01, alpha: 0.99 }, w, { p: [2] }, {});
    expect(w.p[0]).toBeCloseTo(-0.01 * (2 / (Math.sqrt(0.01 * 4) + 1e-8)), 12);
  });
  it("every optimizer minimises a quadratic to its known optimum", () => {
    for (const o of [
      { type: "sgd", lr: 0.1, momentum: 0.5 },
      { type: "adam", lr: 0.05 },
      { type: "rmsprop", lr: 0.01 },
    ] as const) {
      const w = { p: new Float64Array([5, -3]) };
      const s = {};
      const target = [1, 2];
      for (let t = 0; t < 3000; t++) optimizerUpdate(o, w, { p: [w.p[0]! - target[0]!, 2 * (w.p[1]! - target[1]!)] }, s);
      expect(Math.abs(w.p[0]! - 1), o.type).toBeLessThan(0.02);
      expect(Math.abs(w.p[1]! - 2), o.type).toBeLessThan(0.02);
    }
  });
});

describe("rng", () => {
  it("is deterministic, resumable from its state, and uniform-ish", () => {
    const a = new Rng(5);
    const b = new Rng(5);
    expect([a.nextU32(), a.nextU32()]).toEqual([b.nextU32(), b.nextU32()]);
    const st = a.getState();
    const next = [a.uniform(), a.normal()];
    const c = Rng.fromState(st);
    expect([c.uniform(), c.normal()]).toEqual(next);
    const r = new Rng(1);
    let m = 0;
    const N = 50_000;
    for (let i = 0; i < N; i++) m += r.uniform();
    expect(Math.abs(m / N - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(() => new Rng(NaN)).toThrow(/seed/);
  });
});
