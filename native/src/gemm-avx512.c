/*
 * AVX-512 f32 GEMM family: packers, the 8 x 32 micro-kernel, the GEMV streams (f32 and bf16
 * weights, M = 1; the bf16 dot product is gemv-bf16-avx512.h's) and the skinny kernels (M = 2..4).
 * Compiled with -mavx512f -mavx512bw -mavx512vl
 * -mavx512dq -mfma; entered only when the CPU has them.
 */
#include "internal.h"
#ifdef MC_X86
#include "avx512-util.h"
#include "gemv-bf16-avx512.h"
#include "pack-generic.h"

#ifndef MR
#define MR 8 /* 8x32: 16 accumulators, enough to cover FMA latency on Zen 4 and Zen 5 */
#endif
#define NR 32

static void pack_a(const float *A, long rs, long cs, int m, int k, void *dst_) {
  float *dst = dst_;
  for (int i0 = 0; i0 < m; i0 += MR, dst += (size_t)k * MR) {
    const int rv = MC_MIN(MR, m - i0);
    if (cs == 1) pack_transposed(row16_f32, 4, 1, A + (long)i0 * rs, rs, rv, k, MR, dst);
    else if (rs == 1) pack_copy(A + i0, cs, rv, k, MR, dst);
    else pack_panels_f32(A + (long)i0 * rs, rs, cs, rv, k, MR, dst);
  }
}

static void pack_b(const void *B_, long rs, long cs, int k, int n, void *dst_) {
  const float *B = B_;
  float *dst = dst_;
  for (int j0 = 0; j0 < n; j0 += NR, dst += (size_t)k * NR) {
    const int nv = MC_MIN(NR, n - j0);
    if (cs == 1) pack_copy(B + j0, rs, nv, k, NR, dst);
    else if (rs == 1) pack_transposed(row16_f32, 4, 1, B + (long)j0 * cs, cs, nv, k, NR, dst);
    else pack_panels_f32(B + (long)j0 * cs, cs, rs, nv, k, NR, dst);
  }
}

/* bf16 weights on a CPU without vdpbf16ps: widen while packing, then the f32 kernel. */
static void pack_b_bf16(const void *B_, long rs, long cs, int k, int n, void *dst_) {
  const uint16_t *B = B_;
  float *dst = dst_;
  for (int j0 = 0; j0 < n; j0 += NR, dst += (size_t)k * NR) {
    const int nv = MC_MIN(NR, n - j0);
    if (rs == 1) pack_transposed(row16_bf16_f32, 2, 1, B + (long)j0 * cs, cs, nv, k, NR, dst);
    else pack_panels_bf16_f32(B + (long)j0 * cs, cs, rs, nv, k, NR, dst);
  }
}

/* The MR x 32 tile: 2*MR accumulators, 2 loads of B and MR broadcasts of A per k. */
static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta,
                int m, int n) {
  const float *a = a_, *b = b_;
  __m512 c0[MR], c1[MR];
  /* C usually comes from L3 (it is only touched once per KC block): start fetching it now so the
   * stores at the end do not stall. A row of the tile spans at most three cache lines. */
  for (int i = 0; i < m; i++) {
    _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + i * ldc + 16), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kp; p++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = mask16(n), m1 = mask16(n - 16);
  if (n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      if (i >= m) continue;
      float *c = C + i * ldc;
      if (beta == 0.0f) {
        _mm512_storeu_ps(c, _mm512_mul_ps(va, c0[i]));
        _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, c1[i]));
      } else {
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
        _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
      }
    }
  } else {
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
}

/* Cache blocks (elements; -D overrides are for tuning runs). Measured on Zen 4 (32 KB L1d, 1 MB L2
 * per core, 32 MB L3): KC 384 beats 256 (fewer passes over C) while the B micro-panel (48 KB)
 * streams from L2 without stalls; the A block (192 x 384, 288 KB) stays in L2; the B block
 * (384 x 4096, 6 MB) in L3. KC 128 costs 15-20%, MC and NC matter little. */
#ifndef KC
#define KC 384
#endif
#ifndef MCB
#define MCB (MR * 24)
#endif
#ifndef NC
#define NC 4096
#endif

