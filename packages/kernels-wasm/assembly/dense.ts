// Dense layers: C = A B with a cache- and register-blocked f32x4 matmul (see
// `matmul`), a transpose for the backward products, and column sums.
// Layouts are the canonical row-major ones: x [n, in], W [in, out].
// Every stored result is flushed (|c| < 2^-60 -> 0, see simd-math.ts).
import { madd, sflush, vflush } from "./simd-math";

/** `mode` of {@link matmul}: overwrite C, add to C, or start C from a bias row. */
export const MM_OVERWRITE: i32 = 0;
export const MM_ACCUMULATE: i32 = 1;
export const MM_BIAS: i32 = 2;

// @ts-ignore: decorator
@inline function initAcc(mode: i32, pC: usize, pBias: usize): v128 {
  if (mode == MM_ACCUMULATE) return v128.load(pC);
  if (mode == MM_BIAS) return v128.load(pBias);
  return f32x4.splat(0);
}

// @ts-ignore: decorator
@inline function initScalar(mode: i32, pC: usize, pBias: usize): f32 {
  if (mode == MM_ACCUMULATE) return load<f32>(pC);
  if (mode == MM_BIAS) return load<f32>(pBias);
  return 0;
}

/** Shared-dimension block: a [KC x 8] panel of B (16 KiB) stays in L1 across all row blocks. */
const KC: i32 = 512;
/** Bytes of a [KC x n] block of B below which the row-outer order is used (fits L2 comfortably). */
const B_BLOCK_L2: usize = 256 * 1024;

// Micro-kernels: C block (+)= A block x B panel over `kc` steps of the shared dimension.
// Row/column strides are in bytes. `mode` decides how the accumulators start.

// @ts-ignore: decorator
@inline function micro4x8(a0p: usize, ra: usize, bp0: usize, rb: usize, c0p: usize, rc: usize, kc: i32, mode: i32, pBias: usize): void {
  const a1p = a0p + ra;
  const a2p = a1p + ra;
  const a3p = a2p + ra;
  const c1p = c0p + rc;
  const c2p = c1p + rc;
  const c3p = c2p + rc;
  let c00 = initAcc(mode, c0p, pBias);
  let c01 = initAcc(mode, c0p + 16, pBias + 16);
  let c10 = initAcc(mode, c1p, pBias);
  let c11 = initAcc(mode, c1p + 16, pBias + 16);
  let c20 = initAcc(mode, c2p, pBias);
  let c21 = initAcc(mode, c2p + 16, pBias + 16);
  let c30 = initAcc(mode, c3p, pBias);
  let c31 = initAcc(mode, c3p + 16, pBias + 16);
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    const po = <usize>p << 2;
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(a0p + po);
    const a1 = v128.load32_splat(a1p + po);
    const a2 = v128.load32_splat(a2p + po);
    const a3 = v128.load32_splat(a3p + po);
    c00 = madd(a0, b0, c00);
    c01 = madd(a0, b1, c01);
    c10 = madd(a1, b0, c10);
    c11 = madd(a1, b1, c11);
    c20 = madd(a2, b0, c20);
    c21 = madd(a2, b1, c21);
    c30 = madd(a3, b0, c30);
    c31 = madd(a3, b1, c31);
    bp += rb;
  }
  v128.store(c0p, vflush(c00));
  v128.store(c0p, vflush(c01), 16);
  v128.store(c1p, vflush(c10));
  v128.store(c1p, vflush(c11), 16);
  v128.store(c2p, vflush(c20));
  v128.store(c2p, vflush(c21), 16);
  v128.store(c3p, vflush(c30));
  v128.store(c3p, vflush(c31), 16);
}

// @ts-ignore: decorator
@inline function micro1x8(ap: usize, bp0: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize): void {
  let c0 = initAcc(mode, cp, pBias);
  let c1 = initAcc(mode, cp + 16, pBias + 16);
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    const a = v128.load32_splat(ap + (<usize>p << 2));
    c0 = madd(a, v128.load(bp), c0);
    c1 = madd(a, v128.load(bp, 16), c1);
    bp += rb;
  }
  v128.store(cp, vflush(c0));
  v128.store(cp, vflush(c1), 16);
}

