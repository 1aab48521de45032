/* f32 → bf16 runs over the pool (contract in prefill-convert.h). */
#include "prefill-convert.h"

#include "convert-bf16.h"
#include "internal.h"
#include "mc.h"

#define GRAIN 65536L /* values: below this, waking a worker costs more than it saves */

typedef struct {
  const float *x;
  uint16_t *y;
  long n;
  int ntasks;
} conv_args;

static void t_convert(void *p, int task, int tid) {
  const conv_args *a = p;
  /* ranges start on a multiple of 16 values, so each task's stores begin on a 32-byte boundary of y */
  const long per = MC_CEIL(MC_CEIL(a->n, a->ntasks), 16) * 16;
  const long lo = MC_MIN(a->n, per * task), hi = MC_MIN(a->n, lo + per);
  if (hi > lo) mc_f32_to_bf16_run(a->x + lo, a->y + lo, hi - lo);
}

void mc_f32_to_bf16_par(const float *x, uint16_t *y, long n) {
  mc_init();
  const long threads = mc_pool_threads();
  if (n < 2 * GRAIN || threads < 2) {
    mc_f32_to_bf16_run(x, y, n);
    return;
  }
  conv_args a = {.x = x, .y = y, .n = n, .ntasks = (int)MC_MIN(threads, n / GRAIN)};
  mc_parallel(a.ntasks, t_convert, &a);
}
