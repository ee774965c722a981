/** The `ngem` command tree (commander). */
import { Command, InvalidArgumentError, Option } from "commander";
import { builtinNames } from "@ngem/datasets";
import { benchCommand, backendsCommand } from "./commands/info.js";
import { trainCommand } from "./commands/train.js";
import { cvCommand } from "./commands/cv.js";
import { evalCommand, predictCommand, sampleCommand } from "./commands/use-model.js";
import { compareCommand } from "./commands/compare.js";
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
    if (!/^[-+]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min} (plain decimal digits), got "${v}"`);
    return n;
  };
}
/** `--threads N`: the wasm backend's threads per model, passed to it as NGEM_WASM_THREADS (results do not depend on it). */
export function threadsFlag(v: string): number {
  const n = int("--threads", 1)(v);
  process.env.NGEM_WASM_THREADS = String(n);
  return n;
}
/** Decimal numbers ("1e-3", "0.5"); hex, binary, octal, "Infinity" and "" are rejected. */
export function num(name: string, { positive = false, max, min }: { positive?: boolean; max?: number; min?: number } = {}) {
  return (v: string) => {
    const n = Number(v);
    if (
      !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v.trim()) ||
      !Number.isFinite(n) ||
      (positive && n <= 0) ||
      (max !== undefined && n > max) ||
      (min !== undefined && n < min)
    ) {
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

/** The options that define a model and its training (shared by `train` and `cv`). */
function modelOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "JSON config file (validated; flags override it)")
    .option("-b, --backend <name>", "js | wasm | tfjs-cpu | tfjs-wasm | tfjs-gpu | tfjs-webgl | tfjs-webgpu (default js; `ngem backends` says which load here)")
    .option("--objective <name>", "ngem | ngem-full | em | nll (default ngem)")
    .option("--fisher-coords <coords>", "log-sigma | sigma (nGEM scale coordinates, default log-sigma)")
    .option(
      "--damping <lambda>",
      "ngem / ngem-full: Levenberg-Marquardt damping of the Fisher blocks, (F + lambda I)^-1 (default 0 = undamped)",
      num("--damping", { min: 0 }),
    )
    .option(
      "--precondition <blocks>",
      "ngem / ngem-full: blocks that get the natural gradient, comma separated from logits,mu,scale (default all; 'none' for none)",
    )
    .option("--optimizer <name>", "adam | sgd | rmsprop | soap (default adam)")
    .option("--lr <rate>", "learning rate (default 1e-3; 1e-2 for sgd)", num("--lr", { positive: true }))
    .option(
      "--freeze <params>",
      "parameters left at their initial values: 'trunk' (MDN head-only training) or comma-separated parameter names / dotted prefixes (not with soap)",
    )
    .option("-k, --k <components>", "mixture components (default 5 for an MDN, 2 for a GMM)", int("--k", 1))
    .option("--hidden <widths>", "hidden layer widths, comma separated (default 128,128)")
    .option("--activation <name>", "gelu | tanh | relu (default gelu)")
    .option("--no-layer-norm", "no LayerNorm after hidden layers")
    .option("--trunk <layout>", "MDN trunks: shared | separate (one for the logits, one for means and scales) (default shared)")
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
    .option("--missing <how>", "missing cells (empty, NA, NaN, ?, null) in a CSV: error | skip-row (default error)")
    .option("--early-stopping <patience>", "stop after this many evaluations without a better validation NLL", int("--early-stopping", 1))
    .option("--min-delta <x>", "improvement that counts for --early-stopping (default 0)", num("--min-delta", { min: 0 }))
    .option("--keep <which>", "weights a finished run keeps: best (validation NLL) | last (default best with a validation set)")
    .option("--lr-schedule <s>", "constant | cosine | linear (default constant)")
    .option("--warmup <steps>", "linear learning-rate warmup steps (default 0)", int("--warmup", 0))
    .option("--min-lr-factor <f>", "final lr of a cosine/linear schedule as a fraction of --lr (default 0)", num("--min-lr-factor", { min: 0, max: 1 }))
    .option("--weight-decay <x>", "decoupled weight decay (default 0)", num("--weight-decay", { min: 0 }))
    .option("--clip-norm <x>", "clip the global gradient norm to this (default off)", num("--clip-norm", { positive: true }));
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
    modelOptions(program.command("train"))
      .argument("[data]", `CSV/TSV/NPY/JSONL file, or a built-in task: ${builtinNames.join(", ")}`)
      .description("train a model; writes checkpoint, metrics.jsonl, summary.json and plots into the run directory")
      .option(
        "--test-split <fraction>",
        "hold out this fraction of rows as a test set (seeded by --seed; never trained on; `ngem eval RUN_DIR` scores it)",
        num("--test-split", { positive: true, max: 0.9 }),
      )
      .option("--test <file>", "a separate test file (same columns) recorded with the run for `ngem eval RUN_DIR`")
      .option(
        "--ensemble <M>",
        "train M members (seeds seed..seed+M-1) saved as one model: the equal-weight mixture of their mixtures (M x K components)",
        int("--ensemble", 1),
      )
      .option(
        "--checkpoint-every <steps>",
        "also checkpoint every this many steps (a checkpoint is written only from a finite state)",
        int("--checkpoint-every", 1),
      )
      .option(
        "--log-every <steps>",
        "write a metrics.jsonl line every this many steps (default: about 1000 lines per run; 1 = every step; eval steps always)",
        int("--log-every", 1),
      )
      .option("-o, --out <dir>", "run directory (default runs/<data>-<objective>)")
      .option("--resume <dir>", "continue the run in <dir> from its checkpoint (with --epochs/--steps: train longer)")
      .option("--force", "replace a run already in --out (only once the new run has its first checkpoint)")
      .option(
        "--stream",
        "out-of-core: read a CSV/JSONL file in batches each epoch (one statistics pass, hash validation split, shuffle buffer of 16384 rows); memory independent of the row count",
      )
      .addOption(new Option("--standardize", "standardise x and y (default for files)"))
      .addOption(new Option("--no-standardize", "do not standardise"))
      .option("--no-png", "write SVG plots only")
      .option("--no-plots", "write no plots")
      .option("--json", "machine-readable JSON lines on stdout")
      .option(
        "--threads <n>",
        "wasm backend: threads per model (default: this machine's cores, for large shapes; 1 = single-threaded; results are identical)",
        threadsFlag,
      )
      .option("--print-config", "print the resolved configuration (config, data, run settings) as JSON and exit; writes nothing")
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

  program
    .command("config")
    .description("the training config schema (JSON Schema of --config files), or the resolved config of a train command")
    .option("--schema", "print the JSON Schema of --config files")
    .option("--print", "print the resolved config of the train command given after it, without running it")
    .argument("[train-args...]", "with --print: the arguments of `ngem train` (e.g. data.csv --k 3 --epochs 50)")
    .allowUnknownOption()
    .addHelpText(
      "after",
      `\nExamples:\n  ngem config --schema > ngem-config.schema.json\n  ngem config --print data.csv --k 3 --lr-schedule cosine\n${EXIT_CODES}`,
    )
    .action(async (args: string[], opts: { schema?: boolean; print?: boolean }) => {
      if (opts.schema === opts.print) throw new InvalidArgumentError("config: give one of --schema or --print");
      if (opts.schema) {
        const { configJsonSchema } = await import("./config-file.js");
        process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
        return;
      }
      await buildProgram().parseAsync(["train", ...args.filter((a) => a !== "--print"), "--print-config"], { from: "user" });
    });

  dataOptions(
    modelOptions(program.command("cv"))
      .argument("<data>", "CSV/TSV/NPY/JSONL file, or a built-in task")
      .description("cross-validate a model configuration: mean +- std test NLL and RMSE over splits, in original units")
      .option("--folds <k>", "k-fold cross-validation (default 5)", int("--folds", 2))
      .option("--protocol <name>", "uci20: 20 random 90/10 splits (the UCI regression protocol) instead of folds")
      .addOption(new Option("--standardize", "standardise x and y with each split's training statistics (default for files)"))
      .addOption(new Option("--no-standardize", "do not standardise"))
      .option("--json", "print JSON")
      .option("--output <file>", "write to a file instead of stdout")
      .addHelpText(
        "after",
        `\nExamples:\n  ngem cv data.csv --x-cols x --y-cols y --folds 5 --k 3 --epochs 50\n  ngem cv data.csv --protocol uci20 --objective nll --json\n${EXIT_CODES}`,
      ),
  ).action((data: string, opts) => cvCommand(data, opts));

  dataOptions(
    program
      .command("eval")
      .argument("<run>", "run directory (scores its held-out test rows), or a checkpoint file")
      .argument("[data]", "data file or built-in task (same columns as training); default for a run directory: its test rows")
      .description("forecast metrics in original units: NLL, RMSE/MAE of mean and mode, CRPS, pinball loss, interval coverage and width, PIT uniformity")
      .option("--quantiles <qs>", "quantile levels of the pinball loss (default 0.1,0.5,0.9)")
      .option("-b, --backend <name>", "run on another backend than the one recorded")
      .option("--json", "print JSON (every metric)")
      .option("--output <file>", "write to a file instead of stdout")
      .addHelpText(
        "after",
        `
