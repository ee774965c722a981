/**
 * Node implementation of {@link TrainerIO}. Atomic write: write a temp file
 * next to the target, fsync it, rename over the target, then fsync the
 * directory (best effort) so the rename itself is durable.
 */
import { open, readFile, rename, unlink, appendFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { TrainerIO } from "./io.js";

let counter = 0;

/** Writes `bytes` to `path` atomically (temp + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${counter++}`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  try {
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

export const nodeIO: TrainerIO = {
  writeFileAtomic,
  async readFile(path) {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  async appendText(path, text) {
    await appendFile(path, text, "utf8");
  },
  async writeText(path, text) {
    await writeFile(path, text, "utf8");
  },
};
