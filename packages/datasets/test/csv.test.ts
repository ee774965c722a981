import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "@ngem/core";
import { NgemError } from "@ngem/core";
import { describe, expect, it } from "vitest";
import { detectDelimiter } from "../src/csv.js";
import { CsvTokenizer, DataError, loadCsv, parseCsv, parseCsvRecords, writeCsv, type CsvOptions, type Dataset } from "../src/node.js";
import { dataError, fixture } from "./helpers.js";

function rows(ds: Dataset): { x: number[][]; y: number[][] } {
  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = 0; i < ds.n; i++) {
    x.push(Array.from(ds.x.subarray(i * ds.xDim, (i + 1) * ds.xDim)));
    y.push(Array.from(ds.y.subarray(i * ds.yDim, (i + 1) * ds.yDim)));
  }
  return { x, y };
}

describe("CSV on good fixtures", () => {
  it("reads a header with quoted names, CRLF endings, last column as target by default", async () => {
    const ds = await loadCsv(fixture("good.csv"));
    expect(ds.name).toBe("good");
    expect(ds.n).toBe(3);
    expect(ds.xNames).toEqual(["a", 'b "q"']);
    expect(ds.yNames).toEqual(["target"]);
    expect(rows(ds)).toEqual({
      x: [
        [1, 2],
        [4.5, -0.6],
        [0.125, 8],
      ],
      y: [[3], [7], [9]],
    });
    expect(ds.normalization).toBeUndefined();
  });

  it("selects columns by name or index, in the order asked", async () => {
    const ds = await loadCsv(fixture("good.csv"), { x: ["target", 0], y: [1] });
    expect(ds.xNames).toEqual(["target", "a"]);
    expect(ds.yNames).toEqual(['b "q"']);
    expect(rows(ds).x).toEqual([
      [3, 1],
      [7, 4.5],
      [9, 0.125],
    ]);
    const only = await loadCsv(fixture("good.csv"), { x: [], y: ["a", "target"] });
    expect(only.xDim).toBe(0);
    expect(only.x.length).toBe(0);
    expect(rows(only).y).toEqual([
      [1, 3],
      [4.5, 7],
      [0.125, 9],
    ]);
    const xOnly = await loadCsv(fixture("good.csv"), { x: ["a"] });
    expect(xOnly.yNames).toEqual(['b "q"', "target"]);
  });

  it("detects semicolon and tab delimiters; unselected columns are not parsed", async () => {
    const semi = await loadCsv(fixture("semicolon.csv"), { x: ["v"], y: ["w"] });
    expect(rows(semi)).toEqual({ x: [[2], [5]], y: [[3], [6]] });
    const tab = await loadCsv(fixture("tab.tsv"));
    expect(tab.xNames).toEqual(["p"]);
    expect(rows(tab)).toEqual({ x: [[1], [3], [5]], y: [[2], [4], [6]] });
    expect(detectDelimiter('a,"b;c;d",e')).toBe(",");
    expect(detectDelimiter("a;b;c")).toBe(";");
    expect(detectDelimiter("a\tb")).toBe("\t");
    expect(detectDelimiter("abc")).toBe(",");
  });

  it("without a header names columns c0, c1, ... (header auto-detection and header: false/true)", async () => {
    const ds = await loadCsv(fixture("no-header.csv"));
    expect(ds.n).toBe(2);
    expect([...ds.xNames, ...ds.yNames]).toEqual(["c0", "c1", "c2"]);
    const forced = await loadCsv(fixture("no-header.csv"), { header: true });
    expect(forced.n).toBe(1);
    expect(forced.yNames).toEqual(["3"]);
    const e = await dataError(() => loadCsv(fixture("good.csv"), { header: false }));
    expect(e.line).toBe(1);
    expect(e.field).toBe("c0");
  });

  it("handles quoted fields with escaped quotes, embedded newlines and delimiters, keeping line numbers", async () => {
    const ds = await loadCsv(fixture("quoted-multiline.csv"), { x: ["x"], y: ["y"] });
    expect(rows(ds)).toEqual({ x: [[0.5], [2.5]], y: [[1.5], [3.5]] });
    const recs = parseCsvRecords(readFileSync(fixture("quoted-multiline.csv"), "utf8"));
    expect(recs[1]).toEqual(["1", 'hello, "world"\nsecond line', "0.5", "1.5"]);
    expect(recs[2]).toEqual(["2", "a;b\tc", "2.5", "3.5"]);
    // the record after the two-line field starts on line 4
    const e = await dataError(() => loadCsv(fixture("quoted-multiline.csv"), { x: ["x"], y: ["note"] }));
    expect([e.line, e.column, e.field]).toEqual([2, 3, "note"]);
    const lines: number[] = [];
    const t = new CsvTokenizer("<t>", (r) => lines.push(r.lines[0] as number));
    t.push(readFileSync(fixture("quoted-multiline.csv"), "utf8"));
    t.end();
    expect(lines).toEqual([1, 2, 4]);
  });

  it("drops a UTF-8 BOM, skips blank lines, accepts a missing final newline and spaces around numbers", () => {
    const ds = parseCsv("\uFEFFa,b\n\n1, 2\r\n\n3 ,4");
    expect(ds.xNames).toEqual(["a"]);
    expect(rows(ds)).toEqual({ x: [[1], [3]], y: [[2], [4]] });
  });

  it("missing: 'skip-row' drops rows with missing cells", async () => {
    const ds = await loadCsv(fixture("missing.csv"), { missing: "skip-row" });
    expect(rows(ds)).toEqual({ x: [[1], [5]], y: [[2], [6]] });
  });

  it("the streaming loader gives the same result for any chunk size", async () => {
    for (const f of ["good.csv", "semicolon.csv", "tab.tsv", "quoted-multiline.csv", "no-header.csv"]) {
      const opts: CsvOptions = f === "semicolon.csv" ? { x: ["v"], y: ["w"] } : f === "quoted-multiline.csv" ? { x: ["x"], y: ["y"] } : {};
      const ref = parseCsv(readFileSync(fixture(f), "utf8"), opts);
      for (const chunkBytes of [1, 2, 3, 5, 8, 64]) {
        const ds = await loadCsv(fixture(f), { ...opts, chunkBytes });
        expect({ ...rows(ds), x: ds.xNames, y: ds.yNames }).toEqual({ ...rows(ref), x: ref.xNames, y: ref.yNames });
        expect(rows(ds)).toEqual(rows(ref));
      }
    }
  });
});

