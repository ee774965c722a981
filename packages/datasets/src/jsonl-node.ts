/** JSON-lines files (Node): the streaming file loader. */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { DataError } from "./errors.js";
import { JsonlBuilder, type JsonlOptions } from "./jsonl.js";
import type { Dataset } from "./types.js";

/** Loads a JSON-lines file, streaming line by line. */
export async function loadJsonl(path: string, opts: JsonlOptions = {}): Promise<Dataset> {
  const b = new JsonlBuilder(path, opts);
  const stream = createReadStream(path, { encoding: "utf8" });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of rl) b.line(line, ++lineNo);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError({ file: path }, `cannot read the file: ${(e as Error).message}`);
  } finally {
    rl.close();
    stream.destroy();
  }
  return b.finish(opts.name ?? "jsonl");
}
