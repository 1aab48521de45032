/*
 * AVX2 + FMA GEMM family for x86-64 CPUs without AVX-512: a 6x16 tile (12 ymm accumulators, the
 * classic Haswell shape), portable packers vectorized by the compiler, and simple GEMV streams.
 * Compiled with -mavx2 -mfma -mf16c.
 */
#include "internal.h"
#ifdef MC_X86
#include <immintrin.h>

#include "pack-generic.h"

#define MR 6
#define NR 16

static inline __m256i lanes(int n) {  /* mask of the first n of 8 lanes, for maskload/maskstore */
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* In-place transpose of 8 rows of 8 floats. */
static inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 2; g++) {
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

static inline __m256 row8_f32(const void *X, long si, int q, long p, __m256i m, int n) {
  (void)n;
  return _mm256_maskload_ps((const float *)X + (long)q * si + p, m);
}

/* 8 bf16 widened to f32 (the bf16 bits are the high half); n = valid elements, never read past. */
static inline __m256 row8_bf16(const void *X, long si, int q, long p, __m256i m, int n) {
  (void)m;
  const uint16_t *s = (const uint16_t *)X + (long)q * si + p;
  __m128i h;
  if (n >= 8) {
    h = _mm_loadu_si128((const __m128i *)s);
  } else {
    uint16_t t[8] = {0};
    for (int i = 0; i < n; i++) t[i] = s[i];
    h = _mm_loadu_si128((const __m128i *)t);
  }
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

typedef __m256 (*row8_fn)(const void *X, long si, int q, long p, __m256i m, int n);

/* dst[p*R + r] = row r of X at p, for r < rv, p < k (k contiguous in the source), zero rows up
 * to R: 8x8 blocks through registers instead of one strided scalar store per element. */
static inline void pack_transposed(row8_fn load, const void *X, long si, int rv, int k, int R,
                                   float *dst) {
  for (int r0 = 0; r0 < R; r0 += 8) {
    const int gv = MC_MIN(8, rv - r0), gw = MC_MIN(8, R - r0);
    const __m256i sm = lanes(gw);
    for (int p = 0; p < k; p += 8) {
      const __m256i lm = lanes(k - p);
      __m256 v[8];
      for (int q = 0; q < 8; q++) v[q] = q < gv ? load(X, si, r0 + q, p, lm, k - p) : _mm256_setzero_ps();
      transpose8(v);
      const int pc = MC_MIN(8, k - p);
      for (int t = 0; t < pc; t++) {
        if (gw == 8) _mm256_storeu_ps(dst + (size_t)(p + t) * R + r0, v[t]);
        else _mm256_maskstore_ps(dst + (size_t)(p + t) * R + r0, sm, v[t]);
      }
    }
  }
}

static void pack_a(const float *A, long rs, long cs, int m, int k, void *dst_) {
  float *dst = dst_;
  if (cs != 1) {
    pack_panels_f32(A, rs, cs, m, k, MR, dst);
    return;
  }
  for (int i0 = 0; i0 < m; i0 += MR, dst += (size_t)k * MR)
    pack_transposed(row8_f32, A + (long)i0 * rs, rs, MC_MIN(MR, m - i0), k, MR, dst);
}

static void pack_b(const void *B_, long rs, long cs, int k, int n, void *dst_) {
  const float *B = B_;
  float *dst = dst_;
  if (rs != 1) {
    pack_panels_f32(B, cs, rs, n, k, NR, dst);
    return;
  }
  for (int j0 = 0; j0 < n; j0 += NR, dst += (size_t)k * NR)
    pack_transposed(row8_f32, B + (long)j0 * cs, cs, MC_MIN(NR, n - j0), k, NR, dst);
}

/* bf16 weights: widened to f32 while packing, then the f32 kernel. */
static void pack_b_bf16(const void *B_, long rs, long cs, int k, int n, void *dst_) {
  const uint16_t *B = B_;
  float *dst = dst_;
  if (rs != 1) {
    pack_panels_bf16_f32(B, cs, rs, n, k, NR, dst);
    return;
  }
  for (int j0 = 0; j0 < n; j0 += NR, dst += (size_t)k * NR)
    pack_transposed(row8_bf16, B + (long)j0 * cs, cs, MC_MIN(NR, n - j0), k, NR, dst);
}

static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta,
                int m, int n) {
  const float *a = a_, *b = b_;
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < m; i++) {  /* C usually comes from L3: fetch it during the k loop */
    _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kp; p++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  /* Rows are stored with constant indices only, so the accumulators stay in registers. */
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue;
    float *c = C + i * ldc;
    __m256 r0 = _mm256_mul_ps(va, c0[i]), r1 = _mm256_mul_ps(va, c1[i]);
    if (n == NR) {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    } else {  /* edge tile: through a row buffer */
      float t[NR];
      _mm256_storeu_ps(t, r0);
      _mm256_storeu_ps(t + 8, r1);
      for (int j = 0; j < n; j++) c[j] = beta == 0.0f ? t[j] : t[j] + beta * c[j];
    }
  }
}

