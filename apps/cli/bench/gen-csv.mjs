#!/usr/bin/env node
// Writes a synthetic regression CSV for the out-of-core benchmark (not committed data):
//   node gen-csv.mjs <rows> <out.csv> [seed]
// Columns x1..x4, y; y | x is a two-component mixture (so an MDN has something to learn).
// Deterministic in the seed; streamed to disk with back-pressure (memory independent of rows).
import { createWriteStream } from "node:fs";

const rows = Number(process.argv[2]);
const out = process.argv[3];
const seed = Number(process.argv[4] ?? 1);
if (!(Number.isInteger(rows) && rows > 0) || !out) {
  console.error("usage: node gen-csv.mjs <rows> <out.csv> [seed]");
  process.exit(2);
}
let s = seed >>> 0 || 1;
const u = () => {
  // xorshift32: fast and deterministic
  s ^= s << 13; s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5; s >>>= 0;
  return (s + 0.5) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
const ws = createWriteStream(out);
ws.write("x1,x2,x3,x4,y\n");
const f = (v) => v.toPrecision(7);
let i = 0;
function more() {
  while (i < rows) {
    const lines = [];
    for (let k = 0; k < 2000 && i < rows; k++, i++) {
      const x1 = 2 * u() - 1, x2 = normal(), x3 = 100 + 10 * normal(), x4 = u();
      const y = (u() < 0.5 ? Math.sin(3 * x1) : -Math.sin(3 * x1)) + 0.1 * x2 + 0.01 * (x3 - 100) + 0.1 * normal();
      lines.push(`${f(x1)},${f(x2)},${f(x3)},${f(x4)},${f(y)}\n`);
    }
    if (!ws.write(lines.join(""))) return ws.once("drain", more);
  }
  ws.end();
}
more();
ws.on("error", (e) => { console.error(e.message); process.exit(1); });