const mc_gemm_impl mc_sgemm_avx512 = {"avx512 8x32", MR, NR, KC, MCB, NC, 1, 4, pack_a, pack_b, ukr};
const mc_gemm_impl mc_bf16_avx512 = {"avx512 8x32 bf16->f32", MR, NR, KC, MCB, NC, 1, 4, pack_a,
                                     pack_b_bf16, ukr};

/* ---- GEMV (M = 1): stream the weights once, several rows at a time ---- */

static inline float finish(float acc, float alpha, float beta, float y) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * y;
}

/* One row at a time, in memory order: when ldw == k the weights are read as a single sequential
 * stream, which the Zen 4 prefetchers follow best (measured, one core: 29 GB/s for one stream against
 * 25 GB/s for 8 interleaved row streams with software prefetch; 2 rows at a time is worse still).
 * x stays in L1. Four accumulators over 64 floats per step cover the FMA latency. */
#ifndef GEMV_NT
#define GEMV_NT 1
#endif
/* Weight lines are used once: an aligned row is read with vmovntdqa (a streaming hint). */
static inline __m512 ld_w(const void *p, int nt) {
  return nt ? _mm512_castsi512_ps(_mm512_stream_load_si512((void *)p)) : _mm512_loadu_ps(p);
}

static inline __attribute__((always_inline)) float gemv_t_row_(int k, const float *w, const float *x, int nt) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int p = 0;
  for (; p + 64 <= k; p += 64) {
    s0 = _mm512_fmadd_ps(ld_w(w + p, nt), _mm512_loadu_ps(x + p), s0);
    s1 = _mm512_fmadd_ps(ld_w(w + p + 16, nt), _mm512_loadu_ps(x + p + 16), s1);
    s2 = _mm512_fmadd_ps(ld_w(w + p + 32, nt), _mm512_loadu_ps(x + p + 32), s2);
    s3 = _mm512_fmadd_ps(ld_w(w + p + 48, nt), _mm512_loadu_ps(x + p + 48), s3);
  }
  for (; p < k; p += 16) {
    const __mmask16 m = mask16(k - p);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + p), _mm512_maskz_loadu_ps(m, x + p), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline float gemv_t_row(int k, const float *w, const float *x) {
  if (GEMV_NT && ((uintptr_t)w & 63) == 0) return gemv_t_row_(k, w, x, 1);
  return gemv_t_row_(k, w, x, 0);
}

void mc_gemv_t_avx512(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta,
                      float *y) {
  for (int j = 0; j < n; j++) y[j] = finish(gemv_t_row(k, W + (long)j * ldw, x), alpha, beta, y[j]);
}

/* y = x·B with B [K,N]: RB rows of B per pass over a chunk of y kept in L1, so y is read and written
 * once per RB rows while RB row streams run concurrently (more streams, more reads in flight). */
void mc_gemv_n_avx512(int n, int k, float alpha, const float *B, long ldb, const float *x, float beta,
                      float *y) {
  enum { CH = 2048, RB = 8 };
  float *acc = mc_scratch(MC_SCRATCH_A, sizeof(float) * CH);
  if (!acc) return; /* out of memory: recorded for the binding (internal.h) */
  for (int j0 = 0; j0 < n; j0 += CH) {
    const int nc = MC_MIN(CH, n - j0);
    memset(acc, 0, sizeof(float) * (size_t)nc);
    for (int p = 0; p < k; p += RB) {
      const int rb = MC_MIN(RB, k - p);
      const float *b = B + (long)p * ldb + j0;
      __m512 xs[RB];
      for (int r = 0; r < RB; r++) xs[r] = _mm512_set1_ps(r < rb ? x[p + r] : 0.0f);
      if (rb == RB) {
        for (int j = 0; j < nc; j += 16) {
          const __mmask16 m = mask16(nc - j);
          __m512 s0 = _mm512_maskz_loadu_ps(m, acc + j), s1 = _mm512_setzero_ps();
#pragma GCC unroll 8
          for (int r = 0; r < RB; r += 2) {
            s0 = _mm512_fmadd_ps(xs[r], _mm512_maskz_loadu_ps(m, b + r * ldb + j), s0);
            s1 = _mm512_fmadd_ps(xs[r + 1], _mm512_maskz_loadu_ps(m, b + (r + 1) * ldb + j), s1);
          }
          _mm512_mask_storeu_ps(acc + j, m, _mm512_add_ps(s0, s1));
        }
      } else {
        for (int j = 0; j < nc; j += 16) {
          const __mmask16 m = mask16(nc - j);
          __m512 s = _mm512_maskz_loadu_ps(m, acc + j);
          for (int r = 0; r < rb; r++)
            s = _mm512_fmadd_ps(xs[r], _mm512_maskz_loadu_ps(m, b + r * ldb + j), s);
          _mm512_mask_storeu_ps(acc + j, m, s);
        }
      }
    }
    for (int j = 0; j < nc; j++) y[j0 + j] = finish(acc[j], alpha, beta, y[j0 + j]);
  }
}

