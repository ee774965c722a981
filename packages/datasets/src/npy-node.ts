/** NPY files (Node): readers built on {@link parseNpy}. */
import { readFile } from "node:fs/promises";
import { DataError } from "./errors.js";
import { npyPairToDataset, npyToDataset, parseNpy, type NpyArray, type NpyOptions } from "./npy.js";
import type { Dataset } from "./types.js";

/** Reads an NPY file. */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DataError({ file: path }, `cannot read the file: ${(e as Error).message}`);
  }
  return parseNpy(bytes, path);
}

/** Loads x and y from one 2-D NPY file by column selection. */
export async function loadNpy(path: string, opts: NpyOptions = {}): Promise<Dataset> {
  return npyToDataset(await readNpy(path), { ...opts, name: opts.name ?? "npy" }, path);
}

/** Loads x from one NPY file and y from another (1-D arrays are single columns); row counts must match. */
export async function loadNpyPair(xPath: string, yPath: string, opts: { name?: string } = {}): Promise<Dataset> {
  const ax = await readNpy(xPath);
  const ay = await readNpy(yPath);
  return npyPairToDataset(ax, ay, opts, xPath, yPath);
}
