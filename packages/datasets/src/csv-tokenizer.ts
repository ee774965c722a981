/**
 * Incremental RFC 4180 tokenizer. Text arrives in chunks of any size (a
 * quoted field, a CRLF pair or a whole record may straddle two chunks); each
 * complete record is handed to a callback together with the line and column
 * where each field started, so callers can report exact error positions.
 *
 * Rules: fields are separated by one delimiter character; records end at LF,
 * CRLF or a lone CR; a field that starts with `"` is quoted and may hold the
 * delimiter, newlines and doubled quotes (`""` = one `"`); a quote inside an
 * unquoted field, or text after a closing quote, is an error. A leading
 * UTF-8 BOM is dropped. Blank lines (one empty unquoted field) are skipped.
 */
import { DataError } from "./errors.js";

/** Delimiters recognised (and auto-detected). */
export type CsvDelimiter = "," | ";" | "\t";

const QUOTE = 34;
const LF = 10;
const CR = 13;

const enum State {
  Start,
  Unquoted,
  Quoted,
  QuoteSeen,
}

/** One record as handed to the callback. The arrays are reused: copy what you keep. */
export interface CsvRecord {
  /** Number of fields in this record. */
  readonly count: number;
  /** Field texts, entries [0, count). */
  readonly fields: readonly string[];
  /** 1-based line where each field starts. */
  readonly lines: readonly number[];
  /** 1-based column where each field starts. */
  readonly columns: readonly number[];
  /** Whether each field was quoted. */
  readonly quoted: readonly boolean[];
  /** Line and column just after the last character of the record (where a missing field would be). */
  readonly endLine: number;
  readonly endColumn: number;
}

/**
 * Picks the delimiter that occurs most often (outside quotes) in `firstLine`.
 * Ties and no occurrence fall back to `,`.
 */
export function detectDelimiter(firstLine: string): CsvDelimiter {
  let comma = 0;
  let semi = 0;
  let tab = 0;
  let inQuotes = false;
  for (let i = 0; i < firstLine.length; i++) {
    const c = firstLine.charCodeAt(i);
    if (c === QUOTE) inQuotes = !inQuotes;
    else if (!inQuotes) {
      if (c === 44) comma++;
      else if (c === 59) semi++;
      else if (c === 9) tab++;
    }
  }
  if (semi > comma && semi >= tab) return ";";
  if (tab > comma && tab > semi) return "\t";
  return ",";
}

/** Streaming CSV tokenizer: call {@link CsvTokenizer.push} per chunk, then {@link CsvTokenizer.end}. */
export class CsvTokenizer {
  private delim = -1;
  private pending = "";
  private first = true;
  private state = State.Start;
  private partial = "";
  private line = 1;
  private col = 1;
  private prevCR = false;
  private quotedPrevCR = false;
  private fieldLine = 1;
  private fieldCol = 1;
  private fieldQuoted = false;
  private readonly rec: {
    count: number;
    fields: string[];
    lines: number[];
    columns: number[];
    quoted: boolean[];
    endLine: number;
    endColumn: number;
  } = { count: 0, fields: [], lines: [], columns: [], quoted: [], endLine: 1, endColumn: 1 };

  /**
   * @param file name used in error messages
   * @param onRecord receives each complete record
   * @param delimiter a fixed delimiter, or `"auto"` to detect it from the first line
   */
  constructor(
    private readonly file: string,
    private readonly onRecord: (r: CsvRecord) => void,
    delimiter: CsvDelimiter | "auto" = "auto",
  ) {
    if (delimiter !== "auto") {
      if (delimiter !== "," && delimiter !== ";" && delimiter !== "\t") {
        throw new DataError({ file }, `delimiter: expected ",", ";", "\\t" or "auto", got ${JSON.stringify(delimiter)}`);
      }
      this.delim = delimiter.charCodeAt(0);
    }
  }

  /** The delimiter in use (after detection), or undefined while still undecided. */
  get delimiter(): CsvDelimiter | undefined {
    return this.delim < 0 ? undefined : (String.fromCharCode(this.delim) as CsvDelimiter);
  }

