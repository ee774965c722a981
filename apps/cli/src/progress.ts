/**
 * Training progress: a cli-progress bar with loss and ETA on a TTY, plain log
 * lines otherwise, JSON lines with --json.
 */
import cliProgress from "cli-progress";
import type { StepRecord } from "@ngem/trainer";

export interface Progress {
  update(rec: StepRecord): void;
  stop(): void;
}

export function makeProgress(opts: { total: number; json: boolean; label: string }): Progress {
  const { total, json, label } = opts;
  let lastVal: number | undefined;
  if (json) {
    const every = Math.max(1, Math.floor(total / 100));
    return {
      update(rec) {
        if (rec.valNll !== undefined || rec.step % every === 0 || rec.step === total || rec.nonFinite) {
          process.stdout.write(`${JSON.stringify({ event: "step", ...rec })}\n`);
        }
      },
      stop() {},
    };
  }
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} |{bar}| {percentage}% | step {value}/{total} | loss {loss} | val {val} | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: "-", val: "-" });
    return {
      update(rec) {
        if (rec.valNll !== undefined) lastVal = rec.valNll;
        bar.update(rec.step, {
          loss: Number.isFinite(rec.loss) ? rec.loss.toFixed(4) : String(rec.loss),
          val: lastVal === undefined ? "-" : lastVal.toFixed(4),
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const every = Math.max(1, Math.floor(total / 20));
  const t0 = Date.now();
  return {
    update(rec) {
      if (rec.valNll !== undefined) lastVal = rec.valNll;
      if (rec.step % every === 0 || rec.step === total || rec.nonFinite) {
        const elapsed = (Date.now() - t0) / 1000;
        const eta = rec.step > 0 ? (elapsed / rec.step) * (total - rec.step) : 0;
        process.stderr.write(
          `step ${rec.step}/${total} epoch ${rec.epoch} loss ${rec.loss.toFixed(4)}${lastVal !== undefined ? ` val ${lastVal.toFixed(4)}` : ""} lr ${rec.lr.toExponential(2)} eta ${eta.toFixed(0)}s${rec.nonFinite ? ` NON-FINITE ${rec.nonFinite}` : ""}\n`,
        );
      }
    },
    stop() {},
  };
}
