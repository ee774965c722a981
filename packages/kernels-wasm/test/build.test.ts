/**
 * The embedded kernels binary is current (built from the assembly/ sources on
 * disk with the documented flags) and exports every kernel.
 */
import { describe, expect, it } from "vitest";
import { KERNELS_ASC_FLAGS, KERNELS_RELAXED_ASC_FLAGS, KERNELS_SOURCE_SHA256 } from "../src/generated/kernels-wasm.js";
import { ACTIVATION_CODES, KERNELS_CODES, KERNELS_EXPORTS, MatmulMode, VARIANT_CODES, selectKernelsBuild } from "../src/index.js";
import { kernelsWasmBytes, wasmFeatures } from "../src/kernels.js";
import { enableRelaxedSimd } from "../src/node.js";

describe("embedded kernels binary", () => {
  it("matches the assembly/ sources (run `pnpm build` after editing them)", async () => {
    const mod = await import("../scripts/build-wasm.mjs");
    expect(KERNELS_ASC_FLAGS).toEqual(mod.ASC_FLAGS);
    expect(KERNELS_RELAXED_ASC_FLAGS).toEqual(mod.ASC_FLAGS_RELAXED);
    expect(KERNELS_SOURCE_SHA256, "src/generated/kernels-wasm.ts is stale: run pnpm build").toBe(mod.sourceHash());
    // the ABI parts read from the sources (KernelsAbi, KERNELS_CODES, hash, flags); `pnpm check:wasm` also rebuilds and compares the binaries
    expect(mod.staleSections(), "src/generated/kernels-wasm.ts is stale: run pnpm build").toEqual([]);
  });

  it("exports exactly the functions assembly/index.ts declares, and the runtime uses the codes of assembly/", async () => {
    const mod = await import("../scripts/build-wasm.mjs");
    const abi = mod.abiFromSources();
    const functions = KERNELS_EXPORTS.filter((e) => e.endsWith(":function")).map((e) => e.split(":")[0]);
    expect([...functions].sort()).toEqual(abi.functions.map((f) => f.name).sort());
    expect(KERNELS_EXPORTS).toContain("memory:memory");
    expect(KERNELS_CODES).toEqual(abi.codes);
    expect(ACTIVATION_CODES).toEqual(abi.codes.activation);
    expect(VARIANT_CODES).toEqual(abi.codes.variant);
    expect(MatmulMode).toEqual(abi.codes.matmulMode);
  });

  it("is built with SIMD and without relaxed-simd, and is a valid module with one memory and no imports", () => {
    expect(KERNELS_ASC_FLAGS.join(" ")).toContain("--enable simd");
    expect(KERNELS_ASC_FLAGS.join(" ")).toContain("--disable relaxed-simd");
    const bytes = kernelsWasmBytes();
    expect(WebAssembly.validate(bytes)).toBe(true);
    const m = new WebAssembly.Module(bytes) as unknown as object;
    const W = WebAssembly as unknown as { Module: { imports(m: object): unknown[]; exports(m: object): { name: string; kind: string }[] } };
    expect(W.Module.imports(m)).toEqual([]);
    const ex = W.Module.exports(m);
    expect(ex.filter((e) => e.kind === "memory").map((e) => e.name)).toEqual(["memory"]);
    expect(ex.map((e) => `${e.name}:${e.kind}`)).toEqual([...KERNELS_EXPORTS]);
  });

  it("has a relaxed-SIMD build with the same exports, chosen by feature detection with a reason", () => {
    expect(KERNELS_RELAXED_ASC_FLAGS.join(" ")).toContain("--enable relaxed-simd");
    const plain = selectKernelsBuild("auto");
    if (!wasmFeatures().relaxedSimd) {
      expect(plain.build).toBe("simd");
      expect(plain.reason).toMatch(/lacks relaxed SIMD/);
      expect(() => selectKernelsBuild("relaxed-simd")).toThrow(/experimental-wasm-relaxed-simd/);
    }
    expect(selectKernelsBuild("simd").build).toBe("simd");
    expect(enableRelaxedSimd()).toBe(true); // Node 20: sets V8's flag at run time; Node 22+: already on
    const auto = selectKernelsBuild("auto");
    expect(auto.build).toBe("relaxed-simd");
    expect(auto.reason).toMatch(/relaxed_madd/);
    const bytes = kernelsWasmBytes("relaxed-simd");
    expect(WebAssembly.validate(bytes)).toBe(true);
    const W = WebAssembly as unknown as { Module: { exports(m: object): { name: string; kind: string }[] } };
    const names = W.Module.exports(new WebAssembly.Module(bytes) as unknown as object).map((e) => `${e.name}:${e.kind}`);
    expect(names).toEqual([...KERNELS_EXPORTS]);
  });
});
