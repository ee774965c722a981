import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  CHECKPOINT_VERSION,
  CheckpointFormatError,
  DataMismatchError,
  decodeCheckpoint,
  decodeSafetensors,
  encodeCheckpoint,
  encodeSafetensors,
  load,
  predict,
  resume,
  save,
  train,
  type TrainConfig,
} from "../src/index.js";
import type { NamedTensors } from "@ngem/core";
import { ensureDist, inverseSine, PKG } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "ngem-trainer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectBitIdentical(a: NamedTensors, b: NamedTensors): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [k, ta] of Object.entries(a)) {
    const tb = b[k];
    if (!tb) throw new Error(`tensor ${k} missing`);
    expect(ta.shape).toEqual(tb.shape);
    const x = new Uint8Array(Float64Array.from(ta.data).buffer);
    const y = new Uint8Array(Float64Array.from(tb.data).buffer);
    expect(Buffer.compare(Buffer.from(x), Buffer.from(y)), `tensor ${k}`).toBe(0);
  }
}

describe("safetensors codec", () => {
  it("round-trips float64 exactly with metadata, 8-byte aligned", () => {
    const t: NamedTensors = {
      a: { shape: [2, 3], data: Float64Array.of(1, -0, Math.PI, 1e-300, -1e300, 5e-324) },
      b: { shape: [1], data: Float64Array.of(7) },
    };
    const bytes = encodeSafetensors(t, { hello: "world" });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.a).toEqual({ dtype: "F64", shape: [2, 3], data_offsets: [0, 48] });
    expect(header.b.data_offsets).toEqual([48, 56]);
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ hello: "world" });
    expectBitIdentical(back.tensors, t);
  });
  it("rejects a truncated file with a clear error", () => {
    const bytes = encodeSafetensors({ a: { shape: [4], data: new Float64Array(4) } });
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 3))).toThrow(CheckpointFormatError);
    expect(() => decodeSafetensors(bytes.subarray(0, 4))).toThrow(/too short/);
  });
});

const isConfig = (steps: number, optimizer: TrainConfig["optimizer"], noisy = false): TrainConfig => ({
  // noisy: noise on x and y, and a sigma floor (1.5 > the initial sigmas ~ 1) so floor hits accumulate
  model: { kind: "mdn", k: 2, hidden: [8], activation: "gelu", layerNorm: true, ...(noisy ? { sigmaMin: 1.5, scale: "softplus" as const } : {}) },
  ...(noisy ? { noise: { x: 0.1, y: 0.05 } } : {}),
  optimizer,
  schedule: { type: "cosine", warmupSteps: 3, minLrFactor: 0.1 },
  batchSize: 6,
  steps,
  seed: 9,
  validationSplit: 0.25,
  evalEvery: 5,
  earlyStopping: { patience: 100 },
});

