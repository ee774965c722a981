/**
 * The paper's synthetic tasks, seeded by core's {@link Rng}, each with its
 * true density so that tests and plots can compare a fit with the truth.
 *
 * | task            | x                 | y                                                   |
 * |-----------------|-------------------|-----------------------------------------------------|
 * | two-gaussians   | none (xDim 0)     | 0.5 N((1,1), 0.1^2 I) + 0.5 N((-1,-1), 0.1^2 I)      |
 * | inverse-sine    | y + 0.3 sin(2 pi y) + U(-0.1, 0.1) | y ~ U(0, 1); learn p(y | x)         |
 * | two-sinusoids   | U(-pi, pi)        | +-sin(x) (prob 1/2 each) + N(0, 0.05^2)              |
 * | ring            | none (xDim 0)     | radius N(1, 0.05^2), angle U(0, 2 pi)               |
 * | spiral          | t ~ U(0, 1)       | +-(0.2 + t)(cos 3 pi t, sin 3 pi t) + N(0, 0.05^2 I) |
 * | heteroscedastic | U(-3, 3)          | sin(x) + (0.05 + 0.1 |x|) N(0, 1)                   |
 */
import { HALF_LOG_2PI, Rng, checkInt, type MixtureParams } from "@ngem/core";
import type { Dataset } from "./types.js";

/** Names of the synthetic tasks. */
export type SyntheticTaskName = "two-gaussians" | "inverse-sine" | "two-sinusoids" | "ring" | "spiral" | "heteroscedastic";

/** Options of a generator. */
export interface GenerateOptions {
  /** Seed of the {@link Rng} stream (default 0). The same seed gives identical data. */
  readonly seed?: number;
  /** Rows (default: the task's `defaultN`). */
  readonly n?: number;
}

/** A synthetic task: a seeded generator plus its true (conditional) density. */
export interface SyntheticTask {
  readonly name: SyntheticTaskName;
  /** One line: the generative process. */
  readonly description: string;
  readonly xDim: number;
  readonly yDim: number;
  readonly defaultN: number;
  /** Mixture components a model needs to represent the truth (the paper's K). */
  readonly suggestedK: number;
  /** Draws a data set. */
  generate(opts?: GenerateOptions): Dataset;
  /**
   * True log p(y | x) for each of the `n` rows of `x` [n, xDim] and `y` [n, yDim]
   * (log p(y) when xDim = 0; `x` is then ignored). -Infinity outside the support.
   */
  logDensity(x: ArrayLike<number>, y: ArrayLike<number>, n: number): Float64Array;
  /** The true conditional as an exact diagonal-Gaussian mixture per row of `x`, when it is one. */
  trueMixture?(x: ArrayLike<number>, n: number): MixtureParams;
}

const LOG_2PI = Math.log(2 * Math.PI);

function rowsOf(opts: GenerateOptions | undefined, def: number): { rng: Rng; n: number } {
  const n = opts?.n ?? def;
  checkInt("n", n, 1);
  return { rng: new Rng(opts?.seed ?? 0), n };
}

function logNormal(v: number, mean: number, sigma: number): number {
  const z = (v - mean) / sigma;
  return -0.5 * z * z - Math.log(sigma) - HALF_LOG_2PI;
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

// ---------------------------------------------------------------------------
// Two-Gaussians

/** Component means of Two-Gaussians, [[1, 1], [-1, -1]]. */
export const TWO_GAUSSIANS_MEANS: readonly (readonly [number, number])[] = [
  [1, 1],
  [-1, -1],
];
/** Component standard deviation of Two-Gaussians (isotropic). */
export const TWO_GAUSSIANS_SIGMA = 0.1;

/**
 * Optimal NLL reference of Two-Gaussians: the expected NLL of the true
 * density, E[-log p(y)] = H(p) (nats per point). The components are 28 sigma
 * apart, so the mixture entropy equals log 2 + H(N(0, 0.1^2 I_2)) =
 * log 2 + 1 + log(2 pi 0.1^2) up to a correction below 1e-150:
 * -1.0741459... . (A test checks it against a seeded 200k-sample Monte Carlo.)
 * A finite sample of 100 points has its own empirical NLL around this value.
 */
export const TWO_GAUSSIANS_OPTIMAL_NLL = Math.log(2) + 1 + LOG_2PI + 2 * Math.log(TWO_GAUSSIANS_SIGMA);

function twoGaussiansMixture(n: number): MixtureParams {
  const logits = new Float64Array(n * 2);
  const mu = new Float64Array(n * 4);
  const logSigma = new Float64Array(n * 4).fill(Math.log(TWO_GAUSSIANS_SIGMA));
  for (let i = 0; i < n; i++) mu.set([1, 1, -1, -1], i * 4);
  return { n, k: 2, d: 2, logits, mu, logSigma };
}

const twoGaussians: SyntheticTask = {
  name: "two-gaussians",
  description: "0.5 N((1,1), 0.1^2 I) + 0.5 N((-1,-1), 0.1^2 I) in R^2, no input (xDim 0)",
  xDim: 0,
  yDim: 2,
  defaultN: 100,
  suggestedK: 2,
  generate(opts) {
    const { rng, n } = rowsOf(opts, 100);
    const y = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      const m = TWO_GAUSSIANS_MEANS[rng.uniform() < 0.5 ? 0 : 1] as readonly [number, number];
      y[2 * i] = m[0] + TWO_GAUSSIANS_SIGMA * rng.normal();
      y[2 * i + 1] = m[1] + TWO_GAUSSIANS_SIGMA * rng.normal();
    }
    return { name: "two-gaussians", n, xDim: 0, yDim: 2, x: new Float64Array(0), y, xNames: [], yNames: ["y0", "y1"] };
  },
  logDensity(_x, y, n) {
    const out = new Float64Array(n);
    const s = TWO_GAUSSIANS_SIGMA;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i] as number;
      const b = y[2 * i + 1] as number;
      const l0 = logNormal(a, 1, s) + logNormal(b, 1, s);
      const l1 = logNormal(a, -1, s) + logNormal(b, -1, s);
      out[i] = logAddExp(l0, l1) - Math.log(2);
    }
    return out;
  },
  trueMixture(_x, n) {
    return twoGaussiansMixture(n);
  },
};

