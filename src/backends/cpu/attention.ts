/**
 * Reference causal attention with GQA over [B, T, H, D] layouts. The forward keeps only the per-row
 * log-sum-exp; the backward recomputes probabilities from it (the FlashAttention recipe), so no
 * [T, S] probability matrix outlives a row.
 */
import { Tensor, type AttentionOptions, type FloatArray } from '../../tensor/index.js';
import { withContiguous } from './nn.js';
import { stridesFor } from './strided.js';

interface Geometry {
  B: number;
  T: number;
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
  group: number;
}

function geometry(q: Tensor, k: Tensor): Geometry {
  const [B, T, Hq, D] = q.shape;
  const [, S, Hkv] = k.shape;
  return { B, T, S, Hq, Hkv, D, group: Hq / Hkv };
}

/** Reads mask[b, h, t, s] of a mask broadcastable to [B, Hq, T, S]. */
function maskReader(
  mask: Tensor | null,
  g: Geometry,
): ((b: number, h: number, t: number, s: number) => number) | null {
  if (!mask) return null;
  const st = stridesFor(mask.shape, mask.strides, [g.B, g.Hq, g.T, g.S]);
  const M = mask.data as FloatArray;
  const o = mask.offset;
  return (b, h, t, s) => M[o + b * st[0] + h * st[1] + t * st[2] + s * st[3]];
}

/** Number of keys query t may see. */
function visible(opts: AttentionOptions, t: number, S: number): number {
  return opts.causal ? Math.min(S, opts.qOffset + t + 1) : S;
}

export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | null,
  opts: AttentionOptions,
): { out: Tensor; lse: Tensor } {
  return withContiguous([q, k, v], (qc, kc, vc) => {
    const g = geometry(qc, kc);
    const { B, T, S, Hq, Hkv, D, group } = g;
    const out = Tensor.zeros(qc.shape, qc.dtype);
    const lse = Tensor.empty([B, Hq, T], qc.dtype);
    const [Q, K, V, O, L] = [qc.data, kc.data, vc.data, out.data, lse.data] as FloatArray[];
    const mk = maskReader(mask, g);
    const scores = new Float64Array(S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const qb = qc.offset + ((b * T + t) * Hq + h) * D;
          const n = visible(opts, t, S);
          let m = -Infinity;
          for (let s = 0; s < n; s++) {
            const kb = kc.offset + ((b * S + s) * Hkv + hk) * D;
            let dot = 0;
            for (let i = 0; i < D; i++) dot += Q[qb + i] * K[kb + i];
            let sc = dot * opts.scale;
            if (mk) sc += mk(b, h, t, s);
            scores[s] = sc;
            if (sc > m) m = sc;
          }
          let sum = 0;
          for (let s = 0; s < n; s++) sum += scores[s] = Math.exp(scores[s] - m);
          L[(b * Hq + h) * T + t] = m + Math.log(sum);
          const ob = ((b * T + t) * Hq + h) * D;
          for (let s = 0; s < n; s++) {
            const p = scores[s] / sum;
            const vb = vc.offset + ((b * S + s) * Hkv + hk) * D;
            for (let i = 0; i < D; i++) O[ob + i] += p * V[vb + i];
          }
        }
      }
    }
    return { out, lse };
  });
}

export function attentionGrad(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | null,
  out: Tensor,
  lse: Tensor,
  dout: Tensor,
  opts: AttentionOptions,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  return withContiguous([q, k, v, out, lse, dout], (qc, kc, vc, oc, lc, dc) => {
    const g = geometry(qc, kc);
    const { B, T, S, Hq, Hkv, D, group } = g;
    const dq = Tensor.zeros(qc.shape, qc.dtype);
    const dk = Tensor.zeros(kc.shape, kc.dtype);
    const dv = Tensor.zeros(vc.shape, vc.dtype);
    const [Q, K, V, O, L, DO] = [qc.data, kc.data, vc.data, oc.data, lc.data, dc.data] as FloatArray[];
    const [DQ, DK, DV] = [dq.data, dk.data, dv.data] as FloatArray[];
    const mk = maskReader(mask, g);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const row = ((b * T + t) * Hq + h) * D;
          const n = visible(opts, t, S);
          const z = L[lc.offset + (b * Hq + h) * T + t];
          // Δ = dout·out equals Σ_s p_s (dout·v_s), the softmax-backward row constant.
          let delta = 0;
          for (let i = 0; i < D; i++) delta += DO[dc.offset + row + i] * O[oc.offset + row + i];
          for (let s = 0; s < n; s++) {
            const kb = ((b * S + s) * Hkv + hk) * D;
            let dot = 0;
            let dp = 0;
            for (let i = 0; i < D; i++) {
              dot += Q[qc.offset + row + i] * K[kc.offset + kb + i];
              dp += DO[dc.offset + row + i] * V[vc.offset + kb + i];
            }
            let sc = dot * opts.scale;
            if (mk) sc += mk(b, h, t, s);
            const p = Math.exp(sc - z);
            const ds = p * (dp - delta) * opts.scale;
            for (let i = 0; i < D; i++) {
              DQ[row + i] += ds * K[kc.offset + kb + i];
              DK[kb + i] += ds * Q[qc.offset + row + i];
              DV[kb + i] += p * DO[dc.offset + row + i];
            }
          }
        }
      }
    }
    return { dq, dk, dv };
  });
}
