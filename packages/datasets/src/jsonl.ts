/**
 * JSON lines: one JSON value per line, either an object with named fields or
 * an array. Object fields may hold a number or an array of numbers (flattened
 * into several columns named `field[i]`). Blank lines are skipped.
 */
import { resolveColumns, type ColumnRef } from "./columns.js";
import { textChunks, type TextChunks } from "./csv.js";
import { DataError } from "./errors.js";
import { GrowableFloat64 } from "./growable.js";
import { jsonErrorOffset } from "./json-position.js";
import type { Dataset } from "./types.js";

/** Options of {@link loadJsonl} / {@link parseJsonl}. */
export interface JsonlOptions {
  /** Input fields (object keys, or indices for array rows). Default: every field not in `y`. */
  readonly x?: readonly ColumnRef[];
  /** Target fields. Default: the last field of the first row. */
  readonly y?: readonly ColumnRef[];
  readonly name?: string;
  /** Name used in errors by {@link parseJsonl} (default `"<string>"`). */
  readonly file?: string;
}

/** Builds a Dataset from JSON lines as they arrive (shared with the Node file loader). @internal */
export class JsonlBuilder {
  private kind: "object" | "array" | undefined;
  private keys: string[] = [];
  private width = 0;
  private xSel: { key: string | number; w: number }[] = [];
  private ySel: { key: string | number; w: number }[] = [];
  private xNames: string[] = [];
  private yNames: string[] = [];
  private readonly xs = new GrowableFloat64();
  /** 1-based line of each row. */
  private readonly lines = new GrowableFloat64();
  private readonly ys = new GrowableFloat64();
  private rows = 0;

  constructor(
    private readonly file: string,
    private readonly opts: JsonlOptions,
  ) {}

  line(text: string, lineNo: number): void {
    if (text.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      const off = jsonErrorOffset(text);
      throw new DataError(
        { file: this.file, line: lineNo, column: off >= 0 ? off + 1 : undefined },
        `invalid JSON: expected one object or array per line (${msg})`,
      );
    }
    if (this.kind === undefined) this.start(v, lineNo);
    const isArr = Array.isArray(v);
    const isObj = !isArr && typeof v === "object" && v !== null;
    if ((this.kind === "array" && !isArr) || (this.kind === "object" && !isObj)) {
      throw new DataError({ file: this.file, line: lineNo, column: 1 }, `expected a JSON ${this.kind} (as on the first line), got ${describe(v)}`);
    }
    if (isArr && (v as unknown[]).length !== this.width) {
      throw new DataError(
        { file: this.file, line: lineNo, column: 1 },
        `ragged row: expected an array of ${this.width} values (as on the first line), got ${(v as unknown[]).length}`,
      );
    }
    this.take(v as Record<string, unknown> | unknown[], this.xSel, this.xs, lineNo);
    this.take(v as Record<string, unknown> | unknown[], this.ySel, this.ys, lineNo);
    this.lines.push(lineNo);
    this.rows++;
  }

  private take(row: Record<string, unknown> | unknown[], sel: { key: string | number; w: number }[], out: GrowableFloat64, lineNo: number): void {
    for (const { key, w } of sel) {
      const val = (row as Record<string | number, unknown>)[key];
      const field = String(key);
      if (val === undefined) throw new DataError({ file: this.file, line: lineNo, field, fieldLabel: "field" }, "missing field: expected a number");
      if (this.arrayFields.has(key)) {
        if (!Array.isArray(val) || val.length !== w) {
          throw new DataError(
            { file: this.file, line: lineNo, field, fieldLabel: "field" },
            `expected an array of ${w} numbers (as on the first line), got ${describe(val)}`,
          );
        }
        for (let i = 0; i < w; i++) out.push(this.num(val[i], lineNo, `${field}[${i}]`));
      } else {
        out.push(this.num(val, lineNo, field));
      }
    }
  }

  private arrayFields = new Set<string | number>();

  private num(v: unknown, lineNo: number, field: string): number {
    if (typeof v === "number" && Number.isFinite(v)) return v;
    throw new DataError(
      { file: this.file, line: lineNo, field, fieldLabel: "field" },
      v === null ? "expected a number, got a missing value (null)" : `expected a finite number, got ${describe(v)}`,
    );
  }

  private start(v: unknown, lineNo: number): void {
    if (Array.isArray(v)) {
      this.kind = "array";
      this.width = v.length;
      this.keys = v.map((_, i) => `c${i}`);
    } else if (typeof v === "object" && v !== null) {
      this.kind = "object";
      this.keys = Object.keys(v);
    } else {
      throw new DataError({ file: this.file, line: lineNo, column: 1 }, `expected a JSON object or array per line, got ${describe(v)}`);
    }
    const sel = resolveColumns(this.keys, this.opts.x, this.opts.y);
    if ("error" in sel) throw new DataError({ file: this.file, line: lineNo, field: sel.field || undefined, fieldLabel: "field" }, sel.error);
    const mk = (idx: number[], names: string[]): { key: string | number; w: number }[] =>
      idx.map((i) => {
        const key = this.kind === "array" ? i : (this.keys[i] as string);
        const val = (v as Record<string | number, unknown>)[key];
        const w = Array.isArray(val) && this.kind === "object" ? val.length : 1;
        if (Array.isArray(val) && this.kind === "object") {
          this.arrayFields.add(key);
          for (let j = 0; j < w; j++) names.push(`${String(key)}[${j}]`);
        } else names.push(this.keys[i] as string);
        return { key, w };
      });
    this.xSel = mk(sel.x, this.xNames);
    this.ySel = mk(sel.y, this.yNames);
  }

  finish(name: string): Dataset {
    if (this.kind === undefined) throw new DataError({ file: this.file }, "empty file: expected at least one JSON line");
    return {
      name,
      n: this.rows,
      xDim: this.xNames.length,
      yDim: this.yNames.length,
      x: this.xs.toArray(),
      y: this.ys.toArray(),
      rowLines: Uint32Array.from(this.lines.toArray()),
      xNames: this.xNames,
      yNames: this.yNames,
    };
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}...` : v)}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/** Parses JSON-lines text held in memory. */
export function parseJsonl(text: string, opts: JsonlOptions = {}): Dataset {
  const b = new JsonlBuilder(opts.file ?? "<string>", opts);
  const lines = text.split(/\r?\n/);
  lines.forEach((l, i) => b.line(l, i + 1));
  return b.finish(opts.name ?? "jsonl");
}

/**
 * Parses JSON lines arriving in chunks (a web stream such as `file.stream()`,
 * or any async iterable of text or bytes), line by line. Lines end at LF or
 * CRLF; blank lines are skipped.
 */
export async function parseJsonlStream(source: TextChunks, opts: JsonlOptions = {}): Promise<Dataset> {
  const file = opts.file ?? "<stream>";
  const b = new JsonlBuilder(file, opts);
  let lineNo = 0;
  let rest = "";
  try {
    for await (const chunk of textChunks(source)) {
      rest += chunk;
      let start = 0;
      let nl: number;
      while ((nl = rest.indexOf("\n", start)) >= 0) {
        const end = nl > start && rest.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        b.line(rest.slice(start, end), ++lineNo);
        start = nl + 1;
      }
      rest = rest.slice(start);
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError({ file }, `cannot read the file: ${(e as Error).message}`);
  }
  if (rest !== "") b.line(rest.endsWith("\r") ? rest.slice(0, -1) : rest, ++lineNo);
  return b.finish(opts.name ?? "jsonl");
}
