/*
 * Row-exact multi-row GEMV (continuous-batching decode): Y[i, :] = W · X[i, :] for m independent
 * rows, where every row's result is bitwise the result of the single-row GEMV (mc_gemm_bf16 /
 * mc_sgemm with M = 1) on the same CPU, whatever m is and whichever rows run beside it. The weights
 * are streamed from memory once for all rows (tiles of W stay in cache while every row passes over
 * them), so m rows cost about one GEMV's bandwidth plus m rows of arithmetic.
 */
#ifndef MC_GEMV_ROWS_H
#define MC_GEMV_ROWS_H

#include <stdint.h>

/* Y[i*ldy + j] = Σ_k W[j*ldw + k] · X[i*ldx + k], i < m, j < n; W f32 (wsize 4) or bf16 bits (wsize 2). */
void mc_gemv_rows(int m, int n, int k, const float *X, long ldx, const void *W, int wsize, long ldw,
                  float *Y, long ldy);

/* AVX-512 kernels, entered only when the active single-row GEMV is the AVX-512 one they mirror: rows
 * [0, n) of W against all m rows of X. f32: the row-group kernel (gemv-rows-avx512.c) and the
 * register-blocked one for several rows (gemv-rows-tiled-f32-avx512.c); bf16: gemv-rows-bf16-avx512.c. */
void mc_gemv_rows_f32_avx512(int m, int n, int k, const float *X, long ldx, const float *W, long ldw,
                             float *Y, long ldy);
void mc_gemv_rows_bf16_avx512(int m, int n, int k, const float *X, long ldx, const uint16_t *W, long ldw,
                              float *Y, long ldy);
void mc_gemv_rows_f32_tiled_avx512(int m, int n, int k, const float *X, long ldx, const float *W, long ldw,
                                   float *Y, long ldy);

#ifdef __wasm_simd128__
/* The wasm build's row-group kernels (native/wasm/gemv-rows-simd128.c), entered only when the active
 * single-row GEMV is the SIMD128 one they mirror; W f32, or bf16 bits when bf16. */
void mc_gemv_t_simd128(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta, float *y);
void mc_gemv_rows_simd128(int bf16, int m, int n, int k, const float *X, long ldx, const char *W, long ldw,
                          float *Y, long ldy);
#endif

#endif
