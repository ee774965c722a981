// @ngem/kernels-wasm - AssemblyScript entry. Every export takes byte pointers
// into the one exported memory plus lengths (the pointer + length ABI); no
// kernel allocates. The JS side owns the layout (KernelRuntime's region allocator
// in src/runtime.ts). The build reads this file's exports and their signatures
// into src/generated/kernels-wasm.ts (KernelsAbi; scripts/build-wasm.mjs).
export { head_scratch_bytes, mixture_head, mixture_head_rows, head_sum } from "./head";
export { matmul, matmul_strided, matmul_at_strided, matmul_bt_strided, transpose, transpose_strided, colsum } from "./dense";
export { act_forward, act_backward, act_forward_train, mul_flush } from "./activations";
export { layer_norm_forward, layer_norm_backward, layer_norm_backward_rows, layer_norm_param_grads } from "./layer-norm";
export { sgd_update, adam_update, rmsprop_update } from "./optim";
export { sum_squares, sum_squares_blocks, scale, first_nonfinite, flush_array, count_subnormal } from "./reduce";
export { vexp_array, verf_array, bench_peak } from "./probes";

/** First free byte after static data: where the JS arena starts. */
export function heap_base(): usize {
  return __heap_base;
}
