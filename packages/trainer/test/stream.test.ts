/**
 * Out-of-core training (stream.ts): the streamed run equals the in-memory
 * run where it should, resume continues from the stored stream position
 * bit-exactly (no row skipped or repeated), the hash split is disjoint and
 * stable, and the streamed statistics agree with a two-pass reference.
 */
import { getBackend, registerBackend, Rng, type Backend, type BackendModel } from "@ngem/core";
import { describe, expect, it } from "vitest";
import {
  arrayStreamSource,
  decodeCheckpoint,
  resume,
  resumeStream,
  streamStatistics,
  train,
  trainStream,
  type TrainConfig,
  type TrainData,
  type TrainerIO,
} from "../src/index.js";
import { ColumnStats, isHeldOut } from "../src/stream.js";
import { inverseSine } from "./helpers.js";

/** Backend "js-rec": the js backend, recording the y rows of every training step. */
const seen: number[][] = [];
registerBackend("js-rec", async (): Promise<Backend> => {
  const js = await getBackend("js");
  return {
    ...js,
    name: "js-rec",
    head: js.head.bind(js),
    dispose: () => js.dispose(),
    async createModel(spec, weights): Promise<BackendModel> {
      const m = await js.createModel(spec, weights);
      return new Proxy(m, {
        get(target, prop, recv) {
          if (prop === "step") {
            return (batch: { n: number; y: ArrayLike<number> }, ...rest: unknown[]) => {
              seen.push(Array.from(batch.y as ArrayLike<number>));
              return (target.step as (...a: unknown[]) => unknown).call(target, batch, ...rest);
            };
          }
          const v = Reflect.get(target, prop, recv) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
});

function memIO(): TrainerIO & { files: Map<string, Uint8Array | string> } {
  const files = new Map<string, Uint8Array | string>();
  return {
    files,
    async writeFileAtomic(p, b) {
      files.set(p, Uint8Array.from(b));
    },
    async readFile(p) {
      const f = files.get(p);
      if (!(f instanceof Uint8Array)) throw new Error(`no file ${p}`);
      return f;
    },
    async appendText(p, t) {
      files.set(p, `${(files.get(p) as string | undefined) ?? ""}${t}`);
    },
    async writeText(p, t) {
      files.set(p, t);
    },
    async readText(p) {
      const f = files.get(p);
      return typeof f === "string" ? f : undefined;
    },
  };
}

/** The same rows standardised with given statistics, exactly as the stream does it. */
function standardized(data: TrainData, stats: { x?: { mean: Float64Array; std: Float64Array }; y: { mean: Float64Array; std: Float64Array } }): TrainData {
  const z = (a: Float64Array, dim: number, s: { mean: Float64Array; std: Float64Array }) => a.map((v, i) => (v - s.mean[i % dim]!) / s.std[i % dim]!);
  return { ...data, x: stats.x ? z(data.x, data.xDim, stats.x) : data.x, y: z(data.y, data.yDim, stats.y), normalization: stats };
}

const base: TrainConfig = { model: { kind: "mdn", k: 2, hidden: [8] }, optimizer: { type: "adam", lr: 3e-3 }, batchSize: 16, epochs: 2, seed: 3 };

async function weightsOf(r: { model: { weights(): Promise<Record<string, { data: ArrayLike<number> }>> } }): Promise<number[]> {
  const w = await r.model.weights();
  return Object.keys(w)
    .sort()
    .flatMap((k) => Array.from(w[k]!.data));
}

describe("streamed training", () => {
  it("equals the in-memory run in file order (shuffle off, no validation), batch by batch", async () => {
    const data = inverseSine(300, 1);
    const src = arrayStreamSource(data, 37); // source batches that straddle minibatches
    const streamed = await trainStream({ ...base, shuffle: false }, src);
    const info = await streamStatistics(src, 3, 0);
    const mem = await train({ ...base, shuffle: false }, standardized(data, info.stats));
    expect(await weightsOf(streamed)).toEqual(await weightsOf(mem));
    expect(streamed.history.epochs.map((e) => e.meanLoss)).toEqual(mem.history.epochs.map((e) => e.meanLoss));
    expect(streamed.model.normalization?.y?.mean).toEqual(info.stats.y.mean);
  });

  it("train() and resume() accept a stream source", async () => {
    const data = inverseSine(120, 2);
    const a = await train({ ...base, epochs: 1 }, arrayStreamSource(data, 50));
    const b = await trainStream({ ...base, epochs: 1 }, arrayStreamSource(data, 50));
    expect(await weightsOf(a)).toEqual(await weightsOf(b));
    const more = await resume(a.model, arrayStreamSource(data, 50), { epochs: 2 });
    expect(more.model.state.epoch).toBe(2);
  });

  it("every epoch uses each training row exactly once, never a validation row; the shuffle buffer mixes", async () => {
    const n = 500;
    const rows = new Float64Array(n).map((_, i) => i);
    const data: TrainData = { n, xDim: 1, yDim: 1, x: rows.map((v) => Math.sin(v)), y: rows };
    seen.length = 0;
    const split = 0.2;
    const r = await trainStream({ ...base, backend: "js-rec", validationSplit: split, epochs: 2, batchSize: 32 }, arrayStreamSource(data, 64), {
      shuffleBuffer: 50,
      standardize: false,
    });
    const train = [...Array(n).keys()].filter((i) => !isHeldOut(i, base.seed!, split));
    const perEpoch = Math.ceil(train.length / 32);
    expect(seen.length).toBe(2 * perEpoch);
    for (let e = 0; e < 2; e++) {
      const epochRows = seen.slice(e * perEpoch, (e + 1) * perEpoch).flat();
      expect([...epochRows].sort((a, b) => a - b)).toEqual(train);
      // approximately shuffled: far from file order, but bounded displacement-ish (buffer of 50)
      let inOrder = 0;
      for (let i = 1; i < epochRows.length; i++) if (epochRows[i]! > epochRows[i - 1]!) inOrder++;
      expect(inOrder / epochRows.length).toBeLessThan(0.7);
    }
    expect(seen.slice(0, perEpoch).flat()).not.toEqual(seen.slice(perEpoch).flat()); // a new order each epoch
    expect(r.history.evals.length).toBe(2);
  });

  it("resume from a mid-epoch checkpoint continues exactly: same rows, same order, bit-identical weights", async () => {
    const n = 400;
    const data: TrainData = { n, xDim: 1, yDim: 1, x: new Float64Array(n).map((_, i) => Math.cos(i)), y: new Float64Array(n).map((_, i) => i) };
    const cfg: TrainConfig = { ...base, backend: "js-rec", validationSplit: 0.15, epochs: 3, batchSize: 16, noise: { y: 0.01 } };
    const opts = { shuffleBuffer: 40 };
    seen.length = 0;
    const straight = await trainStream(cfg, arrayStreamSource(data, 30), opts);
    const all = seen.splice(0);
    for (const stopAt of [7, 22, 40]) {
      // 22: an epoch boundary (empty buffer)
      const io = memIO();
      const first = await trainStream({ ...cfg, checkpoint: { path: "c", every: 1000 } }, arrayStreamSource(data, 30), { ...opts, io, stopAtStep: stopAt });
      expect(first.history.stopReason).toBe("stop-at-step");
      const part1 = seen.splice(0);
      // what a killed process leaves: only the checkpoint file
      const model = await decodeCheckpoint(io.files.get("c") as Uint8Array);
      expect(model.state.stream?.fill).toBe(model.state.batchInEpoch === 0 ? 0 : 40);
      const rest = await resumeStream(model, arrayStreamSource(data, 30));
      const part2 = seen.splice(0);
      expect([...part1, ...part2]).toEqual(all);
      expect(await weightsOf(rest)).toEqual(await weightsOf(straight));
    }
  });

  it("a changed source is refused on resume", async () => {
    const data = inverseSine(100, 4);
    const io = memIO();
    await trainStream({ ...base, epochs: 1, checkpoint: { path: "c" } }, arrayStreamSource(data), { io });
    const model = await decodeCheckpoint(io.files.get("c") as Uint8Array);
    const other = { ...data, y: data.y.map((v, i) => (i === 50 ? v + 1e-9 : v)) };
    await expect(resumeStream(model, arrayStreamSource(other), { epochs: 2 })).rejects.toThrow(/fingerprint/);
    await expect(resume(model, data, { epochs: 2 })).rejects.toThrow(/fingerprint/);
  });
});

describe("hash split", () => {
  it("is disjoint, covering, close to the fraction, and stable under appended rows and seeds", () => {
    const n = 20000;
    const val = [...Array(n).keys()].filter((r) => isHeldOut(r, 7, 0.1));
    expect(Math.abs(val.length / n - 0.1)).toBeLessThan(0.01);
    // stable: the same answer again, and independent of how many rows follow
    expect([...Array(n).keys()].filter((r) => isHeldOut(r, 7, 0.1))).toEqual(val);
    // nested in the fraction, different per seed, works past 2^32 rows
    expect(val.every((r) => isHeldOut(r, 7, 0.2))).toBe(true);
    expect([...Array(n).keys()].filter((r) => isHeldOut(r, 8, 0.1))).not.toEqual(val);
    const big = [...Array(20000).keys()].filter((i) => isHeldOut(2 ** 40 + i, 7, 0.5)).length;
    expect(Math.abs(big / 20000 - 0.5)).toBeLessThan(0.02);
    expect(isHeldOut(5, 7, 0)).toBe(false);
  });
});

describe("streamed statistics", () => {
  /** Reference: scaled, compensated two-pass over the whole column (as @ngem/datasets computes it). */
  function reference(col: number[]): { mean: number; std: number } {
    const max = Math.max(...col.map(Math.abs));
    const e = Math.floor(Math.log2(max)) + 1;
    const s = 2 ** -e;
    let sum = 0;
    let comp = 0;
    for (const v of col) {
      const u = v * s;
      const t = sum + u;
      comp += Math.abs(sum) >= Math.abs(u) ? sum - t + u : u - t + sum;
      sum = t;
    }
    const mu = (sum + comp) / col.length;
    let ss = 0;
    let sd = 0;
    for (const v of col) {
      const c = v * s - mu;
      ss += c * c;
      sd += c;
    }
    return { mean: mu / s, std: Math.sqrt((ss - (sd * sd) / col.length) / col.length) / s };
  }

  it("match a whole-column two-pass reference to 1e-12 relative at any scale and chunking", async () => {
    const n = 30000;
    const r = new Rng(11);
    const cols = [
      (_i: number) => r.normal(),
      (_i: number) => 1e8 + r.normal(), // large offset: cancellation
      (_i: number) => 1e-30 * (3 + r.normal()),
      (_i: number) => 1e300 * r.uniform(),
      (i: number) => (i < n / 2 ? 0 : 1e-5 * r.normal()), // zeros, then tiny values (mixed chunk scales)
      (i: number) => 1e5 * Math.sin(i) + i,
    ];
    const D = cols.length;
    const y = new Float64Array(n * D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) y[i * D + d] = cols[d]!(i);
    const data: TrainData = { n, xDim: 0, yDim: D, x: new Float64Array(0), y };
    for (const chunk of [1, 97, 4096, n]) {
      const info = await streamStatistics(arrayStreamSource(data, chunk), 0, 0.1);
      expect(info.rows).toBe(n);
      for (let d = 0; d < D; d++) {
        const ref = reference(Array.from({ length: n }, (_, i) => y[i * D + d]!));
        expect(Math.abs(info.stats.y.mean[d]! - ref.mean)).toBeLessThanOrEqual(1e-12 * (Math.abs(ref.mean) + ref.std));
        expect(Math.abs(info.stats.y.std[d]! - ref.std)).toBeLessThanOrEqual(1e-12 * ref.std);
      }
    }
  });

  it("handle constant and all-zero columns like computeNormalization, and name non-finite rows", () => {
    const s = new ColumnStats(2);
    s.push(Float64Array.of(0, 5e-200, 0, 5e-200, 0, 5e-200), 3, (i) => `row ${i}`);
    const st = s.finish();
    expect([...st.mean]).toEqual([0, 5e-200]);
    expect([...st.std]).toEqual([1, 5e-200]);
    expect(() => new ColumnStats(1).push(Float64Array.of(1, NaN), 2, (i) => `row ${i + 1}`)).toThrow(/row 2, column 0: NaN/);
  });
});
