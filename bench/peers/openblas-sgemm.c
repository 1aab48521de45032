/*
 * OpenBLAS peer for bench/gemm.ts: times cblas_sgemm (or cblas_sgemv for M = 1, the routine an
 * OpenBLAS user would call for decode) on one shape and prints the median GFLOP/s of the timed calls.
 * Usage: openblas-sgemm M N K transB seconds [copies]   (threads come from OPENBLAS_NUM_THREADS)
 * copies > 1 rotates through that many copies of B, so that a GEMV streams its weights from DRAM as
 * in a real decode step instead of finding them in the L3 cache.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s M N K transB seconds\n", argv[0]);
    return 2;
  }
  int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), tB = atoi(argv[4]);
  double seconds = atof(argv[5]);
  int copies = argc > 6 ? atoi(argv[6]) : 1;
  if (copies < 1 || copies > 64) copies = 1;
  float *A = aligned_alloc(64, sizeof(float) * ((size_t)M * K + 16));
  float *Bs[64];
  float *C = aligned_alloc(64, sizeof(float) * ((size_t)M * N + 16));
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7 % 13) - 6) * 0.01f;
  for (int c = 0; c < copies; c++) {
    Bs[c] = aligned_alloc(64, sizeof(float) * ((size_t)K * N + 16));
    for (size_t i = 0; i < (size_t)K * N; i++) Bs[c][i] = (float)((i * 5 % 11) - 5) * 0.01f;
  }
  for (size_t i = 0; i < (size_t)M * N; i++) C[i] = 0;

  double flops = 2.0 * M * N * K, times[4096];
  int n = 0;
  double start = now();
  for (int it = -2; n < 4096; it++) {  /* two untimed warm-up calls */
    const float *B = Bs[(it + 2) % copies];
    double t = now();
    if (M == 1) {
      /* y = x·Bᵀ with B [N,K] is gemv(NoTrans) on row-major B; with B [K,N] it is gemv(Trans). */
      cblas_sgemv(CblasRowMajor, tB ? CblasNoTrans : CblasTrans, tB ? N : K, tB ? K : N, 1.0f, B,
                  tB ? K : N, A, 1, 0.0f, C, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, K,
                  B, tB ? K : N, 0.0f, C, N);
    }
    t = now() - t;
    if (it >= 0) times[n++] = t;
    if (it >= 2 && now() - start > seconds) break;
  }
  qsort(times, n, sizeof(double), cmp);
  printf("%.3f\n", flops / times[n / 2] / 1e9);
  return C[0] == 12345.0f;  /* keep the result observable */
}
