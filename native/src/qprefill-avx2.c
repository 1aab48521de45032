/*
 * The AVX2 steps of the quantized prefill (qprefill.h), W4 and W2, for CPUs without AVX-512 VNNI: the panel
 * scheme qprefill.c drives (each task unpacks a panel of weight tiles once and runs every token row over it) with
 * AVX2's two-step integer dot product, vpmaddubsw (u8 x s8 -> s16 pair sums, saturating) then vpmaddwd
 * (s16 x s16 -> s32 pair sums). The tile path (qmatmul-avx2.c) it replaces unpacks every nibble once per
 * group of 4 tokens and corrects the zero point per token and block with a 32-bit multiply.
 *
 * Panel per (tile, block), QP_CHUNK bytes, rows 8h..8h+7 of the tile in the 8 lanes of a ymm (half h):
 * codes c − z as int8 at 256·h + 32·s + 4·r + i for column 4s + i (s < 8), 16 int32 seeds
 * −128·Σ_k (c − z), 16 f32 scales. Activations are uint8 u = q + 128, so Σ u·(c − z) + seed = Σ q·(c − z):
 * no per-token zero-point work.
 * Saturation: u <= 255 and −16 <= c − z <= 15 (c <= 15, z <= 16; larger zeros are left to the tile path),
 * so a product lies in [−4080, 3825], a vpmaddubsw pair sum in [−8160, 7650] (never saturated) and the
 * int16 sum of 4 such k-steps in [−32640, 30600]: it is kept in int16 for 4 steps and only then widened
 * by vpmaddwd with ones, exactly. Each integer block sum equals the scalar tile kernel's dot − z·Σq and
 * is finished as that kernel does, acc = fma(float(isum), scale·d, acc) in block order: results are
 * bit-identical to mc_qtile_w4_scalar. Measured (bench prefill-gemm-ab under MINICPM_ISA=avx2, 512 rows,
 * 2 threads, 9 interleaved turns, load average ~6): 1.30-1.48x the tile path on the 2B-wide q/k/v, o,
 * gate/up and down shapes (CPU time 1.33-1.45x); the AVX2 activation quantizer below is 1.02-1.11x of
 * that over mc_qquantize's scalar loop (most on down, K 5760).
 *
 * W8 stays on the tile path. vpmaddubsw cannot take 8-bit codes against int8 activations (255·127·2 >
 * 32767), so a W8 panel needs int16 codes and one vpmaddwd per pair of columns: 16 multiplies per 32
 * columns and half-tile, against the tile kernel's 16 vpmaddubsw on nibble halves + 2 vpmaddwd. That
 * panel (bit-identical too) measured a median 1.04x the tile path (0.5-2.2x, 24 interleaved pairs, M 512,
 * K 2304 -> N 6912 and K 5760 -> N 2304, 2 threads, heavily shared machine), not a clear gain.
 */
#include <immintrin.h>
#include <string.h>

#include "internal.h"
#include "qmatmul.h"
#include "qprefill.h"

/* token rows per register block: 3 x 2 x T4 accumulators, 18 of the 16 ymm at 3 (the float ones spill,
 * touched once per block); 3 ran at 1.03-1.09x the CPU time rate of 2, 4 no faster than 2 (bench
 * prefill-gemm-ab, loaded machine) */
#define T4 3

/* Half h of segment s (< 4) of a W4 block, read from a W4 block or, bits 2, from the W2 block (qmatmul.h:
 * bytes & 0x33, or >> 2 & 0x33). */
static inline __m256i w4_half(int bits, const uint8_t *block, int s, int h) {
  if (bits == 4) return _mm256_loadu_si256((const __m256i *)(block + 64 * s + 32 * h));
  const __m256i v = _mm256_loadu_si256((const __m256i *)(block + 64 * (s & 1) + 32 * h));
  return _mm256_and_si256(s < 2 ? v : _mm256_srli_epi16(v, 2), _mm256_set1_epi8(0x33));
}

