/**
 * Threads (issue 16.5): a model split across workers on one shared memory gives results
 * bit-identical to one thread, because only outputs are partitioned (rows of a matmul's C,
 * element ranges, rows of the head with per-row results summed in row order), never a
 * reduction. Deterministic and fast: a wide MDN (8-256-256 GELU+LN, K=10, D=4, batch 128)
 * whose large calls are split, a few Adam / SGD steps at 1, 2 and 3 threads (3: with the split
 * threshold at 1, so every kernel call is split, the head included, over ragged row ranges).
 */
import { initWeights, type ModelSpec, type NamedTensors } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { KernelRuntime, createWasmBackend, resolveThreads } from "../src/index.js";
import { POOL_OPS } from "../src/threads.js";
import { batchFor, f32Weights } from "./helpers.js";

const spec: ModelSpec = { kind: "mdn", inputDim: 8, hidden: [256, 256], activation: "gelu", layerNorm: true, k: 10, d: 4 };

async function train(threads: number, build: "simd" | "relaxed-simd", steps: number, variant: "ngem" | "nll" | "ngem-full", splitMinWork?: number) {
  const b = await createWasmBackend({ threads, build, ...(splitMinWork ? { splitMinWork } : {}) });
  expect(b.threads).toBe(threads);
  const m = await b.createModel(spec, f32Weights(initWeights(spec, 3)));
  const losses: number[] = [];
  const norms: number[] = [];
  for (let s = 0; s < steps; s++) {
    const batch = batchFor(spec, s % 3 === 2 ? 61 : 128, 100 + s); // a ragged batch too (row splits not multiples of 4)
    const opt = s % 2 === 0 ? ({ type: "adam", lr: 1e-3, clipNorm: 1 } as const) : ({ type: "sgd", lr: 1e-2, momentum: 0.9, nesterov: true } as const);
    const r = await m.step(batch, { variant }, opt);
    losses.push(r.loss);
    norms.push(r.gradNorm);
  }
  const pred = await m.predict(batchFor(spec, 37, 7).x, 37);
  const weights = await m.getWeights();
  const state = await m.getOptimizerState();
  const stats = m.handler().threadStats();
  m.dispose();
  b.dispose();
  return { losses, norms, weights, state, pred, stats };
}

function expectIdentical(what: string, a: NamedTensors, b: NamedTensors): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [k, t] of Object.entries(a)) {
    const x = t.data;
    const y = (b[k] as { data: ArrayLike<number> }).data;
    expect(y.length, `${what} ${k} length`).toBe(x.length);
    let differ = 0;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) differ++;
    expect(differ, `${what} ${k}: ${differ} of ${x.length} values differ`).toBe(0);
  }
}

