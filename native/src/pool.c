/*
 * A persistent thread pool. Workers spin briefly after each job (so back-to-back kernel calls from JS
 * do not pay a wake-up) and then sleep on a condition variable, so an idle pool costs no CPU.
 * The calling thread always takes part as tid 0.
 *
 * A job is published as one 64-bit ticket [generation:32 | ntasks:16 | next:16]; a worker claims a task
 * with a CAS on that word, so a worker that wakes late can never run a task of a job it did not see.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* About 100 µs of spinning (measured: a pause is ~25 ns on Zen 4; ~40 ns on Skylake and later):
 * long enough to bridge the JS work between two kernel calls, short enough to cost nothing idle. */
#define SPIN_ITERS 4000
#define MAX_TASKS 0xFFFF

typedef struct {
  mc_task_fn fn;
  void *arg;
} job_t;

static struct {
  int nthreads;  /* including the caller */
  pthread_t th[MC_MAX_THREADS];
  _Atomic uint64_t ticket;
  _Atomic int completed;
  _Atomic int sleeping;
  _Atomic int stop;
  _Atomic int busy;
  job_t job;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} P = {.nthreads = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static inline uint32_t t_gen(uint64_t t) { return (uint32_t)(t >> 32); }
static inline int t_ntasks(uint64_t t) { return (int)((t >> 16) & 0xFFFF); }
static inline int t_next(uint64_t t) { return (int)(t & 0xFFFF); }

/* Claims the next task of generation gen, or returns -1 when that job has none left. */
static int claim(uint32_t gen) {
  uint64_t t = atomic_load_explicit(&P.ticket, memory_order_acquire);
  for (;;) {
    if (t_gen(t) != gen || t_next(t) >= t_ntasks(t)) return -1;
    if (atomic_compare_exchange_weak_explicit(&P.ticket, &t, t + 1, memory_order_acq_rel,
                                              memory_order_acquire))
      return t_next(t);
  }
}

static void run_tasks(uint32_t gen, int tid) {
  int i;
  while ((i = claim(gen)) >= 0) {
    /* A successful claim means the job is not finished, so P.job still describes it. */
    P.job.fn(P.job.arg, i, tid);
    atomic_fetch_add_explicit(&P.completed, 1, memory_order_release);
  }
}

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  uint32_t seen = t_gen(atomic_load(&P.ticket));
  for (;;) {
    uint32_t gen = seen;
    for (int s = 0; s < SPIN_ITERS; s++) {
      gen = t_gen(atomic_load_explicit(&P.ticket, memory_order_acquire));
      if (gen != seen || atomic_load_explicit(&P.stop, memory_order_relaxed)) break;
      cpu_relax();
    }
    if (gen == seen && !atomic_load(&P.stop)) {
      /* seq_cst on sleeping/ticket pairs with the publisher's: either it sees us asleep and
       * signals, or we see its new ticket before waiting. */
      pthread_mutex_lock(&P.mu);
      atomic_fetch_add(&P.sleeping, 1);
      while ((gen = t_gen(atomic_load(&P.ticket))) == seen && !atomic_load(&P.stop))
        pthread_cond_wait(&P.cv, &P.mu);
      atomic_fetch_sub(&P.sleeping, 1);
      pthread_mutex_unlock(&P.mu);
    }
    if (atomic_load(&P.stop)) return NULL;
    seen = gen;
    run_tasks(gen, tid);
  }
}

static void run_inline(int ntasks, mc_task_fn fn, void *arg) {
  for (int i = 0; i < ntasks; i++) fn(arg, i, 0);
}

void mc_parallel(int ntasks, mc_task_fn fn, void *arg) {
  if (ntasks <= 0) return;
  int expected = 0;
  if (ntasks == 1 || P.nthreads <= 1 || ntasks > MAX_TASKS ||
      !atomic_compare_exchange_strong(&P.busy, &expected, 1)) {
    run_inline(ntasks, fn, arg);
    return;
  }
  P.job.fn = fn;
  P.job.arg = arg;
  atomic_store_explicit(&P.completed, 0, memory_order_relaxed);
  uint32_t gen = t_gen(atomic_load(&P.ticket)) + 1;
  atomic_store(&P.ticket, ((uint64_t)gen << 32) | ((uint64_t)ntasks << 16));
  if (atomic_load(&P.sleeping) > 0) {
    pthread_mutex_lock(&P.mu);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
  }
  run_tasks(gen, 0);
  for (int s = 0; atomic_load_explicit(&P.completed, memory_order_acquire) < ntasks; s++) {
    if (s < SPIN_ITERS * 4) cpu_relax();
    else sched_yield();  /* a worker was preempted: let it run */
  }
  atomic_store_explicit(&P.busy, 0, memory_order_release);
}

int mc_pool_threads(void) { return P.nthreads; }

static void stop_workers(void) {
  pthread_mutex_lock(&P.mu);
  atomic_store(&P.stop, 1);
  pthread_cond_broadcast(&P.cv);
  pthread_mutex_unlock(&P.mu);
  for (int i = 1; i < P.nthreads; i++) pthread_join(P.th[i], NULL);
  atomic_store(&P.stop, 0);
  P.nthreads = 1;
}

void mc_pool_resize(int n) {
  if (n < 1) n = 1;
  if (n > MC_MAX_THREADS) n = MC_MAX_THREADS;
  int expected = 0;
  while (!atomic_compare_exchange_weak(&P.busy, &expected, 1)) {
    expected = 0;
    sched_yield();
  }
  if (n != P.nthreads) {
    stop_workers();
    int started = 1;
    for (int i = 1; i < n; i++) {
      if (pthread_create(&P.th[i], NULL, worker, (void *)(intptr_t)i) != 0) break;
      started++;
    }
    P.nthreads = started;
  }
  atomic_store(&P.busy, 0);
}

/* ---- per-OS-thread scratch ---- */

typedef struct {
  void *p[MC_SCRATCH_N];
  size_t size[MC_SCRATCH_N];
} scratch_t;

static __thread scratch_t *tls_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v) {
  scratch_t *s = v;
  for (int i = 0; i < MC_SCRATCH_N; i++) mc_free(s->p[i], s->size[i]);
  free(s);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *mc_scratch(int slot, size_t bytes) {
  scratch_t *s = tls_scratch;
  if (!s) {
    pthread_once(&scratch_once, scratch_key_init);
    s = calloc(1, sizeof *s);
    if (!s) {
      mc_alloc_failed("scratch", sizeof *s);
      return NULL;
    }
    pthread_setspecific(scratch_key, s);  /* frees the buffers when the thread exits */
    tls_scratch = s;
  }
  if (s->size[slot] < bytes) {
    mc_free(s->p[slot], s->size[slot]);  /* first, so the old and new blocks never coexist */
    size_t sz = (bytes + 4095) & ~(size_t)4095;
    /* large ones get huge pages: packed panels are TLB-hungry */
    s->p[slot] = mc_alloc_refused(sz) ? NULL : mc_alloc(sz);
    s->size[slot] = s->p[slot] ? sz : 0;
    if (!s->p[slot]) {  /* out of memory inside a kernel: the caller skips its work */
      mc_alloc_failed("scratch", sz);
      return NULL;
    }
  }
  return s->p[slot];
}
