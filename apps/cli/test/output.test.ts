/**
 * Output that is piped, redirected or cut short reaches the reader whole:
 * the built CLI as a subprocess, its stdout a real pipe read slowly, a file,
 * or a reader that closes early.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../dist/index.js");
const work = mkdtempSync(join(tmpdir(), "ngem-out-"));
const ckpt = join(work, "run", "checkpoint.safetensors");
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  const r = spawnSync(process.execPath, [CLI, "train", "inverse-sine", "--k", "2", "--hidden", "8", "--steps", "5", "--no-plots", "--out", join(work, "run")], {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000,
  });
  expect(r.status, r.stderr).toBe(0);
  expect(existsSync(ckpt)).toBe(true);
}, 120_000);

/** Runs the CLI with stdout a pipe that this process reads slowly (a paused start, then small sleeps per chunk). */
function runSlowReader(args: string[], opts: { startDelayMs: number; perChunkMs: number }): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.stdout.pause();
    child.stdout.on("data", (b: Buffer) => {
      chunks.push(b);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), opts.perChunkMs);
    });
    setTimeout(() => child.stdout.resume(), opts.startDelayMs);
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout: Buffer.concat(chunks), stderr }));
  });
}

/** Runs the CLI with stdout redirected to a file (not a pipe); returns the file's bytes. */
function runToFile(args: string[], name: string): { code: number | null; bytes: Buffer; stderr: string } {
  const path = join(work, name);
  const fd = openSync(path, "w");
  try {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, stdio: ["ignore", fd, "pipe"], encoding: "utf8", timeout: 120_000 });
    return { code: r.status, bytes: readFileSync(path), stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

describe("stdout is drained before exit, whatever the reader", () => {
  it("sample: several MB through a slow pipe equal the same command redirected to a file", async () => {
    const args = ["sample", ckpt, "--x", "0.5;-0.5", "-n", "100000", "--seed", "1"];
    const file = runToFile(args, "sample.csv");
    expect(file.code, file.stderr).toBe(0);
    expect(file.bytes.length).toBeGreaterThan(3_000_000);
    const piped = await runSlowReader(args, { startDelayMs: 300, perChunkMs: 2 });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBe(file.bytes.length);
    expect(piped.stdout.equals(file.bytes)).toBe(true);
    const lines = piped.stdout.toString("utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(1 + 2 * 100_000);
    expect(lines.at(-1)!.startsWith("1,")).toBe(true);
  }, 60_000);

  it("predict --format json: a multi-MB JSON document through a slow pipe parses whole", async () => {
    const args = ["predict", ckpt, "inverse-sine", "--n", "8000", "--format", "json"];
    const piped = await runSlowReader(args, { startDelayMs: 200, perChunkMs: 3 });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(1_500_000);
    const rows = JSON.parse(piped.stdout.toString("utf8")) as unknown[];
    expect(rows).toHaveLength(8000);
  }, 60_000);

  it("predict --format csv: every row arrives through a pipe (was cut at 64 KiB)", async () => {
    const args = ["predict", ckpt, "inverse-sine", "--n", "3000", "--format", "csv"];
    const piped = await runSlowReader(args, { startDelayMs: 100, perChunkMs: 1 });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(65_536);
    expect(piped.stdout.toString("utf8").trimEnd().split("\n")).toHaveLength(3001);
  }, 60_000);

  it("a reader that closes early (| head) ends the command quietly with its own exit code", async () => {
    const child = spawn(process.execPath, [CLI, "sample", ckpt, "--x", "0.5", "-n", "200000"], { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    let first = "";
    await new Promise<void>((ok) =>
      child.stdout.once("data", (b: Buffer) => {
        first = b.toString("utf8");
        ok();
      }),
    );
    child.stdout.destroy(); // the read end closes: the CLI's next write gets EPIPE
    const code = await new Promise<number | null>((ok) => child.on("close", ok));
    expect(first.startsWith("row,y0\n")).toBe(true);
    expect(stderr).toBe("");
    expect(code).toBe(0);
  }, 60_000);

  it.runIf(existsSync("/dev/full"))(
    "a write error other than EPIPE (disk full) is exit 1 and says output is incomplete",
    () => {
      const fd = openSync("/dev/full", "w");
      try {
        const r = spawnSync(process.execPath, [CLI, "sample", ckpt, "--x", "0.5", "-n", "50"], {
          cwd: work,
          stdio: ["ignore", fd, "pipe"],
          encoding: "utf8",
          timeout: 60_000,
        });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/writing output failed .*ENOSPC.*output is incomplete/);
      } finally {
        closeSync(fd);
      }
    },
    60_000,
  );
});
