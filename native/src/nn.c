/*
 * The NN kernels' entry points: pick the ISA table and spread rows (or element ranges) over the pool.
 * Work below ~32K elements runs on the calling thread: waking a worker costs more than it saves.
 * Each kernel hands its tasks one argument struct of its own, named as the kernel's parameters are.
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

int mc_nn_tasks(long units, long cost) {
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
  const float *x, *g;
  float *y, *rstd;
  long rows;
  int D, ntasks;
  float eps;
} rms_fwd_args;

static void t_rms_fwd(void *p, int task, int tid) {
  const rms_fwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->rmsnorm_fwd(a->x, a->g, a->y, a->rstd, lo, hi, a->D, a->eps);
}
void mc_rmsnorm_fwd(const float *x, const float *g, float *y, float *rstd, long rows, int D, float eps) {
  rms_fwd_args a = {.k = mc_nn_active(), .x = x, .g = g, .y = y, .rstd = rstd, .rows = rows, .D = D, .eps = eps};
  a.ntasks = mc_nn_tasks(rows, D);
  mc_parallel(a.ntasks, t_rms_fwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  const float *x, *g, *rstd, *dy;
  float *dx;
  float *partial; /* ntasks × D: each task's sum of dg over its rows */
  long rows;
  int D, ntasks;
} rms_bwd_args;

static void t_rms_bwd(void *p, int task, int tid) {
  const rms_bwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->rmsnorm_bwd(a->x, a->g, a->rstd, a->dy, a->dx, a->partial + (long)task * a->D, lo, hi, a->D);
}
void mc_rmsnorm_bwd(const float *x, const float *g, const float *rstd, const float *dy, float *dx, float *dg, long rows,
                    int D) {
  rms_bwd_args a = {.k = mc_nn_active(), .x = x, .g = g, .rstd = rstd, .dy = dy, .dx = dx, .rows = rows, .D = D};
  a.ntasks = mc_nn_tasks(rows, D);
  a.partial = mc_kernel_alloc("rmsnorm_bwd", sizeof(float) * (size_t)a.ntasks * (size_t)D);
  if (!a.partial) return;
  memset(a.partial, 0, sizeof(float) * (size_t)a.ntasks * (size_t)D);
  mc_parallel(a.ntasks, t_rms_bwd, &a);
  memcpy(dg, a.partial, sizeof(float) * D);
  for (int t = 1; t < a.ntasks; t++)
    for (int i = 0; i < D; i++) dg[i] += a.partial[(long)t * D + i];
  mc_kernel_free(a.partial);
}

typedef struct {
  const mc_nn_impl *k;
  const float *x;
  float *y;
  long rows;
  int V, log, ntasks;
} softmax_fwd_args;

