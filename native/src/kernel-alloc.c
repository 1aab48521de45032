/*
 * The kernels' one allocation-failure policy. A kernel never aborts and never writes through a null
 * pointer: per-call memory comes from mc_scratch (per-thread, kept between calls) or, for a buffer
 * that must survive a nested kernel call (which reuses the thread's scratch), from mc_kernel_alloc.
 * Both return NULL when memory runs out, after recording the failure here with the kernel that asked.
 * The task that got NULL skips its work, the entry point returns, and the binding takes the record
 * (mc_take_alloc_failure) and throws a typed error naming the kernel. What a failed call wrote to its
 * outputs is unspecified.
 *
 * The record is process-wide, first failure wins until it is taken: a failure on a pool worker needs
 * no hand-over to the caller, whose binding takes it as soon as the call returns. (Two JS threads
 * calling kernels at once could see each other's failure: a spurious error, never a silent one.)
 * Portable C11: the wasm build links this file too.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

static _Atomic size_t fail_bytes; /* 0: no failure recorded */
static const char *_Atomic fail_kernel;
static _Atomic size_t test_limit; /* 0: off */

void mc_alloc_failed(const char *kernel, size_t bytes) {
  size_t none = 0;
  if (atomic_compare_exchange_strong(&fail_bytes, &none, bytes ? bytes : 1))
    atomic_store(&fail_kernel, kernel);
}

int mc_alloc_refused(size_t bytes) {
  const size_t limit = atomic_load_explicit(&test_limit, memory_order_relaxed);
  return limit != 0 && bytes >= limit;
}

void *mc_kernel_alloc(const char *kernel, size_t bytes) {
  void *p = mc_alloc_refused(bytes) ? NULL : malloc(bytes ? bytes : 1);
  if (!p) mc_alloc_failed(kernel, bytes);
  return p;
}

void mc_kernel_free(void *p) { free(p); }

size_t mc_take_alloc_failure(const char **kernel) {
  const size_t bytes = atomic_exchange(&fail_bytes, 0);
  const char *k = atomic_exchange(&fail_kernel, NULL);
  if (kernel) *kernel = k ? k : "scratch";
  return bytes;
}

void mc_test_alloc_limit(size_t bytes) { atomic_store(&test_limit, bytes); }
