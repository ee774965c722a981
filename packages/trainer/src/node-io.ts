/**
 * Node file access: the one atomic-write helper every file the product writes
 * goes through (checkpoints, metrics, run records, summaries, plots, CLI
 * outputs), stale temp-file cleanup, and the Node {@link TrainerIO}.
 *
 * Atomic write: write `.<name>.tmp-<pid>-<n>` next to the target, fsync it,
 * rename it over the target, then fsync the directory (best effort) so the
 * rename itself is durable. On any failure the temp file is removed and the
 * error ({@link FileWriteError}) names the target, never the temp file. A
 * process killed mid-write leaves a temp file whose pid is dead; the next
 * command that writes into that directory removes it ({@link removeStaleTemps}).
 *
 * Exported from `@ngem/trainer/node` (Node only; the main entry stays
 * browser-safe and loads this module lazily).
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { appendFile, open, readFile, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { NgemError } from "@ngem/core";
import type { TrainerIO } from "./io.js";

/** Writing a file failed; `path` is the file the caller asked for. */
export class FileWriteError extends NgemError {
  override readonly name = "FileWriteError";
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a directory",
  ENOTDIR: "a parent of it is not a directory",
  ENOENT: "its directory does not exist",
  EEXIST: "already exists",
  EMFILE: "too many open files",
};

/** Wraps a Node fs error so that the message names `path` (the real target) and the cause in words. */
export function writeError(path: string, err: unknown, verb = "cannot write"): FileWriteError {
  if (err instanceof FileWriteError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && REASONS[code]) ?? (err instanceof Error ? err.message : String(err));
  return new FileWriteError(path, code, `${verb} ${path}: ${reason}${code && REASONS[code] ? ` (${code})` : ""}`);
}

let counter = 0;
const TEMP_RE = /^\..+\.tmp-(\d+)-\d+$/;

function tempFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${counter++}`);
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

/**
 * Fault injection for the crash tests (off unless the variables are set): `NGEM_FAULT_KILL_WRITE=<file name>:<n>`
 * SIGKILLs the process during the n-th atomic write of a file of that name,
 * after its temp file is written and before the rename.
 */
const faultSpec = /^(.+):(\d+)$/.exec(process.env.NGEM_FAULT_KILL_WRITE ?? "");
/** `NGEM_FAULT_SLOW_WRITE=<file name>:<ms>`: each atomic write of that file waits `ms` before its rename (a slow disk). */
const slowSpec = /^(.+):(\d+)$/.exec(process.env.NGEM_FAULT_SLOW_WRITE ?? "");
let faultCount = 0;
async function faultPoint(path: string): Promise<void> {
  if (faultSpec && basename(path) === faultSpec[1] && ++faultCount === Number(faultSpec[2])) process.kill(process.pid, "SIGKILL");
  if (slowSpec && basename(path) === slowSpec[1]) await new Promise((r) => setTimeout(r, Number(slowSpec[2])));
}

/** Writes `data` to `path` atomically (temp + fsync + rename + directory fsync). Errors name `path`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempFor(path);
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(toBytes(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await faultPoint(path);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw writeError(path, err);
  }
  await syncDir(dirname(path));
}

/** Synchronous {@link writeFileAtomic} (for exit paths that cannot await). */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempFor(path);
  try {
    const fd = openSync(tmp, "w");
    try {
      const bytes = toBytes(data);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw writeError(path, err);
  }
}

/** Appends text to `path` (creating it); errors name `path`. */
export async function appendTextFile(path: string, text: string): Promise<void> {
  try {
    await appendFile(path, text, "utf8");
  } catch (err) {
    throw writeError(path, err);
  }
}

/** True when a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temp files left in `dir` by {@link writeFileAtomic} calls of
 * processes that no longer run (a kill mid-write), and with `own` this
 * process's too (on an exit that abandons a write). Returns the names removed.
 */
export function removeStaleTemps(dir: string, own = false): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    const pid = Number(m?.[1]);
    if (!m || (pidAlive(pid) && !(own && pid === process.pid))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/** This machine's name (recorded in lock files, so a lock from another host is never judged stale by pid). */
export function hostName(): string {
  return hostname();
}

export const nodeIO: TrainerIO = {
  writeFileAtomic,
  async readFile(path) {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  appendText: appendTextFile,
  async writeText(path, text) {
    await writeFileAtomic(path, text);
  },
  async readText(path) {
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  },
};
