// Dense layers: C = A B with a cache- and register-blocked f32x4 matmul (see
// `matmul`), the backward products C = A^T B (`matmul_at_strided`, X^T G) and
// C = A B^T (`matmul_bt_strided`, G W^T), which read the transposed operand in
// place or while packing it (no transposed copy), a transpose, and column sums.
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

/**
 * Shared-dimension block. Every element of C is computed the same way on every path below
 * (packed or in-place B, packed or in-place A, edge blocks, narrow tails): start from 0, C or
 * the bias, `madd` over the shared dimension in order, store (flushed) after each KC block.
 * So an element's value does not depend on which kernel computed it, nor on how a call was
 * split across threads (rows in blocks of 4, columns in blocks of 8).
 */
const KC: i32 = 256;
/**
 * Columns of B packed per block: 16 panels of 8 columns (128 KiB at KC = 256; fits L2) in the
 * single-thread build. The threads build's memory starts at one 64 KiB page, which holds its
 * static data, so there a block is one panel (8 KiB per slot) and only a transposed A's strips
 * are packed (see PACK_A_ROWS).
 */
const NC: i32 = ASC_FEATURE_THREADS ? 8 : 128;
/** A pack slot: the packed [KC x NC] block of B, then a packed 4-row strip of A (4 KiB). */
const PACK_B_BYTES: usize = <usize>KC * <usize>NC * 4;
const PACK_A_BYTES: usize = <usize>KC * 16;
const SLOT_BYTES: usize = PACK_B_BYTES + PACK_A_BYTES;
/**
 * Whether strips of a row-major A are packed (single-thread build). A transposed A's strips are
 * packed in both builds when they meet 2 or more panels: read in place, a strip's k-rows are a
 * whole row of A^T apart (e.g. 1 KiB), so they fall into a few L1 sets and are evicted before
 * the next panel reuses them.
 */
const PACK_A_ROWS: bool = !ASC_FEATURE_THREADS;
/**
 * Pack slots: one in the single-thread build; in the threads build every thread on a shared
 * memory takes a free one (compare-and-swap on its lock word) for the length of a call. A
 * thread that finds none reads B in place, which gives the same results.
 */
// Threads build: the slots and their lock words are static data, i.e. zero-filled active data
// segments, which every instantiation on the shared memory writes again. That is safe because
// workers instantiate only in ThreadPool.start, which the runtime awaits before its next kernel
// call (src/threads.ts, startPool), so no call holds a slot while a worker instantiates.
const SLOTS: i32 = ASC_FEATURE_THREADS ? 4 : 1;
const PACK_AREA: usize = memory.data(<i32>(SLOTS * <i32>SLOT_BYTES), 64);
const PACK_LOCKS: usize = memory.data(16, 16);
/** Bytes of a [KC x n] block of B up to which B is read in place, rows outer (fits L2). */
const B_BLOCK_L2: usize = 256 * 1024;
/** Rows of C from which a large B block is packed (below, packing would not be repaid). */
const PACK_B_MIN_ROWS: i32 = 8;
/** Full panels a 4-row strip of A meets from which the strip is packed (repaid over the panels). */
const PACK_A_MIN_PANELS: i32 = 2;

/**
 * Packs a strip of `rows` (1-4) adjacent columns of a transposed A (column q at a0 + 4q, its
 * kc k-rows ka bytes apart) as {@link packA4} does, missing rows repeating the last one.
 */
function packAT4(a0: usize, ka: usize, rows: i32, kc: i32, dst: usize): void {
  let s = a0;
  let d = dst;
  if (rows == 4) {
    for (let p = 0; p < kc; p++) {
      v128.store(d, v128.load(s));
      s += ka;
      d += 16;
    }
  } else {
    const o1 = <usize>min(1, rows - 1) << 2;
    const o2 = <usize>min(2, rows - 1) << 2;
    for (let p = 0; p < kc; p++) {
      store<f32>(d, load<f32>(s));
      store<f32>(d, load<f32>(s + o1), 4);
      store<f32>(d, load<f32>(s + o2), 8);
      store<f32>(d, load<f32>(s + o2), 12); // rows <= 3: row 3 repeats row min(2, rows - 1)
      s += ka;
      d += 16;
    }
  }
}

