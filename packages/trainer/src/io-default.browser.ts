/**
 * The browser build's default {@link TrainerIO}: there is no file system, so
 * asking for one rejects, saying what to do instead.
 */
import type { TrainerIO } from "./io.js";

export function loadDefaultIO(): Promise<TrainerIO> {
  return Promise.reject(
    new Error(
      "@ngem/trainer: no file system in this environment (browser build): pass your own TrainerIO (the `io` option), " +
        "or use encodeCheckpoint / decodeCheckpoint on bytes instead of save / load with a path",
    ),
  );
}
