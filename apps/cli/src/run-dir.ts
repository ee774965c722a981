/**
 * The run directory: what `ngem train` writes and `--resume` / `eval` read.
 *
 * Guarantees (README "What is safe"):
 * - self-contained and relocatable: every file the run writes is named
 *   relative to the directory it is in; nothing outside it is written by a
 *   resume;
 * - one writer at a time: a lock file (`.ngem.lock`, with pid, host, command)
 *   guards it, and a lock whose process is gone is taken over;
 * - a new run is built in a staging directory beside it and swapped in only
 *   once it has its first checkpoint, so a failed `train --force` leaves the
 *   old run as it was and a failed new run leaves nothing behind;
 * - every file is written atomically (temp + fsync + rename) through
 *   `@ngem/trainer/node`; temp files of killed processes are removed on the
 *   next start.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { trainConfigSchema, type TrainConfig } from "@ngem/trainer";
import { hostName, pidAlive, removeStaleTemps, writeError, writeFileAtomic } from "@ngem/trainer/node";
import { z } from "zod";
import type { DataRecipe } from "./data-source.js";
import { UsageError } from "./errors.js";

export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const RUN_FILE = "run.json";
export const METRICS_FILE = "metrics.jsonl";
export const SUMMARY_FILE = "summary.json";
export const LOCK_FILE = ".ngem.lock";

/** Stored beside the checkpoint: how to reload the data and the flags used. */
export interface RunRecord {
  readonly version: 1;
  readonly data: DataRecipe;
  /** The resolved trainer config of the run (a valid TrainConfig). */
  readonly config: TrainConfig;
  readonly createdAt: string;
  /** CLI settings that are not part of the trainer config (checkpoint interval, metrics interval). */
  readonly run?: { readonly checkpointEvery?: number; readonly logEvery?: number };
}

/** The run.json of a new run (now as its creation time). */
export function newRunRecord(data: DataRecipe, config: TrainConfig, run: { checkpointEvery?: number | undefined; logEvery: number }): RunRecord {
  return {
    version: 1,
    data,
    config,
    createdAt: new Date().toISOString(),
    run: { ...(run.checkpointEvery !== undefined ? { checkpointEvery: run.checkpointEvery } : {}), logEvery: run.logEvery },
  };
}

const int = z.number().int();
/** run.json as written by `ngem train`; the config part is the trainer's own schema. */
const runRecordSchema = z.strictObject({
  version: z.literal(1),
  data: z.strictObject({
    source: z.string(),
    builtin: z.boolean(),
    xCols: z.string().optional(),
    yCols: z.string().optional(),
    n: int.min(1).optional(),
    dataSeed: int.optional(),
    standardize: z.boolean(),
    missing: z.enum(["error", "skip-row"]).optional(),
    test: z.strictObject({ split: z.number().gt(0).lt(1).optional(), seed: int.optional(), file: z.string().optional() }).optional(),
    stream: z.strictObject({ shuffleBuffer: int.min(1) }).optional(),
  }),
  config: trainConfigSchema,
  createdAt: z.string(),
  run: z.strictObject({ checkpointEvery: int.min(1).optional(), logEvery: int.min(1).optional() }).optional(),
});

/** Parses run.json text; a problem names the file and the field. */
function parseRunRecord(path: string, text: string): RunRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path}: unreadable (${(err as Error).message})`);
  }
  const r = runRecordSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? issue.path.map(String).join(".") : "(root)";
    throw new UsageError(`${path}: not a valid ngem run record: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return r.data;
}

/** Creates `dir` and its missing parents; returns the first directory it created (undefined when all existed). */
export function ensureDir(dir: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw writeError(dir, err, "cannot create directory");
  }
}

