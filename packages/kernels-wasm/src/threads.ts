/**
 * The threads of the `wasm` backend: workers (worker_threads in Node, Web Workers in
 * browsers) that each instantiate the threads build of the kernels on the model's one
 * shared WebAssembly.Memory and run kernel calls the calling thread posts to them.
 *
 * Protocol: a small SharedArrayBuffer control block, no messages per call. The caller
 * writes, per chunk slot (one per thread at most), an op (index into {@link POOL_OPS}, or -1
 * for nothing) and up to {@link MAX_ARGS} arguments (float64: every i32 and f64 argument of
 * the ABI is exact in a double), publishes the job's chunk range and bumps the generation
 * counter (Atomics.add + notify). Then every thread, the caller included, takes chunks with a
 * compare-and-swap on a shared counter until none is left; the caller waits (Atomics.wait)
 * until every chunk is done. Workers spin briefly, then Atomics.wait on the generation counter.
 * A worker that wakes late finds no chunk left (the counter only grows, and it compares with
 * the range it read), so the caller never waits for a worker that has not started.
 *
 * Callers split only OUTPUTS (rows of a matmul's C, element ranges, rows of the head with
 * per-row results summed afterwards in row order), never a reduction, so the result is
 * bit-identical for any number of threads.
 *
 * Atomics.wait is not allowed on a browser's main thread: there, use the backend from a
 * Web Worker (the threads then are nested workers), or it runs single-threaded and says why.
 */
import type { KernelsAbi } from "./generated/kernels-wasm.js";
import type { KernelExports } from "./kernels.js";

/** Kernels a worker may run (their index is the op code). */
export const POOL_OPS = [
  "matmul",
  "matmul_strided",
  "matmul_at_strided",
  "matmul_bt_strided",
  "transpose_strided",
  "colsum",
  "act_forward",
  "act_backward",
  "act_forward_train",
  "mul_flush",
  "layer_norm_forward",
  "layer_norm_backward_rows",
  "layer_norm_param_grads",
  "sgd_update",
  "adam_update",
  "rmsprop_update",
  "scale",
  "sum_squares_blocks",
  "mixture_head_rows",
] as const satisfies readonly (keyof KernelsAbi)[]; // every op is a kernel of the generated ABI
export type PoolOp = (typeof POOL_OPS)[number];
export const MAX_ARGS = 24;

// control block (Int32 indices)
const GEN = 0;
const DONE = 1;
const WORKERS = 2;
const FAILED = 3; // a kernel call of the job threw (a trap): the slot + 1, else 0
const NEXT = 4; // next chunk index to take (grows; slot = index & 255, compared with wrap-around)
const END = 5; // end of the current job's chunk indices
const EXIT = 6; // 1: workers leave
const OPS = 8; // OPS + t: op of slot t
/** How long an idle worker polls for the next job before it sleeps (Atomics.wait), in microseconds. */
const SPIN_US = 200;
/** Jobs in a row that the calling thread ran alone before the pool rests (see ThreadPool.run). */
const SOLO_LIMIT = 32;
/** How long the pool rests, in milliseconds: well past SPIN_US, so the workers sleep. */
const REST_MS = 2;
const MAX_THREADS = 256;
const ARGS_BYTE = 4 * (OPS + MAX_THREADS); // float64 args start here (8-aligned)

/**
 * The worker program, as source (no imports; the same text runs in Node's worker_threads
 * with `eval: true` and in a browser from a Blob URL). It receives { module, memory, ctrl,
 * slot, names } once, instantiates the module on the shared memory, posts "ready", and loops.
 */
