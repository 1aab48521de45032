/*
 * One 32-value block of an activation row quantized to int8 with AVX-512, bit-identical to mc_qquantize's
 * scalar loop (qmatmul.c) — shared by the decode quantizer (qquantize-avx512.c) and the prefill one
 * (qprefill-avx512vnni.c), which differ only in how they store the codes:
 *  - amax: vmaxps(|v|, running max) returns the running max when |v| is NaN, as the scalar `amax < a`
 *    does, and the max of the 16 lanes is exact in any order;
 *  - d = amax / 127 and 1/d in scalar code, as there;
 *  - t = v · (1/d) clamped by vminps(t, 127) then vmaxps(t, −127) (a NaN t becomes 127, as there);
 *  - round half away from zero: truncate, exact fraction (t is within ±127, so the truncation is exact
 *    in f32), ±1 where the fraction reaches ±0.5.
 * Include only from files compiled with -mavx512f.
 */
#ifndef MC_QQUANTIZE_AVX512_H
#define MC_QQUANTIZE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

/* Block b of `row` (gathered through perm[32b..] when perm is set): codes in r[0] (values 0..15) and
 * r[1] (16..31) as int32 lanes; returns the block's scale d. */
static inline float mc_qquantize_block_avx512(const float *row, const int32_t *perm, int b, __m512i r[2]) {
  const int j = b * 32;
  __m512 v[2];
  if (perm) {
    v[0] = _mm512_i32gather_ps(_mm512_loadu_si512(perm + j), row, 4);
    v[1] = _mm512_i32gather_ps(_mm512_loadu_si512(perm + j + 16), row, 4);
  } else {
    v[0] = _mm512_loadu_ps(row + j);
    v[1] = _mm512_loadu_ps(row + j + 16);
  }
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 amax = _mm512_max_ps(_mm512_and_ps(v[0], absmask), _mm512_setzero_ps());
  amax = _mm512_max_ps(_mm512_and_ps(v[1], absmask), amax);
  const float d = _mm512_reduce_max_ps(amax) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m512 vid = _mm512_set1_ps(id);
  const __m512i one = _mm512_set1_epi32(1);
  for (int h = 0; h < 2; h++) {
    __m512 t = _mm512_mul_ps(v[h], vid);
    t = _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-127.0f));
    __m512i q = _mm512_cvttps_epi32(t);
    const __m512 f = _mm512_sub_ps(t, _mm512_cvtepi32_ps(q));
    q = _mm512_mask_add_epi32(q, _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ), q, one);
    r[h] = _mm512_mask_sub_epi32(q, _mm512_cmp_ps_mask(f, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), q, one);
  }
  return d;
}

#endif
