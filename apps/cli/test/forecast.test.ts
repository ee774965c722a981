import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crpsMixture1d } from "@ngem/core";
import { parseCsvRecords, parseNpy } from "@ngem/datasets";
import { XMLValidator } from "fast-xml-parser";
import { beforeAll, describe, expect, it } from "vitest";
import { FIX, runCli, workDir } from "./helpers.js";

const work = workDir("ngem-forecast-");

const ngem = (args: string[], input?: string) => runCli(args, { cwd: work, ...(input !== undefined ? { input } : {}) });

const tiny = join(FIX, "tiny.csv");
const tinyRows = parseCsvRecords(readFileSync(tiny, "utf8")).slice(1); // x, noise, y
const runA = join(work, "a");
const runB = join(work, "b");
const runC = join(work, "c");
const run2 = join(work, "two");

beforeAll(() => {
  const common = ["--x-cols", "x", "--y-cols", "y", "--k", "2", "--hidden", "8", "--steps", "30"];
  for (const [out, extra] of [
    [runA, ["--test-split", "0.2"]],
    [runB, ["--test-split", "0.2", "--objective", "nll"]],
    [runC, []],
  ] as const) {
    const r = ngem(["train", tiny, ...common, ...extra, "--out", out, "--no-png"]);
    expect(r.code, r.stderr).toBe(0);
  }
  const r = ngem([
    "train",
    join(FIX, "two-inputs.csv"),
    "--x-cols",
    "temp,hour",
    "--y-cols",
    "demand",
    "--k",
    "2",
    "--hidden",
    "8",
    "--steps",
    "30",
    "--test-split",
    "0.25",
    "--out",
    run2,
    "--no-png",
  ]);
  expect(r.code, r.stderr).toBe(0);
}, 60_000);