static void t_sm_fwd(void *p, int task, int tid) {
  const softmax_fwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->softmax_fwd(a->x, a->y, lo, hi, a->V, a->log);
}
void mc_softmax_fwd(const float *x, float *y, long rows, int V, int log) {
  softmax_fwd_args a = {.k = mc_nn_active(), .x = x, .y = y, .rows = rows, .V = V, .log = log};
  a.ntasks = mc_nn_tasks(rows, V);
  mc_parallel(a.ntasks, t_sm_fwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  const float *y, *dy;
  float *dx;
  long rows;
  int V, log, ntasks;
} softmax_bwd_args;

static void t_sm_bwd(void *p, int task, int tid) {
  const softmax_bwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->softmax_bwd(a->y, a->dy, a->dx, lo, hi, a->V, a->log);
}
void mc_softmax_bwd(const float *y, const float *dy, float *dx, long rows, int V, int log) {
  softmax_bwd_args a = {.k = mc_nn_active(), .y = y, .dy = dy, .dx = dx, .rows = rows, .V = V, .log = log};
  a.ntasks = mc_nn_tasks(rows, V);
  mc_parallel(a.ntasks, t_sm_bwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  const float *logits;
  const int32_t *targets;
  float *lse;
  long rows;
  int V, ignore, ntasks;
  /* per task: loss sum, counted rows, first out-of-range row (or −1) */
  double sums[MC_MAX_THREADS];
  long counts[MC_MAX_THREADS], bad[MC_MAX_THREADS];
} ce_fwd_args;

static void t_ce_fwd(void *p, int task, int tid) {
  ce_fwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->sums[task] = 0;
  a->counts[task] = 0;
  a->bad[task] = -1;
  a->k->ce_fwd(a->logits, a->targets, a->lse, lo, hi, a->V, a->ignore, &a->sums[task], &a->counts[task], &a->bad[task]);
}
long mc_ce_fwd(const float *logits, const int32_t *targets, float *lse, long rows, int V, int ignore, double *out) {
  ce_fwd_args a = {.k = mc_nn_active(), .logits = logits, .targets = targets, .lse = lse, .rows = rows, .V = V,
                   .ignore = ignore};
  a.ntasks = mc_nn_tasks(rows, V);
  mc_parallel(a.ntasks, t_ce_fwd, &a);
  double s = 0;
  long c = 0, bad = -1;
  for (int t = 0; t < a.ntasks; t++) {
    s += a.sums[t];
    c += a.counts[t];
    if (bad < 0 && a.bad[t] >= 0) bad = a.bad[t];
  }
  out[0] = s;
  out[1] = (double)c;
  return bad;
}

typedef struct {
  const mc_nn_impl *k;
  const float *logits;
  const int32_t *targets;
  const float *lse;
  float *dlogits;
  long rows;
  int V, ignore, ntasks;
  float scale;
} ce_bwd_args;

static void t_ce_bwd(void *p, int task, int tid) {
  const ce_bwd_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->ce_bwd(a->logits, a->targets, a->lse, a->dlogits, lo, hi, a->V, a->scale, a->ignore);
}
void mc_ce_bwd(const float *logits, const int32_t *targets, const float *lse, float *dlogits, long rows, int V,
               float scale, int ignore) {
  ce_bwd_args a = {.k = mc_nn_active(), .logits = logits, .targets = targets, .lse = lse, .dlogits = dlogits,
                   .rows = rows, .V = V, .scale = scale, .ignore = ignore};
  a.ntasks = mc_nn_tasks(rows, V);
  mc_parallel(a.ntasks, t_ce_bwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  const float *x, *cos, *sin;
  float *y;
  long rows; /* B·T */
  int T, H, D, pos0, interleaved, inverse, ntasks;
} rope_args;

static void t_rope(void *p, int task, int tid) {
  const rope_args *a = p;
  RANGE(task, a->ntasks, a->rows, lo, hi);
  a->k->rope(a->x, a->cos, a->sin, a->y, lo, hi, a->T, a->H, a->D, a->pos0, a->interleaved, a->inverse);
}
void mc_rope(const float *x, const float *cos, const float *sin, float *y, int B, int T, int H, int D, int pos0,
             int interleaved, int inverse) {
  rope_args a = {.k = mc_nn_active(), .x = x, .cos = cos, .sin = sin, .y = y, .rows = (long)B * T, .T = T, .H = H,
                 .D = D, .pos0 = pos0, .interleaved = interleaved, .inverse = inverse};
  a.ntasks = mc_nn_tasks(a.rows, (long)H * D);
  mc_parallel(a.ntasks, t_rope, &a);
}

/* ---- flat element ranges ---- */

static int tasks_flat(long n) { return mc_nn_tasks(MC_CEIL(n, 4096), 4096); }

typedef struct {
  const mc_nn_impl *k;
  const float *g, *u;
  float *y;
  long n;
  int ntasks;
} swiglu_fwd_args;

static void t_swiglu_fwd(void *p, int task, int tid) {
  const swiglu_fwd_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->swiglu_fwd(a->g, a->u, a->y, lo, hi);
}
void mc_swiglu_fwd(const float *g, const float *u, float *y, long n) {
  swiglu_fwd_args a = {.k = mc_nn_active(), .g = g, .u = u, .y = y, .n = n};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_swiglu_fwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  const float *g, *u, *dy;
  float *dg, *du;
  long n;
  int ntasks;
} swiglu_bwd_args;

static void t_swiglu_bwd(void *p, int task, int tid) {
  const swiglu_bwd_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->swiglu_bwd(a->g, a->u, a->dy, a->dg, a->du, lo, hi);
}
void mc_swiglu_bwd(const float *g, const float *u, const float *dy, float *dg, float *du, long n) {
  swiglu_bwd_args a = {.k = mc_nn_active(), .g = g, .u = u, .dy = dy, .dg = dg, .du = du, .n = n};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_swiglu_bwd, &a);
}

typedef struct {
  const mc_nn_impl *k;
  float *p;
  const float *g;
  float *m, *v;
  long n;
  int ntasks;
  float lr, b1, b2, eps, wd, bc1, bc2;
} adamw_args;

static void t_adamw(void *p, int task, int tid) {
  const adamw_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->adamw(a->p, a->g, a->m, a->v, lo, hi, a->lr, a->b1, a->b2, a->eps, a->wd, a->bc1, a->bc2);
}
void mc_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps, float wd,
              float bc1, float bc2) {
  adamw_args a = {.k = mc_nn_active(), .p = p, .g = g, .m = m, .v = v, .n = n, .lr = lr, .b1 = b1, .b2 = b2,
                  .eps = eps, .wd = wd, .bc1 = bc1, .bc2 = bc2};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_adamw, &a);
}

