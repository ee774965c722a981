/**
 * A kernels instance and its one memory, with a bump allocator the JS side
 * controls (kernels never allocate) and bounds-checked wrappers around every
 * kernel, so bad sizes raise {@link ShapeError} / {@link NgemError} naming the
 * argument instead of a WebAssembly trap.
 *
 * ABI: every kernel takes byte offsets into `memory` (16-byte aligned
 * regions from {@link KernelRuntime.alloc}) and element counts. JS reads and
 * writes the same bytes through the `f32` / `f64` views, which are created
 * once and re-created only when the memory grows.
 */
import { BackendUnavailableError, NgemError, preconditionMask, type ResolvedHeadOptions, ShapeError } from "@ngem/core";
import { KERNELS_CODES } from "./generated/kernels-wasm.js";
import { compileKernels, instantiateKernels, selectKernelsBuild, type KernelExports, type KernelsBuild, type KernelsBuildChoice } from "./kernels.js";
import { POOL_OPS, ThreadPool, machineCores, threadsUnavailable, type PoolOp } from "./threads.js";

/** A block of wasm memory: `length` float32 elements starting at byte `ptr`. */
export interface Region {
  readonly name: string;
  /** Byte offset (16-byte aligned). */
  readonly ptr: number;
  /** Number of float32 elements. */
  readonly length: number;
}

export interface RuntimeOptions {
  /**
   * Upper bound on this instance's memory in bytes (default 2 GiB; at most 4 GiB,
   * the wasm32 limit). Allocations past it fail with an {@link NgemError}.
   */
  readonly maxMemoryBytes?: number;
  /**
   * Which kernels build to load: `auto` (default) takes the relaxed-SIMD build
   * (f32x4.relaxed_madd, FMA) when this runtime validates it, else the plain SIMD build.
   * Both pass the same parity suite; results differ by float32 rounding.
   */
  readonly build?: KernelsBuildChoice;
  /**
   * Threads per model (see threads.ts): `auto` (default) = this machine's cores when the
   * runtime supports shared memory and workers (else 1, with the reason); a number asks for
   * exactly that many (an error when threads cannot run here). With more than one, the
   * model lives in a shared memory (the threads build of the kernels) and large kernel calls
   * are split across workers by output rows / elements; calls below a size threshold run on
   * the calling thread. Results do not depend on the thread count. `NGEM_WASM_THREADS`
   * (Node) overrides `auto`.
   */
  readonly threads?: number | "auto";
  /**
   * Work (about flops) each thread of a split kernel call must get, else the call runs on
   * the calling thread (default {@link SPLIT_MIN_WORK}). For tuning and tests: 1 splits every call.
   */
  readonly splitMinWork?: number;
}

/** The thread count `auto` or a number resolves to here, and why. */
export async function resolveThreads(choice: number | "auto" = "auto"): Promise<{ threads: number; reason: string }> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NGEM_WASM_THREADS;
  let want: number | "auto" = choice;
  let why = "";
  if (want === "auto" && env !== undefined && env !== "" && env !== "auto") {
    want = Number(env);
    why = " (NGEM_WASM_THREADS)";
  }
  if (want !== "auto" && !(Number.isInteger(want) && want >= 1 && want <= 256)) {
    throw new ShapeError("threads", `expected "auto" or an integer in [1, 256], got ${String(want)}${why}`);
  }
  if (want === 1) return { threads: 1, reason: `one thread requested${why}` };
  const missing = await threadsUnavailable();
  if (want === "auto") {
    const cores = await machineCores();
    if (cores <= 1) return { threads: 1, reason: "one core here: single-threaded" };
    if (missing) return { threads: 1, reason: `single-threaded: ${missing}` };
    return {
      threads: cores,
      reason: `${cores} threads (this machine's cores) for kernel calls above the size threshold; smaller ones run on the calling thread`,
    };
  }
  if (missing) throw new BackendUnavailableError("wasm", `${want} threads were requested${why}, but ${missing}`);
  return { threads: want, reason: `${want} threads requested${why}, for kernel calls above the size threshold` };
}

/**
 * Work below which a kernel call stays on the calling thread: each thread of a split call gets
 * at least this much. Work is counted in matmul flops (~45 per ns on one thread; the other
 * kernels count their time in the same unit, see {@link WORK_PER_ELEMENT}), so 2^20 is ~23 us
 * per thread. The hand-off to a spinning worker costs only ~0.5-1 us, and 2^17 (~3 us) made
 * the inverse-sine step 1.35x faster (0.150 -> 0.111 ms) - but on the 2-vCPU AMD EPYC VM of the
 * benchmarks that gain was bimodal: in about 1 run of 5 every split call ran ~2x slower on both
 * threads (0.23 ms, slower than one thread), while calls of 2^20 and more kept their gain in
 * every run (wide 3.6 -> 2.0 ms). So the default keeps small calls whole; `splitMinWork` lowers it.
 */
export const SPLIT_MIN_WORK = 1 << 20;

/** Blocks of the sum of squares: at least 2^15 elements each, at most 64 of them (see {@link KernelRuntime.sumSquares}). */
const SUM_MIN_BLOCK = 1 << 15;
const SUM_MAX_BLOCKS = 64;

/**
 * Work per element of the elementwise kernels, in matmul flops of the same time on one thread
 * (measured on the AMD EPYC of bench/README.md before the exp/erf change: GELU forward ~1.6 ns,
 * backward ~3.3 ns, Adam ~1.3 ns per element, at ~45 flops per ns).
 */
export const WORK_PER_ELEMENT = {
  act: { gelu: 70, tanh: 50, relu: 16 },
  actBackward: { gelu: 150, tanh: 60, relu: 16 },
  actTrain: { gelu: 100, tanh: 55, relu: 20 },
  mul: 8,
  sumSquares: 9,
  layerNorm: 45,
  layerNormBackward: 26,
  adam: 60,
  rmsprop: 50,
  sgd: 14,
  scale: 8,
  transpose: 10,
} as const;

