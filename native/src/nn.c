/*
 * The NN kernels' entry points: pick the ISA table and spread rows (or element ranges) over the pool.
 * Work below ~32K elements runs on the calling thread: waking a worker costs more than it saves.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "nn-internal.h"

const mc_nn_impl *mc_nn_active(void) {
  mc_init();
#ifdef MC_X86
  if (mc_features().isa == MC_ISA_AVX512) return &mc_nn_avx512;
#endif
  return &mc_nn_generic;
}

#define GRAIN 32768L

/* Number of tasks for `units` units of `cost` elements each. */
static int tasks_for(long units, long cost) {
  long total = units * cost;
  int threads = mc_pool_threads();
  if (total < GRAIN || units < 2 || threads < 2) return 1;
  long t = MC_MIN((long)threads, units);
  return (int)t;
}

#define RANGE(task, ntasks, units, lo, hi) \
  long lo = (units) * (task) / (ntasks);   \
  long hi = (units) * ((task) + 1) / (ntasks)

/* ---- rows of D ---- */

typedef struct {
  const mc_nn_impl *k;
  const float *a, *b, *c, *d;
  float *y, *z;
  const int32_t *ids;
  long rows, n, period;
  int D, flag, flag2, op, ignore, T, H, pos0;
  float f0, f1, f2, f3, f4, f5, f6;
  int ntasks;
  double sums[MC_MAX_THREADS];
  long counts[MC_MAX_THREADS], bad[MC_MAX_THREADS];
  float *partial; /* ntasks × D scratch for rmsnorm's dg */
} job_t;

static void t_rms_fwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->rmsnorm_fwd(j->a, j->b, j->y, j->z, lo, hi, j->D, j->f0);
}
void mc_rmsnorm_fwd(const float *x, const float *g, float *y, float *rstd, long rows, int D, float eps) {
  job_t j = {.k = mc_nn_active(), .a = x, .b = g, .y = y, .z = rstd, .rows = rows, .D = D, .f0 = eps};
  j.ntasks = tasks_for(rows, D);
  mc_parallel(j.ntasks, t_rms_fwd, &j);
}

static void t_rms_bwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->rmsnorm_bwd(j->a, j->b, j->c, j->d, j->y, j->partial + (long)task * j->D, lo, hi, j->D);
}
void mc_rmsnorm_bwd(const float *x, const float *g, const float *rstd, const float *dy, float *dx, float *dg, long rows,
                    int D) {
  job_t j = {.k = mc_nn_active(), .a = x, .b = g, .c = rstd, .d = dy, .y = dx, .rows = rows, .D = D};
  j.ntasks = tasks_for(rows, D);
  j.partial = calloc((size_t)j.ntasks * D, sizeof(float));
  mc_parallel(j.ntasks, t_rms_bwd, &j);
  memcpy(dg, j.partial, sizeof(float) * D);
  for (int t = 1; t < j.ntasks; t++)
    for (int i = 0; i < D; i++) dg[i] += j.partial[(long)t * D + i];
  free(j.partial);
}

static void t_sm_fwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->softmax_fwd(j->a, j->y, lo, hi, j->D, j->flag);
}
void mc_softmax_fwd(const float *x, float *y, long rows, int V, int log) {
  job_t j = {.k = mc_nn_active(), .a = x, .y = y, .rows = rows, .D = V, .flag = log};
  j.ntasks = tasks_for(rows, V);
  mc_parallel(j.ntasks, t_sm_fwd, &j);
}

static void t_sm_bwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->softmax_bwd(j->a, j->b, j->y, lo, hi, j->D, j->flag);
}
void mc_softmax_bwd(const float *y, const float *dy, float *dx, long rows, int V, int log) {
  job_t j = {.k = mc_nn_active(), .a = y, .b = dy, .y = dx, .rows = rows, .D = V, .flag = log};
  j.ntasks = tasks_for(rows, V);
  mc_parallel(j.ntasks, t_sm_bwd, &j);
}

static void t_ce_fwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->sums[task] = 0;
  j->counts[task] = 0;
  j->bad[task] = -1;
  j->k->ce_fwd(j->a, j->ids, j->y, lo, hi, j->D, j->ignore, &j->sums[task], &j->counts[task], &j->bad[task]);
}
long mc_ce_fwd(const float *logits, const int32_t *targets, float *lse, long rows, int V, int ignore, double *out) {
  job_t j = {.k = mc_nn_active(), .a = logits, .ids = targets, .y = lse, .rows = rows, .D = V, .ignore = ignore};
  j.ntasks = tasks_for(rows, V);
  mc_parallel(j.ntasks, t_ce_fwd, &j);
  double s = 0;
  long c = 0, bad = -1;
  for (int t = 0; t < j.ntasks; t++) {
    s += j.sums[t];
    c += j.counts[t];
    if (bad < 0 && j.bad[t] >= 0) bad = j.bad[t];
  }
  out[0] = s;
  out[1] = (double)c;
  return bad;
}

