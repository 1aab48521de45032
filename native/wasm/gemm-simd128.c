/*
 * WASM SIMD128 GEMM family: a 4x8 register tile (8 f32x4 accumulators), GEMV row streams (f32, and
 * bf16 widened in registers), and the skinny kernel for 2..4 rows of batched
 * decode. Standard SIMD128 has no fused multiply-add, so products are rounded before each add, as in
 * the portable C (which this file matches bit for bit in the GEMM tile).
 */
#include <wasm_simd128.h>

#include "../src/internal.h"
#include "../src/pack-generic.h"
#include "gemv-simd128.h"

#define MR 4
#define NR 8

static void pack_a(const float *A, long rs, long cs, int m, int k, void *dst) {
  pack_panels_f32(A, rs, cs, m, k, MR, dst);
}
static void pack_b(const void *B, long rs, long cs, int k, int n, void *dst) {
  pack_panels_f32(B, cs, rs, n, k, NR, dst);
}
static void pack_b_bf16(const void *B, long rs, long cs, int k, int n, void *dst) {
  pack_panels_bf16_f32(B, cs, rs, n, k, NR, dst);
}

static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta, int m, int n) {
  const float *a = a_, *b = b_;
  v128_t c0[MR], c1[MR];
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = wasm_f32x4_splat(0.0f);
  for (int p = 0; p < kp; p++, a += MR, b += NR) {
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    for (int i = 0; i < MR; i++) {
      const v128_t ai = wasm_v128_load32_splat(a + i);
      c0[i] = wasm_f32x4_add(c0[i], wasm_f32x4_mul(ai, b0));
      c1[i] = wasm_f32x4_add(c1[i], wasm_f32x4_mul(ai, b1));
    }
  }
  const v128_t va = wasm_f32x4_splat(alpha), vb = wasm_f32x4_splat(beta);
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue;
    float *c = C + i * ldc;
    v128_t r0 = wasm_f32x4_mul(va, c0[i]), r1 = wasm_f32x4_mul(va, c1[i]);
    if (n == NR) {
      if (beta != 0.0f) {
        r0 = wasm_f32x4_add(r0, wasm_f32x4_mul(vb, wasm_v128_load(c)));
        r1 = wasm_f32x4_add(r1, wasm_f32x4_mul(vb, wasm_v128_load(c + 4)));
      }
      wasm_v128_store(c, r0);
      wasm_v128_store(c + 4, r1);
    } else { /* edge tile: through a row buffer */
      float t[NR];
      wasm_v128_store(t, r0);
      wasm_v128_store(t + 4, r1);
      for (int j = 0; j < n; j++) c[j] = beta == 0.0f ? t[j] : t[j] + beta * c[j];
    }
  }
}

const mc_gemm_impl mc_sgemm_simd128 = {"simd128 4x8", MR, NR, 256, 64, 2048, 1, 4, pack_a, pack_b, ukr};
const mc_gemm_impl mc_bf16_simd128 = {"simd128 4x8 bf16->f32", MR, NR, 256, 64, 2048, 1, 4, pack_a, pack_b_bf16, ukr};

#define hsum mc_hsum_simd128
#define widen8 mc_widen8_simd128

static inline float finish(float acc, float alpha, float beta, float y) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * y;
}


/* R rows of W against x, 8 columns a step with two accumulators per row. The callers use R = 1: in V8,
 * 4 interleaved row streams measured 2-4x slower than one (3.6-3.9 vs 7.0-7.4 GB/s, 8192x256 f32 GEMV,
 * one thread), below even the portable loop (6.6-6.8). */
static inline __attribute__((always_inline)) void gemv_rows(int R, int bf16, int k, float alpha, const void *W_,
                                                            long ldw, const float *x, float beta, float *y) {
  v128_t s0[4], s1[4];
  for (int r = 0; r < R; r++) s0[r] = s1[r] = wasm_f32x4_splat(0.0f);
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    const v128_t x0 = wasm_v128_load(x + p), x1 = wasm_v128_load(x + p + 4);
    for (int r = 0; r < R; r++) {
      v128_t w0, w1;
      if (bf16) widen8((const uint16_t *)W_ + r * ldw + p, &w0, &w1);
      else {
        w0 = wasm_v128_load((const float *)W_ + r * ldw + p);
        w1 = wasm_v128_load((const float *)W_ + r * ldw + p + 4);
      }
      s0[r] = wasm_f32x4_add(s0[r], wasm_f32x4_mul(w0, x0));
      s1[r] = wasm_f32x4_add(s1[r], wasm_f32x4_mul(w1, x1));
    }
  }
  for (int r = 0; r < R; r++) {
    float acc = hsum(wasm_f32x4_add(s0[r], s1[r]));
    for (int q = p; q < k; q++)
      acc += (bf16 ? mc_bf16_to_f32(((const uint16_t *)W_)[r * ldw + q]) : ((const float *)W_)[r * ldw + q]) * x[q];
    y[r] = finish(acc, alpha, beta, y[r]);
  }
}

void mc_gemv_t_simd128(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta, float *y) {
  for (int j = 0; j < n; j++) gemv_rows(1, 0, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
}

void mc_gemv_bf16_simd128(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x, float beta,
                          float *y) {
  for (int j = 0; j < n; j++) gemv_rows(1, 1, k, alpha, W + (long)j * ldw, ldw, x, beta, y + j);
}

/* C[m, j] for 2 <= m <= 4 rows of X against row j of W: each W row is read once for all m rows. */
static inline __attribute__((always_inline)) void skinny(int bf16, int m, int n, int k, float alpha, const float *X,
                                                         long ldx, const void *W_, long ldw, float beta, float *C,
                                                         long ldc) {
  for (int j = 0; j < n; j++) {
    v128_t s[MC_SKINNY_M];
    for (int i = 0; i < MC_SKINNY_M; i++) s[i] = wasm_f32x4_splat(0.0f);
    int p = 0;
    for (; p + 8 <= k; p += 8) {
      v128_t w0, w1;
      if (bf16) widen8((const uint16_t *)W_ + (long)j * ldw + p, &w0, &w1);
      else {
        w0 = wasm_v128_load((const float *)W_ + (long)j * ldw + p);
        w1 = wasm_v128_load((const float *)W_ + (long)j * ldw + p + 4);
      }
      for (int i = 0; i < m; i++) {
        const float *xr = X + (long)i * ldx + p;
        s[i] = wasm_f32x4_add(s[i], wasm_f32x4_add(wasm_f32x4_mul(w0, wasm_v128_load(xr)),
                                                   wasm_f32x4_mul(w1, wasm_v128_load(xr + 4))));
      }
    }
    for (int i = 0; i < m; i++) {
      float acc = hsum(s[i]);
      for (int q = p; q < k; q++) {
        const float w = bf16 ? mc_bf16_to_f32(((const uint16_t *)W_)[(long)j * ldw + q])
                             : ((const float *)W_)[(long)j * ldw + q];
        acc += w * X[(long)i * ldx + q];
      }
      float *c = C + (long)i * ldc + j;
      *c = finish(acc, alpha, beta, *c);
    }
  }
}

void mc_skinny_simd128(int m, int n, int k, float alpha, const float *X, long ldx, const void *W, long ldw,
                       float beta, float *C, long ldc) {
  skinny(0, m, n, k, alpha, X, ldx, W, ldw, beta, C, ldc);
}

void mc_skinny_bf16_simd128(int m, int n, int k, float alpha, const float *X, long ldx, const void *W, long ldw,
                            float beta, float *C, long ldc) {
  skinny(1, m, n, k, alpha, X, ldx, W, ldw, beta, C, ldc);
}
