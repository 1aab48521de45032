/*
 * Int8 KV cache kernel bodies, included once per ISA (attention-kv8.c: portable, also compiled to wasm
 * SIMD128 by clang's vectorizer; attention-kv8-avx2.c: the same loops vectorized for AVX2;
 * attention-kv8-avx512.c: the widening with AVX-512 intrinsics). The including file defines KV8_IMPL,
 * the name of its table.
 *
 * Why no VNNI: decode attention should be bound by the bytes it streams. The portable and AVX2 bodies
 * read each int8 row once, widen it (scale folded in) into an L1-resident f32 row, and let every query
 * head of the GQA group dot against that; the AVX-512 body (kv8_dec_part_avx512) widens the codes in
 * registers instead and applies the scales after. vpdpbusd would need the query quantized to int8 as
 * well: a second rounding on every score.
 */
#include <math.h>
#include <string.h>
#include "attention-kv8.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
/* Software prefetch of the cache rows KV8_PFD positions ahead: without it one core streamed the codes at
 * ~11 GB/s, each row's widening waiting on its loads. Non-temporal 4 ahead, as the bf16 kernel's: with the
 * cache cold (as in a decode step) 1.08-1.14x faster than into L2 (T1) 8 ahead at 512 positions and
 * 1.13-1.16x at 2,048 (AVX-512, the two builds A/B in one process, 2 threads, 36 heads of 64, Zen 5). */
#define KV8_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_NTA)
#else
#define KV8_PREFETCH(p) ((void)(p))
#endif
#define KV8_PFD 4

#define KV8_PRAGMA(x) _Pragma(#x)
#define KV8_SIMD KV8_PRAGMA(omp simd)
#define KV8_SIMD_SUM(v) KV8_PRAGMA(omp simd reduction(+ : v))

typedef struct {
  void (*quantize_rows)(const float *x, long r0, long r1, int D, int8_t *codes, float *scales);
  /* f32 row of all Hkv heads of one position: dst[h·D + i] = sc[h] · codes[h·D + i]. */
  void (*widen_row)(const int8_t *codes, const float *sc, int Hkv, int D, float *dst);
  /* Decode attention of one query row (every head) over n consecutive positions of the cache (codes
   * kc/vc and scales ks/vs already at the first one): m[h] = max score, l[h] = Σ exp(score − m[h]), the
   * unnormalised o[h·D + i] = Σ exp(score − m[h])·v̂ᵢ. P: Hq·n floats, row: Hkv·D floats. */
  void (*dec_part)(const float *q, const int8_t *kc, const float *ks, const int8_t *vc, const float *vs, int Hkv,
                   int n, int Hq, int group, int D, float scale, float *P, float *row, float *o, float *m,
                   float *l);
} mc_kv8_impl;

/* exp(x) for x <= 0 without a libm call, so the loop over a head's scores vectorizes: x = n·ln2 + r
 * with |r| <= ln2/2, a degree-6 Taylor polynomial of e^r (relative error < 2e-7 there) and 2^n put into
 * the exponent bits. Below −87 (e^x under FLT_MIN) it returns 0. */
static inline float kv8_exp(float x) {
  const float xc = x < -87.0f ? -87.0f : x;
  const float t = xc * 1.44269504f;
  const float nf = (float)(int)(t - 0.5f); /* round to nearest for t <= 0 (ties away) */
  const float r = (xc - nf * 0.693145752f) - nf * 1.42860677e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { uint32_t u; float f; } s;
  s.u = (uint32_t)((int)nf + 127) << 23;
  return x < -87.0f ? 0.0f : p * s.f;
}

/* One head's scores over n keys, in place: row[s] = exp(row[s] − max); returns the max, *sum = Σ. */
static float kv8_softmax_part(float *row, int n, float *sum) {
  float mx = -INFINITY, z = 0;
  KV8_PRAGMA(omp simd reduction(max : mx)) for (int s = 0; s < n; s++) mx = row[s] > mx ? row[s] : mx;
  KV8_SIMD_SUM(z) for (int s = 0; s < n; s++) z += (row[s] = kv8_exp(row[s] - mx));
  *sum = z;
  return mx;
}

/* Round half away from zero, exactly: t − trunc(t) is exact for |t| < 2^23 (here |t| <= 127.5). */
static inline int kv8_round(float t) {
  const int r = (int)t;
  const float f = t - (float)r;
  return r + (f >= 0.5f) - (f <= -0.5f);
}

static void kv8_quantize_rows(const float *x, long r0, long r1, int D, int8_t *codes, float *scales) {
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * D;
    int8_t *q = codes + r * D;
    float amax = 0.0f;
    int bad = 0;
    for (int i = 0; i < D; i++) {
      const float a = fabsf(xr[i]);
      bad |= !(a <= 3.40282347e38f); /* NaN or ±inf */
      amax = a > amax ? a : amax;
    }
    if (bad || amax == 0.0f) {
      for (int i = 0; i < D; i++) q[i] = 0;
      scales[r] = bad ? NAN : 0.0f;
      continue;
    }
    const float d = amax / 127.0f, inv = 1.0f / d;
    for (int i = 0; i < D; i++) {
      const int c = kv8_round(xr[i] * inv);
      q[i] = (int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
    }
    scales[r] = d;
  }
}

