/**
 * Gradients of the tfjs kernels this package differentiates through.
 *
 * @tensorflow/tfjs-core registers no kernel gradients by itself: the umbrella
 * @tensorflow/tfjs does it by importing
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, an ES module with
 * extension-less imports that Node cannot load without a bundler. So that
 * tfjs-core + one platform package is enough, this module registers the
 * gradient of each kernel below **only when none is registered** (when
 * @tensorflow/tfjs or tfjs-node-gpu was loaded first, theirs are kept). The
 * rules are the standard ones tfjs uses; the parity suite checks the
 * resulting parameter gradients against the float64 reference.
 */
import * as tf from "@tensorflow/tfjs-core";

type Grads = Record<string, () => tf.Tensor>;

/** Sums `g` over the axes along which an input of `shape` was broadcast, then reshapes to `shape`. */
function unbroadcast(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const offset = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < offset || (shape[i - offset] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const r = axes.length ? tf.sum(g, axes) : g;
  return tf.reshape(r, [...shape]);
}

function axesOf(axis: number | number[] | null | undefined, rank: number): number[] {
  const list = axis == null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return list.map((a) => (a < 0 ? a + rank : a));
}

/** dy of a reduction over `axes` of x, broadcast back to x's shape. */
function expandReduced(dy: tf.Tensor, x: tf.Tensor, axes: readonly number[]): tf.Tensor {
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return tf.mul(tf.reshape(dy, shape), tf.onesLike(x));
}

function binary(kernelName: string, f: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor]): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved): Grads => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      return {
        a: () => unbroadcast(f(dy as tf.Tensor, a, b)[0], a.shape),
        b: () => unbroadcast(f(dy as tf.Tensor, a, b)[1], b.shape),
      };
    },
  };
}

function unaryX(kernelName: string, f: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor): tf.GradConfig {
  return { kernelName, inputsToSave: ["x"], gradFunc: (dy, saved): Grads => ({ x: () => f(dy as tf.Tensor, saved[0] as tf.Tensor) }) };
}

function unaryY(kernelName: string, f: (dy: tf.Tensor, y: tf.Tensor) => tf.Tensor): tf.GradConfig {
  return { kernelName, outputsToSave: [true], gradFunc: (dy, saved): Grads => ({ x: () => f(dy as tf.Tensor, saved[0] as tf.Tensor) }) };
}

/** Swaps the last two axes. */
function transposeLast(x: tf.Tensor): tf.Tensor {
  const perm = [...Array(x.rank).keys()];
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}

/**
 * matMul(a, b, transposeA, transposeB). On tfjs-wasm a transposed operand
 * takes a path about 10x slower than an explicit transpose followed by a
 * plain matMul (measured: [64,15690] x [15690,256]^T 336 ms vs 26 + 18 ms),
 * so there the transposes are materialised; elsewhere the flags are passed.
 */
