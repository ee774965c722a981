/**
 * Out-of-core training: the loop of train.ts fed from a {@link StreamSource}
 * (an async iterable of row batches that can be reopened at any row) instead
 * of arrays in memory. Memory holds one source batch, the shuffle buffer and
 * one minibatch, whatever the number of rows.
 *
 * - Statistics: one pass over the source before training; per-column mean and
 *   std merged chunk by chunk (Chan et al.'s pairwise update over chunk-local,
 *   power-of-two scaled two-pass statistics, merged as a binary tree), with
 *   the conventions of `@ngem/datasets`' `computeNormalization` (population
 *   std, constant columns relative to their magnitude, all-zero column std 1).
 * - Held-out split: row r (0-based index in the source) is a validation row
 *   iff hash(r, seed) / 2^32 < validationSplit. Stable (a row's side never
 *   depends on the other rows or on the file length) and disjoint; the
 *   validation count is Binomial(n, split), not round(n * split).
 * - Shuffle buffer of `shuffleBuffer` rows: each minibatch row is drawn
 *   uniformly from the buffer (the trainer's seeded RNG) and replaced by the
 *   next training row of the source (an approximate shuffle, as tf.data's);
 *   at the end of the source the buffer drains. `shuffle: false` reads rows
 *   in file order.
 * - Resume is exact: the checkpoint stores the read position, the source rows
 *   in the buffer slots (row indices, slot order) and the RNG; resume reopens
 *   the source at the oldest buffered row, refills the slots from the file and
 *   continues from the read position (see {@link StreamPosition}).
 */
import { CONSTANT_COLUMN_RTOL, exponentOf, getBackend, initWeights, ldexp, MIN_NORMAL_FLOAT64, NgemError, zScore, type Batch, type Rng } from "@ngem/core";
import { load } from "./checkpoint.js";
import { ConfigError, specFor, validateConfig, type ResolvedConfig } from "./config.js";
import { DataMismatchError, deriveSeed } from "./data.js";
import { defaultIO } from "./io.js";
import { initialState, makeSoap, TrainedModel, type StreamPosition, type TrainerState } from "./model-handle.js";
import { logLikelihoods } from "./predict.js";
import { type LoopFeed, runLoop, type TrainOptions, type TrainResult } from "./loop.js";
import { trimMetrics, withResumeOptions, type ResumeOptions } from "./train.js";
import type { Normalization, TrainConfig, TrainData } from "./types.js";

/** Consecutive rows of a source: rows `start .. start + n - 1`, x [n, xDim] and y [n, yDim] row-major. */
export interface RowBatch {
  /** 0-based index (in the source) of the first row. */
  readonly start: number;
  readonly n: number;
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** 1-based file line of each row, when known (for error messages). */
  readonly lines?: ArrayLike<number>;
}

/**
 * Rows that can be read again from any row: `open(from)` yields the rows
 * `from, from + 1, ...` to the end, in the same order and with the same values
 * every time (a file, a directory of shards). `@ngem/datasets` builds them
 * from CSV, JSON lines and NPY shards.
 */
export interface StreamSource {
  readonly name?: string;
  readonly xDim: number;
  readonly yDim: number;
  open(fromRow: number): AsyncIterable<RowBatch>;
}

/** Options of a streamed run (fixed for the run; stored in its checkpoints). */
export interface StreamOptions {
  /** Shuffle-buffer rows (default {@link DEFAULT_SHUFFLE_BUFFER}; ignored with `shuffle: false`). */
  readonly shuffleBuffer?: number;
  /** Standardise x and y with the statistics of the source (default true). */
  readonly standardize?: boolean;
}

export const DEFAULT_SHUFFLE_BUFFER = 16384;

/** What the statistics pass found. */
export interface StreamInfo {
  readonly rows: number;
  readonly nVal: number;
  readonly nTrain: number;
  /** Column statistics of all rows (validation rows included, as the CLI's in-memory path). */
  readonly stats: { readonly x?: Normalization; readonly y: Normalization };
  /** FNV-1a of the row counts and the statistics: what `resume` checks. */
  readonly fingerprint: string;
}

