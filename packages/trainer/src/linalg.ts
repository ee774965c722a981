/** Small dense float64 linear algebra for the SOAP optimizer (row-major). */

/** C[m,n] = A[m,k] B[k,n] with optional transposes (A^T when ta, stored [k,m]; B^T when tb, stored [n,k]). */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta = false, tb = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = (ta ? a[p * m + i] : a[i * k + p]) as number;
      if (av === 0) continue;
      const row = i * n;
      if (tb) for (let j = 0; j < n; j++) c[row + j] = (c[row + j] as number) + av * (b[j * k + p] as number);
      else {
        const brow = p * n;
        for (let j = 0; j < n; j++) c[row + j] = (c[row + j] as number) + av * (b[brow + j] as number);
      }
    }
  }
  return c;
}

/** Identity n x n. */
export function eye(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}

/**
 * Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations.
 * With a warm start `q0` (orthogonal, e.g. the previous eigenbasis) it first
 * rotates A' = q0^T A q0, which is nearly diagonal when A changed little, so
 * one or two sweeps suffice. Returns eigenvectors as the columns of `q`
 * (A q = q diag(values)), not sorted: a warm start keeps the previous order.
 */
export function symmetricEigen(a: Float64Array, n: number, q0?: Float64Array, maxSweeps = 30): { values: Float64Array; q: Float64Array } {
  let A = q0 ? matmul(matmul(q0, a, n, n, n, true, false), q0, n, n, n) : Float64Array.from(a);
  // symmetrise against rounding
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * ((A[i * n + j] as number) + (A[j * n + i] as number));
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  const V = q0 ? Float64Array.from(q0) : eye(n);
  let total = 0;
  for (let i = 0; i < n * n; i++) total += (A[i] as number) * (A[i] as number);
  const tol = 1e-30 * total;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += 2 * (A[i * n + j] as number) * (A[i * n + j] as number);
    if (off <= tol || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let r = p + 1; r < n; r++) {
        const apr = A[p * n + r] as number;
        const app = A[p * n + p] as number;
        const arr = A[r * n + r] as number;
        if (apr === 0 || Math.abs(apr) * 1e18 < Math.abs(app) + Math.abs(arr)) {
          if (apr !== 0) {
            A[p * n + r] = 0;
            A[r * n + p] = 0;
          }
          continue;
        }
        const theta = (arr - app) / (2 * apr);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- J^T A J on rows/cols p, r
        for (let i = 0; i < n; i++) {
          const aip = A[i * n + p] as number;
          const air = A[i * n + r] as number;
          A[i * n + p] = c * aip - s * air;
          A[i * n + r] = s * aip + c * air;
        }
        for (let j = 0; j < n; j++) {
          const apj = A[p * n + j] as number;
          const arj = A[r * n + j] as number;
          A[p * n + j] = c * apj - s * arj;
          A[r * n + j] = s * apj + c * arj;
        }
        A[p * n + r] = 0;
        A[r * n + p] = 0;
        for (let i = 0; i < n; i++) {
          const vip = V[i * n + p] as number;
          const vir = V[i * n + r] as number;
          V[i * n + p] = c * vip - s * vir;
          V[i * n + r] = s * vip + c * vir;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i] as number;
  A = new Float64Array(0);
  return { values, q: V };
}
