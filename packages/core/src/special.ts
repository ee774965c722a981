/**
 * Special functions in float64.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * Error function, relative error ~1e-15 over the real line.
 * |x| < 2.5: the positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!!
 * (no cancellation); |x| >= 2.5: erf = 1 - erfc with erfc from its continued
 * fraction (modified Lentz). erf(+-Inf) = +-1, erf(NaN) = NaN.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  }
  const r = 1 - erfcLarge(ax);
  return x < 0 ? -r : r;
}

/** Complementary error function 1 - erf(x), accurate in the upper tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2.5) return erfcLarge(x);
  return 1 - erf(x);
}

/** erfc(x) for x >= 2.5 via the continued fraction erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))). */
function erfcLarge(x: number): number {
  if (x === Infinity) return 0;
  const tiny = 1e-300;
  let f = x;
  let C = x;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    D = x + a * D;
    if (D === 0) D = tiny;
    C = x + a / C;
    if (C === 0) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

/** A column whose std is at most this fraction of its largest |value| is constant (standardisation). */
export const CONSTANT_COLUMN_RTOL = 1e-12;

/** Smallest positive normal float64; a value below it has lost precision (subnormal). */
export const MIN_NORMAL_FLOAT64 = 2.2250738585072014e-308;

/**
 * x * 2^k, exact unless the result is subnormal or overflows (k may exceed
 * the range of a single power of two). Edge cases: ldexp(0, k) = 0,
 * ldexp(+-Infinity, k) = +-Infinity, ldexp(NaN, k) = NaN.
 */
export function ldexp(x: number, k: number): number {
  while (k > 1000) {
    x *= 2 ** 1000;
    k -= 1000;
  }
  while (k < -1000) {
    x *= 2 ** -1000;
    k += 1000;
  }
  return x * 2 ** k;
}

/**
 * The binary exponent e with max / 2^e in [0.5, 1), for a finite max > 0
 * (subnormals included): scaling a column by 2^-e brings it near 1 exactly.
 */
export function exponentOf(max: number): number {
  let e = Math.floor(Math.log2(max)) + 1;
  // log2 can be off by one near powers of two and for subnormals
  while (ldexp(max, -e) >= 1) e++;
  while (ldexp(max, -e) < 0.5) e--;
  return e;
}

/** (v - mean) / std without overflow in v - mean (halved when the difference would exceed the float64 range): the one z-score of datasets' and the streaming trainer's standardisation. */
export function zScore(v: number, mean: number, std: number): number {
  const diff = v - mean;
  if (Number.isFinite(diff)) return diff / std;
  return ((v * 0.5 - mean * 0.5) / std) * 2;
}