/** A streamed value that cannot be used (non-finite, or a source that broke its contract). */
export class StreamDataError extends NgemError {
  override readonly name = "StreamDataError";
}

/** True for a {@link StreamSource} (anything with `open`), false for in-memory {@link TrainData}. */
export function isStreamSource(v: unknown): v is StreamSource {
  return typeof v === "object" && v !== null && typeof (v as StreamSource).open === "function";
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The 32-bit hash of a row index under a split key (rows up to 2^53). */
function rowHash(row: number, key: number): number {
  const lo = row >>> 0;
  const hi = Math.floor(row / 4294967296) >>> 0;
  return fmix32((fmix32((key ^ lo) >>> 0) + Math.imul(hi ^ 0x9e3779b9, 0x27d4eb2f)) >>> 0);
}

/**
 * Whether source row `row` is a validation row of a run seeded `seed` holding
 * out `fraction`: hash(row, seed) / 2^32 < fraction. Depends on nothing else.
 */
export function isHeldOut(row: number, seed: number, fraction: number): boolean {
  if (fraction <= 0) return false;
  return rowHash(row, deriveSeed(seed, 4)) / 4294967296 < fraction;
}

// ---------------------------------------------------------------------------
// Statistics

const MIN_NORMAL = MIN_NORMAL_FLOAT64;

/** Partial statistics of one column: n rows, mean and M2 in units of 2^e, max |v|. */
interface Part {
  n: number;
  e: number;
  mean: number;
  m2: number;
  max: number;
}

function merge(a: Part, b: Part): Part {
  if (a.n === 0) return b;
  if (b.n === 0) return a;
  // An all-zero part has mean 0 and M2 0 in any units.
  const e = a.max === 0 ? b.e : b.max === 0 ? a.e : Math.max(a.e, b.e);
  const ma = a.max === 0 ? 0 : ldexp(a.mean, a.e - e);
  const mb = b.max === 0 ? 0 : ldexp(b.mean, b.e - e);
  const sa = a.max === 0 ? 0 : ldexp(a.m2, 2 * (a.e - e));
  const sb = b.max === 0 ? 0 : ldexp(b.m2, 2 * (b.e - e));
  const n = a.n + b.n;
  const delta = mb - ma;
  return { n, e, mean: ma + delta * (b.n / n), m2: sa + sb + delta * delta * (a.n / n) * b.n, max: Math.max(a.max, b.max) };
}

/**
 * Streaming per-column mean and population std, scale-invariant like
 * `@ngem/datasets`' `computeNormalization` and with its conventions. Each
 * column is shifted by its first value K (w = v/2 - K/2: no overflow, exact
 * for values near K), so a large offset (1e8 + N(0, 1)) costs no precision;
 * each pushed chunk of w is summarised by a compensated two-pass computation
 * at a power-of-two scale that puts its largest |w| in [0.5, 1); chunks are
 * merged by Chan et al.'s pairwise update as a binary tree (error grows with
 * log(chunks)). mean = K + 2 mean(w), std = 2 std(w).
 */
export class ColumnStats {
  private readonly stacks: { level: number; part: Part }[][];
  private readonly shift: Float64Array;
  private readonly vmax: Float64Array;
  private started = false;
  constructor(readonly dim: number) {
    this.stacks = Array.from({ length: dim }, () => []);
    this.shift = new Float64Array(dim);
    this.vmax = new Float64Array(dim);
  }

  /** Adds rows [0, n) of `data` [n, dim] (row-major, `stride` values per row starting at `offset`). */
  push(data: ArrayLike<number>, n: number, describeRow: (i: number) => string, stride = this.dim, offset = 0): void {
    if (n === 0) return;
    for (let d = 0; d < this.dim; d++) {
      for (let i = 0; i < n; i++) {
        const v = data[i * stride + offset + d] as number;
        if (!Number.isFinite(v)) throw new StreamDataError(`${describeRow(i)}, column ${d}: ${v} is not a finite number`);
      }
    }
    if (!this.started) {
      for (let d = 0; d < this.dim; d++) this.shift[d] = (data[offset + d] as number) * 0.5;
      this.started = true;
    }
    for (let d = 0; d < this.dim; d++) {
      const k = this.shift[d] as number;
      let max = 0;
      let vmax = this.vmax[d] as number;
      for (let i = 0; i < n; i++) {
        const v = data[i * stride + offset + d] as number;
        const a = Math.abs(v * 0.5 - k);
        if (a > max) max = a;
        if (Math.abs(v) > vmax) vmax = Math.abs(v);
      }
      this.vmax[d] = vmax;
      let part: Part;
      if (max === 0) part = { n, e: 0, mean: 0, m2: 0, max: 0 };
      else {
        const e = exponentOf(max);
        const sc = ldexp(1, -e);
        const direct = sc > 0 && Number.isFinite(sc);
        let sum = 0;
        let comp = 0;
        for (let i = 0; i < n; i++) {
          const w = (data[i * stride + offset + d] as number) * 0.5 - k;
          const u = direct ? w * sc : ldexp(w, -e);
          const t = sum + u;
          comp += Math.abs(sum) >= Math.abs(u) ? sum - t + u : u - t + sum;
          sum = t;
        }
        const mu = (sum + comp) / n;
        let ss = 0;
        let sd = 0;
        for (let i = 0; i < n; i++) {
          const w = (data[i * stride + offset + d] as number) * 0.5 - k;
          const c = (direct ? w * sc : ldexp(w, -e)) - mu;
          ss += c * c;
          sd += c;
        }
        part = { n, e, mean: mu, m2: Math.max(0, ss - (sd * sd) / n), max };
      }
      const stack = this.stacks[d] as { level: number; part: Part }[];
      let level = 0;
      while (stack.length && (stack[stack.length - 1] as { level: number }).level === level) {
        part = merge((stack.pop() as { part: Part }).part, part);
        level++;
      }
      stack.push({ level, part });
    }
  }

  /** Mean and std per column (throws {@link StreamDataError} for a spread below the normal float64 range). */
  finish(names?: readonly string[]): Normalization {
    const mean = new Float64Array(this.dim);
    const std = new Float64Array(this.dim).fill(1);
    for (let d = 0; d < this.dim; d++) {
      const stack = this.stacks[d] as { part: Part }[];
      let p: Part = { n: 0, e: 0, mean: 0, m2: 0, max: 0 };
      for (let i = stack.length - 1; i >= 0; i--) p = merge((stack[i] as { part: Part }).part, p);
      const vmax = this.vmax[d] as number;
      if (p.n === 0 || vmax === 0) continue; // no rows, or all zeros: mean 0, std 1
      const k = this.shift[d] as number;
      mean[d] = (k + (p.max === 0 ? 0 : ldexp(p.mean, p.e))) * 2;
      const s = p.max === 0 ? 0 : 2 * ldexp(Math.sqrt(Math.max(0, p.m2 / p.n)), p.e);
      if (s <= CONSTANT_COLUMN_RTOL * vmax) {
        std[d] = vmax; // constant relative to its magnitude
        continue;
      }
      if (!(s >= MIN_NORMAL)) {
        throw new StreamDataError(
          `column ${JSON.stringify(names?.[d] ?? `c${d}`)} cannot be standardised in float64: its standard deviation ${s} is below the normal range (max |value| ${vmax})`,
        );
      }
      std[d] = s;
    }
    return { mean, std };
  }
}

function where(source: StreamSource, b: RowBatch, i: number): string {
  const line = b.lines?.[i];
  return `${source.name ?? "stream"} row ${b.start + i + 1}${line ? ` (line ${line})` : ""}`;
}

/** A read position in a source: the current batch and the index in it of the next row. */
class Cursor {
  private readonly it: AsyncIterator<RowBatch>;
  b: RowBatch | undefined;
  i = 0;
  private next: number;
  constructor(
    private readonly source: StreamSource,
    from: number,
  ) {
    this.it = source.open(from)[Symbol.asyncIterator]();
    this.next = from;
  }
  /** Loads the next batch; false at the end. */
  async load(): Promise<boolean> {
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.b = undefined;
        return false;
      }
      const b = r.value;
      if (b.n === 0) continue;
      if (b.start > this.next || b.start + b.n <= this.next) {
        throw new StreamDataError(
          `${this.source.name ?? "stream"}: the source yielded rows ${b.start}..${b.start + b.n - 1} where row ${this.next} was expected`,
        );
      }
      if (b.x.length !== b.n * this.source.xDim || b.y.length !== b.n * this.source.yDim) {
        throw new StreamDataError(
          `${this.source.name ?? "stream"}: batch at row ${b.start} has ${b.x.length} x and ${b.y.length} y values for ${b.n} rows of ${this.source.xDim} + ${this.source.yDim} columns`,
        );
      }
      this.b = b;
      this.i = this.next - b.start;
      this.next = b.start + b.n;
      return true;
    }
  }
  close(): void {
    void this.it.return?.();
  }
}