// @ts-ignore: decorator
@inline function acquireSlot(): i32 {
  if (ASC_FEATURE_THREADS) {
    for (let s = 0; s < SLOTS; s++) {
      if (atomic.cmpxchg<i32>(PACK_LOCKS + (<usize>s << 2), 0, 1) == 0) return s;
    }
    return -1;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function releaseSlot(s: i32): void {
  if (ASC_FEATURE_THREADS) atomic.store<i32>(PACK_LOCKS + (<usize>s << 2), 0);
}

/** Stores lanes [skip, 8) of a row of 8 floats (v0: columns 0-3, v1: 4-7) at c. */
function storeFrom(c: usize, v0: v128, v1: v128, skip: i32): void {
  if (skip < 4) {
    if (skip < 1) store<f32>(c, f32x4.extract_lane(v0, 0));
    if (skip < 2) store<f32>(c, f32x4.extract_lane(v0, 1), 4);
    if (skip < 3) store<f32>(c, f32x4.extract_lane(v0, 2), 8);
    store<f32>(c, f32x4.extract_lane(v0, 3), 12);
    v128.store(c, v1, 16);
  } else {
    if (skip < 5) store<f32>(c, f32x4.extract_lane(v1, 0), 16);
    if (skip < 6) store<f32>(c, f32x4.extract_lane(v1, 1), 20);
    if (skip < 7) store<f32>(c, f32x4.extract_lane(v1, 2), 24);
    store<f32>(c, f32x4.extract_lane(v1, 3), 28);
  }
}

// @ts-ignore: decorator
@inline function storeRow(c: usize, v0: v128, v1: v128, skip: i32): void {
  if (skip == 0) {
    v128.store(c, v0);
    v128.store(c, v1, 16);
  } else storeFrom(c, v0, v1, skip);
}

/**
 * The micro-kernel: a 4 x 8 block of C (rows c0 + q * rc) in 8 f32x4 accumulators (+)= 4 rows
 * of A (a0 + q * ra, kc floats each, `ka` bytes apart: 4, or a row of A^T for a transposed A)
 * times an 8-column panel of B whose rows are `bStep` bytes apart (B in place, or a packed
 * panel, 32 bytes apart). A values are broadcast with
 * load32_splat (one instruction). With rows < 4 the missing rows repeat the last one (same
 * values computed and stored twice). Stores lanes [skip, 8) of each row. A 6 x 8 block
 * (12 accumulators) measured slower: V8 keeps one of the 16 SIMD registers as scratch, so it
 * spills; for the same reason few integer values stay live across the loop.
 */
// @ts-ignore: decorator
@inline function kRows(a0: usize, ra: usize, ka: usize, rows: i32, bp: usize, bStep: usize, c0: usize, rc: usize, kc: i32, mode: i32, pBias: usize, skip: i32): void {
  const r1 = <usize>min(1, rows - 1);
  const r2 = <usize>min(2, rows - 1);
  const r3 = <usize>min(3, rows - 1);
  let c00 = initAcc(mode, c0, pBias);
  let c01 = initAcc(mode, c0 + 16, pBias + 16);
  let c10 = initAcc(mode, c0 + r1 * rc, pBias);
  let c11 = initAcc(mode, c0 + r1 * rc + 16, pBias + 16);
  let c20 = initAcc(mode, c0 + r2 * rc, pBias);
  let c21 = initAcc(mode, c0 + r2 * rc + 16, pBias + 16);
  let c30 = initAcc(mode, c0 + r3 * rc, pBias);
  let c31 = initAcc(mode, c0 + r3 * rc + 16, pBias + 16);
  let p0 = a0;
  let p1 = a0 + r1 * ra;
  let p2 = a0 + r2 * ra;
  let p3 = a0 + r3 * ra;
  let b = bp;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(p0);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(p1);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(p2);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(p3);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    p0 += ka;
    p1 += ka;
    p2 += ka;
    p3 += ka;
    b += bStep;
  }
  // (row pointers recomputed here, so they are not live across the loop)
  const s1 = <usize>min(1, rows - 1);
  const s2 = <usize>min(2, rows - 1);
  const s3 = <usize>min(3, rows - 1);
  storeRow(c0, vflush(c00), vflush(c01), skip);
  storeRow(c0 + s1 * rc, vflush(c10), vflush(c11), skip);
  storeRow(c0 + s2 * rc, vflush(c20), vflush(c21), skip);
  storeRow(c0 + s3 * rc, vflush(c30), vflush(c31), skip);
}

/**
 * {@link kRows} with the 4 rows of A interleaved (packed, see {@link packA4}, aStep = 16; or
 * 4 adjacent columns of a transposed A read in place, aStep = its row bytes): one pointer with
 * immediate offsets, so the loop is 6 loads, 8 madds and two pointer increments.
 */
// @ts-ignore: decorator
@inline function kPacked(pa: usize, aStep: usize, bp: usize, bStep: usize, c0: usize, rc: usize, rows: i32, kc: i32, mode: i32, pBias: usize, skip: i32): void {
  const r1 = <usize>min(1, rows - 1);
  const r2 = <usize>min(2, rows - 1);
  const r3 = <usize>min(3, rows - 1);
  let c00 = initAcc(mode, c0, pBias);
  let c01 = initAcc(mode, c0 + 16, pBias + 16);
  let c10 = initAcc(mode, c0 + r1 * rc, pBias);
  let c11 = initAcc(mode, c0 + r1 * rc + 16, pBias + 16);
  let c20 = initAcc(mode, c0 + r2 * rc, pBias);
  let c21 = initAcc(mode, c0 + r2 * rc + 16, pBias + 16);
  let c30 = initAcc(mode, c0 + r3 * rc, pBias);
  let c31 = initAcc(mode, c0 + r3 * rc + 16, pBias + 16);
  let a = pa;
  let b = bp;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(a, 4);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(a, 8);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(a, 12);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    a += aStep;
    b += bStep;
  }
  // (row pointers recomputed here, so they are not live across the loop)
  const s1 = <usize>min(1, rows - 1);
  const s2 = <usize>min(2, rows - 1);
  const s3 = <usize>min(3, rows - 1);
  storeRow(c0, vflush(c00), vflush(c01), skip);
  storeRow(c0 + s1 * rc, vflush(c10), vflush(c11), skip);
  storeRow(c0 + s2 * rc, vflush(c20), vflush(c21), skip);
  storeRow(c0 + s3 * rc, vflush(c30), vflush(c31), skip);
}

