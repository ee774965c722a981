/**
 * Errors raised by ngem. Every error names the argument (or tensor) at fault
 * and, for shapes, what was expected, so a user can fix the call without
 * reading the source.
 */

/** Base class of every error thrown on purpose by ngem packages. */
export class NgemError extends Error {
  override readonly name: string = "NgemError";
}

/** An argument has the wrong length/shape, or a size is out of range. */
export class ShapeError extends NgemError {
  override readonly name = "ShapeError";
  constructor(
    /** The argument at fault, e.g. `"mu"`. */
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

/** An input or a computed tensor holds NaN or +-Infinity. */
export class NonFiniteError extends NgemError {
  override readonly name = "NonFiniteError";
  constructor(
    /** The tensor at fault, e.g. `"logSigma"` or `"head.weight"`. */
    readonly tensor: string,
    /** Flat index of the first bad element. */
    readonly index: number,
    readonly value: number,
    detail = "",
    /** The batch row (0-based) of the bad element, when the tensor is row-major over a batch. */
    readonly row?: number,
  ) {
    super(`${tensor}: non-finite value ${value} at flat index ${index}${detail ? ` (${detail})` : ""}`);
  }
}

/** A backend was asked for by name but cannot be used here. */
export class BackendUnavailableError extends NgemError {
  override readonly name = "BackendUnavailableError";
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend "${backend}" is not available: ${reason}`);
  }
}

/** Asserts `value` is an integer >= `min`; names `argument` otherwise. */
export function checkInt(argument: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ShapeError(argument, `expected an integer >= ${min}, got ${String(value)}`);
  }
}

/** Asserts `array.length === expected`, describing the expected shape. */
export function checkLength(argument: string, array: ArrayLike<number> | undefined | null, dims: readonly [string, number][]): void {
  const expected = dims.reduce((p, [, v]) => p * v, 1);
  const shape = `[${dims.map(([n]) => n).join(", ")}] = [${dims.map(([, v]) => v).join(", ")}]`;
  if (array == null || typeof array.length !== "number") {
    throw new ShapeError(argument, `expected a typed array of shape ${shape}, got ${String(array)}`);
  }
  if (array.length !== expected) {
    throw new ShapeError(argument, `expected shape ${shape} (length ${expected}), got length ${array.length}`);
  }
}

/** Asserts every element is finite; names the tensor and the first bad index. */
export function checkFinite(tensor: string, array: ArrayLike<number>): void {
  for (let i = 0; i < array.length; i++) {
    const v = array[i] as number;
    if (!Number.isFinite(v)) throw new NonFiniteError(tensor, i, v);
  }
}

/**
 * Asserts every element of a row-major [rows, width] tensor is finite; the
 * error names the tensor, the row and the column of the first bad element
 * (and carries `row`).
 */
export function checkFiniteRows(tensor: string, array: ArrayLike<number>, width: number): void {
  for (let i = 0; i < array.length; i++) {
    const v = array[i] as number;
    if (!Number.isFinite(v)) {
      const row = Math.floor(i / width);
      throw new NonFiniteError(tensor, i, v, `row ${row}, column ${i - row * width}`, row);
    }
  }
}

/** Index of the first non-finite element, or -1. */
export function firstNonFinite(array: ArrayLike<number>): number {
  for (let i = 0; i < array.length; i++) {
    if (!Number.isFinite(array[i] as number)) return i;
  }
  return -1;
}
