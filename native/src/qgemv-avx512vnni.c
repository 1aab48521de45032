/*
 * AVX-512 VNNI decode GEMV for the quantized matmul (qgemv.h), W2, W4 and W8: one token row against a
 * run of whole tiles, written straight into y. The arithmetic is the tile kernels' (qmatmul-avx512vnni.c) and the
 * scalar twin's, bit for bit — per block the exact integer Σ code·q − z·Σq, then one
 * fma(float(isum), scale·d, acc) in block order — with fewer instructions per byte streamed, because a
 * decode step only streams weights and every instruction it spends competes with the loads:
 *  - the high nibbles are multiplied as (byte & 0xf0) = 16·hi and the sum shifted right by 4 once per
 *    block (exact: every term is a multiple of 16, |sum| < 2^19), instead of a shift per 64 bytes; W2's
 *    bit pairs likewise as (byte & 3 << 2j) = 4^j·code, one chain per pair, each shifted once per block;
 *  - −z·Σq seeds the dot-product chain through vpmaddwd (z ≤ 255 and |Σq| ≤ 32·127 fit int16; the high
 *    half of each lane is zero), one uop in place of vpmulld and a subtraction;
 *  - no per-tile call, switch on token rows or copy through a stack buffer;
 *  - two streams of tiles at once (GEMV_BODY below);
 *  - a symmetric weight (every zero 2^(bits−1): the int8 head, Q4_0/Q8_0 files, AutoGPTQ sym=True) takes
 *    the _sym entry points, which seed the chain with the constant −2^(bits−1)·Σq and never read the
 *    zeros: 16 bytes per block less to stream, 1/32 of a W8 weight's bytes and 1/19 of a W4 one's.
 * Each stream's codes are prefetched PF_BYTES ahead, non-temporally (NTA: into L1, with the hint that they need not be
 * kept in the outer caches, where the KV cache and the rest of the step's data would rather stay): at
 * ~30 GB/s per core and ~100 ns to DRAM, ~3 KiB is in flight per core. Against the earlier W4 prefetch into
 * L1 (T0) at the same distance and no software prefetch for W8 (T0 16 blocks ahead had made the int8 head
 * 7-10% slower than the hardware prefetchers alone), with one stream, in two interleaved A/B runs of 5 and 7 turns (bench
 * decode-gemv-ab, 2 threads, Zen 5): the int8 head 1.029-1.088x, the W8 layer shapes 0.98-1.17x (median
 * ~1.05), the W4 ones 0.95-1.15x (median ~1.02).
 */
#include <immintrin.h>
#include <string.h>

#include "qgemv.h"

#define PF_BYTES 4096

static inline __m512i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* −z·Σq per lane, exact (see above); for a symmetric weight (sym, a constant after inlining) z is
 * 2^(bits−1) in every lane and the zeros are not read. */
static inline __m512i zero_term(int sym, int bits, const uint8_t *zeros, int32_t sum) {
  if (sym) return _mm512_set1_epi32(-sum * (1 << (bits - 1)));
  const __m512i z = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)zeros));
  return _mm512_madd_epi16(z, _mm512_set1_epi32((int32_t)(uint16_t)(int16_t)-sum));
}

#define GEMV_ARGS                                                                                              \
  int tiles, int blocks, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros, const int8_t *xq, \
      const float *xd, const int32_t *xs, float *y, int rows
#define GEMV_PASS tiles, blocks, codes, scales, zeros, xq, xd, xs, y, rows
/* Each width's loop is written once, inlined with sym 0 and 1 into its two entry points. */
#define GEMV_ENTRIES(w)                                                                                        \
  void mc_qgemv_##w##_avx512vnni(GEMV_ARGS) { gemv_##w(0, GEMV_PASS); }                                    \
  void mc_qgemv_##w##_sym_avx512vnni(GEMV_ARGS) { gemv_##w(1, GEMV_PASS); }

/* Tile results for its `rows` valid rows (the last tile of a weight may be partial). */
static inline void store(float *y, __m512 acc, int rows) {
  if (rows >= 16) _mm512_storeu_ps(y, acc);
  else _mm512_mask_storeu_ps(y, (__mmask16)((1u << rows) - 1), acc);
}

/* One (tile, block): acc + its term. c, sc and z point at the block's codes, scales and zeros, x at its 32
 * activation codes, d and sum are its activation scale and code sum. */
#define STEP_ARGS                                                                                              \
  int sym, const uint8_t *c, const uint16_t *sc, const uint8_t *z, const int8_t *x, float d, int32_t sum, __m512 acc
#define INLINE static inline __attribute__((always_inline))

INLINE __m512 scaled(__m512i isum, const uint16_t *sc, float d, __m512 acc) {
  const __m512 s = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(s, _mm512_set1_ps(d)), acc);
}

/* W2: each code byte holds 4 columns in bit pairs; pair j is multiplied as (byte & 3 << 2j) = 4^j · code and
 * its chain shifted right by 2j once per block (exact: every term a multiple of 4^j, |sum| < 2^18). */