Examples:
  ngem eval runs/a                                   # the run's held-out test rows (--test-split / --test)
  ngem eval runs/a new.csv --json
  ngem eval runs/sine/checkpoint.safetensors inverse-sine --data-seed 1

Metrics (original units of the targets; pooled over targets when there are several):
  NLL        mean negative log density per row, in nats (and the total over rows; the value
             in the standardised training space is an extra, labelled "standardized")
  RMSE, MAE  of the mixture mean and of its mode
  CRPS       continuous ranked probability score, closed form for Gaussian mixtures
             (Grimit et al. 2006); for several targets the CRPS of each marginal, averaged
  pinball    quantile loss of the mixture's q-quantile at each --quantiles level
  intervals  coverage and mean width of the central 50/80/90/95% intervals
  PIT        KS distance (and p-value) and chi-square of the PIT values against U(0, 1)
Data that shares rows with the run's training rows gets a warning with the count.
${EXIT_CODES}`,
      ),
  ).action((ckpt: string, data: string | undefined, opts) => evalCommand(ckpt, data, opts));

  dataOptions(
    program
      .command("predict")
      .argument("<checkpoint>", "checkpoint file, or a run directory")
      .argument("<data>", "CSV/TSV/JSONL/NPY file of inputs (targets, if present, are ignored), '-' for stdin, or a built-in task")
      .description("mixture parameters, mean, mode, intervals and quantiles per row, in original units, with a row id to join back")
      .option("-f, --format <fmt>", "csv | tsv | jsonl | json | npy (default: from --output's extension, else csv)")
      .option("--id-col <col>", "input column copied to the output as the row id (default: a 'row' column, 0-based data row)")
      .option("--keep-cols <cols>", "input columns copied to the output, comma separated ('*' = all)")
      .option("--no-params", "only mean and mode, no mixture parameters")
      .option("--interval <level>", "also a central prediction interval per dimension, e.g. 0.9", num("--interval", { positive: true, max: 0.999999 }))
      .option("--quantiles <qs>", "also these quantiles of each dimension's marginal, e.g. 0.1,0.5,0.9")
      .option("-b, --backend <name>", "run on another backend than the one recorded")
      .option("--json", "same as --format json")
      .option("--output <file>", "write to a file instead of stdout ('-' = stdout); written atomically")
      .addHelpText(
        "after",
        `
