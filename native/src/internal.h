/*
 * Internals shared by the kernel translation units: the thread pool, per-thread scratch memory and
 * the per-ISA dispatch table. Each ISA lives in its own file compiled with its own -m flags; only the
 * file for the ISA picked at run time is ever executed.
 */
#ifndef MC_INTERNAL_H
#define MC_INTERNAL_H

#include "mc.h"

#define MC_MAX_THREADS 64
#define MC_ALIGN 64

#define MC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MC_CEIL(a, b) (((a) + (b) - 1) / (b))

/* ---- thread pool (pool.c) ---- */

/* One unit of parallel work: task in [0, ntasks), tid in [0, threads) names the executing thread. */
typedef void (*mc_task_fn)(void *arg, int task, int tid);

/* Runs fn for every task on the pool; the calling thread takes part (as tid 0) and returns when all
 * tasks are done. Falls back to running inline when the pool is busy (nested or concurrent use). */
void mc_parallel(int ntasks, mc_task_fn fn, void *arg);
int mc_pool_threads(void);
void mc_pool_resize(int nthreads);

/* ---- scratch (pool.c): per-OS-thread, 64-byte aligned, grown on demand and kept ----
 * Returns NULL (the failure recorded, see below) when it cannot grow: the caller skips its work. */
enum { MC_SCRATCH_A = 0, MC_SCRATCH_B = 1, MC_SCRATCH_X = 2, MC_SCRATCH_N = 3 };
void *mc_scratch(int slot, size_t bytes);

/* ---- allocation failures (kernel-alloc.c): the one policy of every kernel ----
 * Per-call memory comes from mc_scratch, or from mc_kernel_alloc when it must outlive a nested kernel
 * call on the same thread. Both return NULL on failure after recording it; nothing aborts. */
void *mc_kernel_alloc(const char *kernel, size_t bytes);
void mc_kernel_free(void *p);
/* Records a failed allocation of `bytes` for `kernel` (a static string); the first one is kept. */
void mc_alloc_failed(const char *kernel, size_t bytes);
/* Whether the test hook refuses an allocation of `bytes` (mc_test_alloc_limit). */
int mc_alloc_refused(size_t bytes);
/* Takes and clears the record: the bytes of the first failure since the last take (0 for none), and
 * in *kernel the kernel that asked ("scratch" for mc_scratch). Bindings call it after each kernel. */
size_t mc_take_alloc_failure(const char **kernel);
/* Test hook: every allocation of at least `bytes` fails from now on (0 turns it off). */
void mc_test_alloc_limit(size_t bytes);

/* ---- GEMM building blocks supplied by each ISA file ---- */

/* Packs op(A)[m,k] (element (i,p) at A[i*rs + p*cs]) into ceil(m/mr) panels of kp*mr elements, k-major
 * inside a panel, zero-padding rows past m and k up to kp = round_up(k, kstep). */
typedef void (*mc_pack_a_fn)(const float *A, long rs, long cs, int m, int k, void *dst);
/* Packs op(B)[k,n] (element (p,j) at B[p*rs + j*cs]) into ceil(n/nr) panels of kp*nr elements. */
typedef void (*mc_pack_b_fn)(const void *B, long rs, long cs, int k, int n, void *dst);
/* C[m,n] = alpha·(packed a panel)·(packed b panel) + beta·C over kp packed k; m <= mr, n <= nr. */
typedef void (*mc_ukr_fn)(int kp, const void *a, const void *b, float *C, long ldc, float alpha,
                          float beta, int m, int n);

typedef struct {
  const char *name;
  int mr, nr;       /* register tile */
  int kc, mc, nc;   /* cache blocks; kc is a multiple of kstep, mc of mr, nc of nr */
  int kstep;        /* 1 for f32 panels, 2 for bf16 pair panels */
  int esize;        /* bytes per packed element */
  mc_pack_a_fn pack_a;
  mc_pack_b_fn pack_b;
  mc_ukr_fn kernel;
} mc_gemm_impl;

/* y[n] = alpha·Σ_k W[n·ldw + k]·x[k] + beta·y[n]: rows of W are contiguous (the PyTorch Linear GEMV). */
typedef void (*mc_gemv_t_fn)(int n, int k, float alpha, const float *W, long ldw, const float *x,
                             float beta, float *y);
/* y[j] = alpha·Σ_k x[k]·B[k·ldb + j] + beta·y[j]: B is [K,N] row-major. */
typedef void (*mc_gemv_n_fn)(int n, int k, float alpha, const float *B, long ldb, const float *x,
                             float beta, float *y);
/* As mc_gemv_t_fn with W as bf16 bits. */
typedef void (*mc_gemv_bf16_fn)(int n, int k, float alpha, const uint16_t *W, long ldw, const float *x,
                                float beta, float *y);

/* Skinny GEMM, C[m,n] = alpha·X[m,K]·W[n,K]ᵀ + beta·C for 2 <= m <= MC_SKINNY_M (batched decode):
 * every row of W is read once for all m rows of X, so it runs at GEMV speed, not m times slower. */
#define MC_SKINNY_M 4
typedef void (*mc_skinny_fn)(int m, int n, int k, float alpha, const float *X, long ldx, const void *W,
                             long ldw, float beta, float *C, long ldc);

typedef struct {
  mc_isa isa;
  const mc_gemm_impl *sgemm;
  const mc_gemm_impl *bf16;  /* vdpbf16ps panels, or bf16 widened to f32 while packing */
  mc_gemv_t_fn gemv_t;
  mc_gemv_n_fn gemv_n;
  mc_gemv_bf16_fn gemv_bf16;
  mc_skinny_fn skinny, skinny_bf16;  /* NULL: the ISA has none, skinny problems use the GEMM path */
} mc_kernels_t;

/* The active table (cpu.c); valid after mc_init. */
extern mc_kernels_t mc_k;

extern const mc_gemm_impl mc_sgemm_scalar, mc_bf16_scalar;
void mc_gemv_t_scalar(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_n_scalar(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_bf16_scalar(int, int, float, const uint16_t *, long, const float *, float, float *);

#if defined(__x86_64__) || defined(_M_X64)
#define MC_X86 1
extern const mc_gemm_impl mc_sgemm_avx2, mc_bf16_avx2;
void mc_gemv_t_avx2(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_n_avx2(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_bf16_avx2(int, int, float, const uint16_t *, long, const float *, float, float *);

extern const mc_gemm_impl mc_sgemm_avx512, mc_bf16_avx512;
void mc_gemv_t_avx512(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_n_avx512(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_bf16_avx512(int, int, float, const uint16_t *, long, const float *, float, float *);
void mc_skinny_avx512(int, int, int, float, const float *, long, const void *, long, float, float *, long);
void mc_skinny_bf16_avx512(int, int, int, float, const float *, long, const void *, long, float, float *,
                           long);

extern const mc_gemm_impl mc_bf16_avx512bf16;
#endif

/* bf16 bits -> f32 is exact: the bf16 is the high half of the f32. */
static inline float mc_bf16_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v;
  v.u = (uint32_t)h << 16;
  return v.f;
}

#endif