INLINE __m512 step_w2(STEP_ARGS) {
  const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0c), m2 = _mm512_set1_epi8(0x30),
                m3 = _mm512_set1_epi8((char)0xc0);
  for (int s = 0; s < 2; s++) _mm_prefetch((const char *)(c + PF_BYTES + 64 * s), _MM_HINT_NTA);
  __m512i a0 = zero_term(sym, 2, z, sum), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(),
          a3 = _mm512_setzero_si512();
  for (int s = 0; s < 2; s++) {
    const __m512i v = _mm512_loadu_si512(c + 64 * s);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(v, m0), bcast4(x + 4 * s));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(v, m1), bcast4(x + 8 + 4 * s));
    a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(v, m2), bcast4(x + 16 + 4 * s));
    a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(v, m3), bcast4(x + 24 + 4 * s));
  }
  const __m512i isum = _mm512_add_epi32(_mm512_add_epi32(a0, _mm512_srai_epi32(a1, 2)),
                                        _mm512_add_epi32(_mm512_srai_epi32(a2, 4), _mm512_srai_epi32(a3, 6)));
  return scaled(isum, sc, d, acc);
}

INLINE __m512 step_w4(STEP_ARGS) {
  const __m512i lo = _mm512_set1_epi8(0x0f), hi = _mm512_set1_epi8((char)0xf0);
  for (int s = 0; s < 4; s++) _mm_prefetch((const char *)(c + PF_BYTES + 64 * s), _MM_HINT_NTA);
  __m512i a0 = zero_term(sym, 4, z, sum), a1 = _mm512_setzero_si512();
  for (int s = 0; s < 4; s++) {
    const __m512i v = _mm512_loadu_si512(c + 64 * s);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(v, lo), bcast4(x + 4 * s));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(v, hi), bcast4(x + 16 + 4 * s));
  }
  return scaled(_mm512_add_epi32(a0, _mm512_srai_epi32(a1, 4)), sc, d, acc);
}

INLINE __m512 step_w8(STEP_ARGS) {
  for (int s = 0; s < 8; s++) _mm_prefetch((const char *)(c + PF_BYTES + 64 * s), _MM_HINT_NTA);
  __m512i a0 = zero_term(sym, 8, z, sum), a1 = _mm512_setzero_si512();
  for (int s = 0; s < 4; s++) {
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(c + 64 * s), bcast4(x + 4 * s));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(c + 256 + 64 * s), bcast4(x + 16 + 4 * s));
  }
  return scaled(_mm512_add_epi32(a0, a1), sc, d, acc);
}

/* The run's tiles as two streams, the first half and the second, a tile of each at a time and block by
 * block in step: one thread's two sequential streams keep about twice the cache lines in flight that
 * one does (the hardware prefetchers run per stream). On the int8 head alone (one 309 MB W8 matrix, Zen 5,
 * C harness) two streams read 62 GB/s at 2 threads where one read 49, against 67 for a plain read of the
 * same bytes (1 thread: 30 against 24 and 32); four streams read 54. Against one stream in bench
 * decode-gemv-ab (7 interleaved turns, 2 threads): 1.03-1.29x per W2/W4/W8 shape, the head 1.28x; a whole
 * W4 token 1.22x at 4 layers and 1.21x at 40. Without the NTA prefetch two streams gain half as much or
 * lose. An odd run's middle tile goes alone. */
#define GEMV_BODY(w, BB)                                                                                      \
  INLINE void gemv_##w(int sym, GEMV_ARGS) {                                                                  \
    const int pairs = tiles / 2, h = tiles - pairs; /* stream A: tiles [0, pairs); B: [h, tiles) */           \
    const size_t far = (size_t)h * blocks;          /* (tile, block) steps from A to B */                    \
    for (int t = 0; t < h; t++) {                                                                             \
      const size_t p0 = (size_t)t * blocks;                                                                   \
      __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();                                                \
      if (t < pairs)                                                                                          \
        for (int k = 0; k < blocks; k++) {                                                                    \
          const size_t p = p0 + k, q = p + far;                                                               \
          a = step_##w(sym, codes + p * BB, scales + p * 16, zeros + p * 16, xq + k * 32, xd[k], xs[k], a);    \
          b = step_##w(sym, codes + q * BB, scales + q * 16, zeros + q * 16, xq + k * 32, xd[k], xs[k], b);    \
        }                                                                                                     \
      else                                                                                                    \
        for (int k = 0; k < blocks; k++) {                                                                    \
          const size_t p = p0 + k;                                                                            \
          a = step_##w(sym, codes + p * BB, scales + p * 16, zeros + p * 16, xq + k * 32, xd[k], xs[k], a);    \
        }                                                                                                     \
      store(y + 16 * t, a, rows - 16 * t);                                                                    \
      if (t < pairs) store(y + 16 * (t + h), b, rows - 16 * (t + h));                                         \
    }                                                                                                         \
  }

GEMV_BODY(w2, 128)
GEMV_BODY(w4, 256)
GEMV_BODY(w8, 512)

GEMV_ENTRIES(w2)
GEMV_ENTRIES(w4)
GEMV_ENTRIES(w8)
