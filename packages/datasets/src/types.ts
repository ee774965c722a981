/**
 * The shape every loader and generator returns. The trainer and the CLI
 * consume exactly this interface.
 */

/** Per-column statistics of a standardisation: z = (v - mean) / std. */
export interface Normalization {
  /** Column means, length = number of columns. */
  readonly mean: Float64Array;
  /** Column standard deviations (a constant column stores max |v|, an all-zero column 1). */
  readonly std: Float64Array;
}

/** A numeric data set: inputs x [n, xDim] and targets y [n, yDim], row-major. */
export interface Dataset {
  readonly name: string;
  /** Rows. */
  readonly n: number;
  /** 0 for unconditional data (e.g. Two-Gaussians: a free GMM has no input). */
  readonly xDim: number;
  readonly yDim: number;
  /** [n, xDim] row-major (length 0 when xDim = 0). */
  readonly x: Float64Array;
  /** [n, yDim] row-major. */
  readonly y: Float64Array;
  readonly xNames: readonly string[];
  readonly yNames: readonly string[];
  /**
   * 1-based line of the source file where each row starts (CSV, JSON lines),
   * so errors about a row can name the line a user sees; absent for binary
   * files and generated data.
   */
  readonly rowLines?: Uint32Array;
  /** Rows a loader dropped because of missing values (`missing: "skip-row"`), when it was asked to. */
  readonly skippedRows?: number;
  /** Set when standardised; used to invert. */
  readonly normalization?: { readonly x?: Normalization; readonly y?: Normalization };
}
