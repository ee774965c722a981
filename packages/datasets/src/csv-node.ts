/** CSV files (Node): the streaming file loader, built on {@link parseCsvStream}. */
import { createReadStream } from "node:fs";
import { parseCsvStream, type CsvOptions } from "./csv.js";
import { baseName } from "./paths.js";
import type { Dataset } from "./types.js";

/**
 * Loads a CSV file into a numeric {@link Dataset}, streaming: the file is read
 * in chunks (default 1 MiB) and parsed incrementally into growable typed
 * arrays, so memory holds one chunk of text plus the numbers.
 */
export function loadCsv(path: string, opts: CsvOptions = {}): Promise<Dataset> {
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: opts.chunkBytes ?? 1 << 20 });
  return parseCsvStream(stream as AsyncIterable<string>, { ...opts, file: path, name: opts.name ?? baseName(path) }).finally(() => stream.destroy());
}
