/*
 * AVX-512 VNNI tile kernels for the quantized matmul (qmatmul.h): 16 output rows in the 16 int32 lanes
 * of a zmm; vpdpbusd multiplies 4 unsigned weight codes of a row by 4 int8 activations (broadcast to
 * every lane) and adds them into the lane. The zero point is corrected once per block from the
 * activation block sum: Σ (code − z)·q = Σ code·q − z·Σq. The nibbles of a W4 block are unpacked once
 * and used for every token row (m <= 4), which is what makes prefill cheaper than m GEMVs.
 */
#include <immintrin.h>
#include <string.h>

#include "qmatmul.h"

static inline __m512i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Block terms of token row i into acc: fma(float(Σ code·q − z·Σq), scale·d, acc). */
static inline __m512 finish(__m512 acc, __m512i dot, __m512i z, __m512 sc, const float *xd,
                            const int32_t *xs, int b) {
  const __m512i isum = _mm512_sub_epi32(dot, _mm512_mullo_epi32(z, _mm512_set1_epi32(xs[b])));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(sc, _mm512_set1_ps(xd[b])), acc);
}

static inline __attribute__((always_inline)) void w4(int blocks, const int m, const uint8_t *codes,
                                                     const uint16_t *scales, const uint8_t *zeros,
                                                     const int8_t *xq, long ldq, const float *xd,
                                                     const int32_t *xs, long ldb, float *out) {
  const __m512i lo = _mm512_set1_epi8(0x0f);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 256;
    _mm_prefetch((const char *)(c + 1024), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 1024 + 64), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 1024 + 128), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 1024 + 192), _MM_HINT_T0);
    __m512i l[4], h[4];
    for (int s = 0; s < 4; s++) {
      const __m512i v = _mm512_loadu_si512(c + 64 * s);
      l[s] = _mm512_and_si512(v, lo);
      h[s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
    }
    const __m512 sc = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scales + (size_t)b * 16)));
    const __m512i z = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(zeros + (size_t)b * 16)));
    for (int i = 0; i < m; i++) {
      const int8_t *x = xq + i * ldq + b * 32;
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
      for (int s = 0; s < 4; s++) {
        a0 = _mm512_dpbusd_epi32(a0, l[s], bcast4(x + 4 * s));
        a1 = _mm512_dpbusd_epi32(a1, h[s], bcast4(x + 16 + 4 * s));
      }
      acc[i] = finish(acc[i], _mm512_add_epi32(a0, a1), z, sc, xd + i * ldb, xs + i * ldb, b);
    }
  }
  for (int i = 0; i < m; i++) _mm512_storeu_ps(out + i * 16, acc[i]);
}

static inline __attribute__((always_inline)) void w8(int blocks, const int m, const uint8_t *codes,
                                                     const uint16_t *scales, const uint8_t *zeros,
                                                     const int8_t *xq, long ldq, const float *xd,
                                                     const int32_t *xs, long ldb, float *out) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 512;
    for (int s = 0; s < 8; s++) _mm_prefetch((const char *)(c + 1536 + 64 * s), _MM_HINT_T0);
    __m512i v[8];
    for (int s = 0; s < 8; s++) v[s] = _mm512_loadu_si512(c + 64 * s);
    const __m512 sc = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scales + (size_t)b * 16)));
    const __m512i z = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(zeros + (size_t)b * 16)));
    for (int i = 0; i < m; i++) {
      const int8_t *x = xq + i * ldq + b * 32;
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
      for (int s = 0; s < 4; s++) {
        a0 = _mm512_dpbusd_epi32(a0, v[s], bcast4(x + 4 * s));
        a1 = _mm512_dpbusd_epi32(a1, v[4 + s], bcast4(x + 16 + 4 * s));
      }
      acc[i] = finish(acc[i], _mm512_add_epi32(a0, a1), z, sc, xd + i * ldb, xs + i * ldb, b);
    }
  }
  for (int i = 0; i < m; i++) _mm512_storeu_ps(out + i * 16, acc[i]);
}

/* Specialised on m so the token loop unrolls and acc stays in registers. */
#define DISPATCH(fn)                                                         \
  switch (m) {                                                               \
    case 1: fn(blocks, 1, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break; \
    case 2: fn(blocks, 2, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break; \
    case 3: fn(blocks, 3, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break; \
    default: fn(blocks, 4, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break; \
  }

void mc_qtile_w4_avx512vnni(int blocks, int m, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, const int8_t *xq, long ldq, const float *xd,
                            const int32_t *xs, long ldb, float *out) {
  DISPATCH(w4)
}

void mc_qtile_w8_avx512vnni(int blocks, int m, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, const int8_t *xq, long ldq, const float *xd,
                            const int32_t *xs, long ldb, float *out) {
  DISPATCH(w8)
}
