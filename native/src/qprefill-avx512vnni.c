/*
 * AVX-512 VNNI kernels of the quantized prefill (qprefill.h): the panel unpack, and the register-blocked
 * kernel that runs token rows over an unpacked panel. Per k-step of 4 columns a register block loads
 * QP_R weight vectors and QP_T broadcast activation words and issues QP_R·QP_T vpdpbusd; each block of 32
 * columns then costs one cvt, one mul and one fma per (tile, token) for its scale, and nothing for the
 * zero point (folded into the seed, see qprefill.h).
 */
#include <immintrin.h>
#include <string.h>

#include "qmatmul.h"
#include "qprefill.h"
#include "qquantize-avx512.h"

void mc_qprefill_unpack_avx512vnni(int bits, int tiles, int blocks, const uint8_t *codes,
                                   const uint16_t *scales, const uint8_t *zeros, uint8_t *panel) {
  const __m512i lo = _mm512_set1_epi8(0x0f), ones = _mm512_set1_epi8(1);
  const size_t nb = (size_t)tiles * blocks;
  for (size_t p = 0; p < nb; p++) {
    uint8_t *dst = panel + p * QP_CHUNK;
    const __m512i z = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(zeros + p * 16)));
    if (bits == 8) {
      memcpy(dst, codes + p * 512, 512);
      _mm512_storeu_si512(dst + 512, z);
    } else {
      /* z in each byte of its row's lane; codes become c − z, the seed −128·Σ (c − z) */
      const __m512i zb = _mm512_mullo_epi32(z, _mm512_set1_epi32(0x01010101));
      __m512i sum = _mm512_setzero_si512();
      for (int s = 0; s < 4; s++) {
        const __m512i v = _mm512_loadu_si512(codes + p * 256 + 64 * s);
        const __m512i l = _mm512_sub_epi8(_mm512_and_si512(v, lo), zb);
        const __m512i h = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo), zb);
        sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sum, ones, l), ones, h);
        _mm512_storeu_si512(dst + 64 * s, l);
        _mm512_storeu_si512(dst + 64 * (4 + s), h);
      }
      _mm512_storeu_si512(dst + 512, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
    }
    _mm512_storeu_ps(dst + 576, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scales + p * 16))));
  }
}

/* Activations in the kernel's operand form: each block quantized as mc_qquantize does
 * (qquantize-avx512.h); W4 codes biased by +128 (unsigned operand), W8 sums negated. */
void mc_qprefill_quantize_avx512vnni(int bits, int M, int K, const float *x, long ldx, const int32_t *perm,
                                     uint8_t *xa, float *xd, int32_t *xn) {
  const int B = K / 32;
  const __m512i bias = _mm512_set1_epi32(bits == 4 ? 128 : 0);
  for (int m = 0; m < M; m++) {
    const float *row = x + (long)m * ldx;
    for (int b = 0; b < B; b++) {
      __m512i r[2];
      xd[(long)m * B + b] = mc_qquantize_block_avx512(row, perm, b, r);
      uint8_t *q = xa + (long)m * K + b * 32;
      _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(_mm512_add_epi32(r[0], bias)));
      _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(_mm512_add_epi32(r[1], bias)));
      const int32_t total = _mm512_reduce_add_epi32(_mm512_add_epi32(r[0], r[1]));
      xn[(long)m * B + b] = bits == 4 ? total : -total;
    }
  }
}

static inline __m512i bcast4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* R tiles (panel rows t·16.., chunks tile-major) x T token rows over all blocks; rows[r] valid rows. */
static inline __attribute__((always_inline)) void block(const int bits, const int R, const int T, int blocks,
                                                        const uint8_t *panel, const uint8_t *xa, long K,
                                                        const float *xd, const int32_t *xn, float *y, long ldy,
                                                        int last_rows) {
  const size_t tstride = (size_t)blocks * QP_CHUNK;
  __m512 af[QP_R][QP_T];
  __m512i ai[QP_R][QP_T];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) af[r][t] = _mm512_setzero_ps();
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = panel + (size_t)b * QP_CHUNK;
    const uint8_t *x = xa + (size_t)b * 32;
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m512i seed = _mm512_loadu_si512(c + r * tstride + 512);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++)
        ai[r][t] = bits == 4 ? seed
                             : _mm512_dpwssd_epi32(_mm512_setzero_si512(), seed,
                                                   _mm512_set1_epi32(xn[(size_t)t * blocks + b]));
    }
