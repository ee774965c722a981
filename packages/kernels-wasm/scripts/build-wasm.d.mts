/** Types of scripts/build-wasm.mjs (used by test/build.test.ts). */
export declare const ASC_FLAGS: string[];
export declare const ASC_FLAGS_RELAXED: string[];
export declare function sourceHash(dir?: string): string;
export declare const ASC_THREADS_FLAGS: string[];
