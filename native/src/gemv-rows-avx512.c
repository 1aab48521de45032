/*
 * AVX-512 row-group kernel of the row-exact multi-row f32 GEMV (gemv-rows.h; bf16 weights go to
 * gemv-rows-bf16-avx512.c). Each piece of a weight row is loaded once and used for a group of up to G
 * rows of X, and every row of the group keeps its own copy of the single-row kernel's accumulators
 * (gemm-avx512.c: gemv_t_row_), updated in the same order with the same operations, and reduced the
 * same way. So each output is bitwise what mc_gemv_t_avx512 gives for that row alone.
 * Any change to that row kernel must be mirrored here (test/native/gemv-rows.test.ts checks it).
 *
 * Order of work: a tile of W rows (kept in L2) is passed once per group of X rows, the group's x
 * staying in L1 while the tile's rows go by; only the first pass reads the tile from memory.
 * Compiled with -mavx512f -mavx512bw -mavx512vl.
 */
#include "internal.h"
#ifdef MC_X86
#include "avx512-util.h"
#include "gemv-rows.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* W rows per tile: ~64 KiB of weights. */
#define TILE_BYTES (64 << 10)

/* ---- f32: 4 accumulators over 64 floats per step, then a masked 16-wide tail into the first ---- */

#define GF 4 /* rows of X per group: 4·4 accumulators */

ALWAYS_INLINE void f32_group(int G, int k, const float *w, const float *X, long ldx, float *y, long ldy) {
  __m512 s0[GF], s1[GF], s2[GF], s3[GF];
  for (int g = 0; g < G; g++) s0[g] = s1[g] = s2[g] = s3[g] = _mm512_setzero_ps();
  int p = 0;
  for (; p + 64 <= k; p += 64) {
    const __m512 w0 = _mm512_loadu_ps(w + p), w1 = _mm512_loadu_ps(w + p + 16);
    const __m512 w2 = _mm512_loadu_ps(w + p + 32), w3 = _mm512_loadu_ps(w + p + 48);
    for (int g = 0; g < G; g++) {
      const float *x = X + g * ldx + p;
      s0[g] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x), s0[g]);
      s1[g] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + 16), s1[g]);
      s2[g] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(x + 32), s2[g]);
      s3[g] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(x + 48), s3[g]);
    }
  }
  for (; p < k; p += 16) {
    const __mmask16 m = mask16(k - p);
    const __m512 wv = _mm512_maskz_loadu_ps(m, w + p);
    for (int g = 0; g < G; g++) s0[g] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, X + g * ldx + p), s0[g]);
  }
  for (int g = 0; g < G; g++)
    y[g * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0[g], s1[g]), _mm512_add_ps(s2[g], s3[g])));
}

ALWAYS_INLINE void f32_tile(int G, int tn, int k, const float *X, long ldx, const float *W, long ldw, float *Y,
                            long ldy) {
  for (int j = 0; j < tn; j++) f32_group(G, k, W + (long)j * ldw, X, ldx, Y + j, ldy);
}

void mc_gemv_rows_f32_avx512(int m, int n, int k, const float *X, long ldx, const float *W, long ldw, float *Y,
                             long ldy) {
  const int tile = MC_MAX(8, TILE_BYTES / (4 * k));
  for (int t = 0; t < n; t += tile) {
    const int tn = MC_MIN(tile, n - t);
    const float *w = W + (long)t * ldw;
    for (int i = 0; i < m; i += GF) {
      const float *x = X + (long)i * ldx;
      float *y = Y + (long)i * ldy + t;
      switch (MC_MIN(GF, m - i)) {
        case 4: f32_tile(4, tn, k, x, ldx, w, ldw, y, ldy); break;
        case 3: f32_tile(3, tn, k, x, ldx, w, ldw, y, ldy); break;
        case 2: f32_tile(2, tn, k, x, ldx, w, ldw, y, ldy); break;
        default: f32_tile(1, tn, k, x, ldx, w, ldw, y, ldy);
      }
    }
  }
}

#endif