Examples:
  ngem predict runs/a new.csv --id-col customer --keep-cols age --output pred.csv
  ngem predict runs/a new.csv --quantiles 0.1,0.5,0.9 --interval 0.9 --format jsonl
  cat new.csv | ngem predict runs/a - --no-params | sort -t, -k2 -g
  ngem predict runs/sine/checkpoint.safetensors inverse-sine --n 5 --format json

Inputs: the columns the model was trained on, found by name (the run's --x-cols,
or the training file's input columns); --x-cols overrides. A file without a
header (or an NPY array) is read by position: exactly the inputs, or the inputs
followed by the targets. Other columns are ignored unless --keep-cols or
--id-col name them.

Output, one row per input row in input order: the id ('row' = 0-based position
among the data rows, or --id-col's value), kept columns, mean_<y>, mode_<y>,
lo_<y>/hi_<y> (--interval), q<q>_<y> (--quantiles), pi_<k>, mu_<k>_<y>,
sigma_<k>_<y>. JSON/JSONL rows hold the same as arrays. NPY is a float64 matrix
in the CSV column order (every kept column must be numeric); its column names go
to <output>.columns.json (or to stderr when writing to stdout).
${EXIT_CODES}`,
      ),
  ).action((ckpt: string, data: string, opts) => predictCommand(ckpt, data, opts));

  program
    .command("compare")
    .argument("<runs...>", "run directories written by ngem train")
    .description("overlay the runs' loss curves in one plot and print a table of their test metrics")
    .option("--data <file>", "score runs that have no held-out test rows on this file")
    .option("--x-cols <cols>", "input columns of --data (default: each run's)")
    .option("--y-cols <cols>", "target columns of --data (default: each run's)")
    .option("--plot <file>", "loss-curve plot, .svg or .png (default compare.svg)")
    .option("--no-plot", "write no plot")
    .option("-b, --backend <name>", "run on another backend than the one recorded")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Examples:
  ngem compare runs/ngem runs/nll                    # each run's --test-split rows
  ngem compare runs/a runs/b --data holdout.csv --plot loss.png --json

Each run is scored on its own held-out test rows (train with --test-split or
--test); a run without them is scored on --data (with a count of rows that
overlap its training rows), or listed without metrics. Metrics are in the
original units of the targets (NLL in nats per row); the loss curves are in
each run's standardised training space, as train logs them.
${EXIT_CODES}`,
    )
    .action((runs: string[], opts) => compareCommand(runs, opts));

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
    .option("--threads <n>", "wasm backend: threads per model (default: this machine's cores, for large shapes)", threadsFlag)
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
    .option("--steps <n>", "step budget of every run instead of the experiment's own (e.g. 2800 = ~100 epochs on the MDN tasks)", int("--steps", 1))
    .option("--optimizers <list>", "only these optimizers (comma-separated: sgd, adam, rmsprop, soap; default: the experiment's)")
    .option("-b, --backend <name>", "backend (default wasm)")
    .option("--no-png", "write SVG plots only")
    .option("--json", "print JSON")
    .option("--lr-grid", "run an lr grid per optimizer and objective; report each objective at its own best lr (lr-grid.md/.json)")
    .option(
      "--damping <lambda>",
      "with --lr-grid: Levenberg-Marquardt damping of the ngem / ngem-full runs (writes lr-grid-damping<lambda>.*)",
      num("--damping", { min: 0 }),
    )
    .option(
      "--ablations",
      "two-sinusoids / inverse-sine: fisherCoords, batch size and task noise, each with a shared and a separate trunk, nGEM vs NLL at best lrs (ablations.md/.json)",
    )
    .option("--arms <text>", "with --ablations: only the arms whose name contains this text, e.g. 'head-only' (writes ablations-<text>.*)")
    .addHelpText(
      "after",
      `\nExamples:\n  ngem reproduce two-gaussians\n  ngem reproduce two-gaussians --lr-grid\n  ngem reproduce two-sinusoids --ablations\n${EXIT_CODES}`,
    )
    .action((exp: string, opts) => reproduceCommand(exp, opts));

  addExportCommand(program, EXIT_CODES);

  return program;
}
