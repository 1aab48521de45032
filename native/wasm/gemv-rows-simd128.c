/*
 * Row-exact multi-row GEMV kernels for the wasm build (the contract of native/src/gemv-rows.h, whose
 * driver native/src/gemv-rows.c splits the outputs over threads and calls these for the SIMD128 kernel
 * table): Y[i, :] = W · X[i, :] for m rows, every row bitwise the single-row GEMV's (mc_sgemm /
 * mc_gemm_bf16 with M = 1, i.e. gemm-simd128.c's row stream) whatever m is.
 *
 * Each row of W is loaded once (bf16 widened once) for a group of up to 4 rows of X, and every row of
 * the group repeats the single-row kernel's sequence: two f32x4 sums over steps of 8, the same
 * horizontal sum, the same scalar tail, alpha = 1 (a multiply by 1 is exact). Further groups of X rows
 * read that row of W again from L1.
 */
#include <wasm_simd128.h>

#include "../src/gemv-rows.h"
#include "../src/internal.h"
#include "gemv-simd128.h"


/* Rows of X per pass over a row of W (8 sums + 2 weight vectors in registers). */
#define GROUP 4

/* Row w of W (f32 or bf16) against R rows of X: y[i·ldy] for i < R. */
static inline __attribute__((always_inline)) void row_group(const int R, const int bf16, int k, const void *w,
                                                            const float *X, long ldx, float *y, long ldy) {
  v128_t s0[GROUP], s1[GROUP];
  for (int i = 0; i < R; i++) s0[i] = s1[i] = wasm_f32x4_splat(0.0f);
  int p = 0;
  for (; p + 8 <= k; p += 8) {
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
  }
  for (int i = 0; i < R; i++) {
    float acc = mc_hsum_simd128(wasm_f32x4_add(s0[i], s1[i]));
    for (int q = p; q < k; q++)
      acc += (bf16 ? mc_bf16_to_f32(((const uint16_t *)w)[q]) : ((const float *)w)[q]) * X[i * ldx + q];
    y[i * ldy] = 1.0f * acc;
  }
}

static inline __attribute__((always_inline)) void rows_simd(const int bf16, int m, int n, int k, const float *X,
                                                            long ldx, const char *W, long ldw, float *Y, long ldy) {
  const size_t es = bf16 ? 2 : 4;
  for (int j = 0; j < n; j++) {
    const char *w = W + (size_t)j * (size_t)ldw * es;
    int i = 0;
    for (; i + GROUP <= m; i += GROUP) row_group(GROUP, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy);
    switch (m - i) {
      case 3: row_group(3, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      case 2: row_group(2, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      case 1: row_group(1, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      default: break;
    }
  }
}

/* Rows [0, n) of W against all m rows of X (gemv-rows.h; the driver in native/src/gemv-rows.c). */
void mc_gemv_rows_simd128(int bf16, int m, int n, int k, const float *X, long ldx, const char *W, long ldw,
                          float *Y, long ldy) {
  if (bf16) rows_simd(1, m, n, k, X, ldx, W, ldw, Y, ldy);
  else rows_simd(0, m, n, k, X, ldx, W, ldw, Y, ldy);
}
