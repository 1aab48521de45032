/*
 * AVX2 decode GEMV for the quantized matmul (qgemv.h), W4 and W8, for CPUs without AVX-512 VNNI: one token
 * row against a run of whole tiles, written straight into y. Per tile and block it runs the AVX2 tile
 * kernel's block arithmetic (qmatmul-avx2.h: vpmaddubsw on nibbles, vpmaddwd to int32, −z·Σq by vpmulld,
 * one fma(float(isum), scale·d, acc) per half tile in block order), so the results are that kernel's and
 * the scalar one's, bit for bit. What differs is the order of the reads: the run's tiles go as two
 * sequential streams in step, its first half and its second, as in the AVX-512 GEMV
 * (qgemv-avx512vnni.c, where two streams read 1.03-1.29x one), instead of one tile after another. W2 stays
 * on the tile path (qmatmul.c unpacks it to W4 there). The _sym entry points take every zero as
 * 2^(bits−1) and do not read the zeros.
 */
#include <string.h>

#include "qgemv.h"
#include "qmatmul-avx2.h"

#define PF_BYTES 4096

/* One tile's block: both halves' accumulators advanced by it. */
static inline __attribute__((always_inline)) void step(int sym, int bits, const uint8_t *c, const uint16_t *sc,
                                                       const uint8_t *z, const int8_t *x, float d, int32_t sum,
                                                       __m256 *acc) {
  const size_t BB = (size_t)64 * bits;
  for (size_t s = 0; s < BB; s += 64) _mm_prefetch((const char *)(c + PF_BYTES + s), _MM_HINT_NTA);
  for (int h = 0; h < 2; h++) {
    const __m256i zh = sym ? _mm256_set1_epi32(1 << (bits - 1))
                           : _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(z + 8 * h)));
    const __m256i dot = bits == 8 ? mc_q2_dot_w8(c, h, x) : mc_q2_dot_w4(c, h, x);
    const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sc + 8 * h)));
    acc[h] = mc_q2_finish(acc[h], dot, zh, s, d, sum);
  }
}

/* Tile results for its `rows` valid rows (the last tile of a weight may be partial). */
static inline void store(float *y, const __m256 *acc, int rows) {
  float out[16];
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
  memcpy(y, out, sizeof(float) * (size_t)(rows < 16 ? rows : 16));
}

static inline __attribute__((always_inline)) void gemv(int sym, int bits, int tiles, int blocks,
                                                       const uint8_t *codes, const uint16_t *scales,
                                                       const uint8_t *zeros, const int8_t *xq, const float *xd,
                                                       const int32_t *xs, float *y, int rows) {
  const size_t BB = (size_t)64 * bits;
  const int pairs = tiles / 2, h = tiles - pairs; /* stream A: tiles [0, pairs); B: [h, tiles) */
  const size_t far = (size_t)h * blocks;
  for (int t = 0; t < h; t++) {
    const size_t p0 = (size_t)t * blocks;
    __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, b[2] = {a[0], a[1]};
    for (int k = 0; k < blocks; k++) {
      const size_t p = p0 + k, q = p + far;
      step(sym, bits, codes + p * BB, scales + p * 16, zeros + p * 16, xq + k * 32, xd[k], xs[k], a);
      if (t < pairs)
        step(sym, bits, codes + q * BB, scales + q * 16, zeros + q * 16, xq + k * 32, xd[k], xs[k], b);
    }
    store(y + 16 * t, a, rows - 16 * t);
    if (t < pairs) store(y + 16 * (t + h), b, rows - 16 * (t + h));
  }
}

#define ENTRIES(bits)                                                                                          \
  void mc_qgemv_w##bits##_avx2(int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,          \
                               const uint8_t *zeros, const int8_t *xq, const float *xd, const int32_t *xs,   \
                               float *y, int rows) {                                                         \
    gemv(0, bits, tiles, blocks, codes, scales, zeros, xq, xd, xs, y, rows);                                  \
  }                                                                                                           \
  void mc_qgemv_w##bits##_sym_avx2(int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,      \
                                   const uint8_t *zeros, const int8_t *xq, const float *xd,                  \
                                   const int32_t *xs, float *y, int rows) {                                  \
    gemv(1, bits, tiles, blocks, codes, scales, zeros, xq, xd, xs, y, rows);                                  \
  }

ENTRIES(4)
ENTRIES(8)