describe("save / load / resume in process", () => {
  const data = inverseSine(40, 5);
  const optimizers = [
    { type: "adam", lr: 1e-2 },
    { type: "sgd", lr: 1e-2, momentum: 0.9 },
    { type: "soap", lr: 1e-2, precondFrequency: 2 },
  ] as const;
  for (const [optimizer, noisy] of [...optimizers.map((o) => [o, false] as const), ...optimizers.map((o) => [o, true] as const)]) {
    it(`N straight == N/2 + save + load + N/2 (${optimizer.type}, mid-epoch${noisy ? ", noise + sigma floor" : ""})`, async () => {
      const N = 23; // 30 training rows / batch 6 = 5 batches per epoch: 11 is mid-epoch
      const straight = await train(isConfig(N, optimizer, noisy), data);
      const path = join(dir, `half-${optimizer.type}${noisy ? "-noisy" : ""}.safetensors`);
      // noisy runs: the periodic checkpoint at step 11 (written mid-run), then the run goes on to 13 and stops unsaved
      const half = await train({ ...isConfig(N, optimizer, noisy), checkpoint: noisy ? { path, every: 11, atEnd: false } : { path } }, data, {
        stopAtStep: noisy ? 13 : 11,
      });
      expect(half.history.stopReason).toBe("stop-at-step");
      const loaded = await load(path);
      expect(loaded.state.step).toBe(11);
      expect(loaded.state.batchInEpoch).toBe(1);
      const midNoiseRng = [...loaded.state.noiseRng];
      const rest = await resume(loaded, data);
      expect(rest.history.stopReason).toBe("completed");
      expect(rest.model.state.step).toBe(N);
      expectBitIdentical(await rest.model.weights(), await straight.model.weights());
      expectBitIdentical(await rest.model.optimizerState(), await straight.model.optimizerState());
      expect(rest.history.bestValNll).toBe(straight.history.bestValNll);
      expect(rest.history.steps.map((r) => r.loss)).toEqual(straight.history.steps.slice(11).map((r) => r.loss));
      expect(rest.model.state.noiseRng).toEqual(straight.model.state.noiseRng);
      if (noisy) {
        // the noise stream moved, and the floor counters continue across the resume
        expect(midNoiseRng).not.toEqual(straight.model.state.noiseRng);
        expect(straight.history.floorHits?.total).toBeGreaterThan(0);
        expect(rest.history.floorHits).toEqual(straight.history.floorHits);
        expect(rest.history.steps.map((r) => r.floorHits)).toEqual(straight.history.steps.slice(11).map((r) => r.floorHits));
      } else {
        expect(straight.history.floorHits).toBeUndefined();
      }
    });
  }

  it("stores config, normalisation and counters; predict in original units", async () => {
    const d = {
      ...inverseSine(30, 1),
      normalization: { x: { mean: Float64Array.of(0.5), std: Float64Array.of(2) }, y: { mean: Float64Array.of(10), std: Float64Array.of(3) } },
    };
    const { model } = await train({ model: { kind: "mdn", k: 2, hidden: [4] }, steps: 3, batchSize: 10 }, d);
    const path = join(dir, "norm.safetensors");
    await save(model, path);
    const back = await load(path);
    expect(back.config).toEqual(model.config);
    expect(back.spec).toEqual(model.spec);
    expect(back.state.step).toBe(3);
    expect([...(back.normalization?.y?.std ?? [])]).toEqual([3]);
    const { predict } = await import("../src/index.js");
    const a = await predict(back, Float64Array.of(0.5 + 2 * 0.25), { space: "original" });
    const b = await predict(back, Float64Array.of(0.25));
    expect(a.mu[0]).toBeCloseTo(b.mu[0]! * 3 + 10, 12);
    expect(a.logSigma[1]).toBeCloseTo(b.logSigma[1]! + Math.log(3), 12);
    // no temp files left behind by the atomic writer
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("resume refuses different data", async () => {
    const path = join(dir, "fp.safetensors");
    await train({ ...isConfig(4, { type: "adam", lr: 1e-2 }), checkpoint: { path } }, data);
    await expect(resume(path, inverseSine(40, 6))).rejects.toBeInstanceOf(DataMismatchError);
  });

  it("load names a corrupted checkpoint", async () => {
    const path = join(dir, "bad.safetensors");
    writeFileSync(path, encodeSafetensors({ w: { shape: [1], data: Float64Array.of(1) } }, { format: "something-else" }));
    await expect(load(path)).rejects.toThrow(/__metadata__\.format/);
  });
});

describe("checkpoint format versions", () => {
  const fixture = join(PKG, "test", "fixtures", "checkpoint-v1-mdn.safetensors");

  it("writes version 2", () => {
    expect(CHECKPOINT_VERSION).toBe("2");
  });

  it("loads the committed version-1 fixture and reproduces its stored predictions (1e-12)", async () => {
    expect(decodeSafetensors(new Uint8Array(readFileSync(fixture))).metadata.version).toBe("1");
    const model = await load(fixture);
    // no head in version 1 -> the defaults; no noise
    expect(model.spec).not.toHaveProperty("head");
    expect(model.config.model).toMatchObject({ kind: "mdn", k: 2, hidden: [4], scale: "exp", sigmaMin: 0, covariance: "diag" });
    expect(model.config.noise).toEqual({ x: 0, y: 0, schedule: "constant" });
    expect(model.state.floorHits).toEqual({ total: 0, steps: 0, firstStep: -1 });
    expect(model.state.step).toBe(10);
    const expected = JSON.parse(readFileSync(join(PKG, "test", "fixtures", "checkpoint-v1-mdn.predict.json"), "utf8")) as Record<
      "logits" | "mu" | "logSigma",
      number[]
    >;
    const got = await predict(model, Float64Array.of(0.25, 0.75));
    for (const key of ["logits", "mu", "logSigma"] as const) {
      expect(got[key].length).toBe(expected[key].length);
      expected[key].forEach((v, i) => expect(Math.abs((got[key][i] as number) - v), `${key}[${i}]`).toBeLessThanOrEqual(1e-12));
    }
    // re-saved, it is a version-2 file with the same predictions
    const again = await decodeCheckpoint(await encodeCheckpoint(model));
    expect(again.config).toEqual(model.config);
    expectBitIdentical(
      { p: { shape: [8], data: Float64Array.from([...(await predict(again, Float64Array.of(0.25, 0.75))).mu, ...got.logSigma]) } },
      { p: { shape: [8], data: Float64Array.from([...got.mu, ...got.logSigma]) } },
    );
  });

  it("a version-1 file (no head, noise, noise stream or floor counters) resumes bit-identically", async () => {
    const data = inverseSine(40, 5);
    const N = 23;
    const straight = await train(isConfig(N, { type: "adam", lr: 1e-2 }), data);
    const half = await train(isConfig(N, { type: "adam", lr: 1e-2 }), data, { stopAtStep: 11 });
    // rewrite the version-2 checkpoint the way version 1 wrote it
    const { tensors, metadata } = decodeSafetensors(await encodeCheckpoint(half.model));
    const config = JSON.parse(metadata.config as string) as Record<string, unknown> & { model: Record<string, unknown> };
    delete config.noise;
    for (const k of ["scale", "sigmaMin", "covariance"]) delete config.model[k];
    const trainer = JSON.parse(metadata.trainer as string) as Record<string, unknown>;
    delete trainer.noiseRng;
    delete trainer.floorHits;
    const { head: _h, noise: _n, ...rest } = metadata;
    const v1 = encodeSafetensors(tensors, { ...rest, version: "1", config: JSON.stringify(config), trainer: JSON.stringify(trainer) });
    const loaded = await decodeCheckpoint(v1);
    expect(loaded.config).toEqual(half.model.config);
    const done = await resume(loaded, data);
    expectBitIdentical(await done.model.weights(), await straight.model.weights());
  });

  it("round-trips version 2 with a non-default head and noise", async () => {
    const data = inverseSine(30, 2);
    const config: TrainConfig = {
      model: { kind: "mdn", k: 3, hidden: [6], scale: "elu+1", sigmaMin: 0.02, covariance: "isotropic" },
      noise: { x: 0.05, y: 0.1, schedule: "rule-of-thumb" },
      steps: 7,
      batchSize: 8,
    };
    const { model } = await train(config, data);
    const bytes = await encodeCheckpoint(model);
    const { metadata } = decodeSafetensors(bytes);
    expect(metadata.version).toBe("2");
    expect(JSON.parse(metadata.head as string)).toEqual({ scale: "elu+1", sigmaMin: 0.02, covariance: "isotropic" });
    expect(JSON.parse(metadata.noise as string)).toEqual({ x: 0.05, y: 0.1, schedule: "rule-of-thumb" });
    expect(JSON.parse(metadata.spec as string).head).toEqual({ scale: "elu+1", sigmaMin: 0.02, covariance: "isotropic" });
    const path = join(dir, "v2-head.safetensors");
    await save(model, path);
    const back = await load(path);
    expect(back.spec).toEqual(model.spec);
    expect(back.config).toEqual(model.config);
    expect(back.state.noiseRng).toEqual(model.state.noiseRng);
    expect(back.state.floorHits).toEqual(model.state.floorHits);
    expectBitIdentical(await back.weights(), await model.weights());
    const x = Float64Array.of(-0.3, 0.2, 0.9);
    const a = await predict(model, x);
    const b = await predict(back, x);
    expectBitIdentical(
      { l: { shape: [9], data: b.logSigma }, m: { shape: [9], data: b.mu } },
      { l: { shape: [9], data: a.logSigma }, m: { shape: [9], data: a.mu } },
    );
    // isotropic: each component's sigma is shared by its dimensions, and at least sigmaMin
    for (const v of a.logSigma) expect(Math.exp(v)).toBeGreaterThanOrEqual(0.02);
  });

  it('writes version 3 for trunk: "separate" (logits_* / gauss_* tensors), resumes bit-identically, and refuses it as version 2', async () => {
    const data = inverseSine(40, 5);
    const N = 17;
    const config = (steps: number): TrainConfig => ({
      ...isConfig(steps, { type: "adam", lr: 1e-2 }),
      model: { kind: "mdn", k: 2, hidden: [8], activation: "gelu", layerNorm: true, trunk: "separate" },
    });
    const straight = await train(config(N), data);
    const half = await train(config(N), data, { stopAtStep: 7 });
    const bytes = await encodeCheckpoint(half.model);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata.version).toBe("3");
    expect(JSON.parse(metadata.spec as string).trunk).toBe("separate");
    expect(JSON.parse(metadata.config as string).model.trunk).toBe("separate");
    expect(
      Object.keys(tensors)
        .filter((k) => !k.includes("/"))
        .sort(),
    ).toEqual([
      "gauss_head.bias",
      "gauss_head.weight",
      "gauss_trunk.0.bias",
      "gauss_trunk.0.ln.beta",
      "gauss_trunk.0.ln.gamma",
      "gauss_trunk.0.weight",
      "logits_head.bias",
      "logits_head.weight",
      "logits_trunk.0.bias",
      "logits_trunk.0.ln.beta",
      "logits_trunk.0.ln.gamma",
      "logits_trunk.0.weight",
    ]);
    expect(tensors["logits_head.weight"]!.shape).toEqual([8, 2]);
    expect(tensors["gauss_head.weight"]!.shape).toEqual([8, 4]);
    const done = await resume(await decodeCheckpoint(bytes), data);
    expectBitIdentical(await done.model.weights(), await straight.model.weights());
    await expect(decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, version: "2" }))).rejects.toThrow(
      /spec\.trunk is "separate", which needs version "3"/,
    );
    // a shared trunk still writes version 2, with no trunk key in the spec or config
    const shared = decodeSafetensors(await encodeCheckpoint((await train(isConfig(3, { type: "adam", lr: 1e-2 }), data)).model)).metadata;
    expect(shared.version).toBe("2");
    expect(JSON.parse(shared.spec as string)).not.toHaveProperty("trunk");
    expect(JSON.parse(shared.config as string).model).not.toHaveProperty("trunk");
  });

  it("refuses a stored config that the config schema rejects, or a bad generator state, naming the field (the file is untrusted input)", async () => {
    const { model } = await train({ model: { kind: "gmm", k: 2 }, steps: 2, batchSize: 4 }, inverseSine(8, 1));
    const { tensors, metadata } = decodeSafetensors(await encodeCheckpoint(model));
    const config = JSON.parse(metadata.config as string) as Record<string, unknown>;
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...config, batchSize: 0 }, /__metadata__\.config: config\.batchSize: expected an integer >= 1/],
      [{ ...config, objective: "ngem2" }, /__metadata__\.config: config\.objective: expected "nll"/],
      [{ ...config, lrr: 1 }, /__metadata__\.config: config\.lrr: unknown field/],
    ];
    for (const [cfg, pattern] of bad) {
      const err = await decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, config: JSON.stringify(cfg) })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointFormatError);
      expect(String((err as Error).message)).toMatch(pattern);
    }
    const trainer = JSON.parse(metadata.trainer as string) as Record<string, unknown>;
    for (const rng of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, -4], "x"]) {
      const err = await decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, trainer: JSON.stringify({ ...trainer, rng }) })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointFormatError);
      expect(String((err as Error).message)).toMatch(/__metadata__\.trainer\.rng: expected a generator state/);
    }
    // the untouched metadata still loads
    await expect(decodeCheckpoint(encodeSafetensors(tensors, metadata))).resolves.toBeDefined();
  });

  it("refuses an unknown (newer) version and an inconsistent head, naming the field", async () => {
    const { model } = await train({ model: { kind: "gmm", k: 2, sigmaMin: 0.01 }, steps: 2, batchSize: 4 }, inverseSine(8, 1));
    const { tensors, metadata } = decodeSafetensors(await encodeCheckpoint(model));
    await expect(decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, version: "4" }))).rejects.toThrow(
      /__metadata__\.version: this @ngem\/trainer reads versions "1", "2", "3", got "4" \(written by a newer/,
    );
    // version 3 is only for separate trunks
    await expect(decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, version: "3" }))).rejects.toThrow(
      /version "3" is only written for spec\.trunk = "separate"/,
    );
    await expect(
      decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, head: JSON.stringify({ scale: "exp", sigmaMin: 0.5, covariance: "diag" }) })),
    ).rejects.toThrow(/__metadata__\.head\.sigmaMin/);
    await expect(decodeCheckpoint(encodeSafetensors(tensors, { ...metadata, version: "1" }))).rejects.toThrow(/version-1 checkpoint has no head/);
  });
});