/** Packs rows a0..a3 (kc floats each) into dst as kc groups (a0[p], a1[p], a2[p], a3[p]). */
function packA4(a0: usize, a1: usize, a2: usize, a3: usize, kc: i32, dst: usize): void {
  const k4 = kc & ~3;
  let d = dst;
  let o: usize = 0;
  for (let p = 0; p < k4; p += 4) {
    const x0 = v128.load(a0 + o);
    const x1 = v128.load(a1 + o);
    const x2 = v128.load(a2 + o);
    const x3 = v128.load(a3 + o);
    const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
    const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
    v128.store(d, v128.shuffle<f64>(t0, t1, 0, 2));
    v128.store(d, v128.shuffle<f64>(t0, t1, 1, 3), 16);
    v128.store(d, v128.shuffle<f64>(t2, t3, 0, 2), 32);
    v128.store(d, v128.shuffle<f64>(t2, t3, 1, 3), 48);
    d += 64;
    o += 16;
  }
  for (let p = k4; p < kc; p++) {
    store<f32>(d, load<f32>(a0 + o));
    store<f32>(d, load<f32>(a1 + o), 4);
    store<f32>(d, load<f32>(a2 + o), 8);
    store<f32>(d, load<f32>(a3 + o), 12);
    d += 16;
    o += 4;
  }
}

/**
 * Packs nc columns (8 <= ... ; a multiple of 8) of kc rows of B (rows `rb` bytes apart) into
 * nc / 8 panels of [kc x 8] floats, panel q at dst + q * kc * 32.
 */