// ---------------------------------------------------------------------------
// Inverse sine (Bishop 1994)

/** Forward map of the inverse-sine task: g(y) = y + 0.3 sin(2 pi y). */
export function inverseSineForward(y: number): number {
  return y + 0.3 * Math.sin(2 * Math.PI * y);
}

/** Half-width of the uniform input noise of inverse-sine. */
export const INVERSE_SINE_NOISE = 0.1;

// g'(y) = 1 + 0.6 pi cos(2 pi y) = 0 at cos(2 pi y) = -1/(0.6 pi): g is monotone on [0,c1], [c1,c2], [c2,1].
const C1 = Math.acos(-1 / (0.6 * Math.PI)) / (2 * Math.PI);
const C2 = 1 - C1;

function solveMonotone(a: number, b: number, target: number): number | undefined {
  let fa = inverseSineForward(a) - target;
  const fb = inverseSineForward(b) - target;
  if (fa === 0) return a;
  if (fb === 0) return b;
  if (fa * fb > 0) return undefined;
  let lo = a;
  let hi = b;
  for (let it = 0; it < 80 && hi - lo > 1e-15; it++) {
    const mid = 0.5 * (lo + hi);
    const fm = inverseSineForward(mid) - target;
    if (fm * fa <= 0) hi = mid;
    else {
      lo = mid;
      fa = fm;
    }
  }
  return 0.5 * (lo + hi);
}

/**
 * Support of p(y | x) for inverse-sine: the set {y in (0,1) : |x - g(y)| < 0.1}
 * as sorted disjoint intervals. p(y | x) is uniform on it (y is uniform and the
 * noise density is flat), with density 1 / (total length). g rises to
 * 0.5933 at y = 0.3390, falls to 0.4067 at y = 0.6610, then rises again, so the
 * support is two disjoint intervals (a bimodal conditional) for x in
 * (0.3067, 0.4933) or (0.5067, 0.6933), and one interval elsewhere (the
 * +-0.1 noise is wider than the 0.187 dip, so three pieces never occur).
 */
export function inverseSineSupport(x: number): [number, number][] {
  const lo = x - INVERSE_SINE_NOISE;
  const hi = x + INVERSE_SINE_NOISE;
  const pts = [0, C1, C2, 1];
  const pieces: [number, number][] = [
    [0, C1],
    [C1, C2],
    [C2, 1],
  ];
  for (const [a, b] of pieces) {
    for (const t of [lo, hi]) {
      const r = solveMonotone(a, b, t);
      if (r !== undefined) pts.push(r);
    }
  }
  pts.sort((p, q) => p - q);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i] as number;
    const b = pts[i + 1] as number;
    if (b - a <= 0) continue;
    const g = inverseSineForward(0.5 * (a + b));
    if (g > lo && g < hi) {
      const last = out[out.length - 1];
      if (last && last[1] === a) last[1] = b;
      else out.push([a, b]);
    }
  }
  return out;
}

