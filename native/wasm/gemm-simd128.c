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
/* 4 vectors (4 rows' columns j..j+3) transposed: out[c] holds column c of every row. */
static inline void transpose4v(v128_t a, v128_t b, v128_t c, v128_t d, v128_t out[4]) {
  const v128_t ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
  const v128_t cd0 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), cd1 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
  out[0] = wasm_i64x2_shuffle(ab0, cd0, 0, 2);
  out[1] = wasm_i64x2_shuffle(ab0, cd0, 1, 3);
  out[2] = wasm_i64x2_shuffle(ab1, cd1, 0, 2);
  out[3] = wasm_i64x2_shuffle(ab1, cd1, 1, 3);
}

static inline void transpose4(const float *r0, const float *r1, const float *r2, const float *r3, v128_t out[4]) {
  transpose4v(wasm_v128_load(r0), wasm_v128_load(r1), wasm_v128_load(r2), wasm_v128_load(r3), out);
}

/* B = W[N, K] (rows of W are B's columns, cs = ldw, rs = 1: every Linear layer's weight). The generic
 * packer reads one row of W at a time and writes every 8th float: for a W far beyond the caches it
 * measured ~7 ns an element in Chromium (half of a 128x2304x2304 prefill GEMM). Here the 8 rows of a
 * panel are read side by side, 4 floats each, and two 4x4 transposes write whole vectors. */
static void pack_b(const void *B, long rs, long cs, int k, int n, void *dst) {
  if (rs != 1) {
    pack_panels_f32(B, cs, rs, n, k, NR, dst);
    return;
  }
  const float *W = B;
  float *d = dst;
  int j = 0;
  for (; j + NR <= n; j += NR, d += (size_t)k * NR) {
    const float *w[NR];
    for (int r = 0; r < NR; r++) w[r] = W + (long)(j + r) * cs;
    int p = 0;
    for (; p + 4 <= k; p += 4) {
      v128_t lo[4], hi[4];
      transpose4(w[0] + p, w[1] + p, w[2] + p, w[3] + p, lo);
      transpose4(w[4] + p, w[5] + p, w[6] + p, w[7] + p, hi);
      for (int c = 0; c < 4; c++) {
        wasm_v128_store(d + (size_t)(p + c) * NR, lo[c]);
        wasm_v128_store(d + (size_t)(p + c) * NR + 4, hi[c]);
      }
    }
    for (; p < k; p++)
      for (int r = 0; r < NR; r++) d[(size_t)p * NR + r] = w[r][p];
  }
  if (j < n) pack_panels_f32(W + (long)j * cs, cs, 1, n - j, k, NR, d); /* the last, partial panel */
}
/* The same for bf16 W[N, K], widened while packing (exact): 8 k a step, two transposes per half. */
static void pack_b_bf16(const void *B, long rs, long cs, int k, int n, void *dst) {
  if (rs != 1) {
    pack_panels_bf16_f32(B, cs, rs, n, k, NR, dst);
    return;
  }
  const uint16_t *W = B;
  float *d = dst;
  int j = 0;
  for (; j + NR <= n; j += NR, d += (size_t)k * NR) {
    const uint16_t *w[NR];
    for (int r = 0; r < NR; r++) w[r] = W + (long)(j + r) * cs;
    int p = 0;
    for (; p + 8 <= k; p += 8) {
      v128_t lo[NR], hi[NR], t[4];
      for (int r = 0; r < NR; r++) mc_widen8_simd128(w[r] + p, &lo[r], &hi[r]);
      for (int h = 0; h < 2; h++) {
        const v128_t *v = h ? hi : lo; /* k p..p+3, then p+4..p+7 */
        float *o = d + (size_t)(p + 4 * h) * NR;
        transpose4v(v[0], v[1], v[2], v[3], t);
        for (int c = 0; c < 4; c++) wasm_v128_store(o + c * NR, t[c]);
        transpose4v(v[4], v[5], v[6], v[7], t);
        for (int c = 0; c < 4; c++) wasm_v128_store(o + c * NR + 4, t[c]);
      }
    }
    for (; p < k; p++)
      for (int r = 0; r < NR; r++) d[(size_t)p * NR + r] = mc_bf16_to_f32(w[r][p]);
  }
  if (j < n) pack_panels_bf16_f32(W + (long)j * cs, cs, 1, n - j, k, NR, d); /* the last, partial panel */
}

/* One k step of the tile: 2 vectors of b, 4 splats of a, 8 products added to their sums. */
#define STEP(A0, A1, A2, A3, B0, B1)                                                        \
  do {                                                                                      \
    const v128_t b0 = wasm_v128_load(B0), b1 = wasm_v128_load(B1);                          \
    v128_t ai = wasm_v128_load32_splat(A0);                                                 \
    c0[0] = wasm_f32x4_add(c0[0], wasm_f32x4_mul(ai, b0));                                  \
    c1[0] = wasm_f32x4_add(c1[0], wasm_f32x4_mul(ai, b1));                                  \
    ai = wasm_v128_load32_splat(A1);                                                        \
    c0[1] = wasm_f32x4_add(c0[1], wasm_f32x4_mul(ai, b0));                                  \
    c1[1] = wasm_f32x4_add(c1[1], wasm_f32x4_mul(ai, b1));                                  \
    ai = wasm_v128_load32_splat(A2);                                                        \
    c0[2] = wasm_f32x4_add(c0[2], wasm_f32x4_mul(ai, b0));                                  \
    c1[2] = wasm_f32x4_add(c1[2], wasm_f32x4_mul(ai, b1));                                  \
    ai = wasm_v128_load32_splat(A3);                                                        \
    c0[3] = wasm_f32x4_add(c0[3], wasm_f32x4_mul(ai, b0));                                  \
    c1[3] = wasm_f32x4_add(c1[3], wasm_f32x4_mul(ai, b1));                                  \
  } while (0)

/* p with its low bits (known zero) cleared, plus off: clang emits `p & -m` once and folds each off
 * into the load's constant offset, as it cannot for p + off (wasm32 adds may wrap), where every load
 * cost V8 an extra add; the tile is front-end bound without FMA (22 vector ops a k step). */
#define AT(p, m, off) ((const float *)(((uintptr_t)(p) & ~(uintptr_t)(m)) + (off)))

static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta, int m, int n) {
  const float *a = a_, *b = b_;
  v128_t c0[MR], c1[MR];
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = wasm_f32x4_splat(0.0f);
  int p = 0;
  if (!((uintptr_t)a & 15) && !((uintptr_t)b & 31))
    for (; p < kp; p++, a += MR, b += NR)
      STEP(AT(a, 15, 0), AT(a, 15, 4), AT(a, 15, 8), AT(a, 15, 12), AT(b, 31, 0), AT(b, 31, 16));
  for (; p < kp; p++, a += MR, b += NR) STEP(a, a + 1, a + 2, a + 3, b, b + 4);
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

/* One row of W at a time (gemv-simd128.h). In V8, 4 interleaved row streams measured 2-4x slower than
 * one (3.6-3.9 vs 7.0-7.4 GB/s, 8192x256 f32 GEMV, one thread), below even the portable loop. */
void mc_gemv_t_simd128(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta, float *y) {
  for (int j = 0; j < n; j++) mc_gemv_group_simd128(1, 0, k, W + (long)j * ldw, x, 0, alpha, beta, y + j, 0);
}

void mc_gemv_bf16_simd128(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x, float beta,
                          float *y) {
  for (int j = 0; j < n; j++) mc_gemv_group_simd128(1, 1, k, W + (long)j * ldw, x, 0, alpha, beta, y + j, 0);
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
