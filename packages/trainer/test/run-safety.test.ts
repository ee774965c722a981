/**
 * What a run may write and where: checkpoints carry no file paths, resume
 * takes them anew and trims metrics, only finite states are checkpointed,
 * divergence and excess skipped steps are reported, config typos and
 * impossible splits / sizes fail before anything is allocated.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, decodeSafetensors, load, resume, train, validateConfig, type TrainConfig, type TrainerIO } from "../src/index.js";
import { trimMetrics } from "../src/train.js";
import { FileWriteError, nodeIO, removeStaleTemps, writeFileAtomic } from "../src/node.js";
import { gaussianData, inverseSine } from "./helpers.js";

/** An in-memory file system that records every path written. */
function memoryIO(): TrainerIO & { files: Map<string, Uint8Array | string>; written: Set<string> } {
  const files = new Map<string, Uint8Array | string>();
  const written = new Set<string>();
  return {
    files,
    written,
    async writeFileAtomic(p, b) {
      files.set(p, b);
      written.add(p);
    },
    async readFile(p) {
      const v = files.get(p);
      if (v === undefined) throw new Error(`ENOENT ${p}`);
      return typeof v === "string" ? new TextEncoder().encode(v) : v;
    },
    async appendText(p, t) {
      files.set(p, `${(files.get(p) as string | undefined) ?? ""}${t}`);
      written.add(p);
    },
    async writeText(p, t) {
      files.set(p, t);
      written.add(p);
    },
    async readText(p) {
      return files.get(p) as string | undefined;
    },
  };
}

const base: TrainConfig = { model: { kind: "mdn", k: 2, hidden: [8], activation: "tanh" }, batchSize: 10, steps: 12, seed: 3 };