const inverseSine: SyntheticTask = {
  name: "inverse-sine",
  description: "y ~ U(0,1), x = y + 0.3 sin(2 pi y) + U(-0.1, 0.1); learn p(y | x) (Bishop 1994)",
  xDim: 1,
  yDim: 1,
  defaultN: 1000,
  suggestedK: 3,
  generate(opts) {
    const { rng, n } = rowsOf(opts, 1000);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const yi = rng.uniform();
      y[i] = yi;
      x[i] = inverseSineForward(yi) + (2 * rng.uniform() - 1) * INVERSE_SINE_NOISE;
    }
    return { name: "inverse-sine", n, xDim: 1, yDim: 1, x, y, xNames: ["x"], yNames: ["y"] };
  },
  logDensity(x, y, n) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      const yi = y[i] as number;
      const sup = inverseSineSupport(xi);
      let len = 0;
      let inside = false;
      for (const [a, b] of sup) {
        len += b - a;
        if (yi > a && yi < b) inside = true;
      }
      out[i] = inside && len > 0 ? -Math.log(len) : -Infinity;
    }
    return out;
  },
};

// ---------------------------------------------------------------------------
// Two sinusoids

/** Noise standard deviation of two-sinusoids. */
export const TWO_SINUSOIDS_NOISE = 0.05;

/**
 * Two-sinusoids rows, x ~ U(-pi, pi), y = s sin(x) + N(0, noise^2), drawn from
 * `new Rng(seed)`; the built-in task is `noise` = {@link TWO_SINUSOIDS_NOISE}.
 */
export function twoSinusoidsData(n: number, seed: number, noise = TWO_SINUSOIDS_NOISE): Dataset {
  checkInt("n", n, 1);
  const rng = new Rng(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const xi = (2 * rng.uniform() - 1) * Math.PI;
    const s = rng.uniform() < 0.5 ? 1 : -1;
    x[i] = xi;
    y[i] = s * Math.sin(xi) + noise * rng.normal();
  }
  return { name: "two-sinusoids", n, xDim: 1, yDim: 1, x, y, xNames: ["x"], yNames: ["y"] };
}

/** log p(y | x) of two-sinusoids with noise sd `noise` (default the built-in task's). */
export function twoSinusoidsLogDensity(x: ArrayLike<number>, y: ArrayLike<number>, n: number, noise = TWO_SINUSOIDS_NOISE): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.sin(x[i] as number);
    const yi = y[i] as number;
    out[i] = logAddExp(logNormal(yi, s, noise), logNormal(yi, -s, noise)) - Math.log(2);
  }
  return out;
}

const twoSinusoids: SyntheticTask = {
  name: "two-sinusoids",
  description: "x ~ U(-pi, pi), y = s sin(x) + N(0, 0.05^2), s = +1 or -1 with probability 1/2",
  xDim: 1,
  yDim: 1,
  defaultN: 1000,
  suggestedK: 2,
  generate(opts) {
    return twoSinusoidsData(opts?.n ?? 1000, opts?.seed ?? 0);
  },
  logDensity(x, y, n) {
    return twoSinusoidsLogDensity(x, y, n);
  },
  trueMixture(x, n) {
    const logits = new Float64Array(n * 2);
    const mu = new Float64Array(n * 2);
    const logSigma = new Float64Array(n * 2).fill(Math.log(TWO_SINUSOIDS_NOISE));
    for (let i = 0; i < n; i++) {
      const s = Math.sin(x[i] as number);
      mu[2 * i] = s;
      mu[2 * i + 1] = -s;
    }
    return { n, k: 2, d: 1, logits, mu, logSigma };
  },
};

// ---------------------------------------------------------------------------
// Ring

/** Mean radius and radial standard deviation of the ring. */
export const RING_RADIUS = 1;
export const RING_WIDTH = 0.05;

const ring: SyntheticTask = {
  name: "ring",
  description: "y = r (cos a, sin a), r ~ N(1, 0.05^2), a ~ U(0, 2 pi); no input (xDim 0)",
  xDim: 0,
  yDim: 2,
  defaultN: 1000,
  suggestedK: 8,
  generate(opts) {
    const { rng, n } = rowsOf(opts, 1000);
    const y = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      const a = 2 * Math.PI * rng.uniform();
      const r = RING_RADIUS + RING_WIDTH * rng.normal();
      y[2 * i] = r * Math.cos(a);
      y[2 * i + 1] = r * Math.sin(a);
    }
    return { name: "ring", n, xDim: 0, yDim: 2, x: new Float64Array(0), y, xNames: [], yNames: ["y0", "y1"] };
  },
  // Polar change of variables: p(y) = [N(rho; 1, s^2) + N(-rho; 1, s^2)] / (2 pi rho), rho = |y|
  // (the second term accounts for a negative radius draw; it is ~e^-800 here).
  logDensity(_x, y, n) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const rho = Math.hypot(y[2 * i] as number, y[2 * i + 1] as number);
      out[i] = rho > 0 ? logAddExp(logNormal(rho, RING_RADIUS, RING_WIDTH), logNormal(-rho, RING_RADIUS, RING_WIDTH)) - LOG_2PI - Math.log(rho) : -Infinity;
    }
    return out;
  },
};

