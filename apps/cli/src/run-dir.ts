/** The run directory: what `ngem train` writes and `--resume` / `eval` read. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DataRecipe } from "./data-source.js";
import { UsageError } from "./errors.js";
import { writeAtomic } from "./plot/files.js";

export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const RUN_FILE = "run.json";
export const METRICS_FILE = "metrics.jsonl";
export const SUMMARY_FILE = "summary.json";

/** Stored beside the checkpoint: how to reload the data and the flags used. */
export interface RunRecord {
  readonly version: 1;
  readonly data: DataRecipe;
  readonly config: Record<string, unknown>;
  readonly createdAt: string;
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function writeJson(path: string, value: unknown): void {
  writeAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readRun(dir: string): RunRecord {
  const p = join(dir, RUN_FILE);
  if (!existsSync(p)) throw new UsageError(`--resume ${dir}: no ${RUN_FILE} there (not an ngem run directory)`);
  try {
    return JSON.parse(readFileSync(p, "utf8")) as RunRecord;
  } catch (err) {
    throw new UsageError(`${p}: unreadable (${(err as Error).message})`);
  }
}

/** The run record next to a checkpoint file, when there is one. */
export function runBesideCheckpoint(checkpoint: string): RunRecord | undefined {
  const dir = checkpoint.replace(/[/\\][^/\\]*$/, "") || ".";
  const p = join(dir, RUN_FILE);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}