/**
 * The statistics pass: row count, validation count (hash split with `seed`
 * and `validationSplit`), per-column statistics and the fingerprint.
 */
export async function streamStatistics(source: StreamSource, seed: number, validationSplit: number): Promise<StreamInfo> {
  const sx = new ColumnStats(source.xDim);
  const sy = new ColumnStats(source.yDim);
  let rows = 0;
  let nVal = 0;
  const key = deriveSeed(seed, 4);
  const c = new Cursor(source, 0);
  try {
    while (await c.load()) {
      const b = c.b as RowBatch;
      const describe = (i: number) => where(source, b, i);
      sx.push(b.x, b.n, describe);
      sy.push(b.y, b.n, describe);
      if (validationSplit > 0) for (let i = 0; i < b.n; i++) if (rowHash(b.start + i, key) / 4294967296 < validationSplit) nVal++;
      rows += b.n;
    }
  } finally {
    c.close();
  }
  const stats = { ...(source.xDim > 0 ? { x: sx.finish() } : {}), y: sy.finish() };
  let h = 0x811c9dc5;
  const mix = (a: Float64Array): void => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193) >>> 0;
  };
  mix(Float64Array.of(rows, source.xDim, source.yDim, nVal));
  if (stats.x) {
    mix(stats.x.mean);
    mix(stats.x.std);
  }
  mix(stats.y.mean);
  mix(stats.y.std);
  return { rows, nVal, nTrain: rows - nVal, stats, fingerprint: `stream-${h.toString(16).padStart(8, "0")}` };
}

