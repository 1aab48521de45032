/*
 * Register-blocked bf16 kernel of the row-exact multi-row GEMV (gemv-rows.h), for several rows of X.
 *
 * Why: the single-row kernel (gemm-avx512.c, gemv_bf16_row_) keeps 8 accumulators per output, so a
 * kernel that holds every accumulator of a (row, output) pair in registers fits only 3 pairs, and
 * pays one load of x per FMA: at 8 rows it is load-bound at a fraction of the FMA rate. But the 8
 * accumulators are 8 independent chains: accumulator a of the single-row kernel only ever sees,
 * chunk after chunk of 128 weights, weight vector a/2 of the chunk (its low halves for even a, its
 * high halves for odd a) against its slice of x. So this kernel runs one slot (one weight vector of
 * the chunk, i.e. 2 of the 8 chains) at a time for a block of 2 rows of X × 5 outputs: per chunk it
 * loads 5 weight vectors and 4 x vectors (kept in registers) for 20 FMAs, every chain updated in the
 * single-row order with the same operations. The slots' finished chains are stored, then the single-row kernel's
 * epilogue runs on them unchanged (pairwise merge, steps of 64, masked 32 tail, the same reduction),
 * so each output is bitwise what mc_gemv_bf16_avx512 gives for that row alone.
 * Any change to that row kernel must be mirrored here (test/native/gemv-rows.test.ts checks it).
 *
 * Memory: a block's 5 weight rows come from DRAM once (prefetched a few blocks ahead, so the reads
 * overlap the arithmetic) and stay in L1/L2 while the four slots and every row block pass over them.
 * Worth it from 4 rows of X on (gemv-rows.c picks it); compiled with -mavx512f -mavx512bw.
 */
#include "internal.h"
#ifdef MC_X86
#include "avx512-util.h"
#include "gemv-rows.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define BI 2 /* rows of X per register block: 2·BI·BJ accumulators, 2·BI x vectors */
#define BJ 5 /* outputs per register block */
/* Blocks of BJ weight rows between the one computed and the one prefetched, and the prefetch (into
 * L2: measured against prefetcht0 and against 8 or 16 blocks ahead, one core, 16384 x 2304 bf16). */
#define PF_BLOCKS 4
#define PF_INSN "prefetcht1"
#define ROWS_MAX 16 /* rows of X per pass over the weights: their split x stays in L2 */

#define LO(v) _mm512_castsi512_ps(_mm512_slli_epi32(v, 16))
#define UP(v) _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xFFFF0000u)))

/*
 * Slot s (0..3) of the main loop over nc chunks, for I rows × J outputs: chains 2s (low halves
 * against even x) and 2s+1 (high halves against odd x), stored into acc[(i·BJ + j)·8 + 2s (+1)].
 * w: the block's first weight row; xs: the first row's split x (xe then xo, kh floats each, rows
 * 2·kh apart).
 */
ALWAYS_INLINE void slot(const int I, const int J, int s, int nc, const uint16_t *w, long ldw, const float *xs,
                        int kh, __m512 *acc) {
  __m512 a[BI][BJ], b[BI][BJ];
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) a[i][j] = b[i][j] = _mm512_setzero_ps();
  const uint16_t *ws = w + 32 * s;
  const float *xe = xs + 16 * s;
  for (int c = 0; c < nc; c++) {
    /* x of the block's rows in registers, each weight vector widened once for all of them */
    __m512 e[BI], o[BI];
    for (int i = 0; i < I; i++) {
      e[i] = _mm512_loadu_ps(xe + (long)i * 2 * kh + 64 * c);
      o[i] = _mm512_loadu_ps(xe + (long)i * 2 * kh + kh + 64 * c);
    }
    for (int j = 0; j < J; j++) {
      const __m512i v = _mm512_loadu_si512(ws + (long)j * ldw + 128 * c);
      const __m512 lo = LO(v), up = UP(v);
      for (int i = 0; i < I; i++) {
        a[i][j] = _mm512_fmadd_ps(lo, e[i], a[i][j]);
        b[i][j] = _mm512_fmadd_ps(up, o[i], b[i][j]);
      }
    }
  }
  for (int i = 0; i < I; i++)
    for (int j = 0; j < J; j++) {
      acc[(i * BJ + j) * 8 + 2 * s] = a[i][j];
      acc[(i * BJ + j) * 8 + 2 * s + 1] = b[i][j];
    }
}

/* The single-row kernel after its main loop (gemm-avx512.c): s_a += t_a, then steps of 64 from p,
 * then the masked 32 tail, then the reduction. c: the 8 chains s0..s3, t0..t3. */
