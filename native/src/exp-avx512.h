/*
 * e^x for 16 f32 lanes, shared by the AVX-512 softmax loops of attention (prefill and decode), and the
 * softmax of one row of scores built on it: x = n·ln2 + r
 * with |r| ≤ ln2/2 (Cody–Waite split of ln 2, nn-impl.h's constants), e^r by a degree-6 polynomial
 * (relative error ~2 ulp), 2^n through the exponent field; lanes below −87.3 give 0 (a score of −inf
 * included), and a NaN stays NaN (the clamp would turn it into e^−87.3: a NaN key or query must reach
 * the attention output as it does through the f32 path, not vanish into a near-zero weight).
 * Include only from files compiled with -mavx512f.
 */
#ifndef MC_EXP_AVX512_H
#define MC_EXP_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "avx512-util.h"

static inline __m512 mc_exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3365447505531f), hi = _mm512_set1_ps(88.3762626647949f);
  const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_maskz_mul_ps((__mmask16)~under, p, _mm512_castsi512_ps(e));
  return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/* Row P[0:n) of scores in place to exp(x − max), zero on [n, nz); returns Σ and writes the max. A NaN
 * score is skipped by the max (vmaxps returns its second operand when either is NaN, as a scalar max
 * skips it) and stays NaN through mc_exp16, so Σ is NaN; n = 0 gives −inf and Σ = 0. */
static inline float mc_softmax_row16(float *P, int n, int nz, float *max) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int s = 0; s < n; s += 16) m = _mm512_max_ps(_mm512_mask_loadu_ps(m, mask16(n - s), P + s), m);
  const float mx = _mm512_reduce_max_ps(m);
  const __m512 mv = _mm512_set1_ps(mx);
  __m512 sum = _mm512_setzero_ps();
  for (int s = 0; s < n; s += 16) {
    const __mmask16 k = mask16(n - s);
    const __m512 e = _mm512_maskz_mov_ps(k, mc_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, P + s), mv)));
    sum = _mm512_add_ps(sum, e);
    _mm512_mask_storeu_ps(P + s, k, e);
  }
  if (nz > n) memset(P + n, 0, sizeof(float) * (size_t)(nz - n));
  *max = mx;
  return _mm512_reduce_add_ps(sum);
}

#endif