static void t_ce_bwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->ce_bwd(j->a, j->ids, j->b, j->y, lo, hi, j->D, j->f0, j->ignore);
}
void mc_ce_bwd(const float *logits, const int32_t *targets, const float *lse, float *dlogits, long rows, int V,
               float scale, int ignore) {
  job_t j = {.k = mc_nn_active(), .a = logits, .ids = targets, .b = lse, .y = dlogits, .rows = rows, .D = V, .f0 = scale,
             .ignore = ignore};
  j.ntasks = tasks_for(rows, V);
  mc_parallel(j.ntasks, t_ce_bwd, &j);
}

static void t_rope(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->rope(j->a, j->b, j->c, j->y, lo, hi, j->T, j->H, j->D, j->pos0, j->flag, j->flag2);
}
void mc_rope(const float *x, const float *cos, const float *sin, float *y, int B, int T, int H, int D, int pos0,
             int interleaved, int inverse) {
  job_t j = {.k = mc_nn_active(), .a = x, .b = cos, .c = sin, .y = y, .rows = (long)B * T, .T = T, .H = H, .D = D,
             .pos0 = pos0, .flag = interleaved, .flag2 = inverse};
  j.ntasks = tasks_for(j.rows, (long)H * D);
  mc_parallel(j.ntasks, t_rope, &j);
}

/* ---- flat element ranges ---- */

static int tasks_flat(long n) { return tasks_for(MC_CEIL(n, 4096), 4096); }

static void t_swiglu_fwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->swiglu_fwd(j->a, j->b, j->y, lo, hi);
}
void mc_swiglu_fwd(const float *g, const float *u, float *y, long n) {
  job_t j = {.k = mc_nn_active(), .a = g, .b = u, .y = y, .n = n};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_swiglu_fwd, &j);
}

static void t_swiglu_bwd(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->swiglu_bwd(j->a, j->b, j->c, j->y, j->z, lo, hi);
}
void mc_swiglu_bwd(const float *g, const float *u, const float *dy, float *dg, float *du, long n) {
  job_t j = {.k = mc_nn_active(), .a = g, .b = u, .c = dy, .y = dg, .z = du, .n = n};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_swiglu_bwd, &j);
}

static void t_adamw(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->adamw(j->y, j->a, j->z, (float *)j->b, lo, hi, j->f0, j->f1, j->f2, j->f3, j->f4, j->f5, j->f6);
}
void mc_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps, float wd,
              float bc1, float bc2) {
  job_t j = {.k = mc_nn_active(), .y = p, .a = g, .z = m, .b = v, .n = n, .f0 = lr, .f1 = b1, .f2 = b2, .f3 = eps, .f4 = wd,
             .f5 = bc1, .f6 = bc2};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_adamw, &j);
}

static void t_unary(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->unary(j->op, j->a, j->y, lo, hi);
}
void mc_unary(int op, const float *x, float *y, long n) {
  job_t j = {.k = mc_nn_active(), .op = op, .a = x, .y = y, .n = n};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_unary, &j);
}

static void t_unary_grad(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->unary_grad(j->op, j->a, j->b, j->c, j->y, lo, hi);
}
void mc_unary_grad(int op, const float *x, const float *y, const float *dy, float *dx, long n) {
  job_t j = {.k = mc_nn_active(), .op = op, .a = x, .b = y, .c = dy, .y = dx, .n = n};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_unary_grad, &j);
}

static void t_binary(void *p, int task, int tid) {
  job_t *j = p;
  /* Split on whole periods so the broadcast loop sees complete rows. */
  long units = j->period == j->n || j->period == 1 ? j->n : j->n / j->period;
  long scale = units == j->n ? 1 : j->period;
  RANGE(task, j->ntasks, units, lo, hi);
  j->k->binary(j->op, j->a, j->b, j->y, j->n, j->period, lo * scale, hi * scale);
}
void mc_binary(int op, const float *a, const float *b, float *out, long n, long period) {
  job_t j = {.k = mc_nn_active(), .op = op, .a = a, .b = b, .y = out, .n = n, .period = period};
  long units = period == n || period == 1 ? n : n / period;
  j.ntasks = tasks_for(units, n / (units ? units : 1));
  mc_parallel(j.ntasks, t_binary, &j);
}

static void t_affine(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->n, lo, hi);
  j->k->affine(j->a, j->y, j->f0, j->f1, lo, hi);
}
void mc_affine(const float *x, float *y, long n, float s, float t) {
  job_t j = {.k = mc_nn_active(), .a = x, .y = y, .n = n, .f0 = s, .f1 = t};
  j.ntasks = tasks_flat(n);
  mc_parallel(j.ntasks, t_affine, &j);
}

static void t_reduce(void *p, int task, int tid) {
  job_t *j = p;
  RANGE(task, j->ntasks, j->rows, lo, hi);
  j->k->reduce(j->op, j->a, j->y, lo, hi, j->n, j->period);
}
void mc_reduce(int op, const float *src, float *dst, long outer, long r, long inner) {
  job_t j = {.k = mc_nn_active(), .op = op, .a = src, .y = dst, .rows = outer, .n = r, .period = inner};
  j.ntasks = tasks_for(outer, r * inner);
  mc_parallel(j.ntasks, t_reduce, &j);
}