describe("threads", () => {
  it("resolves the thread count with a reason", async () => {
    expect((await resolveThreads(1)).threads).toBe(1);
    const auto = await resolveThreads("auto");
    expect(auto.threads).toBeGreaterThanOrEqual(1);
    expect(auto.reason.length).toBeGreaterThan(0);
    await expect(resolveThreads(0)).rejects.toThrow(/threads/);
  });

  for (const build of ["simd", "relaxed-simd"] as const) {
    it(`1 vs 2 vs 3 threads: bit-identical losses, grad norms, weights, optimizer state and predictions after 6 steps (${build} build)`, async () => {
      if (build === "relaxed-simd") {
        const { enableRelaxedSimd } = await import("../src/node.js");
        expect(enableRelaxedSimd()).toBe(true);
      }
      const one = await train(1, build, 6, "ngem");
      const two = await train(2, build, 6, "ngem");
      const three = await train(3, build, 6, "ngem", 1); // every kernel call split, the head and tiny calls included
      expect(one.stats).toEqual({ threads: 1, started: false, dispatches: 0, rests: 0 });
      for (const [name, r] of [
        ["2 threads", two],
        ["3 threads", three],
      ] as const) {
        expect(r.stats.started, `${name}: workers started`).toBe(true);
        expect(r.stats.dispatches, `${name}: split calls ran`).toBeGreaterThan(20);
        expect(r.losses, `${name} losses`).toEqual(one.losses);
        expect(r.norms, `${name} grad norms`).toEqual(one.norms);
        expectIdentical(`${name} weights`, one.weights, r.weights);
        expectIdentical(`${name} optimizer state`, one.state, r.state);
        for (const key of ["logits", "mu", "logSigma"] as const) expect(Array.from(r.pred[key]), `${name} predict ${key}`).toEqual(Array.from(one.pred[key]));
      }
      expect(one.losses.every(Number.isFinite)).toBe(true);
    });
  }

  it("1 vs 2 threads: bit-identical for nll and ngem-full too", async () => {
    for (const variant of ["nll", "ngem-full"] as const) {
      const one = await train(1, "simd", 3, variant);
      const two = await train(2, "simd", 3, variant, 1);
      expect(two.losses).toEqual(one.losses);
      expectIdentical(`${variant} weights`, one.weights, two.weights);
    }
  });

  it("small models stay on the calling thread (no workers started)", async () => {
    const b = await createWasmBackend({ threads: 2, build: "simd" });
    const small: ModelSpec = { kind: "mdn", inputDim: 1, hidden: [16], activation: "tanh", layerNorm: false, k: 3, d: 1 };
    const m = await b.createModel(small, f32Weights(initWeights(small, 0)));
    await m.step(batchFor(small, 8, 1), {}, { type: "adam", lr: 1e-3 });
    expect(m.handler().threadStats()).toEqual({ threads: 2, started: false, dispatches: 0, rests: 0 });
    m.dispose();
  });

  it("sum of squares over blocks: the same float64 value on 1, 2 and 3 threads, and the exact sum to 1e-12", async () => {
    const one = await KernelRuntime.create({ build: "simd" }, 1);
    const lens = [1, 5, 32768, 65537, 200003, 4_000_001];
    for (const threads of [2, 3]) {
      const rt = await KernelRuntime.create({ build: "simd", splitMinWork: 1 }, threads);
      await rt.startPool();
      for (const len of lens) {
        const x = Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
        const a = one.alloc("x", len);
        const b = rt.alloc("x", len);
        one.write(a, x);
        rt.write(b, x);
        let exact = 0;
        for (const v of x) exact += v * v;
        const s1 = one.sumSquares(a);
        const s2 = rt.sumSquares(b);
        expect(Object.is(s1, s2), `len ${len}, ${threads} threads: ${s2} vs one thread ${s1}`).toBe(true);
        expect(Math.abs(s1 - exact)).toBeLessThanOrEqual(1e-12 * exact);
        one.release(a.ptr);
        rt.release(b.ptr);
      }
      if (threads === 2) expect(rt.pool?.dispatches, "the long sums were split").toBeGreaterThan(0);
      rt.dispose();
    }
  });

  it("LayerNorm backward split (gamma / beta by columns, gX by rows, in place) equals the fused kernel bit for bit", async () => {
    const one = await KernelRuntime.create({ build: "simd" }, 1);
    const rt = await KernelRuntime.create({ build: "simd", splitMinWork: 1 }, 3);
    await rt.startPool();
    for (const [rows, width] of [
      [61, 258],
      [7, 5],
      [256, 256],
    ] as const) {
      const x = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * 0.61) * 3 + (i % 5));
      const gy = Float32Array.from({ length: rows * width }, (_, i) => Math.cos(i * 0.23));
      const gamma = Float32Array.from({ length: width }, (_, i) => 1 + 0.01 * i);
      const run = (r: KernelRuntime) => {
        const m = r.mark();
        const [xi, g, b, nm, is, y, gh, gg, gb] = [
          r.alloc("x", x.length),
          r.alloc("gamma", width),
          r.alloc("beta", width),
          r.alloc("normed", x.length),
          r.alloc("invStd", rows),
          r.alloc("y", x.length),
          r.alloc("g", x.length),
          r.alloc("gGamma", width),
          r.alloc("gBeta", width),
        ] as const;
        r.write(xi, x);
        r.write(g, gamma);
        r.layerNorm(xi, g, b, nm, is, y, rows, width);
        r.write(gh, gy);
        r.layerNormBackward(gh, nm, is, g, gh, gg, gb, rows, width); // gX over gY, as the model runs it
        const out = [r.read(gh), r.read(gg), r.read(gb)];
        r.release(m);
        return out;
      };
      const want = run(one);
      const dispatches = rt.pool?.dispatches ?? 0;
      const got = run(rt);
      expect(rt.pool?.dispatches, "the backward was split").toBeGreaterThan(dispatches + 1);
      ["gX", "gGamma", "gBeta"].forEach((name, k) => {
        const a = want[k] as Float32Array;
        const b = got[k] as Float32Array;
        let differ = 0;
        for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differ++;
        expect(differ, `${rows}x${width} ${name}: ${differ} of ${a.length} differ`).toBe(0);
      });
    }
    rt.dispose();
  });

  it("a pool whose worker never gets to a job rests after 32 jobs run alone: calls run whole for 2 ms, then split again", async () => {
    const rt = await KernelRuntime.create({ threads: 2, build: "simd", splitMinWork: 1 });
    await rt.startPool();
    const pool = rt.pool as NonNullable<typeof rt.pool>;
    // stop the worker (as if it never got a core): the calling thread then runs every chunk
    for (const w of (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers) await w.terminate();
    const x = rt.alloc("x", 4096);
    rt.write(x, new Float32Array(4096).fill(1));
    for (let i = 0; i < 31; i++) rt.scale(x, 1);
    expect(pool.rests).toBe(0);
    expect(pool.dispatches).toBe(31);
    rt.scale(x, 1); // the 32nd job in a row run alone
    expect(pool.rests).toBe(1);
    expect(pool.resting).toBe(true);
    rt.scale(x, 2); // resting: run whole, not dispatched, same result
    expect(pool.dispatches).toBe(32);
    expect(rt.read(x)[4095]).toBe(2);
    await new Promise((r) => setTimeout(r, 5));
    expect(pool.resting).toBe(false);
    rt.scale(x, 1);
    expect(pool.dispatches).toBe(33);
    rt.dispose();
  });

  it("a kernel call that traps in a worker is an error on the calling thread, not a hang", async () => {
    const rt = await KernelRuntime.create({ threads: 2, build: "simd" });
    await rt.startPool();
    const pool = rt.pool as NonNullable<typeof rt.pool>;
    const big = rt.memory.buffer.byteLength + 4096; // past the end of memory: the worker's scale() traps
    pool.set(1, POOL_OPS.indexOf("scale"), big, 8, 2, 0);
    expect(() => pool.run()).toThrow(/trapped/);
    pool.set(1, POOL_OPS.indexOf("scale"), 1024, 0, 2, 0); // the pool keeps working
    expect(() => pool.run()).not.toThrow();
    rt.dispose();
  });
});
