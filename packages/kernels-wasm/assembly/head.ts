// The fused mixture head: per row, log-densities -> logsumexp -> responsibilities
// -> NLL, -Q and the output gradients of one variant, in one call.
//
// Per row the K x D block is processed flat (SIMD over all K*D elements, so
// small D such as 1..3 still vectorises): y is tiled K times, then
//   sweep 1 (f32x4): diff = y - mu, inv = e^-s, e = 0.5 (diff inv)^2 + s
//   per component (f64): l_k = log pi_k - D log sqrt(2 pi) - sum_d e,
//                        lse, rho, pi, logits gradient, weight w_k
//   sweep 2 (f32x4): gradients of mu and log-sigma from diff, inv and w.
// Scalar code handles only the tail (K*D mod 4) of each sweep.
//
// A component with zero weight w (zero responsibility) gets exactly zero mu and
// log-sigma gradients, as in core's reference, even where its |y - mu| / sigma
// overflows float32 (0 * inf would be NaN): sweep 2 masks those lanes.
//
// No subnormals (see simd-math.ts): a weight |w / n| below 2^-60 is 0 (for nll/em/ngem,
// rho = 0 once the log-responsibility is below log(n) - 41.6: far below float32
// resolution next to the responsibilities that carry the sample), diff and z are
// flushed in sweep 1, and every stored gradient of sweep 2 and the logits gradient are
// flushed below 2^-60.
import { FLUSH_BELOW, sexp, sflush, vexp, vflush } from "./simd-math";

const HALF_LOG_2PI: f64 = 0.91893853320467274178;

/**
 * Lanes of `g` where the weight `w` is 0 set to +0 (0 * inf = NaN must not leak out),
 * and lanes with |g| < 2^-60 flushed to +-0.
 */
// @ts-ignore: decorator
@inline function zeroWhereNoWeight(g: v128, w: v128): v128 {
  const drop = v128.or(f32x4.eq(w, f32x4.splat(0)), f32x4.lt(f32x4.abs(g), f32x4.splat(FLUSH_BELOW)));
  return v128.andnot(g, drop);
}

/** Scalar {@link zeroWhereNoWeight}. */
// @ts-ignore: decorator
@inline function szero(g: f32, w: f32): f32 {
  return w == 0 ? <f32>0 : sflush(g);
}

/** Variant codes of the ABI (same order as core's VARIANTS). */
export const VARIANT_NLL: i32 = 0;
export const VARIANT_EM: i32 = 1;
export const VARIANT_NGEM: i32 = 2;
export const VARIANT_NGEM_FULL: i32 = 3;

/** Bytes of scratch the head needs for K components of dimension D. */
export function head_scratch_bytes(k: i32, d: i32): i32 {
  // 3 f64 arrays of K, 5 f32 arrays of K*D (each padded to 16 bytes)
  const kd = ((k * d + 3) & ~3) << 2;
  const kk = ((k * 8 + 15) & ~15);
  return 3 * kk + 5 * kd + 16;
}

/**
 * Fused head over `n` rows. Pointers are byte offsets into memory; strides are
 * in floats (0 repeats one row for every sample, as a free GMM does).
 * - inputs: logits at pA (row stride strideA), mu at pMu and log-sigma at pS
 *   (row stride strideMS), targets y at pY ([n, d], contiguous)
 * - outputs: gradients at gA (stride outA), gMu / gS (stride outMS), averaged over n
 * - pRes: two f64 slots, mean NLL and mean -Q
 * Returns the first row whose log-likelihood is not finite, or -1.
 */
export function mixture_head(
  n: i32, k: i32, d: i32,
  pA: usize, strideA: i32, pMu: usize, pS: usize, strideMS: i32, pY: usize,
  gA: usize, outA: i32, gMu: usize, gS: usize, outMS: i32,
  variant: i32, sigmaCoords: i32, piFloor: f64, damping: f64, pre: i32,
  scratch: usize, pRes: usize,
): i32 {
  return headRows(0, n, n, k, d, pA, strideA, pMu, pS, strideMS, pY, gA, outA, gMu, gS, outMS, variant, sigmaCoords, piFloor, damping, pre, scratch, 0, pRes);
}

