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
      const i0 = p[j0];
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = cost[(i0 - 1) * cols + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  const assign = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= cols; j++) if (p[j] > 0) assign[p[j] - 1] = j - 1;
  return assign;
}
