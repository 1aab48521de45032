/*
 * The GEMM driver: special cases, threading and cache blocking (GotoBLAS/BLIS loop nest). It is
 * ISA-independent; register tiles, packing and GEMV streams come from the active table mc_k.
 *
 * Loop nest per thread (on its own rectangle of C):
 *   jc over N by NC   B block (kc x nc) packed once per (jc, pc), lives in L3
 *     pc over K by KC
 *       ic over M by MC   A block (mc x kc) packed, lives in L2
 *         jr over nc by NR   B micro-panel (kc x NR) reused by every A micro-panel, L1/L2
 *           ir over mc by MR   micro-kernel: MR x NR tile of C in registers
 * Threads never share a rectangle, so there is no synchronisation inside a GEMM.
 */
#include <string.h>

#include "internal.h"

/* One GEMM described by strides: op(A)(i,p) = A[i*rsa + p*csa], op(B)(p,j) = B[p*rsb + j*csb]. */
typedef struct {
  const mc_gemm_impl *impl;
  int M, N, K;
  float alpha, beta;
  const float *A;
  long rsa, csa;
  const char *B;   /* f32 or bf16 elements, see besize */
  long rsb, csb;
  int besize;
  float *C;
  long ldc;
} prob_t;

/* Below this many flops a GEMM runs on one thread: waking a worker and splitting the packing
 * costs more than it saves (Zen 4, 2 threads: 80^3 loses 4%, 96^3 gains 1.2x, 128^3 2x). */
#define MT_MIN_FLOPS (1 << 20)
/* GEMV: below this many weight bytes, one thread streams it faster than two can split it. */
#define GEMV_MT_MIN_BYTES (1 << 16)

static void scale_c(float *C, long ldc, int m, int n, float beta) {
  for (int i = 0; i < m; i++) {
    float *c = C + i * ldc;
    if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)n);
    else if (beta != 1.0f)
      for (int j = 0; j < n; j++) c[j] *= beta;
  }
}

/* The blocked algorithm on rows [i0, i0+m) and columns [j0, j0+n) of C, on the calling thread. */
static void gemm_block(const prob_t *p, int i0, int m, int j0, int n) {
  const mc_gemm_impl *im = p->impl;
  const int MR = im->mr, NR = im->nr, MC = im->mc, es = im->esize;
  const int NC = MC_MIN(im->nc, MC_CEIL(n, NR) * NR);
  /* Equal K blocks (multiples of 8) rather than full ones plus a short tail: a short last block
   * pays the C-tile load/store and packing overheads for little work. */
  const int KC = MC_MIN(im->kc, MC_CEIL(MC_CEIL(p->K, MC_CEIL(p->K, im->kc)), 8) * 8);
  const int kmax = MC_MIN(KC, MC_CEIL(p->K, im->kstep) * im->kstep);
  char *Ap = mc_scratch(MC_SCRATCH_A, (size_t)MC_MIN(MC, MC_CEIL(m, MR) * MR) * kmax * es + MC_ALIGN);
  char *Bp = mc_scratch(MC_SCRATCH_B, (size_t)NC * kmax * es + MC_ALIGN);
  if (!Ap || !Bp) return; /* out of memory: recorded for the binding (internal.h) */

  for (int jc = 0; jc < n; jc += NC) {
    const int nc = MC_MIN(NC, n - jc);
    for (int pc = 0; pc < p->K; pc += KC) {
      const int kc = MC_MIN(KC, p->K - pc);
      const int kp = MC_CEIL(kc, im->kstep) * im->kstep;
      im->pack_b(p->B + ((long)pc * p->rsb + (long)(j0 + jc) * p->csb) * p->besize, p->rsb, p->csb,
                 kc, nc, Bp);
      const float beta = pc == 0 ? p->beta : 1.0f;  /* later K blocks accumulate */
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = MC_MIN(MC, m - ic);
        im->pack_a(p->A + (long)(i0 + ic) * p->rsa + (long)pc * p->csa, p->rsa, p->csa, mc, kc, Ap);
        float *Cb = p->C + (long)(i0 + ic) * p->ldc + j0 + jc;
        for (int jr = 0; jr < nc; jr += NR) {
          const char *b = Bp + (size_t)jr * kp * es;
          const int nr = MC_MIN(NR, nc - jr);
          for (int ir = 0; ir < mc; ir += MR)
            im->kernel(kp, Ap + (size_t)ir * kp * es, b, Cb + (long)ir * p->ldc + jr, p->ldc,
                       p->alpha, beta, MC_MIN(MR, mc - ir), nr);
        }
      }
    }
  }
}