function packB(pB: usize, rb: usize, kc: i32, nc: i32, dst: usize): void {
  const step = <usize>kc << 5;
  for (let p = 0; p < kc; p++) {
    const src = pB + <usize>p * rb;
    let d = dst + (<usize>p << 5);
    for (let j = 0; j < nc; j += 8) {
      const s = src + (<usize>j << 2);
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
      d += step;
    }
  }
}

/**
 * {@link packB} of a transposed B: B^T stored [n, kd], its rows (B's columns, kc floats each
 * from pB) `rb` bytes apart. Panel q (B^T rows 8q..8q+7) goes through two 4 x 4 register
 * transposes per 4 floats of k, so B^T is read front to back and never materialised.
 */
function packBT(pB: usize, rb: usize, kc: i32, nc: i32, dst: usize): void {
  const k4 = kc & ~3;
  for (let j = 0; j < nc; j += 8) {
    const s0 = pB + <usize>j * rb;
    const s4 = s0 + (rb << 2);
    let d = dst + (<usize>j * <usize>kc << 2);
    let o: usize = 0;
    for (let p = 0; p < k4; p += 4) {
      transpose4x4(s0 + o, rb, d, 32);
      transpose4x4(s4 + o, rb, d + 16, 32);
      d += 128;
      o += 16;
    }
    for (let p = k4; p < kc; p++) {
      for (let r = 0; r < 8; r++) store<f32>(d + (<usize>r << 2), load<f32>(s0 + <usize>r * rb + o));
      d += 32;
      o += 4;
    }
  }
}

/**
 * One 4-row strip of C (rows c0 + q * rc; with rows < 4 the missing rows repeat the last one)
 * times `nf` 8-column panels of B (panel q at bp + q * bPanel, rows bStep bytes apart; C and
 * bias columns 8q), then, when skip > 0, the shifted last panel at bShift (C and bias columns
 * at cShift bytes), which stores its columns [skip, 8) only. A: row q of the strip at
 * a0 + q * ra; or, with `at` (A^T stored), column q at a0 + 4q, its k-rows ra bytes apart,
 * packed first at apk when it meets at least PACK_A_MIN_PANELS panels, else read in place
 * (the threads build's one-panel blocks: a copy used once costs more than it saves). A row-major strip is packed
 * first (at apk, when given, PACK_A_ROWS) if it has 4 rows and meets at least
 * PACK_A_MIN_PANELS panels.
 */
// @ts-ignore: decorator
@inline function strip(
  a0: usize, ra: usize, at: bool, rows: i32, c0: usize, rc: usize,
  bp: usize, bPanel: usize, bStep: usize, nf: i32, bShift: usize, cShift: usize, skip: i32,
  kc: i32, mode: i32, pBias: usize, apk: usize,
): void {
  if (at && apk != 0 && nf >= PACK_A_MIN_PANELS) {
    packAT4(a0, ra, rows, kc, apk);
    let b = bp;
    for (let q = 0; q < nf; q++) {
      const o = <usize>q << 5;
      kPacked(apk, 16, b, bStep, c0 + o, rc, rows, kc, mode, pBias + o, 0);
      b += bPanel;
    }
    if (skip) kPacked(apk, 16, bShift, bStep, c0 + cShift, rc, rows, kc, mode, pBias + cShift, skip);
  } else if (at) {
    let b = bp;
    if (rows == 4) {
      for (let q = 0; q < nf; q++) {
        const o = <usize>q << 5;
        kPacked(a0, ra, b, bStep, c0 + o, rc, 4, kc, mode, pBias + o, 0);
        b += bPanel;
      }
      if (skip) kPacked(a0, ra, bShift, bStep, c0 + cShift, rc, 4, kc, mode, pBias + cShift, skip);
    } else {
      for (let q = 0; q < nf; q++) {
        const o = <usize>q << 5;
        kRows(a0, 4, ra, rows, b, bStep, c0 + o, rc, kc, mode, pBias + o, 0);
        b += bPanel;
      }
      if (skip) kRows(a0, 4, ra, rows, bShift, bStep, c0 + cShift, rc, kc, mode, pBias + cShift, skip);
    }
  } else if (PACK_A_ROWS && apk != 0 && rows == 4 && nf >= PACK_A_MIN_PANELS) {
    packA4(a0, a0 + ra, a0 + 2 * ra, a0 + 3 * ra, kc, apk);
    let b = bp;
    for (let q = 0; q < nf; q++) {
      const o = <usize>q << 5;
      kPacked(apk, 16, b, bStep, c0 + o, rc, 4, kc, mode, pBias + o, 0);
      b += bPanel;
    }
    if (skip) kPacked(apk, 16, bShift, bStep, c0 + cShift, rc, 4, kc, mode, pBias + cShift, skip);
  } else {
    let b = bp;
    for (let q = 0; q < nf; q++) {
      const o = <usize>q << 5;
      kRows(a0, ra, 4, rows, b, bStep, c0 + o, rc, kc, mode, pBias + o, 0);
      b += bPanel;
    }
    if (skip) kRows(a0, ra, 4, rows, bShift, bStep, c0 + cShift, rc, kc, mode, pBias + cShift, skip);
  }
}

