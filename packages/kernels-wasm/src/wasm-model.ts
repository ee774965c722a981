/**
 * The `wasm` backend's model handler: core's {@link ModelHandler} behind a
 * {@link ModelFacade} (which validates arguments, guards non-finite inputs,
 * clips, counts optimizer steps and names the optimizer state). Parameters,
 * gradients, optimizer moments and activations all live in one kernels
 * instance's memory (float32), laid out once per batch size, so a training step
 * in steady state calls kernels on fixed regions and allocates no typed arrays
 * or wasm memory.
 *
 * Memory layout (16-byte aligned regions, from the heap base):
 *   persistent: P (all parameters, canonical order, each tensor 16-byte aligned)
 *               G (gradients, same layout), M / V (optimizer moments, same layout),
 *               head scratch, result slots
 *   workspace (re-laid only when a larger batch arrives): x, y, per-layer
 *               pre-activation / LayerNorm caches / activations, head output rows,
 *               head gradient rows, two backward ping-pong buffers
 *
 * The backward products read their transposed operand in place: X^T G with
 * rt.matmulAT and G W^T with rt.matmulBT (B^T is transposed while the kernel packs
 * its panels), so no transposed copy of X or W is made (results bit-identical to
 * transpose + matmul).
 *
 * The parameter slots are resolved once into a {@link MdnLayout} (trunks, layers,
 * head layers) or a {@link GmmLayout} (logits, mu, scale), so no step looks a
 * tensor up by name.
 *
 * Non-default heads (`spec.head`: softplus / elu+1, a sigma floor, isotropic or
 * shared covariance): the head output row is [logits K | mu KD | raw scale S].
 * Between the head-output dense layer and the fused head kernel, JS loops over
 * the shared-memory view expand the raw scale into an expanded row
 * [logits | mu | logSigma KD] (plus s' = d log sigma / dr per raw entry), the
 * unchanged diagonal head kernel runs on the expanded rows, and a second loop
 * reduces its log-sigma gradient to the raw scale (core's scale.ts rules). All of
 * it works on preallocated regions, so steps still allocate nothing. The default head
 * (exp, sigmaMin 0, diag) skips both loops and runs exactly the old path.
 *
 * Separate trunks (`spec.trunk: "separate"`): each trunk has its own layer
 * workspaces and its own head output / head gradient rows [n, width]; after a
 * trunk's head layer, a JS loop copies its rows into the columns of the shared
 * head output rows [logits | mu | raw scale], and before the backward pass the
 * head gradient's columns are copied back (preallocated regions, so still no
 * allocation per step). The backward ping-pong buffers are shared by the trunks.
 * A shared trunk (the default) uses the head rows directly, as before.
 */
import {
  ModelFacade,
  NonFiniteError,
  isDefaultScale,
  logSigmaInto,
  paramShapes,
  reduceScaleRow,
  resolveHeadOptions,
  resolveScaleOptions,
  scaleWidth,
  trunkLayout,
  type BackendModel,
  type Covariance,
  type Batch,
  type FloatArray,
  type GradientPass,
  type MixtureParams,
  type ModelHandler,
  type ModelSpec,
  type MomentKind,
  type NamedTensors,
  type OptimizerSpec,
  type ResolvedHeadOptions,
  type ScaleParam,
} from "@ngem/core";
import {
  type HeadBlocks,
  headCodesOf,
  headWorkPerRow,
  MatmulMode,
  type MutableHeadCodes,
  PHASES,
  type KernelRuntime,
  type Phase,
  type Region,
  WORK_PER_ELEMENT,
} from "./runtime.js";

/** A per-phase step profile (milliseconds summed over `steps` steps); see {@link WasmModelHandler.profile}. */
export type WasmStepProfile = { readonly steps: number; readonly totalMs: number; readonly otherMs: number } & { readonly [P in Phase]: number };

type MdnSpec = Extract<ModelSpec, { kind: "mdn" }>;

interface Slot {
  readonly name: string;
  readonly shape: number[];
  readonly size: number;
  readonly p: Region;
  readonly g: Region;
  readonly m: Region;
  readonly v: Region;
}

interface Layer {
  readonly inDim: number;
  readonly width: number;
  readonly W: Slot;
  readonly b: Slot;
  readonly gamma?: Slot;
  readonly beta?: Slot;
}

/** One trunk and its head layer, writing columns [col0, col0 + width) of the head row. */
interface Trunk {
  readonly prefix: string;
  readonly layers: Layer[];
  readonly W: Slot;
  readonly b: Slot;
  readonly col0: number;
  readonly width: number;
}

/** An MDN's parameters, resolved once: its trunks (one shared, or two separate) with their layers and head layers. */
interface MdnLayout {
  readonly kind: "mdn";
  readonly spec: MdnSpec;
  readonly trunks: Trunk[];
  /** Width of the last hidden layer (inputDim without hidden layers): the head layers' input. */
  readonly lastDim: number;
}

/** A GMM's parameters, resolved once. */
interface GmmLayout {
  readonly kind: "gmm";
  readonly logits: Slot;
  readonly mu: Slot;
  /** gmm.logSigma: log sigma itself (default head) or the raw scale [S]. */
  readonly scale: Slot;
  /** The log sigma [K, D] the head reads: scale.p (default head) or the expanded copy. */
  readonly logSigma: Region;
  /** Non-default heads: s' [S] and the row sum of the head's log-sigma gradient [K, D]. */
  readonly ds?: Region;
  readonly gs?: Region;
}