function matMulWithTransposes(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (tf.getBackend() !== "wasm") return tf.matMul(a, b, transposeA, transposeB);
  return tf.matMul(transposeA ? transposeLast(a) : a, transposeB ? transposeLast(b) : b);
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** The gradient configs this package may need (the kernels on its autodiff paths). */
export const GRADIENT_CONFIGS: readonly tf.GradConfig[] = [
  binary(tf.Add, (dy) => [dy, dy]),
  binary(tf.Sub, (dy) => [dy, tf.neg(dy)]),
  binary(tf.Multiply, (dy, a, b) => [tf.mul(dy, b), tf.mul(dy, a)]),
  binary(tf.RealDiv, (dy, a, b) => [tf.div(dy, b), tf.neg(tf.div(tf.mul(dy, a), tf.square(b)))]),
  binary(tf.SquaredDifference, (dy, a, b) => {
    const g = tf.mul(dy, tf.mul(tf.sub(a, b), 2));
    return [g, tf.neg(g)];
  }),
  {
    kernelName: tf.AddN,
    saveAllInputs: true,
    gradFunc: (dy, saved): Grads => Object.fromEntries(saved.map((_, i) => [String(i), () => tf.clone(dy as tf.Tensor)])),
  },
  unaryX(tf.Neg, (dy) => tf.neg(dy)),
  unaryY(tf.Exp, (dy, y) => tf.mul(dy, y)),
  unaryX(tf.Log, (dy, x) => tf.div(dy, x)),
  unaryX(tf.Square, (dy, x) => tf.mul(dy, tf.mul(x, 2))),
  unaryX(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(x), 2))),
  unaryX(tf.Rsqrt, (dy, x) => tf.neg(tf.div(dy, tf.mul(tf.pow(x, 1.5), 2)))),
  unaryX(tf.Erf, (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), TWO_OVER_SQRT_PI))),
  unaryY(tf.Tanh, (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  unaryX(tf.Relu, (dy, x) => tf.mul(dy, tf.cast(tf.greater(x, 0), "float32"))),
  unaryX(tf.Cast, (dy) => tf.clone(dy)),
  unaryX(tf.Identity, (dy) => tf.clone(dy)),
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs): Grads => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const g = dy as tf.Tensor;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const mm = matMulWithTransposes;
      if (!transposeA && !transposeB) return { a: () => mm(g, b, false, true), b: () => mm(a, g, true, false) };
      if (!transposeA && transposeB) return { a: () => mm(g, b, false, false), b: () => mm(g, a, true, false) };
      if (transposeA && !transposeB) return { a: () => mm(b, g, false, true), b: () => mm(a, g, false, false) };
      return { a: () => mm(b, g, true, true), b: () => mm(g, a, true, true) };
    },
  },
  {
    kernelName: tf.Sum,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs): Grads => {
      const x = saved[0] as tf.Tensor;
      const axes = axesOf((attrs as unknown as { axis?: number | number[] | null }).axis, x.rank);
      return { x: () => expandReduced(dy as tf.Tensor, x, axes) };
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs): Grads => {
      const x = saved[0] as tf.Tensor;
      const axes = axesOf((attrs as unknown as { axis?: number | number[] | null }).axis, x.rank);
      const count = axes.reduce((p, a) => p * (x.shape[a] as number), 1);
      return { x: () => tf.div(expandReduced(dy as tf.Tensor, x, axes), count) };
    },
  },
  {
    kernelName: tf.Max,
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs): Grads => {
      const [x, y] = saved as [tf.Tensor, tf.Tensor];
      const axes = axesOf((attrs as unknown as { reductionIndices?: number | number[] | null }).reductionIndices, x.rank);
      return {
        x: () => {
          const shape = x.shape.slice();
          for (const a of axes) shape[a] = 1;
          const mask = tf.cast(tf.equal(x, tf.reshape(y, shape)), "float32");
          return tf.mul(tf.reshape(dy as tf.Tensor, shape), mask);
        },
      };
    },
  },
  {
    // concatenation (the two trunks of trunk: "separate"): each input gets its slice of dy along the axis
    kernelName: tf.Concat,
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs): Grads => {
      const xs = saved as tf.Tensor[];
      const rank = (xs[0] as tf.Tensor).rank;
      const { axis } = attrs as unknown as { axis: number };
      const ax = axis < 0 ? axis + rank : axis;
      const out: Grads = {};
      let at = 0;
      xs.forEach((x, i) => {
        const begin = x.shape.map((_, j) => (j === ax ? at : 0));
        at += x.shape[ax] as number;
        out[String(i)] = () => tf.slice(dy as tf.Tensor, begin, x.shape);
      });
      return out;
    },
  },
  { kernelName: tf.Reshape, inputsToSave: ["x"], gradFunc: (dy, saved): Grads => ({ x: () => tf.reshape(dy as tf.Tensor, (saved[0] as tf.Tensor).shape) }) },
  {
    kernelName: tf.Slice,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs): Grads => {
      const x = saved[0] as tf.Tensor;
      const { begin, size } = attrs as unknown as { begin: number | number[]; size?: number | number[] };
      const b = Array.isArray(begin) ? begin : [begin];
      const s = size === undefined ? [] : Array.isArray(size) ? size : [size];
      const paddings: [number, number][] = x.shape.map((dim, i) => {
        const bi = b[i] ?? 0;
        const si = s[i] === undefined || s[i] === -1 ? dim - bi : (s[i] as number);
        return [bi, dim - bi - si];
      });
      return { x: () => tf.pad(dy as tf.Tensor, paddings) };
    },
  },
  {
    kernelName: tf.Tile,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs): Grads => {
      const x = saved[0] as tf.Tensor;
      const { reps } = attrs as unknown as { reps: number[] };
      // dy has shape [r0*x0, r1*x1, ...]; copy j of axis i occupies [j*xi, (j+1)*xi): view as [r0, x0, r1, x1, ...] and sum the r axes.
      const split: number[] = [];
      x.shape.forEach((dim, i) => split.push(reps[i] as number, dim));
      const repAxes = x.shape.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy as tf.Tensor, split), repAxes), x.shape) };
    },
  },
];

let registered = false;

/** Registers every config of {@link GRADIENT_CONFIGS} whose kernel has no gradient yet. Idempotent. */
export function ensureGradients(): void {
  if (registered) return;
  registered = true;
  for (const config of GRADIENT_CONFIGS) {
    if (tf.getGradient(config.kernelName) == null) tf.registerGradient(config);
  }
}