const distReason = ensureDist();
if (distReason) console.log(`SKIPPED child-process checkpoint tests: ${distReason}`);
const child = join(PKG, "test", "fixtures", "child-train.mjs");

function runChild(args: Record<string, unknown>): { stopReason: string } {
  const r = spawnSync(process.execPath, [child, JSON.stringify(args)], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() as string) as { stopReason: string };
}

describe.skipIf(distReason !== undefined)("checkpoints across processes (built dist, plain node)", () => {
  for (const [optimizer, noise] of [
    ["adam", false],
    ["soap", false],
    ["adam", true],
  ] as const) {
    it(`resume in a new process is bit-identical (${optimizer}${noise ? ", noise regularisation" : ""})`, async () => {
      const N = 30;
      const tag = `${optimizer}${noise ? "-noise" : ""}`;
      const full = join(dir, `full-${tag}.safetensors`);
      const part = join(dir, `part-${tag}.safetensors`);
      expect(runChild({ mode: "train", optimizer, ckpt: full, steps: N, noise }).stopReason).toBe("completed");
      expect(runChild({ mode: "train", optimizer, ckpt: part, steps: N, stopAtStep: N / 2, noise }).stopReason).toBe("stop-at-step");
      const mid = await load(part);
      expect(mid.state.step).toBe(N / 2);
      expect(runChild({ mode: "resume", optimizer, ckpt: part }).stopReason).toBe("completed");
      const a = await load(full);
      const b = await load(part);
      expect(b.state.step).toBe(N);
      expectBitIdentical(await b.weights(), await a.weights());
      expectBitIdentical(await b.optimizerState(), await a.optimizerState());
      expect(b.state.rng).toEqual(a.state.rng);
      expect(b.state.noiseRng).toEqual(a.state.noiseRng);
      expect(b.config.noise).toEqual(noise ? { x: 0.1, y: 0.1, schedule: "constant" } : { x: 0, y: 0, schedule: "constant" });
    });
  }

  it("a process killed with SIGKILL mid-run leaves the last checkpoint loadable", async () => {
    for (let round = 0; round < 3; round++) {
      const ckpt = join(dir, `crash-${round}.safetensors`);
      const metrics = join(dir, `crash-${round}.jsonl`);
      const proc = spawn(
        process.execPath,
        [child, JSON.stringify({ mode: "train", optimizer: "adam", ckpt, steps: 1_000_000, every: 1, metrics, hidden: [64, 64] })],
        { stdio: "ignore" },
      );
      const start = Date.now();
      // wait until a few checkpoints exist, then kill at a round-dependent moment
      while (!existsSync(ckpt) && Date.now() - start < 30_000) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(ckpt)).toBe(true);
      await new Promise((r) => setTimeout(r, 150 + 137 * round));
      const exited = new Promise((r) => proc.on("exit", r));
      proc.kill("SIGKILL");
      await exited;
      const m = await load(ckpt);
      expect(m.state.step).toBeGreaterThan(0);
      for (const t of Object.values(await m.weights())) for (const v of t.data) expect(Number.isFinite(v)).toBe(true);
      // metrics lines written before the last checkpoint are valid JSON with the documented fields
      const lines = readFileSync(metrics, "utf8")
        .split("\n")
        .filter((l) => l.length > 0);
      // (the last line may be cut by the kill; metrics are flushed before each checkpoint)
      const parsed: Record<string, unknown>[] = [];
      lines.forEach((l, i) => {
        try {
          parsed.push(JSON.parse(l) as Record<string, unknown>);
        } catch (err) {
          if (i !== lines.length - 1) throw err;
        }
      });
      expect(parsed.length).toBeGreaterThan(0);
      for (const key of ["step", "epoch", "loss", "gradNorm", "lr", "time"]) expect(parsed[0]).toHaveProperty(key);
      expect(parsed.length).toBeGreaterThanOrEqual(m.state.step);
    }
  });
});
