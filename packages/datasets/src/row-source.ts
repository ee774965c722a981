/**
 * Row sources for out-of-core training: data read in batches of rows, again
 * and again, from any row (`open(fromRow)`), never held whole. Structurally
 * the `StreamSource` that `@ngem/trainer`'s `train` / `trainStream` accept.
 * Browser-safe: a source is built on a function that opens the text afresh
 * (`() => file.stream()`, `() => fetch(url).then(...)`); the file sources are
 * in `@ngem/datasets/node` (`csvFileSource`, `jsonlFileSource`, `npyShardSource`).
 */
import { resolveColumns } from "./columns.js";
import { textChunks, type CsvOptions, type TextChunks } from "./csv.js";
import { CsvTokenizer, type CsvRecord } from "./csv-tokenizer.js";
import { DataError } from "./errors.js";
import { JsonlBuilder, type JsonlOptions } from "./jsonl.js";
import { fastNumber, isNumberText, parseStrictNumber } from "./numbers.js";
import type { Dataset } from "./types.js";

/** Consecutive rows `start .. start + n - 1` of a source; x [n, xDim], y [n, yDim] row-major, raw (not standardised). */
export interface RowBatch {
  readonly start: number;
  readonly n: number;
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** 1-based file line of each row (text formats). */
  readonly lines?: Uint32Array;
}

/** Rows that can be read again from any row, in the same order with the same values each time. */
export interface RowSource {
  readonly name: string;
  readonly xDim: number;
  readonly yDim: number;
  readonly xNames: readonly string[];
  readonly yNames: readonly string[];
  /** Rows `fromRow` (0-based, default 0) to the end, in batches of at most `batchRows`. */
  open(fromRow?: number): AsyncIterable<RowBatch>;
}

/** Options of the row sources. */
export interface RowSourceOptions {
  /** Rows per yielded batch (default 4096). */
  readonly batchRows?: number;
}

const DEFAULT_BATCH_ROWS = 4096;

/** Collects rows into batches of a fixed size. */
class BatchMaker {
  private x: Float64Array;
  private y: Float64Array;
  private lines: Uint32Array;
  private k = 0;
  private start: number;
  readonly done: RowBatch[] = [];
  constructor(
    private readonly size: number,
    private readonly xDim: number,
    private readonly yDim: number,
    from: number,
  ) {
    this.start = from;
    this.x = new Float64Array(size * xDim);
    this.y = new Float64Array(size * yDim);
    this.lines = new Uint32Array(size);
  }
  /** Row slot for the next row (its x and y are written at `k`). */
  get slot(): number {
    return this.k;
  }
  get xs(): Float64Array {
    return this.x;
  }
  get ys(): Float64Array {
    return this.y;
  }
  commit(line: number): void {
    this.lines[this.k++] = line;
    if (this.k === this.size) this.flush();
  }
  flush(): void {
    if (this.k === 0) return;
    const n = this.k;
    this.done.push({ start: this.start, n, x: this.x.subarray(0, n * this.xDim), y: this.y.subarray(0, n * this.yDim), lines: this.lines.subarray(0, n) });
    this.start += n;
    this.k = 0;
    this.x = new Float64Array(this.size * this.xDim);
    this.y = new Float64Array(this.size * this.yDim);
    this.lines = new Uint32Array(this.size);
  }
}

/** Columns of a CSV source, resolved from its first record. */
interface CsvLayout {
  readonly names: string[];
  readonly isHeader: boolean;
  readonly ncols: number;
  readonly xi: number[];
  readonly yi: number[];
}

