/** Strict decimal number syntax (surrounding spaces allowed); no hex, no Infinity, no NaN. */
const NUMBER_RE = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Cell texts read as a missing value (compared after trimming, case-insensitive for letters). */
const MISSING = new Set(["", "na", "n/a", "nan", "null", "none", "?", "-", "--", "."]);

/** Result of {@link parseStrictNumber}: a number, or why the text is not one. */
export type NumberParse = { ok: true; value: number } | { ok: false; missing: boolean; reason: string };

/** Parses one cell as a finite float64, or explains why it cannot. */
export function parseStrictNumber(text: string): NumberParse {
  if (NUMBER_RE.test(text)) {
    const value = Number(text);
    if (Number.isFinite(value)) return { ok: true, value };
    return { ok: false, missing: false, reason: `expected a finite number, got ${JSON.stringify(text)} (out of float64 range)` };
  }
  const t = text.trim().toLowerCase();
  if (MISSING.has(t)) {
    return { ok: false, missing: true, reason: `expected a number, got a missing value${t === "" ? " (empty cell)" : ` (${JSON.stringify(text)})`}` };
  }
  return { ok: false, missing: false, reason: `expected a number, got ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}` };
}

/** True when `text` is a strict decimal number. */
export function isNumberText(text: string): boolean {
  return NUMBER_RE.test(text);
}

/**
 * Fast strict parse for the common case; returns NaN when the text needs the
 * full check ({@link parseStrictNumber}). Accepts exactly what the strict
 * syntax accepts when the text has no surrounding spaces: the first character
 * must be a digit, sign or dot, the last a digit or dot, and a leading 0 must
 * not start a 0x / 0b / 0o literal (the only other forms Number() takes).
 */
export function fastNumber(text: string): number {
  const n = text.length;
  if (n === 0) return Number.NaN;
  const c0 = text.charCodeAt(0);
  const cl = text.charCodeAt(n - 1);
  if (!((c0 >= 48 && c0 <= 57) || c0 === 45 || c0 === 43 || c0 === 46)) return Number.NaN;
  if (!((cl >= 48 && cl <= 57) || cl === 46)) return Number.NaN;
  if (c0 === 48 && n > 2) {
    const c1 = text.charCodeAt(1) | 32;
    if (c1 === 120 || c1 === 98 || c1 === 111) return Number.NaN;
  }
  const v = +text;
  return v - v === 0 ? v : Number.NaN; // NaN for NaN and +-Infinity
}
