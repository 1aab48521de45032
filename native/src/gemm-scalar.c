/*
 * Portable GEMM family: any CPU. A 4x8 register tile written so that compilers keep it in
 * registers and auto-vectorize the 8-wide rows (SSE2 on baseline x86-64, NEON on arm64).
 */
#include "internal.h"
#include "pack-generic.h"

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

static void ukr(int kp, const void *a_, const void *b_, float *C, long ldc, float alpha, float beta,
                int m, int n) {
  const float *a = a_, *b = b_;
  float acc[MR][NR] = {{0}};
  for (int p = 0; p < kp; p++, a += MR, b += NR)
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < m; i++) {
    float *c = C + i * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < n; j++) c[j] = alpha * acc[i][j];
    else
      for (int j = 0; j < n; j++) c[j] = alpha * acc[i][j] + beta * c[j];
  }
}

const mc_gemm_impl mc_sgemm_scalar = {"scalar 4x8", MR, NR, 256, 64, 2048, 1, 4, pack_a, pack_b, ukr};
const mc_gemm_impl mc_bf16_scalar = {"scalar 4x8 bf16->f32", MR, NR, 256, 64, 2048, 1, 4, pack_a,
                                     pack_b_bf16, ukr};

static inline float finish(float acc, float alpha, float beta, float y) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * y;
}

void mc_gemv_t_scalar(int n, int k, float alpha, const float *W, long ldw, const float *x, float beta,
                      float *y) {
  for (int j = 0; j < n; j++) {
    const float *w = W + (long)j * ldw;
    float s[8] = {0};
    int p = 0;
    for (; p + 8 <= k; p += 8)
      for (int u = 0; u < 8; u++) s[u] += w[p + u] * x[p + u];
    for (; p < k; p++) s[0] += w[p] * x[p];
    float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    y[j] = finish(acc, alpha, beta, y[j]);
  }
}

void mc_gemv_n_scalar(int n, int k, float alpha, const float *B, long ldb, const float *x, float beta,
                      float *y) {
  /* columns in chunks that stay in registers/L1 while the rows of B stream past */
  enum { CH = 256 };
  float acc[CH];
  for (int j0 = 0; j0 < n; j0 += CH) {
    const int nc = MC_MIN(CH, n - j0);
    for (int j = 0; j < nc; j++) acc[j] = 0.0f;
    for (int p = 0; p < k; p++) {
      const float *b = B + (long)p * ldb + j0;
      const float xp = x[p];
      for (int j = 0; j < nc; j++) acc[j] += xp * b[j];
    }
    for (int j = 0; j < nc; j++) y[j0 + j] = finish(acc[j], alpha, beta, y[j0 + j]);
  }
}

void mc_gemv_bf16_scalar(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x,
                         float beta, float *y) {
  for (int j = 0; j < n; j++) {
    const uint16_t *w = W + (long)j * ldw;
    float s[4] = {0};
    int p = 0;
    for (; p + 4 <= k; p += 4)
      for (int u = 0; u < 4; u++) s[u] += mc_bf16_to_f32(w[p + u]) * x[p + u];
    for (; p < k; p++) s[0] += mc_bf16_to_f32(w[p]) * x[p];
    y[j] = finish((s[0] + s[1]) + (s[2] + s[3]), alpha, beta, y[j]);
  }
}
