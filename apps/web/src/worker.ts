/// <reference lib="webworker" />
/**
 * One training run, off the page's thread: nGEM (or NLL / EM / nGEM-full) on
 * the `wasm` backend, posting a frame (full-data NLL, the step losses, the
 * density on the grid and the component means) every few steps.
 */
import "@ngem/kernels-wasm";
import { datasetNll, decodeCheckpoint, encodeCheckpoint, predict, train, type TrainedModel } from "@ngem/trainer";
import { densityGrid, axis } from "./density.js";
import type { FromWorker, GridSpec, PlainData, ToWorker } from "./protocol.js";

declare const self: DedicatedWorkerGlobalScope;

let model: TrainedModel | undefined;
let abort: AbortController | undefined;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

async function frameOf(
  m: TrainedModel,
  data: PlainData | undefined,
  grid: GridSpec | undefined,
  step: number,
  totalSteps: number,
  losses: number[],
  t0: number,
) {
  const nll = data ? await datasetNll(m, data) : NaN;
  let logDensity: Float32Array | undefined;
  let means: Float64Array | undefined;
  if (grid) {
    const mix =
      grid.mode === "joint2d" ? await predict(m, m.spec.kind === "mdn" ? new Float64Array(0) : undefined) : await predict(m, axis(grid.h0, grid.h1, grid.nh));
    ({ logDensity, means } = densityGrid(mix, grid));
  }
  const k = m.spec.k;
  return { type: "frame" as const, step, totalSteps, nll, losses: Float64Array.from(losses), logDensity, means, k, seconds: (performance.now() - t0) / 1000 };
}

function send(f: Awaited<ReturnType<typeof frameOf>>): void {
  const transfer: Transferable[] = [f.losses.buffer];
  if (f.logDensity) transfer.push(f.logDensity.buffer);
  if (f.means) transfer.push(f.means.buffer);
  post(f, transfer);
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  try {
    if (msg.type === "stop") {
      abort?.abort();
    } else if (msg.type === "export") {
      if (!model) throw new Error("no trained model yet");
      const bytes = await encodeCheckpoint(model);
      post({ type: "checkpoint", bytes }, [bytes.buffer]);
    } else if (msg.type === "load") {
      model = await decodeCheckpoint(msg.bytes, { backend: "wasm" });
      const spec = model.spec;
      post({
        type: "loaded",
        description: spec.kind === "gmm" ? `free GMM K=${spec.k} D=${spec.d}` : `MDN ${spec.inputDim}-${spec.hidden.join("-")}-head K=${spec.k} D=${spec.d}`,
      });
      const dataFits = msg.data && (spec.kind === "gmm" ? msg.data.xDim === 0 : msg.data.xDim === spec.inputDim) && msg.data.yDim === spec.d;
      send(await frameOf(model, dataFits ? msg.data : undefined, dataFits ? msg.grid : undefined, 0, 0, [], performance.now()));
    } else if (msg.type === "start") {
      abort = new AbortController();
      const t0 = performance.now();
      const total = msg.config.steps ?? 0;
      const every = Math.max(1, Math.ceil(total / Math.max(1, msg.frames)));
      let losses: number[] = [];
      let lastStep = 0;
      const result = await train(msg.config, msg.data, {
        signal: abort.signal,
        recordSteps: false,
        onStep: async (rec, m) => {
          losses.push(rec.loss);
          lastStep = rec.step;
          model = m;
          if (rec.step % every === 0 || rec.step === total) {
            send(await frameOf(m, msg.data, msg.grid, rec.step, total, losses, t0));
            losses = [];
            await new Promise((r) => setTimeout(r, 0)); // let a "stop" message in
          }
        },
      });
      model = result.model;
      post({
        type: "done",
        step: lastStep,
        nll: await datasetNll(result.model, msg.data),
        seconds: (performance.now() - t0) / 1000,
        stopReason: result.history.stopReason,
      });
    }
  } catch (e) {
    post({ type: "error", message: e instanceof Error ? e.message : String(e) });
  }
};
