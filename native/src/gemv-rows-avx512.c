/*
 * AVX-512 row-group kernels of the row-exact multi-row GEMV (gemv-rows.h). Each piece of a weight row
 * is loaded (and for bf16, widened) once and used for a group of up to G rows of X, and every row of
 * the group keeps its own copy of the single-row kernel's accumulators (gemm-avx512.c: gemv_t_row_,
 * gemv_bf16_row_), updated in the same order with the same operations, and reduced the same way. So
 * each output is bitwise what mc_gemv_t_avx512 / mc_gemv_bf16_avx512 give for that row alone.
 * Any change to those row kernels must be mirrored here (test/backends/gemv-rows.test.ts checks it).
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

/* ---- bf16: a 32-bit word holds W[2q] (low half) and W[2q+1] (high half); word << 16 and
 * word & 0xffff0000 are those two as f32, against x split into even (xe) and odd (xo) columns.
 * Steps of 128 weights into 8 accumulators, merged to 4, then steps of 64, then a masked 32 tail. ---- */

#define GB 3 /* rows of X per group: 3·8 accumulators */

ALWAYS_INLINE void bf16_group(int G, int k, const uint16_t *w, const float *xs, int kh, float *y, long ldy) {
  const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
  __m512 s0[GB], s1[GB], s2[GB], s3[GB], t0[GB], t1[GB], t2[GB], t3[GB];
  for (int g = 0; g < G; g++)
    s0[g] = s1[g] = s2[g] = s3[g] = t0[g] = t1[g] = t2[g] = t3[g] = _mm512_setzero_ps();
#define LO(v) _mm512_castsi512_ps(_mm512_slli_epi32(v, 16))
#define UP(v) _mm512_castsi512_ps(_mm512_and_si512(v, hi))
#define XE(g, q) _mm512_loadu_ps(xs + (long)(g) * 2 * kh + (q))
#define XO(g, q) _mm512_loadu_ps(xs + (long)(g) * 2 * kh + kh + (q))
  int p = 0;
  for (; p + 128 <= k; p += 128) {
    const int q = p / 2;
    const __m512i v0 = _mm512_loadu_si512(w + p), v1 = _mm512_loadu_si512(w + p + 32);
    const __m512i v2 = _mm512_loadu_si512(w + p + 64), v3 = _mm512_loadu_si512(w + p + 96);
    for (int g = 0; g < G; g++) {
      s0[g] = _mm512_fmadd_ps(LO(v0), XE(g, q), s0[g]);
      s1[g] = _mm512_fmadd_ps(UP(v0), XO(g, q), s1[g]);
      s2[g] = _mm512_fmadd_ps(LO(v1), XE(g, q + 16), s2[g]);
      s3[g] = _mm512_fmadd_ps(UP(v1), XO(g, q + 16), s3[g]);
      t0[g] = _mm512_fmadd_ps(LO(v2), XE(g, q + 32), t0[g]);
      t1[g] = _mm512_fmadd_ps(UP(v2), XO(g, q + 32), t1[g]);
      t2[g] = _mm512_fmadd_ps(LO(v3), XE(g, q + 48), t2[g]);
      t3[g] = _mm512_fmadd_ps(UP(v3), XO(g, q + 48), t3[g]);
    }
  }
  for (int g = 0; g < G; g++) {
    s0[g] = _mm512_add_ps(s0[g], t0[g]);
    s1[g] = _mm512_add_ps(s1[g], t1[g]);
    s2[g] = _mm512_add_ps(s2[g], t2[g]);
    s3[g] = _mm512_add_ps(s3[g], t3[g]);
  }
  for (; p + 64 <= k; p += 64) {
    const int q = p / 2;
    const __m512i v0 = _mm512_loadu_si512(w + p), v1 = _mm512_loadu_si512(w + p + 32);
    for (int g = 0; g < G; g++) {
      s0[g] = _mm512_fmadd_ps(LO(v0), XE(g, q), s0[g]);
      s1[g] = _mm512_fmadd_ps(UP(v0), XO(g, q), s1[g]);
      s2[g] = _mm512_fmadd_ps(LO(v1), XE(g, q + 16), s2[g]);
      s3[g] = _mm512_fmadd_ps(UP(v1), XO(g, q + 16), s3[g]);
    }
  }
  for (; p < k; p += 32) { /* masked at 16-bit granularity: never reads past the row */
    const __m512i v = _mm512_maskz_loadu_epi16(mask32(k - p), w + p);
    for (int g = 0; g < G; g++) {
      s0[g] = _mm512_fmadd_ps(LO(v), XE(g, p / 2), s0[g]);
      s1[g] = _mm512_fmadd_ps(UP(v), XO(g, p / 2), s1[g]);
    }
  }
#undef LO
#undef UP
#undef XE
#undef XO
  for (int g = 0; g < G; g++)
    y[g * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0[g], s1[g]), _mm512_add_ps(s2[g], s3[g])));
}

ALWAYS_INLINE void bf16_tile(int G, int tn, int k, const float *xs, int kh, const uint16_t *W, long ldw, float *Y,
                             long ldy) {
  for (int j = 0; j < tn; j++) bf16_group(G, k, W + (long)j * ldw, xs, kh, Y + j, ldy);
}

void mc_gemv_rows_bf16_avx512(int m, int n, int k, const float *X, long ldx, const uint16_t *W, long ldw,
                              float *Y, long ldy) {
  /* per row of X: even columns then odd columns, kh floats each, zero padded (as mc_gemv_bf16_avx512) */
  const int kh = MC_CEIL(MC_CEIL(k, 2), 16) * 16;
  float *xs = mc_scratch(MC_SCRATCH_A, sizeof(float) * (size_t)(2 * kh) * (size_t)m);
  if (!xs) return; /* out of memory: recorded for the binding (internal.h) */
  for (int i = 0; i < m; i++) {
    float *xe = xs + (long)i * 2 * kh, *xo = xe + kh;
    const float *x = X + (long)i * ldx;
    for (int q = 0; q < kh; q++) {
      xe[q] = 2 * q < k ? x[2 * q] : 0.0f;
      xo[q] = 2 * q + 1 < k ? x[2 * q + 1] : 0.0f;
    }
  }
  const int tile = MC_MAX(8, TILE_BYTES / (2 * k));
  for (int t = 0; t < n; t += tile) {
    const int tn = MC_MIN(tile, n - t);
    const uint16_t *w = W + (long)t * ldw;
    for (int i = 0; i < m; i += GB) {
      const float *x = xs + (long)i * 2 * kh;
      float *y = Y + (long)i * ldy + t;
      switch (MC_MIN(GB, m - i)) {
        case 3: bf16_tile(3, tn, k, x, kh, w, ldw, y, ldy); break;
        case 2: bf16_tile(2, tn, k, x, kh, w, ldw, y, ldy); break;
        default: bf16_tile(1, tn, k, x, kh, w, ldw, y, ldy);
      }
    }
  }
}

#endif
