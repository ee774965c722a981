/**
 * Elementwise kernels (exp, erf, GELU / tanh / ReLU forward and backward) vs
 * core's float64 reference, and the SIMD tails: for every length 1..9 the
 * scalar tail (length mod 4 elements) must give bit-identical results to the
 * f32x4 body on the same inputs.
 */
import { activate, activateGrad, erf, type Activation } from "@ngem/core";
import { beforeAll, describe, expect, it } from "vitest";
import { KernelRuntime } from "../src/index.js";
import { expectElementwise, randomF32 } from "./helpers.js";

let rt: KernelRuntime;
beforeAll(async () => {
  rt = await KernelRuntime.create();
});

const ACTS: Activation[] = ["gelu", "tanh", "relu"];

/** Runs a unary kernel over `x` in fresh regions and returns the output. */
function unary(fn: (x: number, out: number, len: number) => void, x: Float32Array): Float32Array {
  const mark = rt.mark();
  try {
    const xi = rt.alloc("x", x.length);
    const out = rt.alloc("out", x.length);
    rt.write(xi, x);
    fn(xi.ptr, out.ptr, x.length);
    return rt.read(out);
  } finally {
    rt.release(mark);
  }
}

/** Repeats `base` (4 values) so lane j of the body and tail element 4q+j see the same input. */
function tiled(base: Float32Array, len: number): Float32Array {
  return Float32Array.from({ length: len }, (_, i) => base[i % 4] as number);
}

describe("SIMD tails (lengths 1..9) match the f32x4 body bit for bit", () => {
  const base = Float32Array.of(-1.7, 0.3, 2.2, -0.05);
  const kernels: [string, (x: Float32Array) => Float32Array][] = [
    ["exp", (x) => unary((a, b, n) => rt.raw.vexp_array(a, b, n), x)],
    ["erf", (x) => unary((a, b, n) => rt.raw.verf_array(a, b, n), x)],
    ...ACTS.map((k): [string, (x: Float32Array) => Float32Array] => [
      `${k} forward`,
      (x) => unary((a, b, n) => rt.raw.act_forward({ gelu: 0, tanh: 1, relu: 2 }[k], a, b, n), x),
    ]),
    ...ACTS.map((k): [string, (x: Float32Array) => Float32Array] => [
      `${k} backward`,
      (x) => {
        const mark = rt.mark();
        try {
          const pre = rt.alloc("pre", x.length);
          const g = rt.alloc("g", x.length);
          rt.write(pre, x);
          rt.write(g, tiled(Float32Array.of(0.5, -2, 1.25, 3), x.length));
          rt.activationBackward(k, pre, g, g, x.length);
          return rt.read(g);
        } finally {
          rt.release(mark);
        }
      },
    ]),
    [
      "scale",
      (x) => {
        const mark = rt.mark();
        try {
          const r = rt.alloc("x", x.length);
          rt.write(r, x);
          rt.scale(r, 0.37);
          return rt.read(r);
        } finally {
          rt.release(mark);
        }
      },
    ],
  ];
  for (const [name, run] of kernels) {
    it(name, () => {
      const body = run(tiled(base, 8)); // lengths 8: no tail
      for (let len = 1; len <= 9; len++) {
        const out = run(tiled(base, len));
        for (let i = 0; i < len; i++) {
          const want = body[i % 4] as number;
          if (!Object.is(out[i], want)) expect.fail(`${name} len ${len}: element ${i} = ${out[i]} differs from the SIMD lane value ${want}`);
        }
      }
    });
  }

  it("sum of squares and non-finite search cover every tail position", () => {
    for (let len = 1; len <= 9; len++) {
      const x = randomF32(len, 100 + len);
      const r = rt.alloc("x", len);
      rt.write(r, x);
      let want = 0;
      for (const v of x) want += v * v;
      expect(Math.abs(rt.sumSquares(r) - want)).toBeLessThanOrEqual(1e-12 * want);
      expect(rt.firstNonFinite(r, 1, len)).toBe(-1);
      for (let bad = 0; bad < len; bad++) {
        for (const v of [NaN, Infinity, -Infinity]) {
          rt.write(r, x);
          rt.write(r, [v], bad);
          expect(rt.firstNonFinite(r, 1, len), `len ${len}, ${v} at ${bad}`).toBe(bad);
          expect(Number.isFinite(rt.sumSquares(r))).toBe(false);
        }
      }
      rt.release(r.ptr);
    }
  });
});

