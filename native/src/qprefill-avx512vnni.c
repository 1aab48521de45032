/*
 * AVX-512 VNNI kernels of the quantized prefill (qprefill.h): the panel unpack, and the register-blocked
 * kernel that runs token rows over an unpacked panel. Per k-step of 4 columns a register block loads
 * QP_R weight vectors and QP_T broadcast activation words and issues QP_R·QP_T vpdpbusd; each block of 32
 * columns then costs one cvt, one mul and one fma per (tile, token) for its scale, and nothing for the
 * zero point (folded into the seed, see qprefill.h) but in W8 panels with a zero other than 128: one
 * vpdpwssd per (tile, token), ~10% of such a panel's time.
 *
 * Ceiling: on Zen 4 the mul and the fma issue to the same two pipes as vpdpbusd (the cvt does not), so a
 * block's 8 vpdpbusd per (tile, token) take the time of 10 and the kernel can reach 8/10 of the vpdpbusd
 * rate. It does: 0.343 ns per vpdpbusd against 0.273 for vpdpbusd alone, 373 of 469 GFLOP/s per core
 * (one panel in L2, M 512, W4 and all-128 W8 alike; per-thread CPU time, and the same with both cores
 * busy). Both ops are what the bit-identical result needs, fl(scale·d) and one fma per (row, token,
 * block); prefetching y or the next panel's weights did not move a whole call measurably (A/B, loaded
 * machine).
 */
#include <immintrin.h>
#include <string.h>

#include "qmatmul.h"
#include "qprefill.h"
#include "qquantize-avx512.h"

/* Segment s (< 4) of a W4 block from the W2 block at w2 (qmatmul.h: bytes & 0x33, or >> 2 & 0x33). */
static inline __m512i w2_as_w4(const uint8_t *w2, int s) {
  const __m512i v = _mm512_loadu_si512(w2 + 64 * (s & 1)), m = _mm512_set1_epi8(0x33);
  return _mm512_and_si512(s < 2 ? v : _mm512_srli_epi16(v, 2), m);
}

int mc_qprefill_unpack_avx512vnni(int bits, int tiles, int blocks, const uint8_t *codes,
                                  const uint16_t *scales, const uint8_t *zeros, uint8_t *panel) {
  const __m512i lo = _mm512_set1_epi8(0x0f), ones = _mm512_set1_epi8(1), flip = _mm512_set1_epi8(-128);
  const size_t nb = (size_t)tiles * blocks;
  /* W8: the plain seed where every zero of the panel is 128 (our W8 and GGUF Q8_0 always), else the
   * packed zero-point word (qprefill.h) */
  int form = QP_SEED;
  if (bits == 8) {
    __mmask64 other = 0;
    for (size_t p = 0; p < nb; p++)
      other |= _mm512_cmpneq_epi8_mask(_mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(zeros + p * 16))),
                                       flip) & 0xFFFF;
    form = other ? QP_ZPOINT : QP_SEED;
  }
  for (size_t p = 0; p < nb; p++) {
    uint8_t *dst = panel + p * QP_CHUNK;
    const __m512i z = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(zeros + p * 16)));
    __m512i sum = _mm512_setzero_si512();
    if (bits == 8) { /* codes c − 128 (the sign bit flipped) */
      for (int s = 0; s < 8; s++) {
        const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(codes + p * 512 + 64 * s), flip);
        sum = _mm512_dpbusd_epi32(sum, ones, v);
        _mm512_storeu_si512(dst + 64 * s, v);
      }
    } else {
      /* z in each byte of its row's lane; codes become c − z */
      const __m512i zb = _mm512_mullo_epi32(z, _mm512_set1_epi32(0x01010101));
      for (int s = 0; s < 4; s++) {
        const __m512i v = bits == 4 ? _mm512_loadu_si512(codes + p * 256 + 64 * s) : w2_as_w4(codes + p * 128, s);
        const __m512i l = _mm512_sub_epi8(_mm512_and_si512(v, lo), zb);
        const __m512i h = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo), zb);
        sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sum, ones, l), ones, h);
        _mm512_storeu_si512(dst + 64 * s, l);
        _mm512_storeu_si512(dst + 64 * (4 + s), h);
      }
    }
    const __m512i seed = form == QP_SEED /* −128·Σ codes, or [128 − z | −Σ (c − 128) << 16] */
                             ? _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128))
                             : _mm512_or_si512(_mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sum), 16),
                                               _mm512_and_si512(_mm512_sub_epi32(_mm512_set1_epi32(128), z),
                                                                _mm512_set1_epi32(0xffff)));
    _mm512_storeu_si512(dst + 512, seed);
    _mm512_storeu_ps(dst + 576, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scales + p * 16))));
  }
  return form;
}