typedef struct {
  const mc_nn_impl *k;
  int op, ntasks;
  const float *x;
  float *y;
  long n;
} unary_args;

static void t_unary(void *p, int task, int tid) {
  const unary_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->unary(a->op, a->x, a->y, lo, hi);
}
void mc_unary(int op, const float *x, float *y, long n) {
  unary_args a = {.k = mc_nn_active(), .op = op, .x = x, .y = y, .n = n};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_unary, &a);
}

typedef struct {
  const mc_nn_impl *k;
  int op, ntasks;
  const float *x, *y, *dy;
  float *dx;
  long n;
} unary_grad_args;

static void t_unary_grad(void *p, int task, int tid) {
  const unary_grad_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->unary_grad(a->op, a->x, a->y, a->dy, a->dx, lo, hi);
}
void mc_unary_grad(int op, const float *x, const float *y, const float *dy, float *dx, long n) {
  unary_grad_args a = {.k = mc_nn_active(), .op = op, .x = x, .y = y, .dy = dy, .dx = dx, .n = n};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_unary_grad, &a);
}

typedef struct {
  const mc_nn_impl *k;
  int op, ntasks;
  const float *a, *b;
  float *out;
  long n, period; /* out[i] = a[i] op b[i % period] */
} binary_args;

static void t_binary(void *p, int task, int tid) {
  const binary_args *a = p;
  /* Split on whole periods so the broadcast loop sees complete rows. */
  long units = a->period == a->n || a->period == 1 ? a->n : a->n / a->period;
  long scale = units == a->n ? 1 : a->period;
  RANGE(task, a->ntasks, units, lo, hi);
  a->k->binary(a->op, a->a, a->b, a->out, a->n, a->period, lo * scale, hi * scale);
}
void mc_binary(int op, const float *a, const float *b, float *out, long n, long period) {
  binary_args args = {.k = mc_nn_active(), .op = op, .a = a, .b = b, .out = out, .n = n, .period = period};
  long units = period == n || period == 1 ? n : n / period;
  args.ntasks = mc_nn_tasks(units, n / (units ? units : 1));
  mc_parallel(args.ntasks, t_binary, &args);
}

typedef struct {
  const mc_nn_impl *k;
  const float *x;
  float *y;
  long n;
  int ntasks;
  float s, t; /* y = x·s + t */
} affine_args;

static void t_affine(void *p, int task, int tid) {
  const affine_args *a = p;
  RANGE(task, a->ntasks, a->n, lo, hi);
  a->k->affine(a->x, a->y, a->s, a->t, lo, hi);
}
void mc_affine(const float *x, float *y, long n, float s, float t) {
  affine_args a = {.k = mc_nn_active(), .x = x, .y = y, .n = n, .s = s, .t = t};
  a.ntasks = tasks_flat(n);
  mc_parallel(a.ntasks, t_affine, &a);
}

typedef struct {
  const mc_nn_impl *k;
  int op, ntasks;
  const float *src;
  float *dst;
  long outer, r, inner; /* src [outer, r, inner] → dst [outer, inner] */
} reduce_args;

static void t_reduce(void *p, int task, int tid) {
  const reduce_args *a = p;
  RANGE(task, a->ntasks, a->outer, lo, hi);
  a->k->reduce(a->op, a->src, a->dst, lo, hi, a->r, a->inner);
}
void mc_reduce(int op, const float *src, float *dst, long outer, long r, long inner) {
  reduce_args a = {.k = mc_nn_active(), .op = op, .src = src, .dst = dst, .outer = outer, .r = r, .inner = inner};
  a.ntasks = mc_nn_tasks(outer, r * inner);
  mc_parallel(a.ntasks, t_reduce, &a);
}