/** A trunk's workspace: its layers, and its head layer's output rows and their gradient ([n, width]; = out / gOut for a shared trunk). */
interface TrunkWs {
  layers: LayerWs[];
  out: Region;
  gOut: Region;
}

interface LayerWs {
  /** The pre-activation; after a training forward, act'(x) of the layer's activation. */
  pre: Region;
  normed?: Region;
  invStd?: Region;
  lnOut?: Region;
  act: Region;
}

interface Workspace {
  cap: number;
  x?: Region;
  y: Region;
  /** Per trunk (spec.ts trunkLayout order; MDN only). */
  trunks: TrunkWs[];
  out: Region;
  gOut: Region;
  g0?: Region;
  g1?: Region;
  /** Per-row NLL and -Q of the head split across threads, [n, 2] float64 (threads only). */
  rowRes?: Region;
  /** Rows the fused head reads: `out` (default head) or the expanded rows `hx` [n, K + 2KD]. */
  hin: Region;
  /** Rows the fused head writes: `gOut` (default head and GMM) or `ghx` [n, K + 2KD]. */
  hg: Region;
  /** s' per raw scale entry, [n, S] (non-default MDN heads only). */
  ds?: Region;
  /** The fused head's blocks over this workspace (see headBlocks). */
  head?: HeadBlocks;
}

/** log sigma and s' of one raw value ({@link logSigmaInto}'s output; module-level, so no per-call allocation). */
const sOut = new Float64Array(2);

function sub(r: Region, name: string, offset: number, length: number): Region {
  return { name, ptr: r.ptr + 4 * offset, length };
}

/** Statistics for allocation checks (see the README's "Memory" section). */
export interface WasmModelStats {
  /** Current wasm memory size in bytes. */
  readonly memoryBytes: number;
  /** Times the batch workspace was laid out (grows only for a larger batch). */
  readonly workspaceLayouts: number;
  /** Times the JS typed-array views over wasm memory were re-created. */
  readonly viewRefreshes: number;
  /** Batch capacity of the current workspace. */
  readonly batchCapacity: number;
  /** Regions allocated in this model's memory so far. */
  readonly allocations: number;
  /** Arrays or views created from wasm memory so far (getWeights, gradients, predict ...). */
  readonly copiesOut: number;
}

/** A {@link GradientPass} the handler reuses (no allocation per step). */
interface PassOut {
  loss: number;
  gradNorm: number;
  floorHits: number;
}

/** What `createModel` of the wasm backend returns: the facade over a {@link WasmModelHandler}. */
export type WasmModel = ModelFacade<WasmModelHandler>;

/**
 * The wasm handler behind a model of the wasm backend (for its extras: stats,
 * profile, threads, subnormal counts), or undefined for a model of another backend.
 * Throws DisposedError after the model was disposed.
 */
export function wasmHandlerOf(model: BackendModel): WasmModelHandler | undefined {
  if (!(model instanceof ModelFacade)) return undefined;
  const h = model.handler();
  return h instanceof WasmModelHandler ? h : undefined;
}

export class WasmModelHandler implements ModelHandler {
  readonly spec: ModelSpec;
  private readonly rt: KernelRuntime;
  private readonly slots: Slot[] = [];
  private readonly P: Region;
  private readonly G: Region;
  private readonly M: Region;
  private readonly V: Region;
  private readonly total: number;
  private readonly layout: MdnLayout | GmmLayout;
  private readonly K: number;
  private readonly D: number;
  /** Head output row width, K + KD + S. */
  private readonly HW: number;
  /** Expanded (diagonal) head row width the fused kernel sees, K + 2KD (= HW for the default head). */
  private readonly HX: number;
  // scale options of spec.head (resolved once)
  private readonly defaultScale: boolean;
  private readonly scale: ScaleParam;
  private readonly covariance: Covariance;
  private readonly sigmaMin: number;
  /** Raw scale entries per sample. */
  private readonly S: number;
  /** pi' of one row as float64 (ngem-full with shared sigmas). */
  private readonly piTmp?: Region;
  /** Head scratch per thread (index 0 = {@link scratch}). */
  private readonly scratches: Region[];
  /** Largest single kernel call of a step per batch row (about flops), for starting the threads. */
  private readonly workPerRow: number;
  private readonly scratch: Region;
  private readonly res: Region;
  private readonly wsMark: number;
  private ws: Workspace | undefined;
  private layouts = 0;
  private readonly passOut: PassOut = { loss: 0, gradNorm: 0, floorHits: 0 };
  /**
   * The resolved head options of the current call as the kernel takes them (one object, rewritten by
   * resolveHead: no per-call allocation). pre is the precondition mask: 1 logits, 2 mu, 4 scale.
   */
  private readonly codes: MutableHeadCodes = headCodesOf(resolveHeadOptions({}));