int mc_qprefill_unpack_avx2(int bits, int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, uint8_t *panel) {
  const __m256i lo = _mm256_set1_epi8(0x0f), ones8 = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
  const size_t nb = (size_t)tiles * blocks;
  for (size_t p = 0; p < nb; p++) {
    uint8_t *dst = panel + p * QP_CHUNK;
    for (int h = 0; h < 2; h++) {
      const __m256i z = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(zeros + p * 16 + 8 * h)));
      const __m256i zb = _mm256_mullo_epi32(z, _mm256_set1_epi32(0x01010101));
      __m256i sum = _mm256_setzero_si256();
      for (int s = 0; s < 4; s++) {
        const __m256i v = w4_half(bits, codes + p * MC_QBLOCK_BYTES(bits), s, h);
        const __m256i l = _mm256_sub_epi8(_mm256_and_si256(v, lo), zb);
        const __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo), zb);
        /* Σ (c − z) per row: 1·(c − z) pair sums, no saturation */
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, l), ones));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, hi), ones));
        _mm256_storeu_si256((__m256i *)(dst + 256 * h + 32 * s), l);
        _mm256_storeu_si256((__m256i *)(dst + 256 * h + 32 * (4 + s)), hi);
      }
      _mm256_storeu_si256((__m256i *)(dst + 512 + 32 * h), _mm256_mullo_epi32(sum, _mm256_set1_epi32(-128)));
    }
    _mm256_storeu_ps((float *)(dst + 576), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + p * 16))));
    _mm256_storeu_ps((float *)(dst + 608), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + p * 16 + 8))));
  }
  return QP_SEED;
}

static inline __m256i bcast4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* One tile (two halves) x T token rows over all blocks, W4. xa rows K bytes apart. */
static inline __attribute__((always_inline)) void block4(const int T, int blocks, const uint8_t *panel,
                                                         const uint8_t *xa, long K, const float *xd,
                                                         float *y, long ldy, int rows) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 af[2][T4];
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) af[h][t] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = panel + (size_t)b * QP_CHUNK;
    const uint8_t *x = xa + (size_t)b * 32;
    __m256i ai[2][T4];
    for (int h = 0; h < 2; h++) {
      const __m256i seed = _mm256_loadu_si256((const __m256i *)(c + 512 + 32 * h));
      for (int t = 0; t < T; t++) ai[h][t] = seed;
    }
#pragma GCC unroll 2
    for (int g = 0; g < 2; g++) { /* 4 k-steps summed in int16 (bounds above), then widened */
      __m256i s16[2][T4];
#pragma GCC unroll 4
      for (int s = 4 * g; s < 4 * g + 4; s++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(c + 32 * s));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(c + 256 + 32 * s));
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
          const __m256i a = bcast4(x + t * K + 4 * s);
          const __m256i p0 = _mm256_maddubs_epi16(a, w0), p1 = _mm256_maddubs_epi16(a, w1);
          s16[0][t] = s == 4 * g ? p0 : _mm256_add_epi16(s16[0][t], p0);
          s16[1][t] = s == 4 * g ? p1 : _mm256_add_epi16(s16[1][t], p1);
        }
      }
      for (int h = 0; h < 2; h++)
        for (int t = 0; t < T; t++) ai[h][t] = _mm256_add_epi32(ai[h][t], _mm256_madd_epi16(s16[h][t], ones));
    }
    for (int h = 0; h < 2; h++) {
      const __m256 sc = _mm256_loadu_ps((const float *)(c + 576 + 32 * h));
      for (int t = 0; t < T; t++)
        af[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[h][t]),
                                   _mm256_mul_ps(sc, _mm256_set1_ps(xd[(size_t)t * blocks + b])), af[h][t]);
    }
  }
  for (int t = 0; t < T; t++) {
    if (rows == 16) {
      _mm256_storeu_ps(y + t * ldy, af[0][t]);
      _mm256_storeu_ps(y + t * ldy + 8, af[1][t]);
    } else {
      float out[16];
      _mm256_storeu_ps(out, af[0][t]);
      _mm256_storeu_ps(out + 8, af[1][t]);
      memcpy(y + t * ldy, out, sizeof(float) * (size_t)rows);
    }
  }
}

