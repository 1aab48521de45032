/*
 * The SIMD128 GEMV's per-row arithmetic, shared by the single-row GEMV (gemm-simd128.c) and the
 * row-exact multi-row GEMV (gemv-rows-simd128.c) so the two cannot drift apart: every output of the
 * latter must be bitwise the former's.
 */
#ifndef MC_GEMV_SIMD128_H
#define MC_GEMV_SIMD128_H

#include <stdint.h>
#include <wasm_simd128.h>

#include "../src/internal.h"

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

/* Rows of X per pass over a row of W in the multi-row GEMV: 4 sums each plus 4 weight vectors stay
 * within the 16 vector registers V8 allocates on x64. */
#define MC_GEMV_GROUP 2

/* One row w of W (f32 or bf16) against R <= MC_GEMV_GROUP rows of X: y[i·ldy] = alpha·(w·X[i]) +
 * beta·y[i·ldy]. Four f32x4 sums per row over steps of 16 (V8 adds no FMA: each sum is a chain of
 * dependent adds, so two sums left the loop latency-bound at ~8 bytes a cycle), one step of 8 into the
 * first two, then ((s0 + s2) + (s1 + s3)) summed across lanes and a scalar tail. */
static inline __attribute__((always_inline)) void mc_gemv_group_simd128(const int R, const int bf16, int k,
                                                                        const void *w, const float *X, long ldx,
                                                                        float alpha, float beta, float *y,
                                                                        long ldy) {
  v128_t s0[MC_GEMV_GROUP], s1[MC_GEMV_GROUP], s2[MC_GEMV_GROUP], s3[MC_GEMV_GROUP];
  for (int i = 0; i < R; i++) s0[i] = s1[i] = s2[i] = s3[i] = wasm_f32x4_splat(0.0f);
  int p = 0;
  for (; p + 16 <= k; p += 16) {
    v128_t w0, w1, w2, w3;
    if (bf16) {
      mc_widen8_simd128((const uint16_t *)w + p, &w0, &w1);
      mc_widen8_simd128((const uint16_t *)w + p + 8, &w2, &w3);
    } else {
      w0 = wasm_v128_load((const float *)w + p);
      w1 = wasm_v128_load((const float *)w + p + 4);
      w2 = wasm_v128_load((const float *)w + p + 8);
      w3 = wasm_v128_load((const float *)w + p + 12);
    }
    for (int i = 0; i < R; i++) {
      const float *x = X + i * ldx + p;
      s0[i] = wasm_f32x4_add(s0[i], wasm_f32x4_mul(w0, wasm_v128_load(x)));
      s1[i] = wasm_f32x4_add(s1[i], wasm_f32x4_mul(w1, wasm_v128_load(x + 4)));
      s2[i] = wasm_f32x4_add(s2[i], wasm_f32x4_mul(w2, wasm_v128_load(x + 8)));
      s3[i] = wasm_f32x4_add(s3[i], wasm_f32x4_mul(w3, wasm_v128_load(x + 12)));
    }
  }
  if (p + 8 <= k) {
    v128_t w0, w1;
    if (bf16) mc_widen8_simd128((const uint16_t *)w + p, &w0, &w1);
    else {
      w0 = wasm_v128_load((const float *)w + p);
      w1 = wasm_v128_load((const float *)w + p + 4);
    }
    for (int i = 0; i < R; i++) {
      const float *x = X + i * ldx + p;
      s0[i] = wasm_f32x4_add(s0[i], wasm_f32x4_mul(w0, wasm_v128_load(x)));
      s1[i] = wasm_f32x4_add(s1[i], wasm_f32x4_mul(w1, wasm_v128_load(x + 4)));
    }
    p += 8;
  }
  for (int i = 0; i < R; i++) {
    float acc = mc_hsum_simd128(wasm_f32x4_add(wasm_f32x4_add(s0[i], s2[i]), wasm_f32x4_add(s1[i], s3[i])));
    for (int q = p; q < k; q++)
      acc += (bf16 ? mc_bf16_to_f32(((const uint16_t *)w)[q]) : ((const float *)w)[q]) * X[i * ldx + q];
    y[i * ldy] = beta == 0.0f ? alpha * acc : alpha * acc + beta * y[i * ldy];
  }
}

#endif
