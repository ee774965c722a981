#!/usr/bin/env node
/**
 * `ngem` - train, evaluate, sample and reproduce mixture density networks
 * trained with natural-gradient EM.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
import { CommanderError } from "commander";
import { NgemError } from "@ngem/core";
import { buildProgram } from "./program.js";
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./errors.js";

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help / version print and exit 0; everything else is a usage error
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`ngem: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const msg = err instanceof NgemError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`ngem: error: ${msg}\n`);
    if (process.env.NGEM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}

/**
 * stdout/stderr errors. EPIPE (the reader went away, e.g. `ngem sample ... | head`)
 * is not a failure of the command: the rest of the output is dropped quietly
 * and the command finishes with its own exit code. Any other write error
 * (e.g. ENOSPC on a redirected stdout) means output was lost: exit 1, said on stderr.
 */
let outputLost: string | undefined;
for (const [name, stream] of [
  ["stdout", process.stdout],
  ["stderr", process.stderr],
] as const) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") return;
    outputLost ??= `${name}: ${err.message}`;
  });
}

/**
 * Resolves once everything written to `stream` so far has been handed to the
 * OS (pipe, file or terminal). Writes are serialised, so the callback of an
 * empty write runs after every earlier chunk is flushed; a slow reader just
 * makes this wait. A destroyed stream (EPIPE) resolves at once.
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    stream.write("", () => resolve());
  });
}

/**
 * The one exit path of every command: flush stdout and stderr fully, then
 * exit. (Calling process.exit with output still queued cut piped output at
 * the pipe buffer, 64 KiB.) process.exit is still called after the flush so a
 * lingering handle (a backend's worker, a timer) cannot keep the process alive.
 */
async function exitAfterDrain(code: number): Promise<never> {
  await drained(process.stdout);
  if (outputLost !== undefined) {
    process.stderr.write(`ngem: error: writing output failed (${outputLost}); output is incomplete\n`);
    if (code === 0) code = EXIT_FAILURE;
  }
  await drained(process.stderr);
  process.exit(code);
}

main(process.argv).then(
  (code) => exitAfterDrain(code),
  (err: unknown) => {
    process.stderr.write(`ngem: internal error: ${String(err)}\n`);
    return exitAfterDrain(EXIT_FAILURE);
  },
);
