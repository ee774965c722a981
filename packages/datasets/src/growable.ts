/** An append-only Float64Array that doubles its capacity as needed. */
export class GrowableFloat64 {
  private buf: Float64Array;
  /** Number of values written. */
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Float64Array(Math.max(16, initialCapacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) this.grow(this.length + 1);
    this.buf[this.length++] = v;
  }

  /** Makes room for `extra` more values. */
  reserve(extra: number): void {
    if (this.length + extra > this.buf.length) this.grow(this.length + extra);
  }

  private grow(min: number): void {
    let cap = this.buf.length * 2;
    while (cap < min) cap *= 2;
    const next = new Float64Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** The values written, as an exactly-sized array (copies only when capacity exceeds length). */
  toArray(): Float64Array {
    if (this.buf.length === this.length) return this.buf;
    return this.buf.slice(0, this.length);
  }
}
