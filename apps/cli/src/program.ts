/** The `ngem` command tree (commander). */
import { Command, InvalidArgumentError, Option } from "commander";
import { builtinNames } from "@ngem/datasets";
import { benchCommand, backendsCommand } from "./commands/info.js";
import { trainCommand } from "./commands/train.js";
import { evalCommand, predictCommand, sampleCommand } from "./commands/use-model.js";
import { reproduceCommand, EXPERIMENTS } from "./commands/reproduce.js";
import { addExportCommand } from "./commands/export.js";

const EXIT_CODES = `
Exit codes:
  0    success
  1    runtime failure (training diverged, backend failed to load, I/O error)
  1    also: training diverged (loss or weights not finite), or a second Ctrl-C quit without saving
  2    usage error (bad flag or value, missing or unreadable file, unknown column, run directory
       in use by another process, corrupt checkpoint, flag that cannot change on --resume)
  130  interrupted by Ctrl-C (SIGINT) after saving a checkpoint (train)
  143  stopped by SIGTERM after saving a checkpoint (train)`;

/** Plain decimal integers only ("1e3" and "0x10" are rejected alike, by every integer flag). */
export function int(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^[-+]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min} (plain decimal digits), got "${v}"`);
    return n;
  };
}
/** Decimal numbers ("1e-3", "0.5"); hex, binary, octal, "Infinity" and "" are rejected. */
export function num(name: string, { positive = false, max, min }: { positive?: boolean; max?: number; min?: number } = {}) {
  return (v: string) => {
    const n = Number(v);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v.trim()) || !Number.isFinite(n) || (positive && n <= 0) || (max !== undefined && n > max) || (min !== undefined && n < min)) {
      throw new InvalidArgumentError(
        `${name} must be a ${positive ? "positive " : ""}finite number${min !== undefined ? ` >= ${min}` : ""}${max !== undefined ? ` <= ${max}` : ""}`,
      );
    }
    return n;
  };
}

/** Options the user typed (not defaults), by attribute name. */
function explicitFlags(cmd: Command): Set<string> {
  const out = new Set<string>();
  for (const o of cmd.options) {
    const key = o.attributeName();
    if (cmd.getOptionValueSource(key) === "cli") out.add(key);
  }
  return out;
}

function dataOptions(cmd: Command): Command {
  return cmd
    .option("--x-cols <cols>", "input columns of a file: names or 0-based indices, comma separated (default: all but the targets)")
    .option("--y-cols <cols>", "target columns of a file (default: the last column)")
    .option("--n <rows>", "rows to generate for a built-in task", int("--n", 1))
    .option("--data-seed <seed>", "seed of a built-in task's generator (default 0)", int("--data-seed", 0));
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("ngem")
    .description("Mixture density networks trained with natural-gradient EM (nGEM).")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(`ngem: ${str.replace(/^error: /, "")}`) })
    .addHelpText("after", EXIT_CODES);

  dataOptions(
    program
      .command("train")
      .argument("[data]", `CSV/TSV/NPY/JSONL file, or a built-in task: ${builtinNames.join(", ")}`)
      .description("train a model; writes checkpoint, metrics.jsonl, summary.json and plots into the run directory")
      .option("-c, --config <file>", "JSON config file (validated; flags override it)")
      .option("-b, --backend <name>", "js | wasm | tfjs-cpu | tfjs-wasm | tfjs-gpu (default js)")
      .option("--objective <name>", "ngem | ngem-full | em | nll (default ngem)")
      .option("--fisher-coords <coords>", "log-sigma | sigma (nGEM scale coordinates, default log-sigma)")
      .option("--optimizer <name>", "adam | sgd | rmsprop | soap (default adam)")
      .option("--lr <rate>", "learning rate (default 1e-3; 1e-2 for sgd)", num("--lr", { positive: true }))
      .option("-k, --k <components>", "mixture components (default 5 for an MDN, 2 for a GMM)", int("--k", 1))
      .option("--hidden <widths>", "hidden layer widths, comma separated (default 128,128)")
      .option("--activation <name>", "gelu | tanh | relu (default gelu)")
      .option("--no-layer-norm", "no LayerNorm after hidden layers")
      .option("--model <kind>", "mdn | gmm (default: gmm when the data has no inputs)")
      .option("--scale <f>", "sigma parameterisation: exp | softplus | elu+1 (default exp)")
      .option("--sigma-min <x>", "floor added to every sigma, in training (standardised) units, e.g. 1e-3 (default 0)", num("--sigma-min", { min: 0 }))
      .option("--covariance <kind>", "diag | isotropic | shared (default diag)")
      .option("--noise-x <std>", "noise regularisation: std of Gaussian noise on each minibatch's x (default 0)", num("--noise-x", { min: 0 }))
      .option("--noise-y <std>", "noise regularisation: std of Gaussian noise on each minibatch's y (default 0)", num("--noise-y", { min: 0 }))
      .option("--noise-schedule <s>", "constant | rule-of-thumb (noise stds times n^(-1/(4+d))) (default constant)")
      .option("--epochs <n>", "epochs (default 20, as in the library)", int("--epochs", 1))
      .option("--steps <n>", "optimizer steps instead of epochs", int("--steps", 1))
      .option("--batch-size <n>", "minibatch rows (default 32; 1 for a GMM)", int("--batch-size", 1))
      .option("--seed <n>", "seed of init, shuffling and the validation split (default 0)", int("--seed", 0))
      .option("--val-split <fraction>", "validation fraction (default 0.1, 0 for < 20 rows)", num("--val-split", { max: 0.99 }))
      .option("--test-split <fraction>", "hold out this fraction of rows as a test set (seeded by --seed; never trained on; `ngem eval RUN_DIR` scores it)", num("--test-split", { positive: true, max: 0.9 }))
      .option("--test <file>", "a separate test file (same columns) recorded with the run for `ngem eval RUN_DIR`")
      .option("--missing <how>", "missing cells (empty, NA, NaN, ?, null) in a CSV: error | skip-row (default error)")
      .option("--early-stopping <patience>", "stop after this many evaluations without a better validation NLL", int("--early-stopping", 1))
      .option("--min-delta <x>", "improvement that counts for --early-stopping (default 0)", num("--min-delta", { min: 0 }))
      .option("--keep <which>", "weights a finished run keeps: best (validation NLL) | last (default best with a validation set)")
      .option("--lr-schedule <s>", "constant | cosine | linear (default constant)")
      .option("--warmup <steps>", "linear learning-rate warmup steps (default 0)", int("--warmup", 0))
      .option("--min-lr-factor <f>", "final lr of a cosine/linear schedule as a fraction of --lr (default 0)", num("--min-lr-factor", { min: 0, max: 1 }))
      .option("--weight-decay <x>", "decoupled weight decay (default 0)", num("--weight-decay", { min: 0 }))
      .option("--clip-norm <x>", "clip the global gradient norm to this (default off)", num("--clip-norm", { positive: true }))
      .option("--checkpoint-every <steps>", "also checkpoint every this many steps (a checkpoint is written only from a finite state)", int("--checkpoint-every", 1))
      .option("--log-every <steps>", "write a metrics.jsonl line every this many steps (default: about 1000 lines per run; 1 = every step; eval steps always)", int("--log-every", 1))
      .option("-o, --out <dir>", "run directory (default runs/<data>-<objective>)")
      .option("--resume <dir>", "continue the run in <dir> from its checkpoint (with --epochs/--steps: train longer)")
      .option("--force", "replace a run already in --out (only once the new run has its first checkpoint)")
      .addOption(new Option("--standardize", "standardise x and y (default for files)"))
      .addOption(new Option("--no-standardize", "do not standardise"))
      .option("--no-png", "write SVG plots only")
      .option("--no-plots", "write no plots")
      .option("--json", "machine-readable JSON lines on stdout")
      .addHelpText(
        "after",
        `
