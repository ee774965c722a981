/**
 * A small test runner for the parity suite outside vitest (a browser page, a
 * Node child process): collects describe/it, runs the cases one by one and
 * reports each result plus the worst normwise relative error the suite
 * measured (through core's setParityObserver). Also a short training run.
 */
import type { Backend } from "@ngem/core";
import { runParitySuite, setParityObserver } from "@ngem/core/testing";
import { train } from "@ngem/trainer";
import { loadBuiltin } from "@ngem/datasets";

export interface CaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly ms: number;
}

export interface ParityReport {
  readonly label: string;
  readonly backend?: string;
  readonly precision?: string;
  readonly passed: number;
  readonly failed: number;
  readonly results: CaseResult[];
  /** Largest normwise relative error of any compared array, with its tag and tolerance. */
  readonly worst: { what: string; error: number; rtol: number };
  /** Largest error as a fraction of its tolerance. */
  readonly worstRatio: { what: string; error: number; rtol: number };
  readonly ms: number;
}

/** Runs the parity suite on the backend `load` returns, every case, one by one. */
export async function runParity(label: string, load: () => Promise<Backend>): Promise<ParityReport> {
  const cases: { name: string; fn: () => Promise<void> | void }[] = [];
  const stack: string[] = [];
  runParitySuite(
    {
      describe(name, fn) {
        stack.push(name);
        fn();
        stack.pop();
      },
      it(name, fn) {
        cases.push({ name: [...stack, name].join(" > "), fn });
      },
    },
    load,
    { label },
  );
  let worst = { what: "", error: 0, rtol: 1 };
  let worstRatio = { what: "", error: 0, rtol: 1 };
  const t0 = performance.now();
  const results: CaseResult[] = [];
  let current = "";
  setParityObserver((what, error, rtol) => {
    const tag = `${current} :: ${what}`;
    if (error > worst.error) worst = { what: tag, error, rtol };
    if (error / rtol > worstRatio.error / worstRatio.rtol) worstRatio = { what: tag, error, rtol };
  });
  try {
    for (const c of cases) {
      current = c.name;
      const s = performance.now();
      try {
        await c.fn();
        results.push({ name: c.name, ok: true, ms: performance.now() - s });
      } catch (e) {
        results.push({ name: c.name, ok: false, error: e instanceof Error ? e.message : String(e), ms: performance.now() - s });
      }
    }
  } finally {
    setParityObserver(undefined);
  }
  let backend: string | undefined;
  let precision: string | undefined;
  try {
    const b = await load();
    backend = b.name;
    precision = b.precision;
  } catch {
    // reported by the first case
  }
  const failed = results.filter((r) => !r.ok).length;
  return { label, backend, precision, passed: results.length - failed, failed, results, worst, worstRatio, ms: performance.now() - t0 };
}

export interface TrainReport {
  readonly backend: string;
  readonly steps: number;
  readonly firstNll: number;
  readonly finalNll: number;
  readonly seconds: number;
}

/** Two-Gaussians (n = 100, K = 2 free GMM), nGEM + Adam, full batch: a short run. */
export async function shortTrain(backend: string, steps = 200): Promise<TrainReport> {
  const data = loadBuiltin("two-gaussians", { seed: 1 });
  const t0 = performance.now();
  const { history } = await train(
    { model: { kind: "gmm", k: 2 }, objective: "ngem", optimizer: { type: "adam", lr: 0.05 }, batchSize: 100, steps, seed: 7, validationSplit: 0, backend },
    data,
  );
  const s = history.steps;
  return { backend, steps: s.length, firstNll: s[0]?.loss ?? NaN, finalNll: s[s.length - 1]?.loss ?? NaN, seconds: (performance.now() - t0) / 1000 };
}