describe("predict on an inputs-only file", () => {
  // ids in reverse order, only the input column (no target), a column the model does not use
  const ids = tinyRows.slice(0, 12).map((_, i) => `id-${(12 - i) * 7}`);
  const inputsCsv = `customer,x,note\n${tinyRows
    .slice(0, 12)
    .map((r, i) => `${ids[i]},${r[0]},"n ${i}"`)
    .join("\n")}\n`;
  beforeAll(() => writeFileSync(join(work, "inputs.csv"), inputsCsv));

  it("writes one row per input with the id and kept columns, joinable to the inputs and equal to predicting the full file", () => {
    const r = ngem(["predict", runA, "inputs.csv", "--id-col", "customer", "--keep-cols", "x,note"]);
    expect(r.code, r.stderr).toBe(0);
    const out = parseCsvRecords(r.stdout);
    expect(out[0]!.slice(0, 5)).toEqual(["customer", "x", "note", "mean_y", "mode_y"]);
    expect(out).toHaveLength(13);
    // join back by id: the kept input columns are the inputs, byte for byte
    const byId = new Map(out.slice(1).map((row) => [row[0]!, row]));
    ids.forEach((id, i) => {
      expect(byId.get(id)![1]).toBe(tinyRows[i]![0]);
      expect(byId.get(id)![2]).toBe(`n ${i}`);
    });
    // the same rows of the full training file (which has the target column too) give the same predictions
    const full = parseCsvRecords(ngem(["predict", runA, tiny]).stdout);
    expect(full[0]![0]).toBe("row");
    ids.forEach((id, i) => {
      const a = byId.get(id)!.slice(3).map(Number);
      const b = full[1 + Number(full[1 + i]![0])]!.slice(1).map(Number);
      expect(a).toEqual(b);
    });
  });

  it("every output format parses to the same numbers (csv, tsv, jsonl, json, npy)", () => {
    const csv = parseCsvRecords(ngem(["predict", runA, "inputs.csv", "--id-col", "customer"]).stdout);
    const header = csv[0]!;
    const meanCol = header.indexOf("mean_y");
    const mu1 = header.indexOf("mu_1_y");
    for (const f of ["tsv", "jsonl", "json", "npy"]) {
      const file = `pred.${f}`;
      const r = ngem(["predict", runA, "inputs.csv", "--output", file, ...(f === "npy" ? [] : ["--id-col", "customer"])]);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe("");
      const path = join(work, file);
      if (f === "tsv") {
        const t = parseCsvRecords(readFileSync(path, "utf8"), { delimiter: "\t" });
        expect(t).toEqual(csv);
      } else if (f === "jsonl" || f === "json") {
        const text = readFileSync(path, "utf8");
        const rows =
          f === "json"
            ? (JSON.parse(text) as Record<string, unknown>[])
            : text
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(rows).toHaveLength(12);
        rows.forEach((o, i) => {
          expect(o.customer).toBe(ids[i]);
          expect((o.mean as number[])[0]).toBe(Number(csv[i + 1]![meanCol]));
          expect((o.mu as number[][])[1]![0]).toBe(Number(csv[i + 1]![mu1]));
        });
      } else {
        const a = parseNpy(readFileSync(path));
        const cols = JSON.parse(readFileSync(`${path}.columns.json`, "utf8")) as string[];
        expect(cols).toEqual(["row", ...header.slice(1)]);
        expect(a.shape).toEqual([12, cols.length]);
        for (let i = 0; i < 12; i++) {
          expect(a.data[i * cols.length]).toBe(i);
          expect(a.data[i * cols.length + meanCol]).toBe(Number(csv[i + 1]![meanCol]));
        }
      }
    }
  });

  it("reads stdin (CSV and JSON lines) and writes stdout, the same as from a file", () => {
    const fromFile = ngem(["predict", runA, "inputs.csv", "--no-params", "--id-col", "customer"]);
    const piped = ngem(["predict", runA, "-", "--no-params", "--id-col", "customer"], inputsCsv);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe(fromFile.stdout);
    const jsonl = tinyRows
      .slice(0, 12)
      .map((r, i) => JSON.stringify({ customer: ids[i], x: Number(r[0]) }))
      .join("\n");
    const pj = ngem(["predict", runA, "-", "--no-params", "--id-col", "customer", "--format", "csv"], jsonl);
    expect(pj.code, pj.stderr).toBe(0);
    expect(pj.stdout).toBe(fromFile.stdout);
  });

  it("quantiles and intervals are consistent: q0.1 < q0.5 < q0.9 and the 80% interval is [q0.1, q0.9]", () => {
    const r = ngem(["predict", runA, "inputs.csv", "--no-params", "--quantiles", "0.1,0.5,0.9", "--interval", "0.8", "--format", "jsonl"]);
    expect(r.code, r.stderr).toBe(0);
    for (const line of r.stdout.trim().split("\n")) {
      const o = JSON.parse(line) as { quantiles: Record<string, number[]>; interval: { lo: number[]; hi: number[] } };
      const [a, b, c] = [o.quantiles["0.1"]![0]!, o.quantiles["0.5"]![0]!, o.quantiles["0.9"]![0]!];
      expect(a).toBeLessThan(b);
      expect(b).toBeLessThan(c);
      expect(Math.abs(o.interval.lo[0]! - a)).toBeLessThan(1e-9 * (1 + Math.abs(a)));
      expect(Math.abs(o.interval.hi[0]! - c)).toBeLessThan(1e-9 * (1 + Math.abs(c)));
    }
  });

  it("bad input is exit 2 naming the line, column or flag, and leaves an existing --output as it was", () => {
    writeFileSync(join(work, "keep.csv"), "old contents\n");
    const bad = ngem(["predict", runA, "-", "--output", "keep.csv"], "customer,x\na,0.5\nb,oops\n");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/<stdin>:3:3 \(column "x"\): expected a number, got "oops"/);
    expect(readFileSync(join(work, "keep.csv"), "utf8")).toBe("old contents\n");
    const noCol = ngem(["predict", runA, "-"], "customer,temp\na,0.5\n");
    expect(noCol.code).toBe(2);
    expect(noCol.stderr).toMatch(/no input column "x"/);
    const badId = ngem(["predict", runA, "inputs.csv", "--id-col", "nope", "--output", "keep.csv"]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/--id-col: inputs\.csv has no column "nope"/);
    expect(ngem(["predict", runA, "inputs.csv", "--format", "npy", "--id-col", "customer"]).stderr).toMatch(/--format npy: column "customer" is not numeric/);
    expect(readFileSync(join(work, "keep.csv"), "utf8")).toBe("old contents\n");
  });
});