/**
 * One packed block of {@link mm}: packs nfb 8-column panels of B (or, when nfb = 0, the one
 * shifted last panel, which stores its columns [skip, 8)) into the slot pk (from B^T with
 * `bt`), then runs every 4-row strip of A (m rows, strip i at aBase + i * aRow) over them.
 */
function packedBlock(aBase: usize, aRow: usize, ra: usize, at: bool, m: i32, pB: usize, rb: usize, bt: bool, nfb: i32, skip: i32, cj: usize, rc: usize, kc: i32, mode: i32, pBias: usize, pk: usize, apk: usize): void {
  if (bt) packBT(pB, rb, kc, nfb > 0 ? nfb << 3 : 8, pk);
  else packB(pB, rb, kc, nfb > 0 ? nfb << 3 : 8, pk);
  const panel = <usize>kc << 5;
  for (let i = 0; i < m; i += 4) {
    strip(aBase + <usize>i * aRow, ra, at, min(4, m - i), cj + <usize>i * rc, rc, pk, panel, 32, nfb, pk, 0, skip, kc, mode, pBias, apk);
  }
}

/**
 * C[m, n] (=, +=, or bias +) A[m, kd] B[kd, n]; all row-major, byte pointers.
 * With mode MM_BIAS every row of C starts from pBias[n].
 *
 * Blocking: the shared dimension is cut into KC-long blocks; the 4 x 8 block of C being
 * computed lives in 8 f32x4 registers (see {@link kRows}). Within a KC block:
 * * B block fits L2 (kc x n x 4 bytes <= 256 KiB): B is read in place, 4-row strips of C
 *   outer, so the strip of A stays in L1 (packed, when it meets 2 or more panels) while B
 *   streams from L2.
 * * Larger B (e.g. a [256 x 15690] head weight) and m >= 8: B is packed, NC = 128 columns at
 *   a time, into [KC x 8] panels (contiguous, so no TLB miss per row), then every strip of A
 *   runs over the packed block.
 * * Larger B and m < 8: 8-column panels outer, B in place, so each panel stays in L1.
 * n mod 8 columns: one more 8-column panel ending at column n, overlapping the last full one,
 * which stores only its new columns. m mod 4 rows: a strip whose missing rows repeat its last
 * row. n < 8: 4-wide and one-column kernels per row.
 */
export function matmul(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, mode: i32, pBias: usize): void {
  mm(pA, <usize>kd << 2, false, pB, <usize>n << 2, false, pC, <usize>n << 2, m, kd, n, mode, pBias);
}

/**
 * {@link matmul} on blocks whose rows are lda / ldb / ldc floats apart (the threads build
 * splits C by rows in blocks of 4, or by 8-aligned column ranges: every C element is then
 * computed with the same operations as in one call).
 */
export function matmul_strided(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, lda: i32, ldb: i32, ldc: i32, mode: i32, pBias: usize): void {
  mm(pA, <usize>lda << 2, false, pB, <usize>ldb << 2, false, pC, <usize>ldc << 2, m, kd, n, mode, pBias);
}

