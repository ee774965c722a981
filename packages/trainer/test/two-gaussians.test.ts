/**
 * The paper's Two-Gaussians experiment (see src/experiments/two-gaussians.ts):
 * 5 seeds x {SGD, Adam} at lr 1e-2, batch 1, K = 2 free GMM, up to 20000 steps.
 * Success = full-data NLL within 0.05 of the Monte Carlo optimum and both
 * true means recovered within 0.1 (optimal matching).
 */
import { describe, expect, it } from "vitest";
import { runTwoGaussians, twoGaussiansLogDensity, twoGaussiansOptimalNll } from "../src/index.js";

describe("Two-Gaussians: nGEM vs NLL", () => {
  it("optimal NLL estimate agrees with the analytic value", () => {
    const { mean, stderr } = twoGaussiansOptimalNll();
    // log 2 + log(2 pi 0.01) + E[chi^2_2]/2; the overlap of the components is ~e^-200
    const analytic = Math.log(2) + Math.log(2 * Math.PI * 0.01) + 1;
    expect(Math.abs(mean - analytic)).toBeLessThan(4 * stderr);
    expect(twoGaussiansLogDensity(1, 1)).toBeCloseTo(Math.log(0.5 / (2 * Math.PI * 0.01)), 12);
  });

  it("nGEM succeeds on at least as many seeds as NLL and needs fewer steps (median)", async () => {
    const { optimalNll, runs, summary } = await runTwoGaussians({ objectives: ["nll", "ngem"], optimizers: ["sgd", "adam"], seeds: [0, 1, 2, 3, 4] });
    console.log(`Two-Gaussians, optimal NLL (MC) = ${optimalNll.toFixed(4)}; success = NLL <= opt + 0.05 and both means within 0.1`);
    console.table(runs.map((r) => ({ ...r, nll: Number(r.nll.toFixed(4)), modeDistance: Number(r.modeDistance.toFixed(4)) })));
    console.table(summary);
    for (const opt of ["sgd", "adam"]) {
      const n = summary.find((s) => s.optimizer === opt && s.objective === "nll");
      const g = summary.find((s) => s.optimizer === opt && s.objective === "ngem");
      expect(n && g).toBeTruthy();
      if (!n || !g) return;
      expect(g.successes).toBeGreaterThanOrEqual(n.successes);
      expect(g.successes).toBeGreaterThan(0);
      // failures count as the full budget
      expect(g.medianStepsCensored).toBeLessThan(n.medianStepsCensored);
    }
  });
});