// ---------------------------------------------------------------------------
// The feed

/** Rows of a stream for runLoop: the shuffle buffer, and streamed evaluation. */
class StreamFeed implements LoopFeed {
  readonly xDim: number;
  readonly yDim: number;
  readonly hasVal: boolean;
  private readonly key: number;
  private readonly bx: Float64Array;
  private readonly by: Float64Array;
  private cur: Cursor | undefined;
  private exhausted = false;
  private active = false;

  constructor(
    private readonly source: StreamSource,
    private readonly cfg: ResolvedConfig,
    readonly nTrain: number,
    private readonly norm: { readonly x?: Normalization; readonly y?: Normalization } | undefined,
    private readonly pos: StreamPosition,
  ) {
    this.xDim = source.xDim;
    this.yDim = source.yDim;
    this.hasVal = cfg.validationSplit > 0;
    this.key = deriveSeed(cfg.seed, 4);
    this.bx = new Float64Array(pos.capacity * this.xDim);
    this.by = new Float64Array(pos.capacity * this.yDim);
  }

  private held(row: number): boolean {
    return this.hasVal && rowHash(row, this.key) / 4294967296 < this.cfg.validationSplit;
  }

  /** Copies row i of b, standardised, into x/y at row `at`. */
  private put(b: RowBatch, i: number, x: Float64Array, y: Float64Array, at: number): void {
    const { xDim, yDim, norm } = this;
    for (let d = 0; d < xDim; d++) {
      const v = b.x[i * xDim + d] as number;
      x[at * xDim + d] = norm?.x ? zScore(v, norm.x.mean[d] as number, norm.x.std[d] as number) : v;
    }
    for (let d = 0; d < yDim; d++) {
      const v = b.y[i * yDim + d] as number;
      y[at * yDim + d] = norm?.y ? zScore(v, norm.y.mean[d] as number, norm.y.std[d] as number) : v;
    }
    for (let d = 0; d < xDim; d++)
      if (!Number.isFinite(x[at * xDim + d])) throw new StreamDataError(`${where(this.source, b, i)}: x column ${d} is not finite after standardisation`);
    for (let d = 0; d < yDim; d++)
      if (!Number.isFinite(y[at * yDim + d])) throw new StreamDataError(`${where(this.source, b, i)}: y column ${d} is not finite after standardisation`);
  }

