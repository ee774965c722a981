/**
 * The shape every loader and generator returns. The trainer and the CLI
 * consume exactly this interface.
 */

import type { Normalization, NumericData } from "@ngem/core";

export type { Normalization };

/** A numeric data set: inputs x [n, xDim] and targets y [n, yDim], row-major. */
export interface Dataset extends NumericData {
  readonly name: string;
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
}
