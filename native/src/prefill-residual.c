/* The fused residual (+ RMSNorm) of a prefill's rows (contract in prefill-residual.h). */
#include "prefill-residual.h"

#include "internal.h"
#include "nn-internal.h"

/* Rows per step of a task: 8 × D floats of s·y, out and norm stay in L2 for D up to a few thousand. */
#define CHUNK 8L

typedef struct {
  const mc_nn_impl *k;
  const float *x, *y, *g;
  float *out, *norm;
  float s, eps;
  long rows;
  int D, ntasks;
} res_args;

static void t_residual(void *p, int task, int tid) {
  const res_args *a = p;
  const long lo = a->rows * task / a->ntasks, hi = a->rows * (task + 1) / a->ntasks;
  const long D = a->D;
  for (long r0 = lo; r0 < hi; r0 += CHUNK) {
    const long nr = MC_MIN(CHUNK, hi - r0), n = nr * D, off = r0 * D;
    float *out = a->out + off;
    /* s·y goes into out first, then out = x + out, as mulScalar then add would compute them */
    const float *b = a->y + off;
    if (a->s != 1.0f) {
      a->k->affine(b, out, a->s, 0.0f, 0, n);
      b = out;
    }
    a->k->binary(MC_ADD, a->x + off, b, out, n, n, 0, n);
    if (a->g)
      for (long r = 0; r < nr; r++) {
        float rstd;
        a->k->rmsnorm_fwd(out + r * D, a->g, a->norm + off + r * D, &rstd, 0, 1, a->D, a->eps);
      }
  }
}

void mc_prefill_residual(const float *x, const float *y, float s, float *out, const float *g, float *norm, long rows,
                         int D, float eps) {
  if (rows <= 0 || D <= 0) return;
  res_args a = {.k = mc_nn_active(), .x = x, .y = y, .g = g, .out = out, .norm = g ? norm : 0, .s = s, .eps = eps,
                .rows = rows, .D = D};
  a.ntasks = mc_nn_tasks(rows, D);
  mc_parallel(a.ntasks, t_residual, &a);
}