/**
 * Rows [r0, r1) of an n-row {@link mixture_head} (the threads build splits the batch by rows):
 * the same per-row work, gradients averaged over the full n, but instead of the means it
 * stores each row's NLL and -Q (two f64) at pRowRes + 16 r; {@link head_sum} then adds them in
 * row order, exactly as mixture_head does, so the result does not depend on the split.
 * Pointers are those of the whole batch (row 0). Returns the first non-finite row in range, or -1.
 */
export function mixture_head_rows(
  r0: i32, r1: i32, n: i32, k: i32, d: i32,
  pA: usize, strideA: i32, pMu: usize, pS: usize, strideMS: i32, pY: usize,
  gA: usize, outA: i32, gMu: usize, gS: usize, outMS: i32,
  variant: i32, sigmaCoords: i32, piFloor: f64, damping: f64, pre: i32,
  scratch: usize, pRowRes: usize,
): i32 {
  return headRows(r0, r1, n, k, d, pA, strideA, pMu, pS, strideMS, pY, gA, outA, gMu, gS, outMS, variant, sigmaCoords, piFloor, damping, pre, scratch, pRowRes, 0);
}

/** Mean NLL and mean -Q of n rows from the per-row values of {@link mixture_head_rows}, summed in row order. */
export function head_sum(n: i32, pRowRes: usize, pRes: usize): void {
  let lossSum: f64 = 0;
  let negQSum: f64 = 0;
  for (let r = 0; r < n; r++) {
    lossSum += load<f64>(pRowRes + (<usize>r << 4));
    negQSum += load<f64>(pRowRes + (<usize>r << 4) + 8);
  }
  const invN: f64 = 1.0 / <f64>n;
  store<f64>(pRes, lossSum * invN);
  store<f64>(pRes + 8, negQSum * invN);
}

