/*
 * Start-up: CPU feature detection, the choice of kernel table, thread count, aligned allocation.
 * The binary is built for baseline x86-64; the AVX2 and AVX-512 files are only entered after
 * __builtin_cpu_supports says so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define MC_HAVE_MMAP 1
#endif

#include "internal.h"

mc_kernels_t mc_k;

static struct {
  int avx2, avx512, bf16, vnni;
} cpu;

static const mc_kernels_t scalar_table = {
    MC_ISA_SCALAR, &mc_sgemm_scalar, &mc_bf16_scalar,
    mc_gemv_t_scalar, mc_gemv_n_scalar, mc_gemv_bf16_scalar, NULL, NULL,
};

static void detect(void) {
#ifdef MC_X86
  __builtin_cpu_init();
  cpu.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  cpu.avx512 = cpu.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (cpu.avx512) {
    /* gcc 12 has no "avx512bf16" for __builtin_cpu_supports: CPUID leaf 7 subleaf 1, EAX bit 5. */
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    cpu.bf16 = (a >> 5) & 1;
    cpu.vnni = __builtin_cpu_supports("avx512vnni");
  }
#endif
}

static int select_isa(mc_isa isa) {
#ifdef MC_X86
  if (isa == MC_ISA_AVX512 && cpu.avx512) {
    mc_k = (mc_kernels_t){MC_ISA_AVX512, &mc_sgemm_avx512,
                          cpu.bf16 ? &mc_bf16_avx512bf16 : &mc_bf16_avx512,
                          mc_gemv_t_avx512, mc_gemv_n_avx512, mc_gemv_bf16_avx512,
                          mc_skinny_avx512, mc_skinny_bf16_avx512};
    return 1;
  }
  if (isa == MC_ISA_AVX2 && cpu.avx2) {
    mc_k = (mc_kernels_t){MC_ISA_AVX2, &mc_sgemm_avx2, &mc_bf16_avx2,
                          mc_gemv_t_avx2, mc_gemv_n_avx2, mc_gemv_bf16_avx2, NULL, NULL};
    return 1;
  }
#endif
  if (isa == MC_ISA_SCALAR) {
    mc_k = scalar_table;
    return 1;
  }
  return 0;
}

static int default_threads(void) {
  int n = 0;
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  /* Two by default (the project's target machine); MINICPM_THREADS or setThreads() raise it. */
  return n >= 2 ? 2 : 1;
}

static void init_once(void) {
  detect();
  /* MINICPM_ISA=avx2|scalar lowers the ISA, to exercise the fallbacks on a big CPU. */
  const char *want = getenv("MINICPM_ISA");
  int top = MC_ISA_AVX512;
  if (want && !strcmp(want, "avx2")) top = MC_ISA_AVX2;
  if (want && !strcmp(want, "scalar")) top = MC_ISA_SCALAR;
  for (int isa = top; isa >= MC_ISA_SCALAR; isa--)
    if (select_isa((mc_isa)isa)) break;

  int n = default_threads();
  const char *s = getenv("MINICPM_THREADS");
  if (s && *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*end && v >= 1) n = (int)MC_MIN(v, MC_MAX_THREADS);
  }
  mc_pool_resize(n);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void mc_init(void) { pthread_once(&once, init_once); }

int mc_set_isa(mc_isa isa) {
  mc_init();
  return select_isa(isa);
}

mc_features_t mc_features(void) {
  mc_init();
  mc_features_t f = {mc_k.isa, 0, cpu.vnni};
#ifdef MC_X86
  f.bf16 = mc_k.bf16 == &mc_bf16_avx512bf16;
#endif
  return f;
}

void mc_set_threads(int n) {
  mc_init();
  mc_pool_resize(n);
}

int mc_get_threads(void) {
  mc_init();
  return mc_pool_threads();
}

/* From 1 MiB on, anonymous mappings: already zero (no memset pass over new tensors) and eligible for
 * transparent huge pages, which cut TLB misses when GEMMs stream large operands. */
#define MC_MAP_MIN ((size_t)1 << 20)

static size_t alloc_size(size_t bytes) {
  return (MC_MAX(bytes, 1) + MC_ALIGN - 1) & ~(size_t)(MC_ALIGN - 1);
}

void *mc_alloc(size_t bytes) {
  size_t sz = alloc_size(bytes);
#ifdef MC_HAVE_MMAP
  if (sz >= MC_MAP_MIN) {
    void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (sz >= ((size_t)2 << 20)) madvise(p, sz, MADV_HUGEPAGE);
#endif
    return p;
  }
#endif
  void *p = aligned_alloc(MC_ALIGN, sz);
  if (p) memset(p, 0, sz);  /* ArrayBuffer semantics: new memory reads as zeros */
  return p;
}

void mc_advise_huge(void *p, size_t bytes) {
#if defined(MC_HAVE_MMAP) && defined(MADV_HUGEPAGE)
  /* the whole pages inside [p, p + bytes): madvise wants a page-aligned start */
  const uintptr_t page = 4096, a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + bytes) & ~(page - 1);
  if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

void mc_free(void *p, size_t bytes) {
  if (!p) return;
#ifdef MC_HAVE_MMAP
  size_t sz = alloc_size(bytes);
  if (sz >= MC_MAP_MIN) {
    munmap(p, sz);
    return;
  }
#endif
  (void)bytes;
  free(p);
}
