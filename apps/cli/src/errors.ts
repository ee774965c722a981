/** Exit codes of the `ngem` command (documented in --help and the README). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage error: bad flag, bad value, missing file. Exits with code 2 and a one-line message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