/* ---- threading: split C into a tm x tn grid of independent rectangles ---- */

typedef struct {
  const prob_t *p;
  int tm, tn;
} grid_t;

static void grid_range(int total, int tile, int parts, int idx, int *start, int *len) {
  int tiles = MC_CEIL(total, tile);
  int t0 = (int)((long)tiles * idx / parts), t1 = (int)((long)tiles * (idx + 1) / parts);
  *start = MC_MIN(t0 * tile, total);
  *len = MC_MIN(t1 * tile, total) - *start;
}

static void grid_task(void *arg, int task, int tid) {
  (void)tid;
  const grid_t *g = arg;
  int i0, m, j0, n;
  grid_range(g->p->M, g->p->impl->mr, g->tm, task / g->tn, &i0, &m);
  grid_range(g->p->N, g->p->impl->nr, g->tn, task % g->tn, &j0, &n);
  if (m > 0 && n > 0) gemm_block(g->p, i0, m, j0, n);
}

/* Chooses the grid that minimises per-thread compute (with tile padding) plus packing, where
 * packing one element costs about as much as 16 flops. */
static void choose_grid(const prob_t *p, int nt, int *tm, int *tn) {
  const mc_gemm_impl *im = p->impl;
  double best = 1e300;
  *tm = 1;
  *tn = nt;
  for (int a = 1; a <= nt; a++) {
    if (nt % a) continue;
    int b = nt / a;
    if (a > MC_CEIL(p->M, im->mr) || b > MC_CEIL(p->N, im->nr)) continue;
    double mt = (double)MC_CEIL(MC_CEIL(p->M, im->mr), a) * im->mr;
    double ntl = (double)MC_CEIL(MC_CEIL(p->N, im->nr), b) * im->nr;
    double cost = 2.0 * mt * ntl * p->K + 16.0 * (mt * p->K * MC_CEIL(ntl, im->nc) + ntl * p->K);
    if (cost < best) {
      best = cost;
      *tm = a;
      *tn = b;
    }
  }
}

static int want_threads(double flops) {
  int nt = mc_pool_threads();
  if (nt <= 1 || flops < MT_MIN_FLOPS) return 1;
  /* keep at least ~1 MFLOP per thread */
  int cap = (int)(flops / MT_MIN_FLOPS);
  return MC_MAX(1, MC_MIN(nt, cap));
}

/* ---- GEMV (M == 1 or N == 1): bandwidth bound, split across threads by output ranges ---- */

typedef struct {
  int kind;   /* 0: rows of W (gemv_t), 1: columns of B (gemv_n), 2: bf16 rows */
  int n, k;
  float alpha, beta;
  const void *W;
  long ldw;
  const float *x;
  float *y;
  int parts;
} gemv_job;

static void gemv_range(const gemv_job *g, int j0, int n) {
  if (n <= 0) return;
  switch (g->kind) {
    case 0:
      mc_k.gemv_t(n, g->k, g->alpha, (const float *)g->W + (long)j0 * g->ldw, g->ldw, g->x, g->beta,
                  g->y + j0);
      break;
    case 1:
      mc_k.gemv_n(n, g->k, g->alpha, (const float *)g->W + j0, g->ldw, g->x, g->beta, g->y + j0);
      break;
    default:
      mc_k.gemv_bf16(n, g->k, g->alpha, (const uint16_t *)g->W + (long)j0 * g->ldw, g->ldw, g->x,
                     g->beta, g->y + j0);
  }
}

