/**
 * The kernel ABI: flat functions over typed arrays with explicit element offsets, row-major.
 * Two implementations share it: `kernels-ref` (plain TypeScript loops, the executable spec) and
 * `kernels-native` (the C library in native/ through N-API). Tests hold them to each other.
 */
export interface GemmKernels {
  /**
   * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, all row-major.
   * op(A) = A when !transA (A is [M,K], lda >= K) else Aᵀ (A is [K,M], lda >= M); same for B.
   * beta = 0 must ignore C's previous contents (NaN in C must not leak).
   */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOff: number, lda: number,
    B: Float32Array, bOff: number, ldb: number,
    beta: number, C: Float32Array, cOff: number, ldc: number,
  ): void;
  /** `batch` independent sgemms; operand i starts at off + i*stride (a stride of 0 broadcasts). */
  sgemmBatched(
    batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOff: number, lda: number, strideA: number,
    B: Float32Array, bOff: number, ldb: number, strideB: number,
    beta: number, C: Float32Array, cOff: number, ldc: number, strideC: number,
  ): void;
  /**
   * Mixed precision: C[M,N] = alpha * A[M,K](f32) · W[N,K]ᵀ(bf16 bits) + beta * C.
   * W is in PyTorch [out, in] layout (the weight of a Linear), ldw >= K.
   */
  gemmBf16(
    M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOff: number, lda: number,
    W: Uint16Array, wOff: number, ldw: number,
    beta: number, C: Float32Array, cOff: number, ldc: number,
  ): void;
}

export type Kernels = GemmKernels;
