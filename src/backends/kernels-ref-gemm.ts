/**
 * The GEMM family in plain TypeScript: the executable specification that the native kernels are
 * tested against. Obviously correct first, fast never: accumulation is in JS doubles.
 */
import { bf16ToF32 } from '../tensor/dtype.js';
import type { GemmKernels } from './kernels.js';

function sgemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  beta: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[aOff + p * lda + i] : A[aOff + i * lda + p];
        const b = transB ? B[bOff + j * ldb + p] : B[bOff + p * ldb + j];
        acc += a * b;
      }
      const c = cOff + i * ldc + j;
      // beta = 0 ignores C entirely, so NaN or garbage there cannot leak into the result
      C[c] = beta === 0 ? alpha * acc : alpha * acc + beta * C[c];
    }
  }
}

export const refGemmKernels: GemmKernels = {
  sgemm,

  sgemmBatched(
    batch,
    transA,
    transB,
    M,
    N,
    K,
    alpha,
    A,
    aOff,
    lda,
    strideA,
    B,
    bOff,
    ldb,
    strideB,
    beta,
    C,
    cOff,
    ldc,
    strideC,
  ) {
    for (let b = 0; b < batch; b++) {
      sgemm(
        transA,
        transB,
        M,
        N,
        K,
        alpha,
        A,
        aOff + b * strideA,
        lda,
        B,
        bOff + b * strideB,
        ldb,
        beta,
        C,
        cOff + b * strideC,
        ldc,
      );
    }
  },

  gemmBf16(M, N, K, alpha, A, aOff, lda, W, wOff, ldw, beta, C, cOff, ldc) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let p = 0; p < K; p++) acc += A[aOff + i * lda + p] * bf16ToF32(W[wOff + j * ldw + p]);
        const c = cOff + i * ldc + j;
        C[c] = beta === 0 ? alpha * acc : alpha * acc + beta * C[c];
      }
    }
  },

  gemvRows(M, N, K, X, xOff, ldx, W, wOff, ldw, Y, yOff, ldy) {
    const bf16 = W instanceof Uint16Array;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let p = 0; p < K; p++) {
          const w = W[wOff + j * ldw + p];
          acc += X[xOff + i * ldx + p] * (bf16 ? bf16ToF32(w) : w);
        }
        Y[yOff + i * ldy + j] = acc;
      }
  },

  gemvMany(x, xOff, K, ws, wOffs, ns, y, yOff) {
    let o = yOff;
    ws.forEach((W, i) => {
      for (let j = 0; j < ns[i]; j++) {
        let acc = 0;
        for (let p = 0; p < K; p++) {
          const w = W[wOffs[i] + j * K + p];
          acc += x[xOff + p] * (W instanceof Uint16Array ? bf16ToF32(w) : w);
        }
        y[o++] = acc;
      }
    });
  },
};
