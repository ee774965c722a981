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

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ngem: internal error: ${String(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
