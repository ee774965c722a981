/** The page bundle of the Chromium parity test: every backend the page can load, exposed as window.ngem. */
import { getBackend, registeredBackends } from "@ngem/core";
import "@ngem/kernels-wasm";
import "@ngem/backend-tfjs";
import "@tensorflow/tfjs-backend-webgl";
import "@tensorflow/tfjs-backend-webgpu";
import { runParity, shortTrain } from "./harness.js";

async function webgpuStatus(): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return "navigator.gpu is undefined (this Chromium exposes no WebGPU)";
  const a = await gpu.requestAdapter();
  return a ? "ok" : "navigator.gpu.requestAdapter() returned null (no WebGPU adapter)";
}

function webglStatus(): string {
  const c = document.createElement("canvas");
  const gl = c.getContext("webgl2");
  if (!gl) return "no WebGL2 context";
  const dbg = gl.getExtension("WEBGL_debug_renderer_info");
  return `ok: ${dbg ? String(gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL)) : String(gl.getParameter(gl.RENDERER))}`;
}

const api = {
  registered: () => registeredBackends(),
  webgpuStatus,
  webglStatus,
  parity: (name: string) => runParity(name, () => getBackend(name)),
  train: (name: string, steps?: number) => shortTrain(name, steps),
};
(window as unknown as { ngem: typeof api }).ngem = api;
document.title = "ngem harness ready";