/** Removes the empty directories from `dir` up to and including `top` (what ensureDir created for a run that failed). */
function removeEmptyUpTo(dir: string, top: string | undefined): void {
  if (top === undefined) return;
  for (let d = dir; d.length >= top.length; d = dirname(d)) {
    try {
      if (readdirSync(d).length > 0) return;
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

/** Writes pretty JSON atomically. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readRun(dir: string): RunRecord {
  const p = join(dir, RUN_FILE);
  if (!existsSync(p)) throw new UsageError(`--resume ${dir}: no ${RUN_FILE} there (not an ngem run directory)`);
  let text: string;
  try {
    text = readFileSync(p, "utf8");
  } catch (err) {
    throw new UsageError(`${p}: unreadable (${(err as Error).message})`);
  }
  return parseRunRecord(p, text);
}

/** The run record next to a checkpoint file, when there is one. */
export function runBesideCheckpoint(checkpoint: string): RunRecord | undefined {
  const p = join(dirname(checkpoint), RUN_FILE);
  if (!existsSync(p)) return undefined;
  try {
    return parseRunRecord(p, readFileSync(p, "utf8"));
  } catch {
    return undefined;
  }
}

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
}

/** An exclusive lock held through a file created with O_EXCL. */
export class Lock {
  private held = true;
  constructor(readonly path: string) {}
  /** Removes the lock file (no-op when already released or moved away with its directory). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      const info = JSON.parse(readFileSync(this.path, "utf8")) as LockInfo;
      if (info.pid === process.pid) unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
  /** Forget the lock without touching the file (its directory was moved or removed). */
  drop(): void {
    this.held = false;
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockInfo;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock file `path` for `what` (a run directory). Throws a
 * UsageError (exit 2) naming the holder when another live process has it; a
 * lock left by a process that no longer runs (same host) is taken over.
 */
export function acquireLock(path: string, what: string): Lock {
  const info: LockInfo = { pid: process.pid, host: hostName(), command: `ngem ${process.argv.slice(2).join(" ")}`, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw writeError(path, err, "cannot create lock file");
      const holder = readLock(path);
      if (holder === undefined) {
        // Being written by its creator right now, or torn by a kill between create and write.
        let age = 0;
        try {
          age = Date.now() - statSync(path).mtimeMs;
        } catch {
          continue;
        }
        if (age < 5000) throw new UsageError(`${what} is being locked by another ngem process right now (${path}); try again`);
      } else if (holder.host !== info.host || pidAlive(holder.pid)) {
        throw new UsageError(
          `${what} is in use by another ngem process (pid ${holder.pid}${holder.host !== info.host ? ` on ${holder.host}` : ""}, since ${holder.started}: ${holder.command}); ` +
            `wait for it to finish, or delete ${path} if that process is gone`,
        );
      }
      // Stale: move it aside atomically (only one contender wins the rename), then try again.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
        unlinkSync(aside);
      } catch {
        // another process took it over first
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(info));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return new Lock(path);
  }
  throw new UsageError(`${what}: could not take the lock ${path} (contended); try again`);
}

function isRunDir(dir: string): boolean {
  return existsSync(join(dir, RUN_FILE)) || existsSync(join(dir, CHECKPOINT_FILE));
}

/**
 * Checks that `out` may receive a new run, before anything is written:
 * it must not hold a run unless `force`, and `--force` only ever replaces an
 * ngem run directory (never an arbitrary non-empty directory).
 */
export function checkNewRunTarget(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  let isDir: boolean;
  try {
    isDir = statSync(out).isDirectory();
  } catch (err) {
    throw new UsageError(`--out ${out}: cannot inspect (${(err as Error).message})`);
  }
  if (!isDir) throw new UsageError(`--out ${out}: exists and is not a directory`);
  const entries = readdirSync(out).filter((f) => f !== LOCK_FILE);
  if (entries.length === 0) return;
  if (!isRunDir(out)) {
    throw new UsageError(
      `--out ${out}: a non-empty directory that is not an ngem run (no ${RUN_FILE}); choose another --out (--force replaces only run directories)`,
    );
  }
  if (!force) throw new UsageError(`--out ${out}: already holds a run (${RUN_FILE}); use --resume ${out}, another --out, or --force to replace it`);
}

const STAGING_RE = /^\.(.+)\.(staging|old)-(\d+)$/;

/**
 * A new run under construction: files go to a staging directory beside
 * `out` until {@link NewRun.commit} swaps it in (after the first checkpoint).
 */
export class NewRun {
  /** Where the run's files go now (staging before commit, `out` after). */
  dir: string;
  private committed = false;
  private readonly staging: string;
  private readonly parentLock: Lock;
  private readonly outLock: Lock | undefined;
  private readonly ownLock: Lock;
  private readonly createdParent: string | undefined;
  private readonly parentDir: string;

  constructor(readonly out: string) {
    const abs = resolve(out);
    const parent = dirname(abs);
    const name = basename(abs);
    this.createdParent = ensureDir(parent);
    this.parentDir = parent;
    const staging = join(parent, `.${name}.staging-${process.pid}`);
    this.staging = staging;
    this.parentLock = acquireLock(join(parent, `.${name}.ngem-lock`), `--out ${out}`);
    try {
      this.outLock = existsSync(abs) ? acquireLock(join(abs, LOCK_FILE), `--out ${out}`) : undefined;
      recoverStaging(parent, name);
      rmSync(staging, { recursive: true, force: true });
      ensureDir(this.staging);
      this.ownLock = acquireLock(join(this.staging, LOCK_FILE), `--out ${out}`);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      this.outLock?.release();
      this.parentLock.release();
      removeEmptyUpTo(parent, this.createdParent);
      throw err;
    }
    this.dir = this.staging;
  }

  get isCommitted(): boolean {
    return this.committed;
  }

  /** Swaps the staging directory in as `out` (replacing an old run). Idempotent. */
  commit(): void {
    if (this.committed) return;
    const abs = resolve(this.out);
    const old = join(dirname(abs), `.${basename(abs)}.old-${process.pid}`);
    const hadOld = existsSync(abs);
    try {
      if (hadOld) renameSync(abs, old);
      renameSync(this.staging, abs);
    } catch (err) {
      if (hadOld && !existsSync(abs) && existsSync(old)) renameSync(old, abs);
      throw writeError(abs, err, "cannot move the new run into place at");
    }
    this.committed = true;
    this.dir = abs;
    this.outLock?.drop();
    this.ownLock.drop();
    if (hadOld) rmSync(old, { recursive: true, force: true });
    this.parentLock.release();
  }

  /** Gives up: removes the staging directory (never `out`) and every lock. */
  abandon(): void {
    if (!this.committed) rmSync(this.staging, { recursive: true, force: true });
    this.ownLock.drop();
    this.outLock?.release();
    this.parentLock.release();
    // Parents of --out that this run created (e.g. runs/ for runs/a) go too when they are empty.
    if (!this.committed) removeEmptyUpTo(this.parentDir, this.createdParent);
  }

  /** Releases the run's lock at the end. */
  finish(): void {
    if (!this.committed) {
      this.abandon();
      return;
    }
    new Lock(join(this.dir, LOCK_FILE)).release();
  }
}

/**
 * Cleans what killed processes left beside `<parent>/<name>`: staging
 * directories (removed) and an old run moved aside mid-swap (put back when
 * `<name>` is missing, else removed).
 */
function recoverStaging(parent: string, name: string): void {
  for (const entry of readdirSync(parent)) {
    const m = STAGING_RE.exec(entry);
    if (!m || m[1] !== name || pidAlive(Number(m[3]))) continue;
    const p = join(parent, entry);
    if (m[2] === "old" && !existsSync(join(parent, name))) renameSync(p, join(parent, name));
    else rmSync(p, { recursive: true, force: true });
  }
}

/** Removes temp files of dead processes in a run directory (and, with `own`, this process's). */
export function cleanTemps(dir: string, own = false): void {
  removeStaleTemps(dir, own);
}
