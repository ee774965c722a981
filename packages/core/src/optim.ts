/**
 * Float64 reference optimizer updates, with PyTorch's update rules (so the
 * PyTorch cross-check can compare one step exactly):
 * - sgd:     buf = momentum buf + g;  step = nesterov ? g + momentum buf : buf (buf = g when momentum = 0)
 * - adam:    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * - rmsprop: v = alpha v + (1-alpha) g^2; a = sqrt(v) + eps; momentum ? (buf = momentum buf + g/a; p -= lr buf) : p -= lr g/a
 * Weight decay is decoupled (p -= lr wd p, as AdamW). Clipping scales the
 * whole gradient by clipNorm / (norm + 1e-6) when the global norm exceeds it
 * (torch.nn.utils.clip_grad_norm_).
 * `freeze` names parameters the update skips entirely (no step, no decay,
 * moments untouched), as PyTorch's requires_grad = False.
 *
 * State names: `<param>/m` (momentum or first moment), `<param>/v` (second
 * moment), `step` (a [1] tensor holding t).
 */
import type { NamedTensors, OptimizerSpec } from "./backend.js";
import { ShapeError } from "./errors.js";

export const OPTIMIZER_TYPES = ["sgd", "adam", "rmsprop"] as const;

/** Validates an optimizer spec, naming the field at fault. */
export function validateOptimizer(o: OptimizerSpec): void {
  if (o == null || !OPTIMIZER_TYPES.includes(o.type)) {
    throw new ShapeError("optimizer.type", `expected one of ${OPTIMIZER_TYPES.join(" | ")}, got ${String(o?.type)}`);
  }
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw new ShapeError("optimizer.lr", `expected a finite number >= 0, got ${o.lr}`);
  if (o.clipNorm !== undefined && !(o.clipNorm > 0)) throw new ShapeError("optimizer.clipNorm", `expected a number > 0, got ${o.clipNorm}`);
  if (o.freeze !== undefined) {
    if (!Array.isArray(o.freeze)) throw new ShapeError("optimizer.freeze", "expected an array of parameter names");
    o.freeze.forEach((name, i) => {
      if (typeof name !== "string") throw new ShapeError(`optimizer.freeze[${i}]`, `expected a parameter name, got ${String(name)}`);
    });
  }
}

/**
 * Checks `optimizer.freeze` against the parameter names of a model and returns
 * the names that train, in the given order (all of them when freeze is absent).
 */
export function trainableNames(o: OptimizerSpec, names: readonly string[]): string[] {
  const freeze = o.freeze;
  if (!freeze?.length) return [...names];
  const known = new Set(names);
  freeze.forEach((name, i) => {
    if (!known.has(name)) throw new ShapeError(`optimizer.freeze[${i}]`, `"${name}" is not a parameter of this model (expected one of ${names.join(", ")})`);
  });
  const frozen = new Set(freeze);
  return names.filter((n) => !frozen.has(n));
}

/** Global L2 norm of a set of gradients. */
export function globalNorm(grads: Record<string, ArrayLike<number>>): number {
  let s = 0;
  for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) s += (g[i] as number) * (g[i] as number);
  return Math.sqrt(s);
}

/** Clip factor for a given global norm (1 when no clipping applies). */
export function clipFactor(norm: number, clipNorm: number | undefined): number {
  if (clipNorm === undefined) return 1;
  const c = clipNorm / (norm + 1e-6);
  return c < 1 ? c : 1;
}

/**
 * Applies one update in place to float64 `weights` given `grads` (already
 * clipped) and mutable `state` (created on first use).
 */
export function optimizerUpdate(
  o: OptimizerSpec,
  weights: Record<string, Float64Array>,
  grads: Record<string, ArrayLike<number>>,
  state: Record<string, Float64Array>,
): void {
  const stepT = (state.step ??= new Float64Array(1));
  stepT[0] = (stepT[0] as number) + 1;
  const t = stepT[0] as number;
  const lr = o.lr;
  const wd = o.weightDecay ?? 0;
  const frozen = new Set(o.freeze ?? []);
  for (const [name, p] of Object.entries(weights)) {
    if (frozen.has(name)) continue;
    const g = grads[name];
    if (!g) throw new ShapeError(`grads["${name}"]`, "missing");
    if (wd !== 0) for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) * (1 - lr * wd);
    switch (o.type) {
      case "sgd": {
        const mom = o.momentum ?? 0;
        if (mom === 0) {
          for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) - lr * (g[i] as number);
          break;
        }
        const buf = (state[`${name}/m`] ??= new Float64Array(p.length));
        const first = t === 1;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] as number;
          const b = first ? gi : mom * (buf[i] as number) + gi;
          buf[i] = b;
          p[i] = (p[i] as number) - lr * (o.nesterov ? gi + mom * b : b);
        }
        break;
      }
      case "adam": {
        const b1 = o.beta1 ?? 0.9;
        const b2 = o.beta2 ?? 0.999;
        const eps = o.eps ?? 1e-8;
        const m = (state[`${name}/m`] ??= new Float64Array(p.length));
        const v = (state[`${name}/v`] ??= new Float64Array(p.length));
        const c1 = 1 - b1 ** t;
        const c2 = 1 - b2 ** t;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] as number;
          const mi = b1 * (m[i] as number) + (1 - b1) * gi;
          const vi = b2 * (v[i] as number) + (1 - b2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          p[i] = (p[i] as number) - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
        }
        break;
      }
      case "rmsprop": {
        const alpha = o.alpha ?? 0.99;
        const eps = o.eps ?? 1e-8;
        const mom = o.momentum ?? 0;
        const v = (state[`${name}/v`] ??= new Float64Array(p.length));
        const buf = mom > 0 ? (state[`${name}/m`] ??= new Float64Array(p.length)) : undefined;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] as number;
          const vi = alpha * (v[i] as number) + (1 - alpha) * gi * gi;
          v[i] = vi;
          const step = gi / (Math.sqrt(vi) + eps);
          if (buf) {
            const b = mom * (buf[i] as number) + step;
            buf[i] = b;
            p[i] = (p[i] as number) - lr * b;
          } else {
            p[i] = (p[i] as number) - lr * step;
          }
        }
        break;
      }
    }
  }
}

/** Converts mutable float64 state to named tensors (1-D shapes). */
export function stateToTensors(state: Record<string, Float64Array>): NamedTensors {
  const out: NamedTensors = {};
  for (const [k, v] of Object.entries(state)) out[k] = { shape: [v.length], data: Float64Array.from(v) };
  return out;
}