function csvLayout(r: CsvRecord, opts: CsvOptions, file: string): CsvLayout {
  const header = opts.header ?? "auto";
  let isHeader: boolean;
  if (header === "auto") {
    isHeader = false;
    for (let i = 0; i < r.count; i++) {
      const f = r.fields[i] as string;
      const p = parseStrictNumber(f);
      if (!isNumberText(f) && !(!p.ok && p.missing)) {
        isHeader = true;
        break;
      }
    }
  } else isHeader = header;
  const names = isHeader ? Array.from({ length: r.count }, (_, i) => (r.fields[i] as string).trim()) : Array.from({ length: r.count }, (_, i) => `c${i}`);
  const sel = resolveColumns(names, opts.x, opts.y);
  if ("error" in sel) {
    throw new DataError(
      { file, line: isHeader ? r.lines[0] : undefined, field: sel.field || undefined },
      `${sel.error}${isHeader ? "" : " (the file has no header, so columns are named c0, c1, ...)"}`,
    );
  }
  return { names, isHeader, ncols: r.count, xi: sel.x, yi: sel.y };
}

/**
 * A CSV {@link RowSource} on text that `openText()` yields afresh each time
 * (same parsing rules, options and error messages as `parseCsv`; with
 * `missing: "skip-row"` the rows are the kept ones). Reads the first record
 * to resolve the columns.
 */