describe("transcendental kernels vs float64 reference", () => {
  const x = Float32Array.from({ length: 4001 }, (_, i) => -10 + (20 * i) / 4000); // odd length: tail included

  it("exp: relative error <= 4e-7 on [-10, 10]", () => {
    const got = unary((a, b, n) => rt.raw.vexp_array(a, b, n), x);
    expectElementwise(
      "exp",
      got,
      Array.from(x, (v) => Math.exp(v)),
      4e-7,
      0,
    );
  });

  it("exp: NaN propagates, large |x| clamps", () => {
    const got = unary((a, b, n) => rt.raw.vexp_array(a, b, n), Float32Array.of(NaN, -200, 200, 0, NaN));
    expect(got[0]).toBeNaN();
    expect(got[4]).toBeNaN();
    expect(got[1]).toBeLessThan(2e-38);
    expect(got[2]).toBeGreaterThan(1e38);
    expect(got[3]).toBe(1);
  });

  it("erf: absolute error <= 3e-7 on [-10, 10]", () => {
    const got = unary((a, b, n) => rt.raw.verf_array(a, b, n), x);
    expectElementwise(
      "erf",
      got,
      Array.from(x, (v) => erf(v)),
      0,
      3e-7,
    );
  });

  for (const kind of ACTS) {
    it(`${kind}: forward and derivative match core's activate / activateGrad`, () => {
      const fwd = unary((a, b, n) => rt.raw.act_forward({ gelu: 0, tanh: 1, relu: 2 }[kind], a, b, n), x);
      // GELU's 1 + erf(x / sqrt 2) cancels for x < -4 in float32 (as PyTorch's float32 GELU does): absolute error up to ~8e-7 there,
      // on values of size < 1e-6; relative accuracy elsewhere is ~1e-6.
      const atol = kind === "gelu" ? 1e-6 : 1e-7;
      expectElementwise(
        `${kind} forward`,
        fwd,
        Array.from(x, (v) => activate(kind, v)),
        1e-6,
        atol,
      );
      const mark = rt.mark();
      const pre = rt.alloc("pre", x.length);
      const g = rt.alloc("g", x.length);
      rt.write(pre, x);
      rt.write(g, new Float32Array(x.length).fill(1));
      rt.activationBackward(kind, pre, g, g, x.length);
      const d = rt.read(g);
      rt.release(mark);
      expectElementwise(
        `${kind} derivative`,
        d,
        Array.from(x, (v) => activateGrad(kind, v)),
        1e-6,
        atol,
      );
    });
  }

  it("tanh keeps relative accuracy near 0", () => {
    const small = Float32Array.of(1e-6, -3e-4, 0.01, -0.2, 0.6, 0.65, -0.7);
    const got = unary((a, b, n) => rt.raw.act_forward(1, a, b, n), small);
    expectElementwise(
      "tanh small",
      got,
      Array.from(small, (v) => Math.tanh(v)),
      3e-7,
      0,
    );
  });
});

describe("training forward (act and act' in one pass) and mulFlush", () => {
  // spans both erf branches, the tanh polynomial / exp switch, ReLU's kink, tiny and huge values
  const x = Float32Array.from(randomF32(1031, 77), (v, i) => (i % 97 === 0 ? 0 : i % 89 === 0 ? 1e-30 : i % 83 === 0 ? 60 : 6 * v));
  const gOut = randomF32(x.length, 78);

  for (const kind of ACTS) {
    it(`${kind}: outputs equal act_forward and the backward equals act_backward, bit for bit, aliased or not (odd length ${x.length})`, () => {
      const mark = rt.mark();
      try {
        const xi = rt.alloc("x", x.length);
        const y1 = rt.alloc("y1", x.length);
        const y2 = rt.alloc("y2", x.length);
        const d = rt.alloc("d", x.length);
        const g1 = rt.alloc("g1", x.length);
        const g2 = rt.alloc("g2", x.length);
        rt.write(xi, x);
        rt.activation(kind, xi, y1, x.length);
        rt.write(g1, gOut);
        rt.activationBackward(kind, xi, g1, g1, x.length);
        rt.activationTrain(kind, xi, y2, d, x.length);
        rt.write(g2, gOut);
        rt.mulFlush(d, g2, g2, x.length);
        const [a, b, c, e] = [rt.read(y1), rt.read(y2), rt.read(g1), rt.read(g2)];
        for (let i = 0; i < x.length; i++) {
          if (!Object.is(a[i], b[i])) expect.fail(`${kind} forward ${i}: ${b[i]} vs act_forward ${a[i]}`);
          if (!Object.is(c[i], e[i])) expect.fail(`${kind} backward ${i}: ${e[i]} vs act_backward ${c[i]}`);
        }
        // deriv over its own input (the model stores act' over the pre-activation)
        rt.activationTrain(kind, xi, y2, xi, x.length);
        const dAliased = rt.read(xi);
        const dSeparate = rt.read(d);
        for (let i = 0; i < x.length; i++)
          if (!Object.is(dAliased[i], dSeparate[i])) expect.fail(`${kind} aliased act' ${i}: ${dAliased[i]} vs ${dSeparate[i]}`);
      } finally {
        rt.release(mark);
      }
    });
  }

  it("mulFlush flushes products below 2^-60 and keeps Inf / NaN", () => {
    const mark = rt.mark();
    try {
      const a = rt.alloc("a", 5);
      const b = rt.alloc("b", 5);
      rt.write(a, [1e-10, 1e-10, Infinity, NaN, -3]);
      rt.write(b, [1e-10, 1e-8, 2, 1, 0.5]);
      rt.mulFlush(a, b, a, 5);
      const out = rt.read(a);
      expect(out[0]).toBe(0); // 1e-20 < 2^-60
      expect(out[1]).toBeCloseTo(1e-18, 24); // 1e-18 > 2^-60 (8.7e-19): kept
      expect(out[2]).toBe(Infinity);
      expect(out[3]).toBeNaN();
      expect(out[4]).toBe(-1.5);
    } finally {
      rt.release(mark);
    }
  });

  it("rejects regions shorter than len", () => {
    const mark = rt.mark();
    try {
      const a = rt.alloc("a", 4);
      const b = rt.alloc("b", 8);
      expect(() => rt.activationTrain("gelu", b, b, a, 8)).toThrow(/deriv/);
      expect(() => rt.mulFlush(a, b, b, 8)).toThrow(/"a" holds 4 floats/);
    } finally {
      rt.release(mark);
    }
  });
});
