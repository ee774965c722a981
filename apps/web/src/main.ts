/**
 * The playground page: data and settings, one Web Worker per training run
 * (side by side: NLL and the chosen objective from the same initialisation),
 * live density heatmaps with data points and component means, NLL curves,
 * checkpoint export and import (safetensors, the format the CLI reads).
 */
import { loadBuiltin, parseCsvStream, standardize, type Dataset } from "@ngem/datasets";
import type { TrainConfig } from "@ngem/trainer";
import type { Frame, FromWorker, GridSpec, PlainData, ToWorker } from "./protocol.js";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const COLORS = ["#e4572e", "#2f6fde", "#17a398", "#f3a712", "#8e44ad", "#6b8f23", "#d81b60", "#00838f"];
const GRID_N = 96;

// ---------------------------------------------------------------- data

let data: PlainData;
let grid: GridSpec | undefined;
let dataLabel = "";

function plain(ds: Dataset): PlainData {
  return { name: ds.name, n: ds.n, xDim: ds.xDim, yDim: ds.yDim, x: ds.x, y: ds.y };
}

function range(a: Float64Array, stride: number, off: number, n: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = a[i * stride + off] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const pad = 0.15 * (hi - lo || 1);
  return [lo - pad, hi + pad];
}

function gridFor(d: PlainData): GridSpec | undefined {
  if (d.xDim === 0 && d.yDim === 2) {
    const [h0, h1] = range(d.y, 2, 0, d.n);
    const [v0, v1] = range(d.y, 2, 1, d.n);
    return { mode: "joint2d", h0, h1, v0, v1, nh: GRID_N, nv: GRID_N };
  }
  if (d.xDim === 1 && d.yDim === 1) {
    const [h0, h1] = range(d.x, 1, 0, d.n);
    const [v0, v1] = range(d.y, 1, 0, d.n);
    return { mode: "cond1d", h0, h1, v0, v1, nh: GRID_N, nv: GRID_N };
  }
  return undefined;
}

function setData(d: PlainData, label: string): void {
  data = d;
  grid = gridFor(d);
  dataLabel = label;
  $("data-info").textContent = `${label}: ${d.n} rows, x ${d.xDim}-D, y ${d.yDim}-D${grid ? "" : " (no heatmap: it needs x 1-D and y 1-D, or no x and y 2-D)"}`;
}

function loadTask(): void {
  const task = ($("task") as HTMLSelectElement).value;
  if (task === "csv") return;
  const seed = Number(($("seed") as HTMLInputElement).value) || 0;
  setData(plain(loadBuiltin(task, { seed })), task);
  // Two-Gaussians: plain SGD at a large step, where the paper's point shows (NLL oscillates, nGEM converges).
  const tg = task === "two-gaussians";
  ($("k") as HTMLInputElement).value = task === "inverse-sine" ? "3" : "2";
  ($("optimizer") as HTMLSelectElement).value = tg ? "sgd" : "adam";
  ($("lr") as HTMLInputElement).value = tg ? "0.1" : "0.005";
  ($("batch") as HTMLInputElement).value = tg ? "10" : "32";
  ($("steps") as HTMLInputElement).value = tg ? "300" : "1500";
}