/**
 * C[m, n] (=, +=, or bias +) A^T B, with A stored [kd, m] (rows lda floats apart), B [kd, n]
 * (rows ldb apart), C rows ldc apart: the weight gradient X^T G without transposing X. A
 * 4-row strip of C reads 4 adjacent floats of each row of A in place. Every C element is
 * computed with the same operations as {@link matmul} on the transposed A (the same order
 * over k), so the result is bit-identical to transpose + matmul, and to any split of C by
 * 4-aligned row ranges or 8-aligned column ranges.
 */
export function matmul_at_strided(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, lda: i32, ldb: i32, ldc: i32, mode: i32, pBias: usize): void {
  mm(pA, <usize>lda << 2, true, pB, <usize>ldb << 2, false, pC, <usize>ldc << 2, m, kd, n, mode, pBias);
}

/**
 * C[m, n] (=, +=, or bias +) A B^T, with A [m, kd] (rows lda floats apart), B stored [n, kd]
 * (rows ldb apart), C rows ldc apart: the input gradient G W^T without transposing W. B^T is
 * packed panel by panel into the pack slot straight from B (see {@link packBT}); with no free
 * slot (threads build, more than 4 threads in dense kernels at once) the one-column kernel
 * reads B in place. Bit-identical to transpose + matmul, and to any split of C by 4-aligned
 * row ranges or 8-aligned column ranges, as {@link matmul_at_strided}.
 */
export function matmul_bt_strided(pA: usize, pB: usize, pC: usize, m: i32, kd: i32, n: i32, lda: i32, ldb: i32, ldc: i32, mode: i32, pBias: usize): void {
  mm(pA, <usize>lda << 2, false, pB, <usize>ldb << 2, true, pC, <usize>ldc << 2, m, kd, n, mode, pBias);
}

/**
 * The matmuls. ra / rb / rc: bytes between the stored rows of A, B and C. `at`: A is stored
 * transposed ([kd, m]); `bt`: B is stored transposed ([n, kd]). Blocking: see {@link matmul};
 * a transposed B is always packed (the pack reads B^T's rows front to back).
 */
function mm(pA: usize, ra: usize, at: bool, pB: usize, rb: usize, bt: bool, pC: usize, rc: usize, m: i32, kd: i32, n: i32, mode: i32, pBias: usize): void {
  if (kd == 0 || n < 8) {
    matmulNarrow(pA, ra, at, pB, rb, bt, pC, m, kd, n, rc, mode, pBias);
    return;
  }
  // A: strip i at aBase + i * aRow, its k step ka; B: column j at bBase + j * bCol
  const aRow: usize = at ? 4 : ra;
  const ka: usize = at ? ra : 4;
  const bCol: usize = bt ? rb : 4;
  const kb: usize = bt ? 4 : rb;
  const slot = acquireSlot();
  const pk = slot >= 0 ? PACK_AREA + <usize>slot * SLOT_BYTES : 0;
  const apk = slot >= 0 ? pk + PACK_B_BYTES : 0;
  const nf = n >> 3;
  const w = n & 7;
  const skip = w ? 8 - w : 0;
  const cShift = <usize>(n - 8) << 2;
  for (let k0 = 0; k0 < kd; k0 += KC) {
    const kc = min(KC, kd - k0);
    const md = k0 == 0 ? mode : MM_ACCUMULATE;
    const aBase = pA + <usize>k0 * ka;
    const bBase = pB + <usize>k0 * kb;
    if (!bt && <usize>kc * rb <= B_BLOCK_L2) {
      // B block in L2: strips outer, B in place
      for (let i = 0; i < m; i += 4) {
        strip(aBase + <usize>i * aRow, ra, at, min(4, m - i), pC + <usize>i * rc, rc, bBase, 32, rb, nf, bBase + cShift, cShift, skip, kc, md, pBias, apk);
      }
    } else if (pk != 0 && (bt || m >= PACK_B_MIN_ROWS)) {
      // large B (or B^T): pack NC columns at a time into [kc x 8] panels, every strip of A runs
      // over them; then the shifted last panel (when n mod 8 > 0) as a block of its own
      // (B^T with a short k block: as many panels as the slot holds, e.g. G W^T of a narrow layer)
      const nc = bt ? <i32>(PACK_B_BYTES / (<usize>kc << 5)) << 3 : NC;
      for (let j0 = 0; j0 < nf << 3; j0 += nc) {
        const jc = <usize>j0 << 2;
        packedBlock(aBase, aRow, ra, at, m, bBase + <usize>j0 * bCol, rb, bt, min(nc, (nf << 3) - j0) >> 3, 0, pC + jc, rc, kc, md, pBias + jc, pk, apk);
      }
      if (skip) packedBlock(aBase, aRow, ra, at, m, bBase + <usize>(n - 8) * bCol, rb, bt, 0, skip, pC + cShift, rc, kc, md, pBias + cShift, pk, apk);
    } else if (!bt) {
      // large B, few rows (or no pack slot): 8-column panels outer, B in place, each panel in L1
      for (let q = 0; q <= nf; q++) {
        const full = q < nf;
        if (!full && skip == 0) break;
        const o = full ? <usize>q << 5 : cShift;
        for (let i = 0; i < m; i += 4) {
          kRows(aBase + <usize>i * aRow, at ? 4 : ra, ka, min(4, m - i), bBase + o, rb, pC + <usize>i * rc + o, rc, kc, md, pBias + o, full ? 0 : skip);
        }
      }
    } else {
      // B^T and no pack slot: one-column kernels, B^T's rows read in place
      for (let i = 0; i < m; i++) {
        const ap = aBase + <usize>i * aRow;
        const cp = pC + <usize>i * rc;
        for (let j = 0; j < n; j++) micro1x1(ap, ka, bBase + <usize>j * rb, 4, cp + (<usize>j << 2), kc, md, pBias + (<usize>j << 2));
      }
    }
  }
  if (slot >= 0) releaseSlot(slot);
}

