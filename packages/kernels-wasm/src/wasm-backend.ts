/**
 * The `wasm` backend: core's {@link Backend} on the AssemblyScript SIMD
 * kernels, in float32. Each model owns a kernels instance (its own memory);
 * the backend keeps one more instance for {@link Backend.head} calls.
 */
import {
  NonFiniteError,
  ShapeError,
  resolveHeadOptions,
  createModelFacade,
  validateMixture,
  type Backend,
  type FloatArray,
  type HeadOptions,
  type HeadResult,
  type MixtureParams,
  type ModelSpec,
  type NamedTensors,
} from "@ngem/core";
import { compileKernels, selectKernelsBuild, type KernelsBuild } from "./kernels.js";
import { headCodesOf, KernelRuntime, resolveThreads, type Region, type RuntimeOptions } from "./runtime.js";
import { WasmModelHandler, type WasmModel } from "./wasm-model.js";

export type WasmBackendOptions = RuntimeOptions;

/** The `wasm` backend object (a {@link Backend} plus access to its head runtime). */
export interface WasmBackend extends Backend {
  readonly name: "wasm";
  readonly precision: "float32";
  /** The kernels build in use and why it was chosen (see {@link selectKernelsBuild}). */
  readonly build: KernelsBuild;
  readonly buildReason: string;
  /** Threads per model (1: single-threaded) and why (see {@link RuntimeOptions.threads}). */
  readonly threads: number;
  readonly threadsReason: string;
  /** Creates a model: core's ModelFacade over a {@link WasmModelHandler} (`model.handler()` or `wasmHandlerOf(model)` has `stats()`, `profile()`, `threadStats()` ...). */
  createModel(spec: ModelSpec, weights: NamedTensors): Promise<WasmModel>;
}

interface HeadRegions {
  n: number;
  k: number;
  d: number;
  logits: Region;
  mu: Region;
  logSigma: Region;
  y: Region;
  gA: Region;
  gMu: Region;
  gS: Region;
  scratch: Region;
  res: Region;
}

/**
 * Creates a `wasm` backend. Fails with BackendUnavailableError when this
 * runtime lacks WebAssembly SIMD. `maxMemoryBytes` bounds each instance's memory.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  await compileKernels(opts.build);
  const th = await resolveThreads(opts.threads);
  if (th.threads > 1) await compileKernels(opts.build, true);
  let headRt: KernelRuntime | undefined = await KernelRuntime.create(opts, 1);
  const headBase = headRt.mark();
  let regions: HeadRegions | undefined;

  const headRegions = (rt: KernelRuntime, n: number, k: number, d: number): HeadRegions => {
    if (regions && regions.n === n && regions.k === k && regions.d === d) return regions;
    regions = undefined;
    rt.release(headBase);
    const nk = n * k;
    const nkd = nk * d;
    regions = {
      n,
      k,
      d,
      logits: rt.alloc("logits", nk),
      mu: rt.alloc("mu", nkd),
      logSigma: rt.alloc("logSigma", nkd),
      y: rt.alloc("y", n * d),
      gA: rt.alloc("grad logits", nk),
      gMu: rt.alloc("grad mu", nkd),
      gS: rt.alloc("grad logSigma", nkd),
      scratch: rt.alloc("head scratch", rt.headScratchFloats(k, d)),
      res: rt.alloc("head result", 4),
    };
    return regions;
  };

  const sel = selectKernelsBuild(opts.build);
  const backend: WasmBackend = {
    name: "wasm",
    precision: "float32",
    build: sel.build,
    buildReason: sel.reason,
    threads: th.threads,
    threadsReason: th.reason,
    async head(params: MixtureParams, y: FloatArray, options: HeadOptions): Promise<HeadResult> {
      if (!headRt) throw new ShapeError("backend", "the wasm backend was disposed");
      const rt = headRt;
      validateMixture(params, y, false);
      const codes = headCodesOf(resolveHeadOptions(options));
      const { n, k, d } = params;
      const r = headRegions(rt, n, k, d);
      rt.write(r.logits, params.logits);
      rt.write(r.mu, params.mu);
      rt.write(r.logSigma, params.logSigma);
      rt.write(r.y, y);
      // Non-finite inputs: the reference's error, found by a SIMD scan (values past float32 range are Inf here).
      const named: [string, Region, number][] = [
        ["logits", r.logits, k],
        ["mu", r.mu, k * d],
        ["logSigma", r.logSigma, k * d],
        ["y", r.y, d],
      ];
      for (const [name, reg, cols] of named) {
        const at = rt.firstNonFinite(reg, n, cols);
        if (at >= 0) throw new NonFiniteError(name, at, rt.f32[(reg.ptr >>> 2) + at] as number);
      }
      const kd = k * d;
      const bad = rt.mixtureHead(
        {
          n,
          k,
          d,
          logits: r.logits,
          logitsOff: 0,
          logitsStride: k,
          mu: r.mu,
          muOff: 0,
          s: r.logSigma,
          sOff: 0,
          msStride: kd,
          y: r.y,
          gLogits: r.gA,
          gLogitsOff: 0,
          gLogitsStride: k,
          gMu: r.gMu,
          gMuOff: 0,
          gS: r.gS,
          gSOff: 0,
          gMsStride: kd,
        },
        codes,
        r.scratch,
        r.res,
      );
      const f64 = rt.f64;
      const loss = f64[r.res.ptr >>> 3] as number;
      if (bad >= 0) throw new NonFiniteError("nll", bad, loss, "density of sample n underflowed for every component (float32)");
      return {
        loss,
        negQ: f64[(r.res.ptr >>> 3) + 1] as number,
        grads: {
          logits: Float64Array.from(rt.view(r.gA)),
          mu: Float64Array.from(rt.view(r.gMu)),
          logSigma: Float64Array.from(rt.view(r.gS)),
        },
      };
    },
    createModel(spec: ModelSpec, weights: NamedTensors): Promise<WasmModel> {
      return createModelFacade(spec, weights, async (s, w) => {
        const rt = await KernelRuntime.create(opts, th.threads);
        try {
          const h = new WasmModelHandler(rt, s, w);
          await h.threadsFor(32); // large models: workers ready before the first step
          return h;
        } catch (err) {
          rt.dispose();
          throw err;
        }
      });
    },
    dispose(): void {
      headRt = undefined;
      regions = undefined;
    },
  };
  return backend;
}