static void gemv_task(void *arg, int task, int tid) {
  (void)tid;
  const gemv_job *g = arg;
  int j0, n;
  grid_range(g->n, 64, g->parts, task, &j0, &n);  /* 64 keeps each part's edges cache-line sized */
  gemv_range(g, j0, n);
}

/* One contiguous range of rows per thread: each thread then reads its weights as one sequential
 * stream (splitting finer, into parts claimed from the pool's queue, measured 2-4% slower). */
static int gemv_parts(double bytes, int allow_mt, int rows) {
  int nt = allow_mt && bytes >= GEMV_MT_MIN_BYTES ? mc_pool_threads() : 1;
  return MC_MAX(1, MC_MIN(nt, MC_CEIL(rows, 64)));
}

static void gemv_run(gemv_job *g, int allow_mt, int esize) {
  g->parts = gemv_parts((double)g->n * g->k * esize, allow_mt, g->n);
  if (g->parts <= 1) gemv_range(g, 0, g->n);
  else mc_parallel(g->parts, gemv_task, g);
}

/* ---- several GEMVs sharing x: one job over their concatenated rows ---- */

typedef struct {
  int count, k, wsize, total, parts;
  const void *const *W;
  const int *n;
  const float *x;
  float *y;
} many_job;

/* Rows [r0, r0 + len) of the concatenation, matrix by matrix. */
static void many_range(const many_job *m, int r0, int len) {
  int base = 0;
  for (int i = 0; i < m->count && len > 0; base += m->n[i], i++) {
    const int end = base + m->n[i];
    if (r0 >= end) continue;
    const int cnt = MC_MIN(len, end - r0);
    gemv_job g = {.kind = m->wsize == 2 ? 2 : 0, .n = m->n[i], .k = m->k, .alpha = 1.0f, .beta = 0.0f,
                  .W = m->W[i], .ldw = m->k, .x = m->x, .y = m->y + base};
    gemv_range(&g, r0 - base, cnt);
    r0 += cnt;
    len -= cnt;
  }
}

static void many_task(void *arg, int task, int tid) {
  (void)tid;
  const many_job *m = arg;
  int r0, len;
  grid_range(m->total, 64, m->parts, task, &r0, &len);
  many_range(m, r0, len);
}

void mc_gemv_many(int count, int K, const float *x, const void *const *W, const int *n, int wsize, float *y) {
  mc_init();
  many_job m = {count, K, wsize, 0, 1, W, n, x, y};
  for (int i = 0; i < count; i++) m.total += n[i];
  if (m.total <= 0) return;
  if (K <= 0) {
    memset(y, 0, sizeof(float) * (size_t)m.total);
    return;
  }
  m.parts = gemv_parts((double)m.total * K * wsize, 1, m.total);
  if (m.parts <= 1) many_range(&m, 0, m.total);
  else mc_parallel(m.parts, many_task, &m);
}

/* y strided by inc: compute into a contiguous copy (scratch slot X holds x; y goes after it). */
static float *col_buffer(float *y, long inc, int n, float beta, float *tmp) {
  if (inc == 1) return y;
  if (beta != 0.0f)
    for (int i = 0; i < n; i++) tmp[i] = y[i * inc];
  return tmp;
}

