/** Column selection shared by the CSV, NPY and JSON-lines loaders. */

/** A column by header name or 0-based index. */
export type ColumnRef = string | number;

/**
 * Resolves `x` / `y` column selections against `names`. Defaults: when both are
 * absent, y is the last column and x every other one; when one is given, the
 * other is every remaining column. Returns `undefined` + a message on failure.
 */
export function resolveColumns(
  names: readonly string[],
  x: readonly ColumnRef[] | undefined,
  y: readonly ColumnRef[] | undefined,
): { x: number[]; y: number[] } | { error: string; field: string } {
  const m = names.length;
  const resolveOne = (ref: ColumnRef): number | { error: string; field: string } => {
    if (typeof ref === "number") {
      if (!Number.isInteger(ref) || ref < 0 || ref >= m) {
        return { error: `column index ${ref} out of range: expected an integer in [0, ${m - 1}]`, field: String(ref) };
      }
      return ref;
    }
    const first = names.indexOf(ref);
    if (first < 0) {
      return { error: `no column named ${JSON.stringify(ref)}: expected one of ${names.map((s) => JSON.stringify(s)).join(", ")}`, field: ref };
    }
    if (names.indexOf(ref, first + 1) >= 0) {
      return { error: `column name ${JSON.stringify(ref)} is not unique: select it by index`, field: ref };
    }
    return first;
  };
  const resolveList = (refs: readonly ColumnRef[]): number[] | { error: string; field: string } => {
    const out: number[] = [];
    for (const r of refs) {
      const v = resolveOne(r);
      if (typeof v !== "number") return v;
      out.push(v);
    }
    return out;
  };
  let xi: number[];
  let yi: number[];
  if (x === undefined && y === undefined) {
    if (m < 1) return { error: "expected at least one column", field: "" };
    yi = [m - 1];
    xi = Array.from({ length: m - 1 }, (_, i) => i);
  } else {
    if (y !== undefined) {
      const r = resolveList(y);
      if (!Array.isArray(r)) return r;
      yi = r;
    } else yi = [];
    if (x !== undefined) {
      const r = resolveList(x);
      if (!Array.isArray(r)) return r;
      xi = r;
    } else {
      xi = Array.from({ length: m }, (_, i) => i).filter((i) => !yi.includes(i));
    }
    if (y === undefined) yi = Array.from({ length: m }, (_, i) => i).filter((i) => !xi.includes(i));
  }
  if (yi.length === 0) return { error: "expected at least one target (y) column, got none", field: "y" };
  // A column twice in a list, or in both lists, would train on duplicates or on the target itself.
  const label = (i: number) => (names[i] !== undefined && names[i] !== String(i) ? `${JSON.stringify(names[i])} (index ${i})` : `index ${i}`);
  for (const [which, list] of [
    ["x", xi],
    ["y", yi],
  ] as const) {
    const dup = list.find((v, j) => list.indexOf(v) !== j);
    if (dup !== undefined) return { error: `column ${label(dup)} is selected twice in the ${which} columns`, field: names[dup] ?? String(dup) };
  }
  const both = xi.find((v) => yi.includes(v));
  if (both !== undefined) return { error: `column ${label(both)} is selected as both an input (x) and a target (y)`, field: names[both] ?? String(both) };
  return { x: xi, y: yi };
}
