/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna) seeded through
 * splitmix32. 32-bit integer arithmetic only, so it is fast in every JS engine
 * and gives the same stream everywhere. The whole state is four uint32 words:
 * {@link Rng.getState} / {@link Rng.setState} make a run resumable bit for bit.
 */
export type RngState = readonly [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** @param seed any finite number; its integer part (mod 2^32) seeds the stream. */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed: expected a finite number, got ${seed}`);
    const sm = splitmix32(Math.trunc(seed) >>> 0);
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  setState(state: RngState): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError("rng state: expected four uint32 words");
    }
    if (state.every((v) => v === 0)) throw new RangeError("rng state: all-zero state is invalid for xoshiro128**");
    [this.s0, this.s1, this.s2, this.s3] = state;
  }

  /** Next uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in (0, 1): never exactly 0, safe for log. */
  uniformOpen(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return u;
  }

  /** Standard normal by Box-Muller (no cached spare, so the state alone defines the stream). */
  normal(): number {
    const u1 = this.uniformOpen();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer uniform in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`int(n): expected an integer n >= 1, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Index drawn from unnormalised log-weights (Gumbel-free: inverse CDF on softmax). */
  categoricalFromLogits(logits: ArrayLike<number>, offset: number, k: number): number {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[offset + j] as number);
    let total = 0;
    for (let j = 0; j < k; j++) total += Math.exp((logits[offset + j] as number) - m);
    let u = this.uniform() * total;
    for (let j = 0; j < k; j++) {
      u -= Math.exp((logits[offset + j] as number) - m);
      if (u < 0) return j;
    }
    return k - 1;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
