/**
 * Minimum-cost assignment (Hungarian algorithm with potentials, O(n^2 m)) of
 * `rows` <= `cols`: every row gets a distinct column.
 */
import { ShapeError } from "@ngem/core";

/** Returns `assign[row] = column` minimising the total cost of a [rows, cols] matrix (rows <= cols). */
export function minCostAssignment(cost: ArrayLike<number>, rows: number, cols: number): Int32Array {
  if (rows > cols) throw new ShapeError("cost", `expected rows <= cols, got [${rows}, ${cols}]`);
  if (cost.length !== rows * cols) throw new ShapeError("cost", `expected length ${rows * cols}, got ${cost.length}`);
  const INF = Infinity;
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  const p = new Int32Array(cols + 1); // p[j] = row (1-based) assigned to column j
  const way = new Int32Array(cols + 1);
  for (let i = 1; i <= rows; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(cols + 1).fill(INF);
    const used = new Uint8Array(cols + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0] as number;
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = (cost[(i0 - 1) * cols + (j - 1)] as number) - (u[i0] as number) - (v[j] as number);
        if (cur < (minv[j] as number)) {
          minv[j] = cur;
          way[j] = j0;
        }
        const mj = minv[j] as number;
        if (mj < delta) {
          delta = mj;
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          const pj = p[j] as number;
          u[pj] = (u[pj] as number) + delta;
          v[j] = (v[j] as number) - delta;
        } else {
          minv[j] = (minv[j] as number) - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0] as number;
      p[j0] = p[j1] as number;
      j0 = j1;
    } while (j0);
  }
  const assign = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= cols; j++) {
    const pj = p[j] as number;
    if (pj > 0) assign[pj - 1] = j - 1;
  }
  return assign;
}
