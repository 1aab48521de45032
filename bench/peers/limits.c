/*
 * Machine-limit probes for bench/gemm.ts, so that limit fractions use this machine's measured peaks
 * rather than a spec sheet:
 *   limits fma  <threads>          fp32 FMA peak with 512-bit (or 256-bit without AVX-512) registers
 *   limits bf16 <threads>          vdpbf16ps peak (prints 0 when the CPU lacks AVX512_BF16)
 *   limits read <threads> <bytes>  read bandwidth over a buffer of that size (huge pages), split across threads,
 *                                  each reading its share as two streams in step
 * Prints one number (GFLOP/s or GB/s): the best of a few short repeats (noise only slows a probe down).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <sys/mman.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
  int mode;
  long iters;
  const float *p;
  size_t n;
  double flops, seconds;
  float sink;
} job_t;

#define FMA12(op, reg)                                                                              \
  op " %%" reg "14,%%" reg "15,%%" reg "0\n " op " %%" reg "14,%%" reg "15,%%" reg "1\n "          \
  op " %%" reg "14,%%" reg "15,%%" reg "2\n " op " %%" reg "14,%%" reg "15,%%" reg "3\n "          \
  op " %%" reg "14,%%" reg "15,%%" reg "4\n " op " %%" reg "14,%%" reg "15,%%" reg "5\n "          \
  op " %%" reg "14,%%" reg "15,%%" reg "6\n " op " %%" reg "14,%%" reg "15,%%" reg "7\n "          \
  op " %%" reg "14,%%" reg "15,%%" reg "8\n " op " %%" reg "14,%%" reg "15,%%" reg "9\n "          \
  op " %%" reg "14,%%" reg "15,%%" reg "10\n " op " %%" reg "14,%%" reg "15,%%" reg "11\n "

static void *run(void *arg) {
  job_t *j = arg;
  long n = j->iters;
  double t = now();
  if (j->mode == 0) {
    __asm__ volatile("1:\n " FMA12("vfmadd231ps", "zmm") "dec %0\n jnz 1b\n"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "cc");
    j->flops = 12.0 * 32 * j->iters;
  } else if (j->mode == 1) {
    __asm__ volatile("1:\n " FMA12("vfmadd231ps", "ymm") "dec %0\n jnz 1b\n"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "cc");
    j->flops = 12.0 * 16 * j->iters;
  } else if (j->mode == 2) {
    __asm__ volatile("1:\n " FMA12("vdpbf16ps", "zmm") "dec %0\n jnz 1b\n"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "cc");
    j->flops = 12.0 * 64 * j->iters;
  } else {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    /* two sequential streams per thread, the two halves of its share, read in step: the hardware
     * prefetchers work per stream, and two keep more lines in flight (on Zen 5 ~5-10% more than one
     * stream; the decode GEMVs read their weights the same way, qgemv-avx512vnni.c) */
    const size_t h = j->n / 2 / 16 * 16;
    const float *q = j->p + h;
    for (long r = 0; r < j->iters; r++)
      for (size_t i = 0; i < h; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(j->p + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(j->p + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(q + i));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(q + i + 8));
      }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    j->sink = out[0];
    j->flops = 4.0 * 2 * h * j->iters; /* bytes */
  }
  j->seconds = now() - t;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s fma|bf16|read threads [bytes]\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[2]);
  if (threads < 1 || threads > 64) threads = 1;
  __builtin_cpu_init();
  int avx512 = __builtin_cpu_supports("avx512f");
  int mode = !strcmp(argv[1], "fma") ? (avx512 ? 0 : 1) : !strcmp(argv[1], "bf16") ? 2 : 3;
  if (mode == 2) {
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    if (!avx512 || !((a >> 5) & 1)) {
      printf("0\n");
      return 0;
    }
  }
  float *buf = NULL;
  size_t n = 0;
  if (mode == 3) {
    size_t bytes = argc > 3 ? strtoull(argv[3], NULL, 10) : (size_t)256 << 20;
    n = (bytes / 4 + 32 * threads - 1) / (32 * threads) * (32 * threads);
    /* 2 MiB aligned and advised into huge pages before the first touch, as the engine's weights are:
     * with 4 KiB pages the same loop reads ~25% slower here, which would understate the limit */
    const size_t huge = (size_t)2 << 20;
    buf = aligned_alloc(huge, (n * 4 + huge - 1) / huge * huge);
#ifdef MADV_HUGEPAGE
    madvise(buf, (n * 4 + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f;
  }
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    pthread_t th[64];
    job_t jobs[64];
    for (int t = 0; t < threads; t++) {
      jobs[t] = (job_t){.mode = mode, .iters = mode == 3 ? (long)fmax(1.0, (2e8 / (n * 4.0 / threads))) : 20000000};
      if (mode == 3) {
        jobs[t].n = n / threads;
        jobs[t].p = buf + jobs[t].n * t;
      }
    }
    double t0 = now();
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, run, &jobs[t]);
    double total = 0;
    for (int t = 0; t < threads; t++) {
      pthread_join(th[t], NULL);
      total += jobs[t].flops;
    }
    double v = total / (now() - t0) / 1e9;
    if (v > best) best = v;
  }
  printf("%.2f\n", best);
  return 0;
}