describe("CSV errors name the file, line, column, field and what was expected", () => {
  const cases: [string, CsvOptions, { line?: number; column?: number; field?: string; text: RegExp }][] = [
    ["missing.csv", {}, { line: 3, column: 3, field: "y", text: /expected a number, got a missing value \(empty cell\)/ }],
    ["na.csv", {}, { line: 3, column: 1, field: "x", text: /missing value \("NA"\)/ }],
    ["non-numeric.csv", {}, { line: 4, column: 3, field: "y", text: /expected a number, got "abc"/ }],
    ["ragged.csv", {}, { line: 3, column: 4, text: /ragged row: expected 3 fields \(as in the header\), got 2/ }],
    ["empty.csv", {}, { text: /empty file: expected a header or at least one data row/ }],
    ["header-only.csv", {}, { text: /expected at least one data row after the header/ }],
    ["unterminated-quote.csv", {}, { line: 3, column: 1, text: /unterminated quoted field/ }],
    ["bad-quote.csv", {}, { line: 2, column: 4, text: /unexpected quote inside an unquoted field/ }],
    ["semicolon.csv", {}, { line: 2, column: 1, field: "u", text: /expected a number, got "1,5"/ }],
    ["good.csv", { y: ["nope"] }, { line: 1, field: "nope", text: /no column named "nope": expected one of "a", "b \\"q\\"", "target"/ }],
    ["good.csv", { y: [7] }, { line: 1, field: "7", text: /column index 7 out of range: expected an integer in \[0, 2\]/ }],
  ];
  for (const [file, opts, want] of cases) {
    it(`${file} ${JSON.stringify(opts)}`, async () => {
      for (const chunkBytes of [1, 4, 1 << 20]) {
        const e = await dataError(() => loadCsv(fixture(file), { ...opts, chunkBytes }));
        expect(e).toBeInstanceOf(NgemError);
        expect(e.file).toBe(fixture(file));
        expect(e.message).toContain(fixture(file));
        expect(e.message).toMatch(want.text);
        expect(e.line).toBe(want.line);
        expect(e.column).toBe(want.column);
        if (want.field !== undefined) {
          expect(e.field).toBe(want.field);
          expect(e.message).toContain(JSON.stringify(want.field));
        }
        if (want.column !== undefined) expect(e.message).toContain(`:${want.line}:${want.column}`);
      }
      // the sync parser reports the same position
      const s = await dataError(() => parseCsv(readFileSync(fixture(file), "utf8"), { ...opts, file: "mem.csv" }));
      expect([s.line, s.column, s.field]).toEqual([want.line, want.column, want.field ?? s.field]);
      expect(s.message.startsWith("mem.csv")).toBe(true);
    });
  }

  it("a file that does not exist is a DataError naming it", async () => {
    const e = await dataError(() => loadCsv(fixture("no-such-file.csv")));
    expect(e.message).toMatch(/no-such-file\.csv: cannot read the file/);
  });

  it("rejects hex, Infinity and NaN cells instead of producing silent non-finite values", () => {
    for (const bad of ["0x10", "Infinity", "1e999", "1_0", "--1"]) {
      const e = (() => {
        try {
          parseCsv(`a,b\n1,${bad}\n`);
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(DataError);
      expect((e as DataError).column).toBe(3);
    }
  });
});

describe("CSV streaming on a generated 20k-row file", () => {
  it("small read chunks give exactly the values written (CRLF, quoted header, negative and exponent numbers)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ngem-csv-test-"));
    try {
      const rng = new Rng(1);
      const n = 20000;
      const data = Array.from({ length: n }, () => [rng.normal() * 1e3, rng.uniform() * 1e-7, -rng.int(1000), rng.normal()]);
      const file = join(dir, "gen.csv");
      writeFileSync(file, writeCsv(data, { header: ["a", "b,c", "d", "y"], eol: "\r\n", delimiter: ";" }));
      const ds = await loadCsv(file, { chunkBytes: 4099 });
      expect([ds.n, ds.xDim, ds.yDim]).toEqual([n, 3, 1]);
      expect(ds.xNames).toEqual(["a", "b,c", "d"]);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 3; j++) expect(ds.x[i * 3 + j] === data[i]![j]).toBe(true);
        expect(ds.y[i] === data[i]![3]).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
