/*
 * bf16 GEMM with vdpbf16ps (AVX512_BF16): C = A(f32)·Wᵀ(bf16). Both operands are packed as bf16
 * pairs along k, so one vdpbf16ps does 16 lanes x 2 k-steps. A is rounded to bf16 (round to
 * nearest even) while packing: products of two bf16 are exact in f32 and accumulate in f32, so the
 * only extra error against an f32 GEMM is that rounding of A (relative 2^-9 per element).
 * Compiled with -mavx512bf16 on top of the AVX-512 flags.
 */
#include "internal.h"
#ifdef MC_X86
#include "avx512-util.h"
#include "convert-bf16.h"

#ifndef MR
#define MR 8
#endif
#define NR 32

/* Panels of R rows, k-pairs major: word (q, r) = (X(r, 2q), X(r, 2q+1)) as bf16, zero padded. */
static void pack_a(const float *A, long rs, long cs, int m, int k, void *dst_) {
  uint32_t *dst = dst_;
  const int kh = MC_CEIL(k, 2);
  for (int i0 = 0; i0 < m; i0 += MR, dst += (size_t)kh * MR) {
    const int rv = MC_MIN(MR, m - i0);
    const float *X = A + (long)i0 * rs;
    if (cs != 1) {  /* not produced by our entry points; kept correct, not fast */
      uint16_t *d = (uint16_t *)dst;
      for (int q = 0; q < kh; q++)
        for (int r = 0; r < MR; r++)
          for (int e = 0; e < 2; e++) {
            int p = 2 * q + e;
            d[((size_t)q * MR + r) * 2 + e] = r < rv && p < k ? mc_f32_to_bf16(X[r * rs + (long)p * cs]) : 0;
          }
      continue;
    }
    for (int r0 = 0; r0 < MR; r0 += 16) {
      const __mmask16 sm = mask16(MR - r0);
      const int gv = MC_MIN(16, rv - r0);
      for (int q0 = 0; q0 < kh; q0 += 16) {
        const int p = 2 * q0;
        const __mmask16 l0 = mask16(k - p), l1 = mask16(k - p - 16);
        __m512 v[16];
        for (int q = 0; q < 16; q++) {
          if (q < gv) {
            const float *s = X + (long)(r0 + q) * rs + p;
            __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(l1, s + 16), _mm512_maskz_loadu_ps(l0, s));
            v[q] = (__m512)h;
          } else {
            v[q] = _mm512_setzero_ps();
          }
        }
        transpose16(v);
        const int qc = MC_MIN(16, kh - q0);
        for (int t = 0; t < qc; t++) _mm512_mask_storeu_ps(dst + (size_t)(q0 + t) * MR + r0, sm, v[t]);
      }
    }
  }
}

/* W [N,K] bf16 (rs == 1, cs == ldw): the same pair layout for NR columns (rows of W). */
static void pack_b(const void *B_, long rs, long cs, int k, int n, void *dst_) {
  const uint16_t *B = B_;
  uint32_t *dst = dst_;
  const int kh = MC_CEIL(k, 2);
  for (int j0 = 0; j0 < n; j0 += NR, dst += (size_t)kh * NR) {
    const int nv = MC_MIN(NR, n - j0);
    const uint16_t *X = B + (long)j0 * cs;
    if (rs != 1) {
      uint16_t *d = (uint16_t *)dst;
      for (int q = 0; q < kh; q++)
        for (int r = 0; r < NR; r++)
          for (int e = 0; e < 2; e++) {
            int p = 2 * q + e;
            d[((size_t)q * NR + r) * 2 + e] = r < nv && p < k ? X[r * cs + (long)p * rs] : 0;
          }
      continue;
    }
    for (int r0 = 0; r0 < NR; r0 += 16) {
      const int gv = MC_MIN(16, nv - r0);
      for (int q0 = 0; q0 < kh; q0 += 16) {
        const int p = 2 * q0;
        const __mmask32 lm = mask32(k - p);
        __m512 v[16];
        for (int q = 0; q < 16; q++)
          v[q] = q < gv ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(lm, X + (long)(r0 + q) * cs + p))
                        : _mm512_setzero_ps();
        transpose16(v);
        const int qc = MC_MIN(16, kh - q0);
        for (int t = 0; t < qc; t++) _mm512_storeu_ps(dst + (size_t)(q0 + t) * NR + r0, v[t]);
      }
    }
  }
}

static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta,
                int m, int n) {
  const uint32_t *a = a_;
  const __m512i *b = b_;
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < m; i++) {  /* C comes from L3: fetch it during the k loop */
    _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + i * ldc + 16), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int q = 0; q < kp / 2; q++) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 1);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
    a += MR;
    b += 2;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = mask16(n), m1 = mask16(n - 16);
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue;
    float *c = C + i * ldc;
    if (beta == 0.0f) {
      _mm512_mask_storeu_ps(c, m0, _mm512_mul_ps(va, c0[i]));
      _mm512_mask_storeu_ps(c + 16, m1, _mm512_mul_ps(va, c1[i]));
    } else {
      __m512 x0 = _mm512_maskz_loadu_ps(m0, c), x1 = _mm512_maskz_loadu_ps(m1, c + 16);
      _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, x0)));
      _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, x1)));
    }
  }
}

#ifndef KC2
#define KC2 512
#endif
#ifndef MCB2
#define MCB2 (MR * 24)
#endif
#ifndef NC2
#define NC2 4096
#endif

const mc_gemm_impl mc_bf16_avx512bf16 = {"avx512bf16 8x32", MR, NR, KC2, MCB2, NC2, 2, 2, pack_a, pack_b, ukr};

#endif
