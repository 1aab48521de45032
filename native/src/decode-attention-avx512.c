/*
 * Decode attention's key-range part on AVX-512 over a bf16 cache (decode-attention.h). The portable
 * part (nn-impl.h attn_dec_part) widens each cached row into a buffer, reduces every head's dot
 * product through a generic loop and runs the softmax per head with a stride of the key count; it
 * spent ~4× the CPU time of a GEMV over the same bytes. Here bf16 is widened in registers, each
 * (position, head) dot product is D/16 FMAs whose lanes 16 heads sum together in one transposing
 * tree, scores are laid out position-major so the softmax runs 16 heads per vector, and the value
 * pass accumulates two positions at a time into an L1-resident output.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "decode-attention.h"
#include "exp-avx512.h"

/* 16 bf16 values as f32 (bf16 is the upper half of an f32). */
static inline __m512 widen16(const uint16_t *p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)p)), 16));
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

/* The dot product of q's head h with its kv head's key, 16 lanes not yet summed. */
static inline __m512 dot_lanes(const float *qh, const uint16_t *kh, int D) {
  __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qh), widen16(kh));
  for (int i = 16; i < D; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + i), widen16(kh + i), acc);
  return acc;
}

void mc_decode_attn_part_bf16_avx512(const float *q, const uint16_t *k, const uint16_t *v, long ldk, int s0, int s1,
                                     int Hq, int group, int D, float scale, float *P, float *m, float *l, float *o) {
  const int n = s1 - s0, Hp = (Hq + 15) & ~15;
  /* scores, position-major: P[s·Hp + h] */
  for (int s = 0; s < n; s++) {
    const uint16_t *kr = k + (long)(s0 + s) * ldk;
    float *ps = P + (long)s * Hp;
    if (s + 4 < n)
      for (long b = 0; b < ldk; b += 32) _mm_prefetch((const char *)(kr + 4 * ldk + b), _MM_HINT_T0);
    int h = 0;
    for (; h + 16 <= Hq; h += 16) {
      __m512 acc[16];
      for (int j = 0; j < 16; j++) acc[j] = dot_lanes(q + (long)(h + j) * D, kr + (long)((h + j) / group) * D, D);
      _mm512_storeu_ps(ps + h, _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)));
    }
    for (; h < Hq; h++) ps[h] = _mm512_reduce_add_ps(dot_lanes(q + (long)h * D, kr + (long)(h / group) * D, D)) * scale;
    for (int h = Hq; h < Hp; h++) ps[h] = 0.0f; /* pad lanes: finite, never read back */
  }
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
  /* values: o[h] += p[s, h]·v[s, h / group] */
  memset(o, 0, sizeof(float) * (size_t)Hq * (size_t)D);
  int s = 0;
  for (; s + 2 <= n; s += 2) { /* two positions per load and store of the output */
    const uint16_t *vr = v + (long)(s0 + s) * ldk;
    const float *ps = P + (long)s * Hp;
    if (s + 6 < n)
      for (long b = 0; b < 2 * ldk; b += 32) _mm_prefetch((const char *)(vr + 4 * ldk + b), _MM_HINT_T0);
    for (int h = 0; h < Hq; h++) {
      const __m512 p0 = _mm512_set1_ps(ps[h]), p1 = _mm512_set1_ps(ps[Hp + h]);
      const uint16_t *vh = vr + (long)(h / group) * D;
      float *oh = o + (long)h * D;
      for (int i = 0; i < D; i += 16) {
        const __m512 t = _mm512_fmadd_ps(p0, widen16(vh + i), _mm512_loadu_ps(oh + i));
        _mm512_storeu_ps(oh + i, _mm512_fmadd_ps(p1, widen16(vh + ldk + i), t));
      }
    }
  }
  if (s < n) {
    const uint16_t *vr = v + (long)(s0 + s) * ldk;
    const float *ps = P + (long)s * Hp;
    for (int h = 0; h < Hq; h++) {
      const __m512 p = _mm512_set1_ps(ps[h]);
      const uint16_t *vh = vr + (long)(h / group) * D;
      float *oh = o + (long)h * D;
      for (int i = 0; i < D; i += 16)
        _mm512_storeu_ps(oh + i, _mm512_fmadd_ps(p, widen16(vh + i), _mm512_loadu_ps(oh + i)));
    }
  }
}
