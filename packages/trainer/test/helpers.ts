import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "@ngem/core";
import { ConfigError, type TrainConfig, type TrainData, validateConfig } from "../src/index.js";

export const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Inverse sine (Bishop 1994): y ~ U(0,1), x = y + 0.3 sin(2 pi y) + U(-0.1, 0.1); learn p(y|x). */
export function inverseSine(n: number, seed: number): TrainData {
  const r = new Rng(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const yi = r.uniform();
    y[i] = yi;
    x[i] = yi + 0.3 * Math.sin(2 * Math.PI * yi) + (2 * r.uniform() - 1) * 0.1;
  }
  return { name: "inverse-sine", n, xDim: 1, yDim: 1, x, y };
}

/** n rows of N(mean, diag(std^2)) in D dims (unconditional). */
export function gaussianData(n: number, mean: number[], std: number[], seed: number): TrainData {
  const r = new Rng(seed);
  const D = mean.length;
  const y = new Float64Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) y[i * D + d] = mean[d]! + std[d]! * r.normal();
  return { n, xDim: 0, yDim: D, x: new Float64Array(0), y };
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Makes sure dist/ is built from the current sources (child-process tests run
 * the built package with plain `node`). Returns a reason string when it
 * cannot, so the caller can skip visibly.
 */
export function ensureDist(): string | undefined {
  const out = join(PKG, "dist", "index.js");
  const coreDist = resolve(PKG, "node_modules", "@ngem", "core", "dist", "index.js");
  if (!existsSync(coreDist)) return `@ngem/core is not built (${coreDist} missing): run pnpm build at the root`;
  if (existsSync(out) && statSync(out).mtimeMs >= newest(join(PKG, "src"))) return undefined;
  try {
    execFileSync(join(PKG, "node_modules", ".bin", "tsup"), [], { cwd: PKG, stdio: "pipe", timeout: 120_000 });
  } catch (err) {
    return `could not build dist/ with tsup: ${(err as Error).message}`;
  }
  return existsSync(out) ? undefined : "tsup ran but dist/index.js is missing";
}

/** The ConfigError validateConfig throws for `cfg` (fails the test when it throws something else or nothing). */
export function configErrorOf(cfg: unknown): ConfigError {
  try {
    validateConfig(cfg as TrainConfig);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(cfg)}, but the config was accepted`);
}
