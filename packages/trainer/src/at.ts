/**
 * Checked element access for lookups the type-checker cannot prove in range
 * (`noUncheckedIndexedAccess`): a row of an array of arrays, an entry of a
 * short list. Tight numeric loops over typed arrays keep the `(a[i] as number)`
 * idiom instead.
 */

/** `a[i]`, or a RangeError naming `what` and the index when there is no such element. */
export function at<T>(a: ArrayLike<T>, i: number, what: string): T {
  const v = a[i];
  if (v === undefined) throw new RangeError(`${what}[${i}]: out of range (length ${a.length})`);
  return v;
}
