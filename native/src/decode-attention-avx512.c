/*
 * Decode attention's key-range part on AVX-512 over a bf16 cache (decode-attention.h). The portable
 * part (nn-impl.h attn_dec_part) widens each cached row into a buffer, reduces every head's dot
 * product through a generic loop and runs the softmax per head with a stride of the key count; it
 * spent ~4× the CPU time of a GEMV over the same bytes. Here the key pass runs tiles of 4 positions ×
 * 4 heads (each query load serves 4 positions: with one position per pass the loads of q bounded it)
 * whose 16 dot products' lanes sum together in one transposing tree, scores are laid out
 * position-major so the softmax runs 16 heads per vector, and the value pass accumulates four
 * positions per load and store of an L1-resident output.
 * Widening: a 64-byte load of 32 bf16 becomes two f32 vectors by one shift (the even elements) and
 * one mask (the odd ones) instead of a lane-crossing zero-extend and a shift per 16: the query is
 * permuted once into that even/odd order, the outputs accumulate in it and are put back at the end
 * (a D with a last block of 16 widens that block by zero-extend and shift, widen16, in natural order).
 * Measured (one thread, S 512, 36 heads, D 64, loaded machine): 0.78-0.82× the time of the
 * one-position kernel with the cache in L3, 0.55-0.62× from DRAM (~28 GB/s instead of ~17, a plain
 * read's rate; the prefetch below); grouped heads (fewer bytes per score) about even.
 * Every path (the attention op, the fused decode step, the batched server) runs this one kernel.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "decode-attention.h"
#include "exp-avx512.h"

/* Software prefetch PFD positions ahead, spread over the tiles that will read each line (4 rows × 4
 * heads' keys per key tile, 4 rows of one kv head's values per head). A burst of a whole row block's
 * prefetches (4 rows ahead, ~18 KiB for 36 heads of D 64) streamed at ~0.6 of a plain read; spread out, 8
 * rows ahead into L2 (T1), at about its rate. Non-temporal (NTA: into L1, hinted as not worth keeping)
 * 4 rows ahead is faster still: 0.137-0.142 ms a layer against T1's 0.155-0.167 at 512 positions,
 * 0.431-0.465 against 0.504-0.559 at 2,048 (the two builds A/B in one process, 2 threads, 36 heads of
 * D 64, the cache cold as in a decode step, where each token's weight stream has evicted it; Zen 5). */
#define PFD 4
#define PFH _MM_HINT_NTA

/* 16 bf16 values as f32 in their order (bf16 is the upper half of an f32): a D's odd last 16. */
static inline __m512 widen16(const uint16_t *p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)p)), 16));
}

/* 32 bf16 values as f32: elements 0, 2, …, 30 (*odd = 1, 3, …, 31). */
static inline __m512 widen_even(__m512i x) { return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16)); }
static inline __m512 widen_odd(__m512i x) {
  return _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32((int)0xffff0000u)));
}

/* r[j] = Σ lanes of a[j], j < 16: a transposing tree of 128-bit block shuffles and in-lane unpacks
 * (~3 operations per head instead of ~8 for a horizontal sum each); the tree leaves heads in the
 * order 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15, which the last permute undoes. */
static inline __m512 reduce16(const __m512 *a) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; i++)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[i], a[i + 8], 0x44), _mm512_shuffle_f32x4(a[i], a[i + 8], 0xEE));
  for (int i = 0; i < 4; i++)
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[i], b[i + 4], 0x88), _mm512_shuffle_f32x4(b[i], b[i + 4], 0xDD));
  for (int i = 0; i < 2; i++)
    d[i] = _mm512_add_ps(_mm512_unpacklo_ps(c[i], c[i + 2]), _mm512_unpackhi_ps(c[i], c[i + 2]));
  const __m512 e = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(d[0]), _mm512_castps_pd(d[1]))),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(d[0]), _mm512_castps_pd(d[1]))));
  const __m512i order = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
  return _mm512_permutexvar_ps(order, e);
}

/* The dot product of a permuted query head with its kv head's key, 16 lanes not yet summed. */
static inline __attribute__((always_inline)) __m512 dot_lanes(const float *qh, const uint16_t *kh, int D) {
  const int D32 = D & ~31;
  __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < D32; i += 32) {
    const __m512i x = _mm512_loadu_si512((const void *)(kh + i));
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + i), widen_even(x), acc);
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + i + 16), widen_odd(x), acc);
  }
  if (D32 < D) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + D32), widen16(kh + D32), acc);
  return acc;
}

/* o[h] (permuted order) += Σ_p ps[p·Hp + h]·v[p·ldk + kvo[h]] over every head for w ≤ 4 positions
 * (w a constant where inlined): one load and store of the output per w positions. */
