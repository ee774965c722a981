/**
 * `ngem predict` input and output: a table read from a file or stdin (CSV /
 * TSV, JSON lines, NPY) keeping each cell as the user wrote it (so ids and
 * kept columns come back unchanged), and the prediction written as CSV, JSON
 * lines, JSON or NPY.
 *
 * Every problem is a UsageError (exit 2) naming the file, line, column or flag.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import { CsvTokenizer, DataError, encodeNpy, parseNpy, parseStrictNumber, writeCsv } from "@ngem/datasets";
import { UsageError } from "../errors.js";

/** One cell as read: text for CSV, a JSON scalar for JSON lines, a number for NPY. */
export type Cell = string | number | boolean | null;

export interface Table {
  /** How the source is named in messages (the path, or "<stdin>"). */
  readonly label: string;
  readonly kind: "csv" | "jsonl" | "npy";
  /** Column names (CSV header or c0, c1, ...; JSON keys; NPY c0, c1, ...). */
  readonly names: readonly string[];
  /** Whether the names come from the data (a header or JSON keys) rather than positions. */
  readonly named: boolean;
  readonly rows: Cell[][];
  /** 1-based line of each row (CSV, JSON lines). */
  readonly lines?: number[];
  /** 1-based line and column of each cell (CSV), for error messages. */
  readonly where?: (row: number, col: number) => { line: number; column?: number };
}

const KINDS: Record<string, Table["kind"]> = {
  ".csv": "csv",
  ".tsv": "csv",
  ".txt": "csv",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".json": "jsonl",
  ".npy": "npy",
};

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads `source` ("-" = stdin; the format is detected from the first bytes there). */
export async function readTable(source: string): Promise<Table> {
  let bytes: Buffer;
  let kind: Table["kind"] | undefined;
  const label = source === "-" ? "<stdin>" : source;
  if (source === "-") {
    bytes = await readStdin();
    const head = bytes.subarray(0, 6).toString("latin1");
    const first = bytes.toString("utf8", 0, Math.min(bytes.length, 256)).trimStart()[0];
    kind = head === "\x93NUMPY" ? "npy" : first === "{" || first === "[" ? "jsonl" : "csv";
  } else {
    if (!existsSync(source)) throw new UsageError(`data "${source}": no such file`);
    if (!statSync(source).isFile()) throw new UsageError(`data "${source}": not a regular file`);
    kind = KINDS[extname(source).toLowerCase()];
    if (!kind) throw new UsageError(`data "${source}": unknown file type "${extname(source)}"; expected .csv, .tsv, .txt, .jsonl, .ndjson, .json or .npy`);
    try {
      bytes = readFileSync(source);
    } catch (err) {
      throw new UsageError(`data "${source}": cannot read (${(err as Error).message})`);
    }
  }
  try {
    if (kind === "npy") return npyTable(bytes, label);
    if (kind === "jsonl") return jsonlTable(bytes.toString("utf8"), label);
    return csvTable(bytes.toString("utf8"), label);
  } catch (err) {
    if (err instanceof DataError) throw new UsageError(err.message);
    throw err;
  }
}