// @ts-ignore: decorator
@inline function micro1x4(ap: usize, bp0: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize): void {
  let c0 = initAcc(mode, cp, pBias);
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    c0 = madd(f32x4.splat(load<f32>(ap + (<usize>p << 2))), v128.load(bp), c0);
    bp += rb;
  }
  v128.store(cp, vflush(c0));
}

// @ts-ignore: decorator
@inline function micro1x1(ap: usize, bp0: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize): void {
  let s = initScalar(mode, cp, pBias);
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    s += load<f32>(ap + (<usize>p << 2)) * load<f32>(bp);
    bp += rb;
  }
  store<f32>(cp, sflush(s));
}

/**
 * C[m, n] (=, +=, or bias +) A[m, kd] B[kd, n]; all row-major, byte pointers.
 * With mode MM_BIAS every row of C starts from pBias[n].
 *
 * Blocking: the shared dimension is cut into KC-long blocks and the 4 x 8
 * block of C being computed lives in 8 f32x4 registers; A values are broadcast with
 * load32_splat (one instruction). A 6 x 8 block (12 accumulators) measured slower:
 * V8 keeps one of the 16 SIMD registers as scratch, so it spills. Within a KC block,
 * when the [KC x n] block of B fits in L2, rows go outer (a 4-row slice of A
 * stays in L1 while B streams from L2); otherwise 8-column panels go outer, so
 * each [KC x 8] panel of B (16 KiB) is read from memory once and reused from
 * L1 by every row block. Column tails use a 4-wide vector kernel, then
 * scalar; row tails a 1-row kernel.
 */
export function matmul(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, mode: i32, pBias: usize): void {
  matmul_strided(pA, pB, pC, m, kd, n, kd, n, n, mode, pBias);
}

/**
 * {@link matmul} on blocks whose rows are lda / ldb / ldc floats apart (the threads build
 * splits C by rows, or by 8-aligned column ranges: every C element is then computed by the
 * same micro-kernel class and operation order as in one call).
 */
export function matmul_strided(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, lda: i32, ldb: i32, ldc: i32, mode: i32, pBias: usize): void {
  const ra = <usize>lda << 2;
  const rb = <usize>ldb << 2;
  const rc = <usize>ldc << 2;
  const n8 = n & ~7;
  const n4 = n & ~3;
  const m4 = m & ~3;
  if (kd == 0) {
    // C = 0, C unchanged, or C = bias
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const o = <usize>i * rc + (<usize>j << 2);
        store<f32>(pC + o, initScalar(mode, pC + o, pBias + (<usize>j << 2)));
      }
    }
    return;
  }
  for (let k0 = 0; k0 < kd; k0 += KC) {
    const kc = min(KC, kd - k0);
    const md = k0 == 0 ? mode : MM_ACCUMULATE;
    const aBase = pA + (<usize>k0 << 2);
    const bBase = pB + <usize>k0 * rb;
    if (<usize>kc * rb <= B_BLOCK_L2) {
      // B block fits in L2: rows outer, so each 4-row slice of A stays in L1 while B streams from L2
      let i = 0;
      for (; i < m4; i += 4) {
        const ap = aBase + <usize>i * ra;
        const cp = pC + <usize>i * rc;
        for (let j = 0; j < n8; j += 8) {
          const o = <usize>j << 2;
          micro4x8(ap, ra, bBase + o, rb, cp + o, rc, kc, md, pBias + o);
        }
        if (n8 < n) {
          // column tails (n mod 8) of the 4 rows, one row at a time
          for (let q = 0; q < 4; q++) tailColumns(ap + <usize>q * ra, bBase, rb, cp + <usize>q * rc, kc, md, pBias, n8, n4, n);
        }
      }
      for (; i < m; i++) {
        const ap = aBase + <usize>i * ra;
        const cp = pC + <usize>i * rc;
        for (let j = 0; j < n8; j += 8) micro1x8(ap, bBase + (<usize>j << 2), rb, cp + (<usize>j << 2), kc, md, pBias + (<usize>j << 2));
        tailColumns(ap, bBase, rb, cp, kc, md, pBias, n8, n4, n);
      }
    } else {
      // large B: 8-column panels outer, so each [kc x 8] panel of B stays in L1 across all row blocks
      for (let j = 0; j < n8; j += 8) {
        const o = <usize>j << 2;
        let i = 0;
        for (; i < m4; i += 4) micro4x8(aBase + <usize>i * ra, ra, bBase + o, rb, pC + <usize>i * rc + o, rc, kc, md, pBias + o);
        for (; i < m; i++) micro1x8(aBase + <usize>i * ra, bBase + o, rb, pC + <usize>i * rc + o, kc, md, pBias + o);
      }
      for (let i = 0; i < m; i++) tailColumns(aBase + <usize>i * ra, bBase, rb, pC + <usize>i * rc, kc, md, pBias, n8, n4, n);
    }
  }
}

