import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { DataError } from "../src/index.js";

export const fixture = (name: string): string => join(dirname(fileURLToPath(import.meta.url)), "fixtures", name);

/** Runs `f` and returns the DataError it must throw (fails the test otherwise). */
export async function dataError(f: () => unknown): Promise<DataError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error("expected a DataError, nothing was thrown");
}
