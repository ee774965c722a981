/** Scans bundle text for Node built-ins (shared by the esbuild and webpack bundle tests). */
import { builtinModules } from "node:module";

/** Finds Node built-ins in bundle text: `node:x` specifiers and require/import/from of a bare built-in name. */
export function nodeBuiltinsIn(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/["'`]node:([a-z_/]+)["'`]/g)) found.add(`node:${m[1]}`);
  const names = builtinModules.filter((b) => !b.startsWith("_")).map((b) => b.replace(/[/]/g, "\\/"));
  const re = new RegExp(`(?:require\\s*\\(|import\\s*\\(|from\\s*)\\s*["'](${names.join("|")})["']`, "g");
  for (const m of code.matchAll(re)) found.add(m[1] as string);
  return [...found];
}
