/*
 * AVX2 tile kernels for the quantized matmul (qmatmul.h), for CPUs without AVX-512 VNNI: each half of a
 * tile (8 rows) in the 8 int32 lanes of a ymm. vpmaddubsw multiplies unsigned 4-bit values by the int8
 * activations into int16 pairs (|15·127·2| per pair, and the 8 products of a block stay below 2^15),
 * vpmaddwd sums the pairs to int32. W8 codes are split into their two nibbles, hi·16 + lo, so that no
 * int16 sum can saturate. W4 and W2 prefill from 8 rows (qprefill.c) runs through the panel kernel of
 * qprefill-avx2.c instead, and one-row W4/W8 decode through the GEMV of qgemv-avx2.c (the same arithmetic
 * per tile); these tiles serve 2-7 rows, W8 prefill, zeros above 16 and W2 (whose codes qmatmul.c unpacks
 * to W4 first).
 */
#include <immintrin.h>
#include <string.h>

#include "qmatmul.h"

static inline __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

static inline __m256 finish(__m256 acc, __m256i dot, __m256i z, __m256 sc, float d, int32_t sum) {
  const __m256i isum = _mm256_sub_epi32(dot, _mm256_mullo_epi32(z, _mm256_set1_epi32(sum)));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(sc, _mm256_set1_ps(d)), acc);
}

/* Σ over nibble steps of (16-bit pair sums), widened to int32 by vpmaddwd with ones. */
static inline __m256i widen(__m256i s16) { return _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); }

/* One half (rows 8h..8h+7), token row i, W4 block at c. */
static inline __m256i dot_w4(const uint8_t *c, int h, const int8_t *x) {
  const __m256i lo = _mm256_set1_epi8(0x0f);
  __m256i s = _mm256_setzero_si256();
  for (int k = 0; k < 4; k++) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(c + 64 * k + 32 * h));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(v, lo), bcast4(x + 4 * k)));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo),
                                                 bcast4(x + 16 + 4 * k)));
  }
  return widen(s);
}

static inline __m256i dot_w8(const uint8_t *c, int h, const int8_t *x) {
  const __m256i lo = _mm256_set1_epi8(0x0f);
  __m256i sl = _mm256_setzero_si256(), sh = _mm256_setzero_si256();
  for (int k = 0; k < 8; k++) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(c + 64 * k + 32 * h));
    const __m256i xb = bcast4(x + 4 * k);
    sl = _mm256_add_epi16(sl, _mm256_maddubs_epi16(_mm256_and_si256(v, lo), xb));
    sh = _mm256_add_epi16(sh, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo), xb));
  }
  return _mm256_add_epi32(widen(sl), _mm256_slli_epi32(widen(sh), 4));
}

static void tile(int bits, int blocks, int m, const uint8_t *codes, const uint16_t *scales,
                 const uint8_t *zeros, const int8_t *xq, long ldq, const float *xd, const int32_t *xs,
                 long ldb, float *out) {
  const int BB = bits == 8 ? 512 : 256;
  for (int i = 0; i < m; i++) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
      const uint8_t *c = codes + (size_t)b * BB;
      const int8_t *x = xq + i * ldq + b * 32;
      const __m256 sc0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + (size_t)b * 16)));
      const __m256 sc1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + (size_t)b * 16 + 8)));
      const __m256i z0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(zeros + (size_t)b * 16)));
      const __m256i z1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(zeros + (size_t)b * 16 + 8)));
      const __m256i d0 = bits == 8 ? dot_w8(c, 0, x) : dot_w4(c, 0, x);
      const __m256i d1 = bits == 8 ? dot_w8(c, 1, x) : dot_w4(c, 1, x);
      const float d = xd[i * ldb + b];
      const int32_t s = xs[i * ldb + b];
      acc0 = finish(acc0, d0, z0, sc0, d, s);
      acc1 = finish(acc1, d1, z1, sc1, d, s);
    }
    _mm256_storeu_ps(out + i * 16, acc0);
    _mm256_storeu_ps(out + i * 16 + 8, acc1);
  }
}

void mc_qtile_w4_avx2(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                      const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  tile(4, blocks, m, codes, scales, zeros, xq, ldq, xd, xs, ldb, out);
}

void mc_qtile_w8_avx2(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                      const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  tile(8, blocks, m, codes, scales, zeros, xq, ldq, xd, xs, ldb, out);
}