export async function csvRowSource(openText: () => TextChunks, opts: CsvOptions & RowSourceOptions = {}): Promise<RowSource> {
  const file = opts.file ?? "<stream>";
  let layout: CsvLayout | undefined;
  const t = new CsvTokenizer(
    file,
    (r) => {
      layout ??= csvLayout(r, opts, file);
    },
    opts.delimiter ?? "auto",
  );
  const it = textChunks(openText())[Symbol.asyncIterator]();
  try {
    while (layout === undefined) {
      const c = await it.next();
      if (c.done) {
        t.end();
        break;
      }
      t.push(c.value);
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError({ file }, `cannot read the file: ${(e as Error).message}`);
  } finally {
    await it.return?.(undefined);
  }
  if (layout === undefined) throw new DataError({ file }, "empty file: expected a header or at least one data row");
  const L = layout;
  const size = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const xDim = L.xi.length;
  const yDim = L.yi.length;
  return {
    name: opts.name ?? file,
    xDim,
    yDim,
    xNames: L.xi.map((i) => L.names[i] as string),
    yNames: L.yi.map((i) => L.names[i] as string),
    async *open(fromRow = 0): AsyncGenerator<RowBatch> {
      const out = new BatchMaker(size, xDim, yDim, fromRow);
      let first = true;
      let row = 0;
      const cell = (r: CsvRecord, c: number): number | undefined => {
        const text = r.fields[c] as string;
        const fast = fastNumber(text);
        if (!Number.isNaN(fast)) return fast;
        const p = parseStrictNumber(text);
        if (p.ok) return p.value;
        if (p.missing && opts.missing === "skip-row") return undefined;
        throw new DataError({ file, line: r.lines[c], column: r.columns[c], field: L.names[c] }, p.reason);
      };
      const onRecord = (r: CsvRecord): void => {
        if (first) {
          first = false;
          if (L.isHeader) return;
        }
        if (r.count !== L.ncols) {
          const more = r.count > L.ncols;
          throw new DataError(
            { file, line: more ? r.lines[L.ncols] : r.endLine, column: more ? r.columns[L.ncols] : r.endColumn },
            `ragged row: expected ${L.ncols} fields (as in the ${L.isHeader ? "header" : "first row"}), got ${r.count}`,
          );
        }
        const k = out.slot;
        const xs = out.xs;
        const ys = out.ys;
        for (let s = 0; s < xDim; s++) {
          const v = cell(r, L.xi[s] as number);
          if (v === undefined) return;
          xs[k * xDim + s] = v;
        }
        for (let s = 0; s < yDim; s++) {
          const v = cell(r, L.yi[s] as number);
          if (v === undefined) return;
          ys[k * yDim + s] = v;
        }
        // Rows before fromRow are parsed (a skipped row must not count) but not kept.
        if (row++ >= fromRow) out.commit(r.lines[0] ?? r.endLine);
      };
      const tok = new CsvTokenizer(file, onRecord, opts.delimiter ?? "auto");
      try {
        for await (const chunk of textChunks(openText())) {
          tok.push(chunk);
          while (out.done.length) yield out.done.shift() as RowBatch;
        }
      } catch (e) {
        if (e instanceof DataError) throw e;
        throw new DataError({ file }, `cannot read the file: ${(e as Error).message}`);
      }
      tok.end();
      out.flush();
      while (out.done.length) yield out.done.shift() as RowBatch;
    },
  };
}

/**
 * A JSON-lines {@link RowSource} on text that `openText()` yields afresh
 * (same rules and messages as `parseJsonl`; lines end at LF or CRLF, blank
 * lines are skipped). Reads the first line to resolve the fields.
 */
export async function jsonlRowSource(openText: () => TextChunks, opts: JsonlOptions & RowSourceOptions = {}): Promise<RowSource> {
  const file = opts.file ?? "<stream>";
  const size = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  /** Lines of the text with their numbers. */
  async function* lines(): AsyncGenerator<[string, number]> {
    let lineNo = 0;
    let rest = "";
    try {
      for await (const chunk of textChunks(openText())) {
        rest += chunk;
        let start = 0;
        let nl: number;
        while ((nl = rest.indexOf("\n", start)) >= 0) {
          const end = nl > start && rest.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
          yield [rest.slice(start, end), ++lineNo];
          start = nl + 1;
        }
        rest = rest.slice(start);
      }
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError({ file }, `cannot read the file: ${(e as Error).message}`);
    }
    if (rest !== "") yield [rest.endsWith("\r") ? rest.slice(0, -1) : rest, ++lineNo];
  }
  let head: Dataset | undefined;
  for await (const [text, no] of lines()) {
    if (text.trim() === "") continue;
    const b = new JsonlBuilder(file, opts);
    b.line(text, no);
    head = b.finish(opts.name ?? file);
    break;
  }
  if (!head) throw new DataError({ file }, "empty file: expected at least one JSON line");
  const shape = head;
  return {
    name: opts.name ?? file,
    xDim: shape.xDim,
    yDim: shape.yDim,
    xNames: shape.xNames,
    yNames: shape.yNames,
    async *open(fromRow = 0): AsyncGenerator<RowBatch> {
      let row = 0;
      let b = new JsonlBuilder(file, opts);
      let k = 0;
      let start = fromRow;
      const emit = (): RowBatch => {
        const ds = b.finish(shape.name);
        if (ds.xNames.join("\u0000") !== shape.xNames.join("\u0000") || ds.yNames.join("\u0000") !== shape.yNames.join("\u0000")) {
          throw new DataError(
            { file, line: ds.rowLines?.[0] },
            `expected the fields of the first line (${[...shape.xNames, ...shape.yNames].join(", ")}), got ${[...ds.xNames, ...ds.yNames].join(", ")}`,
          );
        }
        const out: RowBatch = { start, n: ds.n, x: ds.x, y: ds.y, ...(ds.rowLines ? { lines: ds.rowLines } : {}) };
        start += ds.n;
        b = new JsonlBuilder(file, opts);
        k = 0;
        return out;
      };
      for await (const [text, no] of lines()) {
        if (text.trim() === "") continue;
        if (row++ < fromRow) continue;
        b.line(text, no);
        if (++k === size) yield emit();
      }
      if (k > 0) yield emit();
    },
  };
}

/** A {@link RowSource} over a data set in memory (tests, or data already loaded). */
export function datasetRowSource(ds: Dataset, opts: RowSourceOptions = {}): RowSource {
  const size = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  return {
    name: ds.name,
    xDim: ds.xDim,
    yDim: ds.yDim,
    xNames: ds.xNames,
    yNames: ds.yNames,
    async *open(fromRow = 0): AsyncGenerator<RowBatch> {
      for (let s = fromRow; s < ds.n; s += size) {
        const e = Math.min(ds.n, s + size);
        yield {
          start: s,
          n: e - s,
          x: ds.x.slice(s * ds.xDim, e * ds.xDim),
          y: ds.y.slice(s * ds.yDim, e * ds.yDim),
          ...(ds.rowLines ? { lines: ds.rowLines.slice(s, e) } : {}),
        };
      }
    },
  };
}
