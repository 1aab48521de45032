/*
 * One (tile half, block) of the AVX2 quantized matmul, shared by the tile kernels (qmatmul-avx2.c) and the
 * one-row decode GEMV (qgemv-avx2.c), so both compute the same integers and floats: each half of a tile
 * (8 rows) in the 8 int32 lanes of a ymm, vpmaddubsw on unsigned nibbles times the int8 activations into
 * int16 pairs, vpmaddwd to int32; W8 codes split into their nibbles, hi·16 + lo, so no int16 sum saturates.
 * Include only from files compiled with -mavx2 -mfma -mf16c.
 */
#ifndef MC_QMATMUL_AVX2_H
#define MC_QMATMUL_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline __m256i mc_q2_bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* Σ over nibble steps of (16-bit pair sums), widened to int32 by vpmaddwd with ones. */
static inline __m256i mc_q2_widen(__m256i s16) { return _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); }

/* Half h (rows 8h..8h+7) of a W4 block at c against 32 activation codes x. */
static inline __m256i mc_q2_dot_w4(const uint8_t *c, int h, const int8_t *x) {
  const __m256i lo = _mm256_set1_epi8(0x0f);
  __m256i s = _mm256_setzero_si256();
  for (int k = 0; k < 4; k++) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(c + 64 * k + 32 * h));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(v, lo), mc_q2_bcast4(x + 4 * k)));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo),
                                                 mc_q2_bcast4(x + 16 + 4 * k)));
  }
  return mc_q2_widen(s);
}

static inline __m256i mc_q2_dot_w8(const uint8_t *c, int h, const int8_t *x) {
  const __m256i lo = _mm256_set1_epi8(0x0f);
  __m256i sl = _mm256_setzero_si256(), sh = _mm256_setzero_si256();
  for (int k = 0; k < 8; k++) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(c + 64 * k + 32 * h));
    const __m256i xb = mc_q2_bcast4(x + 4 * k);
    sl = _mm256_add_epi16(sl, _mm256_maddubs_epi16(_mm256_and_si256(v, lo), xb));
    sh = _mm256_add_epi16(sh, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo), xb));
  }
  return _mm256_add_epi32(mc_q2_widen(sl), _mm256_slli_epi32(mc_q2_widen(sh), 4));
}

/* acc + float(dot − z·Σq) · (scale · d): the block's term for 8 rows, in block order. */
static inline __m256 mc_q2_finish(__m256 acc, __m256i dot, __m256i z, __m256 sc, float d, int32_t sum) {
  const __m256i isum = _mm256_sub_epi32(dot, _mm256_mullo_epi32(z, _mm256_set1_epi32(sum)));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(sc, _mm256_set1_ps(d)), acc);
}

#endif
