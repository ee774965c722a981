import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli, workDir } from "./helpers.js";

const work = workDir("ngem-nonfinite-");

const ngem = (args: string[]) => runCli(args, { cwd: work });

/** The same 120-row data set with y multiplied by `scale`. */
function scaledCsv(scale: number): string {
  const lines = ["x,y"];
  for (let i = 0; i < 120; i++) {
    const x = (i / 120) * 2 - 1;
    lines.push(`${x},${(Math.sin(3 * x) * 0.8 + 0.05 * ((i % 5) - 2)) * scale}`);
  }
  return `${lines.join("\n")}\n`;
}

const SCALES = [1e-30, 1, 1e200, 1e307] as const;
const ckpt = (s: number) => join(work, `run-${s}`, "checkpoint.safetensors");

beforeAll(() => {
  for (const s of SCALES) {
    writeFileSync(join(work, `y${s}.csv`), scaledCsv(s));
    const r = ngem([
      "train",
      `y${s}.csv`,
      "--x-cols",
      "x",
      "--y-cols",
      "y",
      "--k",
      "2",
      "--hidden",
      "8",
      "--steps",
      "30",
      "--backend",
      "js",
      "--no-plots",
      "--out",
      `run-${s}`,
    ]);
    expect(r.code, `${s}: ${r.stderr}`).toBe(0);
  }
}, 120_000);

describe("standardisation does not depend on the data's scale (through train, predict, eval)", () => {
  it("models trained on y x 1e-30, 1e200 and 1e307 predict the unit-scale model's predictions times the scale", () => {
    const pred = (s: number) => {
      const r = ngem(["predict", ckpt(s), `y${s}.csv`, "--no-params", "--backend", "js"]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(",").slice(1).map(Number)); // without the row id
    };
    const unit = pred(1);
    for (const s of [1e-30, 1e200, 1e307]) {
      const p = pred(s);
      expect(p).toHaveLength(120);
      for (let i = 0; i < p.length; i++) {
        for (let j = 0; j < 2; j++) {
          expect(Number.isFinite(p[i]![j]!)).toBe(true);
          expect(Math.abs(p[i]![j]! / s - unit[i]![j]!)).toBeLessThan(1e-6 * (1 + Math.abs(unit[i]![j]!)));
        }
      }
    }
  });

  it("eval reports finite metrics in original units at 1e200 (RMSE was Infinity) and prints tiny ones readably", () => {
    const big = ngem(["eval", ckpt(1e200), "y1e+200.csv", "--json", "--backend", "js"]);
    expect(big.code, big.stderr).toBe(0);
    const unit = JSON.parse(ngem(["eval", ckpt(1), "y1.csv", "--json", "--backend", "js"]).stdout);
    const ev = JSON.parse(big.stdout);
    expect(ev.rmse / 1e200).toBeCloseTo(unit.rmse, 6);
    expect(ev.nll - Math.log(1e200)).toBeCloseTo(unit.nll, 6);
    const tiny = ngem(["eval", ckpt(1e-30), "y1e-30.csv", "--backend", "js"]);
    expect(tiny.code, tiny.stderr).toBe(0);
    expect(tiny.stdout).toMatch(/RMSE \/ MAE of mean +\d\.\d{4}e-3\d/);
  });

  it("a column whose spread is below float64's normal range is exit 2 naming the file and column", () => {
    writeFileSync(join(work, "sub.csv"), `x,flux\n${Array.from({ length: 20 }, (_, i) => `${i},${i % 2 ? "1e-315" : "0"}`).join("\n")}\n`);
    const r = ngem(["train", "sub.csv", "--x-cols", "x", "--y-cols", "flux", "--steps", "2", "--no-plots", "--out", "run-sub"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sub\.csv \(column "flux"\): cannot be standardised in float64/);
  });
});

describe("non-finite metrics and predictions name the row", () => {
  beforeAll(() => {
    // line 1 header, line 3 blank: the bad row is data row 3 on line 5
    writeFileSync(join(work, "big-y.csv"), "x,y\n0.1,0.2\n\n0.2,0.3\n0.3,1e300\n0.4,0.1\n");
  });

  it("eval with one y = 1e300 row is exit 1 naming the file's line and the row (was null metrics, exit 0)", () => {
    const r = ngem(["eval", ckpt(1), "big-y.csv", "--json", "--backend", "js"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /eval: the NLL is Infinity, not a finite number: big-y\.csv:5 \(data row 3\), x = 0\.3, y = 1e\+300 has log p\(y \| x\) = -Infinity/,
    );
  });

  it("a value whose z-score overflows with the model's statistics is exit 2 naming line and column", () => {
    const r = ngem(["eval", ckpt(1e-30), "big-y.csv", "--backend", "js"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/big-y\.csv:5 \(column "y"\): row 3: the value 1e\+300 is not representable after standardisation/);
  });

  it("predict whose mixture overflows names the file, line, row and x (not 'logits ... flat index 0')", () => {
    writeFileSync(join(work, "big-x.csv"), "x,y\n0.1,0.2\n\n1e300,0.3\n");
    // the float32 wasm backend overflows on x = 1e300 (standardised: ~1.7e300)
    const r = ngem(["predict", ckpt(1), "big-x.csv", "--backend", "wasm"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/the prediction for big-x\.csv:4 \(data row 2\), x = 1e\+300, is not finite/);
    expect(r.stderr).not.toMatch(/flat index/);
  });

  it("sample with a count too large to hold is exit 2 at once, not a 16 GB allocation", () => {
    const t0 = Date.now();
    const r = ngem(["sample", ckpt(1), "--x", "0.5;0.6", "-n", "1000000000"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-n\/--count: 2 rows x 1000000000 samples x 1 dims = 2000000000 values/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
