/**
 * `--config file.json`: a training config checked against @ngem/trainer's
 * `configFileSchema` (derived from the trainer's one config schema, so the
 * file, the library and `ngem config --schema` share every type, range and
 * enum). Unknown keys are errors (a typo must not be ignored silently);
 * every problem names the path of the bad field. Command-line flags override
 * the file.
 */
import { readFileSync } from "node:fs";
import { ConfigError, configFileJsonSchema, parseConfigFile, type ConfigFile } from "@ngem/trainer";
import { UsageError } from "./errors.js";

export type { ConfigFile };

/** The JSON Schema (draft 2020-12) of --config files. */
export function configJsonSchema(): Record<string, unknown> {
  return { title: "ngem train --config file", ...configFileJsonSchema() };
}

/** Reads and validates a config file; errors name the file and the field path. */
export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`--config: cannot read "${path}"`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config ${path}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return parseConfigFile(json);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`--config ${path}: ${err.field}: ${err.reason}`);
    throw err;
  }
}
