/*
 * Row-exact multi-row GEMV driver (gemv-rows.h). Threads split the outputs (rows of W) into one
 * contiguous range each, as the single-row GEMV does, so each thread streams its share of the weights
 * once. Within a range:
 *  - on AVX-512, bf16 weights go to register tiles of rows × outputs over the dot product the
 *    single-row GEMV is made of (gemv-rows-bf16-avx512.c, gemv-bf16-avx512.h); for f32 the row-group
 *    kernel (gemv-rows-avx512.c) loads each piece of W once for a group of rows of X and repeats the
 *    single-row kernel's accumulation sequence for every row of the group, and from ROWS_TILED_MIN_F32
 *    rows on the register-blocked kernel (gemv-rows-tiled-f32-avx512.c) does the same with fewer loads
 *    per FMA and the weights prefetched ahead of the arithmetic;
 *  - in the wasm build the SIMD128 row-group kernels (native/wasm/gemv-rows-simd128.c) do the same for
 *    the SIMD128 single-row GEMV;
 *  - on every other ISA, tiles of W small enough to stay in L2 are passed to the active single-row
 *    GEMV once per row of X: exact by construction (the same function computes every output), the
 *    weights still come from memory once.
 */
#include <string.h>

#include "gemv-rows.h"
#include "internal.h"

/* Below this many weight bytes one thread streams W faster than two can split it (as gemm.c). */
#define ROWS_MT_MIN_BYTES (1 << 16)
/* Rows of X from which the register-blocked f32 kernel beats the row-group one (one core, 16384 x 2304:
 * 2 rows ~0.9x, 3 rows ~1.2x, 8 rows ~1.5x). */
#define ROWS_TILED_MIN_F32 3
/* Weight bytes per L2 tile of the portable path. */
#define TILE_BYTES (128 << 10)

typedef struct {
  int m, n, k, wsize, parts;
  const float *X;
  long ldx;
  const char *W;
  long ldw;
  float *Y;
  long ldy;
} rows_job;

static void rows_portable(const rows_job *r, int j0, int n) {
  const int tile = MC_MAX(16, TILE_BYTES / MC_MAX(1, r->k * r->wsize));
  for (int t = 0; t < n; t += tile) {
    const int tn = MC_MIN(tile, n - t);
    const char *w = r->W + (long)(j0 + t) * r->ldw * r->wsize;
    for (int i = 0; i < r->m; i++) {
      float *y = r->Y + (long)i * r->ldy + j0 + t;
      const float *x = r->X + (long)i * r->ldx;
      if (r->wsize == 2) mc_k.gemv_bf16(tn, r->k, 1.0f, (const uint16_t *)w, r->ldw, x, 0.0f, y);
      else mc_k.gemv_t(tn, r->k, 1.0f, (const float *)w, r->ldw, x, 0.0f, y);
    }
  }
}

static void rows_range(const rows_job *r, int j0, int n) {
  if (n <= 0) return;
#ifdef MC_X86
  /* the group kernels mirror the AVX-512 row kernels, so they stand in only for those */
  if (r->wsize == 2 && mc_k.gemv_bf16 == mc_gemv_bf16_avx512) {
    mc_gemv_rows_bf16_avx512(r->m, n, r->k, r->X, r->ldx, (const uint16_t *)r->W + (long)j0 * r->ldw, r->ldw,
                             r->Y + j0, r->ldy);
    return;
  }
  if (r->wsize == 4 && mc_k.gemv_t == mc_gemv_t_avx512) {
    (r->m >= ROWS_TILED_MIN_F32 ? mc_gemv_rows_f32_tiled_avx512 : mc_gemv_rows_f32_avx512)(
        r->m, n, r->k, r->X, r->ldx, (const float *)r->W + (long)j0 * r->ldw, r->ldw, r->Y + j0, r->ldy);
    return;
  }
#elif defined(__wasm_simd128__)
  /* the SIMD128 row kernels mirror the SIMD128 single-row GEMV, so they stand in only for it */
  if (mc_k.gemv_t == mc_gemv_t_simd128) {
    mc_gemv_rows_simd128(r->wsize == 2, r->m, n, r->k, r->X, r->ldx, r->W + (long)j0 * r->ldw * r->wsize, r->ldw,
                         r->Y + j0, r->ldy);
    return;
  }
#endif
  rows_portable(r, j0, n);
}

static void rows_task(void *arg, int task, int tid) {
  (void)tid;
  const rows_job *r = arg;
  /* whole 64-row granules per part, as the single-row GEMV splits its outputs */
  const int g = MC_CEIL(r->n, 64);
  const int g0 = (int)((long)g * task / r->parts), g1 = (int)((long)g * (task + 1) / r->parts);
  const int j0 = MC_MIN(g0 * 64, r->n), j1 = MC_MIN(g1 * 64, r->n);
  rows_range(r, j0, j1 - j0);
}

void mc_gemv_rows(int m, int n, int k, const float *X, long ldx, const void *W, int wsize, long ldw,
                  float *Y, long ldy) {
  mc_init();
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; i++) memset(Y + (long)i * ldy, 0, sizeof(float) * (size_t)n);
    return;
  }
  rows_job r = {m, n, k, wsize, 1, X, ldx, (const char *)W, ldw, Y, ldy};
  const double bytes = (double)n * k * wsize;
  const int nt = bytes >= ROWS_MT_MIN_BYTES ? mc_pool_threads() : 1;
  r.parts = MC_MAX(1, MC_MIN(nt, MC_CEIL(n, 64)));
  if (r.parts <= 1) rows_range(&r, 0, n);
  else mc_parallel(r.parts, rows_task, &r);
}