/* Returns 1 when the problem was a GEMV (M == 1 or N == 1) and has been done. */
static int try_gemv(const prob_t *p, int allow_mt) {
  if (p->M != 1 && p->N != 1) return 0;
  const int K = p->K;
  gemv_job g = {.k = K, .alpha = p->alpha, .beta = p->beta};
  float *scratch = mc_scratch(MC_SCRATCH_X, sizeof(float) * ((size_t)K + (size_t)MC_MAX(p->M, p->N) + 64));
  if (!scratch) return 1; /* out of memory: recorded for the binding (internal.h) */
  float *tmp = scratch + MC_CEIL(K + 16, 16) * 16;
  if (p->M == 1) {
    /* x = op(A) row 0, made contiguous */
    const float *x = p->A;
    if (p->csa != 1) {
      for (int i = 0; i < K; i++) scratch[i] = p->A[i * p->csa];
      x = scratch;
    }
    g.n = p->N;
    g.x = x;
    g.y = p->C;
    if (p->besize == 2) {
      if (p->rsb != 1) return 0;  /* bf16 weights only come as W[N,K] */
      g.kind = 2;
      g.W = p->B;
      g.ldw = p->csb;
    } else if (p->rsb == 1) {  /* B is W[N,K]: rows of W */
      g.kind = 0;
      g.W = p->B;
      g.ldw = p->csb;
    } else if (p->csb == 1) {
      g.kind = 1;
      g.W = p->B;
      g.ldw = p->rsb;
    } else return 0;
    gemv_run(&g, allow_mt, p->besize);
    return 1;
  }
  /* N == 1: C[:,0] = op(A) · b, with b = op(B) column 0 */
  if (p->besize == 2) {
    const uint16_t *w = (const uint16_t *)p->B;
    for (int i = 0; i < K; i++) scratch[i] = mc_bf16_to_f32(w[i * p->rsb]);
  } else {
    const float *b = (const float *)p->B;
    for (int i = 0; i < K; i++) scratch[i] = b[i * p->rsb];
  }
  g.n = p->M;
  g.x = scratch;
  g.y = col_buffer(p->C, p->ldc, p->M, p->beta, tmp);
  g.W = p->A;
  if (p->csa == 1) {
    g.kind = 0;
    g.ldw = p->rsa;
  } else {
    g.kind = 1;
    g.ldw = p->csa;
  }
  gemv_run(&g, allow_mt, 4);
  if (g.y != p->C)
    for (int i = 0; i < p->M; i++) p->C[i * p->ldc] = g.y[i];
  return 1;
}

/* ---- skinny (2 <= M <= MC_SKINNY_M against W[N,K]): one pass over W for all rows ---- */

typedef struct {
  mc_skinny_fn fn;
  int m, n, k, parts;
  float alpha, beta;
  const float *X;
  long ldx;
  const char *W;
  long ldw;
  int wsize;
  float *C;
  long ldc;
} skinny_job;

static void skinny_task(void *arg, int task, int tid) {
  (void)tid;
  const skinny_job *s = arg;
  int j0, n;
  grid_range(s->n, 64, s->parts, task, &j0, &n);
  if (n > 0)
    s->fn(s->m, n, s->k, s->alpha, s->X, s->ldx, s->W + (long)j0 * s->ldw * s->wsize, s->ldw, s->beta,
          s->C + j0, s->ldc);
}

/* Returns 1 when the problem was skinny and has been done. */
static int try_skinny(const prob_t *p, int allow_mt) {
  mc_skinny_fn fn = p->besize == 2 ? mc_k.skinny_bf16 : mc_k.skinny;
  if (!fn || p->M < 2 || p->M > MC_SKINNY_M || p->rsb != 1) return 0;
  skinny_job s = {fn, p->M, p->N, p->K, 1, p->alpha, p->beta, p->A, p->rsa, p->B, p->csb, p->besize,
                  p->C, p->ldc};
  if (p->csa != 1) {  /* rows of op(A) made contiguous */
    float *x = mc_scratch(MC_SCRATCH_X, sizeof(float) * (size_t)p->M * p->K);
    if (!x) return 1; /* out of memory: recorded for the binding (internal.h) */
    for (int i = 0; i < p->M; i++)
      for (int q = 0; q < p->K; q++) x[(long)i * p->K + q] = p->A[i * p->rsa + (long)q * p->csa];
    s.X = x;
    s.ldx = p->K;
  }
  double bytes = (double)p->N * p->K * p->besize;
  int nt = allow_mt && bytes >= GEMV_MT_MIN_BYTES ? mc_pool_threads() : 1;
  s.parts = MC_MAX(1, MC_MIN(nt, MC_CEIL(p->N, 64)));
  if (s.parts <= 1) skinny_task(&s, 0, 0);
  else mc_parallel(s.parts, skinny_task, &s);
  return 1;
}

