import { describe, expect, it } from "vitest";
import { getBackend, initWeights, logProb, mixtureHead, NonFiniteError, registerBackend, ShapeError, type MixtureParams } from "../src/index.js";

const good = (): MixtureParams => ({ n: 2, k: 3, d: 2, logits: new Float64Array(6), mu: new Float64Array(12), logSigma: new Float64Array(12) });
const y = new Float64Array(4);

describe("bad input gets an error naming the argument and the expected shape", () => {
  it("mismatched shapes", () => {
    expect(() => mixtureHead({ ...good(), mu: new Float64Array(11) }, y)).toThrow(
      /^mu: expected shape \[N, K, D\] = \[2, 3, 2\] \(length 12\), got length 11$/,
    );
    expect(() => mixtureHead({ ...good(), logits: new Float64Array(5) }, y)).toThrow(/logits: expected shape \[N, K\] = \[2, 3\]/);
    expect(() => mixtureHead({ ...good(), logSigma: new Float64Array(13) }, y)).toThrow(/logSigma: .*length 12/);
    expect(() => mixtureHead(good(), new Float64Array(5))).toThrow(/y: expected shape \[N, D\] = \[2, 2\]/);
    expect(() => mixtureHead(good(), y)).not.toThrow();
  });

  it("K < 1, D < 1, N < 1, non-integers", () => {
    expect(() => mixtureHead({ ...good(), k: 0 }, y)).toThrow(ShapeError);
    expect(() => mixtureHead({ ...good(), k: 0 }, y)).toThrow(/^k: expected an integer >= 1, got 0$/);
    expect(() => mixtureHead({ ...good(), d: 0 }, y)).toThrow(/^d: /);
    expect(() => mixtureHead({ ...good(), n: 1.5 }, y)).toThrow(/^n: /);
  });

  it("non-finite parameters name the tensor and index", () => {
    const m = good();
    (m.mu as Float64Array)[5] = NaN;
    expect(() => logProb(m, y)).toThrow(NonFiniteError);
    expect(() => logProb(m, y)).toThrow(/^mu: non-finite value NaN at flat index 5$/);
    const m2 = good();
    (m2.logSigma as Float64Array)[0] = Infinity;
    expect(() => mixtureHead(m2, y)).toThrow(/^logSigma: non-finite value Infinity/);
    expect(() => mixtureHead(good(), new Float64Array([0, 0, -Infinity, 0]))).toThrow(/^y: non-finite/);
  });

  it("bad options", () => {
    expect(() => mixtureHead(good(), y, { variant: "adam" as never })).toThrow(/variant: expected one of nll \| em \| ngem \| ngem-full/);
    expect(() => mixtureHead(good(), y, { piFloor: 0 })).toThrow(/piFloor/);
    expect(() => mixtureHead(good(), y, { fisherCoords: "mu" as never })).toThrow(/fisherCoords/);
  });

  it("bad model specs name the field", () => {
    expect(() => initWeights({ kind: "mdn", inputDim: 1, hidden: [4, 0], activation: "gelu", layerNorm: false, k: 2, d: 1 })).toThrow(/spec\.hidden\[1\]/);
    expect(() => initWeights({ kind: "mdn", inputDim: 1, hidden: [4], activation: "swish" as never, layerNorm: false, k: 2, d: 1 })).toThrow(
      /spec\.activation/,
    );
    expect(() => initWeights({ kind: "gmm", k: 0, d: 1 })).toThrow(/spec\.k/);
  });
});

describe("backend registry fails loudly", () => {
  it("unknown names list what is registered and say what to install", async () => {
    await expect(getBackend("wasm-nope")).rejects.toThrow(/backend "wasm-nope" is not available: no backend registered.*js/);
    await expect(getBackend("tfjs-gpu")).rejects.toThrow(/@ngem\/backend-tfjs/);
  });
  it("a loader that throws gives the reason, and a later retry can succeed", async () => {
    let fail = true;
    registerBackend("flaky", async () => {
      if (fail) throw new Error("libfoo.so missing");
      return (await getBackend("js")) as never;
    });
    await expect(getBackend("flaky")).rejects.toThrow(/backend "flaky" is not available: libfoo\.so missing/);
    fail = false;
    await expect(getBackend("flaky")).resolves.toBeDefined();
  });
});
