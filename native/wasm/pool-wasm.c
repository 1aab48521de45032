/*
 * The thread pool of the wasm32 build. WebAssembly cannot create threads: the JS side starts Web
 * Workers (worker_threads in Node); each instantiates this module over the same shared memory, points
 * its stack pointer at a stack the main instance allocated, and enters mc_wasm_worker, which returns
 * only when the pool is stopped. The job protocol is pool.c's: one 64-bit ticket
 * [generation:32 | ntasks:16 | next:16] claimed by CAS, the caller takes part as tid 0, and a task is
 * only ever run by a thread that saw its job. Idle workers spin briefly, then sleep in
 * memory.atomic.wait32 on a wake counter. The caller never sleeps (a browser's main thread may not):
 * it spins until the tasks it did not claim itself are done, so a pool whose workers have not come
 * online yet still finishes every job, on the caller alone.
 *
 * Threads are told apart by their stacks (wasm has no thread pointer without TLS set-up): each worker
 * registers its stack range, and mc_scratch finds the calling thread from the address of a local.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "../src/internal.h"
#include "wasm-internal.h"

/* The single-threaded build (minicpm-kernels-st.wasm, for pages without shared memory) has no atomics
 * instructions: clang lowers the C11 atomics to plain accesses, no worker ever starts, and the wait and
 * notify below are never reached. */
#ifdef __wasm_atomics__
#define WAIT32(p, v) __builtin_wasm_memory_atomic_wait32((p), (v), -1)
#define NOTIFY(p) __builtin_wasm_memory_atomic_notify((p), 0xFFFFFFFFu)
#else
#define WAIT32(p, v) ((void)(p), (void)(v), 0)
#define NOTIFY(p) ((void)(p), 0)
#endif

#define SPIN_ITERS 20000
#define MAX_TASKS 0xFFFF

static struct {
  int nthreads; /* how many parts the kernels split work into, the caller included */
  _Atomic uint64_t ticket;
  _Atomic int completed;
  _Atomic int wake; /* bumped at every publish and stop: what sleeping workers wait on */
  _Atomic int sleeping;
  _Atomic int stop;
  _Atomic int busy;
  _Atomic int alive;
  mc_task_fn fn;
  void *arg;
  uintptr_t stack_lo[MC_MAX_THREADS], stack_hi[MC_MAX_THREADS];
} P = {.nthreads = 1};

static inline uint32_t t_gen(uint64_t t) { return (uint32_t)(t >> 32); }
static inline int t_ntasks(uint64_t t) { return (int)((t >> 16) & 0xFFFF); }
static inline int t_next(uint64_t t) { return (int)(t & 0xFFFF); }

