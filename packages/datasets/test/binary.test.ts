import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeIdx, encodeNpy, loadIdx, loadInverseMnistIdx, loadNpy, loadNpyPair, parseIdx, parseNpy, readNpy } from "../src/node.js";
import { dataError, fixture } from "./helpers.js";

// The fixtures are written by scripts/make-fixtures.mjs: matrix value(i, j) = 10 i + j + 0.25 (3 x 4);
// IDX images: pixel(i, p) = (37 i + 3 p) mod 256, labels 3, 1, 4, 1, 5.
const mat = (i: number, j: number): number => 10 * i + j + 0.25;

describe("NPY", () => {
  for (const f of ["mat-f8.npy", "mat-f4.npy", "mat-v2.npy"]) {
    it(`reads ${f} (C order, little-endian)`, async () => {
      const a = await readNpy(fixture(f));
      expect(a.shape).toEqual([3, 4]);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) expect(a.data[i * 4 + j]).toBe(mat(i, j));
    });
  }

  it("selects x and y columns from one 2-D array", async () => {
    const ds = await loadNpy(fixture("mat-f8.npy"), { x: [0, 2], y: ["c3"] });
    expect([ds.n, ds.xDim, ds.yDim]).toEqual([3, 2, 1]);
    expect(ds.xNames).toEqual(["c0", "c2"]);
    for (let i = 0; i < 3; i++) {
      expect([ds.x[2 * i], ds.x[2 * i + 1], ds.y[i]]).toEqual([mat(i, 0), mat(i, 2), mat(i, 3)]);
    }
    const def = await loadNpy(fixture("mat-f8.npy"));
    expect([def.xDim, def.yDim]).toEqual([3, 1]);
  });

  it("reads x and y from two files (a 1-D y is one column)", async () => {
    const ds = await loadNpyPair(fixture("x.npy"), fixture("y.npy"));
    expect([ds.n, ds.xDim, ds.yDim]).toEqual([3, 2, 1]);
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(ds.y)).toEqual([0.5, 1.5, 2.5]);
    const e = await dataError(() => loadNpyPair(fixture("x.npy"), fixture("y-short.npy")));
    expect(e.message).toMatch(/y-short\.npy \(header field "shape"\): expected 3 rows/);
  });

  it("round-trips through encodeNpy", () => {
    const data = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e5);
    const a = parseNpy(encodeNpy([4, 3], data));
    expect(a.shape).toEqual([4, 3]);
    expect(Array.from(a.data)).toEqual(Array.from(data));
  });

  const bad: [string, string, RegExp][] = [
    ["big-endian.npy", "descr", /unsupported dtype '>f8': expected '<f4' \(float32\) or '<f8' \(float64\)/],
    ["int.npy", "descr", /unsupported dtype '<i8'/],
    ["fortran.npy", "fortran_order", /expected fortran_order False/],
    ["truncated.npy", "data", /truncated data: shape \(3, 4\) of <f8 needs \d+ bytes, the file has \d+/],
    ["bad-magic.npy", "magic", /expected the magic string/],
  ];
  for (const [f, field, text] of bad) {
    it(`rejects ${f} naming the header field "${field}"`, async () => {
      const e = await dataError(() => loadNpy(fixture(f)));
      expect(e.file).toBe(fixture(f));
      expect(e.field).toBe(field);
      expect(e.message).toContain(fixture(f));
      expect(e.message).toMatch(text);
    });
  }
  it("rejects an empty file", async () => {
    const e = await dataError(() => loadNpy(fixture("empty.npy")));
    expect(e.message).toMatch(/empty\.npy: empty file: expected the NPY magic/);
  });
  it("rejects non-finite values", () => {
    const e = (() => {
      try {
        parseNpy(encodeNpy([2], [1, Number.NaN]), "nan.npy");
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    expect(e?.message).toMatch(/nan\.npy .*expected finite values, got NaN at flat index 1/);
  });
});

describe("IDX", () => {
  const pixel = (i: number, p: number): number => (37 * i + 3 * p) % 256;
  for (const suffix of ["", ".gz"]) {
    it(`reads images and labels${suffix ? " (gzip)" : ""}`, async () => {
      const img = await loadIdx(fixture(`images-idx3-ubyte${suffix}`));
      expect(img.type).toBe("uint8");
      expect(img.shape).toEqual([5, 28, 28]);
      for (const [i, p] of [
        [0, 0],
        [1, 5],
        [4, 783],
        [2, 400],
      ] as const)
        expect(img.data[i * 784 + p]).toBe(pixel(i, p));
      const lab = await loadIdx(fixture(`labels-idx1-ubyte${suffix}`));
      expect(Array.from(lab.data)).toEqual([3, 1, 4, 1, 5]);
    });
  }

  it("encodes and decodes every element type", () => {
    const vals = [0, 1, -2, 100, -7];
    for (const t of ["int8", "int16", "int32", "float32", "float64"] as const) {
      const a = parseIdx(encodeIdx(t, [5], vals));
      expect(a.type).toBe(t);
      expect(Array.from(a.data)).toEqual(vals);
    }
  });

  const bad: [string, string | undefined, RegExp][] = [
    ["truncated-idx3-ubyte", "data", /truncated data: shape \[5, 28, 28\] of uint8 needs 3936 bytes, the file has 1684/],
    ["truncated-header-idx3-ubyte", "shape", /truncated header: expected 16 bytes for 3 dimension sizes, got 10/],
    ["truncated-idx3-ubyte.gz", undefined, /corrupt or truncated gzip data/],
    ["bad-magic-idx3-ubyte", "magic", /expected the IDX magic 0x00 0x00 <type> <ndims>, got 0x01 0x02/],
    ["empty-idx1-ubyte", undefined, /empty file: expected an IDX header/],
  ];
  for (const [f, field, text] of bad) {
    it(`rejects ${f}`, async () => {
      const e = await dataError(() => loadIdx(fixture(f)));
      expect(e.file).toBe(fixture(f));
      expect(e.field).toBe(field);
      expect(e.message).toContain(fixture(f));
      expect(e.message).toMatch(text);
    });
  }
});

describe("inverse MNIST from IDX files", () => {
  it("one-hot labels as x, pixels / 255 as y", async () => {
    const ds = await loadInverseMnistIdx({ images: fixture("images-idx3-ubyte.gz"), labels: fixture("labels-idx1-ubyte") });
    expect([ds.n, ds.xDim, ds.yDim]).toEqual([5, 10, 784]);
    const labels = [3, 1, 4, 1, 5];
    for (let i = 0; i < 5; i++) {
      const row = Array.from(ds.x.subarray(i * 10, i * 10 + 10));
      expect(row.indexOf(1)).toBe(labels[i]);
      expect(row.reduce((a, b) => a + b, 0)).toBe(1);
      expect(ds.y[i * 784 + 10]).toBeCloseTo(((37 * i + 30) % 256) / 255, 15);
    }
  });
  it("concatenates several pairs (train + test) and draws seeded subsets", async () => {
    const pair = { images: fixture("images-idx3-ubyte"), labels: fixture("labels-idx1-ubyte") };
    const all = await loadInverseMnistIdx([pair, pair]);
    expect(all.n).toBe(10);
    const a = await loadInverseMnistIdx([pair, pair], { n: 4, seed: 1 });
    const b = await loadInverseMnistIdx([pair, pair], { n: 4, seed: 1 });
    expect(a.n).toBe(4);
    expect(Array.from(a.y)).toEqual(Array.from(b.y));
  });
  it("rejects a label file whose count does not match the images", async () => {
    const e = await dataError(() => loadInverseMnistIdx({ images: fixture("images-idx3-ubyte"), labels: fixture("labels-short-idx1-ubyte") }));
    expect(e.message).toMatch(/labels-short-idx1-ubyte \(header field "shape"\): expected 5 labels/);
  });
  it("fixture bytes are what the generator script writes (guards against stale fixtures)", () => {
    const raw = readFileSync(fixture("labels-idx1-ubyte"));
    expect(Array.from(raw.subarray(0, 8))).toEqual([0, 0, 8, 1, 0, 0, 0, 5]);
  });
});