  /** Reads the next training row into buffer slot `slot`; false at the end of the source. */
  private async readInto(slot: number): Promise<boolean> {
    const c = this.cur as Cursor;
    for (;;) {
      if (this.exhausted) return false;
      if (c.b === undefined || c.i >= c.b.n) {
        if (!(await c.load())) {
          this.exhausted = true;
          return false;
        }
      }
      const b = c.b as RowBatch;
      while (c.i < b.n) {
        const i = c.i++;
        const r = b.start + i;
        if (this.held(r)) continue;
        this.put(b, i, this.bx, this.by, slot);
        this.pos.rows[slot] = r;
        this.pos.readPos = r + 1;
        return true;
      }
    }
  }

  private async startEpoch(): Promise<void> {
    this.cur?.close();
    this.cur = new Cursor(this.source, 0);
    this.exhausted = false;
    this.pos.readPos = 0;
    this.pos.fill = 0;
    while (this.pos.fill < this.pos.capacity && (await this.readInto(this.pos.fill))) this.pos.fill++;
  }

  /** Refills the buffer slots from the file: rows [oldest buffered row, readPos). */
  private async restore(): Promise<void> {
    const { pos } = this;
    const slotOf = new Map<number, number>();
    let from = pos.readPos;
    for (let s = 0; s < pos.fill; s++) {
      const r = pos.rows[s] as number;
      slotOf.set(r, s);
      if (r < from) from = r;
    }
    const c = new Cursor(this.source, from);
    this.cur = c;
    this.exhausted = false;
    let found = 0;
    let r = from;
    while (r < pos.readPos) {
      if ((c.b === undefined || c.i >= c.b.n) && !(await c.load())) break;
      const b = c.b as RowBatch;
      for (; c.i < b.n && r < pos.readPos; c.i++, r++) {
        const s = slotOf.get(b.start + c.i);
        if (s !== undefined) {
          this.put(b, c.i, this.bx, this.by, s);
          found++;
        }
      }
    }
    if (r !== pos.readPos || found !== pos.fill) {
      throw new DataMismatchError(
        `${this.source.name ?? "stream"}: cannot restore the shuffle buffer (${found} of ${pos.fill} buffered rows found before row ${pos.readPos}); the source changed since the checkpoint`,
      );
    }
  }

  async nextBatch(st: TrainerState, rng: Rng, B: number): Promise<Batch> {
    if (st.batchInEpoch === 0) await this.startEpoch();
    else if (!this.active) await this.restore();
    this.active = true;
    const { pos, xDim, yDim } = this;
    const n = Math.min(B, this.nTrain - st.batchInEpoch * B);
    const x = new Float64Array(n * xDim);
    const y = new Float64Array(n * yDim);
    for (let k = 0; k < n; k++) {
      if (pos.fill === 0)
        throw new DataMismatchError(
          `${this.source.name ?? "stream"}: the source ended early (epoch ${st.epoch + 1} has ${this.nTrain} training rows); it changed since the statistics pass`,
        );
      const j = this.cfg.shuffle ? rng.int(pos.fill) : 0;
      x.set(this.bx.subarray(j * xDim, (j + 1) * xDim), k * xDim);
      y.set(this.by.subarray(j * yDim, (j + 1) * yDim), k * yDim);
      if (!(await this.readInto(j))) {
        const last = pos.fill - 1;
        if (j !== last) {
          this.bx.copyWithin(j * xDim, last * xDim, (last + 1) * xDim);
          this.by.copyWithin(j * yDim, last * yDim, (last + 1) * yDim);
          pos.rows[j] = pos.rows[last] as number;
        }
        pos.fill--;
      }
    }
    if (st.batchInEpoch * B + n === this.nTrain && pos.fill !== 0) {
      // Every training row of the epoch was used, yet rows are left: the source changed since the statistics pass.
      throw new DataMismatchError(
        `${this.source.name ?? "stream"}: the source has more training rows than the ${this.nTrain} of the statistics pass; it changed`,
      );
    }
    return xDim > 0 ? { n, x, y } : { n, y };
  }

