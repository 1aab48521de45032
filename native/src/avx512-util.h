/*
 * AVX-512 helpers shared by the AVX-512 kernel files: the 16x16 32-bit transpose and the two panel
 * packers built on it. Include only from files compiled with -mavx512f -mavx512bw -mavx512vl.
 */
#ifndef MC_AVX512_UTIL_H
#define MC_AVX512_UTIL_H

#include <immintrin.h>

#include "internal.h"

static inline __mmask16 mask16(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
static inline __mmask32 mask32(int n) { return n >= 32 ? 0xFFFFFFFFu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1); }

/* In-place transpose of 16 rows of 16 32-bit lanes: unpack 32-bit, unpack 64-bit, then a 4x4
 * transpose of 128-bit lanes (64 shuffles per 256 elements). */
static inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) {
    __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));  /* column 4L+0 of rows 4g..4g+3 */
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int c = 0; c < 4; c++) {
    __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
    __m512 x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), x3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
    r[0 + c] = _mm512_shuffle_f32x4(x0, x2, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(x0, x2, 0xDD);
    r[8 + c] = _mm512_shuffle_f32x4(x1, x3, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(x1, x3, 0xDD);
  }
}

/* Loads 16 consecutive 32-bit lanes of source row q for the transposing packer. */
typedef __m512 (*mc_row16_fn)(const void *X, long si, int q, long p, __mmask16 m);

/* dst[p*R + r] = row r of X at position p (rows along the panel, k contiguous in the source), for
 * r < rv and p < k; rows rv..R-1 are zero. load() fetches 16 lanes of one row of esize-byte elements;
 * prefetch_rows says the rows after the panel will be packed next (prefetches never fault). */
static inline void pack_transposed(mc_row16_fn load, int esize, int prefetch_rows, const void *X,
                                   long si, int rv, int k, int R, float *dst) {
  for (int r0 = 0; r0 < R; r0 += 16) {
    const __mmask16 sm = mask16(R - r0);
    const int gv = MC_MIN(16, rv - r0);
    for (int p = 0; p < k; p += 16) {
      const __mmask16 lm = mask16(k - p);
      __m512 v[16];
      for (int q = 0; q < 16; q++) v[q] = q < gv ? load(X, si, r0 + q, p, lm) : _mm512_setzero_ps();
      /* Each source row contributes only k elements before we move 16 rows on, too short a run
       * for the hardware prefetcher: fetch the same columns of the next 16 rows now. */
      if (prefetch_rows)
        for (int q = 0; q < 16; q++)
          _mm_prefetch((const char *)X + ((long)(r0 + 16 + q) * si + p) * esize, _MM_HINT_T0);
      transpose16(v);
      const int pc = MC_MIN(16, k - p);
      for (int t = 0; t < pc; t++) _mm512_mask_storeu_ps(dst + (size_t)(p + t) * R + r0, sm, v[t]);
    }
  }
}

/* dst[p*R + r] = X[p*sp + r] (the panel index contiguous in the source), zero past rv. */
static inline void pack_copy(const float *X, long sp, int rv, int k, int R, float *dst) {
  for (int p = 0; p < k; p++) {
    const float *s = X + (long)p * sp;
    float *d = dst + (size_t)p * R;
    for (int r0 = 0; r0 < R; r0 += 16)
      _mm512_mask_storeu_ps(d + r0, mask16(R - r0), _mm512_maskz_loadu_ps(mask16(rv - r0), s + r0));
  }
}

static inline __m512 row16_f32(const void *X, long si, int q, long p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, (const float *)X + (long)q * si + p);
}

/* 16 bf16 widened to f32: the bf16 bits are the high half of the f32. */
static inline __m512 row16_bf16_f32(const void *X, long si, int q, long p, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)X + (long)q * si + p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#endif