  /** Lays out a model of `spec` in `rt`'s memory (spec and weights already validated). */
  constructor(rt: KernelRuntime, spec: ModelSpec, weights: NamedTensors) {
    this.spec = spec;
    this.rt = rt;
    const shapes = paramShapes(spec);
    const offsets: number[] = [];
    let total = 0;
    for (const [, shape] of shapes) {
      offsets.push(total);
      total += Math.ceil(shape.reduce((a, b) => a * b, 1) / 4) * 4;
    }
    this.total = total;
    this.P = rt.alloc("parameters", total);
    this.G = rt.alloc("gradients", total);
    this.M = rt.alloc("optimizer state m", total);
    this.V = rt.alloc("optimizer state v", total);
    const byName = new Map<string, Slot>();
    shapes.forEach(([name, shape], i) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const off = offsets[i] as number;
      const slot: Slot = {
        name,
        shape,
        size,
        p: sub(this.P, name, off, size),
        g: sub(this.G, `grad ${name}`, off, size),
        m: sub(this.M, `${name}/m`, off, size),
        v: sub(this.V, `${name}/v`, off, size),
      };
      this.slots.push(slot);
      byName.set(name, slot);
    });
    const slot = (name: string) => byName.get(name) as Slot;
    this.K = spec.k;
    this.D = spec.d;
    const so = resolveScaleOptions(spec.head);
    this.defaultScale = isDefaultScale(spec.head);
    this.scale = so.scale;
    this.covariance = so.covariance;
    this.sigmaMin = so.sigmaMin;
    this.S = scaleWidth(spec.k, spec.d, so.covariance);
    this.HW = spec.k + spec.k * spec.d + this.S;
    this.HX = spec.k + 2 * spec.k * spec.d;
    let wpr = headWorkPerRow(spec.k, spec.d);
    if (spec.kind === "mdn") {
      const trunks: Trunk[] = [];
      let last = spec.inputDim;
      for (const t of trunkLayout(spec)) {
        const layers: Layer[] = [];
        let prev = spec.inputDim;
        spec.hidden.forEach((width, i) => {
          const s = (n: string) => slot(`${t.trunk}.${i}.${n}`);
          const layer: Layer = spec.layerNorm
            ? { inDim: prev, width, W: s("weight"), b: s("bias"), gamma: s("ln.gamma"), beta: s("ln.beta") }
            : { inDim: prev, width, W: s("weight"), b: s("bias") };
          layers.push(layer);
          prev = width;
        });
        last = prev;
        trunks.push({ prefix: t.trunk, layers, W: slot(`${t.head}.weight`), b: slot(`${t.head}.bias`), col0: t.col0, width: t.width });
      }
      this.layout = { kind: "mdn", spec, trunks, lastDim: last };
      let prev = spec.inputDim;
      for (const w of spec.hidden) {
        wpr = Math.max(wpr, 2 * prev * w);
        prev = w;
      }
      wpr = Math.max(wpr, 2 * prev * this.HW);
    } else {
      const scale = slot("gmm.logSigma");
      this.layout = this.defaultScale
        ? { kind: "gmm", logits: slot("gmm.logits"), mu: slot("gmm.mu"), scale, logSigma: scale.p }
        : {
            kind: "gmm",
            logits: slot("gmm.logits"),
            mu: slot("gmm.mu"),
            scale,
            logSigma: rt.alloc("gmm expanded logSigma", spec.k * spec.d),
            ds: rt.alloc("gmm scale derivative", this.S),
            gs: rt.alloc("gmm logSigma gradient sum", spec.k * spec.d),
          };
    }
    this.workPerRow = wpr;
    this.scratch = rt.alloc("head scratch", rt.headScratchFloats(spec.k, spec.d));
    this.scratches = [this.scratch];
    for (let t = 1; t < rt.threads; t++) this.scratches.push(rt.alloc(`head scratch ${t}`, rt.headScratchFloats(spec.k, spec.d)));
    if (!this.defaultScale && this.covariance === "shared") this.piTmp = rt.alloc("head pi'", 2 * spec.k);
    this.res = rt.alloc("head result", 4);
    this.wsMark = rt.mark();
    this.writeWeights(weights);
  }

  /**
   * Subnormal float32 counts (0 < |x| < 2^-126) in this model's memory, by region
   * group: parameters, gradients, optimizer state, and the batch workspace (inputs,
   * activations, LayerNorm caches, head outputs and output gradients, backward
   * buffers: every matmul input). The kernels flush values
   * below 2^-60, so all counts stay 0; the no-subnormal test checks it.
   */
  subnormals(): Record<string, number> {
    const rt = this.rt;
    const L = this.layout;
    const out: Record<string, number> = {
      parameters: rt.countSubnormal(this.P),
      gradients: rt.countSubnormal(this.G),
      "optimizer m": rt.countSubnormal(this.M),
      "optimizer v": rt.countSubnormal(this.V),
    };
    const ws = this.ws;
    if (!ws) return out;
    const add = (name: string, r: Region | undefined) => {
      if (r) out[name] = rt.countSubnormal(r);
    };
    add("x", ws.x);
    add("y", ws.y);
    if (L.kind === "mdn") {
      ws.trunks.forEach((tw, ti) => {
        const prefix = (L.trunks[ti] as Trunk).prefix;
        tw.layers.forEach((l, i) => {
          add(`${prefix}.${i} pre-activation / act'`, l.pre);
          add(`${prefix}.${i} normalised`, l.normed);
          add(`${prefix}.${i} LayerNorm output`, l.lnOut);
          add(`${prefix}.${i} activation`, l.act);
        });
        if (tw.out !== ws.out) add(`${prefix} head outputs`, tw.out);
        if (tw.gOut !== ws.gOut) add(`${prefix} head output gradients`, tw.gOut);
      });
    }
    add("head outputs", ws.out);
    add("head output gradients", ws.gOut);
    if (ws.hin !== ws.out) add("expanded head outputs", ws.hin);
    if (ws.hg !== ws.gOut) add("expanded head gradients", ws.hg);
    add("backward buffer 0", ws.g0);
    add("backward buffer 1", ws.g1);
    return out;
  }

  private profSteps = 0;
  private profTotal = 0;

  /**
   * Turns the per-phase step profile on or off and resets it. While on, every kernel
   * call is timed (two performance.now() calls each) and summed by phase: matmul
   * (matmuls, bias sums), head, activations, LayerNorm, optimizer (norm,
   * clip, update); `otherMs` is the rest of the handler's step work (batch copy-in, JS glue).
   */
  profile(on: boolean): void {
    const rt = this.rt;
    rt.profiling = on;
    rt.phaseMs.fill(0);
    this.profSteps = 0;
    this.profTotal = 0;
  }

  /** The profile since {@link profile}(true). */
  phases(): WasmStepProfile {
    const rt = this.rt;
    const out: Record<string, number> = { steps: this.profSteps, totalMs: this.profTotal };
    let sum = 0;
    PHASES.forEach((p, i) => {
      out[p] = rt.phaseMs[i] as number;
      sum += rt.phaseMs[i] as number;
    });
    out.otherMs = this.profTotal - sum;
    return out as unknown as WasmStepProfile;
  }

  /** Memory and layout counters, for allocation checks. */
  stats(): WasmModelStats {
    const rt = this.rt;
    return {
      memoryBytes: rt.memory.buffer.byteLength,
      workspaceLayouts: this.layouts,
      viewRefreshes: rt.viewRefreshes,
      batchCapacity: this.ws?.cap ?? 0,
      allocations: rt.allocations,
      copiesOut: rt.copiesOut,
    };
  }

  /** Lays out the batch workspace for at least n rows (no-op when it already fits). */
  private ensure(n: number): Workspace {
    if (this.ws && this.ws.cap >= n) return this.ws;
    const rt = this.rt;
    const L = this.layout;
    rt.release(this.wsMark);
    this.ws = undefined;
    const y = rt.alloc("batch.y", n * this.D);
    const out = rt.alloc("head outputs", n * this.HW);
    const gOut = rt.alloc("head output gradients", n * (L.kind === "gmm" ? this.HX : this.HW));
    const ws: Workspace = { cap: n, y, trunks: [], out, gOut, hin: out, hg: gOut };
    if (L.kind === "mdn") {
      if (rt.threads > 1) ws.rowRes = rt.alloc("head row results", 4 * n);
      if (!this.defaultScale) {
        ws.hin = rt.alloc("expanded head outputs", n * this.HX);
        ws.hg = rt.alloc("expanded head gradients", n * this.HX);
        ws.ds = rt.alloc("scale derivative", n * this.S);
      }
      ws.x = rt.alloc("batch.x", n * L.spec.inputDim);
      let maxW = 0;
      const one = L.trunks.length === 1;
      for (const t of L.trunks) {
        const p = t.prefix;
        const tw: TrunkWs = {
          layers: [],
          out: one ? out : rt.alloc(`${p} head outputs`, n * t.width),
          gOut: one ? gOut : rt.alloc(`${p} head output gradients`, n * t.width),
        };
        for (const [i, l] of t.layers.entries()) {
          const lw: LayerWs = { pre: rt.alloc(`${p}.${i} pre-activation / act'`, n * l.width), act: rt.alloc(`${p}.${i} activation`, n * l.width) };
          if (L.spec.layerNorm) {
            lw.normed = rt.alloc(`${p}.${i} normalised`, n * l.width);
            lw.invStd = rt.alloc(`${p}.${i} inverse std`, n);
            lw.lnOut = rt.alloc(`${p}.${i} LayerNorm output`, n * l.width);
          }
          tw.layers.push(lw);
          maxW = Math.max(maxW, l.width);
        }
        ws.trunks.push(tw);
      }
      if (maxW > 0) {
        ws.g0 = rt.alloc("backward buffer 0", n * maxW);
        ws.g1 = rt.alloc("backward buffer 1", n * maxW);
      }
    }
    this.layouts++;
    this.ws = ws;
    return ws;
  }

  /** Kernel codes of the (validated) head options of this call. */
  private resolveHead(h: ResolvedHeadOptions): void {
    headCodesOf(h, this.codes);
  }

  /** Input of layer i of a trunk (x for the first). */
  private layerInput(ws: Workspace, tw: TrunkWs, i: number): Region {
    return i === 0 ? (ws.x as Region) : (tw.layers[i - 1] as LayerWs).act;
  }

  /**
   * Copies rows between the head output rows [n, HW] and a separate trunk's own rows
   * [n, width] (columns col0 .. col0 + width): toRows = true writes the head rows.
   */
  private copyCols(rows: Region, part: Region, n: number, t: Trunk, toRows: boolean): void {
    const f = this.rt.f32;
    const r0 = rows.ptr >>> 2;
    const p0 = part.ptr >>> 2;
    const HW = this.HW;
    const w = t.width;
    for (let r = 0; r < n; r++) {
      const a = r0 + r * HW + t.col0;
      const b = p0 + r * w;
      if (toRows) f.copyWithin(a, b, b + w);
      else f.copyWithin(b, a, a + w);
    }
  }

  /**
   * Forward pass. With `train`, each activation also stores act'(x) over its layer's
   * pre-activation buffer (dead by then: LayerNorm's backward reads its own normed / invStd
   * caches), so the backward is one product per layer (mulFlush) instead of act' again.
   */
  private forward(L: MdnLayout, ws: Workspace, n: number, train = false): void {
    const rt = this.rt;
    const activation = L.spec.activation;
    for (let ti = 0; ti < L.trunks.length; ti++) {
      const t = L.trunks[ti] as Trunk;
      const tw = ws.trunks[ti] as TrunkWs;
      for (let i = 0; i < t.layers.length; i++) {
        const l = t.layers[i] as Layer;
        const lw = tw.layers[i] as LayerWs;
        rt.matmul(this.layerInput(ws, tw, i), l.W.p, lw.pre, n, l.inDim, l.width, MatmulMode.bias, l.b.p);
        let actIn = lw.pre;
        if (l.gamma && l.beta) {
          rt.layerNorm(lw.pre, l.gamma.p, l.beta.p, lw.normed as Region, lw.invStd as Region, lw.lnOut as Region, n, l.width);
          actIn = lw.lnOut as Region;
        }
        if (train) rt.activationTrain(activation, actIn, lw.act, lw.pre, n * l.width);
        else rt.activation(activation, actIn, lw.act, n * l.width);
      }
      const last = t.layers.length ? (tw.layers[t.layers.length - 1] as LayerWs).act : (ws.x as Region);
      rt.matmul(last, t.W.p, tw.out, n, L.lastDim, t.width, MatmulMode.bias, t.b.p);
      if (tw.out !== ws.out) this.copyCols(ws.out, tw.out, n, t, true);
    }
  }

  /**
   * Non-default heads: maps the raw scale to the diagonal mixture the fused head
   * reads (MDN: head output rows -> expanded rows; GMM: gmm.logSigma -> its expanded
   * copy) and stores s' per raw entry. Returns the floor hits of the n-row batch.
   */
  private expand(ws: Workspace | undefined, n: number): number {
    const f = this.rt.f32;
    const L = this.layout;
    if (L.kind === "gmm") {
      return n * this.expandRows(f, 1, L.scale.p.ptr >>> 2, 0, L.logSigma.ptr >>> 2, 0, (L.ds as Region).ptr >>> 2, 0);
    }
    const w = ws as Workspace;
    const KKD = this.K + this.K * this.D;
    const HW = this.HW;
    const HX = this.HX;
    const out = w.out.ptr >>> 2;
    const hx = w.hin.ptr >>> 2;
    for (let r = 0; r < n; r++) f.copyWithin(hx + r * HX, out + r * HW, out + r * HW + KKD); // logits | mu
    return this.expandRows(f, n, out + KKD, HW, hx + KKD, HX, (w.ds as Region).ptr >>> 2, this.S);
  }

  /** Raw scale rows (float index `raw`, row stride) -> logSigma [K, D] rows and s' [S] rows; returns floor hits. */
  private expandRows(f: Float32Array, n: number, raw: number, rawStride: number, ls: number, lsStride: number, ds: number, dsStride: number): number {
    const K = this.K;
    const D = this.D;
    const S = this.S;
    const cov = this.covariance;
    const scale = this.scale;
    const sigmaMin = this.sigmaMin;
    let hits = 0;
    for (let r = 0; r < n; r++) {
      const ro = raw + r * rawStride;
      const lo = ls + r * lsStride;
      const dO = ds + r * dsStride;
      for (let i = 0; i < S; i++) {
        if (logSigmaInto(f[ro + i] as number, scale, sigmaMin, sOut)) hits++;
        const sv = sOut[0] as number;
        f[dO + i] = sOut[1] as number;
        if (cov === "diag") f[lo + i] = sv;
        else if (cov === "isotropic") f.fill(sv, lo + i * D, lo + (i + 1) * D);
        else for (let k = 0; k < K; k++) f[lo + k * D + i] = sv;
      }
    }
    return hits;
  }

  /**
   * Non-default heads: turns the fused head's gradient rows (log-sigma columns)
   * into gradients w.r.t. the raw head outputs (MDN: expanded gradient rows ->
   * head output gradient rows; GMM: row sum -> grad gmm.logSigma).
   */
  private reduce(ws: Workspace, n: number): void {
    const rt = this.rt;
    const L = this.layout;
    const K = this.K;
    const KD = this.K * this.D;
    if (L.kind === "gmm") {
      // The rules are linear in the log-sigma gradient with row-independent weights (the GMM's
      // pi and s' are the same for every row), so reducing the row sum equals summing the reductions.
      const gs = L.gs as Region;
      rt.colsum(ws.gOut, n, KD, gs, this.HX, K + KD);
      this.reduceRows(rt.f32, 1, gs.ptr >>> 2, 0, (L.ds as Region).ptr >>> 2, 0, L.scale.g.ptr >>> 2, 0, L.logits.p.ptr >>> 2, 0);
      return;
    }
    const f = rt.f32;
    const HW = this.HW;
    const HX = this.HX;
    const gOut = ws.gOut.ptr >>> 2;
    const ghx = ws.hg.ptr >>> 2;
    for (let r = 0; r < n; r++) f.copyWithin(gOut + r * HW, ghx + r * HX, ghx + r * HX + K + KD); // logits | mu
    this.reduceRows(f, n, ghx + K + KD, HX, (ws.ds as Region).ptr >>> 2, this.S, gOut + K + KD, HW, ws.hin.ptr >>> 2, HX);
  }

  /** core's reduceScaleRow over float32 rows (float64 sums); `logits` rows give pi for ngem-full with shared sigmas. */
  private reduceRows(
    f: Float32Array,
    n: number,
    gs: number,
    gsStride: number,
    ds: number,
    dsStride: number,
    out: number,
    outStride: number,
    logits: number,
    logitsStride: number,
  ): void {
    const K = this.K;
    const { variant, pre } = this.codes;
    const natural = variant >= 2 && (pre & 4) !== 0; // a scale block left out of precondition is chained like em
    // ngem-full with shared sigmas weighs component k by max(pi_k, piFloor): each row's pi, in float64
    const weighted = natural && variant === 3 && this.covariance === "shared";
    const f64 = this.rt.f64;
    const pi = this.piTmp ? this.piTmp.ptr >>> 3 : 0;
    for (let r = 0; r < n; r++) {
      if (weighted) {
        const a0 = logits + r * logitsStride;
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, f[a0 + k] as number);
        let z = 0;
        for (let k = 0; k < K; k++) z += Math.exp((f[a0 + k] as number) - max);
        for (let k = 0; k < K; k++) f64[pi + k] = Math.exp((f[a0 + k] as number) - max) / z;
      }
      const pis = weighted ? f64 : undefined;
      reduceScaleRow(
        f,
        gs + r * gsStride,
        f,
        ds + r * dsStride,
        f,
        out + r * outStride,
        K,
        this.D,
        this.covariance,
        natural,
        this.codes.sigmaCoords,
        pis,
        pi,
        this.codes.piFloor,
      );
    }
  }

  /** The fused head's blocks over this workspace (built once per workspace; `n` is set per call). */
  private headBlocks(ws: Workspace): HeadBlocks {
    const L = this.layout;
    const K = this.K;
    const KD = this.K * this.D;
    const HX = this.HX;
    if (L.kind === "gmm") {
      // one row of parameters for every sample (stride 0); gradients per sample in gOut
      return {
        n: 0,
        k: K,
        d: this.D,
        logits: L.logits.p,
        logitsOff: 0,
        logitsStride: 0,
        mu: L.mu.p,
        muOff: 0,
        s: L.logSigma,
        sOff: 0,
        msStride: 0,
        y: ws.y,
        gLogits: ws.gOut,
        gLogitsOff: 0,
        gLogitsStride: HX,
        gMu: ws.gOut,
        gMuOff: K,
        gS: ws.gOut,
        gSOff: K + KD,
        gMsStride: HX,
      };
    }
    const h = ws.hin;
    const g = ws.hg;
    return {
      n: 0,
      k: K,
      d: this.D,
      logits: h,
      logitsOff: 0,
      logitsStride: HX,
      mu: h,
      muOff: K,
      s: h,
      sOff: K + KD,
      msStride: HX,
      y: ws.y,
      gLogits: g,
      gLogitsOff: 0,
      gLogitsStride: HX,
      gMu: g,
      gMuOff: K,
      gS: g,
      gSOff: K + KD,
      gMsStride: HX,
    };
  }

  /** Runs the fused head on the forward outputs; returns the mean NLL (NaN/Inf when not finite). */
  private head(ws: Workspace, n: number): number {
    const rt = this.rt;
    const blocks = (ws.head ??= this.headBlocks(ws));
    blocks.n = n;
    if (this.layout.kind === "gmm") rt.mixtureHead(blocks, this.codes, this.scratch, this.res);
    else rt.mixtureHeadSplit(blocks, this.codes, this.scratches, ws.rowRes, this.res);
    return rt.f64[this.res.ptr >>> 3] as number;
  }

  private backward(ws: Workspace, n: number): void {
    const rt = this.rt;
    const L = this.layout;
    if (L.kind === "gmm") {
      const K = this.K;
      const KD = this.K * this.D;
      rt.colsum(ws.gOut, n, K, L.logits.g, this.HX, 0);
      rt.colsum(ws.gOut, n, KD, L.mu.g, this.HX, K);
      if (this.defaultScale) rt.colsum(ws.gOut, n, KD, L.scale.g, this.HX, K + KD);
      else this.reduce(ws, n);
      return;
    }
    if (!this.defaultScale) this.reduce(ws, n);
    for (let ti = 0; ti < L.trunks.length; ti++) {
      const t = L.trunks[ti] as Trunk;
      const tw = ws.trunks[ti] as TrunkWs;
      if (tw.gOut !== ws.gOut) this.copyCols(ws.gOut, tw.gOut, n, t, false);
      this.trunkBackward(L, ws, t, tw, n);
    }
  }

  /** Backward pass of one trunk and its head layer from the trunk's head output gradient rows. */
  private trunkBackward(Lo: MdnLayout, ws: Workspace, t: Trunk, tw: TrunkWs, n: number): void {
    const rt = this.rt;
    const lastDim = Lo.lastDim;
    const L = t.layers.length;
    const last = L ? (tw.layers[L - 1] as LayerWs).act : (ws.x as Region);
    // head layer: gW = h^T gOut, gB = colsum(gOut), gH = gOut W^T (no transposed copies)
    rt.matmulAT(last, tw.gOut, t.W.g, lastDim, n, t.width, MatmulMode.overwrite);
    rt.colsum(tw.gOut, n, t.width, t.b.g);
    if (L === 0) return;
    let gH = ws.g0 as Region;
    let spare = ws.g1 as Region;
    rt.matmulBT(tw.gOut, t.W.p, gH, n, t.width, lastDim, MatmulMode.overwrite);
    for (let i = L - 1; i >= 0; i--) {
      const l = t.layers[i] as Layer;
      const lw = tw.layers[i] as LayerWs;
      const len = n * l.width;
      // through the activation (in place), then LayerNorm (in place)
      rt.mulFlush(lw.pre, gH, gH, len); // act'(x), stored by the training forward
      if (l.gamma && l.beta) {
        rt.layerNormBackward(gH, lw.normed as Region, lw.invStd as Region, l.gamma.p, gH, l.gamma.g, l.beta.g, n, l.width);
      }
      const inp = this.layerInput(ws, tw, i);
      rt.matmulAT(inp, gH, l.W.g, l.inDim, n, l.width, MatmulMode.overwrite);
      rt.colsum(gH, n, l.width, l.b.g);
      if (i > 0) {
        rt.matmulBT(gH, l.W.p, spare, n, l.width, l.inDim, MatmulMode.overwrite);
        const t = gH;
        gH = spare;
        spare = t;
      }
    }
  }

  /**
   * Forward pass, head and (when the loss is finite) backward pass of a finite batch;
   * synchronous once the thread pool runs (it starts before the first batch that would split a kernel call).
   */
  forwardBackward(batch: Batch, head: ResolvedHeadOptions): GradientPass | Promise<GradientPass> {
    if (this.wantsPool(batch.n)) return this.threadsFor(batch.n).then(() => this.timedPass(batch, head));
    return this.timedPass(batch, head);
  }

  private timedPass(batch: Batch, head: ResolvedHeadOptions): GradientPass {
    if (!this.rt.profiling) return this.pass(batch, head);
    const t0 = performance.now();
    try {
      return this.pass(batch, head);
    } finally {
      this.profTotal += performance.now() - t0;
    }
  }

  /** Copies the batch into the workspace and runs forward + head (+ backward when the loss is finite). */
  private pass(batch: Batch, head: ResolvedHeadOptions): GradientPass {
    this.resolveHead(head);
    const n = batch.n;
    const ws = this.ensure(n);
    const rt = this.rt;
    const L = this.layout;
    rt.write(ws.y, batch.y);
    rt.flush(ws.y, n * this.D);
    if (L.kind === "mdn") {
      rt.write(ws.x as Region, batch.x as FloatArray);
      rt.flush(ws.x as Region, n * L.spec.inputDim);
      this.forward(L, ws, n, true);
    }
    const out = this.passOut;
    out.floorHits = this.defaultScale ? 0 : this.expand(ws, n);
    const loss = this.head(ws, n);
    if (!Number.isFinite(loss)) return { loss, gradNorm: NaN, nonFinite: this.diagnose(n) };
    this.backward(ws, n);
    out.loss = loss;
    out.gradNorm = Math.sqrt(rt.sumSquares(this.G, this.total));
    return out;
  }

  /** Names the tensor behind a non-finite loss, in the reference's order (logits, mu, logSigma, y, then nll). */
  private diagnose(n: number): NonFiniteError {
    const rt = this.rt;
    const ws = this.ws as Workspace;
    const L = this.layout;
    const K = this.K;
    const KD = this.K * this.D;
    // the diagonal mixture the head saw (expanded for a non-default head), as the reference checks it
    const checks: [string, Region, number, number, number][] =
      L.kind === "gmm"
        ? [
            ["logits", L.logits.p, K, 0, 0],
            ["mu", L.mu.p, KD, 0, 0],
            ["logSigma", L.logSigma, KD, 0, 0],
          ]
        : [
            ["logits", ws.hin, K, this.HX, 0],
            ["mu", ws.hin, KD, this.HX, K],
            ["logSigma", ws.hin, KD, this.HX, K + KD],
          ];
    for (const [name, r, cols, stride, col0] of checks) {
      const at = rt.firstNonFinite(r, stride === 0 ? 1 : n, cols, stride, col0);
      if (at >= 0) {
        const row = Math.floor(at / cols);
        return new NonFiniteError(name, at, rt.f32[(r.ptr >>> 2) + col0 + row * stride + (at % cols)] as number);
      }
    }
    // finite float64 targets past the float32 range are Inf here
    const at = rt.firstNonFinite(ws.y, n, this.D);
    if (at >= 0) return new NonFiniteError("y", at, rt.f32[(ws.y.ptr >>> 2) + at] as number);
    return new NonFiniteError("nll", 0, rt.f64[this.res.ptr >>> 3] as number, "density underflowed for every component (float32)");
  }

  /**
   * Threads of this model: how many it may use, whether its workers are running, and how
   * many split kernel calls they have run (workers start at the first batch whose largest
   * kernel call is above twice the split threshold), and how often the pool rested because
   * its workers did not get a core (32 calls in a row run by the calling thread alone).
   */
  threadStats(): { threads: number; started: boolean; dispatches: number; rests: number } {
    const rt = this.rt;
    return { threads: rt.threads, started: rt.pool !== undefined, dispatches: rt.pool?.dispatches ?? 0, rests: rt.pool?.rests ?? 0 };
  }

  /**
   * Starts the workers now if an n-row batch would split a kernel call (createModel does this
   * for n = 32, so large models have their workers before the first step); otherwise they
   * start before the first batch large enough. Then steps stay synchronous.
   */
  async threadsFor(n: number): Promise<void> {
    if (this.wantsPool(n)) await this.rt.startPool();
  }

  private wantsPool(n: number): boolean {
    const rt = this.rt;
    return rt.threads > 1 && !rt.pool && Math.max(n * this.workPerRow, WORK_PER_ELEMENT.adam * this.total) >= 2 * rt.splitMinWork;
  }

  firstNonFiniteGradient(): string | undefined {
    const rt = this.rt;
    return this.slots.find((s) => rt.firstNonFinite(s.g, 1, s.size) >= 0)?.name;
  }

  readGradients(): NamedTensors {
    const rt = this.rt;
    const grads: NamedTensors = {};
    for (const s of this.slots) grads[s.name] = { shape: [...s.shape], data: rt.read(s.g) };
    return grads;
  }

  /** Global L2 norm of the last gradients of the named parameters (float64 sum of per-slot float32 sums of squares). */
  gradNorm(names: readonly string[]): number {
    const rt = this.rt;
    const want = new Set(names);
    let s = 0;
    for (const slot of this.slots) if (want.has(slot.name)) s += rt.sumSquares(slot.g, slot.size);
    return Math.sqrt(s);
  }

  /**
   * Scales the gradients by `scale` and applies one update (core's optim.ts rules, float32):
   * one kernel call over the whole flat parameter block, or with `o.freeze` one call per
   * trainable parameter (its slices of the parameter, gradient and moment blocks).
   */
  update(o: OptimizerSpec, scale: number, t: number): void {
    const rt = this.rt;
    const t0 = rt.profiling ? performance.now() : 0;
    if (scale !== 1) rt.scale(this.G, scale, this.total);
    if (!o.freeze?.length) this.updateRegion(o, t, this.P, this.G, this.M, this.V, this.total);
    else {
      const frozen = new Set(o.freeze);
      for (const s of this.slots) if (!frozen.has(s.name)) this.updateRegion(o, t, s.p, s.g, s.m, s.v, s.size);
    }
    if (rt.profiling) {
      this.profTotal += performance.now() - t0;
      this.profSteps++;
    }
  }

  private updateRegion(o: OptimizerSpec, t: number, P: Region, G: Region, M: Region, V: Region, len: number): void {
    const rt = this.rt;
    const lr = o.lr;
    const wd = o.weightDecay ?? 0;
    const decay = wd !== 0 ? 1 - lr * wd : 1;
    switch (o.type) {
      case "sgd":
        rt.sgd(P, G, M, len, lr, decay, o.momentum ?? 0, !!o.nesterov, t === 1);
        break;
      case "adam": {
        const b1 = o.beta1 ?? 0.9;
        const b2 = o.beta2 ?? 0.999;
        rt.adam(P, G, M, V, len, lr, decay, b1, b2, o.eps ?? 1e-8, 1 - b1 ** t, 1 - b2 ** t);
        break;
      }
      case "rmsprop":
        rt.rmsprop(P, G, V, M, len, lr, decay, o.alpha ?? 0.99, o.eps ?? 1e-8, o.momentum ?? 0);
        break;
    }
  }

  /** Mixture parameters for n rows (float32 arrays). */
  predict(x: FloatArray | undefined, n: number): MixtureParams | Promise<MixtureParams> {
    if (this.layout.kind === "mdn" && this.wantsPool(n)) return this.threadsFor(n).then(() => this.predictNow(x, n));
    return this.predictNow(x, n);
  }

  private predictNow(x: FloatArray | undefined, n: number): MixtureParams {
    const rt = this.rt;
    const L = this.layout;
    const K = this.K;
    const KD = this.K * this.D;
    const logits = new Float32Array(n * K);
    const mu = new Float32Array(n * KD);
    const logSigma = new Float32Array(n * KD);
    if (L.kind === "gmm") {
      const a = rt.read(L.logits.p);
      const m = rt.read(L.mu.p);
      if (!this.defaultScale) this.expand(undefined, n);
      const s = rt.read(L.logSigma);
      for (let r = 0; r < n; r++) {
        logits.set(a, r * K);
        mu.set(m, r * KD);
        logSigma.set(s, r * KD);
      }
      return { n, k: K, d: this.D, logits, mu, logSigma };
    }
    const ws = this.ensure(n);
    rt.write(ws.x as Region, x as FloatArray);
    this.forward(L, ws, n);
    if (!this.defaultScale) this.expand(ws, n);
    const f = rt.f32;
    const base = ws.hin.ptr >>> 2;
    for (let r = 0; r < n; r++) {
      const o = base + r * this.HX;
      for (let j = 0; j < K; j++) logits[r * K + j] = f[o + j] as number;
      for (let j = 0; j < KD; j++) {
        mu[r * KD + j] = f[o + K + j] as number;
        logSigma[r * KD + j] = f[o + K + KD + j] as number;
      }
    }
    return { n, k: K, d: this.D, logits, mu, logSigma };
  }

  readWeights(): NamedTensors {
    const rt = this.rt;
    const out: NamedTensors = {};
    for (const s of this.slots) out[s.name] = { shape: [...s.shape], data: rt.read(s.p) };
    return out;
  }

  writeWeights(weights: NamedTensors): void {
    const rt = this.rt;
    for (const s of this.slots) rt.write(s.p, (weights[s.name] as { data: FloatArray }).data);
  }

  readMoments(kind: MomentKind): Record<string, FloatArray> {
    const rt = this.rt;
    const out: Record<string, FloatArray> = {};
    for (const s of this.slots) out[s.name] = rt.read(kind === "m" ? s.m : s.v);
    return out;
  }

  writeMoments(kind: MomentKind, values: Record<string, FloatArray> | undefined): void {
    const rt = this.rt;
    const r = kind === "m" ? this.M : this.V;
    rt.f32.fill(0, r.ptr >>> 2, (r.ptr >>> 2) + this.total);
    if (!values) return;
    for (const s of this.slots) rt.write(kind === "m" ? s.m : s.v, values[s.name] as FloatArray);
  }

  dispose(): void {
    this.rt.dispose();
    this.ws = undefined;
  }
}