  /** Mean NLL over the rows on one side of the split, streamed in chunks. */
  private async nll(model: TrainedModel, heldOut: boolean): Promise<number> {
    const chunk = 4096;
    const x = new Float64Array(chunk * this.xDim);
    const y = new Float64Array(chunk * this.yDim);
    let k = 0;
    let total = 0;
    let count = 0;
    const flush = async (): Promise<void> => {
      if (k === 0) return;
      const part: TrainData = { n: k, xDim: this.xDim, yDim: this.yDim, x: x.subarray(0, k * this.xDim), y: y.subarray(0, k * this.yDim) };
      const lp = await logLikelihoods(model, part);
      for (let i = 0; i < k; i++) total -= lp[i] as number;
      count += k;
      k = 0;
    };
    const c = new Cursor(this.source, 0);
    try {
      while (await c.load()) {
        const b = c.b as RowBatch;
        for (let i = 0; i < b.n; i++) {
          if (this.held(b.start + i) !== heldOut) continue;
          this.put(b, i, x, y, k++);
          if (k === chunk) await flush();
        }
      }
      await flush();
    } finally {
      c.close();
    }
    return total / count;
  }

  valNll(model: TrainedModel): Promise<number> {
    return this.nll(model, true);
  }

  trainNll(model: TrainedModel): Promise<number> {
    return this.nll(model, false);
  }
}

// ---------------------------------------------------------------------------
// Entry points

/** Options of {@link trainStream}. */
export interface StreamTrainOptions extends TrainOptions, StreamOptions {
  /** Called after the statistics pass, before the first step. */
  onStatistics?: (info: StreamInfo) => void | Promise<void>;
  /** The result of `streamStatistics(source, config.seed, config.validationSplit)` when the caller already made that pass (it is then not repeated). */
  statistics?: StreamInfo;
}

function dims(source: StreamSource, rows: number): TrainData {
  return { n: rows, xDim: source.xDim, yDim: source.yDim, x: new Float64Array(0), y: new Float64Array(0) };
}

function checkSource(source: StreamSource): void {
  if (!Number.isInteger(source.xDim) || source.xDim < 0) throw new ConfigError("data.xDim", `expected an integer >= 0, got ${String(source.xDim)}`);
  if (!Number.isInteger(source.yDim) || source.yDim < 1) throw new ConfigError("data.yDim", `expected an integer >= 1, got ${String(source.yDim)}`);
}

function checkSplit(cfg: ResolvedConfig, info: StreamInfo): void {
  if (info.rows < 1) throw new ConfigError("data", "the stream has no rows");
  if (cfg.validationSplit > 0 && (info.nVal < 1 || info.nTrain < 1)) {
    throw new ConfigError(
      "validationSplit",
      `${cfg.validationSplit} of ${info.rows} streamed rows (hash split) gives ${info.nVal} validation and ${info.nTrain} training rows; both must be >= 1`,
    );
  }
}

/**
 * Trains from scratch on a {@link StreamSource}: a statistics pass, then
 * epochs that each re-read the source through the shuffle buffer. Same
 * config, loop, metrics and checkpoints as {@link train}; the checkpoint also
 * stores the stream position (see {@link StreamPosition}).
 */