/** Work of the mixture head per batch row (per-element sweeps plus the O(K) per-row bookkeeping), in the same units. */
export function headWorkPerRow(k: number, d: number): number {
  return 200 * k * d + 2000 * k;
}
const OP = Object.fromEntries(POOL_OPS.map((n, i) => [n, i])) as Record<PoolOp, number>;
const poolFinalizer = typeof FinalizationRegistry === "function" ? new FinalizationRegistry<ThreadPool>((p) => p.dispose()) : undefined;

const PAGE = 65536;
const WASM32_MAX = 4 * 1024 * 1024 * 1024;
const DEFAULT_MAX = 2 * 1024 * 1024 * 1024;
const MAX_I32 = 0x7fffffff;

/** Activation codes of the ABI (assembly/activations.ts ACT_*, generated). */
export const ACTIVATION_CODES = KERNELS_CODES.activation;
/** Head variant codes of the ABI (assembly/head.ts VARIANT_*, generated). */
export const VARIANT_CODES = KERNELS_CODES.variant;
/** matmul modes: overwrite C, accumulate into C, start C from a bias row (assembly/dense.ts MM_*, generated). */
export const MatmulMode = KERNELS_CODES.matmulMode;
export type MatmulMode = (typeof MatmulMode)[keyof typeof MatmulMode];

/** Phases of the step profile: which kernels count where. */
export const PHASES = ["matmul", "head", "activations", "layerNorm", "optimizer"] as const;
export type Phase = (typeof PHASES)[number];
const PH_MATMUL = 0;
const PH_HEAD = 1;
const PH_ACT = 2;
const PH_LN = 3;
const PH_OPT = 4;

/** Asserts an integer count in [min, 2^31). */
export function checkCount(what: string, v: number, min = 0): void {
  if (!Number.isInteger(v) || v < min || v > MAX_I32) {
    throw new ShapeError(what, `expected an integer in [${min}, ${MAX_I32}], got ${String(v)}`);
  }
}

function need(r: Region, count: number, arg: string, shape: string): void {
  if (count > r.length) {
    throw new ShapeError(arg, `region "${r.name}" holds ${r.length} floats, but shape ${shape} needs ${count}`);
  }
}

function mulChecked(what: string, ...dims: number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  if (p > MAX_I32) throw new ShapeError(what, `size ${dims.join(" x ")} = ${p} exceeds the wasm32 limit of ${MAX_I32} elements`);
  return p;
}

/**
 * The fused head's blocks: each input and output is a region, an element offset and a row
 * stride in floats (stride 0 repeats one row for every sample, as a free GMM's parameters).
 * logits and their gradient are [n, k]; mu, s (log-sigma) and their gradients [n, k*d]; y [n, d].
 */
export interface HeadBlocks {
  n: number;
  readonly k: number;
  readonly d: number;
  readonly logits: Region;
  readonly logitsOff: number;
  readonly logitsStride: number;
  readonly mu: Region;
  readonly muOff: number;
  readonly s: Region;
  readonly sOff: number;
  /** Row stride of mu and s. */
  readonly msStride: number;
  readonly y: Region;
  readonly gLogits: Region;
  readonly gLogitsOff: number;
  readonly gLogitsStride: number;
  readonly gMu: Region;
  readonly gMuOff: number;
  readonly gS: Region;
  readonly gSOff: number;
  /** Row stride of the mu and s gradients. */
  readonly gMsStride: number;
}

/**
 * The head options as the kernel takes them: `variant` (VARIANT_CODES), `sigmaCoords`
 * (fisherCoords "sigma"), `piFloor`, `damping` (lambda >= 0, default 0) and `pre` (the
 * precondition mask: 1 logits, 2 mu, 4 scale; default 7) - core's head options of those names.
 */
export interface HeadCodes {
  readonly variant: number;
  readonly sigmaCoords: boolean;
  readonly piFloor: number;
  readonly damping?: number;
  readonly pre?: number;
}

/** Mutable {@link HeadCodes}, for a caller that rewrites one object per call. */
export type MutableHeadCodes = { -readonly [K in keyof HeadCodes]-?: HeadCodes[K] };

/**
 * Writes core's resolved head options into `out` as the kernel's codes (a new head option is
 * mapped here once, for the model and the head op alike); returns `out`.
 */
export function headCodesOf(
  h: ResolvedHeadOptions,
  out: MutableHeadCodes = { variant: 2, sigmaCoords: false, piFloor: 0.01, damping: 0, pre: 7 },
): MutableHeadCodes {
  out.variant = VARIANT_CODES[h.variant];
  out.sigmaCoords = h.fisherCoords === "sigma";
  out.piFloor = h.piFloor;
  out.damping = h.damping;
  out.pre = preconditionMask(h.precondition);
  return out;
}

/** One kernels instance: memory, allocator, views and checked kernel calls. */
export class KernelRuntime {
  readonly raw: KernelExports;
  readonly memory: WebAssembly.Memory;
  readonly maxMemoryBytes: number;
  /** The kernels build this instance runs. */
  readonly build: KernelsBuild;
  private readonly base: number;
  private top: number;
  private buffer: ArrayBuffer;
  private f32View: Float32Array;
  private f64View: Float64Array;
  /** How many times the typed-array views were re-created (memory growth); for allocation checks. */
  viewRefreshes = 0;
  /** Calls of {@link alloc} so far. */
  allocations = 0;
  /** Calls of {@link read} / {@link view} so far (each creates a JS array or view). */
  copiesOut = 0;
  /** When true, kernel wall time accumulates in {@link phaseMs} (a performance.now() pair per kernel call). */
  profiling = false;
  /** Milliseconds per phase while profiling, indexed by {@link PHASES}. */
  readonly phaseMs = new Float64Array(PHASES.length);

  /** Per-block results of {@link sumSquares} (SUM_MAX_BLOCKS float64). */
  private readonly blockSums: Region;

  /** Threads this runtime may use (1: no workers, plain memory). */
  readonly threads: number;
  private readonly module?: WebAssembly.Module;
  /** Work per thread below which a call is not split (see {@link RuntimeOptions.splitMinWork}). */
  readonly splitMinWork: number;
  /** The workers, once started ({@link startPool}). */
  pool: ThreadPool | undefined;
  private poolStart: Promise<void> | undefined;

