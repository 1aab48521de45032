/*
 * minicpm native kernels: the flat C ABI. Row-major, element strides, no allocation visible to the
 * caller. Every entry point is safe to call from any thread; work is spread over a persistent pool.
 */
#ifndef MC_H
#define MC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MC_ISA_SCALAR = 0, MC_ISA_AVX2 = 1, MC_ISA_AVX512 = 2 } mc_isa;

typedef struct {
  mc_isa isa;   /* the GEMM code path in use */
  int bf16;     /* vdpbf16ps is used by mc_gemm_bf16 */
  int vnni;     /* the CPU has avx512_vnni (for the int8 kernels that will come) */
} mc_features_t;

/* Idempotent; every entry point calls it. Reads MINICPM_THREADS and MINICPM_ISA (testing). */
void mc_init(void);
mc_features_t mc_features(void);
/* Lowers (or restores) the ISA used; returns 0 when the CPU lacks it. For tests and benchmarks. */
int mc_set_isa(mc_isa isa);

void mc_set_threads(int n);
int mc_get_threads(void);

/* 64-byte aligned, zero-filled memory. Large blocks are mapped directly (zero pages for free, huge
 * pages where the OS allows). Free with mc_free and the same byte count. */
void *mc_alloc(size_t bytes);
/* Asks for transparent huge pages over the whole pages of [p, p + bytes) (a no-op where unsupported):
 * weights streamed by decode GEMVs touch fewer TLB entries. */
void mc_advise_huge(void *p, size_t bytes);
void mc_free(void *p, size_t bytes);

/* C[M,N] = alpha·op(A)·op(B) + beta·C; beta == 0 never reads C. */
void mc_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, long lda, const float *B, long ldb,
              float beta, float *C, long ldc);

/* batch independent sgemms; operand i at X + i·strideX (stride 0 broadcasts). */
void mc_sgemm_batched(int batch, int transA, int transB, int M, int N, int K, float alpha,
                      const float *A, long lda, long strideA,
                      const float *B, long ldb, long strideB,
                      float beta, float *C, long ldc, long strideC);

/* C[M,N] = alpha·A[M,K]·W[N,K]ᵀ + beta·C with W as bf16 bit patterns (a Linear weight). */
void mc_gemm_bf16(int M, int N, int K, float alpha, const float *A, long lda,
                  const uint16_t *W, long ldw, float beta, float *C, long ldc);

/* Several GEMVs that share x, as one parallel job (a decode step's q/k/v or gate/up projections):
 * y[o_i + j] = Σ_k W_i[j·K + k]·x[k] for j < n_i, with o_i = n_0 + … + n_{i−1}. Every W_i has contiguous
 * rows of K elements, f32 (wsize 4) or bf16 bits (wsize 2). count <= MC_GEMV_MANY_MAX. */
#define MC_GEMV_MANY_MAX 8
void mc_gemv_many(int count, int K, const float *x, const void *const *W, const int *n, int wsize, float *y);

#ifdef __cplusplus
}
#endif
#endif