void mc_qprefill_run_avx2(int form, int tiles, int last_rows, int blocks, const uint8_t *panel, int M,
                          const uint8_t *xa, const float *xd, const int32_t *xn, float *y, long ldy) {
  (void)form, (void)xn; /* always QP_SEED: no zero-point words */
  const long K = (long)blocks * 32;
  const size_t tstride = (size_t)blocks * QP_CHUNK;
  for (int i0 = 0, T; i0 < M; i0 += T) {
    T = M - i0 >= T4 ? T4 : 1; /* full register blocks, then the last rows one at a time */
    const uint8_t *x = xa + (size_t)i0 * K;
    const float *d = xd + (size_t)i0 * blocks;
    for (int t = 0; t < tiles; t++) {
      const int rows = t == tiles - 1 ? last_rows : 16;
      const uint8_t *p = panel + (size_t)t * tstride;
      float *yy = y + (long)i0 * ldy + 16 * t;
      if (T == T4) block4(T4, blocks, p, x, K, d, yy, ldy, rows);
      else block4(1, blocks, p, x, K, d, yy, ldy, rows);
    }
  }
}

/*
 * Block b of `row` (gathered through perm[32b..] when set) as uint8 operands q + 128 in dst[0..31];
 * returns the block's scale d. Bit-identical to mc_qquantize's scalar loop, by the steps of
 * qquantize-avx512.h in 4 ymm: vmaxps(|v|, running max) skips a NaN as `amax < a` does and the max is
 * exact in any order; d and 1/d in scalar code; t = v·(1/d) clamped by vminps(t, 127), vmaxps(t, −127)
 * (a NaN t becomes 127); halves rounded away from zero from the exact fraction t − trunc(t).
 */
static inline float quant_block(const float *row, const int32_t *perm, int b, uint8_t *dst) {
  const int j = b * 32;
  __m256 v[4];
  for (int h = 0; h < 4; h++)
    v[h] = perm ? _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i *)(perm + j + 8 * h)), 4)
                : _mm256_loadu_ps(row + j + 8 * h);
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 amax = _mm256_setzero_ps();
  for (int h = 0; h < 4; h++) amax = _mm256_max_ps(_mm256_and_ps(v[h], absmask), amax);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  const float d = _mm_cvtss_f32(m) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i q[4];
  for (int h = 0; h < 4; h++) {
    __m256 t = _mm256_mul_ps(v[h], vid);
    t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
    const __m256i r = _mm256_cvttps_epi32(t);
    const __m256 f = _mm256_sub_ps(t, _mm256_cvtepi32_ps(r));
    const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
    const __m256i down = _mm256_castps_si256(_mm256_cmp_ps(f, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));
    q[h] = _mm256_add_epi32(_mm256_sub_epi32(r, up), down); /* masks are −1: r + 1 where up, r − 1 down */
  }
  /* 4 x 8 int32 (all within ±127) -> 32 int8 in order: the packs interleave 128-bit lanes, the permute
   * puts the 4-value groups back */
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  const __m256i o = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256((__m256i *)dst, _mm256_xor_si256(o, _mm256_set1_epi8((char)0x80))); /* q + 128 */
  return d;
}

void mc_qprefill_quantize_avx2(int bits, int M, int K, const float *x, long ldx, const int32_t *perm, uint8_t *xa,
                               float *xd, int32_t *xn) {
  (void)bits, (void)xn; /* no block sums: the seeds hold the zero point */
  const int B = K / MC_QBLOCK;
  for (long m = 0; m < M; m++)
    for (int b = 0; b < B; b++) xd[m * B + b] = quant_block(x + m * ldx, perm, b, xa + m * K + 32 * b);
}