const mc_gemm_impl mc_sgemm_avx2 = {"avx2 6x16", MR, NR, 256, MR * 32, 4096, 1, 4, pack_a, pack_b, ukr};
const mc_gemm_impl mc_bf16_avx2 = {"avx2 6x16 bf16->f32", MR, NR, 256, MR * 32, 4096, 1, 4, pack_a,
                                   pack_b_bf16, ukr};

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float finish(float acc, float alpha, float beta, float y) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * y;
}

/* R rows of W at once (several concurrent streams keep reads in flight), 8 floats per step. */
static inline __attribute__((always_inline)) void gemv_t_rows(int R, int k, float alpha, const float *W,
                                                              long ldw, const float *x, float beta,
                                                              float *y) {
  __m256 s[8];
  for (int r = 0; r < R; r++) s[r] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    const __m256 xv = _mm256_loadu_ps(x + p);
    for (int r = 0; r < R; r++) s[r] = _mm256_fmadd_ps(_mm256_loadu_ps(W + r * ldw + p), xv, s[r]);
  }
  for (int r = 0; r < R; r++) {
    float acc = hsum(s[r]);
    for (int q = p; q < k; q++) acc += W[r * ldw + q] * x[q];
    y[r] = finish(acc, alpha, beta, y[r]);
  }
}

void mc_gemv_t_avx2(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta,
                    float *y) {
  int j = 0;
  for (; j + 8 <= n; j += 8) gemv_t_rows(8, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
  for (; j < n; j++) gemv_t_rows(1, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
}

/* y = x·B with B [K,N]: 8 rows of B per pass over a chunk of y, so y is read and written once per
 * 8 rows while the rows stream. */
void mc_gemv_n_avx2(int n, int k, float alpha, const float *B, long ldb, const float *x, float beta,
                    float *y) {
  enum { CH = 2048, RB = 8 };
  float *acc = mc_scratch(MC_SCRATCH_A, sizeof(float) * CH);
  if (!acc) return; /* out of memory: recorded for the binding (internal.h) */
  for (int j0 = 0; j0 < n; j0 += CH) {
    const int nc = MC_MIN(CH, n - j0);
    for (int j = 0; j < nc; j++) acc[j] = 0.0f;
    for (int p = 0; p < k; p += RB) {
      const int rb = MC_MIN(RB, k - p);
      const float *b = B + (long)p * ldb + j0;
      __m256 xs[RB];
      for (int r = 0; r < RB; r++) xs[r] = _mm256_set1_ps(r < rb ? x[p + r] : 0.0f);
      int j = 0;
      for (; j + 8 <= nc; j += 8) {
        __m256 s0 = _mm256_loadu_ps(acc + j), s1 = _mm256_setzero_ps();
        if (rb == RB) {
#pragma GCC unroll 8
          for (int r = 0; r < RB; r += 2) {
            s0 = _mm256_fmadd_ps(xs[r], _mm256_loadu_ps(b + r * ldb + j), s0);
            s1 = _mm256_fmadd_ps(xs[r + 1], _mm256_loadu_ps(b + (r + 1) * ldb + j), s1);
          }
        } else {
          for (int r = 0; r < rb; r++) s0 = _mm256_fmadd_ps(xs[r], _mm256_loadu_ps(b + r * ldb + j), s0);
        }
        _mm256_storeu_ps(acc + j, _mm256_add_ps(s0, s1));
      }
      for (; j < nc; j++)
        for (int r = 0; r < rb; r++) acc[j] += x[p + r] * b[r * ldb + j];
    }
    for (int j = 0; j < nc; j++) y[j0 + j] = finish(acc[j], alpha, beta, y[j0 + j]);
  }
}

static inline __attribute__((always_inline)) void gemv_bf16_rows(int R, int k, float alpha,
                                                                 const uint16_t *W, long ldw,
                                                                 const float *x, float beta, float *y) {
  __m256 s[8];
  for (int r = 0; r < R; r++) s[r] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    const __m256 xv = _mm256_loadu_ps(x + p);
    for (int r = 0; r < R; r++) {
      __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(W + r * ldw + p)));
      s[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), xv, s[r]);
    }
  }
  for (int r = 0; r < R; r++) {
    float acc = hsum(s[r]);
    for (int q = p; q < k; q++) acc += mc_bf16_to_f32(W[r * ldw + q]) * x[q];
    y[r] = finish(acc, alpha, beta, y[r]);
  }
}

void mc_gemv_bf16_avx2(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x,
                       float beta, float *y) {
  int j = 0;
  for (; j + 8 <= n; j += 8) gemv_bf16_rows(8, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
  for (; j < n; j++) gemv_bf16_rows(1, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
}
#endif