  private constructor(raw: KernelExports, opts: RuntimeOptions, build: KernelsBuild, threads = 1, module?: WebAssembly.Module) {
    this.raw = raw;
    this.build = build;
    this.threads = threads;
    this.module = module;
    this.splitMinWork = opts.splitMinWork ?? SPLIT_MIN_WORK;
    if (!(this.splitMinWork >= 1)) throw new ShapeError("splitMinWork", `expected a number >= 1, got ${String(opts.splitMinWork)}`);
    this.memory = raw.memory;
    const max = opts.maxMemoryBytes ?? DEFAULT_MAX;
    if (!(Number.isFinite(max) && max > 0 && max <= WASM32_MAX)) {
      throw new ShapeError("maxMemoryBytes", `expected a number in (0, ${WASM32_MAX}], got ${String(max)}`);
    }
    this.maxMemoryBytes = max;
    this.base = (raw.heap_base() + 15) & ~15;
    this.top = this.base;
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.f64View = new Float64Array(this.buffer);
    this.blockSums = this.alloc("sum-of-squares block sums", 2 * SUM_MAX_BLOCKS);
  }

  /** A fresh instance with its own memory. */
  static async create(opts: RuntimeOptions = {}, threads?: number): Promise<KernelRuntime> {
    const build = selectKernelsBuild(opts.build).build;
    const t = threads ?? (await resolveThreads(opts.threads)).threads;
    if (t <= 1) return new KernelRuntime(await instantiateKernels(undefined, build), opts, build);
    const max = opts.maxMemoryBytes ?? DEFAULT_MAX;
    const module = await compileKernels(build, true);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: Math.min(65536, Math.max(1, Math.ceil(max / PAGE))), shared: true });
    } catch (err) {
      throw new BackendUnavailableError(
        "wasm",
        `could not create a shared memory of ${max} bytes for the threads: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return new KernelRuntime(await instantiateKernels(module, build, memory), opts, build, t, module);
  }

  /** Starts the workers (once; a no-op with one thread). Models call it before the first large step. */
  startPool(): Promise<void> {
    if (this.threads <= 1 || this.pool) return Promise.resolve();
    this.poolStart ??= ThreadPool.start(this.module as WebAssembly.Module, this.memory, this.raw, this.threads).then((p) => {
      this.pool = p;
      poolFinalizer?.register(this, p);
    });
    return this.poolStart;
  }

  /** Ends the workers (the memory stays usable from this thread). */
  dispose(): void {
    this.pool?.dispose();
    this.pool = undefined;
  }

  /** Threads to split a call of `work` (about flops) over `units` independent pieces into (1: do not split). */
  private parts(work: number, units: number): number {
    const p = this.pool;
    if (!p || p.resting) return 1;
    return Math.max(1, Math.min(p.threads, Math.floor(work / this.splitMinWork), units));
  }

  /** Start of piece t of `p` pieces over `count` items in blocks of `align`. */
  private static cut(t: number, p: number, count: number, align: number): number {
    const blocks = Math.ceil(count / align);
    return Math.min(count, Math.floor((t * blocks) / p) * align);
  }

  /** Float32 view of the whole memory (stable until the memory grows). */
  get f32(): Float32Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.f32View;
  }

  /** Float64 view of the whole memory (stable until the memory grows). */
  get f64(): Float64Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.f64View;
  }

  private refresh(): void {
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.f64View = new Float64Array(this.buffer);
    this.viewRefreshes++;
  }

  /** Bytes handed out so far (from the heap base). */
  get usedBytes(): number {
    return this.top - this.base;
  }

  /** Current allocation mark, for {@link release}. */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark` (regions past it become invalid). */
  release(mark: number): void {
    if (!(mark >= this.base && mark <= this.top)) throw new NgemError(`release: mark ${mark} is outside [${this.base}, ${this.top}]`);
    this.top = mark;
  }

  /**
   * Allocates `floats` float32 elements (16-byte aligned, zero-filled), growing
   * the memory when needed. Throws {@link NgemError} naming `name` when the
   * memory limit or the runtime refuses.
   */
  alloc(name: string, floats: number): Region {
    this.allocations++;
    checkCount(`${name} (element count)`, floats);
    const bytes = Math.ceil((floats * 4) / 16) * 16;
    const ptr = this.top;
    const end = ptr + bytes;
    if (end > this.maxMemoryBytes) {
      throw new NgemError(
        `wasm memory exhausted: "${name}" needs ${bytes} bytes (${floats} floats) with ${this.top} already in use; ` +
          `the limit is ${this.maxMemoryBytes} bytes (maxMemoryBytes). Use smaller batches or layers, or raise the limit.`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (err) {
        throw new NgemError(
          `wasm memory exhausted: could not grow memory to ${have + pages * PAGE} bytes for "${name}" (${floats} floats): ` +
            (err instanceof Error ? err.message : String(err)),
        );
      }
    }
    this.top = end;
    this.f32.fill(0, ptr >>> 2, end >>> 2);
    return { name, ptr, length: floats };
  }

  /** Writes `src` (any numeric array) into `r` starting at element `offset`. */
  write(r: Region, src: ArrayLike<number>, offset = 0): void {
    if (offset < 0 || offset + src.length > r.length) {
      throw new ShapeError(r.name, `cannot write ${src.length} values at offset ${offset} into ${r.length} floats`);
    }
    this.f32.set(src, (r.ptr >>> 2) + offset);
  }

  /** A copy of `count` elements of `r` from `offset` (allocates; not for hot loops). */
  read(r: Region, count = r.length, offset = 0): Float32Array {
    if (offset < 0 || offset + count > r.length) throw new ShapeError(r.name, `cannot read ${count} values at offset ${offset} from ${r.length} floats`);
    this.copiesOut++;
    const start = (r.ptr >>> 2) + offset;
    return this.f32.slice(start, start + count);
  }

  /** A live view of `r` (allocates a view object; invalid after the memory grows). */
  view(r: Region): Float32Array {
    this.copiesOut++;
    return this.f32.subarray(r.ptr >>> 2, (r.ptr >>> 2) + r.length);
  }

  // ---- checked kernels -------------------------------------------------------------

  /** c[m, n] = (mode) + a[m, k] b[k, n]; `bias` [n] is required with mode `bias`. */
  matmul(a: Region, b: Region, c: Region, m: number, k: number, n: number, mode: MatmulMode = MatmulMode.overwrite, bias?: Region): void {
    checkCount("m", m);
    checkCount("k", k);
    checkCount("n", n);
    need(a, mulChecked("a", m, k), "a", `[m, k] = [${m}, ${k}]`);
    need(b, mulChecked("b", k, n), "b", `[k, n] = [${k}, ${n}]`);
    need(c, mulChecked("c", m, n), "c", `[m, n] = [${m}, ${n}]`);
    if (mode === MatmulMode.bias) {
      if (!bias) throw new ShapeError("bias", "matmul mode bias needs a bias region of shape [n]");
      need(bias, n, "bias", `[n] = [${n}]`);
    }
    const t0 = this.profiling ? performance.now() : 0;
    // B larger than A (n > m): split C by 8-aligned column ranges, so each thread streams only its
    // part of B; else by rows (4-aligned). Either way each C element is computed exactly as in one
    // call: the same micro-kernel class (8-, 4- or 1-wide columns keep their boundaries) and order over k.
    const byCols = n > m && n >= 16;
    const p = this.parts(2 * m * k * n, byCols ? Math.ceil(n / 8) : Math.ceil(m / 4));
    if (p > 1 && byCols) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const c0 = KernelRuntime.cut(t, p, n, 8);
        const c1 = KernelRuntime.cut(t + 1, p, n, 8);
        pool.set(t, OP.matmul_strided, a.ptr, b.ptr + 4 * c0, c.ptr + 4 * c0, m, k, c1 - c0, k, n, n, mode);
        pool.arg(t, 10, bias ? bias.ptr + 4 * c0 : 0);
      }
      pool.run();
    } else if (p > 1) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const r0 = KernelRuntime.cut(t, p, m, 4);
        const r1 = KernelRuntime.cut(t + 1, p, m, 4);
        pool.set(t, OP.matmul, a.ptr + 4 * r0 * k, b.ptr, c.ptr + 4 * r0 * n, r1 - r0, k, n, mode, bias ? bias.ptr : 0);
      }
      pool.run();
    } else this.raw.matmul(a.ptr, b.ptr, c.ptr, m, k, n, mode, bias ? bias.ptr : 0);
    if (this.profiling) this.phaseMs[PH_MATMUL]! += performance.now() - t0;
  }

  /** dst[cols, rows] = src[rows, cols]^T. */
  transpose(src: Region, dst: Region, rows: number, cols: number): void {
    checkCount("rows", rows);
    checkCount("cols", cols);
    const size = mulChecked("src", rows, cols);
    need(src, size, "src", `[rows, cols] = [${rows}, ${cols}]`);
    need(dst, size, "dst", `[cols, rows] = [${cols}, ${rows}]`);
    const t0 = this.profiling ? performance.now() : 0;
    const p = this.parts(WORK_PER_ELEMENT.transpose * size, Math.ceil(rows / 4));
    if (p > 1) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const r0 = KernelRuntime.cut(t, p, rows, 4);
        const r1 = KernelRuntime.cut(t + 1, p, rows, 4);
        pool.set(t, OP.transpose_strided, src.ptr + 4 * r0 * cols, dst.ptr + 4 * r0, r1 - r0, cols, cols, rows);
      }
      pool.run();
    } else this.raw.transpose(src.ptr, dst.ptr, rows, cols);
    if (this.profiling) this.phaseMs[PH_MATMUL]! += performance.now() - t0;
  }

  /**
   * c[m, n] = (mode) + a^T b with a stored [k, m] and b [k, n]: the weight gradient X^T G,
   * without a transposed copy of a. Bit-identical to transpose + {@link matmul} (the same
   * operations per element, in the same order over k), and for any thread count.
   */
  matmulAT(a: Region, b: Region, c: Region, m: number, k: number, n: number, mode: MatmulMode = MatmulMode.overwrite, bias?: Region): void {
    this.fusedMatmul(true, a, b, c, m, k, n, mode, bias);
  }

  /**
   * c[m, n] = (mode) + a b^T with a [m, k] and b stored [n, k]: the input gradient G W^T,
   * without a transposed copy of b (the kernel transposes B^T while packing its panels).
   * Bit-identical to transpose + {@link matmul}, and for any thread count.
   */
  matmulBT(a: Region, b: Region, c: Region, m: number, k: number, n: number, mode: MatmulMode = MatmulMode.overwrite, bias?: Region): void {
    this.fusedMatmul(false, a, b, c, m, k, n, mode, bias);
  }

  /** {@link matmulAT} (at) or {@link matmulBT}: checks, then splits C as {@link matmul} does (outputs only). */
  private fusedMatmul(at: boolean, a: Region, b: Region, c: Region, m: number, k: number, n: number, mode: MatmulMode, bias?: Region): void {
    checkCount("m", m);
    checkCount("k", k);
    checkCount("n", n);
    if (at) need(a, mulChecked("a", k, m), "a", `[k, m] = [${k}, ${m}] (a^T b)`);
    else need(a, mulChecked("a", m, k), "a", `[m, k] = [${m}, ${k}]`);
    if (at) need(b, mulChecked("b", k, n), "b", `[k, n] = [${k}, ${n}]`);
    else need(b, mulChecked("b", n, k), "b", `[n, k] = [${n}, ${k}] (a b^T)`);
    need(c, mulChecked("c", m, n), "c", `[m, n] = [${m}, ${n}]`);
    if (mode === MatmulMode.bias) {
      if (!bias) throw new ShapeError("bias", "matmul mode bias needs a bias region of shape [n]");
      need(bias, n, "bias", `[n] = [${n}]`);
    }
    const t0 = this.profiling ? performance.now() : 0;
    // stored row lengths (floats) of a and b; a's row / column step and b's column step in bytes
    const lda = at ? m : k;
    const ldb = at ? n : k;
    const aRow = at ? 4 : 4 * k;
    const bCol = at ? 4 : 4 * k;
    const fn = at ? this.raw.matmul_at_strided : this.raw.matmul_bt_strided;
    const op = at ? OP.matmul_at_strided : OP.matmul_bt_strided;
    const biasPtr = bias ? bias.ptr : 0;
    // as matmul: 8-aligned column ranges when B is the larger operand, else 4-aligned row ranges
    const byCols = n > m && n >= 16;
    const p = this.parts(2 * m * k * n, byCols ? Math.ceil(n / 8) : Math.ceil(m / 4));
    if (p > 1) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        if (byCols) {
          const c0 = KernelRuntime.cut(t, p, n, 8);
          pool.set(t, op, a.ptr, b.ptr + bCol * c0, c.ptr + 4 * c0, m, k, KernelRuntime.cut(t + 1, p, n, 8) - c0, lda, ldb, n, mode);
          pool.arg(t, 10, bias ? biasPtr + 4 * c0 : 0);
        } else {
          const r0 = KernelRuntime.cut(t, p, m, 4);
          pool.set(t, op, a.ptr + aRow * r0, b.ptr, c.ptr + 4 * r0 * n, KernelRuntime.cut(t + 1, p, m, 4) - r0, k, n, lda, ldb, n, mode);
          pool.arg(t, 10, biasPtr);
        }
      }
      pool.run();
    } else fn(a.ptr, b.ptr, c.ptr, m, k, n, lda, ldb, n, mode, biasPtr);
    if (this.profiling) this.phaseMs[PH_MATMUL]! += performance.now() - t0;
  }

  /** out[c] = sum_r x[r, c] (rows `stride` floats apart, offset `col0` floats into x). */
  colsum(x: Region, rows: number, cols: number, out: Region, stride = cols, col0 = 0, outOffset = 0): void {
    checkCount("rows", rows);
    checkCount("cols", cols);
    checkCount("stride", stride);
    checkCount("col0", col0);
    checkCount("outOffset", outOffset);
    if (rows > 0) need(x, col0 + (rows - 1) * stride + cols, "x", `[rows, cols] = [${rows}, ${cols}] with stride ${stride}`);
    need(out, outOffset + cols, "out", `[cols] = [${cols}]`);
    const t0 = this.profiling ? performance.now() : 0;
    const p = this.parts(rows * cols, Math.ceil(cols / 4));
    if (p > 1) {
      // columns: each still sums every row in order
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const c0 = KernelRuntime.cut(t, p, cols, 4);
        const c1 = KernelRuntime.cut(t + 1, p, cols, 4);
        pool.set(t, OP.colsum, x.ptr + 4 * (col0 + c0), rows, c1 - c0, stride, out.ptr + 4 * (outOffset + c0));
      }
      pool.run();
    } else this.raw.colsum(x.ptr + 4 * col0, rows, cols, stride, out.ptr + 4 * outOffset);
    if (this.profiling) this.phaseMs[PH_MATMUL]! += performance.now() - t0;
  }

  /** out = act(x) over `len` elements. */
  activation(kind: keyof typeof ACTIVATION_CODES, x: Region, out: Region, len: number): void {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    need(out, len, "out", `[${len}]`);
    const code = ACTIVATION_CODES[kind];
    this.flat(
      len,
      WORK_PER_ELEMENT.act[kind] * len,
      () => this.raw.act_forward(code, x.ptr, out.ptr, len),
      (pool, t, o, count) => pool.set(t, OP.act_forward, code, x.ptr + o, out.ptr + o, count),
      PH_ACT,
    );
  }

  /** gIn = gOut * act'(pre) over `len` elements (gIn may be gOut). */
  activationBackward(kind: keyof typeof ACTIVATION_CODES, pre: Region, gOut: Region, gIn: Region, len: number): void {
    checkCount("len", len);
    need(pre, len, "pre", `[${len}]`);
    need(gOut, len, "gOut", `[${len}]`);
    need(gIn, len, "gIn", `[${len}]`);
    const code = ACTIVATION_CODES[kind];
    this.flat(
      len,
      WORK_PER_ELEMENT.actBackward[kind] * len,
      () => this.raw.act_backward(code, pre.ptr, gOut.ptr, gIn.ptr, len),
      (pool, t, o, count) => pool.set(t, OP.act_backward, code, pre.ptr + o, gOut.ptr + o, gIn.ptr + o, count),
      PH_ACT,
    );
  }

  /**
   * out = act(x) and deriv = act'(x) over `len` elements, in one pass (the training forward:
   * the backward is then {@link mulFlush}(deriv, gOut)). deriv may be x. The values are those
   * of {@link activation} and {@link activationBackward}'s act', bit for bit.
   */
  activationTrain(kind: keyof typeof ACTIVATION_CODES, x: Region, out: Region, deriv: Region, len: number): void {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    need(out, len, "out", `[${len}]`);
    need(deriv, len, "deriv", `[${len}]`);
    const code = ACTIVATION_CODES[kind];
    this.flat(
      len,
      WORK_PER_ELEMENT.actTrain[kind] * len,
      () => this.raw.act_forward_train(code, x.ptr, out.ptr, deriv.ptr, len),
      (pool, t, o, count) => pool.set(t, OP.act_forward_train, code, x.ptr + o, out.ptr + o, deriv.ptr + o, count),
      PH_ACT,
    );
  }

  /** out = a * b over `len` elements, flushed (out may be a or b): the activation backward from a stored act'. */
  mulFlush(a: Region, b: Region, out: Region, len: number): void {
    checkCount("len", len);
    need(a, len, "a", `[${len}]`);
    need(b, len, "b", `[${len}]`);
    need(out, len, "out", `[${len}]`);
    this.flat(
      len,
      WORK_PER_ELEMENT.mul * len,
      () => this.raw.mul_flush(a.ptr, b.ptr, out.ptr, len),
      (pool, t, o, count) => pool.set(t, OP.mul_flush, a.ptr + o, b.ptr + o, out.ptr + o, count),
      PH_ACT,
    );
  }

  /** LayerNorm forward over rows of x [rows, width]. */
  layerNorm(x: Region, gamma: Region, beta: Region, normed: Region, invStd: Region, y: Region, rows: number, width: number): void {
    checkCount("rows", rows);
    checkCount("width", width, 1);
    const size = mulChecked("x", rows, width);
    need(x, size, "x", `[rows, width] = [${rows}, ${width}]`);
    need(gamma, width, "gamma", `[width] = [${width}]`);
    need(beta, width, "beta", `[width] = [${width}]`);
    need(normed, size, "normed", `[rows, width] = [${rows}, ${width}]`);
    need(invStd, rows, "invStd", `[rows] = [${rows}]`);
    need(y, size, "y", `[rows, width] = [${rows}, ${width}]`);
    const t0 = this.profiling ? performance.now() : 0;
    const p = this.parts(WORK_PER_ELEMENT.layerNorm * size, rows);
    if (p > 1) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const r0 = KernelRuntime.cut(t, p, rows, 1);
        const o = 4 * r0 * width;
        pool.set(
          t,
          OP.layer_norm_forward,
          x.ptr + o,
          gamma.ptr,
          beta.ptr,
          normed.ptr + o,
          invStd.ptr + 4 * r0,
          y.ptr + o,
          KernelRuntime.cut(t + 1, p, rows, 1) - r0,
          width,
        );
      }
      pool.run();
    } else this.raw.layer_norm_forward(x.ptr, gamma.ptr, beta.ptr, normed.ptr, invStd.ptr, y.ptr, rows, width);
    if (this.profiling) this.phaseMs[PH_LN]! += performance.now() - t0;
  }

  /** LayerNorm backward; gX may be gY; gGamma / gBeta are overwritten with sums over rows. */
  layerNormBackward(gY: Region, normed: Region, invStd: Region, gamma: Region, gX: Region, gGamma: Region, gBeta: Region, rows: number, width: number): void {
    checkCount("rows", rows);
    checkCount("width", width, 1);
    const size = mulChecked("gY", rows, width);
    need(gY, size, "gY", `[rows, width] = [${rows}, ${width}]`);
    need(normed, size, "normed", `[rows, width] = [${rows}, ${width}]`);
    need(invStd, rows, "invStd", `[rows] = [${rows}]`);
    need(gamma, width, "gamma", `[width] = [${width}]`);
    need(gX, size, "gX", `[rows, width] = [${rows}, ${width}]`);
    need(gGamma, width, "gGamma", `[width] = [${width}]`);
    need(gBeta, width, "gBeta", `[width] = [${width}]`);
    const t0 = this.profiling ? performance.now() : 0;
    const p = this.parts(WORK_PER_ELEMENT.layerNormBackward * size, Math.min(rows, Math.ceil(width / 4)));
    if (p > 1) {
      // gamma / beta sums first, split by columns (each still sums every row in order; they read gY,
      // which gX may overwrite), then gX split by rows: bit-identical to the fused kernel
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < p; t++) {
        const c0 = KernelRuntime.cut(t, p, width, 4);
        const cols = KernelRuntime.cut(t + 1, p, width, 4) - c0;
        const o = 4 * c0;
        pool.set(t, OP.layer_norm_param_grads, gY.ptr + o, normed.ptr + o, gGamma.ptr + o, gBeta.ptr + o, rows, cols, width);
      }
      pool.run();
      for (let t = 0; t < p; t++) {
        const r0 = KernelRuntime.cut(t, p, rows, 1);
        const nr = KernelRuntime.cut(t + 1, p, rows, 1) - r0;
        const o = 4 * r0 * width;
        pool.set(t, OP.layer_norm_backward_rows, gY.ptr + o, normed.ptr + o, invStd.ptr + 4 * r0, gamma.ptr, gX.ptr + o, nr, width);
      }
      pool.run();
    } else this.raw.layer_norm_backward(gY.ptr, normed.ptr, invStd.ptr, gamma.ptr, gX.ptr, gGamma.ptr, gBeta.ptr, rows, width);
    if (this.profiling) this.phaseMs[PH_LN]! += performance.now() - t0;
  }

  /**
   * Sum of squares of the first `len` elements, accumulated in float64. Past 2 * 2^15 elements it
   * is the in-order sum of per-block sums (blocks of {@link sumBlock}(len) elements, a function of
   * len only), which the threads split by blocks: the result does not depend on the thread count.
   */
  sumSquares(x: Region, len = x.length): number {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    const t0 = this.profiling ? performance.now() : 0;
    const block = KernelRuntime.sumBlock(len);
    const blocks = Math.ceil(len / block);
    let r: number;
    if (blocks <= 1) r = this.raw.sum_squares(x.ptr, len);
    else {
      const out = this.blockSums.ptr;
      const p = this.parts(WORK_PER_ELEMENT.sumSquares * len, blocks);
      if (p > 1) {
        const pool = this.pool as ThreadPool;
        for (let t = 0; t < p; t++) {
          const b0 = KernelRuntime.cut(t, p, blocks, 1);
          const b1 = KernelRuntime.cut(t + 1, p, blocks, 1);
          pool.set(t, OP.sum_squares_blocks, x.ptr + 4 * b0 * block, Math.min(len, b1 * block) - b0 * block, block, out + 8 * b0);
        }
        pool.run();
      } else this.raw.sum_squares_blocks(x.ptr, len, block, out);
      const f64 = this.f64;
      r = 0;
      for (let b = 0; b < blocks; b++) r += f64[(out >>> 3) + b] as number;
    }
    if (this.profiling) this.phaseMs[PH_OPT]! += performance.now() - t0;
    return r;
  }

  /** Elements per block of {@link sumSquares} over `len` elements (at most SUM_MAX_BLOCKS blocks). */
  static sumBlock(len: number): number {
    return Math.max(SUM_MIN_BLOCK, Math.ceil(len / SUM_MAX_BLOCKS / 4) * 4);
  }

  /** x *= c over `len` elements. */
  scale(x: Region, c: number, len = x.length): void {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    this.flat(
      len,
      WORK_PER_ELEMENT.scale * len,
      () => this.raw.scale(x.ptr, len, c),
      (pool, t, o, count) => pool.set(t, OP.scale, x.ptr + o, count, c, 0),
    );
  }

  /** Sets |x| < 2^-60 to 0 over the first `len` elements (the kernels' flush-to-zero rule). */
  flush(x: Region, len = x.length): void {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    this.raw.flush_array(x.ptr, len);
  }

  /** Number of subnormal float32 values (0 < |x| < 2^-126) among the first `len` elements. */
  countSubnormal(x: Region, len = x.length): number {
    checkCount("len", len);
    need(x, len, "x", `[${len}]`);
    return this.raw.count_subnormal(x.ptr, len);
  }

  /** First flat index (r * cols + c) of a NaN/Inf in a strided block, or -1. */
  firstNonFinite(x: Region, rows: number, cols: number, stride = cols, col0 = 0): number {
    checkCount("rows", rows);
    checkCount("cols", cols);
    checkCount("stride", stride);
    checkCount("col0", col0);
    if (rows > 0 && cols > 0) need(x, col0 + (rows - 1) * stride + cols, "x", `[rows, cols] = [${rows}, ${cols}] with stride ${stride}`);
    return this.raw.first_nonfinite(x.ptr + 4 * col0, rows, cols, stride);
  }

  /** Scratch floats the fused head needs for K components of dimension D. */
  headScratchFloats(k: number, d: number): number {
    checkCount("k", k, 1);
    checkCount("d", d, 1);
    mulChecked("head scratch", 5, k, d);
    return Math.ceil(this.raw.head_scratch_bytes(k, d) / 4);
  }

  /**
   * The fused mixture head over `b.n` rows (see assembly/head.ts) with the options `o`. Writes
   * mean NLL and mean -Q to res[0..4) as two float64. Returns the first row whose
   * log-likelihood is not finite, or -1.
   */
  mixtureHead(b: HeadBlocks, o: HeadCodes, scratch: Region, res: Region): number {
    checkHeadBlocks(b);
    need(scratch, this.headScratchFloats(b.k, b.d), "scratch", `head scratch for K=${b.k}, D=${b.d}`);
    need(res, 4, "res", "[2] float64");
    if (res.ptr % 8 !== 0) throw new ShapeError("res", "must be 8-byte aligned");
    const damping = o.damping ?? 0;
    const pre = o.pre ?? 7;
    checkHeadCodes(o.variant, damping, pre);
    const t0 = this.profiling ? performance.now() : 0;
    const bad = this.raw.mixture_head(
      b.n,
      b.k,
      b.d,
      b.logits.ptr + 4 * b.logitsOff,
      b.logitsStride,
      b.mu.ptr + 4 * b.muOff,
      b.s.ptr + 4 * b.sOff,
      b.msStride,
      b.y.ptr,
      b.gLogits.ptr + 4 * b.gLogitsOff,
      b.gLogitsStride,
      b.gMu.ptr + 4 * b.gMuOff,
      b.gS.ptr + 4 * b.gSOff,
      b.gMsStride,
      o.variant,
      o.sigmaCoords ? 1 : 0,
      o.piFloor,
      damping,
      pre,
      scratch.ptr,
      res.ptr,
    );
    if (this.profiling) this.phaseMs[PH_HEAD]! += performance.now() - t0;
    return bad;
  }

  /**
   * {@link mixtureHead} for the model's step, split by rows across the threads when large:
   * each thread runs mixture_head_rows on its rows with its own scratch (`scratches[t]`),
   * writing per-row NLL and -Q into `rowRes` (2n float64), and head_sum adds them in row
   * order, so res[0..4) is bit-identical to one mixtureHead call.
   */
  mixtureHeadSplit(b: HeadBlocks, o: HeadCodes, scratches: readonly Region[], rowRes: Region | undefined, res: Region): void {
    const { n, k, d } = b;
    const p = rowRes && scratches.length > 1 ? Math.min(scratches.length, this.parts(n * headWorkPerRow(k, d), n)) : 1;
    if (p <= 1) {
      this.mixtureHead(b, o, scratches[0] as Region, res);
      return;
    }
    const rr = rowRes as Region;
    checkHeadBlocks(b);
    need(rr, 4 * n, "rowRes", `[N, 2] float64 = [${n}, 2]`);
    if (rr.ptr % 8 !== 0 || res.ptr % 8 !== 0) throw new ShapeError("res", "must be 8-byte aligned");
    for (let t = 0; t < p; t++) need(scratches[t] as Region, this.headScratchFloats(k, d), "scratch", `head scratch for K=${k}, D=${d}`);
    const damping = o.damping ?? 0;
    const pre = o.pre ?? 7;
    checkHeadCodes(o.variant, damping, pre);
    const t0 = this.profiling ? performance.now() : 0;
    const pool = this.pool as ThreadPool;
    for (let t = 0; t < p; t++) {
      pool.set(
        t,
        OP.mixture_head_rows,
        KernelRuntime.cut(t, p, n, 1),
        KernelRuntime.cut(t + 1, p, n, 1),
        n,
        k,
        d,
        b.logits.ptr + 4 * b.logitsOff,
        b.logitsStride,
        b.mu.ptr + 4 * b.muOff,
        b.s.ptr + 4 * b.sOff,
        b.msStride,
      );
      pool.arg(t, 10, b.y.ptr);
      pool.arg(t, 11, b.gLogits.ptr + 4 * b.gLogitsOff);
      pool.arg(t, 12, b.gLogitsStride);
      pool.arg(t, 13, b.gMu.ptr + 4 * b.gMuOff);
      pool.arg(t, 14, b.gS.ptr + 4 * b.gSOff);
      pool.arg(t, 15, b.gMsStride);
      pool.arg(t, 16, o.variant);
      pool.arg(t, 17, o.sigmaCoords ? 1 : 0);
      pool.arg(t, 18, o.piFloor);
      pool.arg(t, 19, damping);
      pool.arg(t, 20, pre);
      pool.arg(t, 21, (scratches[t] as Region).ptr);
      pool.arg(t, 22, rr.ptr);
    }
    pool.run();
    this.raw.head_sum(n, rr.ptr, res.ptr);
    if (this.profiling) this.phaseMs[PH_HEAD]! += performance.now() - t0;
  }

  /**
   * Runs a flat elementwise kernel over `len` elements: split into 4-aligned pieces across the
   * threads when `work` is large (`queue(pool, t, byteOffset, count)` queues piece t), else
   * `whole()` on the calling thread, timed under `phase` when profiling. Pieces partition the
   * elements, so results do not depend on the thread count.
   */
  private flat(
    len: number,
    work: number,
    whole: () => void,
    queue: (pool: ThreadPool, t: number, o: number, count: number) => void,
    phase: number = PH_OPT,
  ): void {
    const t0 = this.profiling ? performance.now() : 0;
    const q = this.parts(work, Math.ceil(len / 4));
    if (q > 1) {
      const pool = this.pool as ThreadPool;
      for (let t = 0; t < q; t++) {
        const e0 = KernelRuntime.cut(t, q, len, 4);
        queue(pool, t, 4 * e0, KernelRuntime.cut(t + 1, q, len, 4) - e0);
      }
      pool.run();
    } else whole();
    if (this.profiling) this.phaseMs[phase]! += performance.now() - t0;
  }

  /** SGD update over `len` elements (see assembly/optim.ts). */
  sgd(p: Region, g: Region, buf: Region, len: number, lr: number, decay: number, momentum: number, nesterov: boolean, first: boolean): void {
    flat3(len, p, g, buf);
    const nv = nesterov ? 1 : 0;
    const fi = first ? 1 : 0;
    this.flat(
      len,
      WORK_PER_ELEMENT.sgd * len,
      () => this.raw.sgd_update(p.ptr, g.ptr, buf.ptr, len, lr, decay, momentum, nv, fi),
      (pool, t, o, count) => pool.set(t, OP.sgd_update, p.ptr + o, g.ptr + o, buf.ptr + o, count, lr, decay, momentum, nv, fi),
    );
  }

  /** Adam update over `len` elements with bias corrections c1, c2 (1 - b1, 1 - b2 are formed here in float64). */
  adam(p: Region, g: Region, m: Region, v: Region, len: number, lr: number, decay: number, b1: number, b2: number, eps: number, c1: number, c2: number): void {
    flat3(len, p, g, m);
    need(v, len, "v", `[${len}]`);
    this.flat(
      len,
      WORK_PER_ELEMENT.adam * len,
      () => this.raw.adam_update(p.ptr, g.ptr, m.ptr, v.ptr, len, lr, decay, b1, b2, 1 - b1, 1 - b2, eps, c1, c2),
      (pool, t, o, count) => {
        pool.set(t, OP.adam_update, p.ptr + o, g.ptr + o, m.ptr + o, v.ptr + o, count, lr, decay, b1, b2, 1 - b1);
        pool.arg(t, 10, 1 - b2);
        pool.arg(t, 11, eps);
        pool.arg(t, 12, c1);
        pool.arg(t, 13, c2);
      },
    );
  }

  /** RMSProp update over `len` elements. */
  rmsprop(p: Region, g: Region, v: Region, buf: Region, len: number, lr: number, decay: number, alpha: number, eps: number, momentum: number): void {
    flat3(len, p, g, v);
    need(buf, len, "buf", `[${len}]`);
    this.flat(
      len,
      WORK_PER_ELEMENT.rmsprop * len,
      () => this.raw.rmsprop_update(p.ptr, g.ptr, v.ptr, buf.ptr, len, lr, decay, alpha, 1 - alpha, eps, momentum),
      (pool, t, o, count) => {
        pool.set(t, OP.rmsprop_update, p.ptr + o, g.ptr + o, v.ptr + o, buf.ptr + o, count, lr, decay, alpha, 1 - alpha, eps);
        pool.arg(t, 10, momentum);
      },
    );
  }
}

