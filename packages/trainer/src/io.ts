/**
 * File access used by the trainer (checkpoints, metrics). The default is the
 * Node implementation in node-io.ts, loaded on first use by a dynamic import
 * (io-default.ts), so the rest of the package has no static Node dependency.
 * The package's `browser` export condition points at a build where
 * io-default.browser.ts replaces that loader, so no bundler (esbuild without
 * splitting, Vite, webpack) ever sees node-io.ts; there a path-based call
 * (`save(model, path)`, `train` with an `out` directory) fails with a clear
 * error, and a browser user passes their own {@link TrainerIO} or uses
 * `encodeCheckpoint` / `decodeCheckpoint` on bytes.
 */
import { loadDefaultIO } from "./io-default.js";
export interface TrainerIO {
  /** Writes `bytes` to `path` so a crash leaves either the old file or the new one, never a partial one. */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  /** Appends text (creating the file). */
  appendText(path: string, text: string): Promise<void>;
  /** Replaces a text file (creating it), atomically. */
  writeText(path: string, text: string): Promise<void>;
  /** A text file's content, or undefined when it does not exist (used to trim metrics on resume). */
  readText?(path: string): Promise<string | undefined>;
}

let nodeIo: Promise<TrainerIO> | undefined;

/** The Node file-system implementation (temp file + fsync + rename); in the browser build, a rejection saying to pass a TrainerIO. */
export function defaultIO(): Promise<TrainerIO> {
  nodeIo ??= loadDefaultIO();
  return nodeIo;
}
