/**
 * Fault injection on run directories, through the built CLI as a user runs
 * it: kill -9 at random points (seeded) and inside checkpoint writes, copy /
 * move and resume, failed --force, concurrent runs, a full and a read-only
 * disk (tmpfs, root only), divergence, signals, locks and resume flags.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Rng } from "@ngem/core";
import { load } from "@ngem/trainer";
import { afterAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../dist/index.js");
const TINY = resolve(import.meta.dirname, "fixtures/tiny.csv");
const work = mkdtempSync(join(tmpdir(), "ngem-rundir-"));
const disk = join(work, "disk");
afterAll(() => {
  // The tmpfs of the disk tests (if it was mounted) must go before its folder can.
  spawnSync("umount", ["-l", disk]);
  rmSync(work, { recursive: true, force: true });
});

function ngem(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? work,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function start(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? work,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) =>
    child.on("close", (code, signal) => res({ code, signal, stderr: err })),
  );
  return { child, done, stderr: () => err };
}

/** Resolves when the child's stderr matches `re`; fails (instead of hanging) when it exits first or after `ms`. */
async function waitFor(p: ReturnType<typeof start>, re: RegExp, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!re.test(p.stderr())) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`the process ended before printing ${re}: ${p.stderr()}`);
    if (Date.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** sha256 of every file under `dir` (names and contents). */
function treeHash(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string, rel: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`);
      else h.update(`${rel}${f}\0`).update(readFileSync(p));
    }
  };
  walk(dir, "");
  return h.digest("hex");
}

/** Files that are not part of a finished run: temp files, staging/old directories, locks. */
function debris(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.tmp-\d+-\d+$|\.staging-\d+$|\.old-\d+$|\.ngem-lock$|^\.ngem\.lock$/.test(f));
}

function metricSteps(dir: string): number[] {
  return readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .filter((l) => l)
    .map((l) => (JSON.parse(l) as { step: number }).step);
}

async function weightsOf(ckpt: string): Promise<Record<string, Float64Array>> {
  const m = await load(ckpt);
  const out: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(await m.weights())) out[k] = Float64Array.from(v.data);
  m.dispose();
  return out;
}

const TRAIN = ["--x-cols", "x", "--y-cols", "y", "--k", "2", "--hidden", "16", "--no-plots", "--log-every", "1"];

describe("kill -9 and resume", () => {
  const STEPS = 120;
  const args = (out: string) => ["train", TINY, ...TRAIN, "--steps", String(STEPS), "--checkpoint-every", "7", "--out", out];
  let reference: Record<string, Float64Array>;

  it("an uninterrupted reference run", async () => {
    const r = ngem(args("ref"));
    expect(r.code, r.stderr).toBe(0);
    reference = await weightsOf(join(work, "ref", "checkpoint.safetensors"));
    expect(metricSteps(join(work, "ref"))).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
  });

  it("12 seeded random kills, then resume: same weights, no duplicate metrics, no temp files", async () => {
    const rng = new Rng(2026);
    for (let trial = 0; trial < 12; trial++) {
      const name = `kill-${trial}`;
      const dir = join(work, name);
      // Half the trials die inside a checkpoint write (after the temp file, before the rename).
      const env: Record<string, string> = trial % 2 === 1 ? { NGEM_FAULT_KILL_WRITE: `checkpoint.safetensors:${1 + Math.floor(rng.uniform() * 10)}` } : {};
      const p = start(args(name), { env });
      if (trial % 2 === 0) {
        // Wait for training to start, then kill after a random delay.
        while (!/step \d+/.test(p.stderr()) && p.child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 150)));
        p.child.kill("SIGKILL");
      }
      const first = await p.done;
      if (first.code === 0) continue; // finished before the kill: nothing to test in this trial
      expect(first.signal, first.stderr).toBe("SIGKILL");
      const r = existsSync(join(dir, "checkpoint.safetensors")) ? ngem(["train", "--resume", name]) : ngem(args(name));
      expect(r.code, r.stderr).toBe(0);
      expect(debris(dir), "debris in the run directory").toEqual([]);
      expect(
        debris(work).filter((f) => f.startsWith(`.${name}.`)),
        "debris beside it",
      ).toEqual([]);
      expect(metricSteps(dir)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      const w = await weightsOf(join(dir, "checkpoint.safetensors"));
      for (const [k, v] of Object.entries(reference)) expect(w[k], `${name}: ${k}`).toEqual(v);
    }
  });
});

describe("a run directory is self-contained and relocatable", () => {
  it("copy-and-resume and move-and-resume write only into the resumed directory", () => {
    const a = join(work, "reloc-a");
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "20", "--out", "reloc-a"]).code).toBe(0);
    const hashA = treeHash(a);
    cpSync(a, join(work, "reloc-b"), { recursive: true });
    mkdirSync(join(work, "elsewhere"), { recursive: true });
    const r = ngem(["train", "--resume", "../reloc-b", "--steps", "30"], { cwd: join(work, "elsewhere") });
    expect(r.code, r.stderr).toBe(0);
    expect(treeHash(a), "the original run is untouched").toBe(hashA);
    expect(metricSteps(join(work, "reloc-b")).at(-1)).toBe(30);
    expect(readdirSync(join(work, "elsewhere"))).toEqual([]);
    renameSync(join(work, "reloc-b"), join(work, "reloc-c"));
    const m = ngem(["train", "--resume", "reloc-c", "--steps", "40"]);
    expect(m.code, m.stderr).toBe(0);
    expect(metricSteps(join(work, "reloc-c"))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(existsSync(join(work, "reloc-b"))).toBe(false);
  });
});

describe("a failed command leaves every existing file as it was", () => {
  const out = "keep";
  let before = "";
  it("setup", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "10", "--out", out]).code).toBe(0);
    before = treeHash(join(work, out));
  });
  const cases: [string, string[], number, RegExp][] = [
    ["a validation split of 0 rows", ["--val-split", "0.001"], 2, /validationSplit.*0 validation/],
    ["a model too large to allocate", ["--k", "1000000000"], 2, /parameters|GiB/],
    ["divergence before the first checkpoint", ["--optimizer", "sgd", "--lr", "10", "--steps", "10"], 1, /no finite checkpoint/],
    ["an unknown backend in a config file", ["--config", "CFG"], 2, /backend.*expected one of/],
  ];
  for (const [what, extra, code, msg] of cases) {
    it(`--force with ${what}: exit ${code}, old run byte-identical, no staging left`, () => {
      const cfg = join(work, "cuda.json");
      writeFileSync(cfg, JSON.stringify({ backend: "cuda" }));
      const r = ngem(["train", TINY, ...TRAIN, "--steps", "10", ...extra.map((a) => (a === "CFG" ? cfg : a)), "--out", out, "--force"]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(treeHash(join(work, out))).toBe(before);
      expect(debris(work).filter((f) => f.startsWith(`.${out}.`))).toEqual([]);
    });
  }
  it("a new run that fails leaves no directory", () => {
    const r = ngem(["train", TINY, ...TRAIN, "--optimizer", "sgd", "--lr", "10", "--steps", "10", "--out", "never"]);
    expect(r.code).toBe(1);
    expect(existsSync(join(work, "never"))).toBe(false);
    expect(debris(work).filter((f) => f.startsWith(".never."))).toEqual([]);
  });
  it("...and no parent directories it had to create for --out", () => {
    const r = ngem(["train", TINY, ...TRAIN, "--optimizer", "sgd", "--lr", "10", "--steps", "10", "--out", "made/for/never"]);
    expect(r.code).toBe(1);
    expect(existsSync(join(work, "made"))).toBe(false);
  });
  it("--force never replaces a directory that is not an ngem run", () => {
    mkdirSync(join(work, "mydocs"), { recursive: true });
    writeFileSync(join(work, "mydocs", "notes.txt"), "precious");
    const r = ngem(["train", TINY, ...TRAIN, "--steps", "5", "--out", "mydocs", "--force"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not an ngem run/);
    expect(readFileSync(join(work, "mydocs", "notes.txt"), "utf8")).toBe("precious");
  });
});

describe("one process per run directory", () => {
  it("two concurrent trains into one --out: one succeeds, the other exits 2 naming the holder", async () => {
    const a = start(["train", TINY, ...TRAIN, "--steps", "300", "--seed", "1", "--out", "both"]);
    const b = start(["train", TINY, ...TRAIN, "--steps", "300", "--seed", "2", "--out", "both"]);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code].sort()).toEqual([0, 2]);
    const loser = ra.code === 2 ? ra : rb;
    expect(loser.stderr).toMatch(/in use by another ngem process \(pid \d+|already holds a run/);
    const seed = ra.code === 0 ? 1 : 2;
    const run = JSON.parse(readFileSync(join(work, "both", "run.json"), "utf8"));
    expect(run.config.seed).toBe(seed);
    const ck = await load(join(work, "both", "checkpoint.safetensors"));
    expect(ck.config.seed).toBe(seed);
    ck.dispose();
    expect(metricSteps(join(work, "both"))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(debris(join(work, "both"))).toEqual([]);
  });

  it("a lock left by a dead process is taken over; temp files of dead processes are removed", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "10", "--out", "stale"]).code).toBe(0);
    const dir = join(work, "stale");
    const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid as number;
    writeFileSync(join(dir, ".ngem.lock"), JSON.stringify({ pid: dead, host: hostname(), command: "ngem train", started: "then" }));
    writeFileSync(join(dir, `.checkpoint.safetensors.tmp-${dead}-0`), Buffer.alloc(100_000));
    const r = ngem(["train", "--resume", "stale", "--steps", "15"]);
    expect(r.code, r.stderr).toBe(0);
    expect(debris(dir)).toEqual([]);
  });

  it("a lock held by a live process refuses with exit 2 and names it", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "5", "--out", "held"]).code).toBe(0);
    writeFileSync(
      join(work, "held", ".ngem.lock"),
      JSON.stringify({ pid: process.pid, host: hostname(), command: "ngem train --resume held", started: "now" }),
    );
    const before = readFileSync(join(work, "held", "checkpoint.safetensors"));
    const r = ngem(["train", "--resume", "held", "--steps", "10"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`pid ${process.pid}`);
    expect(readFileSync(join(work, "held", "checkpoint.safetensors")).equals(before)).toBe(true);
  });
});

describe("resume: what may change", () => {
  it("--epochs/--steps extend a finished run; other flags are exit 2 naming the flag", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "10", "--out", "ext"]).code).toBe(0);
    for (const flag of [["--lr", "0.1"], ["--k", "3"], ["--out", "x"], ["--hidden", "8"], ["--no-layer-norm"]]) {
      const r = ngem(["train", "--resume", "ext", ...flag]);
      expect(r.code, flag.join(" ")).toBe(2);
      expect(r.stderr).toContain(flag[0]);
    }
    const short = ngem(["train", "--resume", "ext", "--steps", "5"]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/already at step 10/);
    const r = ngem(["train", "--resume", "ext", "--steps", "25", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(metricSteps(join(work, "ext"))).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(JSON.parse(readFileSync(join(work, "ext", "run.json"), "utf8")).config.steps).toBe(25);
  });

  it("a run whose data file is gone is exit 2 naming the file, and nothing changes", () => {
    const csv = join(work, "gone.csv");
    writeFileSync(csv, readFileSync(TINY));
    expect(ngem(["train", csv, ...TRAIN, "--steps", "5", "--out", "gone"]).code).toBe(0);
    const before = treeHash(join(work, "gone"));
    rmSync(csv);
    const r = ngem(["train", "--resume", "gone", "--steps", "10"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the run's data file ${csv} no longer exists`);
    expect(treeHash(join(work, "gone"))).toBe(before);
  });

  it("a tampered run.json is exit 2 naming the file and the field, and nothing changes", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "5", "--out", "tampered"]).code).toBe(0);
    const p = join(work, "tampered", "run.json");
    const good = readFileSync(p, "utf8");
    for (const [edit, pattern] of [
      [
        (r: { config: Record<string, unknown> }) => ({ ...r, config: { ...r.config, batchSize: 0 } }),
        /run\.json: not a valid ngem run record: config\.batchSize/,
      ],
      [(r: { config: Record<string, unknown> }) => ({ ...r, data: 7 }), /run\.json: not a valid ngem run record: data/],
      // an unknown key is refused, never dropped (a dropped "stream" would resume a streamed run as an in-memory one)
      [
        (r: { data: Record<string, unknown> }) => ({ ...r, data: { ...r.data, streem: { shuffleBuffer: 8 } } }),
        /run\.json: not a valid ngem run record: data: .*streem/,
      ],
    ] as const) {
      writeFileSync(p, JSON.stringify(edit(JSON.parse(good))));
      const before = treeHash(join(work, "tampered"));
      const r = ngem(["train", "--resume", "tampered", "--steps", "10"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(treeHash(join(work, "tampered"))).toBe(before);
    }
  });

  it("a corrupt checkpoint is exit 2 naming the file", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "5", "--out", "corrupt"]).code).toBe(0);
    const p = join(work, "corrupt", "checkpoint.safetensors");
    const b = readFileSync(p);
    writeFileSync(p, b.subarray(0, b.length >> 1));
    const r = ngem(["train", "--resume", "corrupt"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("checkpoint.safetensors");
  });
});

