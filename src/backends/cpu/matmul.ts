/**
 * Batched matmul over views. Each operand's matrix part is used in place when one of its last two
 * dims has unit stride (a transposed view just flips the trans flag); otherwise it is copied.
 */
import { broadcastShapes, isRowExact, Tensor, type FloatArray } from '../../tensor/index.js';
import type { GemmKernels } from '../kernels.js';
import { contiguous } from './elementwise.js';
import { forEachRow, stridesFor } from './strided.js';

interface MatrixOperand {
  t: Tensor;
  trans: boolean;
  ld: number;
  owned: boolean;
}

/** Describes the last two dims of t as a row-major matrix, possibly transposed, with leading dim. */
function asMatrix(t: Tensor, trans: boolean): MatrixOperand {
  const r = t.rank;
  const rows = t.shape[r - 2];
  const cols = t.shape[r - 1];
  const sr = rows === 1 ? Math.max(cols, 1) : t.strides[r - 2];
  const sc = cols === 1 ? 1 : t.strides[r - 1];
  if (sc === 1 && sr >= cols) return { t, trans, ld: sr, owned: false };
  const sc2 = cols === 1 ? Math.max(rows, 1) : t.strides[r - 1];
  const sr2 = rows === 1 ? 1 : t.strides[r - 2];
  if (sr2 === 1 && sc2 >= rows) return { t, trans: !trans, ld: sc2, owned: false };
  const c = contiguous(t);
  return { t: c, trans, ld: Math.max(cols, 1), owned: true };
}

/** Plain triple loop for f64 (gradient checks) — the f32 path goes through GemmKernels. */
function gemmGeneric(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  A: FloatArray,
  aOff: number,
  lda: number,
  B: FloatArray,
  bOff: number,
  ldb: number,
  C: FloatArray,
  cOff: number,
  ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const a = A[aOff + (tA ? k * lda + i : i * lda + k)];
        const b = B[bOff + (tB ? j * ldb + k : k * ldb + j)];
        acc += a * b;
      }
      C[cOff + i * ldc + j] = acc;
    }
  }
}

export function matmul(gemm: GemmKernels, a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const ra = a.rank;
  const rb = b.rank;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchShape = broadcastShapes(a.shape.slice(0, ra - 2), b.shape.slice(0, rb - 2));
  const out = Tensor.empty([...batchShape, M, N], a.dtype);
  if (out.size === 0) return out;
  if (K === 0) {
    out.data.fill(0);
    return out;
  }
  if (b.dtype === 'bf16')
    return transB ? bf16Linear(gemm, a, b, out, M, N, K) : bf16Product(gemm, a, b, out, N, K);
  const A = asMatrix(a, transA);
  const B = asMatrix(b, transB);
  const f32 = a.dtype === 'f32';
  // rows of x against a weight [N, K] in row-exact mode: one GEMV per row (see tensor/row-exact.ts)
  const rowWise = f32 && isRowExact() && rb === 2 && B.trans && !A.trans;
  const run = (aOff: number, bOff: number, cOff: number, m: number): void => {
    if (rowWise && m > 1) {
      gemvRows(
        gemm,
        m,
        N,
        K,
        A.t.data as Float32Array,
        aOff,
        A.ld,
        B.t.data as Float32Array,
        bOff,
        B.ld,
        out,
        cOff,
      );
    } else if (f32) {
      gemm.sgemm(
        A.trans,
        B.trans,
        m,
        N,
        K,
        1,
        A.t.data as Float32Array,
        aOff,
        A.ld,
        B.t.data as Float32Array,
        bOff,
        B.ld,
        0,
        out.data as Float32Array,
        cOff,
        N,
      );
    } else {
      gemmGeneric(
        A.trans,
        B.trans,
        m,
        N,
        K,
        A.t.data as FloatArray,
        aOff,
        A.ld,
        B.t.data as FloatArray,
        bOff,
        B.ld,
        out.data as FloatArray,
        cOff,
        N,
      );
    }
  };
  const batch = batchShape.reduce((p, d) => p * d, 1);
  // A shared 2-D weight and a contiguous, untransposed batch of rows: one tall GEMM.
  const aFoldable = !A.trans && A.t.isContiguous() && A.ld === K;
  if (rb === 2 && aFoldable && batch > 1 && ra > 2) {
    run(A.t.offset, B.t.offset, 0, batch * M);
  } else if (batchShape.length === 0) {
    run(A.t.offset, B.t.offset, 0, M);
  } else {
    const aStr = {
      offset: A.t.offset,
      strides: [...stridesFor(A.t.shape.slice(0, ra - 2), A.t.strides.slice(0, ra - 2), batchShape), 0],
    };
    const bStr = {
      offset: B.t.offset,
      strides: [...stridesFor(B.t.shape.slice(0, rb - 2), B.t.strides.slice(0, rb - 2), batchShape), 0],
    };
    let c = 0;
    forEachRow([...batchShape, 1], [aStr, bStr], ([oa, ob]) => {
      run(oa, ob, c, M);
      c += M * N;
    });
  }
  if (A.owned) A.t.dispose();
  if (B.owned) B.t.dispose();
  return out;
}
/** out[.., M, N] = a[.., M, K] · W[N, K]ᵀ with W stored as bf16 bits (inference weights). */
function bf16Linear(
  gemm: GemmKernels,
  a: Tensor,
  w: Tensor,
  out: Tensor,
  M: number,
  N: number,
  K: number,
): Tensor {
  const ac = a.isContiguous() ? a : contiguous(a);
  const W = w.isContiguous() ? w : contiguous(w);
  const rows = ac.size / K;
  if (isRowExact() && rows > 1) {
    gemvRows(
      gemm,
      rows,
      N,
      K,
      ac.data as Float32Array,
      ac.offset,
      K,
      W.data as Uint16Array,
      W.offset,
      K,
      out,
      0,
    );
    if (ac !== a) ac.dispose();
    if (W !== w) W.dispose();
    return out;
  }
  gemm.gemmBf16(
    rows,
    N,
    K,
    1,
    ac.data as Float32Array,
    ac.offset,
    K,
    W.data as Uint16Array,
    W.offset,
    K,
    0,
    out.data as Float32Array,
    0,
    N,
  );
  if (ac !== a) ac.dispose();
  if (W !== w) W.dispose();
  return out;
}

