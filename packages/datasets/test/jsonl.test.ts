import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadJsonl, parseJsonl } from "../src/node.js";
import { dataError, fixture } from "./helpers.js";

describe("JSON lines", () => {
  it("reads objects with named fields; array-valued fields are flattened", async () => {
    const ds = await loadJsonl(fixture("objects.jsonl"), { x: ["a", "b"], y: ["t"] });
    expect([ds.n, ds.xDim, ds.yDim]).toEqual([2, 3, 1]);
    expect(ds.xNames).toEqual(["a", "b[0]", "b[1]"]);
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 5, 6, 7]);
    expect(Array.from(ds.y)).toEqual([4, 8]);
    const def = parseJsonl(readFileSync(fixture("objects.jsonl"), "utf8"));
    expect(def.yNames).toEqual(["t"]);
    expect(Array.from(def.x)).toEqual(Array.from(ds.x));
  });
  it("reads arrays, columns by index", async () => {
    const ds = await loadJsonl(fixture("arrays.jsonl"), { x: [2], y: [0, 1] });
    expect(Array.from(ds.x)).toEqual([3, 6]);
    expect(Array.from(ds.y)).toEqual([1, 2, 4, 5]);
    expect(ds.yNames).toEqual(["c0", "c1"]);
  });
  const bad: [string, number, number | undefined, string | undefined, RegExp][] = [
    ["bad-json.jsonl", 2, 15, undefined, /invalid JSON: expected one object or array per line/],
    ["missing-field.jsonl", 2, undefined, "t", /missing field: expected a number/],
    ["string-value.jsonl", 2, undefined, "a", /expected a finite number, got the string "3"/],
  ];
  for (const [f, line, column, field, text] of bad) {
    it(`rejects ${f} at line ${line}`, async () => {
      const e = await dataError(() => loadJsonl(fixture(f)));
      expect(e.file).toBe(fixture(f));
      expect(e.line).toBe(line);
      expect(e.column).toBe(column);
      expect(e.field).toBe(field);
      expect(e.message).toMatch(text);
      expect(e.message).toContain(`${fixture(f)}:${line}`);
    });
  }
  it("rejects an empty file and a row of another kind", async () => {
    const e = await dataError(() => loadJsonl(fixture("empty.csv")));
    expect(e.message).toMatch(/empty file: expected at least one JSON line/);
    const k = await dataError(() => parseJsonl('[1, 2]\n{"a": 1}\n'));
    expect(k.line).toBe(2);
    expect(k.message).toMatch(/expected a JSON array \(as on the first line\), got an object/);
  });
});

describe("JSON error positions", async () => {
  const { jsonErrorOffset } = await import("../src/json-position.js");
  it("agrees with JSON.parse on validity and points at the first bad character", () => {
    const cases: [string, number][] = [
      ['{"a": 1}', -1],
      ['[1, 2.5e3, -0, true, null, "x\\u00e9"]', -1],
      ['{"a": 3, "t": }', 14],
      ["[1, 2,]", 6],
      ["[01]", 2],
      ['{"a" 1}', 5],
      ["[1] x", 4],
      ['"abc', 4],
    ];
    for (const [text, off] of cases) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(jsonErrorOffset(text) === -1).toBe(valid);
      expect(jsonErrorOffset(text)).toBe(off);
    }
  });
});
