/*
 * Row-exact multi-row GEMV for the wasm build (the contract of native/src/gemv-rows.h, continuous-
 * batching decode): Y[i, :] = W · X[i, :] for m rows, every row bitwise the single-row GEMV's
 * (mc_sgemm / mc_gemm_bf16 with M = 1, i.e. gemm-simd128.c's row stream) whatever m is.
 *
 * Each row of W is loaded once (bf16 widened once) for a group of up to 4 rows of X, and every row of
 * the group repeats the single-row kernel's sequence: two f32x4 sums over steps of 8, the same
 * horizontal sum, the same scalar tail, alpha = 1 (a multiply by 1 is exact). Further groups of X rows
 * read that row of W again from L1. Threads split the outputs into contiguous 64-row granules, as the
 * single-row GEMV does, so each streams its share of the weights once. Under the portable kernel table
 * (mc_set_isa scalar) the active single-row GEMV runs once per row over L2-sized tiles of W instead:
 * exact by construction.
 */
#include <string.h>
#include <wasm_simd128.h>

#include "../src/internal.h"
#include "gemv-simd128.h"

void mc_gemv_t_simd128(int, int, float, const float *, long, const float *, float, float *);
void mc_wasm_gemv_rows(int m, int n, int k, const float *X, long ldx, const void *W, int wsize, long ldw,
                       float *Y, long ldy);

/* Rows of X per pass over a row of W (8 sums + 2 weight vectors in registers). */
#define GROUP 4
/* Below this many weight bytes one thread streams W faster than two can split it (as gemm.c). */
#define MT_MIN_BYTES (1 << 16)
/* Weight bytes per L2 tile of the portable path. */
#define TILE_BYTES (128 << 10)

/* Row w of W (f32 or bf16) against R rows of X: y[i·ldy] for i < R. */
static inline __attribute__((always_inline)) void row_group(const int R, const int bf16, int k, const void *w,
                                                            const float *X, long ldx, float *y, long ldy) {
  v128_t s0[GROUP], s1[GROUP];
  for (int i = 0; i < R; i++) s0[i] = s1[i] = wasm_f32x4_splat(0.0f);
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    v128_t w0, w1;
    if (bf16) mc_widen8_simd128((const uint16_t *)w + p, &w0, &w1);
    else {
      w0 = wasm_v128_load((const float *)w + p);
      w1 = wasm_v128_load((const float *)w + p + 4);
    }
    for (int i = 0; i < R; i++) {
      const float *x = X + i * ldx + p;
      s0[i] = wasm_f32x4_add(s0[i], wasm_f32x4_mul(w0, wasm_v128_load(x)));
      s1[i] = wasm_f32x4_add(s1[i], wasm_f32x4_mul(w1, wasm_v128_load(x + 4)));
    }
  }
  for (int i = 0; i < R; i++) {
    float acc = mc_hsum_simd128(wasm_f32x4_add(s0[i], s1[i]));
    for (int q = p; q < k; q++)
      acc += (bf16 ? mc_bf16_to_f32(((const uint16_t *)w)[q]) : ((const float *)w)[q]) * X[i * ldx + q];
    y[i * ldy] = 1.0f * acc;
  }
}

static inline __attribute__((always_inline)) void rows_simd(const int bf16, int m, int n, int k, const float *X,
                                                            long ldx, const char *W, long ldw, float *Y, long ldy) {
  const size_t es = bf16 ? 2 : 4;
  for (int j = 0; j < n; j++) {
    const char *w = W + (size_t)j * (size_t)ldw * es;
    int i = 0;
    for (; i + GROUP <= m; i += GROUP) row_group(GROUP, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy);
    switch (m - i) {
      case 3: row_group(3, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      case 2: row_group(2, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      case 1: row_group(1, bf16, k, w, X + (long)i * ldx, ldx, Y + (long)i * ldy + j, ldy); break;
      default: break;
    }
  }
}

typedef struct {
  int m, n, k, wsize, parts;
  const float *X;
  long ldx;
  const char *W;
  long ldw;
  float *Y;
  long ldy;
} rows_job;

/* Outputs [j0, j0 + n) for every row of X. */
static void rows_range(const rows_job *r, int j0, int n) {
  if (n <= 0) return;
  const char *W = r->W + (size_t)j0 * (size_t)r->ldw * (size_t)r->wsize;
  if (mc_k.gemv_t == mc_gemv_t_simd128) { /* the SIMD128 table: the row kernels above mirror its GEMV */
    if (r->wsize == 2) rows_simd(1, r->m, n, r->k, r->X, r->ldx, W, r->ldw, r->Y + j0, r->ldy);
    else rows_simd(0, r->m, n, r->k, r->X, r->ldx, W, r->ldw, r->Y + j0, r->ldy);
    return;
  }
  const int tile = MC_MAX(16, TILE_BYTES / MC_MAX(1, r->k * r->wsize));
  for (int t = 0; t < n; t += tile) {
    const int tn = MC_MIN(tile, n - t);
    const char *w = W + (size_t)t * (size_t)r->ldw * (size_t)r->wsize;
    for (int i = 0; i < r->m; i++) {
      float *y = r->Y + (long)i * r->ldy + j0 + t;
      const float *x = r->X + (long)i * r->ldx;
      if (r->wsize == 2) mc_k.gemv_bf16(tn, r->k, 1.0f, (const uint16_t *)w, r->ldw, x, 0.0f, y);
      else mc_k.gemv_t(tn, r->k, 1.0f, (const float *)w, r->ldw, x, 0.0f, y);
    }
  }
}

static void rows_task(void *arg, int task, int tid) {
  (void)tid;
  const rows_job *r = arg;
  const int g = MC_CEIL(r->n, 64);
  const int g0 = (int)((long)g * task / r->parts), g1 = (int)((long)g * (task + 1) / r->parts);
  const int j0 = MC_MIN(g0 * 64, r->n), j1 = MC_MIN(g1 * 64, r->n);
  rows_range(r, j0, j1 - j0);
}

/* Y[i·ldy + j] = Σ_k W[j·ldw + k] · X[i·ldx + k], i < m, j < n; W f32 (wsize 4) or bf16 bits (wsize 2). */
void mc_wasm_gemv_rows(int m, int n, int k, const float *X, long ldx, const void *W, int wsize, long ldw,
                       float *Y, long ldy) {
  mc_init();
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; i++) memset(Y + (long)i * ldy, 0, sizeof(float) * (size_t)n);
    return;
  }
  rows_job r = {m, n, k, wsize, 1, X, ldx, (const char *)W, ldw, Y, ldy};
  const double bytes = (double)n * k * wsize;
  const int nt = bytes >= MT_MIN_BYTES ? mc_pool_threads() : 1;
  r.parts = MC_MAX(1, MC_MIN(nt, MC_CEIL(n, 64)));
  if (r.parts <= 1) rows_range(&r, 0, n);
  else mc_parallel(r.parts, rows_task, &r);
}
