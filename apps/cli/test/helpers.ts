/**
 * What every CLI test file shares: the built CLI run as a user runs it (a
 * subprocess on dist/index.js), the fixtures folder and a temporary work
 * folder removed after the file's tests.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll } from "vitest";

export const CLI = resolve(import.meta.dirname, "../dist/index.js");
export const FIX = resolve(import.meta.dirname, "fixtures");

/** A fresh temporary folder, removed (after `cleanup`, if given) once the file's tests are done. */
export function workDir(prefix: string, cleanup?: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => {
    cleanup?.(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `ngem args` to completion in `cwd` (NO_COLOR set, extra env merged, stdin from `input`). */
export function runCli(args: readonly string[], opts: { cwd: string; env?: Record<string, string>; input?: string; timeout?: number }): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    timeout: opts.timeout ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
