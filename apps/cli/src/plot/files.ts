/**
 * Writing plots to a run directory: SVG always, PNG rendered with resvg
 * (@resvg/resvg-js, a prebuilt native renderer shipped in npm packages).
 * Files are written atomically (temp + rename) so a crash never leaves a
 * half-written plot.
 */
import { writeFileAtomic, writeFileAtomicSync } from "@ngem/trainer/node";

/** Synchronous atomic write (the shared helper of `@ngem/trainer/node`; errors name `path`). */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomicSync(path, data);
}

/** Renders SVG text to PNG bytes. */
export async function svgToPng(svg: string, width?: number): Promise<Uint8Array> {
  const { Resvg } = await import("@resvg/resvg-js");
  const r = new Resvg(svg, { fitTo: width ? { mode: "width", value: width } : { mode: "original" }, font: { loadSystemFonts: true } });
  return r.render().asPng();
}

/** Writes `<base>.svg` and, when `png` is true, `<base>.png`; returns the paths written. */
export async function writePlot(base: string, svg: string, png = true): Promise<string[]> {
  await writeFileAtomic(`${base}.svg`, svg);
  const out = [`${base}.svg`];
  if (png) {
    await writeFileAtomic(`${base}.png`, await svgToPng(svg));
    out.push(`${base}.png`);
  }
  return out;
}