const WORKER_SOURCE = `
"use strict";
(function () {
  function start(d, post) {
    WebAssembly.instantiate(d.module, { env: { memory: d.memory } }).then(function (inst) {
      var ex = inst.exports;
      var fns = d.names.map(function (n) { return ex[n]; });
      var hdr = new Int32Array(d.ctrl);
      var a = new Float64Array(d.ctrl, ${ARGS_BYTE});
      var seen = Atomics.load(hdr, ${GEN});
      post("ready");
      for (;;) {
        // spin up to SPIN_US microseconds (the clock read every 64 polls), then sleep: long enough to
        // bridge the JS between a step's kernel calls and between steps, so the hand-off stays ~1 us
        var until = performance.now() + ${SPIN_US / 1000};
        for (var spin = 1; Atomics.load(hdr, ${GEN}) === seen; spin++) if ((spin & 63) === 0 && performance.now() > until) break;
        while (Atomics.load(hdr, ${GEN}) === seen) Atomics.wait(hdr, ${GEN}, seen, 1000);
        seen = Atomics.load(hdr, ${GEN});
        if (Atomics.load(hdr, ${EXIT}) === 1) return;
        var end = Atomics.load(hdr, ${END});
        for (;;) {
          var cur = Atomics.load(hdr, ${NEXT});
          if (((cur - end) | 0) >= 0) break;
          if (Atomics.compareExchange(hdr, ${NEXT}, cur, (cur + 1) | 0) !== cur) continue;
          var slot = cur & ${MAX_THREADS - 1};
          var op = hdr[${OPS} + slot];
          var b = slot * ${MAX_ARGS};
          if (op >= 0) {
            try {
              fns[op](a[b], a[b + 1], a[b + 2], a[b + 3], a[b + 4], a[b + 5], a[b + 6], a[b + 7], a[b + 8], a[b + 9], a[b + 10],
                a[b + 11], a[b + 12], a[b + 13], a[b + 14], a[b + 15], a[b + 16], a[b + 17], a[b + 18], a[b + 19], a[b + 20], a[b + 21],
                a[b + 22], a[b + 23]);
            } catch (err) {
              Atomics.store(hdr, ${FAILED}, slot + 1);
            }
          }
          Atomics.add(hdr, ${DONE}, 1);
          Atomics.notify(hdr, ${DONE});
        }
      }
    }, function (err) { post("error: " + (err && err.message ? err.message : String(err))); });
  }
  if (typeof self === "object" && self && typeof self.postMessage === "function" && typeof require !== "function") {
    self.onmessage = function (e) { self.onmessage = null; start(e.data, function (m) { self.postMessage(m); }); };
  } else {
    var wt = require("node:worker_threads");
    wt.parentPort.once("message", function (d) { start(d, function (m) { wt.parentPort.postMessage(m); }); });
  }
})();
`;

interface WorkerLike {
  postMessage(msg: unknown): void;
  terminate(): unknown;
}

type NodeWorkerThreads = {
  Worker: new (
    src: string,
    opts: { eval: boolean },
  ) => WorkerLike & {
    once(ev: string, fn: (v: unknown) => void): void;
    on(ev: string, fn: (v: unknown) => void): void;
    unref(): void;
  };
};

type G = {
  process?: { versions?: { node?: string }; env?: Record<string, string | undefined> };
  Worker?: new (url: string) => WorkerLike & { onmessage: ((e: { data: unknown }) => void) | null; onerror: ((e: unknown) => void) | null };
  Blob?: new (parts: string[], opts: { type: string }) => unknown;
  URL?: { createObjectURL(b: unknown): string };
  navigator?: { hardwareConcurrency?: number };
  window?: unknown;
  document?: unknown;
  crossOriginIsolated?: boolean;
};
const g = globalThis as unknown as G;
const isNode = typeof g.process?.versions?.node === "string";

// dynamic, bundler-opaque imports of Node built-ins (the main entry stays browser-safe)
const nodeImport = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);

let nodeWt: NodeWorkerThreads | undefined;
let nodeCores: number | undefined;

/** Loads what the threads need in Node (worker_threads, core count); a no-op elsewhere. */
async function loadNode(): Promise<void> {
  if (!isNode || nodeWt) return;
  nodeWt = (await nodeImport("node:worker_threads")) as NodeWorkerThreads;
  const os = (await nodeImport("node:os")) as { availableParallelism?: () => number; cpus(): unknown[] };
  nodeCores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
}