static void kv8_widen_row(const int8_t *codes, const float *sc, int Hkv, int D, float *dst) {
  for (int h = 0; h < Hkv; h++) {
    const int8_t *c = codes + (long)h * D;
    float *o = dst + (long)h * D;
    const float d = sc[h];
#if defined(__AVX512F__)
    const __m512 vd = _mm512_set1_ps(d);
    int i = 0;
    for (; i + 16 <= D; i += 16) {
      const __m128i b = _mm_loadu_si128((const __m128i *)(c + i));
      _mm512_storeu_ps(o + i, _mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))));
    }
    if (i < D) {
      const __mmask16 m = (__mmask16)((1u << (D - i)) - 1u);
      const __m128i b = _mm_maskz_loadu_epi8(m, c + i);
      _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))));
    }
#else
    KV8_SIMD for (int i = 0; i < D; i++) o[i] = d * (float)c[i];
#endif
  }
}

#if defined(__AVX512F__)
#include "exp-avx512.h"

/* 16 int8 codes as f32. */
static inline __m512 kv8_w16(const int8_t *c) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)c)));
}

/* One head's score at one position: (q·c)·sc, the codes widened in registers. */
static inline float kv8_score1(const float *qh, const int8_t *c, int D, float sc) {
  __m512 a = _mm512_setzero_ps();
  for (int i = 0; i < D; i += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(qh + i), kv8_w16(c + i), a);
  return _mm512_reduce_add_ps(a) * sc;
}

/* r[j] = the sum of v[j]'s 16 lanes, j < 16: pairs of vectors summed within 128-bit blocks, then the
 * blocks transposed and summed (about 2 operations per sum instead of a reduction's 7). */
static inline __m512 kv8_sum16(const __m512 *v) {
  __m512 x[4];
  for (int m = 0; m < 4; m++) {
    const __m512 *w = v + 4 * m;
    const __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
    const __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
    /* block k: the sums of w[0..3] over that block */
    x[m] = _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xEE));
  }
  const __m512 h0 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
  const __m512 h1 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x44), _mm512_shuffle_f32x4(x[2], x[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(h0, h1, 0x88), _mm512_shuffle_f32x4(h0, h1, 0xDD));
}

/* kv8_dec_part for D a multiple of 16 on AVX-512: the codes are widened in registers where they are
 * used instead of through an f32 row (its stores and reloads were most of the work); scores come in
 * tiles of 4 positions × 4 heads (a query load serves 4 positions, 16 sums reduced together), and four
 * positions' values accumulate per load and store of a head's output. The scale enters after the dot
 * product, (q·c)·s_k, and with the weight, (p·s_v)·c, instead of in the widened row: the same products
 * up to where that one rounding falls. */
