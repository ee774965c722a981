/**
 * CSV to {@link Dataset}: a sync parser for text in memory ({@link parseCsv}),
 * a streaming parser for web streams / async iterables of text or bytes
 * ({@link parseCsvStream}; the file loader `loadCsv` of `@ngem/datasets/node`
 * is built on it), a generic record parser ({@link parseCsvRecords}) and a
 * writer ({@link writeCsv}). Browser-safe: no Node built-ins.
 */
import { resolveColumns, type ColumnRef } from "./columns.js";
import { CsvTokenizer, type CsvDelimiter, type CsvRecord } from "./csv-tokenizer.js";
import { DataError } from "./errors.js";
import { GrowableFloat64 } from "./growable.js";
import { baseName } from "./paths.js";
import { fastNumber, isNumberText, parseStrictNumber } from "./numbers.js";
import type { Dataset } from "./types.js";

export { CsvTokenizer, detectDelimiter, type CsvDelimiter, type CsvRecord } from "./csv-tokenizer.js";

/** Options of {@link loadCsv} / {@link parseCsv}. */
export interface CsvOptions {
  /** Field delimiter; `"auto"` (default) picks the most frequent of `,` `;` TAB in the first line. */
  readonly delimiter?: CsvDelimiter | "auto";
  /**
   * Whether the first record is a header. `"auto"` (default): it is a header
   * when any of its cells is not a number. Without a header, columns are named `c0, c1, ...`.
   */
  readonly header?: boolean | "auto";
  /** Input columns by name or 0-based index. Default: every column not in `y`. */
  readonly x?: readonly ColumnRef[];
  /** Target columns by name or 0-based index. Default: the last column (or every column not in `x`). */
  readonly y?: readonly ColumnRef[];
  /** What to do with a missing cell (empty, NA, NaN, ?, null ...) in a selected column: `"error"` (default) or `"skip-row"`. */
  readonly missing?: "error" | "skip-row";
  /** Data set name (default: the file name). */
  readonly name?: string;
  /** Name used in error messages by {@link parseCsv} (default `"<string>"`). */
  readonly file?: string;
  /** Read chunk size in bytes for {@link loadCsv} (default 1 MiB). */
  readonly chunkBytes?: number;
}

/** Builds a Dataset from CSV records as they arrive. */
class CsvDatasetBuilder {
  private names: string[] | undefined;
  private ncols = 0;
  private xi: number[] = [];
  private yi: number[] = [];
  private readonly xs = new GrowableFloat64(1 << 14);
  /** 1-based line where each kept row starts. */
  private readonly lines = new GrowableFloat64(1 << 12);
  private readonly ys = new GrowableFloat64(1 << 14);
  private rows = 0;
  /** Rows dropped because of missing values (`missing: "skip-row"`). */
  skipped = 0;
  private readonly xRow: number[] = [];
  private readonly yRow: number[] = [];

  constructor(
    private readonly file: string,
    private readonly opts: CsvOptions,
  ) {}

  readonly onRecord = (r: CsvRecord): void => {
    if (this.names === undefined) {
      this.start(r);
      if (this.names !== undefined && this.isHeader) return;
    }
    this.addRow(r);
  };

  private isHeader = false;

  private start(r: CsvRecord): void {
    const header = this.opts.header ?? "auto";
    let isHeader: boolean;
    if (header === "auto") {
      isHeader = false;
      for (let i = 0; i < r.count; i++) {
        const f = r.fields[i] as string;
        if (!isNumberText(f) && !parseStrictNumberIsMissing(f)) {
          isHeader = true;
          break;
        }
      }
    } else isHeader = header;
    this.isHeader = isHeader;
    this.ncols = r.count;
    const names = isHeader ? Array.from({ length: r.count }, (_, i) => (r.fields[i] as string).trim()) : Array.from({ length: r.count }, (_, i) => `c${i}`);
    const sel = resolveColumns(names, this.opts.x, this.opts.y);
    if ("error" in sel) {
      throw new DataError(
        { file: this.file, line: isHeader ? r.lines[0] : undefined, field: sel.field || undefined },
        `${sel.error}${isHeader ? "" : " (the file has no header, so columns are named c0, c1, ...)"}`,
      );
    }
    this.xi = sel.x;
    this.yi = sel.y;
    this.names = names;
  }

