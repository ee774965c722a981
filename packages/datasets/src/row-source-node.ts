/**
 * Row sources on files (Node): CSV and JSON-lines files re-read with
 * `fs.createReadStream` on every `open`, and a directory (or list) of NPY
 * shards read one shard at a time. See row-source.ts.
 */
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { CsvOptions } from "./csv.js";
import { DataError } from "./errors.js";
import type { JsonlOptions } from "./jsonl.js";
import { npyToDataset, type NpyOptions } from "./npy.js";
import { readNpy } from "./npy-node.js";
import { baseName } from "./paths.js";
import { csvRowSource, jsonlRowSource, type RowBatch, type RowSource, type RowSourceOptions } from "./row-source.js";

/** A CSV file as a {@link RowSource}: every `open` streams the file again (memory: one chunk and one batch). */
export function csvFileSource(path: string, opts: CsvOptions & RowSourceOptions = {}): Promise<RowSource> {
  return csvRowSource(() => createReadStream(path, { highWaterMark: opts.chunkBytes ?? 1 << 20 }), { ...opts, file: path, name: opts.name ?? baseName(path) });
}

/** A JSON-lines file as a {@link RowSource}. */
export function jsonlFileSource(path: string, opts: JsonlOptions & RowSourceOptions = {}): Promise<RowSource> {
  return jsonlRowSource(() => createReadStream(path), { ...opts, file: path, name: opts.name ?? baseName(path) });
}

/**
 * NPY shards as one {@link RowSource}: a directory (its `*.npy` files in name
 * order) or a list of files, each a 2-D array with the same columns (selected
 * by `x` / `y` as in `loadNpy`). One shard is in memory at a time; shards
 * before the requested row are skipped without reading once their row counts
 * are known.
 */
export async function npyShardSource(dirOrFiles: string | readonly string[], opts: NpyOptions & RowSourceOptions = {}): Promise<RowSource> {
  let files: string[];
  if (typeof dirOrFiles === "string") {
    let entries: string[];
    try {
      entries = statSync(dirOrFiles).isDirectory() ? readdirSync(dirOrFiles) : [];
    } catch (e) {
      throw new DataError({ file: dirOrFiles }, `cannot read the directory: ${(e as Error).message}`);
    }
    files = entries
      .filter((f) => f.toLowerCase().endsWith(".npy"))
      .sort()
      .map((f) => join(dirOrFiles, f));
    if (files.length === 0) throw new DataError({ file: dirOrFiles }, "expected a directory holding .npy shards, found none");
  } else files = [...dirOrFiles];
  if (files.length === 0) throw new DataError({ file: "<npy shards>" }, "expected at least one .npy shard");
  const first = npyToDataset(await readNpy(files[0] as string), opts, files[0]);
  const counts: (number | undefined)[] = files.map((_, i) => (i === 0 ? first.n : undefined));
  const size = opts.batchRows ?? 4096;
  return {
    name: opts.name ?? (typeof dirOrFiles === "string" ? baseName(dirOrFiles) : "npy"),
    xDim: first.xDim,
    yDim: first.yDim,
    xNames: first.xNames,
    yNames: first.yNames,
    async *open(fromRow = 0): AsyncGenerator<RowBatch> {
      let base = 0;
      for (let f = 0; f < files.length; f++) {
        const known = counts[f];
        if (known !== undefined && base + known <= fromRow) {
          base += known;
          continue;
        }
        const file = files[f] as string;
        const ds = npyToDataset(await readNpy(file), opts, file);
        if (ds.xDim !== first.xDim || ds.yDim !== first.yDim) {
          throw new DataError({ file, field: "shape" }, `expected the columns of ${files[0]} (${first.xDim} x + ${first.yDim} y), got ${ds.xDim} + ${ds.yDim}`);
        }
        counts[f] = ds.n;
        for (let s = Math.max(0, fromRow - base); s < ds.n; s += size) {
          const e = Math.min(ds.n, s + size);
          yield { start: base + s, n: e - s, x: ds.x.slice(s * ds.xDim, e * ds.xDim), y: ds.y.slice(s * ds.yDim, e * ds.yDim) };
        }
        base += ds.n;
      }
    },
  };
}
