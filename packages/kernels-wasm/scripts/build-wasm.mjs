#!/usr/bin/env node
/**
 * Builds the AssemblyScript kernels and embeds them for every runtime:
 *   assembly/*.ts --asc (SIMD, -O3)--> build/kernels.wasm
 *   build/kernels.wasm --base64--> src/generated/kernels-wasm.ts (committed; bundled by tsup)
 * The generated module also holds the ABI, read from assembly/ (see abiFromSources):
 * `KernelsAbi` (every export of assembly/index.ts with its parameters; src/kernels.ts
 * types the instance with it, so a call with the wrong arguments fails tsc) and
 * `KERNELS_CODES` (the activation / matmul-mode / variant codes; src/runtime.ts uses
 * them), and a SHA-256 of the sources and flags, which a test compares with the
 * sources on disk, so a stale embedded binary fails CI.
 *
 * `--check` rebuilds into a temporary folder and compares the result with the committed
 * src/generated/kernels-wasm.ts without writing anything; exit 1 names what is stale.
 * `--copy` copies build/kernels.wasm to dist/kernels.wasm (run after tsup).
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import asc from "assemblyscript/asc";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Compiler flags: SIMD on, relaxed-simd off, no runtime (kernels never allocate), no abort import. */
export const ASC_FLAGS = ["--enable", "simd", "--disable", "relaxed-simd", "-O3", "--noAssert", "--runtime", "stub", "--use", "abort="];

/**
 * Flags of the second build: the same sources with relaxed SIMD on, so the
 * `madd` helper (assembly/simd-math.ts) compiles to f32x4.relaxed_madd (an FMA on
 * x86 with FMA3 and on ARM). Chosen at load time by feature detection.
 */
export const ASC_FLAGS_RELAXED = ["--enable", "simd", "--enable", "relaxed-simd", "-O3", "--noAssert", "--runtime", "stub", "--use", "abort="];

/**
 * Extra flags of the threads builds (`kernels-threads.wasm`, `kernels-relaxed-threads.wasm`): the
 * same sources and SIMD flags, with the threads proposal on and the memory imported as a
 * shared memory (env.memory, 1 page initial, at most 65536 pages = 4 GiB), so every worker
 * instantiates the module on the one memory the model lives in.
 */
export const ASC_THREADS_FLAGS = ["--enable", "threads", "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"];

/** SHA-256 over the flags and every assembly/*.ts file (sorted by name). */
export function sourceHash(dir = pkg) {
  const h = createHash("sha256");
  h.update(ASC_FLAGS.join(" "));
  h.update(`\n${ASC_FLAGS_RELAXED.join(" ")}`);
  h.update(`\n${ASC_THREADS_FLAGS.join(" ")}`);
  const adir = join(dir, "assembly");
  for (const f of readdirSync(adir).filter((f) => f.endsWith(".ts")).sort()) {
    h.update(`\n--- ${f}\n`);
    h.update(readFileSync(join(adir, f), "utf8").replace(/\r\n/g, "\n"));
  }
  return h.digest("hex");
}

/** The prefixes of the integer codes in assembly/ (`export const ACT_GELU: i32 = 0`) and their group in KERNELS_CODES. */
const CODE_GROUPS = { ACT: "activation", MM: "matmulMode", VARIANT: "variant" };

/** TypeScript type of a wasm value type, as the JS API passes it. */
const JS_TYPES = { i32: "number", u32: "number", isize: "number", usize: "number", bool: "number", f32: "number", f64: "number", i64: "bigint", u64: "bigint", void: "void" };

/**
 * The ABI assembly/ declares: `functions`, every export of assembly/index.ts (in its
 * order) with its parameters and result as written in its source file, and `codes`,
 * the integer codes `export const <ACT|MM|VARIANT>_<NAME>: i32 = <n>` of any assembly
 * file, by group (NAME lower-cased, "_" as "-": VARIANT_NGEM_FULL is variant "ngem-full").
 */
