/**
 * Honest evaluation: a run's held-out test rows (`--test-split` / `--test`),
 * and a record of its training rows so that evaluating on data that overlaps
 * them can be flagged.
 *
 * The training rows are recorded in `train-rows.bin` in the run directory: the
 * sorted 32-bit FNV-1a hashes of each training row (x then y, in original
 * units, each value printed with 12 significant digits so a value that went
 * through standardisation and back hashes the same). A row of other data
 * "overlaps" when its hash is in that set (false positives ~ rows / 2^32).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { unstandardize, type Dataset } from "@ngem/datasets";
import { writeFileAtomic } from "@ngem/trainer/node";
import { loadRecipe } from "./data-source.js";
import { readRun, RUN_FILE } from "./run-dir.js";

export const TRAIN_ROWS_FILE = "train-rows.bin";

function rowHashes(data: Dataset): Uint32Array {
  const x = data.normalization?.x && data.xDim > 0 ? unstandardize(data.x, data.normalization.x) : data.x;
  const y = data.normalization?.y ? unstandardize(data.y, data.normalization.y) : data.y;
  const out = new Uint32Array(data.n);
  for (let i = 0; i < data.n; i++) {
    let h = 0x811c9dc5;
    const feed = (v: number) => {
      const s = v.toPrecision(12);
      for (let c = 0; c < s.length; c++) {
        h ^= s.charCodeAt(c);
        h = Math.imul(h, 0x01000193);
      }
      h ^= 0x2c;
      h = Math.imul(h, 0x01000193);
    };
    for (let d = 0; d < data.xDim; d++) feed(x[i * data.xDim + d] as number);
    for (let d = 0; d < data.yDim; d++) feed(y[i * data.yDim + d] as number);
    out[i] = h >>> 0;
  }
  return out;
}

/** Writes the training-row record of a run (see the module comment). */
export async function writeTrainingRows(dir: string, data: Dataset): Promise<void> {
  const h = rowHashes(data).sort();
  await writeFileAtomic(join(dir, TRAIN_ROWS_FILE), new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
}

/** How many rows of `data` are training rows of the run in `runDir` (0 when the run records none). */
export function trainingOverlap(runDir: string, data: Dataset): number {
  const p = join(runDir, TRAIN_ROWS_FILE);
  if (!existsSync(p)) return 0;
  const b = readFileSync(p);
  const set = new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  let count = 0;
  for (const h of rowHashes(data)) {
    let lo = 0;
    let hi = set.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((set[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo < set.length && set[lo] === h) count++;
  }
  return count;
}

/**
 * The held-out test rows of the run in `runDir`, standardised with the run's
 * statistics (those of its training rows), with a sentence saying where they
 * come from; undefined when the run has no test set.
 */
export async function runTestData(runDir: string): Promise<{ data: Dataset; description: string } | undefined> {
  if (!existsSync(join(runDir, RUN_FILE))) return undefined;
  const run = readRun(runDir);
  const t = run.data.test;
  if (!t) return undefined;
  const { test } = await loadRecipe(run.data);
  if (!test) return undefined;
  const description =
    t.file !== undefined
      ? `test rows: ${test.n} from the test file ${t.file} (given with --test)`
      : `test rows: ${test.n} held out by --test-split ${t.split} (seed ${t.seed ?? 0}), never seen in training`;
  return { data: test, description };
}
