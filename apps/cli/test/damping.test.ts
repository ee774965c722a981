/**
 * `ngem train --damping <lambda> --precondition <blocks>` (issue 19): the flags reach
 * the trainer config and run.json, config files may set them, and bad values are
 * usage errors naming the flag.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, workDir } from "./helpers.js";

const work = workDir("ngem-damping-");
const ngem = (args: string[]) => runCli(args, { cwd: work });

describe("ngem train --damping / --precondition", () => {
  it("carries the options into run.json (absent at their defaults)", () => {
    const dir = join(work, "damped");
    const r = ngem(["train", "two-gaussians", "--steps", "20", "--damping", "50", "--precondition", "scale,mu", "--out", dir, "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { config: Record<string, unknown> };
    expect(run.config.damping).toBe(50);
    expect([...(run.config.precondition as string[])].sort()).toEqual(["mu", "scale"]);
    const plainDir = join(work, "plain");
    const p = ngem(["train", "two-gaussians", "--steps", "20", "--out", plainDir, "--no-plots"]);
    expect(p.code, p.stderr).toBe(0);
    const plain = JSON.parse(readFileSync(join(plainDir, "run.json"), "utf8")) as { config: Record<string, unknown> };
    expect("damping" in plain.config).toBe(false);
    expect("precondition" in plain.config).toBe(false);
  });

  it("a config file may set them; the flag wins", () => {
    const cfg = join(work, "damping-config.json");
    writeFileSync(cfg, JSON.stringify({ model: { kind: "gmm", k: 2 }, steps: 10, damping: 5, precondition: ["mu"] }));
    const dir = join(work, "from-config");
    const r = ngem(["train", "two-gaussians", "--config", cfg, "--damping", "7", "--out", dir, "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { config: Record<string, unknown> };
    expect(run.config.damping).toBe(7);
    expect(run.config.precondition).toEqual(["mu"]);
  });

  for (const [args, re] of [
    [["--damping", "-1"], /--damping/],
    [["--damping", "abc"], /--damping/],
    [["--precondition", "sigma"], /--precondition/],
    [["--precondition", "mu,mu"], /--precondition/],
  ] as const) {
    it(`${args.join(" ")} is a usage error naming the flag`, () => {
      const r = ngem(["train", "two-gaussians", "--steps", "5", ...args, "--out", join(work, "bad"), "--no-plots"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(re);
    });
  }
});

describe("ngem train --freeze (head-only training)", () => {
  it("--freeze trunk trains only the head: trunk weights stay at their initial values, run.json records it", async () => {
    const { initWeights } = await import("@ngem/core");
    const { load } = await import("@ngem/trainer");
    const dir = join(work, "frozen");
    const r = ngem(["train", "inverse-sine", "--k", "2", "--hidden", "8", "--steps", "15", "--backend", "js", "--freeze", "trunk", "--out", dir, "--no-plots"]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { config: Record<string, unknown> };
    expect(run.config.freeze).toBe("trunk");
    const model = await load(join(dir, "checkpoint.safetensors"));
    try {
      const w = await model.weights();
      const init = initWeights(model.spec, model.config.seed);
      let trunk = 0;
      for (const [name, t] of Object.entries(w)) {
        const same = Array.from(t.data).every((v, i) => v === init[name]?.data[i]);
        if (name.startsWith("trunk.")) {
          trunk += 1;
          expect(same, `${name} must not move`).toBe(true);
        } else {
          expect(same, `${name} must train`).toBe(false);
        }
      }
      expect(trunk).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });

  for (const [args, re] of [
    [["--freeze", "nope"], /freeze/],
    [["--freeze", "trunk", "--optimizer", "soap"], /freeze/],
  ] as const) {
    it(`${args.join(" ")} is a usage error naming freeze`, () => {
      const r = ngem(["train", "inverse-sine", "--hidden", "8", "--steps", "5", ...args, "--out", join(work, "bad-freeze"), "--no-plots"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
    });
  }
});
