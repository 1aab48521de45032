/*
 * The row-exact multi-row GEMV's bf16 kernel (gemv-rows.h) on AVX-512: register tiles of BI rows of X ×
 * BJ rows of W over gemv-bf16-avx512.h's dot product, the one the single-row GEMV
 * (mc_gemv_bf16_avx512) computes one output at a time. Every output keeps the same two accumulators
 * updated in the same K order whatever tile it sits in, so each is bitwise the single-row result for
 * its row alone, for any number of rows (one included) and any split of the outputs over threads.
 *
 * Per 32 weights a BI × BJ tile loads BJ weight vectors and 2·BI x vectors for 2·BI·BJ FMAs, and widens
 * each weight vector once for BI rows. Order of work: a block of BJ weight rows is read from memory
 * once (prefetched into L2 PF_BLOCKS blocks ahead, while the first row block computes) and stays in
 * L1/L2 while every row block of X passes over it; the split x of up to ROWS_MAX rows stays in L2.
 * Compiled with -mavx512f -mavx512bw.
 */
#include "internal.h"
#ifdef MC_X86
#include "gemv-bf16-avx512.h"
#include "gemv-rows.h"

/* Tile shape: 2·BI·BJ accumulators and 2·BI x vectors (34 registers with the widened weights: GCC
 * takes two x operands from memory instead). Measured against 2×5, 2×6, 3×3, 3×4 and 4×2 (two
 * threads' CPU time under load, bf16 weights from DRAM): at 4 rows 4×3 ran 1.17× 2×6 and 1.6× the
 * previous kernel; at 8 and 16 rows 4×3, 3×4 and 2×6 were within a few % of each other. */
#define BI 4
#define BJ 3
/* Weight blocks between the one computed and the one prefetched (4 measured above 1, 2 and 8). */
#define PF_BLOCKS 4
#define ROWS_MAX 16 /* rows of X per pass over the weights */

/* One instance per tile shape (I <= BI, J <= BJ, both compile-time inside). */
static void tile_any(int I, int J, int k, const uint16_t *w, long ldw, const float *xs, int kh, float *Y, long ldy,
                     int pf) {
#define CASE(i, j) \
  case (i) * 8 + (j): mc_bf16_tile(i, j, k, w, ldw, xs, 2 * kh, kh, Y, ldy, pf); break;
  switch (I * 8 + J) {
    CASE(4, 3) CASE(4, 2) CASE(4, 1) CASE(3, 3) CASE(3, 2) CASE(3, 1)
    CASE(2, 3) CASE(2, 2) CASE(2, 1) CASE(1, 3) CASE(1, 2)
    default: mc_bf16_tile(1, 1, k, w, ldw, xs, 2 * kh, kh, Y, ldy, pf);
  }
#undef CASE
}

/* Rows [0, m) (m <= ROWS_MAX) of split x against weight rows [0, n). */
static void pass(int m, int n, int k, const float *xs, int kh, const uint16_t *W, long ldw, float *Y, long ldy) {
  const int nb = MC_CEIL(m, BI); /* row blocks of near-equal size (5 = 3+2) */
  for (int j0 = 0; j0 < n; j0 += BJ) {
    const int J = MC_MIN(BJ, n - j0);
    /* the block PF_BLOCKS on, when it lies inside these n rows (past them another thread reads) */
    const int pf = j0 + (PF_BLOCKS + 1) * BJ <= n ? PF_BLOCKS * BJ : 0;
    for (int b = 0, i0 = 0; b < nb; b++) {
      const int I = (m - i0) / (nb - b) + ((m - i0) % (nb - b) ? 1 : 0);
      tile_any(I, J, k, W + (long)j0 * ldw, ldw, xs + (long)i0 * 2 * kh, kh, Y + (long)i0 * ldy + j0, ldy,
               b == 0 ? pf : 0);
      i0 += I;
    }
  }
}

void mc_gemv_rows_bf16_avx512(int m, int n, int k, const float *X, long ldx, const uint16_t *W, long ldw,
                              float *Y, long ldy) {
  const int kh = mc_bf16_half(k);
  float *xs = mc_scratch(MC_SCRATCH_A, sizeof(float) * (size_t)(2 * kh) * (size_t)MC_MIN(m, ROWS_MAX));
  if (!xs) return; /* out of memory: recorded for the binding (internal.h) */
  for (int i0 = 0; i0 < m; i0 += ROWS_MAX) {
    const int mr = MC_MIN(ROWS_MAX, m - i0);
    for (int i = 0; i < mr; i++) mc_bf16_split_x(k, X + (long)(i0 + i) * ldx, xs + (long)i * 2 * kh);
    pass(mr, n, k, xs, kh, W, ldw, Y + (long)i0 * ldy, ldy);
  }
}

#endif