// ---------------------------------------------------------------------------
// Spiral (two arms, conditioned on the position t along the arm)

/** Isotropic noise of the spiral. */
export const SPIRAL_NOISE = 0.05;

/** Centre of arm 0 of the spiral at position t: (0.2 + t)(cos 3 pi t, sin 3 pi t); arm 1 is its negation. */
export function spiralCentre(t: number): [number, number] {
  const r = 0.2 + t;
  const a = 3 * Math.PI * t;
  return [r * Math.cos(a), r * Math.sin(a)];
}

const spiral: SyntheticTask = {
  name: "spiral",
  description: "t ~ U(0,1), y = s (0.2 + t)(cos 3 pi t, sin 3 pi t) + N(0, 0.05^2 I), s = +-1 w.p. 1/2 (two arms); learn p(y | t)",
  xDim: 1,
  yDim: 2,
  defaultN: 2000,
  suggestedK: 2,
  generate(opts) {
    const { rng, n } = rowsOf(opts, 2000);
    const x = new Float64Array(n);
    const y = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      const t = rng.uniform();
      const s = rng.uniform() < 0.5 ? 1 : -1;
      const [c0, c1] = spiralCentre(t);
      x[i] = t;
      y[2 * i] = s * c0 + SPIRAL_NOISE * rng.normal();
      y[2 * i + 1] = s * c1 + SPIRAL_NOISE * rng.normal();
    }
    return { name: "spiral", n, xDim: 1, yDim: 2, x, y, xNames: ["t"], yNames: ["y0", "y1"] };
  },
  logDensity(x, y, n) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [c0, c1] = spiralCentre(x[i] as number);
      const a = y[2 * i] as number;
      const b = y[2 * i + 1] as number;
      const l0 = logNormal(a, c0, SPIRAL_NOISE) + logNormal(b, c1, SPIRAL_NOISE);
      const l1 = logNormal(a, -c0, SPIRAL_NOISE) + logNormal(b, -c1, SPIRAL_NOISE);
      out[i] = logAddExp(l0, l1) - Math.log(2);
    }
    return out;
  },
  trueMixture(x, n) {
    const logits = new Float64Array(n * 2);
    const mu = new Float64Array(n * 4);
    const logSigma = new Float64Array(n * 4).fill(Math.log(SPIRAL_NOISE));
    for (let i = 0; i < n; i++) {
      const [c0, c1] = spiralCentre(x[i] as number);
      mu.set([c0, c1, -c0, -c1], 4 * i);
    }
    return { n, k: 2, d: 2, logits, mu, logSigma };
  },
};

// ---------------------------------------------------------------------------
// Heteroscedastic 1-D

/** Noise scale of the heteroscedastic task: sigma(x) = 0.05 + 0.1 |x|. */
export function heteroscedasticSigma(x: number): number {
  return 0.05 + 0.1 * Math.abs(x);
}

const heteroscedastic: SyntheticTask = {
  name: "heteroscedastic",
  description: "x ~ U(-3, 3), y = sin(x) + (0.05 + 0.1 |x|) N(0, 1)",
  xDim: 1,
  yDim: 1,
  defaultN: 1000,
  suggestedK: 1,
  generate(opts) {
    const { rng, n } = rowsOf(opts, 1000);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const xi = (2 * rng.uniform() - 1) * 3;
      x[i] = xi;
      y[i] = Math.sin(xi) + heteroscedasticSigma(xi) * rng.normal();
    }
    return { name: "heteroscedastic", n, xDim: 1, yDim: 1, x, y, xNames: ["x"], yNames: ["y"] };
  },
  logDensity(x, y, n) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      out[i] = logNormal(y[i] as number, Math.sin(xi), heteroscedasticSigma(xi));
    }
    return out;
  },
  trueMixture(x, n) {
    const mu = new Float64Array(n);
    const logSigma = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      mu[i] = Math.sin(xi);
      logSigma[i] = Math.log(heteroscedasticSigma(xi));
    }
    return { n, k: 1, d: 1, logits: new Float64Array(n), mu, logSigma };
  },
};

/** The synthetic tasks by name. */
export const syntheticTasks: Readonly<Record<SyntheticTaskName, SyntheticTask>> = Object.freeze({
  "two-gaussians": twoGaussians,
  "inverse-sine": inverseSine,
  "two-sinusoids": twoSinusoids,
  ring,
  spiral,
  heteroscedastic,
});
