/**
 * The workspace's one tsup configuration: every package builds ESM for ES2022
 * with .d.ts files and source maps, into a cleaned dist/. A package's
 * tsup.config.ts passes only what differs (its entries, its platform, ...).
 */
import type { Options } from "tsup";

export const tsupDefaults: Options = {
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
};

/** The shared defaults with a package's own options on top. */
export function ngemTsup(options: Options): Options {
  return { ...tsupDefaults, ...options };
}