function csvTable(text: string, label: string): Table {
  const recs: { fields: string[]; lines: number[]; columns: number[]; endLine: number }[] = [];
  const t = new CsvTokenizer(
    label,
    (r) => recs.push({ fields: r.fields.slice(0, r.count), lines: r.lines.slice(0, r.count), columns: r.columns.slice(0, r.count), endLine: r.endLine }),
    "auto",
  );
  t.push(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  t.end();
  if (recs.length === 0) throw new UsageError(`${label}: empty input: expected a header or at least one data row`);
  const first = recs[0]!;
  const named = first.fields.some((f) => {
    const p = parseStrictNumber(f);
    return !p.ok && !p.missing;
  });
  const width = first.fields.length;
  const names = named ? first.fields.map((f) => f.trim()) : Array.from({ length: width }, (_, i) => `c${i}`);
  const body = named ? recs.slice(1) : recs;
  body.forEach((r) => {
    if (r.fields.length !== width) {
      throw new UsageError(
        `${label}:${r.lines[0] ?? r.endLine}: ragged row: expected ${width} fields (as in the ${named ? "header" : "first row"}), got ${r.fields.length}`,
      );
    }
  });
  if (body.length === 0) throw new UsageError(`${label}: expected at least one data row${named ? " after the header" : ""}, got none`);
  return {
    label,
    kind: "csv",
    names,
    named,
    rows: body.map((r) => r.fields),
    lines: body.map((r) => r.lines[0] ?? r.endLine),
    where: (row, col) => ({ line: body[row]!.lines[col] ?? body[row]!.endLine, column: body[row]!.columns[col] }),
  };
}

function jsonlTable(text: string, label: string): Table {
  const names: string[] = [];
  const index = new Map<string, number>();
  const objs: { v: Map<string, Cell>; line: number }[] = [];
  let arrays: boolean | undefined;
  text.split("\n").forEach((raw, i) => {
    const s = raw.trim();
    if (s === "") return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (err) {
      throw new UsageError(`${label}:${i + 1}: invalid JSON: expected one object (or array) per line (${(err as Error).message})`);
    }
    const isArr = Array.isArray(v);
    if (!isArr && (typeof v !== "object" || v === null))
      throw new UsageError(`${label}:${i + 1}: expected a JSON object or array on each line, got ${JSON.stringify(v)}`);
    arrays ??= isArr;
    if (arrays !== isArr)
      throw new UsageError(`${label}:${i + 1}: mixes ${arrays ? "arrays" : "objects"} and ${isArr ? "arrays" : "objects"}; use one kind per file`);
    const row = new Map<string, Cell>();
    const put = (key: string, val: unknown) => {
      if (Array.isArray(val)) {
        val.forEach((e, j) => put(`${key}[${j}]`, e));
        return;
      }
      if (val !== null && typeof val === "object")
        throw new UsageError(`${label}:${i + 1} (field ${JSON.stringify(key)}): nested objects are not supported; expected a number, string or array`);
      if (!index.has(key)) {
        index.set(key, names.length);
        names.push(key);
      }
      row.set(key, val as Cell);
    };
    if (isArr) (v as unknown[]).forEach((e, j) => put(`c${j}`, e));
    else for (const [k, e] of Object.entries(v as Record<string, unknown>)) put(k, e);
    objs.push({ v: row, line: i + 1 });
  });
  if (objs.length === 0) throw new UsageError(`${label}: no JSON rows`);
  return {
    label,
    kind: "jsonl",
    names,
    named: arrays === false,
    rows: objs.map((o) => names.map((n) => (o.v.has(n) ? (o.v.get(n) as Cell) : null))),
    lines: objs.map((o) => o.line),
  };
}

function npyTable(bytes: Uint8Array, label: string): Table {
  const a = parseNpy(bytes, label);
  if (a.shape.length < 1 || a.shape.length > 2)
    throw new UsageError(`${label} (header field "shape"): expected a 1-D or 2-D array, got shape (${a.shape.join(", ")})`);
  const n = a.shape[0] as number;
  const m = a.shape.length === 2 ? (a.shape[1] as number) : 1;
  if (n === 0) throw new UsageError(`${label} (header field "shape"): expected at least one row`);
  const rows = Array.from({ length: n }, (_, i) => Array.from(a.data.subarray(i * m, (i + 1) * m)) as Cell[]);
  return { label, kind: "npy", names: Array.from({ length: m }, (_, i) => `c${i}`), named: false, rows };
}

/** "data.csv:7:3 (column "x")" or "<stdin>:4 (field "x")" or "data.npy row 3 (column c1)". */
export function cellLabel(t: Table, row: number, col: number): string {
  const name = JSON.stringify(t.names[col]);
  if (t.where) {
    const w = t.where(row, col);
    return `${t.label}:${w.line}${w.column !== undefined ? `:${w.column}` : ""} (column ${name})`;
  }
  if (t.lines) return `${t.label}:${t.lines[row]} (field ${name})`;
  return `${t.label} row ${row + 1} (column ${name})`;
}

/** "data.csv:7 (data row 5)". */
export function rowLabel(t: Table, row: number): string {
  return t.lines ? `${t.label}:${t.lines[row]} (data row ${row + 1})` : `${t.label} row ${row + 1}`;
}

/** Resolves a column reference (name, or 0-based index when no column has that name). */
export function columnIndex(t: Table, ref: string, flag: string): number {
  const at = t.names.indexOf(ref);
  if (at >= 0) {
    if (t.names.indexOf(ref, at + 1) >= 0)
      throw new UsageError(`${flag}: column name ${JSON.stringify(ref)} is not unique in ${t.label}; select it by 0-based index`);
    return at;
  }
  if (/^\d+$/.test(ref)) {
    const i = Number(ref);
    if (i < t.names.length) return i;
  }
  throw new UsageError(`${flag}: ${t.label} has no column ${JSON.stringify(ref)}; its columns are ${t.names.map((s) => JSON.stringify(s)).join(", ")}`);
}

/** The numeric value of a cell, or a usage error naming the cell. */
export function numberAt(t: Table, row: number, col: number): number {
  const v = t.rows[row]![col];
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string") {
    const p = parseStrictNumber(v);
    if (p.ok) return p.value;
    throw new UsageError(`${cellLabel(t, row, col)}: ${p.reason}`);
  }
  throw new UsageError(`${cellLabel(t, row, col)}: expected a finite number, got ${v === null ? "a missing value" : JSON.stringify(v)}`);
}