describe("divergence and signals", () => {
  it("divergence exits 1 and keeps the last finite checkpoint", async () => {
    const r = ngem(["train", TINY, ...TRAIN, "--optimizer", "sgd", "--lr", "3", "--steps", "40", "--checkpoint-every", "2", "--out", "div"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/last finite checkpoint \(step (\d+)\)/);
    const step = Number(/last finite checkpoint \(step (\d+)\)/.exec(r.stderr)![1]);
    const m = await load(join(work, "div", "checkpoint.safetensors"));
    expect(m.state.step).toBe(step);
    for (const t of Object.values(await m.weights())) expect(t.data.every(Number.isFinite)).toBe(true);
    m.dispose();
    const ev = ngem(["eval", join(work, "div", "checkpoint.safetensors"), TINY, "--json"]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(Number.isFinite(JSON.parse(ev.stdout).nll)).toBe(true);
  });

  it("nonFinite: skip with most steps skipped exits 1", () => {
    const cfg = join(work, "skip.json");
    writeFileSync(cfg, JSON.stringify({ nonFinite: "skip", optimizer: { type: "sgd", lr: 10 } }));
    const r = ngem(["train", TINY, ...TRAIN, "--config", cfg, "--steps", "30", "--checkpoint-every", "1", "--out", "skip"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/skipped|not finite|non-finite/);
  });

  for (const [sig, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${sig} saves a checkpoint and exits ${code}; the run resumes`, async () => {
      const name = `sig-${code}`;
      const p = start(["train", TINY, ...TRAIN, "--steps", "100000", "--out", name]);
      await waitFor(p, /step \d+/);
      await new Promise((r) => setTimeout(r, 200));
      p.child.kill(sig);
      const r = await p.done;
      expect(r.code, r.stderr).toBe(code);
      const m = await load(join(work, name, "checkpoint.safetensors"));
      expect(m.state.step).toBeGreaterThan(0);
      expect(metricSteps(join(work, name)).at(-1)).toBe(m.state.step);
      m.dispose();
      expect(debris(join(work, name))).toEqual([]);
    });
  }
});

describe("a second signal", () => {
  it("quits at once, says nothing more was saved, exits 1, and a new run leaves no directory or staging", { timeout: 150_000 }, async () => {
    // A slow disk: the checkpoint that the first Ctrl-C asks for takes 3 s to land.
    const p = start(["train", TINY, ...TRAIN, "--steps", "100000", "--out", "twice"], { env: { NGEM_FAULT_SLOW_WRITE: "checkpoint.safetensors:3000" } });
    await waitFor(p, /step \d+/);
    p.child.kill("SIGINT");
    await waitFor(p, /finishing the current step and saving/);
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill("SIGINT");
    const r = await p.done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/quit without saving: nothing was saved and no run directory was created/);
    expect(existsSync(join(work, "twice"))).toBe(false);
    expect(debris(work).filter((f) => f.startsWith(".twice."))).toEqual([]);
  });
});

describe("config files: one set of rules", () => {
  it("checkpointEvery and logEvery are used; unknown keys, epochs+steps are exit 2", () => {
    const cfg = join(work, "every.json");
    writeFileSync(cfg, JSON.stringify({ checkpointEvery: 3, logEvery: 5, steps: 20 }));
    const r = ngem(
      ["train", TINY, ...TRAIN.filter((a, i, all) => a !== "--log-every" && all[i - 1] !== "--log-every"), "--config", cfg, "--out", "cfg-every"],
      {
        env: { NGEM_FAULT_KILL_WRITE: "checkpoint.safetensors:2" },
      },
    );
    // Killed in its second checkpoint write: the first (periodic, step 3) is on disk.
    expect(r.signal).toBe("SIGKILL");
    return load(join(work, "cfg-every", "checkpoint.safetensors")).then((m) => {
      expect(m.state.step).toBe(3);
      m.dispose();
      for (const [body, msg] of [
        [{ epochz: 3 }, /--config .*every\.json: epochz: unknown field \(did you mean "epochs"\?\)/],
        [{ epochs: 3, steps: 5 }, /exclusive/],
        [{ model: { k: 2, hiden: [3] } }, /--config .*: model\.hiden: unknown field \(did you mean "hidden"\?\)/],
        // the trainer's schema: the same ranges, enums and messages as the library's validateConfig
        [{ optimizer: { type: "lbfgs", lr: 1 } }, /--config .*: optimizer\.type: expected "sgd" \| "adam" \| "rmsprop" \| "soap", got "lbfgs"/],
        [{ optimizer: { type: "sgd", lr: 0.1, momentum: 1 } }, /--config .*: optimizer\.momentum: expected a number in \[0, 1\), got 1/],
        [{ precondition: ["mu", "mu"] }, /--config .*: precondition: expected distinct blocks/],
        [{ shuffle: false }, /--config .*: shuffle: unknown field/],
      ] as const) {
        writeFileSync(cfg, JSON.stringify(body));
        const bad = ngem(["train", TINY, "--config", cfg, "--out", "cfg-bad"]);
        expect(bad.code, JSON.stringify(body)).toBe(2);
        expect(bad.stderr).toMatch(msg);
        expect(existsSync(join(work, "cfg-bad"))).toBe(false);
      }
    });
  });

  it("metrics are written every --log-every steps (plus the last)", () => {
    const flags = TRAIN.filter((a, i, all) => a !== "--log-every" && all[i - 1] !== "--log-every");
    expect(ngem(["train", TINY, ...flags, "--steps", "23", "--log-every", "5", "--val-split", "0", "--out", "logev"]).code).toBe(0);
    expect(metricSteps(join(work, "logev"))).toEqual([5, 10, 15, 20, 23]);
  });
});

describe("flags and inputs that were silently wrong", () => {
  it("hex floats and exponent integers are rejected alike; duplicate and overlapping columns are exit 2; --model gmm with --x-cols is exit 2", () => {
    for (const args of [
      ["--lr", "0x10"],
      ["--k", "1e3"],
      ["--hidden", "1e3"],
      ["--steps", "0x10"],
    ]) {
      const r = ngem(["train", TINY, "--steps", "5", ...args, "--out", "flags"]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(args[0]);
    }
    for (const cols of [
      ["--x-cols", "x", "--y-cols", "x"],
      ["--x-cols", "x,x", "--y-cols", "y"],
      ["--x-cols", "x", "--y-cols", "y,y"],
    ]) {
      const r = ngem(["train", TINY, ...cols, "--steps", "5", "--out", "flags"]);
      expect(r.code, cols.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/selected (twice|as both)/);
    }
    const g = ngem(["train", TINY, "--model", "gmm", "--x-cols", "x", "--y-cols", "y", "--steps", "5", "--out", "flags"]);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/--model gmm/);
    expect(existsSync(join(work, "flags"))).toBe(false);
  });
});

/** A small tmpfs (root + mount only): disk full and read-only file system. */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  return r.status === 0 ? undefined : `mount failed: ${(r.stderr || r.error?.message || "").trim()}`;
}

describe("full and read-only disks", () => {
  const why = mountTmpfs(disk, "2m");
  if (why) console.log(`skipping the disk-full tests: ${why}`);

  it.skipIf(why !== undefined)("disk full: --force and --resume fail naming the real file; the old run stays intact with no temp files", () => {
    expect(ngem(["train", TINY, ...TRAIN, "--steps", "5", "--out", "disk/run"]).code).toBe(0);
    const before = treeHash(join(disk, "run"));
    writeFileSync(join(disk, "filler"), Buffer.alloc(0));
    // Fill the disk to within a few KB.
    const free = () => Number(spawnSync("df", ["--output=avail", "-B1", disk], { encoding: "utf8" }).stdout.trim().split("\n")[1]);
    writeFileSync(join(disk, "filler"), Buffer.alloc(Math.max(0, free() - 8192)));
    const f = ngem(["train", TINY, ...TRAIN, "--hidden", "64,64", "--steps", "5", "--out", "disk/run", "--force"]);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/no space left on device|ENOSPC/);
    expect(f.stderr).not.toMatch(/\.tmp-\d+/);
    expect(treeHash(join(disk, "run"))).toBe(before);
    expect(readdirSync(disk).filter((x) => x !== "run" && x !== "filler" && x !== "lost+found")).toEqual([]);
    const r = ngem(["train", "--resume", "disk/run", "--steps", "400"]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/\.tmp-\d+/);
    expect(debris(join(disk, "run"))).toEqual([]);
    rmSync(join(disk, "filler"));
    // The checkpoint left behind still loads and resumes.
    const ok = ngem(["train", "--resume", "disk/run", "--steps", "10"]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it.skipIf(why !== undefined)("read-only file system: a clear error naming the file, exit 1, nothing changed", () => {
    const before = treeHash(join(disk, "run"));
    expect(spawnSync("mount", ["-o", "remount,ro", disk]).status).toBe(0);
    try {
      const r = ngem(["train", "--resume", "disk/run", "--steps", "20"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/read-only file system/);
      expect(r.stderr).not.toMatch(/\.tmp-\d+/);
    } finally {
      spawnSync("mount", ["-o", "remount,rw", disk]);
    }
    expect(treeHash(join(disk, "run"))).toBe(before);
  });
});
