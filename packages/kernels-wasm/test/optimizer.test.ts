/**
 * Optimizer kernels vs core's float64 optimizerUpdate (PyTorch rules): SGD
 * (plain, momentum, nesterov), Adam, RMSProp (with and without momentum),
 * decoupled weight decay; lengths 1..9 and 37 cover the scalar tails. Also:
 * tails are bit-identical to the SIMD body, and clipping via the model.
 */
import { optimizerUpdate, type OptimizerSpec } from "@ngem/core";
import { beforeAll, describe, expect, it } from "vitest";
import { KernelRuntime, type Region } from "../src/index.js";
import { normwiseError, randomF32 } from "./helpers.js";

let rt: KernelRuntime;
beforeAll(async () => {
  rt = await KernelRuntime.create();
});

/** Applies `opt` for step t with the kernels, mirroring WasmModelHandler.update. */
function kernelStep(o: OptimizerSpec, t: number, p: Region, g: Region, m: Region, v: Region, len: number): void {
  const wd = o.weightDecay ?? 0;
  const decay = wd !== 0 ? 1 - o.lr * wd : 1;
  if (o.type === "sgd") rt.sgd(p, g, m, len, o.lr, decay, o.momentum ?? 0, !!o.nesterov, t === 1);
  else if (o.type === "adam") {
    const b1 = o.beta1 ?? 0.9;
    const b2 = o.beta2 ?? 0.999;
    rt.adam(p, g, m, v, len, o.lr, decay, b1, b2, o.eps ?? 1e-8, 1 - b1 ** t, 1 - b2 ** t);
  } else rt.rmsprop(p, g, v, m, len, o.lr, decay, o.alpha ?? 0.99, o.eps ?? 1e-8, o.momentum ?? 0);
}

const OPTS: OptimizerSpec[] = [
  { type: "sgd", lr: 0.1 },
  { type: "sgd", lr: 0.1, weightDecay: 0.05 },
  { type: "sgd", lr: 0.05, momentum: 0.9 },
  { type: "sgd", lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
  { type: "adam", lr: 0.01 },
  { type: "adam", lr: 0.003, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 },
  { type: "rmsprop", lr: 0.01 },
  { type: "rmsprop", lr: 0.01, alpha: 0.9, eps: 1e-6, momentum: 0.5, weightDecay: 0.02 },
];

function label(o: OptimizerSpec): string {
  return JSON.stringify(o).replace(/"/g, "");
}

describe("optimizer kernels match core's optim.ts", () => {
  for (const o of OPTS) {
    it(label(o), () => {
      for (const len of [1, 2, 3, 4, 5, 6, 7, 8, 9, 37]) {
        const mark = rt.mark();
        const p0 = randomF32(len, len * 7 + 1);
        const p = rt.alloc("p", len);
        const g = rt.alloc("g", len);
        const m = rt.alloc("m", len);
        const v = rt.alloc("v", len);
        rt.write(p, p0);
        const refW = { w: Float64Array.from(p0) };
        const refState: Record<string, Float64Array> = {};
        for (let t = 1; t <= 4; t++) {
          const grad = randomF32(len, len * 131 + t, -2, 2);
          rt.write(g, grad);
          kernelStep(o, t, p, g, m, v, len);
          optimizerUpdate(o, refW, { w: grad }, refState);
        }
        const tag = `${label(o)} len ${len}`;
        expect(normwiseError(rt.read(p), refW.w), `${tag}: params`).toBeLessThan(2e-6);
        if (refState["w/m"]) expect(normwiseError(rt.read(m), refState["w/m"]), `${tag}: m`).toBeLessThan(2e-6);
        if (refState["w/v"]) expect(normwiseError(rt.read(v), refState["w/v"]), `${tag}: v`).toBeLessThan(2e-6);
        rt.release(mark);
      }
    });
  }
});

describe("optimizer tails (lengths 1..9) are bit-identical to the SIMD body", () => {
  for (const o of OPTS) {
    it(label(o), () => {
      const base = {
        p: [0.3, -1.2, 2.5, 0.01],
        g: [
          [0.5, -0.25, 3, -1e-3],
          [-0.4, 0.1, -2, 0.7],
        ],
      };
      const run = (len: number): Float32Array[] => {
        const mark = rt.mark();
        const p = rt.alloc("p", len);
        const g = rt.alloc("g", len);
        const m = rt.alloc("m", len);
        const v = rt.alloc("v", len);
        rt.write(
          p,
          Array.from({ length: len }, (_, i) => base.p[i % 4] as number),
        );
        base.g.forEach((gs, t) => {
          rt.write(
            g,
            Array.from({ length: len }, (_, i) => gs[i % 4] as number),
          );
          kernelStep(o, t + 1, p, g, m, v, len);
        });
        const out = [rt.read(p), rt.read(m), rt.read(v)];
        rt.release(mark);
        return out;
      };
      const body = run(8);
      for (let len = 1; len <= 9; len++) {
        const got = run(len);
        got.forEach((arr, which) => {
          for (let i = 0; i < len; i++) {
            const want = (body[which] as Float32Array)[i % 4];
            if (!Object.is(arr[i], want)) expect.fail(`${label(o)} len ${len}: ${["p", "m", "v"][which]}[${i}] = ${arr[i]} != body lane ${want}`);
          }
        });
      }
    });
  }
});