  private addRow(r: CsvRecord): void {
    const names = this.names as string[];
    if (r.count !== this.ncols) {
      const more = r.count > this.ncols;
      throw new DataError(
        {
          file: this.file,
          line: more ? r.lines[this.ncols] : r.endLine,
          column: more ? r.columns[this.ncols] : r.endColumn,
        },
        `ragged row: expected ${this.ncols} fields (as in the ${this.isHeader ? "header" : "first row"}), got ${r.count}`,
      );
    }
    const xRow = this.xRow;
    const yRow = this.yRow;
    for (let s = 0; s < this.xi.length; s++) {
      const c = this.xi[s] as number;
      const v = this.cell(r, c, names);
      if (v === undefined) return;
      xRow[s] = v;
    }
    for (let s = 0; s < this.yi.length; s++) {
      const c = this.yi[s] as number;
      const v = this.cell(r, c, names);
      if (v === undefined) return;
      yRow[s] = v;
    }
    for (let s = 0; s < this.xi.length; s++) this.xs.push(xRow[s] as number);
    for (let s = 0; s < this.yi.length; s++) this.ys.push(yRow[s] as number);
    this.lines.push(r.lines[0] ?? r.endLine);
    this.rows++;
  }

  /** Parses cell c; returns undefined when the row is to be skipped. */
  private cell(r: CsvRecord, c: number, names: readonly string[]): number | undefined {
    const text = r.fields[c] as string;
    // fast path: plain numbers
    const fast = fastNumber(text);
    if (!Number.isNaN(fast)) return fast;
    const p = parseStrictNumber(text);
    if (p.ok) return p.value;
    if (p.missing && this.opts.missing === "skip-row") {
      this.skipped++;
      return undefined;
    }
    throw new DataError({ file: this.file, line: r.lines[c], column: r.columns[c], field: names[c] }, p.reason);
  }

  finish(defaultName: string): Dataset {
    if (this.names === undefined) {
      throw new DataError({ file: this.file }, "empty file: expected a header or at least one data row");
    }
    if (this.rows === 0) {
      throw new DataError(
        { file: this.file },
        this.skipped > 0 ? `no rows left: all ${this.skipped} data rows had missing values` : "expected at least one data row after the header, got none",
      );
    }
    const names = this.names;
    return {
      name: this.opts.name ?? defaultName,
      n: this.rows,
      xDim: this.xi.length,
      yDim: this.yi.length,
      x: this.xs.toArray(),
      y: this.ys.toArray(),
      rowLines: Uint32Array.from(this.lines.toArray()),
      xNames: this.xi.map((i) => names[i] as string),
      yNames: this.yi.map((i) => names[i] as string),
      ...(this.opts.missing === "skip-row" ? { skippedRows: this.skipped } : {}),
    };
  }
}

function parseStrictNumberIsMissing(text: string): boolean {
  const p = parseStrictNumber(text);
  return !p.ok && p.missing;
}

/**
 * Parses CSV text held in memory into a numeric {@link Dataset}. For files,
 * prefer {@link loadCsv}, which streams. Throws {@link DataError} naming the
 * line, column and header field of the first bad cell.
 */
export function parseCsv(text: string, opts: CsvOptions = {}): Dataset {
  const file = opts.file ?? "<string>";
  const b = new CsvDatasetBuilder(file, opts);
  const t = new CsvTokenizer(file, b.onRecord, opts.delimiter ?? "auto");
  t.push(text);
  t.end();
  return b.finish(opts.name ?? "csv");
}

/** Text or bytes arriving in chunks: a web `ReadableStream` (e.g. `File.stream()`, `Response.body`) or any async iterable (e.g. a Node read stream). Bytes are decoded as UTF-8. */
export type TextChunks = ReadableStream<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

/**
 * Yields the chunks of `source` as strings (UTF-8 decoding bytes, a character
 * split across chunks kept whole). Errors of the source propagate.
 */