export async function trainStream(config: TrainConfig, source: StreamSource, opts: StreamTrainOptions = {}): Promise<TrainResult> {
  checkSource(source);
  const early = validateConfig(config);
  const capacity = early.shuffle ? (opts.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER) : 1;
  if (!Number.isInteger(capacity) || capacity < 1) throw new ConfigError("shuffleBuffer", `expected an integer >= 1, got ${String(opts.shuffleBuffer)}`);
  const standardize = opts.standardize ?? true;
  const info = opts.statistics ?? (await streamStatistics(source, early.seed, early.validationSplit));
  checkSplit(early, info);
  const resolved = validateConfig(config, dims(source, info.rows));
  if (opts.onStatistics) await opts.onStatistics(info);
  const spec = specFor(resolved, source);
  const backend = await getBackend(resolved.backend);
  const backendModel = await backend.createModel(spec, initWeights(spec, resolved.seed));
  const stream: StreamPosition = { capacity, standardize, readPos: 0, fill: 0, rows: new Float64Array(capacity) };
  const state: TrainerState = { ...initialState(resolved.seed, info.fingerprint), stream };
  const norm = standardize ? info.stats : undefined;
  const model = new TrainedModel(resolved, spec, resolved.backend, backendModel, state, norm, makeSoap(resolved, spec));
  if (resolved.metricsFile) await (opts.io ?? (await defaultIO())).writeText(resolved.metricsFile, "");
  return runLoop(model, new StreamFeed(source, resolved, info.nTrain, norm, stream), opts);
}

/**
 * Continues a streamed run (checkpoint path or model) on the same source,
 * exactly where it stopped: the statistics pass is repeated and must give
 * the checkpoint's fingerprint, then the shuffle buffer is refilled from the
 * source and training goes on from the stored read position.
 */
export async function resumeStream(
  from: TrainedModel | string,
  source: StreamSource,
  opts: ResumeOptions & { onStatistics?: StreamTrainOptions["onStatistics"] } = {},
): Promise<TrainResult> {
  checkSource(source);
  let model = typeof from === "string" ? await load(from, { ...(opts.io ? { io: opts.io } : {}), ...(opts.backend ? { backend: opts.backend } : {}) }) : from;
  const pos = model.state.stream;
  if (!pos) throw new ConfigError("data", "this checkpoint was not trained on a stream: resume it with resume(path, data)");
  const info = await streamStatistics(source, model.config.seed, model.config.validationSplit);
  if (info.fingerprint !== model.state.dataFingerprint) {
    throw new DataMismatchError(
      `data: the stream's fingerprint ${info.fingerprint} (${info.rows} rows) differs from the checkpoint's ${model.state.dataFingerprint}; resume needs the data the run was trained on`,
    );
  }
  if (opts.onStatistics) await opts.onStatistics(info);
  if (opts.checkpoint === undefined && typeof from === "string") opts = { ...opts, checkpoint: { path: from } };
  model = withResumeOptions(model, opts, dims(source, info.rows));
  if (model.config.metricsFile) await trimMetrics(opts.io ?? (await defaultIO()), model.config.metricsFile, model.state.step);
  const norm = pos.standardize ? model.normalization : undefined;
  return runLoop(model, new StreamFeed(source, model.config, info.nTrain, norm, pos), opts);
}

/** A {@link StreamSource} over arrays in memory (tests; data already loaded), `batchRows` rows per batch. */
export function arrayStreamSource(data: TrainData, batchRows = 1024): StreamSource {
  return {
    ...(data.name === undefined ? {} : { name: data.name }),
    xDim: data.xDim,
    yDim: data.yDim,
    async *open(fromRow: number): AsyncGenerator<RowBatch> {
      for (let s = fromRow; s < data.n; s += batchRows) {
        const e = Math.min(data.n, s + batchRows);
        yield { start: s, n: e - s, x: data.x.slice(s * data.xDim, e * data.xDim), y: data.y.slice(s * data.yDim, e * data.yDim) };
      }
    },
  };
}
