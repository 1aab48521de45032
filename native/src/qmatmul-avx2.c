/*
 * AVX2 tile kernels for the quantized matmul (qmatmul.h), for CPUs without AVX-512 VNNI, over the block
 * arithmetic of qmatmul-avx2.h: each half of a tile (8 rows) in the 8 int32 lanes of a ymm. vpmaddubsw
 * multiplies unsigned 4-bit values by the int8 activations into int16 pairs (|15·127·2| per pair, and the
 * 8 products of a block stay below 2^15), vpmaddwd sums the pairs to int32. W8 codes are split into their
 * two nibbles, hi·16 + lo, so that no int16 sum can saturate. W4 and W2 prefill from 8 rows (qprefill.c) runs through the panel kernel of
 * qprefill-avx2.c instead, and one-row W4/W8 decode through the GEMV of qgemv-avx2.c (the same arithmetic
 * per tile); these tiles serve 2-7 rows, W8 prefill, zeros above 16 and W2 (whose codes qmatmul.c unpacks
 * to W4 first).
 */
#include "qmatmul-avx2.h"
#include "qmatmul.h"

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
      const __m256i d0 = bits == 8 ? mc_q2_dot_w8(c, 0, x) : mc_q2_dot_w4(c, 0, x);
      const __m256i d1 = bits == 8 ? mc_q2_dot_w8(c, 1, x) : mc_q2_dot_w4(c, 1, x);
      const float d = xd[i * ldb + b];
      const int32_t s = xs[i * ldb + b];
      acc0 = mc_q2_finish(acc0, d0, z0, sc0, d, s);
      acc1 = mc_q2_finish(acc1, d1, z1, sc1, d, s);
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
