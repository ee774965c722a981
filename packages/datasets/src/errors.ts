import { NgemError } from "@ngem/core";

/** Where in a file a {@link DataError} happened. Every field is optional but `file`. */
export interface DataErrorLocation {
  /** Path of the file (or a label such as `"<string>"` for in-memory input). */
  readonly file: string;
  /** 1-based physical line. */
  readonly line?: number;
  /** 1-based character column within that line. */
  readonly column?: number;
  /** Header field or column name at fault (CSV column, NPY/IDX header key, JSON key). */
  readonly field?: string;
  /** Byte offset, for binary formats. */
  readonly byteOffset?: number;
  /** How to call `field` in the message: default "column" when a line is given, else "header field". */
  readonly fieldLabel?: string;
}

/**
 * Malformed or unusable input data. The message names the file, the position
 * (line/column, or header field / byte offset for binary files) and what was
 * expected, e.g.
 * `data.csv:4:7 (column "y"): expected a number, got "abc"`.
 */
export class DataError extends NgemError {
  override readonly name: string = "DataError";
  readonly file: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly field: string | undefined;
  readonly byteOffset: number | undefined;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(loc: DataErrorLocation, detail: string) {
    super(`${formatLocation(loc)}: ${detail}`);
    this.file = loc.file;
    this.line = loc.line;
    this.column = loc.column;
    this.field = loc.field;
    this.byteOffset = loc.byteOffset;
    this.detail = detail;
  }
}

function formatLocation(loc: DataErrorLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) {
    s += `:${loc.line}`;
    if (loc.column !== undefined) s += `:${loc.column}`;
  }
  const extra: string[] = [];
  if (loc.field !== undefined) extra.push(`${loc.fieldLabel ?? (loc.line === undefined ? "header field" : "column")} ${JSON.stringify(loc.field)}`);
  if (loc.byteOffset !== undefined) extra.push(`byte ${loc.byteOffset}`);
  return extra.length > 0 ? `${s} (${extra.join(", ")})` : s;
}
