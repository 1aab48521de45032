/*
 * The bf16 decode GEMV's dot product on AVX-512, one definition for the single-row GEMV
 * (gemm-avx512.c: mc_gemv_bf16_avx512) and the row-exact multi-row GEMV (gemv-rows-bf16-avx512.c).
 *
 * Exact f32 products: a 32-bit word of a weight row holds W[2q] (low half) and W[2q+1] (high half);
 * word << 16 and word & 0xffff0000 are those two as f32, multiplied by x split into even and odd
 * columns (xe, xo: kh floats each, zero padded). Each output (a row of x against a row of W) keeps
 * exactly two accumulators, E (low halves · xe) and O (high halves · xo), each one FMA per 32 weights
 * in K order, the last 32 masked; the result is reduce_add(E + O). That sequence does not depend on
 * which other outputs or rows are computed beside it, so a tile of I rows of x × J rows of W is a plain
 * register-blocked GEMM micro-kernel whose every output is bitwise the single-row GEMV's (I = 1): the
 * single-row kernel keeps several outputs in flight to hide the FMA latency, the multi-row kernel
 * shares each weight vector (and its widening) between I rows.
 * Any change here changes both at once; test/native/gemv-rows.test.ts holds them equal.
 * Include only from files compiled with -mavx512f -mavx512bw.
 */
#ifndef MC_GEMV_BF16_AVX512_H
#define MC_GEMV_BF16_AVX512_H

#include "avx512-util.h"

#define MC_BF16_LO(v) _mm512_castsi512_ps(_mm512_slli_epi32(v, 16))
#define MC_BF16_UP(v) _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xFFFF0000u)))

/* Floats per half of a split x row: ceil(k/32)·16, so every 32-weight step reads whole vectors. */
static inline int mc_bf16_half(int k) { return (k + 31) / 32 * 16; }

/* x[0..k) into xs[0..kh) (even columns) and xs[kh..2kh) (odd columns), zero padded. */
static inline void mc_bf16_split_x(int k, const float *x, float *xs) {
  const int kh = mc_bf16_half(k);
  float *xo = xs + kh;
  for (int q = 0; q < kh; q++) {
    xs[q] = 2 * q < k ? x[2 * q] : 0.0f;
    xo[q] = 2 * q + 1 < k ? x[2 * q + 1] : 0.0f;
  }
}

/*
 * Y[i·ldy + j] = W[j] · x_i for i < I, j < J (I, J compile-time after inlining; 2·I·J accumulators,
 * 2·I x vectors): w the first of J weight rows ldw apart, xs the first of I split x rows ldxs floats
 * apart (kh floats per half). pf > 0: while the K loop reads row j it prefetches the same line of row
 * j + pf (the weights of a later tile, so DRAM reads overlap this tile's arithmetic) into L2: into L1,
 * tiles ahead evict the current one (measured ~8% slower at 8 rows).
 */
static inline __attribute__((always_inline)) void mc_bf16_tile(const int I, const int J, int k, const uint16_t *w,
                                                              long ldw, const float *xs, long ldxs, int kh,
                                                              float *Y, long ldy, int pf) {
  __m512 e[4][6], o[4][6]; /* I <= 4, J <= 6 */
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) e[i][j] = o[i][j] = _mm512_setzero_ps();
  int p = 0;
  for (; p + 32 <= k; p += 32) {
    __m512 xe[4], xo[4];
    for (int i = 0; i < I; i++) {
      xe[i] = _mm512_loadu_ps(xs + i * ldxs + p / 2);
      xo[i] = _mm512_loadu_ps(xs + i * ldxs + kh + p / 2);
    }
    for (int j = 0; j < J; j++) {
      if (pf) _mm_prefetch((const char *)(w + (long)(j + pf) * ldw + p), _MM_HINT_T1);
      const __m512i v = _mm512_loadu_si512(w + (long)j * ldw + p);
      const __m512 lo = MC_BF16_LO(v), up = MC_BF16_UP(v);
      for (int i = 0; i < I; i++) {
        e[i][j] = _mm512_fmadd_ps(lo, xe[i], e[i][j]);
        o[i][j] = _mm512_fmadd_ps(up, xo[i], o[i][j]);
      }
    }
  }
  if (p < k) { /* masked at 16-bit granularity: never reads past the row; x is zero padded */
    const __mmask32 m = mask32(k - p);
    for (int j = 0; j < J; j++) {
      const __m512i v = _mm512_maskz_loadu_epi16(m, w + (long)j * ldw + p);
      const __m512 lo = MC_BF16_LO(v), up = MC_BF16_UP(v);
      for (int i = 0; i < I; i++) {
        e[i][j] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xs + i * ldxs + p / 2), e[i][j]);
        o[i][j] = _mm512_fmadd_ps(up, _mm512_loadu_ps(xs + i * ldxs + kh + p / 2), o[i][j]);
      }
    }
  }
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) Y[i * ldy + j] = _mm512_reduce_add_ps(_mm512_add_ps(e[i][j], o[i][j]));
}

#endif
