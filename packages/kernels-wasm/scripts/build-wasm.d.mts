/** Types of scripts/build-wasm.mjs (used by test/build.test.ts). */
export declare const ASC_FLAGS: string[];
export declare const ASC_FLAGS_RELAXED: string[];
export declare function sourceHash(dir?: string): string;
export declare const ASC_THREADS_FLAGS: string[];
/** One export of assembly/index.ts: its source file, parameters and result (wasm types as written). */
export interface AbiFunction {
  readonly name: string;
  readonly file: string;
  readonly params: readonly { readonly name: string; readonly type: string }[];
  readonly result: string;
}
export declare function abiFromSources(dir?: string): { functions: AbiFunction[]; codes: Record<string, Record<string, number>> };
export declare function sourceSections(dir?: string): Record<string, string>;
/** Names of the source-derived parts of the committed generated module that are stale (empty: current). */
export declare function staleSections(dir?: string): string[];