export async function* textChunks(source: TextChunks): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  const decode = (c: Uint8Array | string): string => (typeof c === "string" ? c : decoder.decode(c, { stream: true }));
  if (Symbol.asyncIterator in source) {
    for await (const c of source as AsyncIterable<Uint8Array | string>) yield decode(c);
  } else {
    const reader = (source as ReadableStream<Uint8Array | string>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield decode(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  const tail = decoder.decode();
  if (tail) yield tail;
}

/**
 * Parses CSV arriving in chunks (a web stream such as `file.stream()`, or any
 * async iterable of text or bytes) into a numeric {@link Dataset},
 * incrementally: memory holds one chunk of text plus the numbers. A read
 * error of the source becomes a {@link DataError} naming `opts.file`.
 */
export async function parseCsvStream(source: TextChunks, opts: CsvOptions = {}): Promise<Dataset> {
  const file = opts.file ?? "<stream>";
  const b = new CsvDatasetBuilder(file, opts);
  const t = new CsvTokenizer(file, b.onRecord, opts.delimiter ?? "auto");
  try {
    for await (const chunk of textChunks(source)) t.push(chunk);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError({ file }, `cannot read the file: ${(e as Error).message}`);
  }
  t.end();
  return b.finish(opts.name ?? (opts.file !== undefined ? baseName(opts.file) : "csv"));
}

/** Parses CSV bytes (UTF-8; an `ArrayBuffer` from `file.arrayBuffer()` or a `Uint8Array`). */
export function parseCsvBytes(bytes: ArrayBuffer | Uint8Array, opts: CsvOptions = {}): Dataset {
  const text = new TextDecoder("utf-8").decode(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  return parseCsv(text, opts);
}

/** Options of {@link parseCsvRecords}. */
export interface CsvRecordOptions {
  readonly delimiter?: CsvDelimiter | "auto";
  readonly file?: string;
}

/** Parses CSV text into records of strings (no header handling, no numbers). Blank lines are skipped. */
export function parseCsvRecords(text: string, opts: CsvRecordOptions = {}): string[][] {
  const out: string[][] = [];
  const t = new CsvTokenizer(opts.file ?? "<string>", (r) => out.push(r.fields.slice(0, r.count)), opts.delimiter ?? ",");
  t.push(text);
  t.end();
  return out;
}

/** Options of {@link writeCsv}. */
export interface CsvWriteOptions {
  /** Default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Line ending, default `"\n"`. */
  readonly eol?: "\n" | "\r\n";
  /** Optional header row written first. */
  readonly header?: readonly string[];
}

/**
 * Writes rows as RFC 4180 CSV. A field is quoted when it holds the delimiter,
 * a quote, CR or LF, or when it is the only field of its row and empty (so the
 * row is not read back as a blank line); inner quotes are doubled. Numbers are
 * written with `String(v)`, which round-trips float64 exactly.
 */
export function writeCsv(rows: readonly (readonly (string | number)[])[], opts: CsvWriteOptions = {}): string {
  const d = opts.delimiter ?? ",";
  const eol = opts.eol ?? "\n";
  const parts: string[] = [];
  const writeRow = (row: readonly (string | number)[]): void => {
    if (row.length === 1 && row[0] === "") {
      parts.push(`""${eol}`);
      return;
    }
    parts.push(row.map((v) => quoteField(typeof v === "number" ? String(v) : v, d)).join(d) + eol);
  };
  if (opts.header) writeRow(opts.header);
  for (const r of rows) writeRow(r);
  return parts.join("");
}

function quoteField(s: string, d: string): string {
  if (s.includes(d) || s.includes('"') || s.includes("\n") || s.includes("\r")) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** Writes a Dataset as CSV text (header = x names then y names). */
export function datasetToCsv(ds: Dataset, opts: Omit<CsvWriteOptions, "header"> = {}): string {
  const rows: number[][] = [];
  for (let i = 0; i < ds.n; i++) {
    rows.push([...ds.x.subarray(i * ds.xDim, (i + 1) * ds.xDim), ...ds.y.subarray(i * ds.yDim, (i + 1) * ds.yDim)]);
  }
  return writeCsv(rows, { ...opts, header: [...ds.xNames, ...ds.yNames] });
}