export function abiFromSources(dir = pkg) {
  const adir = join(dir, "assembly");
  const read = (f) => readFileSync(join(adir, f), "utf8").replace(/\r\n/g, "\n");
  const exported = [];
  for (const m of read("index.ts").matchAll(/^export\s+(?:\{([^}]*)\}\s*from\s*"\.\/([\w-]+)"|function\s+(\w+))/gm)) {
    if (m[3]) exported.push([m[3], "index.ts"]);
    else for (const n of m[1].split(",").map((x) => x.trim()).filter(Boolean)) exported.push([n, `${m[2]}.ts`]);
  }
  const functions = exported.map(([name, file]) => {
    const m = new RegExp(`^export function ${name}\\(([^)]*)\\)\\s*:\\s*(\\w+)`, "m").exec(read(file));
    if (!m) throw new Error(`assembly/index.ts exports ${name} from ${file}, which has no "export function ${name}(...): <type>"`);
    const params = m[1]
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => {
        const [pname, type] = x.split(":").map((y) => y.trim());
        if (!JS_TYPES[type]) throw new Error(`assembly/${file}: ${name}(${pname}: ${type}): no JS type for ${type}`);
        return { name: pname, type };
      });
    if (!JS_TYPES[m[2]]) throw new Error(`assembly/${file}: ${name}(): no JS type for the result ${m[2]}`);
    return { name, file, params, result: m[2] };
  });
  const codes = {};
  for (const f of readdirSync(adir).filter((f) => f.endsWith(".ts")).sort()) {
    for (const m of read(f).matchAll(/^export const (ACT|MM|VARIANT)_(\w+): i32 = (\d+);/gm)) {
      (codes[CODE_GROUPS[m[1]]] ??= {})[m[2].toLowerCase().replace(/_/g, "-")] = Number(m[3]);
    }
  }
  return { functions, codes };
}

/** The parts of the generated module that follow from the sources alone (no compile), by name. */
export function sourceSections(dir = pkg) {
  const { functions, codes } = abiFromSources(dir);
  const sig = (f) => `${f.name}(${f.params.map((p) => `${p.name}: ${JS_TYPES[p.type]}`).join(", ")}): ${JS_TYPES[f.result]};`;
  const wasmSig = (f) => `(${f.params.map((p) => `${p.name}: ${p.type}`).join(", ")}) => ${f.result}`;
  return {
    KernelsAbi: `/**
 * The kernels' functions (the ABI) as assembly/index.ts exports them, with the parameter
 * names and wasm types of their sources (pointers are byte offsets into the one memory).
 */
export interface KernelsAbi {
${functions.map((f) => `  /** assembly/${f.file}: ${wasmSig(f)} */\n  ${sig(f)}`).join("\n")}
}`,
    KERNELS_CODES: `/** The integer codes the kernels branch on (\`export const ACT_* / MM_* / VARIANT_*: i32\` in assembly/). */
export const KERNELS_CODES = ${JSON.stringify(codes)} as const;`,
    KERNELS_SOURCE_SHA256: `/** SHA-256 of the asc flags and assembly/*.ts these binaries were built from. */
export const KERNELS_SOURCE_SHA256 = "${sourceHash(dir)}";`,
    KERNELS_ASC_FLAGS: `/** The asc flags used (plain build). */
export const KERNELS_ASC_FLAGS: readonly string[] = ${JSON.stringify(ASC_FLAGS)};

/** The asc flags used (relaxed-SIMD build). */
export const KERNELS_RELAXED_ASC_FLAGS: readonly string[] = ${JSON.stringify(ASC_FLAGS_RELAXED)};

/** The flags added to either for its threads build. */
export const KERNELS_THREADS_ASC_FLAGS: readonly string[] = ${JSON.stringify(ASC_THREADS_FLAGS)};`,
  };
}

/**
 * Which source-derived parts of the committed src/generated/kernels-wasm.ts differ from
 * what the sources on disk give now (empty: current), without compiling. The binaries
 * themselves are covered by KERNELS_SOURCE_SHA256 (or, exactly, by `--check`).
 */
export function staleSections(dir = pkg) {
  const committed = readFileSync(join(dir, "src/generated/kernels-wasm.ts"), "utf8");
  return Object.entries(sourceSections(dir))
    .filter(([, text]) => !committed.includes(text))
    .map(([name]) => name);
}

