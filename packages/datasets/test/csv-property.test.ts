import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CsvTokenizer, parseCsv, parseCsvRecords, writeCsv, type CsvDelimiter } from "../src/index.js";

// Cells made of the characters that matter to CSV (delimiters, quotes, CR, LF, spaces) plus ordinary and non-ASCII text.
const special = fc.constantFrom(",", ";", "\t", '"', "\n", "\r", "\r\n", " ", "a", "Z", "0", "-", ".", "é", "漢", "😀");
const cell = fc.oneof(
  fc.string({ unit: special, maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: "binary", maxLength: 4 }).filter((s) => !s.includes("\uFEFF")),
);
const table = fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 });
const delimiter = fc.constantFrom<CsvDelimiter>(",", ";", "\t");
const eol = fc.constantFrom<"\n" | "\r\n">("\n", "\r\n");

function tokenizeInChunks(text: string, cuts: number[], delim: CsvDelimiter): string[][] {
  const out: string[][] = [];
  const t = new CsvTokenizer("<p>", (r) => out.push(r.fields.slice(0, r.count)), delim);
  const pos = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of pos) {
    t.push(text.slice(prev, p));
    prev = p;
  }
  t.push(text.slice(prev));
  t.end();
  return out;
}

describe("CSV parser properties (fast-check)", () => {
  it("parseCsvRecords(writeCsv(table)) returns the table, for every delimiter and line ending", () => {
    fc.assert(
      fc.property(table, delimiter, eol, (rows, d, e) => {
        const text = writeCsv(rows, { delimiter: d, eol: e });
        expect(parseCsvRecords(text, { delimiter: d })).toEqual(rows);
      }),
      { numRuns: 400, seed: 20260202 },
    );
  });

  it("chunk boundaries anywhere (inside quotes, between CR and LF) do not change the records", () => {
    fc.assert(
      fc.property(table, delimiter, eol, fc.array(fc.nat(), { maxLength: 6 }), (rows, d, e, cuts) => {
        const text = writeCsv(rows, { delimiter: d, eol: e });
        expect(tokenizeInChunks(text, cuts, d)).toEqual(rows);
      }),
      { numRuns: 400, seed: 7 },
    );
  });

  it("reports the line each record starts on (CRLF, LF and CR each count as one line break)", () => {
    fc.assert(
      fc.property(table, delimiter, eol, fc.array(fc.nat(), { maxLength: 4 }), (rows, d, e, cuts) => {
        const pieces = rows.map((r) => writeCsv([r], { delimiter: d, eol: e }));
        const text = pieces.join("");
        const expected: number[] = [];
        let before = "";
        for (const p of pieces) {
          expected.push(1 + (before.match(/\r\n|\r|\n/g)?.length ?? 0));
          before += p;
        }
        const got: number[] = [];
        const t = new CsvTokenizer("<p>", (r) => got.push(r.lines[0] as number), d);
        let prev = 0;
        for (const c of [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b)) {
          t.push(text.slice(prev, c));
          prev = c;
        }
        t.push(text.slice(prev));
        t.end();
        expect(got).toEqual(expected);
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it("numeric tables round-trip exactly through writeCsv and parseCsv with auto-detected delimiter and header", () => {
    const num = fc.double({ noNaN: true, noDefaultInfinity: true });
    const numTable = fc
      .tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 20 }))
      .chain(([m, n]) => fc.tuple(fc.constant(m), fc.array(fc.array(num, { minLength: m, maxLength: m }), { minLength: n, maxLength: n })));
    fc.assert(
      fc.property(numTable, delimiter, eol, fc.boolean(), ([m, rows], d, e, withHeader) => {
        const header = Array.from({ length: m }, (_, j) => `col ${j}`);
        const text = writeCsv(rows, { delimiter: d, eol: e, ...(withHeader ? { header } : {}) });
        const ds = parseCsv(text);
        expect(ds.n).toBe(rows.length);
        expect(ds.xDim).toBe(m - 1);
        expect([...ds.xNames, ...ds.yNames]).toEqual(withHeader ? header : header.map((_, j) => `c${j}`));
        for (let i = 0; i < rows.length; i++) {
          for (let j = 0; j < m; j++) {
            const got = j < m - 1 ? ds.x[i * (m - 1) + j] : ds.y[i];
            // String(-0) is "0": compare as numbers, where -0 === 0
            expect(got === rows[i]![j]).toBe(true);
          }
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it("never crashes on arbitrary text: either records or a DataError with a position", () => {
    fc.assert(
      fc.property(fc.string({ unit: special, maxLength: 40 }), (text) => {
        try {
          parseCsvRecords(text);
        } catch (e) {
          expect((e as Error).name).toBe("DataError");
          expect((e as { line?: number }).line).toBeGreaterThanOrEqual(1);
          expect((e as { column?: number }).column).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 500, seed: 3 },
    );
  });
});

describe("fastNumber agrees with the strict parser", async () => {
  const { fastNumber, parseStrictNumber } = await import("../src/numbers.js");
  it("on arbitrary short strings of number-ish characters", () => {
    const ch = fc.constantFrom("0", "1", "9", ".", "e", "E", "+", "-", "x", "b", "o", "X", " ", "I", "n", "f", "_", "a");
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: ch, maxLength: 8 }), fc.double().map(String)), (s) => {
        const f = fastNumber(s);
        const p = parseStrictNumber(s);
        if (!Number.isNaN(f)) {
          expect(p.ok).toBe(true);
          expect(p.ok && p.value).toBe(f);
        } else if (p.ok) {
          // the fast path may decline (spaces); then the strict path decides
          expect(/^\s|\s$/.test(s)).toBe(true);
        }
      }),
      { numRuns: 3000, seed: 99 },
    );
    for (const s of ["0x10", "0b1", "0o7", "Infinity", "-Infinity", "1e999", " ", ""]) expect(Number.isNaN(fastNumber(s))).toBe(true);
  });
});