/**
 * n < 8 (or kd = 0): 4-wide vector kernels, then one-column ones, one row at a time. A
 * transposed B's [kc x n] block is first packed into a pack slot (or, with none free, read in
 * place by the one-column kernel).
 */
function matmulNarrow(pA: usize, ra: usize, at: bool, pB: usize, rb: usize, bt: bool, pC: usize, m: i32, kd: i32, n: i32, rc: usize, mode: i32, pBias: usize): void {
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
  const aRow: usize = at ? 4 : ra;
  const ka: usize = at ? ra : 4;
  const slot = bt ? acquireSlot() : -1;
  const pk = slot >= 0 ? PACK_AREA + <usize>slot * SLOT_BYTES : 0;
  const n4 = n & ~3;
  for (let k0 = 0; k0 < kd; k0 += KC) {
    const kc = min(KC, kd - k0);
    const md = k0 == 0 ? mode : MM_ACCUMULATE;
    // B's block: columns 4 bytes apart, rows kb apart (B, or B^T packed into [kc x n]); or B^T in place
    let bBase = pB + <usize>k0 * rb;
    let kb = rb;
    if (bt && pk != 0) {
      for (let p = 0; p < kc; p++) {
        for (let j = 0; j < n; j++) store<f32>(pk + (<usize>(p * n + j) << 2), load<f32>(pB + <usize>j * rb + (<usize>(k0 + p) << 2)));
      }
      bBase = pk;
      kb = <usize>n << 2;
    }
    for (let i = 0; i < m; i++) {
      const ap = pA + <usize>i * aRow + <usize>k0 * ka;
      const cp = pC + <usize>i * rc;
      let j = 0;
      if (bt && pk == 0) {
        for (; j < n; j++) micro1x1(ap, ka, pB + <usize>j * rb + (<usize>k0 << 2), 4, cp + (<usize>j << 2), kc, md, pBias + (<usize>j << 2));
        continue;
      }
      for (; j < n4; j += 4) micro1x4(ap, ka, bBase + (<usize>j << 2), kb, cp + (<usize>j << 2), kc, md, pBias + (<usize>j << 2));
      for (; j < n; j++) micro1x1(ap, ka, bBase + (<usize>j << 2), kb, cp + (<usize>j << 2), kc, md, pBias + (<usize>j << 2));
    }
  }
  if (slot >= 0) releaseSlot(slot);
}

