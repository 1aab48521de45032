/*
 * Row-exact multi-row GEMV kernels for the wasm build (the contract of native/src/gemv-rows.h, whose
 * driver native/src/gemv-rows.c splits the outputs over threads and calls these for the SIMD128 kernel
 * table): Y[i, :] = W · X[i, :] for m rows, every row bitwise the single-row GEMV's (mc_sgemm /
 * mc_gemm_bf16 with M = 1, i.e. gemm-simd128.c's row stream) whatever m is.
 *
 * Each row of W is loaded once (bf16 widened once) for a group of MC_GEMV_GROUP rows of X, and every
 * row of the group repeats the single-row kernel's sequence (both are gemv-simd128.h's
 * mc_gemv_group_simd128). Further groups of X rows read that row of W again from L1.
 */
#include <wasm_simd128.h>

#include "../src/gemv-rows.h"
#include "../src/internal.h"
#include "gemv-simd128.h"


#define GROUP MC_GEMV_GROUP

/* Row w of W against R rows of X: y[i·ldy] for i < R (alpha = 1: a multiply by 1 is exact). */
#define row_group(R, bf16, k, w, X, ldx, y, ldy) mc_gemv_group_simd128(R, bf16, k, w, X, ldx, 1.0f, 0.0f, y, ldy)

static inline __attribute__((always_inline)) void rows_simd(const int bf16, int m, int n, int k, const float *X,
                                                            long ldx, const char *W, long ldw, float *Y, long ldy) {
  const size_t es = bf16 ? 2 : 4;
  for (int j = 0; j < n; j++) {
    const char *w = W + (size_t)j * (size_t)ldw * es;
    int i = 0;
    for (; i + GROUP <= m; i += GROUP) row_group(GROUP, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy);
    if (i < m) row_group(1, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy);
  }
}

/* Rows [0, n) of W against all m rows of X (gemv-rows.h; the driver in native/src/gemv-rows.c). */
void mc_gemv_rows_simd128(int bf16, int m, int n, int k, const float *X, long ldx, const char *W, long ldw,
                          float *Y, long ldy) {
  if (bf16) rows_simd(1, m, n, k, X, ldx, W, ldw, Y, ldy);
  else rows_simd(0, m, n, k, X, ldx, W, ldw, Y, ldy);
}