static void kv8_dec_part_avx512(const float *q, const int8_t *kc, const float *ks, const int8_t *vc,
                                const float *vs, int Hkv, int n, int Hq, int group, int D, float scale, float *P,
                                float *o, float *m, float *l) {
  const long ldk = (long)Hkv * D;
  int s = 0;
  for (; s + 4 <= n; s += 4) {
    const int8_t *kr = kc + s * ldk;
    const float *sr = ks + (long)s * Hkv;
    if (s + 4 + KV8_PFD <= n)
      for (long b = 0; b < 4 * ldk; b += 64) KV8_PREFETCH(kr + KV8_PFD * ldk + b);
    int h = 0;
    for (; h + 4 <= Hq; h += 4) {
      long co[4];
      for (int j = 0; j < 4; j++) co[j] = (long)((h + j) / group) * D;
      const float *q0 = q + (long)h * D;
      __m512 acc[16];
      for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
      for (int i = 0; i < D; i += 16)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
          const __m512 qv = _mm512_loadu_ps(q0 + (long)j * D + i);
#pragma GCC unroll 4
          for (int p = 0; p < 4; p++) acc[4 * p + j] = _mm512_fmadd_ps(qv, kv8_w16(kr + p * ldk + co[j] + i), acc[4 * p + j]);
        }
      float r[16];
      _mm512_storeu_ps(r, kv8_sum16(acc));
      for (int p = 0; p < 4; p++)
        for (int j = 0; j < 4; j++)
          P[(long)(h + j) * n + s + p] = r[4 * p + j] * (sr[(long)p * Hkv + (h + j) / group] * scale);
    }
    for (; h < Hq; h++)
      for (int p = 0; p < 4; p++)
        P[(long)h * n + s + p] = kv8_score1(q + (long)h * D, kr + p * ldk + (long)(h / group) * D, D,
                                            sr[(long)p * Hkv + h / group] * scale);
  }
  for (; s < n; s++) /* the last n mod 4 positions, a head at a time */
    for (int h = 0; h < Hq; h++)
      P[(long)h * n + s] = kv8_score1(q + (long)h * D, kc + s * ldk + (long)(h / group) * D, D,
                                      ks[(long)s * Hkv + h / group] * scale);
  for (int h = 0; h < Hq; h++) l[h] = mc_softmax_row16(P + (long)h * n, n, n, m + h);
  memset(o, 0, sizeof(float) * (size_t)Hq * (size_t)D);
  for (s = 0; s + 4 <= n; s += 4) {
    const int8_t *vr = vc + s * ldk;
    const float *sr = vs + (long)s * Hkv;
    if (s + 4 + KV8_PFD <= n)
      for (long b = 0; b < 4 * ldk; b += 64) KV8_PREFETCH(vr + KV8_PFD * ldk + b);
    for (int h = 0; h < Hq; h++) {
      const int g = h / group;
      const float *ph = P + (long)h * n + s;
      const __m512 p0 = _mm512_set1_ps(ph[0] * sr[g]), p1 = _mm512_set1_ps(ph[1] * sr[Hkv + g]),
                   p2 = _mm512_set1_ps(ph[2] * sr[2 * Hkv + g]), p3 = _mm512_set1_ps(ph[3] * sr[3 * Hkv + g]);
      const int8_t *c = vr + (long)g * D;
      float *oh = o + (long)h * D;
      for (int i = 0; i < D; i += 16) {
        __m512 acc = _mm512_loadu_ps(oh + i);
        acc = _mm512_fmadd_ps(p0, kv8_w16(c + i), acc);
        acc = _mm512_fmadd_ps(p1, kv8_w16(c + ldk + i), acc);
        acc = _mm512_fmadd_ps(p2, kv8_w16(c + 2 * ldk + i), acc);
        acc = _mm512_fmadd_ps(p3, kv8_w16(c + 3 * ldk + i), acc);
        _mm512_storeu_ps(oh + i, acc);
      }
    }
  }
  for (; s < n; s++) { /* the last n mod 4 positions */
    const int8_t *vr = vc + s * ldk;
    const float *sr = vs + (long)s * Hkv;
    for (int h = 0; h < Hq; h++) {
      const int g = h / group;
      const __m512 p = _mm512_set1_ps(P[(long)h * n + s] * sr[g]);
      const int8_t *c = vr + (long)g * D;
      float *oh = o + (long)h * D;
      for (int i = 0; i < D; i += 16) _mm512_storeu_ps(oh + i, _mm512_fmadd_ps(p, kv8_w16(c + i), _mm512_loadu_ps(oh + i)));
    }
  }
}
#endif

/* Each position's row of all kv heads is read once, widened into `row` (L1-resident), and every query
 * head of its GQA group works on it: a sequential stream through K, then through V. (On AVX-512 with D
 * a multiple of 16, kv8_dec_part_avx512 instead.) */
static void kv8_dec_part(const float *q, const int8_t *kc, const float *ks, const int8_t *vc, const float *vs,
                         int Hkv, int n, int Hq, int group, int D, float scale, float *P, float *row, float *o,
                         float *m, float *l) {
#if defined(__AVX512F__)
  if ((D & 15) == 0) {
    kv8_dec_part_avx512(q, kc, ks, vc, vs, Hkv, n, Hq, group, D, scale, P, o, m, l);
    return;
  }
#endif
  const long ldk = (long)Hkv * D;
  for (int s = 0; s < n; s++) {
    if (s + KV8_PFD < n)
      for (long b = 0; b < ldk; b += 64) KV8_PREFETCH(kc + (s + KV8_PFD) * ldk + b);
    kv8_widen_row(kc + s * ldk, ks + (long)s * Hkv, Hkv, D, row);
    for (int h = 0; h < Hq; h++) {
      const float *kh = row + (long)(h / group) * D, *qh = q + (long)h * D;
      float acc = 0;
      KV8_SIMD_SUM(acc) for (int i = 0; i < D; i++) acc += qh[i] * kh[i];
      P[(long)h * n + s] = acc * scale;
    }
  }
  for (int h = 0; h < Hq; h++) m[h] = kv8_softmax_part(P + (long)h * n, n, l + h);
  memset(o, 0, sizeof(float) * (size_t)Hq * (size_t)D);
  for (int s = 0; s < n; s++) {
    if (s + KV8_PFD < n)
      for (long b = 0; b < ldk; b += 64) KV8_PREFETCH(vc + (s + KV8_PFD) * ldk + b);
    kv8_widen_row(vc + s * ldk, vs + (long)s * Hkv, Hkv, D, row);
    for (int h = 0; h < Hq; h++) {
      const float p = P[(long)h * n + s], *vh = row + (long)(h / group) * D;
      float *oh = o + (long)h * D;
      KV8_SIMD for (int i = 0; i < D; i++) oh[i] += p * vh[i];
    }
  }
}

const mc_kv8_impl KV8_IMPL = {kv8_quantize_rows, kv8_widen_row, kv8_dec_part};