  /** Feeds the next chunk of text. */
  push(chunk: string): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.delim < 0) {
      this.pending += chunk;
      const nl = firstLineEnd(this.pending);
      if (nl < 0) return;
      this.delim = detectDelimiter(this.pending.slice(0, nl)).charCodeAt(0);
      chunk = this.pending;
      this.pending = "";
    }
    this.process(chunk);
  }

  /** Signals the end of input; flushes the last record. Throws on an unterminated quoted field. */
  end(): void {
    if (this.delim < 0) {
      this.delim = detectDelimiter(this.pending).charCodeAt(0);
      const p = this.pending;
      this.pending = "";
      this.process(p);
    }
    switch (this.state) {
      case State.Quoted:
        throw new DataError(
          { file: this.file, line: this.fieldLine, column: this.fieldCol },
          "unterminated quoted field: expected a closing quote before the end of the file",
        );
      case State.Unquoted:
      case State.QuoteSeen:
        this.emitField(this.partial);
        this.partial = "";
        this.endRecord();
        break;
      case State.Start:
        if (this.rec.count > 0) {
          // the record ended with a delimiter: one last empty field
          this.fieldLine = this.line;
          this.fieldCol = this.col;
          this.fieldQuoted = false;
          this.emitField("");
          this.endRecord();
        }
        break;
    }
    this.state = State.Start;
  }

  private emitField(value: string): void {
    const r = this.rec;
    const i = r.count++;
    r.fields[i] = value;
    r.lines[i] = this.fieldLine;
    r.columns[i] = this.fieldCol;
    r.quoted[i] = this.fieldQuoted;
  }

  private endRecord(): void {
    const r = this.rec;
    r.endLine = this.line;
    r.endColumn = this.col;
    const blank = r.count === 1 && r.fields[0] === "" && !r.quoted[0];
    if (!blank) this.onRecord(r);
    r.count = 0;
  }

  private process(chunk: string): void {
    const n = chunk.length;
    const delim = this.delim;
    let i = 0;
    let segStart = 0;
    while (i < n) {
      switch (this.state) {
        case State.Start: {
          const c = chunk.charCodeAt(i);
          if (this.prevCR) {
            this.prevCR = false;
            if (c === LF) {
              i++;
              continue;
            }
          }
          this.fieldLine = this.line;
          this.fieldCol = this.col;
          if (c === QUOTE) {
            this.fieldQuoted = true;
            this.state = State.Quoted;
            this.quotedPrevCR = false;
            i++;
            this.col++;
            segStart = i;
            continue;
          }
          this.fieldQuoted = false;
          this.state = State.Unquoted;
          segStart = i;
          // falls through to the unquoted scan on the next iteration
          continue;
        }
        case State.Unquoted: {
          let j = i;
          let c = 0;
          while (j < n) {
            c = chunk.charCodeAt(j);
            if (c === delim || c === LF || c === CR || c === QUOTE) break;
            j++;
          }
          this.col += j - i;
          if (j === n) {
            this.partial += chunk.slice(segStart, n);
            i = n;
            break;
          }
          if (c === QUOTE) {
            throw new DataError(
              { file: this.file, line: this.line, column: this.col },
              "unexpected quote inside an unquoted field: expected the whole field to be quoted (with inner quotes doubled)",
            );
          }
          const value = this.partial.length > 0 ? this.partial + chunk.slice(segStart, j) : chunk.slice(segStart, j);
          this.partial = "";
          this.emitField(value);
          this.state = State.Start;
          i = j + 1;
          if (c === delim) {
            this.col++;
          } else {
            this.endRecord();
            this.line++;
            this.col = 1;
            this.prevCR = c === CR;
          }
          break;
        }
        case State.Quoted: {
          let j = i;
          let found = false;
          while (j < n) {
            const c = chunk.charCodeAt(j);
            if (c === QUOTE) {
              found = true;
              break;
            }
            if (c === CR) {
              this.line++;
              this.col = 1;
              this.quotedPrevCR = true;
            } else if (c === LF) {
              if (!this.quotedPrevCR) this.line++;
              this.col = 1;
              this.quotedPrevCR = false;
            } else {
              this.col++;
              this.quotedPrevCR = false;
            }
            j++;
          }
          this.partial += chunk.slice(segStart, j);
          if (!found) {
            i = n;
            break;
          }
          this.col++;
          this.quotedPrevCR = false;
          this.state = State.QuoteSeen;
          i = j + 1;
          break;
        }
        case State.QuoteSeen: {
          const c = chunk.charCodeAt(i);
          if (c === QUOTE) {
            this.partial += '"';
            this.state = State.Quoted;
            this.col++;
            i++;
            segStart = i;
            break;
          }
          if (c === delim || c === LF || c === CR) {
            this.emitField(this.partial);
            this.partial = "";
            this.state = State.Start;
            i++;
            if (c === delim) {
              this.col++;
            } else {
              this.endRecord();
              this.line++;
              this.col = 1;
              this.prevCR = c === CR;
            }
            break;
          }
          throw new DataError(
            { file: this.file, line: this.line, column: this.col },
            `expected a delimiter or the end of the line after a closing quote, got ${JSON.stringify(chunk[i])}`,
          );
        }
      }
    }
  }
}

/** Index of the first line break outside quotes, or -1. */
function firstLineEnd(text: string): number {
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) inQuotes = !inQuotes;
    else if (!inQuotes && (c === LF || c === CR)) return i;
  }
  return -1;
}