static inline __attribute__((always_inline)) void value_rows(const uint16_t *vr, long ldk, const float *ps, int Hp,
                                                             int w, int Hq, const int *kvo, int D, float *o, int pf) {
  const int D32 = D & ~31;
  for (int h = 0; h < Hq; h++) {
    __m512 p[4];
#pragma GCC unroll 4
    for (int r = 0; r < w; r++) p[r] = _mm512_set1_ps(ps[(long)r * Hp + h]);
    const uint16_t *vh = vr + kvo[h];
    float *oh = o + (long)h * D;
    if (pf && (h == 0 || kvo[h] != kvo[h - 1])) /* each kv head's values PFD rows ahead, once */
      for (int r = 0; r < 4; r++)
        for (int b = 0; b < D; b += 32) _mm_prefetch((const char *)(vh + (PFD + r) * ldk + b), PFH);
#pragma GCC unroll 8
    for (int i = 0; i < D32; i += 32) {
      __m512 e = _mm512_loadu_ps(oh + i), d = _mm512_loadu_ps(oh + i + 16);
#pragma GCC unroll 4
      for (int r = 0; r < w; r++) {
        const __m512i x = _mm512_loadu_si512((const void *)(vh + r * ldk + i));
        e = _mm512_fmadd_ps(p[r], widen_even(x), e);
        d = _mm512_fmadd_ps(p[r], widen_odd(x), d);
      }
      _mm512_storeu_ps(oh + i, e);
      _mm512_storeu_ps(oh + i + 16, d);
    }
    if (D32 < D) {
      __m512 e = _mm512_loadu_ps(oh + D32);
#pragma GCC unroll 4
      for (int r = 0; r < w; r++) e = _mm512_fmadd_ps(p[r], widen16(vh + r * ldk + D32), e);
      _mm512_storeu_ps(oh + D32, e);
    }
  }
}

/* The part for one D; inlined with D a constant for the common head sizes (below), so the loops over
 * a head unroll and the 16 accumulators stay in registers (with D a variable they went through the
 * stack and each head's FMA chain ran alone). */