/** Logical cores of this machine (Node: os.availableParallelism(); browsers: navigator.hardwareConcurrency). */
export async function machineCores(): Promise<number> {
  if (isNode) {
    try {
      await loadNode();
    } catch {
      return 1;
    }
    return nodeCores ?? 1;
  }
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

/** Why threads cannot run here, or undefined when they can (shared memory, Atomics.wait on this thread, workers). */
export async function threadsUnavailable(): Promise<string | undefined> {
  if (typeof SharedArrayBuffer !== "function" || typeof Atomics !== "object") {
    return "this runtime has no SharedArrayBuffer (browsers: the page must be cross-origin isolated: COOP same-origin + COEP require-corp)";
  }
  if (g.crossOriginIsolated === false) return "the page is not cross-origin isolated (COOP/COEP headers), so memory cannot be shared with workers";
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return "this runtime cannot create a shared WebAssembly.Memory (threads proposal)";
  }
  if (isNode) {
    try {
      await loadNode();
    } catch (err) {
      return `node:worker_threads could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
    }
    return undefined;
  }
  if (typeof g.window === "object" && typeof g.document === "object") {
    return "a browser's main thread may not Atomics.wait: run the wasm backend inside a Web Worker to use threads";
  }
  if (typeof g.Worker !== "function" || typeof g.Blob !== "function" || !g.URL) return "this runtime has no Worker (nested Web Workers)";
  return undefined;
}

/** A started set of workers on one shared memory; the calling thread is slot 0. */
export class ThreadPool {
  /** Threads in all, the calling thread included. */
  readonly threads: number;
  /** Parallel calls dispatched so far (for tests: proves the workers ran). */
  dispatches = 0;
  /** Times the pool rested because its workers did not get a core (see {@link run}). */
  rests = 0;
  /** Jobs in a row that the calling thread ran alone. */
  private solo = 0;
  /** performance.now() until which the pool rests (0: not resting). */
  private restUntil = 0;
  /** Slots set for the next run (1 + the highest set). */
  private count = 0;
  private readonly hdr: Int32Array;
  private readonly args: Float64Array;
  private readonly fns: ((...a: number[]) => number)[];
  private workers: WorkerLike[];

  private constructor(threads: number, ctrl: SharedArrayBuffer, raw: KernelExports, workers: WorkerLike[]) {
    this.threads = threads;
    this.hdr = new Int32Array(ctrl);
    this.args = new Float64Array(ctrl, ARGS_BYTE);
    this.hdr[WORKERS] = threads - 1;
    const r = raw as unknown as Record<string, (...a: number[]) => number>;
    this.fns = POOL_OPS.map((n) => r[n] as (...a: number[]) => number);
    this.workers = workers;
  }

  /** Starts `threads - 1` workers on `memory`, each instantiating `module`; resolves once all are ready. */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, raw: KernelExports, threads: number): Promise<ThreadPool> {
    if (!(Number.isInteger(threads) && threads >= 2 && threads <= MAX_THREADS))
      throw new RangeError(`threads: expected an integer in [2, ${MAX_THREADS}], got ${threads}`);
    await loadNode();
    const ctrl = new SharedArrayBuffer(ARGS_BYTE + 8 * MAX_ARGS * threads);
    new Int32Array(ctrl).fill(-1, OPS, OPS + MAX_THREADS);
    const workers: WorkerLike[] = [];
    const ready: Promise<void>[] = [];
    const names = [...POOL_OPS];
    let url: string | undefined;
    try {
      for (let t = 1; t < threads; t++) {
        const init = { module, memory, ctrl, slot: t, names };
        if (isNode && nodeWt) {
          const w = new nodeWt.Worker(WORKER_SOURCE, { eval: true });
          workers.push(w);
          ready.push(
            new Promise<void>((resolve, reject) => {
              w.once("message", (m) => {
                w.unref(); // once ready, a worker never keeps the process alive (dispose() also ends it)
                if (m === "ready") resolve();
                else reject(new Error(String(m)));
              });
              w.once("error", (e) => reject(e instanceof Error ? e : new Error(String(e))));
            }),
          );
          w.postMessage(init);
        } else {
          const W = g.Worker as NonNullable<G["Worker"]>;
          url ??= (g.URL as NonNullable<G["URL"]>).createObjectURL(new (g.Blob as NonNullable<G["Blob"]>)([WORKER_SOURCE], { type: "text/javascript" }));
          const w = new W(url);
          workers.push(w);
          ready.push(
            new Promise<void>((resolve, reject) => {
              w.onmessage = (e) => (e.data === "ready" ? resolve() : reject(new Error(String(e.data))));
              w.onerror = (e) => reject(new Error(`worker failed: ${String((e as { message?: string }).message ?? e)}`));
            }),
          );
          w.postMessage(init);
        }
      }
      await Promise.all(ready);
    } catch (err) {
      for (const w of workers) void w.terminate();
      throw err;
    }
    return new ThreadPool(threads, ctrl, raw, workers);
  }

  /** Sets slot t to run `op` with `args` (the caller's own call is slot 0); slots left unset do nothing. */
  set(t: number, op: number, a0: number, a1: number, a2: number, a3: number, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0): void {
    if (!(t >= 0 && t < this.threads)) throw new RangeError(`slot ${t} of a ${this.threads}-thread pool`);
    this.hdr[OPS + t] = op;
    if (t >= this.count) this.count = t + 1;
    const a = this.args;
    const b = t * MAX_ARGS;
    a[b] = a0;
    a[b + 1] = a1;
    a[b + 2] = a2;
    a[b + 3] = a3;
    a[b + 4] = a4;
    a[b + 5] = a5;
    a[b + 6] = a6;
    a[b + 7] = a7;
    a[b + 8] = a8;
    a[b + 9] = a9;
  }

  /** Argument i (>= 10) of slot t, for the ops with many arguments. */
  arg(t: number, i: number, v: number): void {
    this.args[t * MAX_ARGS + i] = v;
  }

  /**
   * Runs every set slot as one job and waits for all of them; clears the slots. Slots are
   * chunks that any thread takes (compare-and-swap on a shared counter), this one included:
   * when a worker is slow to get a core (a loaded machine), this thread runs its chunk too.
   * Which thread runs a chunk does not change its result.
   */
  run(): void {
    if (this.workers.length === 0) throw new Error("the thread pool was disposed");
    const hdr = this.hdr;
    const count = this.count;
    const op0 = hdr[OPS] as number;
    Atomics.store(hdr, DONE, 0);
    // chunk indices of this job start at a multiple of 256, so index & 255 is the slot
    const start = ((Atomics.load(hdr, NEXT) + MAX_THREADS - 1) & ~(MAX_THREADS - 1)) | 0;
    Atomics.store(hdr, NEXT, start);
    Atomics.store(hdr, END, (start + count) | 0);
    Atomics.add(hdr, GEN, 1);
    Atomics.notify(hdr, GEN);
    const end = (start + count) | 0;
    const a = this.args;
    let mine = 0;
    for (;;) {
      const cur = Atomics.load(hdr, NEXT);
      if (((cur - end) | 0) >= 0) break;
      if (Atomics.compareExchange(hdr, NEXT, cur, (cur + 1) | 0) !== cur) continue;
      mine++;
      const slot = cur & (MAX_THREADS - 1);
      const op = hdr[OPS + slot] as number;
      const b = slot * MAX_ARGS;
      if (op >= 0) {
        try {
          (this.fns[op] as (...x: number[]) => number)(
            a[b] as number,
            a[b + 1] as number,
            a[b + 2] as number,
            a[b + 3] as number,
            a[b + 4] as number,
            a[b + 5] as number,
            a[b + 6] as number,
            a[b + 7] as number,
            a[b + 8] as number,
            a[b + 9] as number,
            a[b + 10] as number,
            a[b + 11] as number,
            a[b + 12] as number,
            a[b + 13] as number,
            a[b + 14] as number,
            a[b + 15] as number,
            a[b + 16] as number,
            a[b + 17] as number,
            a[b + 18] as number,
            a[b + 19] as number,
            a[b + 20] as number,
            a[b + 21] as number,
            a[b + 22] as number,
            a[b + 23] as number,
          );
        } catch {
          Atomics.store(hdr, FAILED, slot + 1);
        }
      }
      Atomics.add(hdr, DONE, 1);
    }
    for (let spin = 0; spin < 1 << 16 && Atomics.load(hdr, DONE) < count; spin++);
    for (;;) {
      const d = Atomics.load(hdr, DONE);
      if (d >= count) break;
      Atomics.wait(hdr, DONE, d, 1000);
    }
    hdr.fill(-1, OPS, OPS + count);
    this.count = 0;
    this.dispatches++;
    // a job whose every chunk this thread ran: no worker had a core in time. Many in a row mean a
    // worker spins on this thread's core (the scheduler placed it there and, as it never sleeps
    // while jobs keep coming, never moves it): both then run at half speed. Resting the pool lets
    // the worker's spin time out and sleep; the next job wakes it, and a woken thread is placed on
    // an idle core.
    if (mine < count || count < 2) this.solo = 0;
    else if (++this.solo >= SOLO_LIMIT) {
      this.solo = 0;
      this.rests++;
      this.restUntil = performance.now() + REST_MS;
    }
    const failed = Atomics.exchange(hdr, FAILED, 0);
    if (failed !== 0) throw new Error(`wasm kernels: the ${POOL_OPS[op0 >= 0 ? op0 : 0]} call of chunk ${failed - 1} trapped`);
  }

  /**
   * True while the pool rests (see {@link run}): callers then run kernel calls whole on this
   * thread. Which thread computes a chunk never changes a result, so resting changes only speed.
   */
  get resting(): boolean {
    if (this.restUntil === 0) return false;
    if (performance.now() < this.restUntil) return true;
    this.restUntil = 0;
    return false;
  }

  /** Ends the workers (they leave their loop, then are terminated). Idempotent. */
  dispose(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.hdr, EXIT, 1);
    Atomics.add(this.hdr, GEN, 1);
    Atomics.notify(this.hdr, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