/** Compiles the four builds into `outDir` (build/ or a temporary folder) and returns the generated module's text. */
async function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  const compile = async (flags, name) => {
    const { error, stderr } = await asc.main(
      [join(pkg, "assembly/index.ts"), ...flags, "--outFile", join(outDir, `${name}.wasm`), "--textFile", join(outDir, `${name}.wat`)],
      {},
    );
    if (error) {
      process.stderr.write(stderr.toString());
      throw error;
    }
    return readFileSync(join(outDir, `${name}.wasm`));
  };
  const wasm = await compile(ASC_FLAGS, "kernels");
  const relaxed = await compile(ASC_FLAGS_RELAXED, "kernels-relaxed");
  const threads = await compile([...ASC_FLAGS, ...ASC_THREADS_FLAGS], "kernels-threads");
  const relaxedThreads = await compile([...ASC_FLAGS_RELAXED, ...ASC_THREADS_FLAGS], "kernels-relaxed-threads");
  if (!WebAssembly.validate(wasm)) throw new Error("asc produced an invalid module");
  const b64 = (buf) => (buf.toString("base64").match(/.{1,120}/g) ?? []).map((l) => `  "${l}"`).join(" +\n");
  // the ABI: export names and kinds, read from the plain build (both builds export the same)
  const exportsOf = (buf) => WebAssembly.Module.exports(new WebAssembly.Module(buf)).map((e) => `${e.name}:${e.kind}`);
  setFlagsFromString("--experimental-wasm-relaxed-simd"); // Node 20: to read the relaxed build's exports (on by default in Node 22+)
  if (!WebAssembly.validate(relaxed)) throw new Error("asc produced an invalid relaxed-SIMD module");
  const names = exportsOf(wasm);
  if (names.join() !== exportsOf(relaxed).join()) throw new Error("the plain and relaxed builds export different names");
  for (const t of [threads, relaxedThreads]) {
    if (!WebAssembly.validate(t)) throw new Error("asc produced an invalid threads module");
    if (exportsOf(t).join() !== names.join()) throw new Error("the threads builds export different names");
  }
  const sections = sourceSections();
  const declared = abiFromSources().functions.map((f) => `${f.name}:function`);
  const fromBinary = names.filter((n) => n.endsWith(":function"));
  if ([...declared].sort().join() !== [...fromBinary].sort().join()) {
    throw new Error(`the binary's functions (${fromBinary.join(", ")}) differ from assembly/index.ts's exports (${declared.join(", ")})`);
  }
  const text = `// GENERATED by scripts/build-wasm.mjs from assembly/*.ts - do not edit. Run \`pnpm build\` to refresh.
/* eslint-disable */

/** The kernels module, plain SIMD build (${wasm.length} bytes), base64. */
export const KERNELS_WASM_BASE64 =
${b64(wasm)};

/** The kernels module, relaxed-SIMD build (f32x4.relaxed_madd; ${relaxed.length} bytes), base64. */
export const KERNELS_RELAXED_WASM_BASE64 =
${b64(relaxed)};

/** The threads build of the plain SIMD kernels (shared memory imported as env.memory; ${threads.length} bytes), base64. */
export const KERNELS_THREADS_WASM_BASE64 =
${b64(threads)};

/** The threads build of the relaxed-SIMD kernels (${relaxedThreads.length} bytes), base64. */
export const KERNELS_RELAXED_THREADS_WASM_BASE64 =
${b64(relaxedThreads)};

/** The exports of every build (the ABI), as "name:kind", read from the binary. */
export const KERNELS_EXPORTS: readonly string[] = ${JSON.stringify(names)};

${sections.KernelsAbi}

${sections.KERNELS_CODES}

${sections.KERNELS_SOURCE_SHA256}

${sections.KERNELS_ASC_FLAGS}
`;
  return { text, summary: `kernels.wasm: ${wasm.length} bytes, kernels-relaxed.wasm: ${relaxed.length} bytes, threads builds: ${threads.length} / ${relaxedThreads.length} bytes` };
}

async function main() {
  if (process.argv.includes("--copy")) {
    mkdirSync(join(pkg, "dist"), { recursive: true });
    copyFileSync(join(pkg, "build/kernels.wasm"), join(pkg, "dist/kernels.wasm"));
    for (const name of ["kernels-relaxed", "kernels-threads", "kernels-relaxed-threads"]) copyFileSync(join(pkg, `build/${name}.wasm`), join(pkg, `dist/${name}.wasm`));
    return;
  }
  const target = join(pkg, "src/generated/kernels-wasm.ts");
  if (process.argv.includes("--check")) {
    const tmp = mkdtempSync(join(tmpdir(), "ngem-kernels-"));
    try {
      const { text } = await generate(tmp);
      const committed = readFileSync(target, "utf8");
      if (text === committed) {
        console.log("src/generated/kernels-wasm.ts is current (a fresh build of assembly/ gives the same file)");
        return;
      }
      const stale = staleSections();
      const consts = (t) => new Map([...t.matchAll(/^export (?:const|interface) (\w+)[^]*?(?=\n\n(?:\/\*\*|export)|\n$)/gm)].map((m) => [m[1], m[0]]));
      const fresh = consts(text);
      const old = consts(committed);
      const differ = [...fresh.keys()].filter((k) => fresh.get(k) !== old.get(k));
      const what = [...new Set([...differ, ...stale])];
      console.error(
        `src/generated/kernels-wasm.ts is stale: ${what.length ? `${what.join(", ")} ${what.length === 1 ? "differs" : "differ"}` : "the file differs"} from a fresh build of assembly/; run \`pnpm --filter @ngem/kernels-wasm build\``,
      );
      process.exitCode = 1;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return;
  }
  const { text, summary } = await generate(join(pkg, "build"));
  mkdirSync(join(pkg, "src/generated"), { recursive: true });
  writeFileSync(target, text);
  console.log(`${summary}, embedded in src/generated/kernels-wasm.ts`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