#pragma GCC unroll 8
    for (int s = 0; s < 8; s++) {
      __m512i w[QP_R];
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) w[r] = _mm512_loadu_si512(c + r * tstride + 64 * s);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        const __m512i a = bcast4(x + t * K + 4 * s);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
          ai[r][t] = bits == 4 ? _mm512_dpbusd_epi32(ai[r][t], a, w[r]) : _mm512_dpbusd_epi32(ai[r][t], w[r], a);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m512 sc = _mm512_loadu_ps(c + r * tstride + 576);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++)
        af[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[r][t]),
                                   _mm512_mul_ps(sc, _mm512_set1_ps(xd[(size_t)t * blocks + b])), af[r][t]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    const __mmask16 m = r == R - 1 && last_rows < 16 ? (__mmask16)((1u << last_rows) - 1) : 0xFFFF;
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(y + t * ldy + 16 * r, m, af[r][t]);
  }
}

/* T = 1 .. QP_T as compile-time constants, so the token loops unroll and the accumulators stay in registers */
#define CASE(k, bits, R) case k: block(bits, R, k, blocks, p, x, K, d, n, yy, ldy, lr); break;
#if QP_T > 8
#error "QP_T above 8 needs more cases below"
#endif
#define TOKENS(bits, R)                                                                           \
  switch (T) {                                                                                    \
    CASE(1, bits, R)                                                                              \
    CASE(2, bits, R)                                                                              \
    CASE(3, bits, R)                                                                              \
    MORE4(bits, R)                                                                                \
    default: block(bits, R, QP_T, blocks, p, x, K, d, n, yy, ldy, lr); break;                     \
  }
#if QP_T > 4
#define MORE4(bits, R) CASE(4, bits, R) MORE5(bits, R)
#else
#define MORE4(bits, R)
#endif
#if QP_T > 5
#define MORE5(bits, R) CASE(5, bits, R) MORE6(bits, R)
#else
#define MORE5(bits, R)
#endif
#if QP_T > 6
#define MORE6(bits, R) CASE(6, bits, R) MORE7(bits, R)
#else
#define MORE6(bits, R)
#endif
#if QP_T > 7
#define MORE7(bits, R) CASE(7, bits, R)
#else
#define MORE7(bits, R)
#endif

static void run4(int R, int T, int blocks, const uint8_t *p, const uint8_t *x, long K, const float *d,
                 const int32_t *n, float *yy, long ldy, int lr) {
  if (R == 1) TOKENS(4, 1) else TOKENS(4, QP_R)
}

static void run8(int R, int T, int blocks, const uint8_t *p, const uint8_t *x, long K, const float *d,
                 const int32_t *n, float *yy, long ldy, int lr) {
  if (R == 1) TOKENS(8, 1) else TOKENS(8, QP_R)
}

void mc_qprefill_run_avx512vnni(int bits, int tiles, int last_rows, int blocks, const uint8_t *panel, int M,
                                const uint8_t *xa, const float *xd, const int32_t *xn, float *y, long ldy) {
  const long K = (long)blocks * 32;
  const size_t tstride = (size_t)blocks * QP_CHUNK;
  for (int i0 = 0; i0 < M; i0 += QP_T) {
    const int T = M - i0 < QP_T ? M - i0 : QP_T;
    for (int t0 = 0; t0 < tiles; t0 += QP_R) {
      const int R = tiles - t0 < QP_R ? tiles - t0 : QP_R;
      const int lr = t0 + R == tiles ? last_rows : 16;
      const uint8_t *p = panel + (size_t)t0 * tstride;
      const uint8_t *x = xa + (size_t)i0 * K;
      const float *d = xd + (size_t)i0 * blocks;
      const int32_t *n = xn ? xn + (size_t)i0 * blocks : NULL;
      float *yy = y + (long)i0 * ldy + 16 * t0;
      if (bits == 4) run4(R, T, blocks, p, x, K, d, n, yy, ldy, lr);
      else run8(R, T, blocks, p, x, K, d, n, yy, ldy, lr);
    }
  }
}