/** Columns [from, n) of one row of C: 4-wide vector blocks up to n4, then scalar. */
// @ts-ignore: decorator
@inline function tailColumns(ap: usize, bBase: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize, from: i32, n4: i32, n: i32): void {
  let j = from;
  for (; j < n4; j += 4) micro1x4(ap, bBase + (<usize>j << 2), rb, cp + (<usize>j << 2), kc, mode, pBias + (<usize>j << 2));
  for (; j < n; j++) micro1x1(ap, bBase + (<usize>j << 2), rb, cp + (<usize>j << 2), kc, mode, pBias + (<usize>j << 2));
}

/** dst[cols, rows] = src[rows, cols]^T (4x4 tiles through registers, scalar edges). */
export function transpose(pSrc: usize, pDst: usize, rows: i32, cols: i32): void {
  transpose_strided(pSrc, pDst, rows, cols, cols, rows);
}

/**
 * {@link transpose} of a [rows, cols] block whose rows are `srcStride` floats apart into a
 * block whose rows are `dstStride` floats apart (the threads build transposes row ranges).
 */
export function transpose_strided(pSrc: usize, pDst: usize, rows: i32, cols: i32, srcStride: i32, dstStride: i32): void {
  const r4 = rows & ~3;
  const c4 = cols & ~3;
  const rs = <usize>srcStride << 2; // src row bytes
  const ds = <usize>dstStride << 2; // dst row bytes
  for (let r = 0; r < r4; r += 4) {
    for (let c = 0; c < c4; c += 4) {
      const s = pSrc + <usize>r * rs + (<usize>c << 2);
      const x0 = v128.load(s);
      const x1 = v128.load(s + rs);
      const x2 = v128.load(s + 2 * rs);
      const x3 = v128.load(s + 3 * rs);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      const d = pDst + <usize>c * ds + (<usize>r << 2);
      v128.store(d, v128.shuffle<f64>(t0, t1, 0, 2));
      v128.store(d + ds, v128.shuffle<f64>(t0, t1, 1, 3));
      v128.store(d + 2 * ds, v128.shuffle<f64>(t2, t3, 0, 2));
      v128.store(d + 3 * ds, v128.shuffle<f64>(t2, t3, 1, 3));
    }
    for (let c = c4; c < cols; c++) {
      for (let q = 0; q < 4; q++) {
        store<f32>(pDst + <usize>c * ds + (<usize>(r + q) << 2), load<f32>(pSrc + <usize>(r + q) * rs + (<usize>c << 2)));
      }
    }
  }
  for (let r = r4; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      store<f32>(pDst + <usize>c * ds + (<usize>r << 2), load<f32>(pSrc + <usize>r * rs + (<usize>c << 2)));
    }
  }
}

/**
 * out[c] = sum_r x[r, c] over a [rows, cols] block whose rows are `stride`
 * floats apart (bias gradients; a free GMM's sum over samples).
 */
export function colsum(pX: usize, rows: i32, cols: i32, stride: i32, pOut: usize): void {
  const c4 = cols & ~3;
  const rb = <usize>stride << 2;
  let c = 0;
  for (; c < c4; c += 4) {
    const o = <usize>c << 2;
    let acc = f32x4.splat(0);
    let p = pX + o;
    for (let r = 0; r < rows; r++) {
      acc = f32x4.add(acc, v128.load(p));
      p += rb;
    }
    v128.store(pOut + o, vflush(acc));
  }
  for (; c < cols; c++) {
    const o = <usize>c << 2;
    let s: f32 = 0;
    let p = pX + o;
    for (let r = 0; r < rows; r++) {
      s += load<f32>(p);
      p += rb;
    }
    store<f32>(pOut + o, sflush(s));
  }
}
