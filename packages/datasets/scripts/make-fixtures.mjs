#!/usr/bin/env node
// Writes the small test fixtures in test/fixtures. Run: node scripts/make-fixtures.mjs
// The binary encoders here are written independently of src/ (a second
// implementation of the NPY and IDX formats), so the readers are checked
// against something other than themselves.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures");
mkdirSync(dir, { recursive: true });
const w = (name, data) => writeFileSync(join(dir, name), data);

// ---- CSV (text) ----------------------------------------------------------
w("good.csv", 'a,"b ""q""",target\r\n1,2,3\r\n4.5,-6e-1,7\r\n0.125,8,9\r\n');
w("semicolon.csv", "u;v;w\n1,5;2;3\n4;5;6\n");
w("tab.tsv", "p\tq\n1\t2\n3\t4\n5\t6\n");
w("no-header.csv", "1,2,3\n4,5,6\n");
w("quoted-multiline.csv", 'id,note,x,y\n1,"hello, ""world""\nsecond line",0.5,1.5\n2,"a;b\tc",2.5,3.5\n');
w("missing.csv", "x,y\n1,2\n3,\n5,6\n");
w("na.csv", "x,y\n1,2\nNA,4\n");
w("non-numeric.csv", "x,y\n1,2\n3,4\n5,abc\n");
w("ragged.csv", "x1,x2,y\n1,2,3\n4,5\n7,8,9\n");
w("empty.csv", "");
w("header-only.csv", "x,y\n");
w("unterminated-quote.csv", 'x,y\n1,2\n"3,4\n5,6\n');
w("bad-quote.csv", 'x,y\n1,2"3\n');

// ---- JSON lines ----------------------------------------------------------
w("objects.jsonl", '{"a": 1, "b": [2, 3], "t": 4}\n\n{"a": 5, "b": [6, 7], "t": 8}\n');
w("arrays.jsonl", "[1, 2, 3]\n[4, 5, 6]\n");
w("bad-json.jsonl", '{"a": 1, "t": 2}\n{"a": 3, "t": }\n');
w("missing-field.jsonl", '{"a": 1, "t": 2}\n{"a": 3}\n');
w("string-value.jsonl", '{"a": 1, "t": 2}\n{"a": "3", "t": 4}\n');

// ---- NPY -----------------------------------------------------------------
function npy(descr, shape, values, { fortran = false, version = 1 } = {}) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  header += " ".repeat((64 - ((pre + header.length + 1) % 64)) % 64) + "\n";
  const size = descr.endsWith("8") ? 8 : 4;
  const buf = Buffer.alloc(pre + header.length + values.length * size);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(buf, 0);
  if (version === 1) buf.writeUInt16LE(header.length, 8);
  else buf.writeUInt32LE(header.length, 8);
  buf.write(header, pre, "latin1");
  const le = descr[0] === "<";
  values.forEach((v, i) => {
    const o = pre + header.length + i * size;
    if (size === 8) (le ? buf.writeDoubleLE(v, o) : buf.writeDoubleBE(v, o));
    else (le ? buf.writeFloatLE(v, o) : buf.writeFloatBE(v, o));
  });
  return buf;
}
// 3 x 4 matrix, value(i, j) = 10 i + j + 0.25
const mat = [];
for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) mat.push(10 * i + j + 0.25);
w("mat-f8.npy", npy("<f8", [3, 4], mat));
w("mat-f4.npy", npy("<f4", [3, 4], mat));
w("mat-v2.npy", npy("<f8", [3, 4], mat, { version: 2 }));
w("x.npy", npy("<f8", [3, 2], [1, 2, 3, 4, 5, 6]));
w("y.npy", npy("<f4", [3], [0.5, 1.5, 2.5]));
w("y-short.npy", npy("<f8", [2], [0.5, 1.5]));
w("big-endian.npy", npy(">f8", [3, 4], mat));
w("int.npy", npy("<i8", [3, 4], mat));
w("fortran.npy", npy("<f8", [3, 4], mat, { fortran: true }));
const good = npy("<f8", [3, 4], mat);
w("truncated.npy", good.subarray(0, good.length - 5));
w("bad-magic.npy", Buffer.concat([Buffer.from("NUMPY!"), good.subarray(6)]));
w("empty.npy", Buffer.alloc(0));

// ---- IDX -----------------------------------------------------------------
function idxU8(shape, values) {
  const buf = Buffer.alloc(4 + 4 * shape.length + values.length);
  buf[2] = 0x08;
  buf[3] = shape.length;
  shape.forEach((s, d) => buf.writeUInt32BE(s, 4 + 4 * d));
  Buffer.from(values).copy(buf, 4 + 4 * shape.length);
  return buf;
}
// 5 images 28x28, pixel(i, p) = (37 i + 3 p) mod 256; labels 3, 1, 4, 1, 5
const N = 5;
const px = [];
for (let i = 0; i < N; i++) for (let p = 0; p < 784; p++) px.push((37 * i + 3 * p) % 256);
const images = idxU8([N, 28, 28], px);
const labels = idxU8([N], [3, 1, 4, 1, 5]);
w("images-idx3-ubyte", images);
w("labels-idx1-ubyte", labels);
w("images-idx3-ubyte.gz", gzipSync(images));
w("labels-idx1-ubyte.gz", gzipSync(labels));
w("truncated-idx3-ubyte", images.subarray(0, 4 + 12 + 784 * 2 + 100));
w("truncated-header-idx3-ubyte", images.subarray(0, 10));
w("truncated-idx3-ubyte.gz", gzipSync(images).subarray(0, 200));
w("bad-magic-idx3-ubyte", Buffer.concat([Buffer.from([1, 2]), images.subarray(2)]));
w("empty-idx1-ubyte", Buffer.alloc(0));
w("labels-short-idx1-ubyte", idxU8([4], [3, 1, 4, 1]));
console.log(`fixtures written to ${dir}`);