/** A cell as a JSON value: a CSV cell that is a plain number becomes a number. */
export function jsonCell(v: Cell): Cell {
  if (typeof v === "string") {
    const p = parseStrictNumber(v);
    return p.ok && String(p.value) === v.trim() ? p.value : v;
  }
  return v;
}

export type OutFormat = "csv" | "tsv" | "jsonl" | "json" | "npy";
const OUT_KINDS: Record<string, OutFormat> = {
  ".csv": "csv",
  ".tsv": "tsv",
  ".txt": "csv",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".json": "json",
  ".npy": "npy",
};

/** The output format: --format, else --json, else the --output extension, else CSV. */
export function outputFormat(format: string | undefined, json: boolean | undefined, output: string | undefined): OutFormat {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (!["csv", "tsv", "jsonl", "json", "npy"].includes(f)) throw new UsageError(`--format: expected csv, tsv, jsonl, json or npy, got "${format}"`);
    return f as OutFormat;
  }
  if (json) return "json";
  if (output !== undefined && output !== "-") {
    const k = OUT_KINDS[extname(output).toLowerCase()];
    if (!k)
      throw new UsageError(
        `--output ${output}: cannot tell the format from the extension "${extname(output)}"; use .csv, .tsv, .jsonl, .json or .npy, or give --format`,
      );
    return k;
  }
  return "csv";
}

/** A flat output column: name and one value per row. */
export interface OutColumn {
  readonly name: string;
  readonly values: ArrayLike<Cell> | Float64Array;
}

/** Serialises a table of columns as CSV/TSV text or NPY bytes (every column numeric). */
export function encodeColumns(cols: readonly OutColumn[], n: number, format: "csv" | "tsv" | "npy"): string | Uint8Array {
  if (format === "npy") {
    const data = new Float64Array(n * cols.length);
    cols.forEach((c, j) => {
      for (let i = 0; i < n; i++) {
        const v = c.values[i];
        const num = typeof v === "number" ? v : typeof v === "string" ? (parseStrictNumber(v).ok ? Number(v) : NaN) : NaN;
        if (!Number.isFinite(num))
          throw new UsageError(
            `--format npy: column ${JSON.stringify(c.name)} is not numeric (row ${i + 1}: ${JSON.stringify(v)}); NPY holds numbers only - use csv, jsonl or json`,
          );
        data[i * cols.length + j] = num;
      }
    });
    return encodeNpy([n, cols.length], data);
  }
  const rows: (string | number)[][] = [];
  for (let i = 0; i < n; i++)
    rows.push(
      cols.map((c) => {
        const v = c.values[i];
        return v === null || v === undefined ? "" : typeof v === "boolean" ? String(v) : v;
      }),
    );
  return writeCsv(rows, { header: cols.map((c) => c.name), ...(format === "tsv" ? { delimiter: "\t" as const } : {}) });
}