// @ts-ignore: decorator
@inline function micro1x4(ap0: usize, ka: usize, bp0: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize): void {
  let c0 = initAcc(mode, cp, pBias);
  let ap = ap0;
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    c0 = madd(v128.load32_splat(ap), v128.load(bp), c0);
    ap += ka;
    bp += rb;
  }
  v128.store(cp, vflush(c0));
}

/** One element, with the same madd as a vector lane (so also fused in the relaxed-SIMD build). A's k step ka, B's rb bytes. */
// @ts-ignore: decorator
@inline function micro1x1(ap0: usize, ka: usize, bp0: usize, rb: usize, cp: usize, kc: i32, mode: i32, pBias: usize): void {
  let s = f32x4.splat(initScalar(mode, cp, pBias));
  let ap = ap0;
  let bp = bp0;
  for (let p = 0; p < kc; p++) {
    s = madd(v128.load32_splat(ap), v128.load32_splat(bp), s);
    ap += ka;
    bp += rb;
  }
  store<f32>(cp, sflush(f32x4.extract_lane(s, 0)));
}

/** One 4 x 4 tile: 4 source rows (rs bytes apart) to 4 destination rows (ds bytes apart), through registers. */
// @ts-ignore: decorator
@inline function transpose4x4(s: usize, rs: usize, d: usize, ds: usize): void {
  const x0 = v128.load(s);
  const x1 = v128.load(s + rs);
  const x2 = v128.load(s + 2 * rs);
  const x3 = v128.load(s + 3 * rs);
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f64>(t0, t1, 0, 2));
  v128.store(d + ds, v128.shuffle<f64>(t0, t1, 1, 3));
  v128.store(d + 2 * ds, v128.shuffle<f64>(t2, t3, 0, 2));
  v128.store(d + 3 * ds, v128.shuffle<f64>(t2, t3, 1, 3));
}

/** Source rows per band of {@link transpose_strided} (16 floats = one 64-byte line of a destination row). */
const TR_ROWS: i32 = 16;
/** Source row bytes above which {@link transpose_strided} blocks by columns instead. */
const TR_WIDE: usize = 16384;
/** Source columns per block of a wide source. */
const TR_COLS: i32 = 64;

/** dst[cols, rows] = src[rows, cols]^T (4x4 tiles through registers, cache-blocked, scalar edges). */
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
  // Cache blocking (data movement only; no arithmetic, so any order gives the same result).
  if (rs > TR_WIDE) {
    // Wide source rows (e.g. a [256 x 15690] weight): blocks of TR_COLS columns, each swept by
    // 4-row bands, so a band reads TR_COLS * 4 contiguous bytes from each of its 4 rows and the
    // block's TR_COLS destination rows fill front to back.
    for (let cb = 0; cb < c4; cb += TR_COLS) {
      const ce = min(cb + TR_COLS, c4);
      for (let r = 0; r < r4; r += 4) {
        const sr = pSrc + <usize>r * rs;
        const dr = pDst + (<usize>r << 2);
        for (let c = cb; c < ce; c += 4) transpose4x4(sr + (<usize>c << 2), rs, dr + <usize>c * ds, ds);
      }
    }
  } else {
    // Bands of TR_ROWS source rows, each swept column by column, so the band's rows stream front
    // to back and every destination row gets a whole 64-byte line (TR_ROWS floats) at a time,
    // instead of 16 bytes per 4-row band (the line is evicted before its next 16 bytes arrive).
    for (let rb = 0; rb < r4; rb += TR_ROWS) {
      const re = min(rb + TR_ROWS, r4);
      for (let c = 0; c < c4; c += 4) {
        const sc = pSrc + (<usize>c << 2);
        const dc = pDst + <usize>c * ds;
        for (let r = rb; r < re; r += 4) transpose4x4(sc + <usize>r * rs, rs, dc + (<usize>r << 2), ds);
      }
    }
  }
  for (let r = 0; r < r4; r++) {
    for (let c = c4; c < cols; c++) store<f32>(pDst + <usize>c * ds + (<usize>r << 2), load<f32>(pSrc + <usize>r * rs + (<usize>c << 2)));
  }
  for (let r = r4; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(pDst + <usize>c * ds + (<usize>r << 2), load<f32>(pSrc + <usize>r * rs + (<usize>c << 2)));
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