function headRows(
  r0: i32, r1: i32, n: i32, k: i32, d: i32,
  pA: usize, strideA: i32, pMu: usize, pS: usize, strideMS: i32, pY: usize,
  gA: usize, outA: i32, gMu: usize, gS: usize, outMS: i32,
  variant: i32, sigmaCoords: i32, piFloor: f64, damping: f64, pre: i32,
  scratch: usize, pRowRes: usize, pRes: usize,
): i32 {
  const kd = k * d;
  const kdBytes: usize = <usize>(((kd + 3) & ~3) << 2);
  const kk: usize = <usize>((k * 8 + 15) & ~15);
  const base = (scratch + 15) & ~(<usize>15);
  const lBuf = base;
  const rhoBuf = base + kk;
  const piBuf = base + 2 * kk;
  const yTile = base + 3 * kk;
  const diffBuf = yTile + kdBytes;
  const invBuf = diffBuf + kdBytes;
  const eBuf = invBuf + kdBytes;
  const wBuf = eBuf + kdBytes;

  const invN: f64 = 1.0 / <f64>n;
  const full = variant == VARIANT_NGEM_FULL;
  const natural = variant >= VARIANT_NGEM;
  // damping > 0 or a partial precondition set (pre: 1 logits, 2 mu, 4 scale): the scalar sweep 2 of mode 3
  const general = natural && (damping != 0 || pre != 7);
  const mode = general ? 3 : natural ? (sigmaCoords != 0 ? 2 : 1) : 0;
  const fullLogits = full && (pre & 1) != 0;
  const dampedLogits = fullLogits && damping != 0;
  const vecEnd = kd & ~3;
  const constD: f64 = <f64>d * HALF_LOG_2PI;
  let lossSum: f64 = 0;
  let negQSum: f64 = 0;
  let badRow: i32 = -1;

  for (let r = r0; r < r1; r++) {
    const rowA = pA + <usize>(r * strideA) * 4;
    const rowMu = pMu + <usize>(r * strideMS) * 4;
    const rowS = pS + <usize>(r * strideMS) * 4;
    const rowY = pY + <usize>(r * d) * 4;
    const rowGA = gA + <usize>(r * outA) * 4;
    const rowGMu = gMu + <usize>(r * outMS) * 4;
    const rowGS = gS + <usize>(r * outMS) * 4;

    // y tiled K times
    if (d == 1) {
      const yv = load<f32>(rowY);
      const v = f32x4.splat(yv);
      let j = 0;
      for (; j < vecEnd; j += 4) v128.store(yTile + (<usize>j << 2), v);
      for (; j < kd; j++) store<f32>(yTile + (<usize>j << 2), yv);
    } else {
      for (let c = 0; c < k; c++) memory.copy(yTile + (<usize>(c * d) << 2), rowY, <usize>d << 2);
    }

    // sweep 1
    const half = f32x4.splat(0.5);
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const o = <usize>j << 2;
      const s = v128.load(rowS + o);
      const diff = vflush(f32x4.sub(v128.load(yTile + o), v128.load(rowMu + o)));
      const inv = vexp(f32x4.neg(s));
      const z = vflush(f32x4.mul(diff, inv));
      v128.store(diffBuf + o, diff);
      v128.store(invBuf + o, inv);
      v128.store(eBuf + o, f32x4.add(f32x4.mul(f32x4.mul(z, z), half), s));
    }
    for (; j < kd; j++) {
      const o = <usize>j << 2;
      const s = load<f32>(rowS + o);
      const diff = sflush(load<f32>(yTile + o) - load<f32>(rowMu + o));
      const inv = sexp(-s);
      const z = sflush(diff * inv);
      store<f32>(diffBuf + o, diff);
      store<f32>(invBuf + o, inv);
      store<f32>(eBuf + o, z * z * <f32>0.5 + s);
    }

    // log pi and pi (f64): one exp per component
    let maxA: f64 = -Infinity;
    for (let c = 0; c < k; c++) {
      const a = <f64>load<f32>(rowA + (<usize>c << 2));
      if (a > maxA || isNaN(a)) maxA = a;
    }
    let sumA: f64 = 0;
    for (let c = 0; c < k; c++) {
      const ea = Math.exp(<f64>load<f32>(rowA + (<usize>c << 2)) - maxA);
      store<f64>(piBuf + (<usize>c << 3), ea);
      sumA += ea;
    }
    const lseA = maxA + Math.log(sumA);
    const invSumA: f64 = 1.0 / sumA;

    // l_k = log pi_k + log N_k (the D-term sum in f64x2 lanes)
    let maxL: f64 = -Infinity;
    for (let c = 0; c < k; c++) {
      const segStart = eBuf + (<usize>(c * d) << 2);
      let acc0 = f64x2.splat(0);
      let acc1 = f64x2.splat(0);
      let t = 0;
      const segVec = d & ~3;
      for (; t < segVec; t += 4) {
        const v = v128.load(segStart + (<usize>t << 2));
        acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(v));
        acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      }
      const accV = f64x2.add(acc0, acc1);
      let sum: f64 = f64x2.extract_lane(accV, 0) + f64x2.extract_lane(accV, 1);
      for (; t < d; t++) sum += <f64>load<f32>(segStart + (<usize>t << 2));
      const lp = <f64>load<f32>(rowA + (<usize>c << 2)) - lseA;
      const l = lp - constD - sum;
      store<f64>(piBuf + (<usize>c << 3), load<f64>(piBuf + (<usize>c << 3)) * invSumA);
      store<f64>(lBuf + (<usize>c << 3), l);
      if (l > maxL || isNaN(l)) maxL = l;
    }
    // lse and rho = exp(l - maxL) / sum: one exp per component
    let sumL: f64 = 0;
    for (let c = 0; c < k; c++) {
      const el = Math.exp(load<f64>(lBuf + (<usize>c << 3)) - maxL);
      store<f64>(rhoBuf + (<usize>c << 3), el);
      sumL += el;
    }
    const lse = maxL + Math.log(sumL);
    if (!isFinite(lse) && badRow < 0) badRow = r;
    const rowLoss: f64 = -lse;
    lossSum += rowLoss;
    const invSumL: f64 = 1.0 / sumL;

    // responsibilities, -Q (per row, then added to the total), logits gradient, per-component weights
    let rhoSum: f64 = 0;
    let rowQ: f64 = 0;
    for (let c = 0; c < k; c++) {
      const rho = load<f64>(rhoBuf + (<usize>c << 3)) * invSumL;
      store<f64>(rhoBuf + (<usize>c << 3), rho);
      rhoSum += rho;
      if (rho != 0) rowQ -= rho * load<f64>(lBuf + (<usize>c << 3));
    }
    negQSum += rowQ;
    if (pRowRes != 0) {
      store<f64>(pRowRes + (<usize>r << 4), rowLoss);
      store<f64>(pRowRes + (<usize>r << 4) + 8, rowQ);
    }
    let centre: f64 = 0;
    // ngem-full, damped: (diag(pi) - pi pi^T + lambda I) g = pi - rho by Sherman-Morrison (core's dampedCategorical)
    let smC: f64 = 0;
    if (dampedLogits) {
      let num: f64 = 0;
      let den: f64 = 0;
      for (let c = 0; c < k; c++) {
        const pi = load<f64>(piBuf + (<usize>c << 3));
        const q = pi / (pi + damping);
        num += q * (pi * rhoSum - load<f64>(rhoBuf + (<usize>c << 3)));
        den += q;
      }
      smC = num / (damping * den);
    }
    for (let c = 0; c < k; c++) {
      const rho = load<f64>(rhoBuf + (<usize>c << 3));
      const pi = load<f64>(piBuf + (<usize>c << 3));
      let g: f64;
      let w: f64;
      if (full) {
        const ratio = rho / Math.max(pi, piFloor);
        w = ratio;
        if (dampedLogits) {
          g = (pi * rhoSum - rho + pi * smC) / (pi + damping);
          centre += g;
        } else if (fullLogits) {
          g = 1.0 - ratio;
          centre += g;
        } else g = pi * rhoSum - rho;
      } else {
        g = pi * rhoSum - rho;
        w = rho;
      }
      store<f64>(lBuf + (<usize>c << 3), g); // l no longer needed: reuse for g
      // weight tile: -w / n for every d of component c
      let wn = -w * invN;
      if (Math.abs(wn) < <f64>FLUSH_BELOW) wn = 0;
      const wv = <f32>wn;
      const seg = wBuf + (<usize>(c * d) << 2);
      let t = 0;
      if (d >= 4) {
        const sv = f32x4.splat(wv);
        const segVec = d & ~3;
        for (; t < segVec; t += 4) v128.store(seg + (<usize>t << 2), sv);
      }
      for (; t < d; t++) store<f32>(seg + (<usize>t << 2), wv);
    }
    if (fullLogits) centre /= <f64>k;
    for (let c = 0; c < k; c++) {
      const g = load<f64>(lBuf + (<usize>c << 3));
      store<f32>(rowGA + (<usize>c << 2), sflush(<f32>((fullLogits ? g - centre : g) * invN)));
    }

    // sweep 2
    j = 0;
    const one = f32x4.splat(1.0);
    if (mode == 0) {
      // nll / em: gMu = -w diff / sigma^2, gS = -w (z^2 - 1)
      for (; j < vecEnd; j += 4) {
        const o = <usize>j << 2;
        const w = v128.load(wBuf + o);
        const diff = v128.load(diffBuf + o);
        const inv = v128.load(invBuf + o);
        const z = f32x4.mul(diff, inv);
        v128.store(rowGMu + o, zeroWhereNoWeight(f32x4.mul(f32x4.mul(w, z), inv), w));
        v128.store(rowGS + o, zeroWhereNoWeight(f32x4.mul(w, f32x4.sub(f32x4.mul(z, z), one)), w));
      }
      for (; j < kd; j++) {
        const o = <usize>j << 2;
        const w = load<f32>(wBuf + o);
        const inv = load<f32>(invBuf + o);
        const z = load<f32>(diffBuf + o) * inv;
        store<f32>(rowGMu + o, szero(w * z * inv, w));
        store<f32>(rowGS + o, szero(w * (z * z - <f32>1.0), w));
      }
    } else if (mode == 1) {
      // natural, log-sigma coordinates: gMu = -w diff, gS = -w (z^2 - 1) / 2
      for (; j < vecEnd; j += 4) {
        const o = <usize>j << 2;
        const w = v128.load(wBuf + o);
        const diff = v128.load(diffBuf + o);
        const z = f32x4.mul(diff, v128.load(invBuf + o));
        v128.store(rowGMu + o, zeroWhereNoWeight(f32x4.mul(w, diff), w));
        v128.store(rowGS + o, zeroWhereNoWeight(f32x4.mul(f32x4.mul(w, half), f32x4.sub(f32x4.mul(z, z), one)), w));
      }
      for (; j < kd; j++) {
        const o = <usize>j << 2;
        const w = load<f32>(wBuf + o);
        const diff = load<f32>(diffBuf + o);
        const z = diff * load<f32>(invBuf + o);
        store<f32>(rowGMu + o, szero(w * diff, w));
        store<f32>(rowGS + o, szero(w * <f32>0.5 * (z * z - <f32>1.0), w));
      }
    } else if (mode == 3) {
      // damped and/or partial (core's head.ts): per element in f64, with c = 1 (ngem) or pi' (ngem-full)
      //   mu:    preconditioned -rho diff / (c + lambda sigma^2), else -rho diff / sigma^2
      //   scale: log-sigma -rho (z^2 - 1) / (2c + lambda), sigma -rho (diff^2 - sigma^2) / (2c + lambda sigma^2),
      //          not preconditioned -rho (z^2 - 1)
      const preMu = (pre & 2) != 0;
      const preScale = (pre & 4) != 0;
      for (let c = 0; c < k; c++) {
        const rho = load<f64>(rhoBuf + (<usize>c << 3));
        const cw: f64 = full ? Math.max(load<f64>(piBuf + (<usize>c << 3)), piFloor) : 1.0;
        const wr: f64 = rho * invN;
        for (let t = 0; t < d; t++) {
          const o = <usize>(c * d + t) << 2;
          if (load<f32>(wBuf + o) == 0) {
            store<f32>(rowGMu + o, 0);
            store<f32>(rowGS + o, 0);
            continue;
          }
          const diff = <f64>load<f32>(diffBuf + o);
          const inv = <f64>load<f32>(invBuf + o);
          const z = diff * inv;
          const sigma2: f64 = 1.0 / (inv * inv);
          const gm: f64 = preMu ? (-wr * diff) / (cw + damping * sigma2) : -wr * z * inv;
          let gs: f64;
          if (!preScale) gs = -wr * (z * z - 1.0);
          else if (sigmaCoords != 0) gs = (-wr * (diff * diff - sigma2)) / (2.0 * cw + damping * sigma2);
          else gs = (-wr * (z * z - 1.0)) / (2.0 * cw + damping);
          store<f32>(rowGMu + o, sflush(<f32>gm));
          store<f32>(rowGS + o, sflush(<f32>gs));
        }
      }
    } else {
      // natural, sigma coordinates: gMu = -w diff, gS = -w (diff^2 - sigma^2) / 2
      for (; j < vecEnd; j += 4) {
        const o = <usize>j << 2;
        const w = v128.load(wBuf + o);
        const diff = v128.load(diffBuf + o);
        const inv = v128.load(invBuf + o);
        const sigma = f32x4.div(one, inv);
        v128.store(rowGMu + o, zeroWhereNoWeight(f32x4.mul(w, diff), w));
        v128.store(rowGS + o, zeroWhereNoWeight(f32x4.mul(f32x4.mul(w, half), f32x4.sub(f32x4.mul(diff, diff), f32x4.mul(sigma, sigma))), w));
      }
      for (; j < kd; j++) {
        const o = <usize>j << 2;
        const w = load<f32>(wBuf + o);
        const diff = load<f32>(diffBuf + o);
        const sigma = <f32>1.0 / load<f32>(invBuf + o);
        store<f32>(rowGMu + o, szero(w * diff, w));
        store<f32>(rowGS + o, szero(w * <f32>0.5 * (diff * diff - sigma * sigma), w));
      }
    }
  }
  if (pRes != 0) {
    store<f64>(pRes, lossSum * invN);
    store<f64>(pRes + 8, negQSum * invN);
  }
  return badRow;
}