/* Activations in the kernel's operand form: each block quantized as mc_qquantize does
 * (qquantize-avx512.h), codes biased by +128 (the unsigned operand), and for W8 the zero-point word
 * [Σq | 128 << 16] (qprefill.h). */
void mc_qprefill_quantize_avx512vnni(int bits, int M, int K, const float *x, long ldx, const int32_t *perm,
                                     uint8_t *xa, float *xd, int32_t *xn) {
  const int B = K / 32;
  const __m512i bias = _mm512_set1_epi32(128);
  for (int m = 0; m < M; m++) {
    const float *row = x + (long)m * ldx;
    for (int b = 0; b < B; b++) {
      __m512i r[2];
      xd[(long)m * B + b] = mc_qquantize_block_avx512(row, perm, b, r);
      uint8_t *q = xa + (long)m * K + b * 32;
      _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(_mm512_add_epi32(r[0], bias)));
      _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(_mm512_add_epi32(r[1], bias)));
      if (bits == 8) {
        const int32_t total = _mm512_reduce_add_epi32(_mm512_add_epi32(r[0], r[1]));
        xn[(long)m * B + b] = (int32_t)(((uint32_t)total & 0xffffu) | (128u << 16));
      }
    }
  }
}

static inline __m512i bcast4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* R tiles (panel rows t·16.., chunks tile-major) x T token rows over all blocks; rows[r] valid rows. */
static inline __attribute__((always_inline)) void block(const int form, const int R, const int T, int blocks,
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
        ai[r][t] = form == QP_SEED ? seed
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
          ai[r][t] = _mm512_dpbusd_epi32(ai[r][t], a, w[r]);
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
#define CASE(k, form, R) case k: block(form, R, k, blocks, p, x, K, d, n, yy, ldy, lr); break;
#if QP_T > 8
#error "QP_T above 8 needs more cases below"
#endif
#define TOKENS(form, R)                                                                           \
  switch (T) {                                                                                    \
    CASE(1, form, R)                                                                              \
    CASE(2, form, R)                                                                              \
    CASE(3, form, R)                                                                              \
    MORE4(form, R)                                                                                \
    default: block(form, R, QP_T, blocks, p, x, K, d, n, yy, ldy, lr); break;                     \
  }
#if QP_T > 4
#define MORE4(form, R) CASE(4, form, R) MORE5(form, R)
#else
#define MORE4(form, R)
#endif
#if QP_T > 5
#define MORE5(form, R) CASE(5, form, R) MORE6(form, R)
#else
#define MORE5(form, R)
#endif
#if QP_T > 6
#define MORE6(form, R) CASE(6, form, R) MORE7(form, R)
#else
#define MORE6(form, R)
#endif
#if QP_T > 7
#define MORE7(form, R) CASE(7, form, R)
#else
#define MORE7(form, R)
#endif

static void run_seed(int R, int T, int blocks, const uint8_t *p, const uint8_t *x, long K, const float *d,
                     const int32_t *n, float *yy, long ldy, int lr) {
  if (R == 1) TOKENS(QP_SEED, 1) else TOKENS(QP_SEED, QP_R)
}

static void run_zpoint(int R, int T, int blocks, const uint8_t *p, const uint8_t *x, long K, const float *d,
                       const int32_t *n, float *yy, long ldy, int lr) {
  if (R == 1) TOKENS(QP_ZPOINT, 1) else TOKENS(QP_ZPOINT, QP_R)
}

void mc_qprefill_run_avx512vnni(int form, int tiles, int last_rows, int blocks, const uint8_t *panel, int M,
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
      if (form == QP_SEED) run_seed(R, T, blocks, p, x, K, d, n, yy, ldy, lr);
      else run_zpoint(R, T, blocks, p, x, K, d, n, yy, ldy, lr);
    }
  }
}
