/**
 * The data contract every package shares: a numeric data set and the
 * statistics of its standardisation. `@ngem/datasets`' `Dataset` extends
 * {@link NumericData} with column names and source lines; `@ngem/trainer`
 * trains on any {@link NumericData}.
 */

/** Per-column statistics of a standardisation: z = (v - mean) / std. */
export interface Normalization {
  /** Column means, length = number of columns. */
  readonly mean: Float64Array;
  /** Column standard deviations (a constant column stores max |v|, an all-zero column 1). */
  readonly std: Float64Array;
}

/**
 * A numeric data set: inputs x [n, xDim] and targets y [n, yDim], row-major.
 * `xDim = 0` for unconditional data (a free GMM). When `normalization` is
 * set, x and y are already standardised and the statistics map predictions
 * back to original units (the trainer stores them in checkpoints).
 */
export interface NumericData {
  readonly name?: string;
  /** Rows. */
  readonly n: number;
  /** 0 for unconditional data (e.g. Two-Gaussians: a free GMM has no input). */
  readonly xDim: number;
  readonly yDim: number;
  /** [n, xDim] row-major (length 0 when xDim = 0). */
  readonly x: Float64Array;
  /** [n, yDim] row-major. */
  readonly y: Float64Array;
  /** Set when standardised; used to invert. */
  readonly normalization?: { readonly x?: Normalization; readonly y?: Normalization };
}
