/** Learning-rate schedules (see {@link ScheduleConfig}). */
import type { ScheduleConfig } from "./types.js";

/**
 * Learning rate of 0-based step `step` of a run of `totalSteps` steps.
 * Warmup: lr * (step + 1) / warmupSteps for step < warmupSteps. After it,
 * progress p = (step - warmup) / max(1, total - warmup - 1), clamped to [0, 1].
 */
export function scheduledLr(baseLr: number, s: Required<ScheduleConfig>, step: number, totalSteps: number): number {
  const warm = s.warmupSteps;
  if (step < warm) return (baseLr * (step + 1)) / warm;
  if (s.type === "constant") return baseLr;
  const span = Math.max(1, totalSteps - warm - 1);
  const p = Math.min(1, Math.max(0, (step - warm) / span));
  const min = baseLr * s.minLrFactor;
  if (s.type === "cosine") return min + ((baseLr - min) * (1 + Math.cos(Math.PI * p))) / 2;
  return baseLr + (min - baseLr) * p;
}