describe("eval: every forecast metric, in original units, on the run's test rows", () => {
  it("eval RUN_DIR scores the held-out test rows and says so (text and JSON)", () => {
    const t = ngem(["eval", runA]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^test rows: 12 held out by --test-split 0\.2 \(seed 0\)/);
    for (const label of ["NLL", "RMSE / MAE of mean", "RMSE / MAE of mode", "CRPS", "pinball loss", "interval coverage", "interval width", "PIT uniformity"])
      expect(t.stdout).toContain(label);
    expect(t.stdout).toContain("units of y");
    const j = ngem(["eval", runA, "--json"]);
    const ev = JSON.parse(j.stdout) as Record<string, unknown>;
    expect(ev.n).toBe(12);
    expect(ev.rows).toBe("test");
    for (const k of ["nll", "nllTotal", "nllStandardized", "rmse", "mae", "rmseMode", "maeMode", "crps"]) expect(Number.isFinite(ev[k]), k).toBe(true);
    expect(ev.nllTotal as number).toBeCloseTo((ev.nll as number) * 12, 10);
    expect(Object.keys(ev.pinball as object)).toEqual(["0.1", "0.5", "0.9"]);
    expect(Object.keys(ev.coverage as object)).toEqual(["0.5", "0.8", "0.9", "0.95"]);
    const w = Object.values(ev.intervalWidth as object) as number[];
    for (let i = 1; i < w.length; i++) expect(w[i]!).toBeGreaterThan(w[i - 1]!);
    const pit = ev.pit as { ks: number; ksPValue: number; chiSquare: number; df: number };
    expect(pit.ks).toBeGreaterThan(0);
    expect(pit.df).toBe(9);
    expect((ev.pitCounts as number[]).reduce((a, b) => a + b, 0)).toBe(12);
  });

  it("CRPS and NLL of eval equal the closed form on predict's mixture, in original units", () => {
    const sub = `x,y\n${tinyRows
      .slice(0, 15)
      .map((r) => `${r[0]},${r[2]}`)
      .join("\n")}\n`;
    writeFileSync(join(work, "sub.csv"), sub);
    const ev = JSON.parse(ngem(["eval", join(runC, "checkpoint.safetensors"), "sub.csv", "--json"]).stdout) as { crps: number; nll: number; mae: number };
    const pred = JSON.parse(ngem(["predict", runC, "sub.csv", "--format", "json"]).stdout) as {
      pi: number[];
      mu: number[][];
      sigma: number[][];
      mean: number[];
    }[];
    let crps = 0;
    let nll = 0;
    let mae = 0;
    pred.forEach((p, i) => {
      const y = Number(tinyRows[i]![2]);
      const mu = p.mu.map((m) => m[0]!);
      const s = p.sigma.map((v) => v[0]!);
      crps += crpsMixture1d(y, p.pi, mu, s);
      nll -= Math.log(p.pi.reduce((a, w, k) => a + (w * Math.exp(-0.5 * ((y - mu[k]!) / s[k]!) ** 2)) / (s[k]! * Math.sqrt(2 * Math.PI)), 0));
      mae += Math.abs(p.mean[0]! - y);
    });
    expect(ev.crps).toBeCloseTo(crps / 15, 9);
    expect(ev.nll).toBeCloseTo(nll / 15, 9);
    expect(ev.mae).toBeCloseTo(mae / 15, 9);
  });

  it("eval CKPT FILE on data overlapping the training rows warns with the count", () => {
    const r = ngem(["eval", join(runA, "checkpoint.safetensors"), tiny, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: 48 of the 60 rows of .*tiny\.csv are training rows of this run/);
    expect(JSON.parse(r.stdout).trainingOverlap).toBe(48);
    const none = ngem(["eval", runC]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no held-out test rows/);
  });
});

describe("compare and plots", () => {
  it("compare prints a table of two runs' test metrics and overlays their loss curves", () => {
    const r = ngem(["compare", runA, runB, "--plot", "cmp.svg"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^run\s+K\s+objective\s+steps\s+rows\s+NLL\s+RMSE\s+MAE\s+CRPS/);
    expect(lines[2]).toMatch(/^a\s+2\s+ngem\s+30\s+12\s+-?\d/);
    expect(lines[3]).toMatch(/^b\s+2\s+nll\s+30\s+12\s+-?\d/);
    const svg = readFileSync(join(work, "cmp.svg"), "utf8");
    expect(XMLValidator.validate(svg)).toBe(true);
    expect([...svg.matchAll(/<g class="series" data-name="([^"]*)"/g)].map((m) => m[1])).toEqual(["a train", "a validation", "b train", "b validation"]);
    const j = JSON.parse(ngem(["compare", runA, runC, "--data", tiny, "--no-plot", "--json"]).stdout) as {
      runs: { run: string; n: number; metrics: { crps: number } | null; trainingOverlap: number }[];
    };
    expect(j.runs.map((x) => [x.run, x.n])).toEqual([
      ["a", 12],
      ["c", 60],
    ]);
    expect(j.runs[1]!.metrics!.crps).toBeGreaterThan(0);
    expect(j.runs[1]!.trainingOverlap).toBe(60); // every row of tiny.csv was a training (or validation) row of c
  });

  it("plots name the data's columns, K, objective and n; 2+ inputs get a density slice per input", () => {
    for (const [file, x] of [
      ["density-temp.svg", "temp"],
      ["density-hour.svg", "hour"],
    ]) {
      const svg = readFileSync(join(run2, file!), "utf8");
      expect(XMLValidator.validate(svg)).toBe(true);
      expect(svg).toContain(`<text class="xlabel" x="300" y="428" text-anchor="middle">${x}</text>`);
      expect(svg).toMatch(/class="ylabel"[^>]*>demand</);
      expect(svg).toMatch(/ngem, K=2, n=54/);
    }
    expect(existsSync(join(run2, "density.svg"))).toBe(false);
    expect(readFileSync(join(run2, "pit.svg"), "utf8")).toMatch(/PIT histogram \(validation set, n=6;[^<]*demand/);
    expect(readFileSync(join(run2, "calibration.svg"), "utf8")).toMatch(/n=6/);
    expect(readFileSync(join(run2, "loss.svg"), "utf8")).toMatch(/NLL - two-inputs: ngem, K=2 \(adam, lr 0\.001\), n=54/);
  });
});
