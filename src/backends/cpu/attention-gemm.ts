/**
 * Attention through GEMM calls, one (batch, head) at a time over the [B, T, H, D] layout (the leading
 * dimensions of the GEMMs step over heads, so nothing is transposed or copied). Each head materialises
 * its [T, S] probability block only while it is being used. Same contract as the reference in
 * attention.ts, which stays the oracle; masks go to the reference.
 */
import { Tensor, type AttentionOptions } from '../../tensor/index.js';
import type { GemmKernels } from '../kernels.js';
import { withContiguous } from './nn.js';

/** Softmax of the visible prefix of each row of P [T, S] in place; writes log-sum-exp per row. */
function causalSoftmaxRows(
  P: Float32Array,
  T: number,
  S: number,
  opts: AttentionOptions,
  lse: Float32Array,
  lseOff: number,
): void {
  for (let t = 0; t < T; t++) {
    const n = opts.causal ? Math.min(S, opts.qOffset + t + 1) : S;
    const row = t * S;
    let m = -Infinity;
    for (let s = 0; s < n; s++) if (P[row + s] > m) m = P[row + s];
    let sum = 0;
    for (let s = 0; s < n; s++) sum += P[row + s] = Math.exp(P[row + s] - m);
    const inv = 1 / sum;
    for (let s = 0; s < n; s++) P[row + s] *= inv;
    P.fill(0, row + n, row + S);
    lse[lseOff + t] = m + Math.log(sum);
  }
}

export function attentionGemm(
  gemm: GemmKernels,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions,
): { out: Tensor; lse: Tensor } {
  return withContiguous([q, k, v], (qc, kc, vc) => {
    const [B, T, Hq, D] = qc.shape;
    const [, S, Hkv] = kc.shape;
    const group = Hq / Hkv;
    const out = Tensor.empty(qc.shape, 'f32');
    const lse = Tensor.empty([B, Hq, T], 'f32');
    const [Q, K, V, O, L] = [qc.data, kc.data, vc.data, out.data, lse.data] as Float32Array[];
    const P = new Float32Array(T * S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / group);
        const qOff = qc.offset + (b * T * Hq + h) * D;
        const kOff = kc.offset + (b * S * Hkv + hk) * D;
        const vOff = vc.offset + (b * S * Hkv + hk) * D;
        gemm.sgemm(false, true, T, S, D, opts.scale, Q, qOff, Hq * D, K, kOff, Hkv * D, 0, P, 0, S);
        causalSoftmaxRows(P, T, S, opts, L, (b * Hq + h) * T);
        gemm.sgemm(false, false, T, D, S, 1, P, 0, S, V, vOff, Hkv * D, 0, O, (b * T * Hq + h) * D, Hq * D);
      }
    }
    return { out, lse };
  });
}

export function attentionGemmGrad(
  gemm: GemmKernels,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  dout: Tensor,
  opts: AttentionOptions,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  return withContiguous([q, k, v, out, lse, dout], (qc, kc, vc, oc, lc, dc) => {
    const [B, T, Hq, D] = qc.shape;
    const [, S, Hkv] = kc.shape;
    const group = Hq / Hkv;
    const dq = Tensor.empty(qc.shape, 'f32');
    const dk = Tensor.zeros(kc.shape, 'f32');
    const dv = Tensor.zeros(vc.shape, 'f32');
    const [Q, K, V, O, L, DO] = [qc.data, kc.data, vc.data, oc.data, lc.data, dc.data] as Float32Array[];
    const [DQ, DK, DV] = [dq.data, dk.data, dv.data] as Float32Array[];
    const P = new Float32Array(T * S);
    const dP = new Float32Array(T * S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / group);
        const qOff = (b * T * Hq + h) * D;
        const kOff = (b * S * Hkv + hk) * D;
        // Recompute P from the saved log-sum-exp.
        gemm.sgemm(
          false,
          true,
          T,
          S,
          D,
          opts.scale,
          Q,
          qc.offset + qOff,
          Hq * D,
          K,
          kc.offset + kOff,
          Hkv * D,
          0,
          P,
          0,
          S,
        );
        const lseOff = lc.offset + (b * Hq + h) * T;
        for (let t = 0; t < T; t++) {
          const n = opts.causal ? Math.min(S, opts.qOffset + t + 1) : S;
          const z = L[lseOff + t];
          const row = t * S;
          for (let s = 0; s < n; s++) P[row + s] = Math.exp(P[row + s] - z);
          P.fill(0, row + n, row + S);
        }
        // dV += Pᵀ·dO ; dP = dO·Vᵀ (GQA heads sharing a kv head accumulate with beta = 1).
        gemm.sgemm(true, false, S, D, T, 1, P, 0, S, DO, dc.offset + qOff, Hq * D, 1, DV, kOff, Hkv * D);
        gemm.sgemm(
          false,
          true,
          T,
          S,
          D,
          1,
          DO,
          dc.offset + qOff,
          Hq * D,
          V,
          vc.offset + kOff,
          Hkv * D,
          0,
          dP,
          0,
          S,
        );
        // dS = P ⊙ (dP − Δ), Δ_t = dO_t·O_t.
        for (let t = 0; t < T; t++) {
          let delta = 0;
          const r = qOff + t * Hq * D;
          for (let i = 0; i < D; i++) delta += DO[dc.offset + r + i] * O[oc.offset + r + i];
          const row = t * S;
          for (let s = 0; s < S; s++) dP[row + s] = P[row + s] * (dP[row + s] - delta);
        }
        // dQ = scale·dS·K ; dK += scale·dSᵀ·Q.
        gemm.sgemm(
          false,
          false,
          T,
          D,
          S,
          opts.scale,
          dP,
          0,
          S,
          K,
          kc.offset + kOff,
          Hkv * D,
          0,
          DQ,
          qOff,
          Hq * D,
        );
        gemm.sgemm(
          true,
          false,
          S,
          D,
          T,
          opts.scale,
          dP,
          0,
          S,
          Q,
          qc.offset + qOff,
          Hq * D,
          1,
          DK,
          kOff,
          Hkv * D,
        );
      }
    }
    return { dq, dk, dv };
  });
}
