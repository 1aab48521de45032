/*
 * Register-blocked f32 kernel of the row-exact multi-row GEMV (gemv-rows.h), for several rows of X.
 *
 * The single-row kernel (gemm-avx512.c, gemv_t_row_) keeps 4 accumulators per output; accumulator s
 * only ever sees, step after step of 64 weights, the step's s-th vector of 16 against the same 16 of
 * x, and the masked 16-wide tail goes into accumulator 0. So this kernel runs one slot (one chain) at
 * a time for a block of 4 rows of X × 5 outputs: per step it loads 5 weight vectors and 4 x vectors
 * (kept in registers) for 20 FMAs, every chain updated in the single-row order with the same
 * operations; then the single-row epilogue (tail into chain 0, the same reduction) runs on the stored
 * chains, so each output is bitwise what mc_gemv_t_avx512 gives for that row alone. Any change to
 * that row kernel must be mirrored here (test/native/gemv-rows.test.ts checks it).
 *
 * A block's 5 weight rows come from DRAM once (prefetched a few blocks ahead) and stay in L1/L2 while
 * the four slots and every row block pass over them. Compiled with -mavx512f -mavx512bw.
 */
#include "internal.h"
#ifdef MC_X86
#include "avx512-util.h"
#include "gemv-rows.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define BI 4 /* rows of X per register block: BI·BJ accumulators, BI x vectors */
#define BJ 5 /* outputs per register block */
#define PF_BLOCKS 4 /* blocks between the one computed and the one prefetched */

/* Slot s (0..3) over nc steps of 64 for I rows × J outputs, stored into acc[(i·BJ + j)·4 + s]. */
ALWAYS_INLINE void slot(const int I, const int J, int s, int nc, const float *w, long ldw, const float *X,
                        long ldx, __m512 *acc) {
  __m512 a[BI][BJ];
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) a[i][j] = _mm512_setzero_ps();
  for (int c = 0; c < nc; c++) {
    const long q = 64L * c + 16 * s;
    __m512 x[BI];
    for (int i = 0; i < I; i++) x[i] = _mm512_loadu_ps(X + (long)i * ldx + q);
    for (int j = 0; j < J; j++) {
      const __m512 v = _mm512_loadu_ps(w + (long)j * ldw + q);
      for (int i = 0; i < I; i++) a[i][j] = _mm512_fmadd_ps(v, x[i], a[i][j]);
    }
  }
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) acc[(i * BJ + j) * 4 + s] = a[i][j];
}

/* The single-row kernel after its main loop: the masked 16-wide tail into chain 0, the reduction. */
ALWAYS_INLINE float epilogue(const __m512 *c, int p, int k, const float *w, const float *x) {
  __m512 s0 = c[0];
  for (; p < k; p += 16) {
    const __mmask16 m = mask16(k - p);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + p), _mm512_maskz_loadu_ps(m, x + p), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, c[1]), _mm512_add_ps(c[2], c[3])));
}

/* Prefetches (into L2; an asm statement, which the optimizer keeps) the lines of [p, e) from u/parts
 * to (u+1)/parts of the way. */
static inline void prefetch_part(const char *p, const char *e, int u, int parts) {
  const long len = e - p;
  for (const char *q = p + len * u / parts, *qe = p + len * (u + 1) / parts; q < qe; q += 64)
    __asm__ volatile("prefetcht1 %0" : : "m"(*q));
}

/* All four slots of one register block; each slot first prefetches its share of [pf, pe). */
ALWAYS_INLINE void block(const int I, const int J, int nc, const float *w, long ldw, const float *X, long ldx,
                         __m512 *acc, const char *pf, const char *pe, int b, int nb) {
  for (int s = 0; s < 4; s++) {
    prefetch_part(pf, pe, 4 * b + s, 4 * nb);
    slot(I, J, s, nc, w, ldw, X, ldx, acc);
  }
}

/* One instance per block shape (I <= BI, J <= BJ). */
#define BLOCK_J(i)                                                             \
  switch (J) {                                                                 \
    case 5: block(i, 5, nc, w, ldw, X, ldx, acc, pf, pe, b, nb); break;        \
    case 4: block(i, 4, nc, w, ldw, X, ldx, acc, pf, pe, b, nb); break;        \
    case 3: block(i, 3, nc, w, ldw, X, ldx, acc, pf, pe, b, nb); break;        \
    case 2: block(i, 2, nc, w, ldw, X, ldx, acc, pf, pe, b, nb); break;        \
    default: block(i, 1, nc, w, ldw, X, ldx, acc, pf, pe, b, nb); break;       \
  }
static void block_any(int I, int J, int nc, const float *w, long ldw, const float *X, long ldx, __m512 *acc,
                      const char *pf, const char *pe, int b, int nb) {
  switch (I) {
    case 4: BLOCK_J(4) break;
    case 3: BLOCK_J(3) break;
    case 2: BLOCK_J(2) break;
    default: BLOCK_J(1) break;
  }
}
#undef BLOCK_J

void mc_gemv_rows_f32_tiled_avx512(int m, int n, int k, const float *X, long ldx, const float *W, long ldw,
                                   float *Y, long ldy) {
  __m512 acc[BI * BJ * 4]; /* one register block's stored chains, consumed by its epilogues at once */
  const int nc = k / 64, p = nc * 64;
  const int nb = MC_CEIL(m, BI); /* row blocks of near-equal size (5 = 3+2) */
  for (int j0 = 0; j0 < n; j0 += BJ) {
    const int J = MC_MIN(BJ, n - j0);
    const float *w = W + (long)j0 * ldw;
    /* the weights PF_BLOCKS blocks on (within these n rows), fetched while this block computes */
    const int jp = MC_MIN(n, j0 + PF_BLOCKS * BJ), jq = MC_MIN(n, jp + BJ);
    const char *pf = (const char *)(W + (long)jp * ldw);
    const char *pe = jq > jp ? (const char *)(W + (long)(jq - 1) * ldw + k) : pf;
    for (int b = 0, i0 = 0; b < nb; b++) {
      const int I = (m - i0) / (nb - b) + ((m - i0) % (nb - b) ? 1 : 0);
      const float *x = X + (long)i0 * ldx;
      if (nc > 0) block_any(I, J, nc, w, ldw, x, ldx, acc, pf, pe, b, nb);
      else
        for (int t = 0; t < I * BJ * 4; t++) acc[t] = _mm512_setzero_ps();
      for (int i = 0; i < I; i++)
        for (int j = 0; j < J; j++)
          Y[(long)(i0 + i) * ldy + j0 + j] = epilogue(acc + (i * BJ + j) * 4, p, k, w + (long)j * ldw, x + i * ldx);
      i0 += I;
    }
  }
}

#endif