/** The head kernel's variant code (0..3), damping (lambda >= 0, finite) and precondition mask (0..7: 1 logits, 2 mu, 4 scale). */
function checkHeadCodes(variant: number, damping: number, pre: number): void {
  if (!(Number.isInteger(variant) && variant >= 0 && variant <= 3)) throw new ShapeError("variant", `expected a code 0..3, got ${variant}`);
  if (!(damping >= 0 && Number.isFinite(damping))) throw new ShapeError("damping", `expected a finite number >= 0, got ${damping}`);
  if (!(Number.isInteger(pre) && pre >= 0 && pre <= 7)) throw new ShapeError("precondition", `expected a mask 0..7 (1 logits, 2 mu, 4 scale), got ${pre}`);
}

/** The mixture head's input and output blocks fit their regions (shared by mixtureHead and its row-split form). */
function checkHeadBlocks(b: HeadBlocks): void {
  const { n, k, d } = b;
  checkCount("n", n, 1);
  checkCount("k", k, 1);
  checkCount("d", d, 1);
  const kd = mulChecked("mu", k, d);
  block(b.logits, b.logitsOff, n, k, b.logitsStride, "logits");
  block(b.mu, b.muOff, n, kd, b.msStride, "mu");
  block(b.s, b.sOff, n, kd, b.msStride, "logSigma");
  need(b.y, mulChecked("y", n, d), "y", `[N, D] = [${n}, ${d}]`);
  block(b.gLogits, b.gLogitsOff, n, k, b.gLogitsStride, "grad logits");
  block(b.gMu, b.gMuOff, n, kd, b.gMsStride, "grad mu");
  block(b.gS, b.gSOff, n, kd, b.gMsStride, "grad logSigma");
}

function block(r: Region, off: number, rows: number, cols: number, stride: number, arg: string): void {
  checkCount(`${arg} offset`, off);
  checkCount(`${arg} stride`, stride);
  need(r, off + (rows - 1) * stride + cols, arg, `[${rows}, ${cols}] with row stride ${stride} at offset ${off}`);
}

function flat3(len: number, p: Region, g: Region, b: Region): void {
  checkCount("len", len);
  need(p, len, "params", `[${len}]`);
  need(g, len, "grads", `[${len}]`);
  need(b, len, "state", `[${len}]`);
}