ALWAYS_INLINE float epilogue(const __m512 *c, int p, int k, const uint16_t *w, const float *xe, int kh) {
  const float *xo = xe + kh;
  __m512 s0 = _mm512_add_ps(c[0], c[4]), s1 = _mm512_add_ps(c[1], c[5]);
  __m512 s2 = _mm512_add_ps(c[2], c[6]), s3 = _mm512_add_ps(c[3], c[7]);
  for (; p + 64 <= k; p += 64) {
    const __m512i v0 = _mm512_loadu_si512(w + p), v1 = _mm512_loadu_si512(w + p + 32);
    const int q = p / 2;
    s0 = _mm512_fmadd_ps(LO(v0), _mm512_loadu_ps(xe + q), s0);
    s1 = _mm512_fmadd_ps(UP(v0), _mm512_loadu_ps(xo + q), s1);
    s2 = _mm512_fmadd_ps(LO(v1), _mm512_loadu_ps(xe + q + 16), s2);
    s3 = _mm512_fmadd_ps(UP(v1), _mm512_loadu_ps(xo + q + 16), s3);
  }
  for (; p < k; p += 32) { /* masked at 16-bit granularity: never reads past the row */
    const __m512i v = _mm512_maskz_loadu_epi16(mask32(k - p), w + p);
    s0 = _mm512_fmadd_ps(LO(v), _mm512_loadu_ps(xe + p / 2), s0);
    s1 = _mm512_fmadd_ps(UP(v), _mm512_loadu_ps(xo + p / 2), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* Prefetches the lines of [p, e) from u/parts to (u+1)/parts of the way. (As an asm statement: GCC 12
 * deleted the _mm_prefetch loop here as dead code.) */
static inline void prefetch_part(const char *p, const char *e, int u, int parts) {
  const long len = e - p;
  for (const char *q = p + len * u / parts, *qe = p + len * (u + 1) / parts; q < qe; q += 64)
    __asm__ volatile(PF_INSN " %0" : : "m"(*q));
}

/* All four slots of one register block, I and J compile-time after inlining; each slot first
 * prefetches its share (u = 4·b + s of 4·nb) of the bytes [pf, pe) of a block further on. */
ALWAYS_INLINE void block(const int I, const int J, int nc, const uint16_t *w, long ldw, const float *xs, int kh,
                         __m512 *acc, const char *pf, const char *pe, int b, int nb) {
  for (int s = 0; s < 4; s++) {
    prefetch_part(pf, pe, 4 * b + s, 4 * nb);
    slot(I, J, s, nc, w, ldw, xs, kh, acc);
  }
}

/* One instance per block shape (I <= BI, J <= BJ). */
static void block_any(int I, int J, int nc, const uint16_t *w, long ldw, const float *xs, int kh, __m512 *acc,
                      const char *pf, const char *pe, int b, int nb) {
#define CASE(i, j) \
  case (i) * 8 + (j): block(i, j, nc, w, ldw, xs, kh, acc, pf, pe, b, nb); break;
  switch (I * 8 + J) {
    CASE(2, 5) CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1) CASE(1, 5) CASE(1, 4) CASE(1, 3) CASE(1, 2)
    default: block(1, 1, nc, w, ldw, xs, kh, acc, pf, pe, b, nb);
  }
#undef CASE
}

/* Rows [0, m) (m <= ROWS_MAX) of split x against weight rows [0, n). */
static void pass(int m, int n, int k, const float *xs, int kh, const uint16_t *W, long ldw, float *Y, long ldy) {
  __m512 acc[BI * BJ * 8]; /* one register block's stored chains, consumed by its epilogues at once */
  const int nc = k / 128, p = nc * 128;
  const int nb = MC_CEIL(m, BI); /* row blocks of near-equal size (5 = 2+2+1) */
  for (int j0 = 0; j0 < n; j0 += BJ) {
    const int J = MC_MIN(BJ, n - j0);
    const uint16_t *w = W + (long)j0 * ldw;
    /* the weights PF_BLOCKS blocks on (within these n rows), fetched while this block computes */
    const int jp = MC_MIN(n, j0 + PF_BLOCKS * BJ), jq = MC_MIN(n, jp + BJ);
    const char *pf = (const char *)(W + (long)jp * ldw);
    const char *pe = jq > jp ? (const char *)(W + (long)(jq - 1) * ldw + k) : pf;
    for (int b = 0, i0 = 0; b < nb; b++) {
      const int I = (m - i0) / (nb - b) + ((m - i0) % (nb - b) ? 1 : 0);
      __m512 *ab = acc;
      if (nc > 0) block_any(I, J, nc, w, ldw, xs + (long)i0 * 2 * kh, kh, ab, pf, pe, b, nb);
      else
        for (int t = 0; t < I * BJ * 8; t++) ab[t] = _mm512_setzero_ps();
      for (int i = 0; i < I; i++)
        for (int j = 0; j < J; j++)
          Y[(long)(i0 + i) * ldy + j0 + j] =
              epilogue(ab + (i * BJ + j) * 8, p, k, w + (long)j * ldw, xs + (long)(i0 + i) * 2 * kh, kh);
      i0 += I;
    }
  }
}

void mc_gemv_rows_bf16_tiled_avx512(int m, int n, int k, const float *X, long ldx, const uint16_t *W, long ldw,
                                    float *Y, long ldy) {
  /* per row of X: even columns then odd columns, kh floats each, zero padded (as mc_gemv_bf16_avx512) */
  const int kh = MC_CEIL(MC_CEIL(k, 2), 16) * 16;
  float *xs = mc_scratch(MC_SCRATCH_A, sizeof(float) * (size_t)(2 * kh) * (size_t)MC_MIN(m, ROWS_MAX));
  if (!xs) return; /* out of memory: recorded for the binding (internal.h) */
  for (int i0 = 0; i0 < m; i0 += ROWS_MAX) {
    const int mr = MC_MIN(ROWS_MAX, m - i0);
    for (int i = 0; i < mr; i++) {
      float *xe = xs + (long)i * 2 * kh, *xo = xe + kh;
      const float *x = X + (long)(i0 + i) * ldx;
      for (int q = 0; q < kh; q++) {
        xe[q] = 2 * q < k ? x[2 * q] : 0.0f;
        xo[q] = 2 * q + 1 < k ? x[2 * q + 1] : 0.0f;
      }
    }
    pass(mr, n, k, xs, kh, W, ldw, Y + (long)i0 * ldy, ldy);
  }
}

#endif