/* bf16 rows: the dot product of gemv-bf16-avx512.h (exact f32 products, two accumulators per output in
 * K order), which the row-exact multi-row GEMV shares. One row at a time in memory order, as
 * gemv_t_row: the weights are one sequential stream, and the two chains' FMA latency (4 cycles per 32
 * weights) stays well under the time the row's 64-byte lines take to arrive from DRAM; keeping 2 to 6
 * rows in flight instead (more chains, as many weight streams) measured 30-45% slower. */
void mc_gemv_bf16_avx512(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x,
                         float beta, float *y) {
  const int kh = mc_bf16_half(k);
  float *xs = mc_scratch(MC_SCRATCH_A, sizeof(float) * (size_t)(2 * kh));
  if (!xs) return; /* out of memory: recorded for the binding (internal.h) */
  mc_bf16_split_x(k, x, xs);
  for (int j = 0; j < n; j++) {
    float acc;
    mc_bf16_tile(1, 1, k, W + (long)j * ldw, ldw, xs, 2 * kh, kh, &acc, 1, 0);
    y[j] = finish(acc, alpha, beta, y[j]);
  }
}

/* ---- skinny GEMM (2 <= m <= 4 rows of X against W[N,K]): each W row is loaded once and used
 * for every row of X, so batched decode streams the weights once, like the GEMV ---- */