/* One GEMM, threaded when it pays and allow_mt is set. */
static void gemm_run(const prob_t *p, int allow_mt) {
  if (p->M <= 0 || p->N <= 0) return;
  if (p->K <= 0 || p->alpha == 0.0f) {
    scale_c(p->C, p->ldc, p->M, p->N, p->beta);
    return;
  }
  if (try_gemv(p, allow_mt) || try_skinny(p, allow_mt)) return;
  int nt = allow_mt ? want_threads(2.0 * p->M * p->N * p->K) : 1;
  if (nt <= 1) {
    gemm_block(p, 0, p->M, 0, p->N);
    return;
  }
  grid_t g = {.p = p};
  choose_grid(p, nt, &g.tm, &g.tn);
  mc_parallel(g.tm * g.tn, grid_task, &g);
}

static prob_t make_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                         long lda, const float *B, long ldb, float beta, float *C, long ldc) {
  prob_t p = {mc_k.sgemm, M, N, K, alpha, beta, A, transA ? 1 : lda, transA ? lda : 1,
              (const char *)B, transB ? 1 : ldb, transB ? ldb : 1, 4, C, ldc};
  return p;
}

void mc_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, long lda,
              const float *B, long ldb, float beta, float *C, long ldc) {
  mc_init();
  prob_t p = make_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  gemm_run(&p, 1);
}

/* ---- batched ---- */

typedef struct {
  prob_t p;
  int batch, per_task, mt;
  long sA, sB, sC;
} batch_job;

static void batch_task(void *arg, int task, int tid) {
  (void)tid;
  const batch_job *b = arg;
  int i0 = task * b->per_task, i1 = MC_MIN(b->batch, i0 + b->per_task);
  for (int i = i0; i < i1; i++) {
    prob_t q = b->p;
    q.A += i * b->sA;
    q.B += i * b->sB * 4;
    q.C += i * b->sC;
    gemm_run(&q, b->mt);
  }
}

void mc_sgemm_batched(int batch, int transA, int transB, int M, int N, int K, float alpha,
                      const float *A, long lda, long strideA, const float *B, long ldb, long strideB,
                      float beta, float *C, long ldc, long strideC) {
  mc_init();
  if (batch <= 0) return;
  batch_job b = {make_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), batch, 1,
                 1, strideA, strideB, strideC};
  double flops = 2.0 * M * N * K;
  int nt = mc_pool_threads();
  /* C windows that overlap (stride 0 accumulates) must be done in order */
  int c_overlap = strideC < (long)(M - 1) * ldc + N;
  if (batch == 1 || nt <= 1 || c_overlap || flops >= MT_MIN_FLOPS * 4.0) {
    /* big GEMMs: each one is threaded on its own */
    for (int i = 0; i < batch; i++) batch_task(&b, i, 0);
    return;
  }
  b.mt = 0;
  /* many small GEMMs (attention heads): whole GEMMs per task, a few tasks per thread */
  int tasks = MC_MIN(batch, nt * 4);
  b.per_task = MC_CEIL(batch, tasks);
  mc_parallel(MC_CEIL(batch, b.per_task), batch_task, &b);
}

void mc_gemm_bf16(int M, int N, int K, float alpha, const float *A, long lda, const uint16_t *W,
                  long ldw, float beta, float *C, long ldc) {
  mc_init();
  prob_t p = {mc_k.bf16, M, N, K, alpha, beta, A, lda, 1, (const char *)W, 1, ldw, 2, C, ldc};
  gemm_run(&p, 1);
}