Examples:
  ngem train two-gaussians --model gmm --k 2 --optimizer sgd --lr 0.01 --epochs 20
  ngem train inverse-sine --k 3 --hidden 128,128 --epochs 50 --out runs/sine
  ngem train data.csv --x-cols age,income --y-cols spend --backend wasm
  ngem train --resume runs/sine
  ngem train --resume runs/sine --epochs 100        # extend a finished run
  ngem train data.csv --sigma-min 1e-3 --noise-y 0.1

Run directory: a new run is built beside --out and appears there only with its
first checkpoint; a failed run leaves an existing --out untouched. --resume writes
only into its directory (which may have been moved or copied); with --resume only
--epochs, --steps, --backend, --checkpoint-every, --log-every, --json, --no-png and
--no-plots may be given. One process at a time per run directory (lock file).

Sigma floor: --sigma-min keeps every sigma >= the floor (in standardised units for
standardised data). 1e-3 prevents a component collapsing onto repeated points
(NLL -> -inf); the log warns when the floor is hit and counts the hits.

Noise regularisation (Rothfuss et al. 2019): --noise-x / --noise-y add fresh
Gaussian noise to every training minibatch (never to evaluation), seeded.

Why the NLL can be negative: it is a negative log density, and a density can
exceed 1 (sigma 0.1 peaks at 3.99, NLL -1.38). It is per row, summed over the
y dimensions, in the units of y; standardising y shifts it by sum log std, so
compare NLLs only in the same units on the same data.
${EXIT_CODES}`,
      ),
  ).action((data: string | undefined, opts, cmd: Command) => trainCommand(data, opts, explicitFlags(cmd)));

  dataOptions(
    program
      .command("eval")
      .argument("<checkpoint>", "checkpoint file written by ngem train")
      .argument("<data>", "data file or built-in task (same columns as training)")
      .description("NLL, RMSE of the mixture mean, and calibration on a data set")
      .option("-b, --backend <name>", "run on another backend than the one recorded")
      .option("--json", "print JSON")
      .option("--output <file>", "write to a file instead of stdout")
      .addHelpText("after", `\nExample:\n  ngem eval runs/sine/checkpoint.safetensors inverse-sine --data-seed 1\n${EXIT_CODES}`),
  ).action((ckpt: string, data: string, opts) => evalCommand(ckpt, data, opts));

  dataOptions(
    program
      .command("predict")
      .argument("<checkpoint>", "checkpoint file")
      .argument("<data>", "data file or built-in task whose inputs to predict for")
      .description("mixture parameters, mean and mode per row, in original units")
      .option("-f, --format <fmt>", "csv | json (default csv)")
      .option("--no-params", "only mean and mode, no mixture parameters")
      .option("--interval <level>", "also a central prediction interval per dimension, e.g. 0.9", num("--interval", { positive: true, max: 0.999999 }))
      .option("-b, --backend <name>", "run on another backend than the one recorded")
      .option("--json", "same as --format json")
      .option("--output <file>", "write to a file instead of stdout")
      .addHelpText("after", `\nExample:\n  ngem predict runs/sine/checkpoint.safetensors inverse-sine --n 5 --format json\n${EXIT_CODES}`),
  ).action((ckpt: string, data: string, opts) => predictCommand(ckpt, data, opts));

  program
    .command("sample")
    .argument("<checkpoint>", "checkpoint file")
    .description("draw samples y ~ p(y | x) in original units")
    .option("--x <rows>", "inputs: values comma separated, rows separated by ';' (required for an MDN)")
    .option("-n, --count <n>", "samples per input row (default 10)", int("--count", 1))
    .option("--temperature <tau>", "temperature of the component choice (default 1; 0 = most probable component)", num("--temperature", { min: 0 }))
    .option("--sigma-temperature <t>", "scale temperature (default 1; 0 = component means)", num("--sigma-temperature", { min: 0 }))
    .option("--seed <n>", "sampling seed (default 0)", int("--seed", 0))
    .option("-b, --backend <name>", "run on another backend than the one recorded")
    .option("--json", "print JSON")
    .option("--output <file>", "write to a file instead of stdout")
    .addHelpText("after", `\nExample:\n  ngem sample runs/sine/checkpoint.safetensors --x "0.5;0.7" -n 100\n${EXIT_CODES}`)
    .action((ckpt: string, opts) => sampleCommand(ckpt, opts));

  program
    .command("bench")
    .description("one-step training benchmark on every backend that loads, as a table of ratios")
    .option("--seconds <s>", "time per cell (default 1)", num("--seconds", { positive: true }))
    .option("--json", "print JSON")
    .addHelpText("after", `\nExample:\n  ngem bench --seconds 2\n${EXIT_CODES}`)
    .action((opts) => benchCommand(opts));

  program
    .command("backends")
    .description("which backends load here, and why the others do not")
    .option("--json", "print JSON")
    .addHelpText("after", `\nExample:\n  ngem backends --json\n${EXIT_CODES}`)
    .action((opts) => backendsCommand(opts));

  program
    .command("reproduce")
    .argument("<experiment>", `${EXPERIMENTS.join(" | ")} | all`)
    .description("reproduce the paper's experiments: NLL vs nGEM over seeds, tables and figures")
    .option("-o, --out <dir>", "output directory (default runs/reproduce)")
    .option("--quick", "a reduced version (few steps, 2 seeds) for smoke tests")
    .option("--seeds <n>", "seeds per setting (default 5)", int("--seeds", 1))
    .option("-b, --backend <name>", "backend (default js)")
    .option("--no-png", "write SVG plots only")
    .option("--json", "print JSON")
    .addHelpText("after", `\nExample:\n  ngem reproduce two-gaussians\n${EXIT_CODES}`)
    .action((exp: string, opts) => reproduceCommand(exp, opts));

  addExportCommand(program, EXIT_CODES);

  return program;
}