describe("checkpoints carry no file locations", () => {
  it("the stored config has no metricsFile / checkpoint; resume writes only where it is told", async () => {
    const io = memoryIO();
    const data = inverseSine(60, 1);
    await train({ ...base, metricsFile: "A/metrics.jsonl", checkpoint: { path: "A/ckpt", every: 5 } }, data, { io });
    const bytes = io.files.get("A/ckpt") as Uint8Array;
    const cfg = JSON.parse(decodeSafetensors(bytes).metadata.config as string);
    expect(cfg.metricsFile).toBeUndefined();
    expect(cfg.checkpoint).toBeUndefined();
    // "Copy" A to B and resume B: nothing under A is written.
    io.files.set("B/ckpt", bytes);
    io.files.set("B/metrics.jsonl", io.files.get("A/metrics.jsonl") as string);
    io.written.clear();
    await resume("B/ckpt", data, { io, steps: 20, metricsFile: "B/metrics.jsonl", checkpoint: { path: "B/ckpt", every: 5 } });
    expect([...io.written].sort()).toEqual(["B/ckpt", "B/metrics.jsonl"]);
    const steps = (io.files.get("B/metrics.jsonl") as string)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("resume(path) without a checkpoint option writes back to that path only", async () => {
    const io = memoryIO();
    const data = inverseSine(60, 1);
    await train({ ...base, checkpoint: { path: "orig" } }, data, { io });
    io.files.set("moved", io.files.get("orig") as Uint8Array);
    io.files.delete("orig");
    io.written.clear();
    await resume("moved", data, { io, steps: 15 });
    expect([...io.written]).toEqual(["moved"]);
  });

  it("trimMetrics drops lines after the checkpoint step and a torn last line", async () => {
    const io = memoryIO();
    io.files.set("m", '{"step":1}\n{"step":2}\n{"step":3}\n{"step":4}\n{"ste');
    await trimMetrics(io, "m", 2);
    expect(io.files.get("m")).toBe('{"step":1}\n{"step":2}\n');
  });
});

describe("only finite states are saved", () => {
  it("a diverging run keeps its last finite checkpoint and ends non-finite", async () => {
    const io = memoryIO();
    const data = inverseSine(60, 2);
    const { history } = await train({ ...base, optimizer: { type: "sgd", lr: 100 }, steps: 40, checkpoint: { path: "c", every: 1 } }, data, {
      io,
      onCheckpoint: ({ step }) => void expect(step).toBeGreaterThan(0),
    });
    expect(history.stopReason).toBe("non-finite");
    expect(history.checkpointStep).toBeGreaterThan(0);
    const m = await load("c", { io });
    expect(m.state.step).toBe(history.checkpointStep);
    for (const t of Object.values(await m.weights())) expect(t.data.every(Number.isFinite)).toBe(true);
  });

  it("nonFinite skip: more than maxSkippedFraction skipped is a non-finite stop", async () => {
    const data = gaussianData(20, [0], [1], 6);
    const y = Float64Array.from(data.y);
    for (const i of [3, 7, 11, 13]) y[i] = 1e200;
    const bad = { ...data, y };
    const cfg: TrainConfig = { model: { kind: "gmm", k: 2 }, batchSize: 1, steps: 20, shuffle: false, nonFinite: "skip" };
    const { history } = await train(cfg, bad);
    expect(history.nonFinite.length).toBe(4);
    expect(history.stopReason).toBe("non-finite");
    expect(history.stopDetail).toMatch(/4 of the 20 steps/);
    const lenient = await train({ ...cfg, maxSkippedFraction: 0.5 }, bad);
    expect(lenient.history.stopReason).toBe("completed");
  });
});

describe("config errors before anything is allocated", () => {
  const data = inverseSine(30, 1);
  it.each([
    [{ ...base, epochz: 3 }, /config\.epochz: unknown field \(did you mean "epochs"\?\)/],
    [{ ...base, model: { ...base.model, hiden: [3] } }, /config\.model\.hiden: unknown field/],
    [{ ...base, optimizer: { type: "adam", lr: 1e-3, momentum: 0.9 } }, /config\.optimizer\.momentum: unknown field/],
    [{ ...base, checkpoint: { path: "x", evry: 3 } }, /config\.checkpoint\.evry/],
    [{ ...base, validationSplit: 0.01 }, /validationSplit: 0.01 of 30 rows leaves 0 validation/],
    [{ ...base, validationSplit: 0.99 }, /leaves 30 validation and 0 training/],
    [{ ...base, model: { kind: "mdn", k: 1_000_000_000 } }, /parameters/],
  ])("%j", (cfg, msg) => {
    expect(() => validateConfig(cfg as unknown as TrainConfig, data)).toThrow(ConfigError);
    expect(() => validateConfig(cfg as unknown as TrainConfig, data)).toThrow(msg);
  });
  it("train() rejects them too, with nothing written", async () => {
    const io = memoryIO();
    await expect(train({ ...base, epochz: 3, metricsFile: "m" } as unknown as TrainConfig, data, { io })).rejects.toThrow(/epochz/);
    expect(io.written.size).toBe(0);
  });
});

describe("the atomic writer", () => {
  const dir = mkdtempSync(join(tmpdir(), "ngem-atomic-"));
  it("names the target on failure and leaves no temp file", async () => {
    const target = join(dir, "sub");
    writeFileSync(join(dir, "plain"), "x");
    // A directory where a file should go: EISDIR on rename.
    await nodeIO.writeText(join(dir, "ok.txt"), "fine");
    rmSync(target, { recursive: true, force: true });
    (await import("node:fs")).mkdirSync(target);
    const err = await writeFileAtomic(target, "data").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect((err as FileWriteError).path).toBe(target);
    expect((err as Error).message).toMatch(new RegExp(`^cannot write ${target}: `));
    expect((err as Error).message).not.toMatch(/\.tmp-/);
    const missing = await writeFileAtomic(join(dir, "no", "such", "f"), "x").catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/its directory does not exist \(ENOENT\)/);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(readFileSync(join(dir, "ok.txt"), "utf8")).toBe("fine");
  });
  it("removeStaleTemps removes temp files of dead processes only", () => {
    writeFileSync(join(dir, ".a.tmp-999999999-0"), "x");
    writeFileSync(join(dir, `.b.tmp-${process.pid}-0`), "x");
    expect(removeStaleTemps(dir)).toEqual([".a.tmp-999999999-0"]);
    expect(removeStaleTemps(dir, true)).toEqual([`.b.tmp-${process.pid}-0`]);
    rmSync(dir, { recursive: true, force: true });
  });
});
