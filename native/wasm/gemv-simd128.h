/*
 * The SIMD128 GEMV's per-row arithmetic pieces, shared by the single-row GEMV (gemm-simd128.c) and the
 * row-exact multi-row GEMV (gemv-rows-simd128.c) so the two cannot drift apart: every output of the
 * latter must be bitwise the former's.
 */
#ifndef MC_GEMV_SIMD128_H
#define MC_GEMV_SIMD128_H

#include <stdint.h>
#include <wasm_simd128.h>

/* (v0 + v2) + (v1 + v3) */
static inline float mc_hsum_simd128(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

/* 8 bf16 weights widened to two f32x4 (the bf16 is the high half of the f32) */
static inline void mc_widen8_simd128(const uint16_t *w, v128_t *lo, v128_t *hi) {
  const v128_t h = wasm_v128_load(w), z = wasm_i16x8_splat(0);
  *lo = wasm_i16x8_shuffle(z, h, 0, 8, 1, 9, 2, 10, 3, 11);
  *hi = wasm_i16x8_shuffle(z, h, 4, 12, 5, 13, 6, 14, 7, 15);
}

#endif
