/** Small dense float64 linear algebra for the SOAP optimizer (row-major). */

/** a [rows, cols] -> a^T [cols, rows]. */
export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[row + j] as number;
  }
  return t;
}

/** Dot product of a[ai .. ai+len) and b[bi .. bi+len), four accumulators. */
function dot(a: Float64Array, ai: number, b: Float64Array, bi: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = 0;
  for (; p + 3 < len; p += 4) {
    s0 += (a[ai + p] as number) * (b[bi + p] as number);
    s1 += (a[ai + p + 1] as number) * (b[bi + p + 1] as number);
    s2 += (a[ai + p + 2] as number) * (b[bi + p + 2] as number);
    s3 += (a[ai + p + 3] as number) * (b[bi + p + 3] as number);
  }
  for (; p < len; p++) s0 += (a[ai + p] as number) * (b[bi + p] as number);
  return s0 + s1 + (s2 + s3);
}

/**
 * C[m,n] = A[m,k] B[k,n] with optional transposes (A^T when ta, stored [k,m]; B^T when tb, stored [n,k]).
 * A transposed operand is copied to row-major first (O(size)), then an i-p-j kernel runs over two rows of C
 * and four rows of B at a time (contiguous rows of B and C, each B element loaded once per two C rows):
 * ~1.8 GMAC/s at n = 128 in V8 against ~0.7 for the strided loop it replaces.
 */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta = false, tb = false): Float64Array {
  const A = ta ? transpose(a, k, m) : a;
  const B = tb ? transpose(b, n, k) : b;
  const c = new Float64Array(m * n);
  let i = 0;
  for (; i + 1 < m; i += 2) {
    const r0 = i * n;
    const r1 = r0 + n;
    const ai = i * k;
    const ai1 = ai + k;
    let p = 0;
    for (; p + 3 < k; p += 4) {
      const a0 = A[ai + p] as number;
      const a1 = A[ai + p + 1] as number;
      const a2 = A[ai + p + 2] as number;
      const a3 = A[ai + p + 3] as number;
      const e0 = A[ai1 + p] as number;
      const e1 = A[ai1 + p + 1] as number;
      const e2 = A[ai1 + p + 2] as number;
      const e3 = A[ai1 + p + 3] as number;
      const b0 = p * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const x0 = B[b0 + j] as number;
        const x1 = B[b1 + j] as number;
        const x2 = B[b2 + j] as number;
        const x3 = B[b3 + j] as number;
        c[r0 + j] = (c[r0 + j] as number) + (a0 * x0 + a1 * x1 + (a2 * x2 + a3 * x3));
        c[r1 + j] = (c[r1 + j] as number) + (e0 * x0 + e1 * x1 + (e2 * x2 + e3 * x3));
      }
    }
    for (; p < k; p++) {
      const a0 = A[ai + p] as number;
      const e0 = A[ai1 + p] as number;
      const b0 = p * n;
      for (let j = 0; j < n; j++) {
        const x0 = B[b0 + j] as number;
        c[r0 + j] = (c[r0 + j] as number) + a0 * x0;
        c[r1 + j] = (c[r1 + j] as number) + e0 * x0;
      }
    }
  }
  for (; i < m; i++) {
    const r0 = i * n;
    for (let p = 0; p < k; p++) {
      const a0 = A[i * k + p] as number;
      const b0 = p * n;
      for (let j = 0; j < n; j++) c[r0 + j] = (c[r0 + j] as number) + a0 * (B[b0 + j] as number);
    }
  }
  return c;
}

/** G G^T [r, r] of G [r, c]. */
export function gramRows(g: Float64Array, r: number, c: number): Float64Array {
  return matmul(g, g, r, c, r, false, true);
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

/** Column order of `values` from largest to smallest (stable: ties keep their order). */
export function descendingOrder(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((i, j) => (values[j] as number) - (values[i] as number) || i - j);
}

/** q's columns reordered: column i of the result is column perm[i] of q (n x n). */
export function permuteColumns(q: Float64Array, n: number, perm: readonly number[]): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = q[i * n + (perm[j] as number)] as number;
  return out;
}

/**
 * The SOAP paper's cheap eigenbasis refresh (Vyas et al. 2024, Algorithm 4; the reference implementation's
 * `get_orthogonal_matrix_QR`): for a symmetric PSD `p` [n, n] and the previous orthonormal basis `q` (columns),
 * sort the columns by their estimated eigenvalue diag(q^T p q), largest first, then take one step of power
 * iteration and re-orthonormalise: q' = QR(p q_sorted). The QR is classical Gram-Schmidt with reorthogonalisation (CGS2; numerically
 * orthonormal to rounding, and R's diagonal positive, so a converged column keeps its sign). A tiny shift
 * delta = 1e-10 tr(p) / n (p + delta I has the same eigenvectors) keeps directions that p annihilates
 * at their previous column instead of rounding noise. Cost ~3 n^3 multiply-adds (Jacobi: several sweeps of ~3 n^3).
 * Returns the new basis and `perm` (new column i came from old column perm[i]; the caller permutes its
 * rotated-basis state the same way). With p = 0 the basis is only re-sorted (the identity order).
 */
export function powerQrRefresh(p: Float64Array, n: number, q: Float64Array): { q: Float64Array; perm: number[]; estimates: Float64Array } {
  const qt = transpose(q, n, n); // rows = old columns
  const w = matmul(qt, p, n, n, n); // row j = (p q_j)^T, p symmetric
  const est = new Float64Array(n);
  let trace = 0;
  for (let j = 0; j < n; j++) {
    est[j] = dot(w, j * n, qt, j * n, n);
    trace += p[j * n + j] as number;
  }
  const perm = descendingOrder(est);
  if (!(trace > 0)) return { q: permuteColumns(q, n, perm), perm, estimates: Float64Array.from(perm, (i) => est[i] as number) };
  const delta = (1e-10 * trace) / n;
  const rows = new Float64Array(n * n); // row i = p q_perm[i] + delta q_perm[i]
  for (let i = 0; i < n; i++) {
    const src = (perm[i] as number) * n;
    for (let j = 0; j < n; j++) rows[i * n + j] = (w[src + j] as number) + delta * (qt[src + j] as number);
  }
  const h = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let pass = 0; pass < 2; pass++) {
      // classical Gram-Schmidt against rows 0..i-1, run twice ("twice is enough"): as orthogonal as modified GS
      for (let k = 0; k < i; k++) h[k] = dot(rows, ri, rows, k * n, n);
      let k = 0;
      for (; k + 3 < i; k += 4) {
        const h0 = h[k] as number;
        const h1 = h[k + 1] as number;
        const h2 = h[k + 2] as number;
        const h3 = h[k + 3] as number;
        const k0 = k * n;
        for (let j = 0; j < n; j++)
          rows[ri + j] =
            (rows[ri + j] as number) -
            (h0 * (rows[k0 + j] as number) +
              h1 * (rows[k0 + n + j] as number) +
              (h2 * (rows[k0 + 2 * n + j] as number) + h3 * (rows[k0 + 3 * n + j] as number)));
      }
      for (; k < i; k++) {
        const hk = h[k] as number;
        const k0 = k * n;
        for (let j = 0; j < n; j++) rows[ri + j] = (rows[ri + j] as number) - hk * (rows[k0 + j] as number);
      }
    }
    const norm = Math.sqrt(dot(rows, ri, rows, ri, n));
    if (norm > 0) for (let j = 0; j < n; j++) rows[ri + j] = (rows[ri + j] as number) / norm;
  }
  return { q: transpose(rows, n, n), perm, estimates: Float64Array.from(perm, (i) => est[i] as number) };
}
