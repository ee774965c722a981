/** Loads the default {@link TrainerIO}: Node's file system. The browser build replaces this module with io-default.browser.ts. */
import type { TrainerIO } from "./io.js";

export function loadDefaultIO(): Promise<TrainerIO> {
  return import("./node-io.js").then((m) => m.nodeIO);
}
