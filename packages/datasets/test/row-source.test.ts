/** Row sources (out-of-core training): same rows as the in-memory loaders, from any row, in batches. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { csvFileSource, encodeNpy, jsonlFileSource, loadCsv, loadJsonl, npyShardSource, parseCsv, type RowSource } from "../src/node.js";

async function collect(src: RowSource, from = 0): Promise<{ x: number[]; y: number[]; starts: number[]; lines: number[] }> {
  const out = { x: [] as number[], y: [] as number[], starts: [] as number[], lines: [] as number[] };
  let next = from;
  for await (const b of src.open(from)) {
    expect(b.start).toBe(next);
    next += b.n;
    out.starts.push(b.start);
    out.x.push(...b.x);
    out.y.push(...b.y);
    if (b.lines) out.lines.push(...b.lines);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "ngem-rows-"));

describe("row sources", () => {
  it("CSV: the rows of loadCsv, from any row, with header, quotes, CRLF, skip-row and tiny chunks", async () => {
    const lines = ['a,"b, q",y'];
    for (let i = 0; i < 250; i++) lines.push(i % 17 === 5 ? `${i},NA,${i * 0.5}` : `${i},${(i * 1.25e-3).toExponential()},"${-i}"`);
    const file = join(dir, "t.csv");
    writeFileSync(file, `${lines.join("\r\n")}\r\n`);
    const ref = await loadCsv(file, { missing: "skip-row" });
    const src = await csvFileSource(file, { missing: "skip-row", batchRows: 16, chunkBytes: 37 });
    expect([src.xDim, src.yDim, src.xNames, src.yNames]).toEqual([2, 1, ["a", "b, q"], ["y"]]);
    for (const from of [0, 1, 15, 16, 100, ref.n - 1, ref.n]) {
      const got = await collect(src, from);
      expect(got.x).toEqual(Array.from(ref.x.subarray(from * 2)));
      expect(got.y).toEqual(Array.from(ref.y.subarray(from)));
      expect(got.lines).toEqual(Array.from(ref.rowLines!.subarray(from)));
    }
  });

  it("CSV errors name file, line and column as the loader does; an early return stops reading", async () => {
    const file = join(dir, "bad.csv");
    writeFileSync(file, "a,y\n1,2\n3,abc\n");
    const src = await csvFileSource(file);
    await expect(collect(src)).rejects.toThrow(/bad\.csv:3:3 \(column "y"\): expected a number, got "abc"/);
    const big = join(dir, "big.csv");
    writeFileSync(big, `a,y\n${Array.from({ length: 5000 }, (_, i) => `${i},${i}`).join("\n")}\n`);
    const s2 = await csvFileSource(big, { batchRows: 10, chunkBytes: 64 });
    for await (const b of s2.open(3)) {
      expect(b.x[0]).toBe(3);
      break;
    }
    expect(parseCsv("a,y\n1,2\n").n).toBe(1);
  });

  it("JSON lines: the rows of loadJsonl from any row", async () => {
    const file = join(dir, "t.jsonl");
    writeFileSync(file, `${Array.from({ length: 40 }, (_, i) => JSON.stringify({ u: [i, -i], y: i / 3 })).join("\n")}\n\n`);
    const ref = await loadJsonl(file);
    const src = await jsonlFileSource(file, { batchRows: 7 });
    expect(src.xNames).toEqual(["u[0]", "u[1]"]);
    for (const from of [0, 6, 7, 39]) {
      const got = await collect(src, from);
      expect(got.x).toEqual(Array.from(ref.x.subarray(from * 2)));
      expect(got.y).toEqual(Array.from(ref.y.subarray(from)));
    }
  });

  it("NPY shards: one source over a directory, from any row", async () => {
    const sd = join(dir, "shards");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(sd);
    const all: number[] = [];
    for (let s = 0; s < 3; s++) {
      const n = 10 + s * 3;
      const data = new Float64Array(n * 3).map((_, i) => s * 1000 + i);
      all.push(...data);
      writeFileSync(join(sd, `part-${s}.npy`), encodeNpy([n, 3], data));
    }
    const src = await npyShardSource(sd, { batchRows: 4 });
    expect([src.xDim, src.yDim]).toEqual([2, 1]);
    const rows = all.length / 3;
    for (const from of [0, 5, 10, 23, rows - 1]) {
      const got = await collect(src, from);
      expect(got.y).toEqual(all.filter((_, i) => i % 3 === 2).slice(from));
      expect(got.x.length).toBe(2 * (rows - from));
    }
  });
});