static int claim(uint32_t gen) {
  uint64_t t = atomic_load_explicit(&P.ticket, memory_order_acquire);
  for (;;) {
    if (t_gen(t) != gen || t_next(t) >= t_ntasks(t)) return -1;
    if (atomic_compare_exchange_weak_explicit(&P.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
      return t_next(t);
  }
}

static void run_tasks(uint32_t gen, int tid) {
  int i;
  while ((i = claim(gen)) >= 0) {
    P.fn(P.arg, i, tid);
    atomic_fetch_add_explicit(&P.completed, 1, memory_order_release);
  }
}

static void wake_all(void) {
  atomic_fetch_add(&P.wake, 1);
  if (atomic_load(&P.sleeping) > 0) NOTIFY((int *)&P.wake);
}

/* A worker's life: called by the JS worker with its tid (>= 1) and the [lo, hi) of its stack. */
void mc_wasm_worker(int tid, uintptr_t lo, uintptr_t hi) {
  if (tid < 1 || tid >= MC_MAX_THREADS) return;
  P.stack_lo[tid] = lo;
  P.stack_hi[tid] = hi;
  atomic_fetch_add(&P.alive, 1);
  uint32_t seen = t_gen(atomic_load(&P.ticket));
  for (;;) {
    uint32_t gen = seen;
    for (int s = 0; s < SPIN_ITERS; s++) {
      gen = t_gen(atomic_load_explicit(&P.ticket, memory_order_acquire));
      if (gen != seen || atomic_load_explicit(&P.stop, memory_order_relaxed)) break;
    }
    if (gen == seen && !atomic_load(&P.stop)) {
      /* seq_cst sleeping/ticket/wake: either the publisher sees us asleep and notifies, or we read
       * its new ticket, or the wake value we wait on is already stale and the wait returns */
      atomic_fetch_add(&P.sleeping, 1);
      for (;;) {
        const int w = atomic_load(&P.wake);
        gen = t_gen(atomic_load(&P.ticket));
        if (gen != seen || atomic_load(&P.stop)) break;
        WAIT32((int *)&P.wake, w);
      }
      atomic_fetch_sub(&P.sleeping, 1);
    }
    if (atomic_load(&P.stop)) break;
    seen = gen;
    run_tasks(gen, tid);
  }
  P.stack_lo[tid] = P.stack_hi[tid] = 0;
  atomic_fetch_sub(&P.alive, 1);
}

/* Workers currently inside mc_wasm_worker. */
int mc_wasm_workers_alive(void) { return atomic_load(&P.alive); }

/* Makes every worker return from mc_wasm_worker (their JS loops then exit) and waits for it. */
void mc_wasm_pool_stop(void) {
  int expected = 0;
  while (!atomic_compare_exchange_weak(&P.busy, &expected, 1)) expected = 0;
  atomic_store(&P.stop, 1);
  wake_all();
  while (atomic_load(&P.alive) > 0) wake_all();
  atomic_store(&P.stop, 0);
  atomic_store(&P.busy, 0);
}

void mc_parallel(int ntasks, mc_task_fn fn, void *arg) {
  if (ntasks <= 0) return;
  int expected = 0;
  if (ntasks == 1 || P.nthreads <= 1 || ntasks > MAX_TASKS || !atomic_compare_exchange_strong(&P.busy, &expected, 1)) {
    for (int i = 0; i < ntasks; i++) fn(arg, i, 0);
    return;
  }
  P.fn = fn;
  P.arg = arg;
  atomic_store_explicit(&P.completed, 0, memory_order_relaxed);
  const uint32_t gen = t_gen(atomic_load(&P.ticket)) + 1;
  atomic_store(&P.ticket, ((uint64_t)gen << 32) | ((uint64_t)ntasks << 16));
  wake_all();
  run_tasks(gen, 0);
  while (atomic_load_explicit(&P.completed, memory_order_acquire) < ntasks) {
  }
  atomic_store_explicit(&P.busy, 0, memory_order_release);
}

int mc_pool_threads(void) { return P.nthreads; }

/* The JS side starts and stops the workers; here only the number of parts changes. */
void mc_pool_resize(int n) { P.nthreads = n < 1 ? 1 : (n > MC_MAX_THREADS ? MC_MAX_THREADS : n); }

/* ---- per-thread scratch ---- */

typedef struct {
  void *p[MC_SCRATCH_N];
  size_t size[MC_SCRATCH_N];
} scratch_t;

static scratch_t scratch[MC_MAX_THREADS];

static int self_tid(void) {
  volatile char probe = 0;
  const uintptr_t at = (uintptr_t)&probe;
  for (int i = 1; i < MC_MAX_THREADS; i++)
    if (at >= P.stack_lo[i] && at < P.stack_hi[i]) return i;
  return 0; /* the caller's stack is the module's own */
}

void *mc_scratch(int slot, size_t bytes) {
  scratch_t *s = &scratch[self_tid()];
  if (s->size[slot] < bytes) {
    free(s->p[slot]);
    const size_t sz = (bytes + 4095) & ~(size_t)4095;
    s->p[slot] = mc_alloc_refused(sz) ? NULL : malloc(sz);
    s->size[slot] = s->p[slot] ? sz : 0;
    if (!s->p[slot]) { /* out of memory inside a kernel: recorded, the caller skips its work */
      mc_alloc_failed("scratch", sz);
      return NULL;
    }
  }
  return s->p[slot];
}