static inline __attribute__((always_inline)) void part(const float *q, const uint16_t *k, const uint16_t *v, long ldk,
                                                       int s0, int s1, int Hq, int group, int D, float scale, float *P,
                                                       float *m, float *l, float *o) {
  const int n = s1 - s0, Hp = (Hq + 15) & ~15, D32 = D & ~31;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  /* after the scores: the query in the widening's order, each head's kv offset (no division per use) */
  float *qp = P + (long)n * Hp;
  int *kvo = (int *)(qp + (long)Hq * D);
  for (int h = 0; h < Hq; h++) kvo[h] = (h / group) * D;
  for (int h = 0; h < Hq; h++) {
    const float *qh = q + (long)h * D;
    float *ph = qp + (long)h * D;
    for (int i = 0; i < D32; i += 32) {
      const __m512 a = _mm512_loadu_ps(qh + i), b = _mm512_loadu_ps(qh + i + 16);
      _mm512_storeu_ps(ph + i, _mm512_permutex2var_ps(a, even, b));
      _mm512_storeu_ps(ph + i + 16, _mm512_permutex2var_ps(a, odd, b));
    }
    if (D32 < D) _mm512_storeu_ps(ph + D32, _mm512_loadu_ps(qh + D32));
  }
  /* scores, position-major: P[s·Hp + h]; tiles of 4 positions × 4 heads, so each load of a query
   * block serves 4 positions (the loads, not the FMAs, bounded the one-position loop) */
  const __m512 vscale = _mm512_set1_ps(scale);
  int s = 0;
  for (; s + 4 <= n; s += 4) {
    const uint16_t *kr = k + (long)(s0 + s) * ldk;
    const int pf = s + 4 + PFD <= n; /* rows s + PFD .. + 3 exist */
    int h = 0;
    for (; h + 4 <= Hq; h += 4) {
      if (pf) /* these heads' keys PFD rows ahead, each kv head once */
        for (int p = 0; p < 4; p++)
          for (long b = kvo[h]; b < kvo[h + 3] + D; b += 32)
            _mm_prefetch((const char *)(kr + (PFD + p) * ldk + b), PFH);
      __m512 acc[16];
#pragma GCC unroll 4
      for (int p = 0; p < 4; p++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[4 * p + j] = _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int i = 0; i < D32; i += 32) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
          const float *qh = qp + (long)(h + j) * D + i;
          const __m512 qe = _mm512_loadu_ps(qh), qo = _mm512_loadu_ps(qh + 16);
#pragma GCC unroll 4
          for (int p = 0; p < 4; p++) {
            const __m512i x = _mm512_loadu_si512((const void *)(kr + p * ldk + kvo[h + j] + i));
            acc[4 * p + j] = _mm512_fmadd_ps(qo, widen_odd(x), _mm512_fmadd_ps(qe, widen_even(x), acc[4 * p + j]));
          }
        }
      }
      if (D32 < D)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
          const __m512 qt = _mm512_loadu_ps(qp + (long)(h + j) * D + D32);
#pragma GCC unroll 4
          for (int p = 0; p < 4; p++)
            acc[4 * p + j] = _mm512_fmadd_ps(qt, widen16(kr + p * ldk + kvo[h + j] + D32), acc[4 * p + j]);
        }
      const __m512 r = _mm512_mul_ps(reduce16(acc), vscale); /* lane 4p + j: position s + p, head h + j */
      _mm_storeu_ps(P + (long)s * Hp + h, _mm512_extractf32x4_ps(r, 0));
      _mm_storeu_ps(P + (long)(s + 1) * Hp + h, _mm512_extractf32x4_ps(r, 1));
      _mm_storeu_ps(P + (long)(s + 2) * Hp + h, _mm512_extractf32x4_ps(r, 2));
      _mm_storeu_ps(P + (long)(s + 3) * Hp + h, _mm512_extractf32x4_ps(r, 3));
    }
    for (; h < Hq; h++)
      for (int p = 0; p < 4; p++)
        P[(long)(s + p) * Hp + h] = _mm512_reduce_add_ps(dot_lanes(qp + (long)h * D, kr + p * ldk + kvo[h], D)) * scale;
  }
  for (; s < n; s++) { /* the last n mod 4 positions */
    const uint16_t *kr = k + (long)(s0 + s) * ldk;
    for (int h = 0; h < Hq; h++)
      P[(long)s * Hp + h] = _mm512_reduce_add_ps(dot_lanes(qp + (long)h * D, kr + kvo[h], D)) * scale;
  }
  for (int t = 0; t < n; t++)
    for (int h = Hq; h < Hp; h++) P[(long)t * Hp + h] = 0.0f; /* pad lanes: finite, never read back */
  /* softmax statistics, 16 heads per vector */
  for (int h = 0; h < Hp; h += 16) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int s = 0; s < n; s++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(P + (long)s * Hp + h));
    __m512 sum = _mm512_setzero_ps();
    for (int s = 0; s < n; s++) {
      const __m512 e = mc_exp16(_mm512_sub_ps(_mm512_loadu_ps(P + (long)s * Hp + h), mx));
      _mm512_storeu_ps(P + (long)s * Hp + h, e);
      sum = _mm512_add_ps(sum, e);
    }
    const __mmask16 live = Hq - h >= 16 ? 0xffff : (__mmask16)((1u << (Hq - h)) - 1);
    _mm512_mask_storeu_ps(m + h, live, mx);
    _mm512_mask_storeu_ps(l + h, live, sum);
  }
  /* values: o[h] += p[s, h]·v[s, kvo[h]], in the permuted order */
  memset(o, 0, sizeof(float) * (size_t)Hq * (size_t)D);
  for (s = 0; s + 4 <= n; s += 4) {
    const uint16_t *vr = v + (long)(s0 + s) * ldk;
    value_rows(vr, ldk, P + (long)s * Hp, Hp, 4, Hq, kvo, D, o, s + 4 + PFD <= n);
  }
  const uint16_t *vr = v + (long)(s0 + s) * ldk;
  switch (n - s) { /* the last n mod 4 positions */
  case 3: value_rows(vr, ldk, P + (long)s * Hp, Hp, 3, Hq, kvo, D, o, 0); break;
  case 2: value_rows(vr, ldk, P + (long)s * Hp, Hp, 2, Hq, kvo, D, o, 0); break;
  case 1: value_rows(vr, ldk, P + (long)s * Hp, Hp, 1, Hq, kvo, D, o, 0); break;
  default: break;
  }
  /* back to the natural order */
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int h = 0; h < Hq; h++) {
    float *oh = o + (long)h * D;
    for (int i = 0; i < D32; i += 32) {
      const __m512 a = _mm512_loadu_ps(oh + i), b = _mm512_loadu_ps(oh + i + 16);
      _mm512_storeu_ps(oh + i, _mm512_permutex2var_ps(a, lo, b));
      _mm512_storeu_ps(oh + i + 16, _mm512_permutex2var_ps(a, hi, b));
    }
  }
}

void mc_decode_attn_part_bf16_avx512(const float *q, const uint16_t *k, const uint16_t *v, long ldk, int s0, int s1,
                                     int Hq, int group, int D, float scale, float *P, float *m, float *l, float *o) {
  switch (D) {
  case 64: part(q, k, v, ldk, s0, s1, Hq, group, 64, scale, P, m, l, o); break;
  case 128: part(q, k, v, ldk, s0, s1, Hq, group, 128, scale, P, m, l, o); break;
  default: part(q, k, v, ldk, s0, s1, Hq, group, D, scale, P, m, l, o); break;
  }
}
