/**
 * Steady-state step timing shared by the benchmarks (bench/run.mjs, `ngem bench`,
 * the package benches): browser-safe, no Node APIs.
 *
 * Method (issue 16): each runner (say an NLL model and an nGEM model of the same
 * spec) is stepped in alternating windows of `window` steps, so machine noise hits
 * every runner alike; every step is timed on its own. The first `warmup` steps of each
 * runner (>= 20) are warm-up: JIT tiering, memory growth, and the first optimizer steps,
 * where values can be transiently extreme. Reported per runner: the median and p90 step
 * time after warm-up, and the stall figure = mean(steps 1-10) / median(steps 20-49)
 * (1-based), which is ~1 when nothing stalls early on (NaN with fewer than 49 steps).
 */

export interface StepRunner {
  readonly label: string;
  /** One step; its promise settles when the step is done. */
  step(): Promise<unknown> | unknown;
}

export interface SteadyOptions {
  /** Warm-up steps per runner, excluded from median and p90 (default and minimum 20). */
  readonly warmup?: number;
  /** Steps per window before switching to the next runner (default 5). */
  readonly window?: number;
  /** Minimum steps per runner (default 50, so steps 20-49 exist for the stall figure). */
  readonly minSteps?: number;
  /** Minimum wall time in seconds over all runners, warm-up included (default 2). */
  readonly seconds?: number;
  /** Cap on steps per runner (default 100 000). */
  readonly maxSteps?: number;
  /** Called after each window (progress output). */
  readonly onWindow?: (label: string, steps: number) => void;
}

export interface SteadyResult {
  readonly label: string;
  /** Steps timed (warm-up included). */
  readonly steps: number;
  /** Median / p90 step time after warm-up, ms. */
  readonly medianMs: number;
  readonly p90Ms: number;
  /** mean(steps 1-10) / median(steps 20-49); NaN when fewer than 49 steps were run. */
  readonly stall: number;
  /** Mean of steps 1-10, ms. */
  readonly firstTenMs: number;
  /** Every step time, ms (index 0 = step 1). */
  readonly times: readonly number[];
}

/** q-quantile (0..1) of `xs` by linear interpolation (xs need not be sorted). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** Summary of one runner's step times (ms, index 0 = step 1). */
export function summarizeSteps(label: string, times: readonly number[], warmup = 20): SteadyResult {
  const after = times.slice(warmup);
  const first = times.slice(0, 10);
  const mid = times.slice(19, 49);
  const firstTenMs = first.reduce((a, b) => a + b, 0) / Math.max(1, first.length);
  return {
    label,
    steps: times.length,
    medianMs: quantile(after, 0.5),
    p90Ms: quantile(after, 0.9),
    stall: times.length >= 49 ? firstTenMs / quantile(mid, 0.5) : NaN,
    firstTenMs,
    times,
  };
}

/** Times the runners in alternating windows (see the module comment). */
export async function measureInterleaved(runners: readonly StepRunner[], opts: SteadyOptions = {}): Promise<SteadyResult[]> {
  const warmup = Math.max(20, opts.warmup ?? 20);
  const window = Math.max(1, opts.window ?? 5);
  const minSteps = Math.max(warmup + 1, opts.minSteps ?? 50);
  const maxSteps = opts.maxSteps ?? 100_000;
  const budgetMs = (opts.seconds ?? 2) * 1000;
  const times: number[][] = runners.map(() => []);
  const t0 = performance.now();
  for (;;) {
    const enough = times.every((t) => t.length >= minSteps) && performance.now() - t0 >= budgetMs;
    if (enough || times.every((t) => t.length >= maxSteps)) break;
    for (let r = 0; r < runners.length; r++) {
      const runner = runners[r] as StepRunner;
      const ts = times[r] as number[];
      for (let i = 0; i < window && ts.length < maxSteps; i++) {
        const s = performance.now();
        await runner.step();
        ts.push(performance.now() - s);
      }
      opts.onWindow?.(runner.label, ts.length);
    }
  }
  return runners.map((r, i) => summarizeSteps(r.label, times[i] as number[], warmup));
}