static inline __attribute__((always_inline)) void skinny_rows(int R, int MM, int k, float alpha,
                                                              const float *X, long ldx, const float *W,
                                                              long ldw, float beta, float *C, long ldc) {
  __m512 s[16];
  for (int i = 0; i < R * MM; i++) s[i] = _mm512_setzero_ps();
  for (int p = 0; p < k; p += 16) {
    const __mmask16 msk = mask16(k - p);
    __m512 xv[MC_SKINNY_M];
    for (int i = 0; i < MM; i++) xv[i] = _mm512_maskz_loadu_ps(msk, X + i * ldx + p);
    for (int r = 0; r < R; r++) {
      /* registers allow only a few rows at once: prefetch the next R rows to keep twice as many
       * DRAM streams in flight (harmless past the end: prefetches never fault) */
      _mm_prefetch((const char *)(W + (r + R) * ldw + p), _MM_HINT_T0);
      const __m512 w = _mm512_maskz_loadu_ps(msk, W + r * ldw + p);
      for (int i = 0; i < MM; i++) s[r * MM + i] = _mm512_fmadd_ps(w, xv[i], s[r * MM + i]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int i = 0; i < MM; i++)
      C[i * ldc + r] = finish(_mm512_reduce_add_ps(s[r * MM + i]), alpha, beta, C[i * ldc + r]);
}

/* all columns, R rows of W at a time (R, MM constant after inlining) */
static inline __attribute__((always_inline)) void skinny_cols(int R, int MM, int n, int k, float alpha,
                                                              const float *X, long ldx, const float *W,
                                                              long ldw, float beta, float *C, long ldc) {
  int j = 0;
  for (; j + R <= n; j += R) skinny_rows(R, MM, k, alpha, X, ldx, W + (long)j * ldw, ldw, beta, C + j, ldc);
  for (; j < n; j++) skinny_rows(1, MM, k, alpha, X, ldx, W + (long)j * ldw, ldw, beta, C + j, ldc);
}

void mc_skinny_avx512(int m, int n, int k, float alpha, const float *X, long ldx, const void *W_,
                      long ldw, float beta, float *C, long ldc) {
  const float *W = W_;
  switch (m) {  /* R·m accumulators: at most 16 registers */
    case 2: skinny_cols(6, 2, n, k, alpha, X, ldx, W, ldw, beta, C, ldc); break;
    case 3: skinny_cols(4, 3, n, k, alpha, X, ldx, W, ldw, beta, C, ldc); break;
    case 4: skinny_cols(4, 4, n, k, alpha, X, ldx, W, ldw, beta, C, ldc); break;
    default:
      for (int i = 0; i < m; i++) mc_gemv_t_avx512(n, k, alpha, W, ldw, X + i * ldx, beta, C + i * ldc);
  }
}

/* bf16 weights: X split into even/odd columns once, then the word << 16 / word & 0xffff0000 trick. */
static inline __attribute__((always_inline)) void skinny_bf16_rows(int R, int MM, int k, float alpha,
                                                                   const float *xs, int kh2,
                                                                   const uint16_t *W, long ldw,
                                                                   float beta, float *C, long ldc) {
  const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
  __m512 s[16];
  for (int i = 0; i < R * MM; i++) s[i] = _mm512_setzero_ps();
  for (int p = 0; p < k; p += 32) {
    const __mmask32 m = mask32(k - p);
    __m512 xe[MC_SKINNY_M], xo[MC_SKINNY_M];
    for (int i = 0; i < MM; i++) {  /* zero padded past k in the scratch copy */
      xe[i] = _mm512_loadu_ps(xs + i * 2 * kh2 + p / 2);
      xo[i] = _mm512_loadu_ps(xs + i * 2 * kh2 + kh2 + p / 2);
    }
    for (int r = 0; r < R; r++) {
      _mm_prefetch((const char *)(W + (r + R) * ldw + p), _MM_HINT_T0);  /* as in skinny_rows */
      const __m512i v = _mm512_maskz_loadu_epi16(m, W + r * ldw + p);
      const __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      const __m512 up = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
      for (int i = 0; i < MM; i++) {
        s[r * MM + i] = _mm512_fmadd_ps(lo, xe[i], s[r * MM + i]);
        s[r * MM + i] = _mm512_fmadd_ps(up, xo[i], s[r * MM + i]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int i = 0; i < MM; i++)
      C[i * ldc + r] = finish(_mm512_reduce_add_ps(s[r * MM + i]), alpha, beta, C[i * ldc + r]);
}

static inline __attribute__((always_inline)) void skinny_bf16_cols(int R, int MM, int n, int k,
                                                                   float alpha, const float *xs, int kh2,
                                                                   const uint16_t *W, long ldw,
                                                                   float beta, float *C, long ldc) {
  int j = 0;
  for (; j + R <= n; j += R) skinny_bf16_rows(R, MM, k, alpha, xs, kh2, W + (long)j * ldw, ldw, beta, C + j, ldc);
  for (; j < n; j++) skinny_bf16_rows(1, MM, k, alpha, xs, kh2, W + (long)j * ldw, ldw, beta, C + j, ldc);
}

void mc_skinny_bf16_avx512(int m, int n, int k, float alpha, const float *X, long ldx, const void *W_,
                           long ldw, float beta, float *C, long ldc) {
  const uint16_t *W = W_;
  /* per row of X: even columns then odd columns, each kh2 floats (k/2 rounded up to 16, zero filled) */
  const int kh2 = MC_CEIL(MC_CEIL(k, 2), 16) * 16;
  float *xs = mc_scratch(MC_SCRATCH_A, sizeof(float) * (size_t)(2 * kh2 * m));
  if (!xs) return; /* out of memory: recorded for the binding (internal.h) */
  for (int i = 0; i < m; i++) {
    float *xe = xs + i * 2 * kh2, *xo = xe + kh2;
    for (int q = 0; q < kh2; q++) {
      xe[q] = 2 * q < k ? X[i * ldx + 2 * q] : 0.0f;
      xo[q] = 2 * q + 1 < k ? X[i * ldx + 2 * q + 1] : 0.0f;
    }
  }
  switch (m) {
    case 2: skinny_bf16_cols(4, 2, n, k, alpha, xs, kh2, W, ldw, beta, C, ldc); break;
    case 3: skinny_bf16_cols(4, 3, n, k, alpha, xs, kh2, W, ldw, beta, C, ldc); break;
    case 4: skinny_bf16_cols(3, 4, n, k, alpha, xs, kh2, W, ldw, beta, C, ldc); break;
    default:
      for (int i = 0; i < m; i++) mc_gemv_bf16_avx512(n, k, alpha, W, ldw, X + i * ldx, beta, C + i * ldc);
  }
}

#endif
