import { describe, expect, it } from "vitest";
import { logsumexp, mixtureHead, NonFiniteError, nll, softmax, VARIANTS, type MixtureParams } from "../src/index.js";
import { randomMixture } from "./helpers.js";

function allFinite(r: ReturnType<typeof mixtureHead>): boolean {
  return Number.isFinite(r.loss) && Number.isFinite(r.negQ) && [r.grads.logits, r.grads.mu, r.grads.logSigma].every((g) => g.every((v) => Number.isFinite(v)));
}

describe("logsumexp edge cases", () => {
  it("is exact-ish for huge and tiny inputs and handles infinities", () => {
    expect(logsumexp([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 12);
    expect(logsumexp([-1000, -1000])).toBeCloseTo(-1000 + Math.log(2), 12);
    expect(logsumexp([])).toBe(-Infinity);
    expect(logsumexp([-Infinity, -Infinity])).toBe(-Infinity);
    expect(logsumexp([Infinity, 0])).toBe(Infinity);
    expect(Number.isNaN(logsumexp([0, NaN]))).toBe(true);
  });
  it("softmax of logits +-1e4 is a valid distribution", () => {
    const p = softmax([1e4, -1e4, 0], 1, 3);
    expect(p[0]).toBe(1);
    expect(p[1]).toBe(0);
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 15);
  });
});

describe("head stability on extreme inputs: finite NLL and gradients for every variant", () => {
  const cases: [string, () => { m: MixtureParams; y: Float64Array }][] = [
    [
      "logits +-1e4",
      () => {
        const { m, y } = randomMixture(1, 4, 3, 2);
        return { m: { ...m, logits: m.logits.map((_, i) => (i % 2 ? 1e4 : -1e4)) }, y };
      },
    ],
    [
      "sigma 1e-20 (s = log 1e-20)",
      () => {
        const { m, y } = randomMixture(2, 4, 3, 2);
        return { m: { ...m, logSigma: m.logSigma.map(() => Math.log(1e-20)) }, y };
      },
    ],
    [
      "sigma 1e20",
      () => {
        const { m, y } = randomMixture(3, 4, 3, 2);
        return { m: { ...m, logSigma: m.logSigma.map(() => Math.log(1e20)) }, y };
      },
    ],
    [
      "mixed sigma 1e-20 .. 1e20",
      () => {
        const { m, y } = randomMixture(4, 4, 3, 2);
        return { m: { ...m, logSigma: m.logSigma.map((_, i) => Math.log(i % 2 ? 1e-20 : 1e20)) }, y };
      },
    ],
    [
      "y far from every mean (1e8)",
      () => {
        const { m, y } = randomMixture(5, 4, 3, 2);
        return { m, y: y.map(() => 1e8) };
      },
    ],
    ["K = 1, D = 1", () => randomMixture(6, 5, 1, 1)],
    ["large D = 2048", () => randomMixture(7, 2, 3, 2048)],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      const { m, y } = make();
      for (const variant of VARIANTS) {
        for (const fisherCoords of ["log-sigma", "sigma"] as const) {
          const r = mixtureHead(m, y, { variant, fisherCoords });
          expect(allFinite(r), `${variant}/${fisherCoords}`).toBe(true);
        }
      }
    });
  }

  it("K = 1: rho = 1 and the logits gradient is exactly zero", () => {
    const { m, y } = randomMixture(8, 3, 1, 2);
    for (const variant of VARIANTS) expect(mixtureHead(m, y, { variant }).grads.logits.every((v) => v === 0)).toBe(true);
  });

  it("documented error: a density that underflows for every component (|y - mu|/sigma > 1e154) throws NonFiniteError naming the sample", () => {
    const m: MixtureParams = { n: 2, k: 1, d: 1, logits: new Float64Array(2), mu: new Float64Array(2), logSigma: new Float64Array([0, -400]) };
    const y = new Float64Array([0, 1e10]);
    expect(() => nll(m, y)).toThrow(NonFiniteError);
    expect(() => mixtureHead(m, y)).toThrow(/nll: non-finite value Infinity at flat index 1/);
  });
});
