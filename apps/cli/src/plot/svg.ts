/**
 * Small, dependency-free SVG charts for training reports: line charts with
 * +-std bands, heatmaps with overlays (density of a learned mixture, true
 * modes, component-mean trajectories), histograms and calibration plots.
 * Every data series is a `<g class="series" data-name="...">` so tools (and
 * tests) can find it; the output is standalone, valid XML.
 */

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

export interface Series {
  readonly name: string;
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  /** Optional band (e.g. mean +- std) drawn behind the line. */
  readonly band?: { readonly lo: ArrayLike<number>; readonly hi: ArrayLike<number> };
  readonly color?: string;
  readonly dashed?: boolean;
  /** Draw markers instead of a line. */
  readonly points?: boolean;
}

export interface Frame {
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
  readonly width?: number;
  readonly height?: number;
  readonly logX?: boolean;
  readonly xRange?: readonly [number, number];
  readonly yRange?: readonly [number, number];
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString());

/** "Nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function finiteRange(values: ArrayLike<number>[], pad = 0.05): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of values) {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i] as number;
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

interface Axes {
  readonly svg: string[];
  readonly px: (x: number) => number;
  readonly py: (y: number) => number;
  readonly plot: { x: number; y: number; w: number; h: number };
}

function axes(frame: Frame, xr: [number, number], yr: [number, number], legend: readonly { name: string; color: string }[]): Axes {
  const W = frame.width ?? 720;
  const H = frame.height ?? 440;
  const m = { l: 70, r: legend.length ? 190 : 20, t: frame.title ? 40 : 16, b: 52 };
  const plot = { x: m.l, y: m.t, w: W - m.l - m.r, h: H - m.t - m.b };
  const tx = (x: number) => (frame.logX ? Math.log10(x) : x);
  const [x0, x1] = frame.logX ? [Math.log10(Math.max(xr[0], 1e-300)), Math.log10(xr[1])] : xr;
  const px = (x: number) => plot.x + ((tx(x) - x0) / (x1 - x0 || 1)) * plot.w;
  const py = (y: number) => plot.y + plot.h - ((y - yr[0]) / (yr[1] - yr[0] || 1)) * plot.h;
  const svg: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (frame.title) svg.push(`<text class="title" x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(frame.title)}</text>`);
  const xt = frame.logX
    ? niceTicks(x0, x1, 6)
        .filter((v) => Number.isInteger(v))
        .map((v) => 10 ** v)
    : niceTicks(xr[0], xr[1], 6);
  const yt = niceTicks(yr[0], yr[1], 6);
  svg.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">`);
  for (const v of xt) svg.push(`<line x1="${px(v).toFixed(1)}" y1="${plot.y}" x2="${px(v).toFixed(1)}" y2="${plot.y + plot.h}"/>`);
  for (const v of yt) svg.push(`<line x1="${plot.x}" y1="${py(v).toFixed(1)}" x2="${plot.x + plot.w}" y2="${py(v).toFixed(1)}"/>`);
  svg.push(`</g>`);
  svg.push(`<rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="none" stroke="#333"/>`);
  svg.push(`<g class="ticks" fill="#333">`);
  for (const v of xt)
    svg.push(
      `<text x="${px(v).toFixed(1)}" y="${plot.y + plot.h + 16}" text-anchor="middle">${escapeXml(frame.logX ? `1e${Math.round(Math.log10(v))}` : fmt(v))}</text>`,
    );
  for (const v of yt) svg.push(`<text x="${plot.x - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${escapeXml(fmt(v))}</text>`);
  svg.push(`</g>`);
  if (frame.xLabel) svg.push(`<text class="xlabel" x="${plot.x + plot.w / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(frame.xLabel)}</text>`);
  if (frame.yLabel)
    svg.push(`<text class="ylabel" transform="translate(18 ${plot.y + plot.h / 2}) rotate(-90)" text-anchor="middle">${escapeXml(frame.yLabel)}</text>`);
  if (legend.length) {
    svg.push(`<g class="legend">`);
    legend.forEach((l, i) => {
      const y = plot.y + 10 + i * 18;
      svg.push(`<rect x="${plot.x + plot.w + 12}" y="${y - 8}" width="14" height="10" fill="${l.color}" stroke="#888" stroke-width="0.5"/>`);
      svg.push(`<text x="${plot.x + plot.w + 32}" y="${y + 1}">${escapeXml(l.name)}</text>`);
    });
    svg.push(`</g>`);
  }
  return { svg, px, py, plot };
}

function polyline(xs: ArrayLike<number>, ys: ArrayLike<number>, px: (v: number) => number, py: (v: number) => number): string {
  const pts: string[] = [];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    if (Number.isFinite(x) && Number.isFinite(y)) pts.push(`${px(x).toFixed(2)},${py(y).toFixed(2)}`);
  }
  return pts.join(" ");
}

/** Line chart (one polyline per series, optional bands). */
export function lineChart(frame: Frame, series: readonly Series[]): string {
  const colors = series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]!);
  const xr = frame.xRange
    ? ([...frame.xRange] as [number, number])
    : finiteRange(
        series.map((s) => s.x),
        0,
      );
  const yr = frame.yRange ? ([...frame.yRange] as [number, number]) : finiteRange(series.flatMap((s) => (s.band ? [s.y, s.band.lo, s.band.hi] : [s.y])));
  const a = axes(
    frame,
    xr,
    yr,
    series.map((s, i) => ({ name: s.name, color: colors[i]! })),
  );
  const { svg, px, py, plot } = a;
  svg.push(`<defs><clipPath id="plot-area"><rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}"/></clipPath></defs>`);
  series.forEach((s, i) => {
    const c = colors[i]!;
    svg.push(`<g class="series" data-name="${escapeXml(s.name)}" data-points="${s.x.length}" clip-path="url(#plot-area)">`);
    if (s.band) {
      const up = polyline(s.x, s.band.hi, px, py);
      const down = polyline(Array.from(s.x).reverse(), Array.from(s.band.lo).reverse(), px, py);
      svg.push(`<polygon class="band" points="${up} ${down}" fill="${c}" fill-opacity="0.18" stroke="none"/>`);
    }
    if (s.points) {
      for (let j = 0; j < s.x.length; j++) {
        const x = s.x[j] as number;
        const y = s.y[j] as number;
        if (Number.isFinite(x) && Number.isFinite(y))
          svg.push(`<circle cx="${px(x).toFixed(2)}" cy="${py(y).toFixed(2)}" r="2.2" fill="${c}" fill-opacity="0.7"/>`);
      }
    } else {
      svg.push(`<polyline points="${polyline(s.x, s.y, px, py)}" fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    }
    svg.push(`</g>`);
  });
  svg.push(`</svg>`);
  return svg.join("\n");
}

export interface Heatmap {
  /** Row-major [ny, nx] values (e.g. densities), row 0 at the bottom (lowest y). */
  readonly values: ArrayLike<number>;
  readonly nx: number;
  readonly ny: number;
  readonly xRange: readonly [number, number];
  readonly yRange: readonly [number, number];
}

export interface Overlay {
  readonly name: string;
  readonly kind: "stars" | "points" | "path" | "squares";
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  readonly color?: string;
}

function starPoints(cx: number, cy: number, r: number): string {
  const pts: string[] = [];
  for (let i = 0; i < 10; i++) {
    const rad = i % 2 ? r * 0.45 : r;
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    pts.push(`${(cx + rad * Math.cos(a)).toFixed(2)},${(cy + rad * Math.sin(a)).toFixed(2)}`);
  }
  return pts.join(" ");
}

/** Viridis-like colour map on t in [0, 1]. */
export function colormap(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const c = stops[i]!.map((v, j) => Math.round(v + f * (stops[i + 1]![j]! - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Heatmap (e.g. a learned density over (x, y)) with optional overlays. */
export function heatmapChart(frame: Frame, map: Heatmap, overlays: readonly Overlay[] = []): string {
  const legend = overlays.map((o, i) => ({ name: o.name, color: o.color ?? PALETTE[(i + 1) % PALETTE.length]! }));
  const a = axes(frame, [...map.xRange] as [number, number], [...map.yRange] as [number, number], legend);
  const { svg, px, py } = a;
  let max = 0;
  for (let i = 0; i < map.values.length; i++) if (Number.isFinite(map.values[i] as number)) max = Math.max(max, map.values[i] as number);
  const dx = (map.xRange[1] - map.xRange[0]) / map.nx;
  const dy = (map.yRange[1] - map.yRange[0]) / map.ny;
  svg.push(`<g class="heatmap" data-nx="${map.nx}" data-ny="${map.ny}" shape-rendering="crispEdges">`);
  for (let j = 0; j < map.ny; j++) {
    for (let i = 0; i < map.nx; i++) {
      const v = map.values[j * map.nx + i] as number;
      const x0 = px(map.xRange[0] + i * dx);
      const y1 = py(map.yRange[0] + (j + 1) * dy);
      svg.push(
        `<rect x="${x0.toFixed(2)}" y="${y1.toFixed(2)}" width="${(px(map.xRange[0] + (i + 1) * dx) - x0 + 0.3).toFixed(2)}" height="${(py(map.yRange[0] + j * dy) - y1 + 0.3).toFixed(2)}" fill="${colormap(max > 0 ? Math.sqrt(v / max) : 0)}"/>`,
      );
    }
  }
  svg.push(`</g>`);
  const { plot } = a;
  svg.push(`<defs><clipPath id="heat-area"><rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}"/></clipPath></defs>`);
  overlays.forEach((o, i) => {
    const c = legend[i]!.color;
    svg.push(`<g class="series" data-name="${escapeXml(o.name)}" data-points="${o.x.length}" clip-path="url(#heat-area)">`);
    if (o.kind === "path") svg.push(`<polyline points="${polyline(o.x, o.y, px, py)}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    for (let j = 0; j < o.x.length; j++) {
      const X = px(o.x[j] as number);
      const Y = py(o.y[j] as number);
      if (!Number.isFinite(X) || !Number.isFinite(Y)) continue;
      if (o.kind === "stars") svg.push(`<polygon points="${starPoints(X, Y, 10)}" fill="${c}" stroke="#000" stroke-width="0.8"/>`);
      else if (o.kind === "squares") svg.push(`<rect x="${(X - 4).toFixed(2)}" y="${(Y - 4).toFixed(2)}" width="8" height="8" fill="#fff" stroke="#000"/>`);
      else if (o.kind === "points") svg.push(`<circle cx="${X.toFixed(2)}" cy="${Y.toFixed(2)}" r="2" fill="${c}"/>`);
      else if (j === o.x.length - 1) svg.push(`<circle cx="${X.toFixed(2)}" cy="${Y.toFixed(2)}" r="4" fill="${c}" stroke="#000"/>`);
    }
    svg.push(`</g>`);
  });
  svg.push(`</svg>`);
  return svg.join("\n");
}

/** Histogram of counts over equal bins on [lo, hi] (e.g. a PIT histogram), with an optional reference level. */
export function histogramChart(frame: Frame, counts: ArrayLike<number>, lo: number, hi: number, reference?: number): string {
  const nb = counts.length;
  let max = reference ?? 0;
  for (let i = 0; i < nb; i++) max = Math.max(max, counts[i] as number);
  const a = axes(frame, [lo, hi], [0, max * 1.1 || 1], reference !== undefined ? [{ name: "uniform", color: "#d62728" }] : []);
  const { svg, px, py } = a;
  const w = (hi - lo) / nb;
  svg.push(`<g class="series" data-name="histogram" data-points="${nb}">`);
  for (let i = 0; i < nb; i++) {
    const x0 = px(lo + i * w);
    const x1 = px(lo + (i + 1) * w);
    const y = py(counts[i] as number);
    svg.push(
      `<rect x="${x0.toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(0, x1 - x0 - 1).toFixed(2)}" height="${(py(0) - y).toFixed(2)}" fill="${PALETTE[0]}"/>`,
    );
  }
  svg.push(`</g>`);
  if (reference !== undefined) {
    svg.push(
      `<g class="series" data-name="uniform" data-points="2"><line x1="${px(lo)}" y1="${py(reference).toFixed(2)}" x2="${px(hi)}" y2="${py(reference).toFixed(2)}" stroke="#d62728" stroke-dasharray="6 4"/></g>`,
    );
  }
  svg.push(`</svg>`);
  return svg.join("\n");
}

/** Calibration: observed coverage of central intervals vs nominal level, with the diagonal. */
export function calibrationChart(frame: Frame, nominal: ArrayLike<number>, observed: ArrayLike<number>): string {
  return lineChart({ xLabel: "nominal coverage", yLabel: "observed coverage", xRange: [0, 1], yRange: [0, 1], ...frame }, [
    { name: "ideal", x: [0, 1], y: [0, 1], color: "#999999", dashed: true },
    { name: "model", x: nominal, y: observed, color: PALETTE[1] },
  ]);
}
