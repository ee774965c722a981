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