async function loadCsvFile(file: File): Promise<void> {
  try {
    const ds = await parseCsvStream(file.stream(), { file: file.name });
    const z = standardize(ds);
    const opt = ($("task") as HTMLSelectElement).querySelector('option[value="csv"]') as HTMLOptionElement;
    opt.disabled = false;
    opt.textContent = `CSV: ${file.name}`;
    ($("task") as HTMLSelectElement).value = "csv";
    setData(plain(z), `${file.name} (standardised; y = ${ds.yNames.join(", ")})`);
  } catch (e) {
    status(`cannot read ${file.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------- drawing

const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function colormap(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i] as number[];
  const b = STOPS[i + 1] as number[];
  return [a[0]! + f * (b[0]! - a[0]!), a[1]! + f * (b[1]! - a[1]!), a[2]! + f * (b[2]! - a[2]!)];
}

class Panel {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly info: HTMLElement;
  readonly frames: { step: number; nll: number }[] = [];
  /** joint2d: per component, the path of its mean. */
  readonly paths: [number, number][][] = [];
  worker: Worker | undefined;
  running = false;
  finalNll: number | undefined;
  last: Frame | undefined;

  constructor(
    readonly title: string,
    readonly color: string,
  ) {
    this.el = document.createElement("div");
    this.el.className = "panel";
    this.el.innerHTML = `<h3></h3><canvas width="360" height="360"></canvas><div class="nll"></div><button type="button" class="export" disabled>Export this checkpoint</button>`;
    (this.el.querySelector("h3") as HTMLElement).textContent = title;
    (this.el.querySelector("h3") as HTMLElement).style.color = color;
    this.canvas = this.el.querySelector("canvas") as HTMLCanvasElement;
    this.info = this.el.querySelector(".nll") as HTMLElement;
    (this.el.querySelector(".export") as HTMLButtonElement).onclick = () => exportFrom(this);
  }

  draw(f: Frame): void {
    this.last = f;
    const ctx = this.canvas.getContext("2d") as CanvasRenderingContext2D;
    const W = this.canvas.width;
    const H = this.canvas.height;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    if (!grid || !f.logDensity) {
      ctx.fillStyle = "#4a5160";
      ctx.font = "14px system-ui";
      ctx.fillText("no heatmap for this data shape", 20, H / 2);
    } else {
      const g = grid;
      const img = new ImageData(g.nh, g.nv);
      let max = -Infinity;
      for (const v of f.logDensity) if (v > max) max = v;
      const span = 9;
      for (let j = 0; j < g.nv; j++) {
        for (let i = 0; i < g.nh; i++) {
          const v = f.logDensity[j * g.nh + i] as number;
          const [r, gg, b] = colormap((v - (max - span)) / span);
          const o = ((g.nv - 1 - j) * g.nh + i) * 4; // row 0 = v0 at the bottom
          img.data[o] = r;
          img.data[o + 1] = gg;
          img.data[o + 2] = b;
          img.data[o + 3] = 255;
        }
      }
      const off = new OffscreenCanvas(g.nh, g.nv);
      (off.getContext("2d") as OffscreenCanvasRenderingContext2D).putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(off, 0, 0, W, H);
      const px = (h: number): number => ((h - g.h0) / (g.h1 - g.h0)) * W;
      const py = (v: number): number => H - ((v - g.v0) / (g.v1 - g.v0)) * H;
      // data points
      ctx.fillStyle = "rgba(255,255,255,0.75)";
      const stride = Math.max(1, Math.floor(data.n / 800));
      for (let r = 0; r < data.n; r += stride) {
        const h = g.mode === "joint2d" ? (data.y[2 * r] as number) : (data.x[r] as number);
        const v = g.mode === "joint2d" ? (data.y[2 * r + 1] as number) : (data.y[r] as number);
        ctx.fillRect(px(h) - 1, py(v) - 1, 2.2, 2.2);
      }
      // component means
      if (f.means) {
        if (g.mode === "joint2d") {
          for (let c = 0; c < f.k; c++) {
            (this.paths[c] ??= []).push([f.means[2 * c] as number, f.means[2 * c + 1] as number]);
            const p = this.paths[c] as [number, number][];
            ctx.strokeStyle = COLORS[c % COLORS.length] as string;
            ctx.lineWidth = 2;
            ctx.beginPath();
            p.forEach(([a, b], i) => (i ? ctx.lineTo(px(a), py(b)) : ctx.moveTo(px(a), py(b))));
            ctx.stroke();
            const [a, b] = p[p.length - 1] as [number, number];
            ctx.fillStyle = COLORS[c % COLORS.length] as string;
            ctx.beginPath();
            ctx.arc(px(a), py(b), 5, 0, 2 * Math.PI);
            ctx.fill();
          }
        } else {
          const xs = Array.from({ length: g.nh }, (_, i) => g.h0 + ((i + 0.5) / g.nh) * (g.h1 - g.h0));
          for (let c = 0; c < f.k; c++) {
            ctx.strokeStyle = COLORS[c % COLORS.length] as string;
            ctx.lineWidth = 2;
            ctx.beginPath();
            xs.forEach((x, i) => {
              const v = f.means![c * g.nh + i] as number;
              if (i) ctx.lineTo(px(x), py(v));
              else ctx.moveTo(px(x), py(v));
            });
            ctx.stroke();
          }
        }
      }
    }
    if (Number.isFinite(f.nll)) this.frames.push({ step: f.step, nll: f.nll });
    this.info.textContent = `step ${f.step}${f.totalSteps ? ` / ${f.totalSteps}` : ""}   NLL ${fmt(f.nll)}   ${f.seconds.toFixed(2)} s`;
    drawCurve();
  }
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : String(v);
}

let panels: Panel[] = [];

function drawCurve(): void {
  const c = $("curve") as HTMLCanvasElement;
  const ctx = c.getContext("2d") as CanvasRenderingContext2D;
  const W = c.width;
  const H = c.height;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const all = panels.flatMap((p) => p.frames);
  if (all.length < 1) return;
  const maxStep = Math.max(1, ...all.map((f) => f.step));
  const vals = all.map((f) => f.nll).sort((a, b) => a - b);
  const lo = vals[0] as number;
  const hi = Math.max(lo + 1e-3, vals[Math.floor(0.9 * (vals.length - 1))] as number);
  const top = hi + 0.1 * (hi - lo);
  const L = 52;
  const x = (s: number): number => L + (s / maxStep) * (W - L - 10);
  const y = (v: number): number => 10 + ((top - Math.min(top, v)) / (top - lo)) * (H - 30);
  ctx.strokeStyle = "#c9ced8";
  ctx.fillStyle = "#4a5160";
  ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((top - lo) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(L, y(v));
    ctx.lineTo(W - 10, y(v));
    ctx.stroke();
    ctx.fillText(v.toFixed(2), 4, y(v) + 4);
  }
  ctx.fillText(`step ${maxStep}`, W - 60, H - 4);
  for (const p of panels) {
    ctx.strokeStyle = p.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    p.frames.forEach((f, i) => (i ? ctx.lineTo(x(f.step), y(f.nll)) : ctx.moveTo(x(f.step), y(f.nll))));
    ctx.stroke();
  }
  $("legend").innerHTML = panels
    .map(
      (p) =>
        `<span style="color:${p.color}">&#9632; ${p.title}</span>${p.finalNll !== undefined ? `: final NLL <b class="final-nll" data-run="${p.title}">${fmt(p.finalNll)}</b>` : ""}`,
    )
    .join("&nbsp;&nbsp; ");
}

// ---------------------------------------------------------------- runs

function status(s: string): void {
  $("status").textContent = s;
}

const numberOf = (id: string): number => Number(($(id) as HTMLInputElement).value);

function configFor(objective: string): TrainConfig {
  const k = Math.max(1, Math.round(numberOf("k")));
  const hidden = ($("hidden") as HTMLInputElement).value
    .split(",")
    .map((s) => Math.round(Number(s.trim())))
    .filter((v) => v > 0);
  const model = data.xDim === 0 ? ({ kind: "gmm", k } as const) : ({ kind: "mdn", k, hidden } as const);
  const type = ($("optimizer") as HTMLSelectElement).value as "adam" | "sgd" | "rmsprop" | "soap";
  return {
    model,
    objective: objective as TrainConfig["objective"],
    optimizer: { type, lr: numberOf("lr") } as TrainConfig["optimizer"],
    steps: Math.max(1, Math.round(numberOf("steps"))),
    batchSize: Math.max(1, Math.round(numberOf("batch"))),
    seed: Math.round(numberOf("seed")) || 0,
    validationSplit: 0,
    backend: "wasm",
  };
}

const OBJECTIVE_NAMES: Record<string, string> = { nll: "NLL", ngem: "nGEM", "ngem-full": "nGEM-full", em: "EM" };
let firstTrainedAt: number | undefined;

function newWorker(p: Panel): Worker {
  const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  p.worker = w;
  w.onmessage = (ev: MessageEvent<FromWorker>) => onWorker(p, ev.data);
  w.onerror = (e) => status(`worker error: ${e.message}`);
  return w;
}

function onWorker(p: Panel, m: FromWorker): void {
  if (m.type === "frame") p.draw(m);
  else if (m.type === "done") {
    p.running = false;
    p.finalNll = m.nll;
    p.el.dataset.finalNll = String(m.nll);
    (p.el.querySelector(".export") as HTMLButtonElement).disabled = false;
    p.info.textContent = `final NLL ${fmt(m.nll)} after ${m.step} steps (${m.seconds.toFixed(2)} s${m.stopReason !== "completed" ? `, ${m.stopReason}` : ""})`;
    if (firstTrainedAt === undefined) {
      firstTrainedAt = performance.now();
      document.body.dataset.firstTrainedMs = String(Math.round(firstTrainedAt));
    }
    drawCurve();
    if (panels.every((q) => !q.running)) finished();
  } else if (m.type === "checkpoint") {
    const blob = new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `ngem-${data.name}-${p.title.replace(/[^a-zA-Z0-9-]+/g, "_").toLowerCase()}.safetensors`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } else if (m.type === "loaded") {
    p.el.querySelector("h3")!.textContent = `${p.title}: ${m.description}`;
    (p.el.querySelector(".export") as HTMLButtonElement).disabled = false;
  } else if (m.type === "error") {
    p.running = false;
    status(`${p.title}: ${m.message}`);
    if (panels.every((q) => !q.running)) finished();
  }
}

function finished(): void {
  ($("train") as HTMLButtonElement).disabled = false;
  ($("stop") as HTMLButtonElement).disabled = true;
  ($("export") as HTMLButtonElement).disabled = !panels.some((p) => p.finalNll !== undefined);
  const parts = panels.filter((p) => p.finalNll !== undefined).map((p) => `${p.title}: final NLL ${fmt(p.finalNll as number)}`);
  const first = firstTrainedAt !== undefined ? `\nfirst trained model ${(firstTrainedAt / 1000).toFixed(2)} s after the page started loading` : "";
  status(`done. ${parts.join(" | ")}${first}`);
  document.body.dataset.state = "done";
}

function resetPanels(titles: string[]): void {
  for (const p of panels) p.worker?.terminate();
  panels = titles.map((t, i) => new Panel(t, COLORS[i === 0 && titles.length > 1 ? 0 : 1] as string));
  $("panels").replaceChildren(...panels.map((p) => p.el));
  drawCurve();
}

function startTraining(): void {
  const objective = ($("objective") as HTMLSelectElement).value;
  const side = ($("side") as HTMLInputElement).checked;
  // side by side: NLL on the left, the chosen objective (nGEM when NLL is chosen) on the right
  const objectives = side ? ["nll", objective === "nll" ? "ngem" : objective] : [objective];
  resetPanels(objectives.map((o) => OBJECTIVE_NAMES[o] ?? o));
  document.body.dataset.state = "training";
  ($("train") as HTMLButtonElement).disabled = true;
  ($("stop") as HTMLButtonElement).disabled = false;
  ($("export") as HTMLButtonElement).disabled = true;
  status(`training on ${dataLabel} (wasm backend, ${objectives.length} worker${objectives.length > 1 ? "s" : ""})...`);
  objectives.forEach((o, i) => {
    const p = panels[i] as Panel;
    p.running = true;
    const msg: ToWorker = { type: "start", config: configFor(o), data, grid, frames: 60 };
    newWorker(p).postMessage(msg);
  });
}

function exportFrom(p: Panel): void {
  p.worker?.postMessage({ type: "export" } satisfies ToWorker);
}

async function loadCheckpoint(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  resetPanels([`loaded ${file.name}`]);
  const p = panels[0] as Panel;
  newWorker(p).postMessage({ type: "load", bytes, data, grid } satisfies ToWorker, [bytes.buffer]);
  status(`loaded ${file.name}`);
}

// ---------------------------------------------------------------- wiring

$("task").addEventListener("change", loadTask);
$("seed").addEventListener("change", loadTask);
$("train").addEventListener("click", startTraining);
$("stop").addEventListener("click", () => panels.forEach((p) => p.worker?.postMessage({ type: "stop" } satisfies ToWorker)));
$("export").addEventListener("click", () => {
  const p = [...panels].reverse().find((q) => q.finalNll !== undefined);
  if (p) exportFrom(p);
});
$("load").addEventListener("change", (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void loadCheckpoint(f);
});
$("csv").addEventListener("change", (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void loadCsvFile(f);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer?.files[0];
  if (f) void loadCsvFile(f);
});

loadTask();
resetPanels(["NLL", "nGEM"]);
const params = new URLSearchParams(location.search);
if (params.has("autorun")) startTraining();
document.body.dataset.state = document.body.dataset.state ?? "ready";
