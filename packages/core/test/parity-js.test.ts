import { describe, expect, it } from "vitest";
import { createJsBackend, getBackend, mixtureHead, type Backend } from "../src/index.js";
import { assertClose, runParitySuite } from "../src/testing/index.js";

// The reference against itself: exercises every check of the suite (shapes,
// error messages, resume bit-identity, non-finite skip) on the js backend.
runParitySuite({ describe, it }, () => getBackend("js"), { label: "js" });

describe("the parity suite can fail", () => {
  it("assertClose rejects a 1% error at float32 tolerance and accepts 1e-5", () => {
    const want = [1, -2, 3];
    expect(() => assertClose("x", [1.01, -2, 3], want, 1e-3)).toThrow(/normwise error/);
    expect(() => assertClose("x", [1.00001, -2, 3], want, 1e-3)).not.toThrow();
    expect(() => assertClose("x", [NaN, -2, 3], want, 1)).toThrow(/non-finite/);
  });

  it("a backend whose ngem mu-gradient is off by 0.5% fails the head comparison", async () => {
    const ref = createJsBackend();
    const broken: Backend = {
      ...ref,
      name: "broken",
      async head(p, y, o) {
        const r = mixtureHead(p, y, o);
        if ((o.variant ?? "ngem") === "ngem") r.grads.mu.forEach((v, i, a) => (a[i] = v * 1.005));
        return r;
      },
    };
    const { randomHeadCase } = await import("../src/testing/index.js");
    const { Rng } = await import("../src/index.js");
    const { params, y } = randomHeadCase(new Rng(1), 7, 3, 5, (a) => a);
    const got = await broken.head(params, y, { variant: "ngem" });
    const want = await ref.head(params, y, { variant: "ngem" });
    expect(() => assertClose("mu", got.grads.mu, want.grads.mu, 1e-3)).toThrow(/normwise error/);
  });
});
