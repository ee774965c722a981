/** Messages between the page and a training worker. */
import type { TrainConfig } from "@ngem/trainer";

export interface PlainData {
  readonly name: string;
  readonly n: number;
  readonly xDim: number;
  readonly yDim: number;
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** Where the heatmap is drawn: p(y1, y2) for unconditional 2-D data, p(y | x) for 1-D x and y. */
export interface GridSpec {
  readonly mode: "joint2d" | "cond1d";
  /** Horizontal axis range (y1, or x). */
  readonly h0: number;
  readonly h1: number;
  /** Vertical axis range (y2, or y). */
  readonly v0: number;
  readonly v1: number;
  readonly nh: number;
  readonly nv: number;
}

export type ToWorker =
  | { type: "start"; config: TrainConfig; data: PlainData; grid: GridSpec | undefined; frames: number }
  | { type: "stop" }
  | { type: "export" }
  | { type: "load"; bytes: Uint8Array; data: PlainData | undefined; grid: GridSpec | undefined };

export interface Frame {
  readonly type: "frame";
  readonly step: number;
  readonly totalSteps: number;
  /** Full-data NLL (nats per point). */
  readonly nll: number;
  /** Minibatch NLLs of the steps since the last frame. */
  readonly losses: Float64Array;
  /** log density on the grid, row-major [nv, nh] (row 0 = v0), or undefined without a grid. */
  readonly logDensity?: Float32Array;
  /** joint2d: component means [K, 2]; cond1d: mean curves [K, nh]. */
  readonly means?: Float64Array;
  readonly k: number;
  readonly seconds: number;
}

export type FromWorker =
  | Frame
  | { type: "done"; step: number; nll: number; seconds: number; stopReason: string }
  | { type: "checkpoint"; bytes: Uint8Array }
  | { type: "loaded"; description: string }
  | { type: "error"; message: string };