/**
 * Y[m, N] = X[m, K] · W[N, K]ᵀ with every row bitwise its M = 1 product: the kernels' multi-row GEMV,
 * or one single-row product per row where a backend has none.
 */
function gemvRows(
  gemm: GemmKernels,
  m: number,
  N: number,
  K: number,
  X: Float32Array,
  xOff: number,
  ldx: number,
  W: Float32Array | Uint16Array,
  wOff: number,
  ldw: number,
  out: Tensor,
  cOff: number,
): void {
  const Y = out.data as Float32Array;
  if (gemm.gemvRows) return gemm.gemvRows(m, N, K, X, xOff, ldx, W, wOff, ldw, Y, cOff, N);
  for (let i = 0; i < m; i++) {
    if (W instanceof Uint16Array)
      gemm.gemmBf16(1, N, K, 1, X, xOff + i * ldx, ldx, W, wOff, ldw, 0, Y, cOff + i * N, N);
    else gemm.sgemm(false, true, 1, N, K, 1, X, xOff + i * ldx, ldx, W, wOff, ldw, 0, Y, cOff + i * N, N);
  }
}

/**
 * out[.., M, N] = a[.., M, K] · W[K, N] with W stored as bf16 bits: the input gradient of a frozen bf16
 * linear (dy · W). W is widened a panel of rows at a time into a small f32 scratch, so no f32 copy of the
 * whole matrix is ever made; each panel is one GEMM accumulated into out.
 */
function bf16Product(gemm: GemmKernels, a: Tensor, w: Tensor, out: Tensor, N: number, K: number): Tensor {
  const ac = a.isContiguous() ? a : contiguous(a);
  const W = w.isContiguous() ? w : contiguous(w);
  const rows = ac.size / K;
  const P = Math.min(K, 64);
  const panel = Tensor.empty([P, N]);
  const pf = panel.data as Float32Array;
  const wide = new Uint32Array(pf.buffer, pf.byteOffset + panel.offset * 4, P * N);
  const bits = W.data as Uint16Array;
  for (let k0 = 0; k0 < K; k0 += P) {
    const p = Math.min(P, K - k0);
    const src = W.offset + k0 * N;
    for (let i = 0; i < p * N; i++) wide[i] = bits[src + i] << 16;
    gemm.sgemm(
      false,
      false,
      rows,
      N,
      p,
      1,
      ac.data as Float32Array,
      ac.offset + k0,
      K,
      pf,
      panel.offset,
      N,
      k0 ? 1 : 0,
      out.data as Float32Array,
      0,
      N,
    );
  }
  panel.dispose();
  if (ac !== a) ac.dispose();
  if (W !== w) W.dispose();
  return out;
}

/**
 * One row x [.., K] against several weights [nᵢ, K] (all f32 or all bf16, contiguous) through
 * gemvMany: outputs concatenated along the last dim. Null when the kernels lack it or x is not a
 * single contiguous f32 row (the caller falls back to one matmul per weight).
 */
export function linearMany(gemm: GemmKernels, x: Tensor, weights: readonly Tensor[]): Tensor | null {
  const K = x.shape[x.rank - 1];
  const dt = weights[0]?.dtype;
  if (
    !gemm.gemvMany ||
    weights.length < 2 ||
    weights.length > 8 ||
    x.dtype !== 'f32' ||
    x.size !== K ||
    !x.isContiguous() ||
    (dt !== 'f32' && dt !== 'bf16') ||
    !weights.every((w) => w.dtype === dt && w.rank === 2 && w.shape[1] === K && w.isContiguous())
  )
    return null;
  const ns = weights.map((w) => w.shape[0]);
  const out = Tensor.empty([...x.shape.slice(0, -1), ns.reduce((a, b) => a + b, 0)]);
  gemm.gemvMany(
    x.data as Float32Array,
    x.offset,
    K,
    weights.map((w) => w.data as Float32Array | Uint16Array),
    weights.map((w) => w.offset),
    ns,
    out.data as Float32Array,
    0,
  );
  return out;
}
